/*
 * test_record.c - the record module: status names and parsing, the
 * statuses of each kind, status at a time, every transition row, the
 * validation cascade on a fresh store, revocation marking and the problem
 * table.
 *
 * The cascade tests get a new data folder with a new store each (as
 * test_store.c) and remove it afterwards.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "record/record.h"
#include "store/store.h"
#include "helpers.h"

#define T0 1700000000
#define DAY 86400
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ statuses */

static const struct {
	enum rec_status st;
	const char *name;
} names[] = {
	{ REC_PENDING, "pending" },
	{ REC_READY, "ready" },
	{ REC_PROCESSING, "processing" },
	{ REC_VALID, "valid" },
	{ REC_INVALID, "invalid" },
	{ REC_DEACTIVATED, "deactivated" },
	{ REC_EXPIRED, "expired" },
	{ REC_REVOKED, "revoked" },
};

Test(status, every_name_round_trips)
{
	size_t i;

	cr_assert_eq(NELEM(names), REC_ST__MAX - 1, "a status has no row");
	for (i = 0; i < NELEM(names); i++) {
		cr_expect_str_eq(rec_status_name(names[i].st), names[i].name);
		cr_expect_eq(rec_status_parse(names[i].name), names[i].st,
		    "%s", names[i].name);
	}
}

Test(status, refuses_what_is_not_a_status)
{
	static const struct {
		const char *s;
		const char *why;
	} bad[] = {
		{ NULL, "no string" },
		{ "", "empty" },
		{ "PENDING", "case matters" },
		{ "Valid", "case matters" },
		{ "pending ", "trailing space" },
		{ " valid", "leading space" },
		{ "valid\n", "trailing newline" },
		{ "revoke", "prefix of a status" },
		{ "expiredd", "a status plus one" },
		{ "unknown", "no such status" },
		{ "none", "the enum's name for none" },
		{ "(missing)", "anvil-admin's placeholder" },
		{ "p\xc3\xa9nding", "non-ASCII look-alike" },
	};
	size_t i;

	for (i = 0; i < NELEM(bad); i++)
		cr_expect_eq(rec_status_parse(bad[i].s), REC_ST_NONE, "%s",
		    bad[i].why);
}

Test(status, names_nothing_out_of_range)
{
	cr_expect_null(rec_status_name(REC_ST_NONE));
	cr_expect_null(rec_status_name(REC_ST__MAX));
	cr_expect_null(rec_status_name((enum rec_status)-1));
	cr_expect_null(rec_status_name((enum rec_status)1000));
}

/* 1 if the space-separated list holds word. */
static int
has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	for (p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' ||
		    p[n] == '\0'))
			return 1;
	return 0;
}

Test(status, statuses_of_each_kind)
{
	static const struct {
		enum rec_kind kind;
		const char *shows;	/* space-separated */
	} rows[] = {
		{ REC_ACCOUNT, "valid deactivated revoked" },
		{ REC_ORDER, "pending ready processing valid invalid" },
		{ REC_AUTHZ, "pending valid invalid deactivated expired "
		    "revoked" },
		{ REC_CHALLENGE, "pending processing valid invalid" },
		{ REC_CERT, "valid expired revoked" },
	};
	size_t i, j;

	for (i = 0; i < NELEM(rows); i++)
		for (j = 0; j < NELEM(names); j++)
			cr_expect_eq(rec_status_of_kind(rows[i].kind,
			    names[j].st), has_word(rows[i].shows,
			    names[j].name), "kind %d %s", rows[i].kind,
			    names[j].name);
	cr_expect_not(rec_status_of_kind(REC_ORDER, REC_ST_NONE));
	cr_expect_not(rec_status_of_kind(REC_KIND__MAX, REC_VALID));
	cr_expect_not(rec_status_of_kind((enum rec_kind)-1, REC_VALID));
	cr_expect_not(rec_status_of_kind(REC_ORDER, REC_ST__MAX));
}

Test(status, stored_status_and_text)
{
	static const struct {
		const char *rec;
		enum rec_status st;
		const char *text;
	} rows[] = {
		{ "{\"status\": \"ready\"}", REC_READY, "ready" },
		{ "{}", REC_ST_NONE, "" },
		{ "{\"status\": 3}", REC_ST_NONE, "" },
		{ "{\"status\": null}", REC_ST_NONE, "" },
		{ "{\"status\": \"Ready\"}", REC_ST_NONE, "Ready" },
		{ "{\"status\": \"weird\"}", REC_ST_NONE, "weird" },
	};
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		json_t *r = json_loads(rows[i].rec, 0, NULL);
		cr_assert_not_null(r);
		cr_expect_eq(rec_status_get(r), rows[i].st, "%s", rows[i].rec);
		cr_expect_str_eq(rec_status_text(r, rec_status_get(r)),
		    rows[i].text, "%s", rows[i].rec);
		json_decref(r);
	}
	cr_expect_str_eq(rec_status_text(NULL, REC_EXPIRED), "expired");
}

