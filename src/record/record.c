/*
 * record.c - the meaning of stored ACME records (record.h): the status
 * table, status at a time, the transition table of RFC 8555 §7.1.6, new
 * records, revocation marking and the problem table. The validation
 * cascade, which needs the store, is cascade.c.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "record/record.h"

/* ------------------------------------------------------------ statuses */

static const char *const status_names[REC_ST__MAX] = {
	[REC_PENDING] = "pending",
	[REC_READY] = "ready",
	[REC_PROCESSING] = "processing",
	[REC_VALID] = "valid",
	[REC_INVALID] = "invalid",
	[REC_DEACTIVATED] = "deactivated",
	[REC_EXPIRED] = "expired",
	[REC_REVOKED] = "revoked",
};

#define BIT(s) (1u << (s))

/* The statuses each kind shows (RFC 8555 §7.1.6; a certificate's are
 * anvil-admin's view of it). */
static const unsigned kind_statuses[REC_KIND__MAX] = {
	[REC_ACCOUNT] = BIT(REC_VALID) | BIT(REC_DEACTIVATED) |
	    BIT(REC_REVOKED),
	[REC_ORDER] = BIT(REC_PENDING) | BIT(REC_READY) | BIT(REC_PROCESSING) |
	    BIT(REC_VALID) | BIT(REC_INVALID),
	[REC_AUTHZ] = BIT(REC_PENDING) | BIT(REC_VALID) | BIT(REC_INVALID) |
	    BIT(REC_DEACTIVATED) | BIT(REC_EXPIRED) | BIT(REC_REVOKED),
	[REC_CHALLENGE] = BIT(REC_PENDING) | BIT(REC_PROCESSING) |
	    BIT(REC_VALID) | BIT(REC_INVALID),
	[REC_CERT] = BIT(REC_VALID) | BIT(REC_EXPIRED) | BIT(REC_REVOKED),
};

/*
 * The moves a writer may make: bit "to" of [kind][from]. Expiry is not
 * written (it is seen at read time), so "expired" is no target. An order
 * goes from ready to valid directly because finalize issues in the
 * transaction that reads it ready (src/acme/finalize.c); an order or
 * authorization is invalidated when one of its authorizations is
 * deactivated or fails.
 */
static const unsigned transitions[REC_KIND__MAX][REC_ST__MAX] = {
	[REC_ACCOUNT] = {
		[REC_VALID] = BIT(REC_DEACTIVATED) | BIT(REC_REVOKED),
	},
	[REC_ORDER] = {
		[REC_PENDING] = BIT(REC_READY) | BIT(REC_INVALID),
		[REC_READY] = BIT(REC_PROCESSING) | BIT(REC_VALID) |
		    BIT(REC_INVALID),
		[REC_PROCESSING] = BIT(REC_VALID) | BIT(REC_INVALID),
	},
	[REC_AUTHZ] = {
		[REC_PENDING] = BIT(REC_VALID) | BIT(REC_INVALID) |
		    BIT(REC_DEACTIVATED),
		[REC_VALID] = BIT(REC_DEACTIVATED) | BIT(REC_REVOKED),
	},
	[REC_CHALLENGE] = {
		[REC_PENDING] = BIT(REC_PROCESSING),
		[REC_PROCESSING] = BIT(REC_VALID) | BIT(REC_INVALID),
	},
	[REC_CERT] = {
		[REC_VALID] = BIT(REC_REVOKED),
	},
};

const char *
rec_status_name(enum rec_status st)
{
	if ((unsigned)st >= REC_ST__MAX)
		return NULL;
	return status_names[st];
}

enum rec_status
rec_status_parse(const char *s)
{
	unsigned i;

	if (s == NULL)
		return REC_ST_NONE;
	for (i = 1; i < REC_ST__MAX; i++)
		if (strcmp(s, status_names[i]) == 0)
			return (enum rec_status)i;
	return REC_ST_NONE;
}

int
rec_status_of_kind(enum rec_kind kind, enum rec_status st)
{
	if ((unsigned)kind >= REC_KIND__MAX || st <= REC_ST_NONE ||
	    st >= REC_ST__MAX)
		return 0;
	return (kind_statuses[kind] & BIT(st)) != 0;
}

