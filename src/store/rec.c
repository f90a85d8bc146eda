/*
 * rec.c - the checks of records, ids and arguments that every backend of
 * store.h makes, and what a record contributes to the indexes
 * (src/store/rec.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "core/log.h"
#include "store/rec.h"
#include "store/store.h"

anvil_err
rec_fail(const struct rec_msg *m, anvil_err code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->text, m->len, fmt, ap);
	va_end(ap);
	*m->code = code;
	return code;
}

/* 1 if the n bytes at s are 1..max printable ASCII without space. */
int
rec_idn_ok(const char *s, size_t n, size_t max)
{
	size_t i;

	if (s == NULL || n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int
rec_id_ok(const char *s, size_t max)
{
	return s != NULL && rec_idn_ok(s, strnlen(s, max + 1), max);
}

/*
 * Parses a stored record (len bytes, not trusted) into *out. Refuses what
 * is not a JSON object with an integer "v" we know.
 */
anvil_err
rec_parse(const struct rec_msg *m, const char *where, const char *id,
    const void *data, size_t len, json_t **out)
{
	json_t *rec = NULL, *v = NULL;
	json_error_t jerr;
	json_int_t ver = 0;
	anvil_err rc = ANVIL_ERR_CORRUPT;

	*out = NULL;
	if (len == 0 || len > RECORD_MAX) {
		rc = rec_fail(m, ANVIL_ERR_CORRUPT,
		    "%s record %s: bad length %zu", where, id, len);
		goto out;
	}
	rec = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (rec == NULL || !json_is_object(rec)) {
		rc = rec_fail(m, ANVIL_ERR_CORRUPT,
		    "%s record %s: not a JSON object", where, id);
		goto out;
	}
	v = json_object_get(rec, "v");
	if (!json_is_integer(v) || (ver = json_integer_value(v)) < 1) {
		rc = rec_fail(m, ANVIL_ERR_CORRUPT,
		    "%s record %s: no record version", where, id);
		goto out;
	}
	if (ver > STORE_RECORD_VERSION) {
		rc = rec_fail(m, ANVIL_ERR_VERSION,
		    "%s record %s: version %lld is newer than %d", where, id,
		    (long long)ver, STORE_RECORD_VERSION);
		goto out;
	}
	*out = rec;
	rec = NULL;
	rc = ANVIL_OK;
out:
	if (rc == ANVIL_ERR_CORRUPT)
		log_err("store: %s", m->text);
	json_decref(rec);
	return rc;
}

int
rec_kind_ok(enum store_kind kind)
{
	return (unsigned)kind < STORE_KIND__MAX;
}

int
rec_acct_kind(enum store_kind kind)
{
	return kind == STORE_ORDER || kind == STORE_AUTHZ || kind == STORE_CERT;
}

void
rec_idx_clear(struct rec_idx *ix)
{
	free(ix->ident);
	memset(ix, 0, sizeof(*ix));
}

anvil_err
rec_ident_key(const char *account, const char *type, const char *value,
    size_t vlen, char **key, size_t *klen)
{
	size_t alen = strlen(account), tlen = strlen(type);

	*klen = alen + 1 + tlen + 1 + vlen;
	if ((*key = malloc(*klen)) == NULL)
		return ANVIL_ERR_NOMEM;
	memcpy(*key, account, alen + 1);
	memcpy(*key + alen + 1, type, tlen + 1);
	memcpy(*key + alen + 1 + tlen + 1, value, vlen);
	return ANVIL_OK;
}

/*
 * Collects what rec contributes to the indexes of kind. A member of the
 * wrong shape is `bad` (ANVIL_ERR_INVALID for a record being written,
 * ANVIL_ERR_CORRUPT for one read back).
 */
anvil_err
rec_idx_extract(const struct rec_msg *msg, enum store_kind kind,
    json_t *rec, struct rec_idx *ix, anvil_err bad)
{
	json_t *m = NULL, *ty = NULL, *va = NULL;
	const char *type = NULL, *value = NULL;
	size_t tlen, vlen;

	memset(ix, 0, sizeof(*ix));
	if (kind == STORE_ACCOUNT) {
		m = json_object_get(rec, "thumbprint");
		if (m == NULL)
			return ANVIL_OK;
		if (!json_is_string(m) ||
		    !rec_id_ok(json_string_value(m), THUMB_MAX))
			return rec_fail(msg, bad,
			    "account \"thumbprint\" is not "
			    "1..%d printable characters", THUMB_MAX);
		ix->thumb = json_string_value(m);
		return ANVIL_OK;
	}
	if (!rec_acct_kind(kind))
		return ANVIL_OK;

	m = json_object_get(rec, "account");
	if (m != NULL) {
		if (!json_is_string(m) ||
		    !rec_id_ok(json_string_value(m), ID_MAX))
			return rec_fail(msg, bad,
			    "\"account\" is not a valid id");
		ix->account = json_string_value(m);
	}
	if (kind == STORE_CERT) {
		m = json_object_get(rec, "revoked");
		if (m != NULL && !json_is_object(m))
			return rec_fail(msg, bad,
			    "\"revoked\" is not an object");
		ix->revoked = m != NULL;
	}
	if (kind == STORE_AUTHZ && ix->account != NULL &&
	    (m = json_object_get(rec, "identifier")) != NULL) {
		ty = json_object_get(m, "type");
		va = json_object_get(m, "value");
		if (!json_is_object(m) || !json_is_string(ty) ||
		    !json_is_string(va))
			return rec_fail(msg, bad, "\"identifier\" is not "
			    "{\"type\": string, \"value\": string}");
		type = json_string_value(ty);
		value = json_string_value(va);
		tlen = json_string_length(ty);
		vlen = json_string_length(va);
		if (!rec_idn_ok(type, tlen, IDTYPE_MAX) || vlen == 0 ||
		    vlen > IDVALUE_MAX || strlen(value) != vlen)
			return rec_fail(msg, bad, "\"identifier\" type or "
			    "value out of bounds");
		ix->itype = type;
		ix->ivalue = value;
		return rec_ident_key(ix->account, type, value, vlen,
		    &ix->ident, &ix->identlen);
	}
	return ANVIL_OK;
}

anvil_err
rec_put_prepare(const struct rec_msg *m, enum store_kind kind,
    const char *id, json_t *rec, struct rec_idx *ix, char **text,
    size_t *len)
{
	anvil_err rc;

	memset(ix, 0, sizeof(*ix));
	*text = NULL;
	*len = 0;
	if (!rec_kind_ok(kind) || !json_is_object(rec))
		return rec_fail(m, ANVIL_ERR_INVALID, "store_put: bad call");
	if (!rec_id_ok(id, ID_MAX))
		return rec_fail(m, ANVIL_ERR_INVALID, "invalid record id");
	if (json_object_set_new(rec, "v",
	    json_integer(STORE_RECORD_VERSION)) != 0)
		return ANVIL_ERR_NOMEM;
	if ((rc = rec_idx_extract(m, kind, rec, ix, ANVIL_ERR_INVALID)) !=
	    ANVIL_OK)
		goto out;
	if ((*text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		rc = ANVIL_ERR_NOMEM;
		goto out;
	}
	if ((*len = strlen(*text)) > RECORD_MAX) {
		rc = rec_fail(m, ANVIL_ERR_INVALID, "record %s: %zu bytes is "
		    "more than %d", id, *len, RECORD_MAX);
		goto out;
	}
	return ANVIL_OK;
out:
	rec_idx_clear(ix);
	free(*text);
	*text = NULL;
	*len = 0;
	return rc;
}

/* ------------------------------------------------------------ arguments */

anvil_err
rec_get_args(const struct rec_msg *m, enum store_kind kind, const char *id,
    json_t **out)
{
	if (out != NULL)
		*out = NULL;
	if (!rec_kind_ok(kind) || out == NULL)
		return rec_fail(m, ANVIL_ERR_INVALID, "store_get: bad call");
	if (!rec_id_ok(id, ID_MAX))
		return rec_fail(m, ANVIL_ERR_INVALID, "invalid record id");
	return ANVIL_OK;
}

anvil_err
rec_del_args(const struct rec_msg *m, enum store_kind kind, const char *id)
{
	if (!rec_kind_ok(kind) || !rec_id_ok(id, ID_MAX))
		return rec_fail(m, ANVIL_ERR_INVALID, "invalid record id");
	return ANVIL_OK;
}

anvil_err
rec_thumb_args(const struct rec_msg *m, const char *thumbprint, char **id)
{
	if (id != NULL)
		*id = NULL;
	if (id == NULL || !rec_id_ok(thumbprint, THUMB_MAX))
		return rec_fail(m, ANVIL_ERR_INVALID, "invalid thumbprint");
	return ANVIL_OK;
}

anvil_err
rec_list_args(const struct rec_msg *m, enum store_kind kind,
    const char *account, const char *after, char ***ids, size_t *n)
{
	if (ids != NULL)
		*ids = NULL;
	if (n != NULL)
		*n = 0;
	if (ids == NULL || n == NULL || !rec_acct_kind(kind))
		return rec_fail(m, ANVIL_ERR_INVALID,
		    "store_list_by_account: bad call");
	if (!rec_id_ok(account, ID_MAX) ||
	    (after != NULL && !rec_id_ok(after, ID_MAX)))
		return rec_fail(m, ANVIL_ERR_INVALID, "invalid id");
	return ANVIL_OK;
}

anvil_err
rec_ident_args(const struct rec_msg *m, const char *account,
    const char *type, const char *value, char ***ids, size_t *n,
    size_t *vlen)
{
	if (ids != NULL)
		*ids = NULL;
	if (n != NULL)
		*n = 0;
	*vlen = 0;
	if (ids == NULL || n == NULL || !rec_id_ok(account, ID_MAX) ||
	    !rec_id_ok(type, IDTYPE_MAX) || value == NULL ||
	    (*vlen = strnlen(value, IDVALUE_MAX + 1)) == 0 ||
	    *vlen > IDVALUE_MAX)
		return rec_fail(m, ANVIL_ERR_INVALID,
		    "invalid account or identifier");
	return ANVIL_OK;
}

anvil_err
rec_each_args(const struct rec_msg *m, const char *what,
    enum store_kind kind, store_each_fn fn)
{
	if (!rec_kind_ok(kind) || fn == NULL)
		return rec_fail(m, ANVIL_ERR_INVALID, "%s: bad call", what);
	return ANVIL_OK;
}

anvil_err
rec_counter_args(const struct rec_msg *m, const char *name, uint64_t *val)
{
	if (val == NULL || !rec_id_ok(name, COUNTER_MAX))
		return rec_fail(m, ANVIL_ERR_INVALID, "invalid counter name");
	return ANVIL_OK;
}

anvil_err
rec_each_call(store_each_fn fn, const char *id, json_t **rec, void *arg)
{
	anvil_err r = fn(id, *rec, arg);

	json_decref(*rec);
	*rec = NULL;
	return (unsigned)r < ANVIL_ERR__MAX ? r : ANVIL_ERR_INVALID;
}
