/*
 * rec.h - private to src/store: what every backend of store.h checks of
 * records, ids and arguments, and what a record contributes to the
 * indexes (src/store/backend.h).
 *
 * DESCRIPTION
 *	The Berkeley DB backend (src/store/bdb_records.c) and the PostgreSQL
 *	backend (src/store/pg.c) keep the same records: compact JSON with a
 *	record version, ids of printable ASCII, the same index members. They
 *	check them here, so that a record one backend takes the other takes
 *	too, and store_verify of either finds the same damage.
 *
 *	A check that fails writes why into the backend's handle through a
 *	struct rec_msg (REC_MSG(st) for a handle with msg and msg_code, as
 *	both have) and returns the code.
 */
#ifndef ANVIL_STORE_REC_H
#define ANVIL_STORE_REC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"
#include "store/store.h"

#define ID_MAX		128		/* record ids: 1..ID_MAX printable */
#define COUNTER_MAX	64		/* counter names */
#define NONCE_MAX	64		/* nonce bytes */
#define THUMB_MAX	256		/* JWK thumbprint string */
#define IDTYPE_MAX	16		/* identifier "type" */
#define IDVALUE_MAX	1024		/* identifier "value" */
#define RECORD_MAX	(1024 * 1024)	/* largest serialised record */

/* Where a failed check says why (borrowed from the backend's handle). */
struct rec_msg {
	anvil_err *code;	/* set to the code the message explains */
	char *text;
	size_t len;
};

#define REC_MSG(st) (&(struct rec_msg){ &(st)->msg_code, (st)->msg, \
	sizeof((st)->msg) })

/* What one record contributes to the indexes (strings borrowed from it). */
struct rec_idx {
	const char *thumb;	/* STORE_ACCOUNT */
	const char *account;	/* STORE_ORDER, STORE_AUTHZ, STORE_CERT */
	const char *itype;	/* STORE_AUTHZ with an account: identifier */
	const char *ivalue;	/* type and value */
	char *ident;		/* account\0type\0value (owned), the key of
				 * rec_ident_key */
	size_t identlen;
	int revoked;		/* STORE_CERT */
};

/* Writes the message into m and returns code. */
anvil_err rec_fail(const struct rec_msg *m, anvil_err code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/*
 * rec_idn_ok: 1 if the n bytes at s are 1..max printable ASCII without
 * space. rec_id_ok: the same for the string s. rec_kind_ok: kind is a
 * record kind. rec_acct_kind: records of kind have a by-account index.
 */
int rec_idn_ok(const char *s, size_t n, size_t max);
int rec_id_ok(const char *s, size_t max);
int rec_kind_ok(enum store_kind kind);
int rec_acct_kind(enum store_kind kind);

/*
 * Parses a stored record (len bytes, not trusted) into *out (new
 * reference): a JSON object with an integer "v" this Anvil knows. where
 * names the record's file or table in the message. ANVIL_ERR_CORRUPT (and
 * logged) or ANVIL_ERR_VERSION otherwise.
 */
anvil_err rec_parse(const struct rec_msg *m, const char *where,
    const char *id, const void *data, size_t len, json_t **out);

/*
 * Fills *ix with what rec (borrowed; ix borrows its strings) contributes
 * to the indexes of kind; free with rec_idx_clear. A member of the wrong
 * shape is `bad` (ANVIL_ERR_INVALID for a record being written,
 * ANVIL_ERR_CORRUPT for one read back).
 */
anvil_err rec_idx_extract(const struct rec_msg *m, enum store_kind kind,
    json_t *rec, struct rec_idx *ix, anvil_err bad);
void rec_idx_clear(struct rec_idx *ix);

/*
 * The key of the identifier index: account\0type\0value (vlen bytes of
 * value), new in *key (caller frees), its length in *klen.
 * ANVIL_ERR_NOMEM.
 */
anvil_err rec_ident_key(const char *account, const char *type,
    const char *value, size_t vlen, char **key, size_t *klen);

/*
 * The start of store_put: checks kind, id and rec, sets rec's "v", fills
 * *ix (rec_idx_extract) and puts rec's text, at most RECORD_MAX bytes,
 * in *text (caller frees) with its length in *len. On an error *ix is
 * cleared and *text NULL.
 */
anvil_err rec_put_prepare(const struct rec_msg *m, enum store_kind kind,
    const char *id, json_t *rec, struct rec_idx *ix, char **text,
    size_t *len);

/*
 * The argument checks of store.h's functions, after the backend's own
 * check of the transaction: each clears the outputs, then returns
 * ANVIL_ERR_INVALID with a message for what store.h refuses.
 * rec_ident_args puts the length of value in *vlen; rec_each_args names
 * the function `what` in its message and needs kind only for store_each.
 */
anvil_err rec_get_args(const struct rec_msg *m, enum store_kind kind,
    const char *id, json_t **out);
anvil_err rec_del_args(const struct rec_msg *m, enum store_kind kind,
    const char *id);
anvil_err rec_thumb_args(const struct rec_msg *m, const char *thumbprint,
    char **id);
anvil_err rec_list_args(const struct rec_msg *m, enum store_kind kind,
    const char *account, const char *after, char ***ids, size_t *n);
anvil_err rec_ident_args(const struct rec_msg *m, const char *account,
    const char *type, const char *value, char ***ids, size_t *n,
    size_t *vlen);
anvil_err rec_each_args(const struct rec_msg *m, const char *what,
    enum store_kind kind, store_each_fn fn);
anvil_err rec_counter_args(const struct rec_msg *m, const char *name,
    uint64_t *val);

/*
 * One step of a walk: fn(id, *rec, arg), then *rec is released and NULL.
 * What fn returns if it is an anvil_err, else ANVIL_ERR_INVALID.
 */
anvil_err rec_each_call(store_each_fn fn, const char *id, json_t **rec,
    void *arg);

#endif