static const char *
str(json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s != NULL ? s : "";
}

enum rec_status
rec_status_get(json_t *rec)
{
	return rec_status_parse(json_string_value(json_object_get(rec,
	    "status")));
}

const char *
rec_status_text(json_t *rec, enum rec_status seen)
{
	const char *s = rec_status_name(seen);

	return s != NULL ? s : str(rec, "status");
}

/* 1 if rec's "expires" is set and before now. */
static int
expired(json_t *rec, time_t now)
{
	json_int_t exp = json_integer_value(json_object_get(rec, "expires"));

	return exp > 0 && exp < (json_int_t)now;
}

enum rec_status
rec_order_status(json_t *rec, time_t now)
{
	enum rec_status s = rec_status_get(rec);

	if ((s == REC_PENDING || s == REC_READY) && expired(rec, now))
		return REC_INVALID;
	return s;
}

enum rec_status
rec_authz_status(json_t *rec, time_t now)
{
	enum rec_status s = rec_status_get(rec);

	if ((s == REC_PENDING || s == REC_VALID) && expired(rec, now))
		return REC_EXPIRED;
	return s;
}

enum rec_status
rec_cert_status(json_t *rec, time_t now)
{
	if (json_is_object(rec_cert_revoked(rec)))
		return REC_REVOKED;
	if (json_integer_value(json_object_get(rec, "not_after")) <
	    (json_int_t)now)
		return REC_EXPIRED;
	return REC_VALID;
}

int
rec_transition_ok(enum rec_kind kind, enum rec_status from,
    enum rec_status to)
{
	if ((unsigned)kind >= REC_KIND__MAX || (unsigned)from >= REC_ST__MAX ||
	    to <= REC_ST_NONE || to >= REC_ST__MAX)
		return 0;
	return (transitions[kind][from] & BIT(to)) != 0;
}

anvil_err
rec_status_set(json_t *rec, enum rec_kind kind, enum rec_status to)
{
	if (!rec_transition_ok(kind, rec_status_get(rec), to))
		return ANVIL_ERR_INVALID;
	if (json_object_set_new(rec, "status", json_string(
	    rec_status_name(to))) != 0)
		return ANVIL_ERR_NOMEM;
	return ANVIL_OK;
}

/* ------------------------------------------------------------ new records */

/* The member order of each pack is the stored order: keep it. */

json_t *
rec_account_new(const char *id, const char *thumbprint, int tos_agreed,
    time_t now)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:I}", "id", id, "status",
	    status_names[REC_VALID], "thumbprint", thumbprint,
	    "termsOfServiceAgreed", tos_agreed, "created", (json_int_t)now);
}

json_t *
rec_challenge_new(const char *id, const char *type, const char *token,
    const char *authz, const char *account)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "type",
	    type, "token", token, "status", status_names[REC_PENDING],
	    "authz", authz, "account", account);
}

json_t *
rec_authz_new(const char *id, const char *account, const char *type,
    const char *value, int wildcard, time_t expires)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s}, s:b, s:s, s:I, s:[]}",
	    "id", id, "account", account, "identifier", "type", type,
	    "value", value, "wildcard", wildcard, "status",
	    status_names[REC_PENDING], "expires", (json_int_t)expires,
	    "challenges");
}

json_t *
rec_order_new(const char *id, const char *account, int ready,
    time_t expires, time_t now, json_t *identifiers, json_t *authorizations,
    const char *profile)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o}", "id", id,
	    "account", account, "status", status_names[ready ? REC_READY :
	    REC_PENDING], "expires", (json_int_t)expires, "created",
	    (json_int_t)now, "identifiers", identifiers, "authorizations",
	    authorizations);

	if (o != NULL && profile != NULL && json_object_set_new(o, "profile",
	    json_string(profile)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *
rec_cert_new(const char *serial, const char *account, const char *order,
    const char *pem, time_t not_before, time_t not_after, time_t issued,
    json_t *identifiers, const char *profile)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:O}",
	    "serial", serial, "account", account, "order", order, "pem", pem,
	    "not_before", (json_int_t)not_before, "not_after",
	    (json_int_t)not_after, "issued", (json_int_t)issued,
	    "identifiers", identifiers);

	if (c != NULL && profile != NULL && json_object_set_new(c, "profile",
	    json_string(profile)) != 0) {
		json_decref(c);
		return NULL;
	}
	return c;
}

