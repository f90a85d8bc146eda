/*
 * pq_dl.h - libpq, loaded when a PostgreSQL store is opened.
 *
 * Debian's libpq pulls in 13 shared objects (OpenSSL, Kerberos, LDAP,
 * SASL): linking it made every start of the anvil program load and
 * relocate them, most of a CGI request's cost (bench/cgi.sh), though only
 * the PostgreSQL backend (src/store/pg.c) uses it. The programs are linked
 * without it; store_pq_load() opens it (the soname configure found) once
 * per process. Each member is named after the function it holds.
 */
#ifndef ANVIL_STORE_PQ_DL_H
#define ANVIL_STORE_PQ_DL_H

#include <stddef.h>
#include <libpq-fe.h>

#include "core/error.h"

struct store_pq_api {
	PGconn *(*PQconnectdbParams)(const char *const *, const char *const *,
	    int);
	void (*PQfinish)(PGconn *);
	ConnStatusType (*PQstatus)(const PGconn *);
	PGTransactionStatusType (*PQtransactionStatus)(const PGconn *);
	char *(*PQerrorMessage)(const PGconn *);
	PQnoticeProcessor (*PQsetNoticeProcessor)(PGconn *, PQnoticeProcessor,
	    void *);
	PGresult *(*PQexec)(PGconn *, const char *);
	PGresult *(*PQexecParams)(PGconn *, const char *, int, const Oid *,
	    const char *const *, const int *, const int *, int);
	void (*PQclear)(PGresult *);
	ExecStatusType (*PQresultStatus)(const PGresult *);
	char *(*PQresultErrorMessage)(const PGresult *);
	char *(*PQresultErrorField)(const PGresult *, int);
	char *(*PQcmdStatus)(PGresult *);
	char *(*PQcmdTuples)(PGresult *);
	int (*PQntuples)(const PGresult *);
	int (*PQgetisnull)(const PGresult *, int, int);
	int (*PQgetlength)(const PGresult *, int, int);
	char *(*PQgetvalue)(const PGresult *, int, int);
	int (*PQenterPipelineMode)(PGconn *);
	int (*PQexitPipelineMode)(PGconn *);
	PGpipelineStatus (*PQpipelineStatus)(const PGconn *);
	int (*PQpipelineSync)(PGconn *);
	PGresult *(*PQgetResult)(PGconn *);
	int (*PQsendPrepare)(PGconn *, const char *, const char *, int,
	    const Oid *);
	int (*PQsendQueryParams)(PGconn *, const char *, int, const Oid *,
	    const char *const *, const int *, const int *, int);
	int (*PQsendQueryPrepared)(PGconn *, const char *, int,
	    const char *const *, const int *, const int *, int);
};

/*
 * The functions of libpq (*out, borrowed for the life of the process),
 * loaded on first use. Errors: ANVIL_ERR_IO naming the library and what
 * it lacks in err; the loader's reason is logged.
 */
anvil_err store_pq_load(const struct store_pq_api **out, char *err,
    size_t errlen);

#endif
