/*
 * rec.c - the checks of records and what a record contributes to the
 * indexes, for every backend of store.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "core/log.h"
#include "store/bdb_int.h"
#include "store/rec.h"
#include "store/store.h"

/* 1 if the n bytes at s are 1..max printable ASCII without space. */
int
bdb_idn_ok(const char *s, size_t n, size_t max)
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
id_ok(const char *s, size_t max)
{
	return s != NULL && bdb_idn_ok(s, strnlen(s, max + 1), max);
}

/*
 * Parses a stored record (len bytes, not trusted) into *out. Refuses what
 * is not a JSON object with an integer "v" we know.
 */
anvil_err
bdb_rec_parse(struct store *st, enum store_kind kind, const char *id,
    const void *data, size_t len, json_t **out)
{
	json_t *rec = NULL, *v = NULL;
	json_error_t jerr;
	json_int_t ver = 0;
	anvil_err rc = ANVIL_ERR_CORRUPT;

	*out = NULL;
	if (len == 0 || len > RECORD_MAX) {
		rc = bdb_fail(st, ANVIL_ERR_CORRUPT,
		    "%s record %s: bad length %zu", bdb_desc[kind].file, id,
		    len);
		goto out;
	}
	rec = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (rec == NULL || !json_is_object(rec)) {
		rc = bdb_fail(st, ANVIL_ERR_CORRUPT,
		    "%s record %s: not a JSON object", bdb_desc[kind].file, id);
		goto out;
	}
	v = json_object_get(rec, "v");
	if (!json_is_integer(v) || (ver = json_integer_value(v)) < 1) {
		rc = bdb_fail(st, ANVIL_ERR_CORRUPT,
		    "%s record %s: no record version", bdb_desc[kind].file, id);
		goto out;
	}
	if (ver > STORE_RECORD_VERSION) {
		rc = bdb_fail(st, ANVIL_ERR_VERSION,
		    "%s record %s: version %lld is newer than %d",
		    bdb_desc[kind].file, id, (long long)ver,
		    STORE_RECORD_VERSION);
		goto out;
	}
	*out = rec;
	rec = NULL;
	rc = ANVIL_OK;
out:
	if (rc == ANVIL_ERR_CORRUPT)
		log_err("store: %s", st->msg);
	json_decref(rec);
	return rc;
}

int
kind_ok(enum store_kind kind)
{
	return (unsigned)kind < STORE_KIND__MAX;
}

void
bdb_idx_clear(struct idx *ix)
{
	free(ix->ident);
	memset(ix, 0, sizeof(*ix));
}

/*
 * Collects what rec contributes to the indexes of kind. A member of the
 * wrong shape is `bad` (ANVIL_ERR_INVALID for a record being written,
 * ANVIL_ERR_CORRUPT for one read back).
 */
anvil_err
bdb_idx_extract(struct store *st, enum store_kind kind, json_t *rec,
    struct idx *ix, anvil_err bad)
{
	json_t *m = NULL, *ty = NULL, *va = NULL;
	const char *type = NULL, *value = NULL;
	size_t alen, tlen, vlen;

	memset(ix, 0, sizeof(*ix));
	if (kind == STORE_ACCOUNT) {
		m = json_object_get(rec, "thumbprint");
		if (m == NULL)
			return ANVIL_OK;
		if (!json_is_string(m) ||
		    !id_ok(json_string_value(m), THUMB_MAX))
			return bdb_fail(st, bad,
			    "account \"thumbprint\" is not "
			    "1..%d printable characters", THUMB_MAX);
		ix->thumb = json_string_value(m);
		return ANVIL_OK;
	}
	if (kind != STORE_ORDER && kind != STORE_AUTHZ && kind != STORE_CERT)
		return ANVIL_OK;

	m = json_object_get(rec, "account");
	if (m != NULL) {
		if (!json_is_string(m) || !id_ok(json_string_value(m), ID_MAX))
			return bdb_fail(st, bad,
			    "\"account\" is not a valid id");
		ix->account = json_string_value(m);
	}
	if (kind == STORE_CERT) {
		m = json_object_get(rec, "revoked");
		if (m != NULL && !json_is_object(m))
			return bdb_fail(st, bad,
			    "\"revoked\" is not an object");
		ix->revoked = m != NULL;
	}
	if (kind == STORE_AUTHZ && ix->account != NULL &&
	    (m = json_object_get(rec, "identifier")) != NULL) {
		ty = json_object_get(m, "type");
		va = json_object_get(m, "value");
		if (!json_is_object(m) || !json_is_string(ty) ||
		    !json_is_string(va))
			return bdb_fail(st, bad, "\"identifier\" is not "
			    "{\"type\": string, \"value\": string}");
		type = json_string_value(ty);
		value = json_string_value(va);
		tlen = json_string_length(ty);
		vlen = json_string_length(va);
		if (!bdb_idn_ok(type, tlen, IDTYPE_MAX) || vlen == 0 ||
		    vlen > IDVALUE_MAX || strlen(value) != vlen)
			return bdb_fail(st, bad, "\"identifier\" type or value "
			    "out of bounds");
		alen = strlen(ix->account);
		ix->identlen = alen + 1 + tlen + 1 + vlen;
		if ((ix->ident = malloc(ix->identlen)) == NULL)
			return ANVIL_ERR_NOMEM;
		memcpy(ix->ident, ix->account, alen + 1);
		memcpy(ix->ident + alen + 1, type, tlen + 1);
		memcpy(ix->ident + alen + 1 + tlen + 1, value, vlen);
	}
	return ANVIL_OK;
}