/* ------------------------------------------------------------ at a time */

Test(status, seen_at_a_time)
{
	static const struct {
		int authz;		/* 1 authz, 0 order */
		const char *status;
		json_int_t expires;	/* 0: none */
		time_t now;
		enum rec_status want;
		const char *why;
	} rows[] = {
		{ 0, "pending", T0 + DAY, T0, REC_PENDING, "not yet" },
		{ 0, "pending", T0 - 1, T0, REC_INVALID, "pending expired" },
		{ 0, "ready", T0 - 1, T0, REC_INVALID, "ready expired" },
		{ 0, "ready", T0, T0, REC_READY, "expires this second" },
		{ 0, "processing", T0 - 1, T0, REC_PROCESSING, "processing "
		    "does not expire" },
		{ 0, "valid", T0 - 1, T0, REC_VALID, "valid stays" },
		{ 0, "invalid", T0 - 1, T0, REC_INVALID, "invalid stays" },
		{ 0, "pending", 0, T0, REC_PENDING, "no expiry" },
		{ 0, "pending", -5, T0, REC_PENDING, "negative expiry" },
		{ 0, "bogus", T0 - 1, T0, REC_ST_NONE, "unknown stays unknown" },
		{ 1, "pending", T0 - 1, T0, REC_EXPIRED, "pending expired" },
		{ 1, "valid", T0 - 1, T0, REC_EXPIRED, "valid expired" },
		{ 1, "valid", T0 + 1, T0, REC_VALID, "valid not yet" },
		{ 1, "invalid", T0 - 1, T0, REC_INVALID, "invalid stays" },
		{ 1, "deactivated", T0 - 1, T0, REC_DEACTIVATED,
		    "deactivated stays" },
		{ 1, "revoked", T0 - 1, T0, REC_REVOKED, "revoked stays" },
		{ 1, "pending", 0, T0, REC_PENDING, "no expiry" },
	};
	size_t i;

	for (i = 0; i < NELEM(rows); i++) {
		json_t *r = json_pack("{s:s}", "status", rows[i].status);
		if (rows[i].expires != 0)
			json_object_set_new(r, "expires",
			    json_integer(rows[i].expires));
		cr_expect_eq(rows[i].authz ? rec_authz_status(r, rows[i].now) :
		    rec_order_status(r, rows[i].now), rows[i].want, "%s",
		    rows[i].why);
		json_decref(r);
	}
}

Test(status, certificate_seen_at_a_time)
{
	json_t *c = json_pack("{s:I}", "not_after", (json_int_t)T0);

	cr_expect_eq(rec_cert_status(c, T0), REC_VALID);
	cr_expect_eq(rec_cert_status(c, T0 + 1), REC_EXPIRED);
	json_object_set_new(c, "revoked", json_string("yes"));
	cr_expect_eq(rec_cert_status(c, T0), REC_VALID, "a revoked member "
	    "that is no object is no revocation");
	json_object_del(c, "revoked");
	cr_expect_eq(rec_cert_revoke(c, T0, 1, "operator"), ANVIL_OK);
	cr_expect_eq(rec_cert_status(c, T0), REC_REVOKED);
	cr_expect_eq(rec_cert_status(c, T0 + 1), REC_REVOKED, "revoked wins "
	    "over expired");
	json_decref(c);
}

/* ------------------------------------------------------------ transitions */

static const struct {
	enum rec_kind kind;
	enum rec_status from, to;
} legal[] = {
	{ REC_ACCOUNT, REC_VALID, REC_DEACTIVATED },
	{ REC_ACCOUNT, REC_VALID, REC_REVOKED },
	{ REC_ORDER, REC_PENDING, REC_READY },
	{ REC_ORDER, REC_PENDING, REC_INVALID },
	{ REC_ORDER, REC_READY, REC_PROCESSING },
	{ REC_ORDER, REC_READY, REC_VALID },
	{ REC_ORDER, REC_READY, REC_INVALID },
	{ REC_ORDER, REC_PROCESSING, REC_VALID },
	{ REC_ORDER, REC_PROCESSING, REC_INVALID },
	{ REC_AUTHZ, REC_PENDING, REC_VALID },
	{ REC_AUTHZ, REC_PENDING, REC_INVALID },
	{ REC_AUTHZ, REC_PENDING, REC_DEACTIVATED },
	{ REC_AUTHZ, REC_VALID, REC_DEACTIVATED },
	{ REC_AUTHZ, REC_VALID, REC_REVOKED },
	{ REC_CHALLENGE, REC_PENDING, REC_PROCESSING },
	{ REC_CHALLENGE, REC_PROCESSING, REC_VALID },
	{ REC_CHALLENGE, REC_PROCESSING, REC_INVALID },
	{ REC_CERT, REC_VALID, REC_REVOKED },
};

static int
is_legal(enum rec_kind k, enum rec_status from, enum rec_status to)
{
	size_t i;

	for (i = 0; i < NELEM(legal); i++)
		if (legal[i].kind == k && legal[i].from == from &&
		    legal[i].to == to)
			return 1;
	return 0;
}

