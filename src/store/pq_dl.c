/*
 * pq_dl.c - libpq through dlopen (see pq_dl.h).
 */
#include "config.h"

#include "core/dl.h"
#include "store/pq_dl.h"

static struct store_pq_api api;
static int loaded;

anvil_err
store_pq_load(const struct store_pq_api **out, char *err, size_t errlen)
{
	const struct dl_sym syms[] = {
		{ &api.PQconnectdbParams, "PQconnectdbParams" },
		{ &api.PQfinish, "PQfinish" },
		{ &api.PQstatus, "PQstatus" },
		{ &api.PQtransactionStatus, "PQtransactionStatus" },
		{ &api.PQerrorMessage, "PQerrorMessage" },
		{ &api.PQsetNoticeProcessor, "PQsetNoticeProcessor" },
		{ &api.PQexec, "PQexec" },
		{ &api.PQexecParams, "PQexecParams" },
		{ &api.PQclear, "PQclear" },
		{ &api.PQresultStatus, "PQresultStatus" },
		{ &api.PQresultErrorMessage, "PQresultErrorMessage" },
		{ &api.PQresultErrorField, "PQresultErrorField" },
		{ &api.PQcmdStatus, "PQcmdStatus" },
		{ &api.PQcmdTuples, "PQcmdTuples" },
		{ &api.PQntuples, "PQntuples" },
		{ &api.PQgetisnull, "PQgetisnull" },
		{ &api.PQgetlength, "PQgetlength" },
		{ &api.PQgetvalue, "PQgetvalue" },
		{ &api.PQenterPipelineMode, "PQenterPipelineMode" },
		{ &api.PQexitPipelineMode, "PQexitPipelineMode" },
		{ &api.PQpipelineStatus, "PQpipelineStatus" },
		{ &api.PQpipelineSync, "PQpipelineSync" },
		{ &api.PQgetResult, "PQgetResult" },
		{ &api.PQsendPrepare, "PQsendPrepare" },
		{ &api.PQsendQueryParams, "PQsendQueryParams" },
		{ &api.PQsendQueryPrepared, "PQsendQueryPrepared" },
	};
	anvil_err rc;

	*out = NULL;
	if (!loaded) {
		if ((rc = dl_load(LIBPQ_SONAME, syms, sizeof(syms) /
		    sizeof(syms[0]), err, errlen)) != ANVIL_OK)
			return rc;
		loaded = 1;
	}
	*out = &api;
	return ANVIL_OK;
}