unsigned
rec_cert_generation(json_t *rec)
{
	json_t *g = json_object_get(rec, "ca_gen");
	json_int_t v;

	if (g == NULL)
		return 1;
	v = json_is_integer(g) ? json_integer_value(g) : 0;
	return v >= 1 && v <= 0xffff ? (unsigned)v : 0;
}

anvil_err
rec_cert_set_generation(json_t *rec, unsigned gen)
{
	if (gen == 0 || gen > 0xffff)
		return ANVIL_ERR_INVALID;
	return json_object_set_new(rec, "ca_gen", json_integer(gen)) == 0 ?
	    ANVIL_OK : ANVIL_ERR_NOMEM;
}

unsigned
rec_cert_crl_shard(json_t *rec)
{
	json_t *k = json_object_get(rec, "crl_shard");
	json_int_t v;

	v = json_is_integer(k) ? json_integer_value(k) : 0;
	return v >= 1 && v <= CONFIG_CRL_SHARDS_MAX ? (unsigned)v : 0;
}

anvil_err
rec_cert_set_crl_shard(json_t *rec, unsigned shard)
{
	if (shard == 0 || shard > CONFIG_CRL_SHARDS_MAX)
		return ANVIL_ERR_INVALID;
	return json_object_set_new(rec, "crl_shard", json_integer(shard)) ==
	    0 ? ANVIL_OK : ANVIL_ERR_NOMEM;
}

/* ------------------------------------------------------------ revocation */

json_t *
rec_cert_revoked(json_t *rec)
{
	return json_object_get(rec, "revoked");
}

anvil_err
rec_cert_revoke(json_t *rec, time_t now, int reason, const char *by)
{
	json_t *rv;

	if (rec_cert_revoked(rec) != NULL)
		return ANVIL_ERR_ALREADYREVOKED;
	rv = json_pack("{s:I, s:i, s:s}", "time", (json_int_t)now, "reason",
	    reason, "by", by);
	if (rv == NULL || json_object_set_new(rec, "revoked", rv) != 0)
		return ANVIL_ERR_NOMEM;
	return ANVIL_OK;
}

/* ------------------------------------------------------------ problems */

#define INTERNAL { "serverInternal", 500, "internal error" }

/* Every anvil_err has a row: the statuses Let's Encrypt's server uses;
 * errors no client causes are serverInternal. */