/* Every (kind, from, to) triple: legal exactly when listed above. Staying
 * put, leaving a final state, reaching "expired" and any move from an
 * unknown status are all refused. */
Test(transition, every_row)
{
	unsigned k, f, t, n = 0;

	for (k = 0; k < REC_KIND__MAX; k++)
		for (f = 0; f < REC_ST__MAX; f++)
			for (t = 0; t < REC_ST__MAX; t++) {
				int want = is_legal(k, f, t);
				n += want;
				cr_expect_eq(rec_transition_ok(k, f, t), want,
				    "kind %u %s -> %s", k,
				    rec_status_name(f) ?: "none",
				    rec_status_name(t) ?: "none");
			}
	cr_expect_eq(n, NELEM(legal));
}

Test(transition, hostile_arguments)
{
	static const struct {
		int kind, from, to;
		const char *why;
	} rows[] = {
		{ REC_KIND__MAX, REC_PENDING, REC_VALID, "kind past the end" },
		{ -1, REC_PENDING, REC_VALID, "negative kind" },
		{ REC_AUTHZ, REC_ST__MAX, REC_VALID, "from past the end" },
		{ REC_AUTHZ, -1, REC_VALID, "negative from" },
		{ REC_AUTHZ, REC_PENDING, REC_ST__MAX, "to past the end" },
		{ REC_AUTHZ, REC_PENDING, -1, "negative to" },
		{ REC_AUTHZ, REC_PENDING, REC_ST_NONE, "to none" },
		{ REC_ORDER, REC_ST_NONE, REC_PENDING, "from none" },
		{ REC_ORDER, REC_PENDING, REC_PENDING, "staying put" },
		{ REC_ORDER, REC_INVALID, REC_PENDING, "out of a final state" },
		{ REC_ORDER, REC_VALID, REC_INVALID, "out of a final state" },
		{ REC_ORDER, REC_PENDING, REC_EXPIRED, "expiry is not written" },
		{ REC_AUTHZ, REC_PENDING, REC_EXPIRED, "expiry is not written" },
		{ REC_AUTHZ, REC_PENDING, REC_READY, "not an authz status" },
		{ REC_CHALLENGE, REC_PENDING, REC_VALID, "skips processing" },
		{ REC_ACCOUNT, REC_DEACTIVATED, REC_VALID, "no way back" },
		{ REC_ACCOUNT, REC_REVOKED, REC_DEACTIVATED, "revoked is final" },
		{ REC_CERT, REC_REVOKED, REC_VALID, "no unrevoking" },
	};
	size_t i;

	for (i = 0; i < NELEM(rows); i++)
		cr_expect_not(rec_transition_ok((enum rec_kind)rows[i].kind,
		    (enum rec_status)rows[i].from, (enum rec_status)rows[i].to),
		    "%s", rows[i].why);
}

Test(transition, set_refuses_and_leaves_the_record)
{
	json_t *o = json_pack("{s:s}", "status", "valid");
	json_t *n = json_object();

	cr_expect_eq(rec_status_set(o, REC_ORDER, REC_INVALID),
	    ANVIL_ERR_INVALID);
	cr_expect_str_eq(json_string_value(json_object_get(o, "status")),
	    "valid");
	cr_expect_eq(rec_status_set(n, REC_ORDER, REC_PENDING),
	    ANVIL_ERR_INVALID, "no stored status: no move");
	cr_expect_null(json_object_get(n, "status"));
	json_object_set_new(o, "status", json_string("ready"));
	cr_expect_eq(rec_status_set(o, REC_ORDER, REC_VALID), ANVIL_OK);
	cr_expect_str_eq(json_string_value(json_object_get(o, "status")),
	    "valid");
	json_decref(o);
	json_decref(n);
}

/* ------------------------------------------------------------ revocation */

Test(revoke, marks_once)
{
	json_t *c = json_pack("{s:s}", "pem", "x"), *rv;

	cr_expect_null(rec_cert_revoked(c));
	cr_assert_eq(rec_cert_revoke(c, T0, 4, "account"), ANVIL_OK);
	rv = rec_cert_revoked(c);
	cr_assert(json_is_object(rv));
	cr_expect_eq(json_integer_value(json_object_get(rv, "time")), T0);
	cr_expect_eq(json_integer_value(json_object_get(rv, "reason")), 4);
	cr_expect_str_eq(json_string_value(json_object_get(rv, "by")),
	    "account");
	cr_expect_eq(rec_cert_revoke(c, T0 + 5, 1, "operator"),
	    ANVIL_ERR_ALREADYREVOKED);
	cr_expect_eq(json_integer_value(json_object_get(rec_cert_revoked(c),
	    "time")), T0, "the first revocation stays");
	json_object_set_new(c, "revoked", json_null());
	cr_expect_eq(rec_cert_revoke(c, T0, 1, "operator"),
	    ANVIL_ERR_ALREADYREVOKED, "any revoked member counts, as the "
	    "store's index has it");
	json_decref(c);
}

/* ------------------------------------------------------------ new records */

static void
expect_dump(json_t *rec, const char *want)
{
	char *s;

	cr_assert_not_null(rec);
	s = json_dumps(rec, JSON_COMPACT);
	cr_expect_str_eq(s, want);
	free(s);
	json_decref(rec);
}

/* The stored bytes, member order included, are what they were before the
 * record module existed: stores written by older versions read the same. */
Test(new_record, stored_form)
{
	expect_dump(rec_account_new("acct1", "thumb", 1, T0),
	    "{\"id\":\"acct1\",\"status\":\"valid\",\"thumbprint\":"
	    "\"thumb\",\"termsOfServiceAgreed\":true,\"created\":"
	    "1700000000}");
	expect_dump(rec_challenge_new("c1", "dns-01", "tok", "a1", "acct1"),
	    "{\"id\":\"c1\",\"type\":\"dns-01\",\"token\":\"tok\","
	    "\"status\":\"pending\",\"authz\":\"a1\",\"account\":"
	    "\"acct1\"}");
	expect_dump(rec_authz_new("a1", "acct1", "dns", "example.test", 1,
	    T0), "{\"id\":\"a1\",\"account\":\"acct1\",\"identifier\":"
	    "{\"type\":\"dns\",\"value\":\"example.test\"},\"wildcard\":"
	    "true,\"status\":\"pending\",\"expires\":1700000000,"
	    "\"challenges\":[]}");
	expect_dump(rec_order_new("o1", "acct1", 0, T0 + 1, T0,
	    json_array(), json_pack("[s]", "a1"), NULL), "{\"id\":\"o1\","
	    "\"account\":\"acct1\",\"status\":\"pending\",\"expires\":"
	    "1700000001,\"created\":1700000000,\"identifiers\":[],"
	    "\"authorizations\":[\"a1\"]}");
	expect_dump(rec_order_new("o1", "acct1", 1, T0, T0, json_array(),
	    json_array(), NULL), "{\"id\":\"o1\",\"account\":\"acct1\","
	    "\"status\":\"ready\",\"expires\":1700000000,\"created\":"
	    "1700000000,\"identifiers\":[],\"authorizations\":[]}");
	expect_dump(rec_order_new("o2", "acct1", 0, T0, T0, json_array(),
	    json_array(), "tlsserver"), "{\"id\":\"o2\",\"account\":"
	    "\"acct1\",\"status\":\"pending\",\"expires\":1700000000,"
	    "\"created\":1700000000,\"identifiers\":[],\"authorizations\":"
	    "[],\"profile\":\"tlsserver\"}");
	{
		json_t *ids = json_pack("[{s:s, s:s}]", "type", "dns", "value",
		    "example.test");
		expect_dump(rec_cert_new("0a", "acct1", "o1", "PEM", T0, T0 + 9,
		    T0, ids, NULL), "{\"serial\":\"0a\",\"account\":\"acct1\","
		    "\"order\":\"o1\",\"pem\":\"PEM\",\"not_before\":"
		    "1700000000,\"not_after\":1700000009,\"issued\":"
		    "1700000000,\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"example.test\"}]}");
		expect_dump(rec_cert_new("0b", "acct1", "o1", "PEM", T0, T0 + 9,
		    T0, ids, "shortlived"), "{\"serial\":\"0b\",\"account\":"
		    "\"acct1\",\"order\":\"o1\",\"pem\":\"PEM\","
		    "\"not_before\":1700000000,\"not_after\":1700000009,"
		    "\"issued\":1700000000,\"identifiers\":[{\"type\":"
		    "\"dns\",\"value\":\"example.test\"}],\"profile\":"
		    "\"shortlived\"}");
		cr_expect_eq(ids->refcount, 1, "identifiers are borrowed");
		json_decref(ids);
	}
}

Test(new_record, refuses_what_jansson_refuses)
{
	cr_expect_null(rec_account_new("a", "bad \xff", 0, T0));
	cr_expect_null(rec_challenge_new("c", "http-01", NULL, "a", "b"));
	cr_expect_null(rec_authz_new("a", "b", "dns", "x\xc3", 0, T0));
	cr_expect_null(rec_order_new("o", "a", 0, T0, T0, NULL, json_array(),
	    NULL), "no identifiers");
	cr_expect_null(rec_order_new("o", "a", 0, T0, T0, json_array(),
	    json_array(), "bad \xff"), "profile not UTF-8");
}

/* ------------------------------------------------------------ problems */