static const struct {
	const char *type;	/* after REC_PROBLEM_PREFIX */
	int status;
	const char *detail;	/* when the caller has no better one */
} problems[ANVIL_ERR__MAX] = {
	[ANVIL_OK] = INTERNAL,
	[ANVIL_ERR_NOMEM] = INTERNAL,
	[ANVIL_ERR_IO] = INTERNAL,
	[ANVIL_ERR_CONFIG] = INTERNAL,
	[ANVIL_ERR_CRYPTO] = INTERNAL,
	[ANVIL_ERR_PARTIAL] = INTERNAL,
	[ANVIL_ERR_MISMATCH] = INTERNAL,
	[ANVIL_ERR_DEADLOCK] = INTERNAL,
	[ANVIL_ERR_STORE] = INTERNAL,
	[ANVIL_ERR_CORRUPT] = INTERNAL,
	[ANVIL_ERR_VERSION] = INTERNAL,
	[ANVIL_ERR_NOTFOUND] = { "malformed", 404, "no such resource" },
	[ANVIL_ERR_HTTPNOTFOUND] = { "malformed", 404, "no such resource" },
	[ANVIL_ERR_INVALID] = { "malformed", 400, "invalid request" },
	[ANVIL_ERR_MALFORMED] = { "malformed", 400, "malformed request" },
	[ANVIL_ERR_METHOD] = { "malformed", 405, "method not allowed" },
	[ANVIL_ERR_MEDIATYPE] = { "malformed", 415,
	    "unsupported media type" },
	[ANVIL_ERR_TOOLARGE] = { "malformed", 413, "request too large" },
	[ANVIL_ERR_EXISTS] = { "malformed", 409, "conflict" },
	[ANVIL_ERR_BADCSR] = { "badCSR", 400, "the CSR is unacceptable" },
	[ANVIL_ERR_BADNONCE] = { "badNonce", 400, "bad nonce" },
	[ANVIL_ERR_BADSIGALG] = { "badSignatureAlgorithm", 400,
	    "unsupported signature algorithm" },
	[ANVIL_ERR_BADPUBKEY] = { "badPublicKey", 400,
	    "the public key is unacceptable" },
	[ANVIL_ERR_UNAUTHORIZED] = { "unauthorized", 403, "unauthorized" },
	[ANVIL_ERR_NOACCOUNT] = { "accountDoesNotExist", 400,
	    "no such account" },
	[ANVIL_ERR_ORDERNOTREADY] = { "orderNotReady", 403,
	    "the order is not ready" },
	[ANVIL_ERR_REJECTEDID] = { "rejectedIdentifier", 400,
	    "identifier refused" },
	[ANVIL_ERR_UNSUPPORTEDID] = { "unsupportedIdentifier", 400,
	    "identifier type not supported" },
	[ANVIL_ERR_BADREVREASON] = { "badRevocationReason", 400,
	    "revocation reason not allowed" },
	[ANVIL_ERR_ALREADYREVOKED] = { "alreadyRevoked", 400,
	    "the certificate is revoked already" },
	[ANVIL_ERR_CONNECTION] = { "connection", 400,
	    "could not connect to the identifier" },
	[ANVIL_ERR_DNS] = { "dns", 400, "DNS lookup failed" },
	[ANVIL_ERR_INCORRECT] = { "incorrectResponse", 403,
	    "the response did not match the challenge" },
	[ANVIL_ERR_TLS] = { "tls", 400, "TLS handshake failed" },
	[ANVIL_ERR_CAA] = { "caa", 403, "CAA records forbid issuance" },
	[ANVIL_ERR_EABREQUIRED] = { "externalAccountRequired", 400,
	    "an external account binding is required" },
	[ANVIL_ERR_BADCONTACT] = { "invalidContact", 400,
	    "invalid contact" },
	[ANVIL_ERR_UNSUPPORTEDCONTACT] = { "unsupportedContact", 400,
	    "unsupported contact" },
	[ANVIL_ERR_RATELIMITED] = { "rateLimited", 429,
	    "too many requests" },
	/* RFC 9773 §5: a conflict with the order that replaces it. */
	[ANVIL_ERR_ALREADYREPLACED] = { "alreadyReplaced", 409,
	    "the certificate is replaced already" },
	/* draft-ietf-acme-profiles: a profile the directory does not
	 * offer. */
	[ANVIL_ERR_INVALIDPROFILE] = { "invalidProfile", 400,
	    "the server offers no such certificate profile" },
	/* RFC 9110 §15.6.4: the database behind the store is down for a
	 * moment; the client may try again (Retry-After). */
	[ANVIL_ERR_UNAVAILABLE] = { "serverInternal", 503,
	    "the database is unavailable; try again shortly" },
};

const char *
rec_problem_type(anvil_err e)
{
	if ((unsigned)e < ANVIL_ERR__MAX && problems[e].type != NULL)
		return problems[e].type;
	return "serverInternal";
}

int
rec_problem_status(anvil_err e)
{
	if ((unsigned)e < ANVIL_ERR__MAX && problems[e].type != NULL)
		return problems[e].status;
	return 500;
}

const char *
rec_problem_detail(anvil_err e)
{
	if ((unsigned)e < ANVIL_ERR__MAX && problems[e].detail != NULL)
		return problems[e].detail;
	return "internal error";
}

json_t *
rec_problem(anvil_err e, const char *detail)
{
	char type[96];

	snprintf(type, sizeof(type), REC_PROBLEM_PREFIX "%s",
	    rec_problem_type(e));
	return json_pack("{s:s, s:s, s:i}", "type", type, "detail",
	    detail != NULL ? detail : rec_problem_detail(e), "status",
	    rec_problem_status(e));
}