/* Every anvil_err, the type and status it must have. */
static const struct {
	const char *type;
	int status;
} want_problem[ANVIL_ERR__MAX] = {
	[ANVIL_OK] = { "serverInternal", 500 },
	[ANVIL_ERR_NOMEM] = { "serverInternal", 500 },
	[ANVIL_ERR_IO] = { "serverInternal", 500 },
	[ANVIL_ERR_CONFIG] = { "serverInternal", 500 },
	[ANVIL_ERR_INVALID] = { "malformed", 400 },
	[ANVIL_ERR_CRYPTO] = { "serverInternal", 500 },
	[ANVIL_ERR_PARTIAL] = { "serverInternal", 500 },
	[ANVIL_ERR_MISMATCH] = { "serverInternal", 500 },
	[ANVIL_ERR_BADCSR] = { "badCSR", 400 },
	[ANVIL_ERR_NOTFOUND] = { "malformed", 404 },
	[ANVIL_ERR_EXISTS] = { "malformed", 409 },
	[ANVIL_ERR_DEADLOCK] = { "serverInternal", 500 },
	[ANVIL_ERR_STORE] = { "serverInternal", 500 },
	[ANVIL_ERR_CORRUPT] = { "serverInternal", 500 },
	[ANVIL_ERR_VERSION] = { "serverInternal", 500 },
	[ANVIL_ERR_MALFORMED] = { "malformed", 400 },
	[ANVIL_ERR_BADNONCE] = { "badNonce", 400 },
	[ANVIL_ERR_BADSIGALG] = { "badSignatureAlgorithm", 400 },
	[ANVIL_ERR_BADPUBKEY] = { "badPublicKey", 400 },
	[ANVIL_ERR_UNAUTHORIZED] = { "unauthorized", 403 },
	[ANVIL_ERR_NOACCOUNT] = { "accountDoesNotExist", 400 },
	[ANVIL_ERR_ORDERNOTREADY] = { "orderNotReady", 403 },
	[ANVIL_ERR_REJECTEDID] = { "rejectedIdentifier", 400 },
	[ANVIL_ERR_UNSUPPORTEDID] = { "unsupportedIdentifier", 400 },
	[ANVIL_ERR_BADREVREASON] = { "badRevocationReason", 400 },
	[ANVIL_ERR_ALREADYREVOKED] = { "alreadyRevoked", 400 },
	[ANVIL_ERR_CONNECTION] = { "connection", 400 },
	[ANVIL_ERR_DNS] = { "dns", 400 },
	[ANVIL_ERR_INCORRECT] = { "incorrectResponse", 403 },
	[ANVIL_ERR_TLS] = { "tls", 400 },
	[ANVIL_ERR_CAA] = { "caa", 403 },
	[ANVIL_ERR_EABREQUIRED] = { "externalAccountRequired", 400 },
	[ANVIL_ERR_BADCONTACT] = { "invalidContact", 400 },
	[ANVIL_ERR_UNSUPPORTEDCONTACT] = { "unsupportedContact", 400 },
	[ANVIL_ERR_RATELIMITED] = { "rateLimited", 429 },
	[ANVIL_ERR_INVALIDPROFILE] = { "invalidProfile", 400 },
	[ANVIL_ERR_METHOD] = { "malformed", 405 },
	[ANVIL_ERR_MEDIATYPE] = { "malformed", 415 },
	[ANVIL_ERR_TOOLARGE] = { "malformed", 413 },
	[ANVIL_ERR_HTTPNOTFOUND] = { "malformed", 404 },
	[ANVIL_ERR_ALREADYREPLACED] = { "alreadyReplaced", 409 },
	[ANVIL_ERR_UNAVAILABLE] = { "serverInternal", 503 },
};

/* A hole here (an anvil_err added without a row) fails first: the table
 * above must name every error, and record.c must agree with it. */
Test(problem, every_error_has_a_type_and_status)
{
	unsigned e;

	for (e = 0; e < ANVIL_ERR__MAX; e++) {
		cr_assert_not_null(want_problem[e].type, "error %u (%s) has no "
		    "row in the test", e, anvil_strerror(e));
		cr_expect_str_eq(rec_problem_type(e), want_problem[e].type,
		    "%s", anvil_strerror(e));
		cr_expect_eq(rec_problem_status(e), want_problem[e].status,
		    "%s", anvil_strerror(e));
		cr_expect_not_null(rec_problem_detail(e));
		cr_expect_neq(rec_problem_detail(e)[0], '\0');
	}
}

Test(problem, out_of_range_is_internal)
{
	cr_expect_str_eq(rec_problem_type(ANVIL_ERR__MAX), "serverInternal");
	cr_expect_eq(rec_problem_status(ANVIL_ERR__MAX), 500);
	cr_expect_str_eq(rec_problem_type((anvil_err)-1), "serverInternal");
	cr_expect_eq(rec_problem_status((anvil_err)-1), 500);
	cr_expect_not_null(rec_problem_detail((anvil_err)-1));
}

Test(problem, documents_carry_the_urn)
{
	unsigned e;

	for (e = 0; e < ANVIL_ERR__MAX; e++) {
		json_t *d = rec_problem(e, e % 2 ? "why" : NULL);
		const char *type;
		char want[128];

		cr_assert_not_null(d, "%s", anvil_strerror(e));
		type = json_string_value(json_object_get(d, "type"));
		snprintf(want, sizeof(want), "urn:ietf:params:acme:error:%s",
		    want_problem[e].type);
		cr_expect_str_eq(type, want);
		cr_expect_eq(strncmp(type, REC_PROBLEM_PREFIX,
		    strlen(REC_PROBLEM_PREFIX)), 0);
		cr_expect_eq(json_integer_value(json_object_get(d, "status")),
		    want_problem[e].status);
		cr_expect_str_eq(json_string_value(json_object_get(d,
		    "detail")), e % 2 ? "why" : rec_problem_detail(e));
		cr_expect_eq(json_object_size(d), 3, "type, detail, status");
		json_decref(d);
	}
}

Test(problem, refuses_a_detail_that_is_not_utf8)
{
	cr_expect_null(rec_problem(ANVIL_ERR_DNS, "bad \xff byte"));
	cr_expect_null(rec_problem(ANVIL_ERR_DNS, "cut \xc3"));
	cr_expect_not_null(rec_problem(ANVIL_ERR_DNS, ""));
}

/* ------------------------------------------------------------ cascade */

static char *dir;
static struct store *st;
static char err[512];

static void
setup(void)
{
	dir = th_tempdir();
	err[0] = '\0';
	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err)),
	    ANVIL_OK, "store_open: %s", err);
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
	th_rmrf(dir);
	free(dir);
	dir = NULL;
}

TestSuite(cascade, .init = setup, .fini = teardown, .timeout = 60);

struct put {
	enum store_kind kind;
	const char *id;
	json_t *rec;		/* stolen */
};

static anvil_err
put_fn(struct store_txn *txn, void *arg)
{
	struct put *p = arg;

	return store_put(txn, p->kind, p->id, p->rec, 0);
}

static void
put(enum store_kind kind, const char *id, json_t *rec)
{
	struct put p = { kind, id, rec };

	cr_assert_not_null(rec, "%s", id);
	cr_assert_eq(store_run(st, 0, put_fn, &p, err, sizeof(err)),
	    ANVIL_OK, "put %s: %s", id, err);
	json_decref(rec);
}

struct get {
	enum store_kind kind;
	const char *id;
	json_t *rec;
};

static anvil_err
get_fn(struct store_txn *txn, void *arg)
{
	struct get *g = arg;

	json_decref(g->rec);
	g->rec = NULL;
	return store_get(txn, g->kind, g->id, &g->rec);
}

/* The record id of kind; caller decrefs. */
static json_t *
get(enum store_kind kind, const char *id)
{
	struct get g = { kind, id, NULL };

	cr_assert_eq(store_run(st, 0, get_fn, &g, err, sizeof(err)),
	    ANVIL_OK, "get %s: %s", id, err);
	return g.rec;
}

static const char *
status_of(enum store_kind kind, const char *id)
{
	static char buf[32];
	json_t *r = get(kind, id);

	snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(r,
	    "status")) ?: "");
	json_decref(r);
	return buf;
}

struct result {
	const char *id;
	json_t *problem;	/* borrowed */
	time_t now;
	json_t *changed;
};

static anvil_err
result_fn(struct store_txn *txn, void *arg)
{
	struct result *r = arg;
	json_t *c = NULL;
	anvil_err rc;

	json_decref(r->changed);
	r->changed = NULL;
	if ((rc = store_get(txn, STORE_CHALLENGE, r->id, &c)) != ANVIL_OK)
		return rc;
	rc = rec_challenge_result(txn, r->id, c, r->problem, r->now,
	    &r->changed);
	json_decref(c);
	return rc;
}

/* Records the end of challenge id's validation; what changed, new ref. */
static json_t *
finish(const char *id, json_t *problem)
{
	struct result r = { id, problem, T0, NULL };

	cr_assert_eq(store_run(st, 0, result_fn, &r, err, sizeof(err)),
	    ANVIL_OK, "result %s: %s", id, err);
	cr_assert_not_null(r.changed);
	return r.changed;
}

static void
authz(const char *id, const char *status, const char *name,
    const char *orders)
{
	put(STORE_AUTHZ, id, json_pack("{s:s, s:s, s:{s:s, s:s}, s:b, s:s, "
	    "s:I, s:o}", "id", id, "account", "acct1", "identifier", "type",
	    "dns", "value", name, "wildcard", 0, "status", status, "expires",
	    (json_int_t)T0 + 7 * DAY, "orders", json_loads(orders, 0, NULL)));
}

static void
order(const char *id, const char *status, const char *authzs)
{
	put(STORE_ORDER, id, json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", id,
	    "account", "acct1", "status", status, "expires",
	    (json_int_t)T0 + 7 * DAY, "authorizations", json_loads(authzs, 0,
	    NULL)));
}

static void
challenge(const char *id, const char *status, const char *authz_id)
{
	put(STORE_CHALLENGE, id, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}",
	    "id", id, "type", "http-01", "status", status, "authz", authz_id,
	    "account", "acct1", "started", (json_int_t)T0 - 10));
}

static void
expect_ids(json_t *arr, const char *want)
{
	char *s = json_dumps(arr, JSON_COMPACT);

	cr_expect_str_eq(s, want);
	free(s);
}

Test(cascade, failure_reaches_pending_orders_only)
{
	json_t *problem = rec_problem(ANVIL_ERR_INCORRECT, "wrong token");
	json_t *ch, *r;

	authz("authzA", "pending", "a.example.test",
	    "[\"order1\", \"order2\", \"order3\"]");
	authz("authzB", "pending", "b.example.test", "[\"order1\"]");
	order("order1", "pending", "[\"authzA\", \"authzB\"]");
	order("order2", "pending", "[\"authzA\"]");
	order("order3", "valid", "[\"authzA\"]");
	challenge("chall1", "processing", "authzA");

	ch = finish("chall1", problem);
	cr_expect_str_eq(status_of(STORE_CHALLENGE, "chall1"), "invalid");
	cr_expect_str_eq(status_of(STORE_AUTHZ, "authzA"), "invalid");
	cr_expect_str_eq(status_of(STORE_AUTHZ, "authzB"), "pending");
	cr_expect_str_eq(status_of(STORE_ORDER, "order1"), "invalid");
	cr_expect_str_eq(status_of(STORE_ORDER, "order2"), "invalid");
	cr_expect_str_eq(status_of(STORE_ORDER, "order3"), "valid",
	    "a valid order is untouched");

	r = get(STORE_CHALLENGE, "chall1");
	cr_expect(json_equal(json_object_get(r, "error"), problem));
	json_decref(r);
	r = get(STORE_ORDER, "order2");
	cr_expect(json_equal(json_object_get(r, "error"), problem),
	    "the order carries the challenge's problem");
	json_decref(r);
	r = get(STORE_ORDER, "order3");
	cr_expect_null(json_object_get(r, "error"));
	json_decref(r);

	cr_expect_str_eq(json_string_value(json_object_get(ch, "authz")),
	    "authzA");
	expect_ids(json_object_get(ch, "orders"), "[\"order1\",\"order2\"]");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(ch,
	    "identifier"), "value")), "a.example.test");
	json_decref(ch);
	json_decref(problem);
}

Test(cascade, success_makes_orders_ready_when_all_authz_valid)
{
	json_t *ch, *r;

	authz("authzA", "pending", "a.example.test",
	    "[\"order1\", \"order2\"]");
	authz("authzB", "pending", "b.example.test", "[\"order1\"]");
	order("order1", "pending", "[\"authzA\", \"authzB\"]");
	order("order2", "pending", "[\"authzA\"]");
	challenge("challA", "processing", "authzA");
	challenge("challB", "processing", "authzB");

	ch = finish("challA", NULL);
	cr_expect_str_eq(status_of(STORE_CHALLENGE, "challA"), "valid");
	cr_expect_str_eq(status_of(STORE_AUTHZ, "authzA"), "valid");
	cr_expect_str_eq(status_of(STORE_ORDER, "order1"), "pending",
	    "authzB is still pending");
	cr_expect_str_eq(status_of(STORE_ORDER, "order2"), "ready");
	expect_ids(json_object_get(ch, "orders"), "[\"order2\"]");
	json_decref(ch);
	r = get(STORE_CHALLENGE, "challA");
	cr_expect_eq(json_integer_value(json_object_get(r, "validated")), T0);
	cr_expect_null(json_object_get(r, "error"));
	json_decref(r);
	r = get(STORE_AUTHZ, "authzA");
	cr_expect_eq(json_integer_value(json_object_get(r, "expires")),
	    T0 + REC_AUTHZ_VALID_LIFETIME);
	json_decref(r);

	ch = finish("challB", NULL);
	cr_expect_str_eq(status_of(STORE_ORDER, "order1"), "ready");
	cr_expect_str_eq(status_of(STORE_ORDER, "order2"), "ready");
	expect_ids(json_object_get(ch, "orders"), "[\"order1\"]");
	json_decref(ch);
}

Test(cascade, failure_after_another_challenge_won)
{
	json_t *problem = rec_problem(ANVIL_ERR_DNS, "no TXT record");
	json_t *ch;

	authz("authzA", "pending", "a.example.test", "[\"order1\"]");
	authz("authzB", "pending", "b.example.test", "[\"order1\"]");
	order("order1", "pending", "[\"authzA\", \"authzB\"]");
	challenge("http", "processing", "authzA");
	challenge("dns", "processing", "authzA");

	json_decref(finish("http", NULL));
	ch = finish("dns", problem);
	cr_expect_str_eq(status_of(STORE_CHALLENGE, "dns"), "invalid");
	cr_expect_str_eq(status_of(STORE_AUTHZ, "authzA"), "valid");
	cr_expect_str_eq(status_of(STORE_ORDER, "order1"), "pending",
	    "an authorization still valid keeps its order going");
	cr_expect(json_is_null(json_object_get(ch, "authz")));
	cr_expect_eq(json_array_size(json_object_get(ch, "orders")), 0);
	json_decref(ch);
	json_decref(problem);
}

Test(cascade, missing_authz_and_orders_are_skipped)
{
	json_t *problem = rec_problem(ANVIL_ERR_IO, NULL);
	json_t *ch;

	challenge("lonely", "processing", "authzGone");
	ch = finish("lonely", problem);
	cr_expect_str_eq(status_of(STORE_CHALLENGE, "lonely"), "invalid");
	cr_expect(json_is_null(json_object_get(ch, "identifier")));
	json_decref(ch);

	authz("authzA", "pending", "a.example.test",
	    "[\"orderGone\", 7, \"order1\"]");
	order("order1", "pending", "[\"authzA\"]");
	challenge("c2", "processing", "authzA");
	ch = finish("c2", problem);
	cr_expect_str_eq(status_of(STORE_ORDER, "order1"), "invalid");
	expect_ids(json_object_get(ch, "orders"), "[\"order1\"]");
	json_decref(ch);
	json_decref(problem);
}

Test(cascade, expired_order_is_left_alone)
{
	json_t *ch;

	authz("authzA", "pending", "a.example.test", "[\"old\"]");
	put(STORE_ORDER, "old", json_pack("{s:s, s:s, s:s, s:I, s:[s]}", "id",
	    "old", "account", "acct1", "status", "pending", "expires",
	    (json_int_t)T0 - 1, "authorizations", "authzA"));
	challenge("c", "processing", "authzA");
	ch = finish("c", NULL);
	cr_expect_str_eq(status_of(STORE_AUTHZ, "authzA"), "valid");
	cr_expect_str_eq(status_of(STORE_ORDER, "old"), "pending",
	    "seen invalid at now: not made ready");
	json_decref(ch);
}

/* Which CA generation issued a certificate: none recorded is 1 (records
 * from before rollover), anything but a small positive integer is 0. */
Test(record, cert_generation)
{
	static const struct {
		const char *json;
		unsigned want;
		const char *why;
	} rows[] = {
		{ "{}", 1, "no member: generation 1" },
		{ "{\"ca_gen\": 1}", 1, "generation 1" },
		{ "{\"ca_gen\": 7}", 7, "generation 7" },
		{ "{\"ca_gen\": 0}", 0, "zero" },
		{ "{\"ca_gen\": -2}", 0, "negative" },
		{ "{\"ca_gen\": 65536}", 0, "too large" },
		{ "{\"ca_gen\": \"2\"}", 0, "a string" },
		{ "{\"ca_gen\": null}", 0, "null" },
	};
	json_t *rec;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		rec = json_loads(rows[i].json, 0, NULL);
		cr_assert_not_null(rec);
		cr_assert_eq(rec_cert_generation(rec), rows[i].want, "%s",
		    rows[i].why);
		json_decref(rec);
	}
	rec = json_object();
	cr_assert_eq(rec_cert_set_generation(rec, 0), ANVIL_ERR_INVALID);
	cr_assert_eq(rec_cert_set_generation(rec, 65536), ANVIL_ERR_INVALID);
	cr_assert_null(json_object_get(rec, "ca_gen"), "refused: unchanged");
	cr_assert_eq(rec_cert_set_generation(rec, 3), ANVIL_OK);
	cr_assert_eq(rec_cert_generation(rec), 3);
	json_decref(rec);
}

/* The CRL shard a certificate was issued in: none recorded (issued
 * unsharded, in the full CRL only) is 0, as is anything but 1..1024. */
Test(record, cert_crl_shard)
{
	static const struct {
		const char *json;
		unsigned want;
		const char *why;
	} rows[] = {
		{ "{}", 0, "no member: no shard" },
		{ "{\"crl_shard\": 1}", 1, "shard 1" },
		{ "{\"crl_shard\": 1024}", 1024, "shard 1024" },
		{ "{\"crl_shard\": 0}", 0, "zero" },
		{ "{\"crl_shard\": -3}", 0, "negative" },
		{ "{\"crl_shard\": 1025}", 0, "above [crl] shards' bound" },
		{ "{\"crl_shard\": \"2\"}", 0, "a string" },
		{ "{\"crl_shard\": 2.0}", 0, "a real" },
	};
	json_t *rec;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		rec = json_loads(rows[i].json, 0, NULL);
		cr_assert_not_null(rec);
		cr_assert_eq(rec_cert_crl_shard(rec), rows[i].want, "%s",
		    rows[i].why);
		json_decref(rec);
	}
	rec = json_object();
	cr_assert_eq(rec_cert_set_crl_shard(rec, 0), ANVIL_ERR_INVALID);
	cr_assert_eq(rec_cert_set_crl_shard(rec, 1025), ANVIL_ERR_INVALID);
	cr_assert_null(json_object_get(rec, "crl_shard"), "refused: unchanged");
	cr_assert_eq(rec_cert_set_crl_shard(rec, 5), ANVIL_OK);
	cr_assert_eq(rec_cert_crl_shard(rec), 5);
	json_decref(rec);
}
