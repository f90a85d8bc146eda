/*
 * test_ari.c - ACME Renewal Information (RFC 9773) in the record module
 * (src/record/renewal.c): the certID codec with hostile inputs, the
 * suggested window of a normal, revoked, advised and expired certificate,
 * the "replaces" marks, the alreadyReplaced problem, and newOrder's
 * replaces against a real store (src/acme/new_order.c).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "helpers.h"
#include "record/record.h"
#include "store/store.h"

#define DAY 86400
#define T0 ((time_t)1780000000)

/* ------------------------------------------------------------ certID */

/* RFC 9773 §4.1's example: keyIdentifier 69:88:5B:...:C8:D4, serial
 * 00:87:65:43:21 (the sign octet kept, as DER has it). */
static const unsigned char rfc_kid[] = { 0x69, 0x88, 0x5b, 0x6b, 0x87,
	0x46, 0x40, 0x41, 0xe1, 0xb3, 0x7b, 0x84, 0x7b, 0xa0, 0xae, 0x2c, 0xde,
	0x01, 0xc8, 0xd4 };
#define RFC_CERTID "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"

Test(certid, rfc_example_parses)
{
	unsigned char kid[REC_KEYID_MAX];
	char serial[2 * REC_SERIAL_MAX + 1], why[160];
	size_t kidlen;

	cr_assert_eq(rec_certid_parse(RFC_CERTID, kid, &kidlen, serial, why,
	    sizeof(why)), ANVIL_OK, "%s", why);
	cr_assert_eq(kidlen, sizeof(rfc_kid));
	cr_expect_eq(memcmp(kid, rfc_kid, kidlen), 0);
	cr_expect_str_eq(serial, "87654321", "sign octet dropped: the "
	    "store's key is the value");
}

Test(certid, rfc_example_made)
{
	static const unsigned char ser[] = { 0x87, 0x65, 0x43, 0x21 };
	char *s = NULL;

	cr_assert_eq(rec_certid_make(rfc_kid, sizeof(rfc_kid), ser,
	    sizeof(ser), &s), ANVIL_OK);
	cr_expect_str_eq(s, RFC_CERTID, "a 0x00 is added before a high bit");
	free(s);
}

Test(certid, made_drops_leading_zero_octets)
{
	static const unsigned char kid[] = { 'i', 'd' };
	static const unsigned char ser[] = { 0x00, 0x00, 0x01, 0x02 };
	char *s = NULL;

	cr_assert_eq(rec_certid_make(kid, sizeof(kid), ser, sizeof(ser), &s),
	    ANVIL_OK);
	cr_expect_str_eq(s, "aWQ.AQI");
	free(s);
}

Test(certid, made_refuses_empty_and_long)
{
	static const unsigned char kid[] = { 'i', 'd' };
	unsigned char big[REC_SERIAL_MAX + 1];
	char *s = NULL;

	memset(big, 0x11, sizeof(big));
	cr_expect_eq(rec_certid_make(kid, 0, kid, 1, &s), ANVIL_ERR_INVALID);
	cr_expect_eq(rec_certid_make(kid, 2, kid, 0, &s), ANVIL_ERR_INVALID);
	cr_expect_eq(rec_certid_make(kid, 2, big, sizeof(big), &s),
	    ANVIL_ERR_INVALID);
	cr_expect_null(s);
}

struct crow {
	int line;
	const char *in;
	anvil_err want;
	const char *serial;	/* when ANVIL_OK */
	const char *desc;
};

/* "aWQ" is the key id "id"; "AQI" the serial 0x0102. */
static const struct crow crows[] = {
	{ __LINE__, "aWQ.AQI", ANVIL_OK, "0102", "plain" },
	{ __LINE__, "aWQ.AIA", ANVIL_OK, "80", "leading 0x00 before a high "
	  "bit: DER's sign octet" },
	{ __LINE__, "aWQ.AICAgICAgICAgICAgICAgICAgICA", ANVIL_OK,
	  "8080808080808080808080808080808080808080", "20 octets after the "
	  "sign octet" },
	{ __LINE__, "aWQ.AQEBAQEBAQEBAQEBAQEBAQEBAQEB", ANVIL_ERR_MALFORMED, NULL,
	  "21-octet serial" },
	{ __LINE__, "aWQ.AAE", ANVIL_ERR_MALFORMED, NULL, "needless leading "
	  "zero: not DER" },
	{ __LINE__, "aWQ.AA", ANVIL_ERR_MALFORMED, NULL, "serial zero" },
	{ __LINE__, "aWQ.gA", ANVIL_ERR_MALFORMED, NULL, "negative serial" },
	{ __LINE__, "aWQ.AQI=", ANVIL_ERR_MALFORMED, NULL, "padding" },
	{ __LINE__, "aWQ=.AQI", ANVIL_ERR_MALFORMED, NULL, "padding in the "
	  "key id" },
	{ __LINE__, "aW+.AQI", ANVIL_ERR_MALFORMED, NULL, "'+' (base64, not "
	  "base64url)" },
	{ __LINE__, "aWQ.A/I", ANVIL_ERR_MALFORMED, NULL, "'/'" },
	{ __LINE__, "aWQ.AQJ", ANVIL_ERR_MALFORMED, NULL, "non-zero spare bits: "
	  "a second spelling of the same octets" },
	{ __LINE__, "aWQ.A", ANVIL_ERR_MALFORMED, NULL, "one character: no "
	  "whole octet" },
	{ __LINE__, ".AQI", ANVIL_ERR_MALFORMED, NULL, "empty key id" },
	{ __LINE__, "aWQ.", ANVIL_ERR_MALFORMED, NULL, "empty serial" },
	{ __LINE__, ".", ANVIL_ERR_MALFORMED, NULL, "only the dot" },
	{ __LINE__, "", ANVIL_ERR_MALFORMED, NULL, "empty" },
	{ __LINE__, "aWQAQI", ANVIL_ERR_MALFORMED, NULL, "no dot" },
	{ __LINE__, "aWQ.AQI.AQI", ANVIL_ERR_MALFORMED, NULL, "two dots" },
	{ __LINE__, "aWQ..AQI", ANVIL_ERR_MALFORMED, NULL, "two dots in a "
	  "row" },
	{ __LINE__, "aWQ.AQI ", ANVIL_ERR_MALFORMED, NULL, "trailing space" },
	{ __LINE__, "aWQ.AQI\n", ANVIL_ERR_MALFORMED, NULL, "trailing "
	  "newline" },
	{ __LINE__, "aWQ.%41QI", ANVIL_ERR_MALFORMED, NULL, "percent-encoded" },
	{ __LINE__, "aW\xc3\xa9.AQI", ANVIL_ERR_MALFORMED, NULL, "UTF-8 "
	  "letter" },
};

Test(certid, table)
{
	unsigned char kid[REC_KEYID_MAX];
	char serial[2 * REC_SERIAL_MAX + 1], why[160];
	size_t i, kidlen;

	for (i = 0; i < sizeof(crows) / sizeof(crows[0]); i++) {
		const struct crow *w = &crows[i];
		anvil_err rc;

		why[0] = '\0';
		rc = rec_certid_parse(w->in, kid, &kidlen, serial, why,
		    sizeof(why));
		cr_expect_eq(rc, w->want, "line %d [%s]: %s (%s)", w->line,
		    w->desc, anvil_strerror(rc), why);
		if (w->want == ANVIL_OK && rc == ANVIL_OK) {
			cr_expect_str_eq(serial, w->serial, "line %d [%s]",
			    w->line, w->desc);
			cr_expect(kidlen == 2 && memcmp(kid, "id", 2) == 0,
			    "line %d [%s]", w->line, w->desc);
		}
		if (w->want != ANVIL_OK) {
			cr_expect_neq(why[0], '\0', "line %d [%s]: says why",
			    w->line, w->desc);
			cr_expect_eq(kidlen, 0, "line %d", w->line);
		}
	}
}

Test(certid, null_huge_and_long_key_id)
{
	unsigned char kid[REC_KEYID_MAX];
	char serial[2 * REC_SERIAL_MAX + 1], why[160], *huge;
	unsigned char k65[REC_KEYID_MAX + 1];
	size_t kidlen;
	char *s = NULL;

	cr_expect_eq(rec_certid_parse(NULL, kid, &kidlen, serial, why,
	    sizeof(why)), ANVIL_ERR_MALFORMED);
	huge = malloc(1 << 20);
	cr_assert_not_null(huge);
	memset(huge, 'A', (1 << 20) - 1);
	huge[1000] = '.';
	huge[(1 << 20) - 1] = '\0';
	cr_expect_eq(rec_certid_parse(huge, kid, &kidlen, serial, why,
	    sizeof(why)), ANVIL_ERR_MALFORMED, "a megabyte");
	free(huge);
	/* A 65-octet key id, made by hand around rec_certid_make's bound. */
	memset(k65, 0x42, sizeof(k65));
	cr_assert_eq(rec_certid_make(k65, REC_KEYID_MAX, (const unsigned char
	    *)"\x01", 1, &s), ANVIL_OK);
	cr_expect_eq(rec_certid_parse(s, kid, &kidlen, serial, why,
	    sizeof(why)), ANVIL_OK, "64 octets is the bound");
	free(s);
	cr_expect_eq(rec_certid_parse("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC"
	    "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC.AQ", kid,
	    &kidlen, serial, why, sizeof(why)), ANVIL_ERR_MALFORMED,
	    "66-octet key id: %s", why);
}

Test(certid, round_trip_of_random_looking_serials)
{
	static const unsigned char kid[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
		11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
	unsigned char ser[16], k[REC_KEYID_MAX];
	char serial[2 * REC_SERIAL_MAX + 1], why[160], *s;
	size_t kidlen;
	unsigned i, j;

	for (i = 0; i < 256; i++) {
		for (j = 0; j < sizeof(ser); j++)
			ser[j] = (unsigned char)(i * 37 + j * 11);
		ser[0] = (unsigned char)i;
		if (ser[0] == 0)
			ser[0] = 1;
		s = NULL;
		cr_assert_eq(rec_certid_make(kid, sizeof(kid), ser,
		    sizeof(ser), &s), ANVIL_OK);
		cr_expect_eq(rec_certid_parse(s, k, &kidlen, serial, why,
		    sizeof(why)), ANVIL_OK, "%s: %s", s, why);
		cr_expect_eq(strlen(serial), 32, "%s", s);
		free(s);
	}
}

/* ------------------------------------------------------------ window */

static json_t *
cert_rec(time_t nb, time_t na)
{
	json_t *ids = json_pack("[{s:s, s:s}]", "type", "dns", "value",
	    "a.test");
	json_t *rec = rec_cert_new("0a", "acct1", "o1", "PEM", nb, na, nb,
	    ids, NULL);

	json_decref(ids);
	cr_assert_not_null(rec);
	return rec;
}

Test(window, normal_is_two_thirds_for_a_ninth)
{
	json_t *rec = cert_rec(T0, T0 + 90 * DAY);
	const char *expl = "x";
	time_t s, e;

	rec_cert_window(rec, T0 + DAY, &s, &e, &expl);
	cr_expect_eq(s, T0 + 60 * DAY);
	cr_expect_eq(e, T0 + 70 * DAY);
	cr_expect_null(expl);
	json_decref(rec);
}

Test(window, tiny_lifetime_still_has_start_before_end)
{
	json_t *rec = cert_rec(T0, T0 + 5);
	const char *expl;
	time_t s, e;

	rec_cert_window(rec, T0, &s, &e, &expl);
	cr_expect_lt(s, e);
	cr_expect_leq(e, T0 + 5);
	json_decref(rec);
}

Test(window, revoked_is_open_now)
{
	json_t *rec = cert_rec(T0, T0 + 90 * DAY);
	const char *expl;
	time_t s, e, now = T0 + 2 * DAY;

	cr_assert_eq(rec_cert_revoke(rec, T0 + DAY, 1, "account"), ANVIL_OK);
	rec_cert_window(rec, now, &s, &e, &expl);
	cr_expect_leq(e, now);
	cr_expect_lt(s, e);
	cr_expect_null(expl);
	json_decref(rec);
}

Test(window, advised_is_open_now_with_its_explanation)
{
	json_t *rec = cert_rec(T0, T0 + 90 * DAY);
	const char *expl = NULL;
	time_t s, e, now = T0 + 3 * DAY;

	cr_assert_eq(rec_cert_advise(rec, T0 + 2 * DAY,
	    "https://ca.test/why"), ANVIL_OK);
	cr_expect_not_null(rec_cert_advice(rec));
	rec_cert_window(rec, now, &s, &e, &expl);
	cr_expect_leq(e, now);
	cr_expect_lt(s, e);
	cr_expect_str_eq(expl, "https://ca.test/why");
	/* A second advice without a URL replaces the first. */
	cr_assert_eq(rec_cert_advise(rec, T0 + 4 * DAY, NULL), ANVIL_OK);
	rec_cert_window(rec, now, &s, &e, &expl);
	cr_expect_null(expl);
	json_decref(rec);
}

Test(window, advice_refuses_non_utf8)
{
	json_t *rec = cert_rec(T0, T0 + 90 * DAY);

	cr_expect_eq(rec_cert_advise(rec, T0, "https://x/\xff"),
	    ANVIL_ERR_INVALID);
	cr_expect_null(rec_cert_advice(rec), "record unchanged");
	json_decref(rec);
}

Test(window, expired_lies_in_the_past)
{
	json_t *rec = cert_rec(T0, T0 + 90 * DAY);
	const char *expl;
	time_t s, e, now = T0 + 100 * DAY;

	rec_cert_window(rec, now, &s, &e, &expl);
	cr_expect_lt(e, now, "a client renews at once");
	cr_expect_lt(s, e);
	json_decref(rec);
}

Test(window, damaged_lifetime_is_open)
{
	json_t *rec = cert_rec(T0, T0);
	const char *expl;
	time_t s, e;

	json_object_del(rec, "not_after");
	rec_cert_window(rec, T0, &s, &e, &expl);
	cr_expect_leq(e, T0);
	cr_expect_lt(s, e);
	json_decref(rec);
}

/* ------------------------------------------------------------ replaces */

Test(replaces, order_then_finalize)
{
	json_t *rec = cert_rec(T0, T0 + 90 * DAY), *r;

	cr_expect_null(rec_cert_replaced_by(rec));
	cr_assert_eq(rec_cert_replacing(rec, "o2", T0 + DAY), ANVIL_OK);
	r = rec_cert_replaced_by(rec);
	cr_assert_not_null(r);
	cr_expect_str_eq(json_string_value(json_object_get(r, "order")), "o2");
	cr_expect_null(json_object_get(r, "certificate"));
	cr_expect_eq(rec_cert_replaced(rec, "o3", "bb", T0 + 2 * DAY),
	    ANVIL_ERR_ALREADYREPLACED, "another order holds it");
	cr_expect_null(json_object_get(r, "certificate"), "unchanged");
	cr_assert_eq(rec_cert_replaced(rec, "o2", "bb", T0 + 2 * DAY),
	    ANVIL_OK);
	cr_expect_str_eq(json_string_value(json_object_get(r, "certificate")),
	    "bb");
	cr_expect_eq(json_integer_value(json_object_get(r, "replaced")),
	    T0 + 2 * DAY);
	json_decref(rec);
}

Test(replaces, order_member)
{
	json_t *ids = json_array(), *az = json_array();
	json_t *o = rec_order_new("o1", "acct1", 0, T0 + DAY, T0, ids, az,
	    NULL);

	cr_assert_not_null(o);
	cr_expect_null(rec_order_replaces(o));
	cr_assert_eq(rec_order_set_replaces(o, "aWQ.AQI", "0102"), ANVIL_OK);
	cr_expect_str_eq(rec_order_replaces(o), "aWQ.AQI");
	cr_expect_str_eq(rec_order_replaces_serial(o), "0102");
	json_decref(o);
}

Test(replaces, problem_is_409_already_replaced)
{
	json_t *doc = rec_problem(ANVIL_ERR_ALREADYREPLACED, NULL);

	cr_expect_str_eq(rec_problem_type(ANVIL_ERR_ALREADYREPLACED),
	    "alreadyReplaced");
	cr_expect_eq(rec_problem_status(ANVIL_ERR_ALREADYREPLACED), 409);
	cr_assert_not_null(doc);
	cr_expect_str_eq(json_string_value(json_object_get(doc, "type")),
	    REC_PROBLEM_PREFIX "alreadyReplaced");
	cr_expect_eq(json_integer_value(json_object_get(doc, "status")), 409);
	json_decref(doc);
	cr_expect_str_eq(rec_problem_type(ANVIL_ERR_MALFORMED), "malformed",
	    "the other refusals of replaces");
}

/* ------------------------------------------------ replaces in a store */

static char *dir;
static struct store *st;

#define SERIAL "0a0b0c0d0e0f10111213141516171819"

static anvil_err
put_cert(struct store_txn *txn, void *arg)
{
	json_t *ids = json_pack("[{s:s, s:s}, {s:s, s:s}]", "type", "dns",
	    "value", "a.test", "type", "dns", "value", "b.test");
	json_t *rec = rec_cert_new(SERIAL, "acct1", "o0", "PEM", T0,
	    T0 + 90 * DAY, T0, ids, NULL);
	anvil_err rc;

	(void)arg;
	json_decref(ids);
	if (rec == NULL)
		return ANVIL_ERR_NOMEM;
	rc = store_put(txn, STORE_CERT, SERIAL, rec, 0);
	json_decref(rec);
	return rc;
}

static void
setup(void)
{
	char err[512] = "";

	dir = th_tempdir();
	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err)),
	    ANVIL_OK, "store_open: %s", err);
	cr_assert_eq(store_run(st, 0, put_cert, NULL, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
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

struct get {
	enum store_kind kind;
	const char *id;
	json_t *rec;
	size_t n;		/* orders of acct1 */
};

static anvil_err
get_fn(struct store_txn *txn, void *arg)
{
	struct get *g = arg;
	char **ids = NULL;
	anvil_err rc;

	json_decref(g->rec);
	g->rec = NULL;
	if ((rc = store_get(txn, g->kind, g->id, &g->rec)) != ANVIL_OK)
		return rc;
	rc = store_list_by_account(txn, STORE_ORDER, "acct1", NULL, 1000,
	    &ids, &g->n);
	store_ids_free(ids, g->n);
	return rc;
}

/* The certificate record and how many orders acct1 has. */
static json_t *
cert_now(size_t *norders)
{
	struct get g = { STORE_CERT, SERIAL, NULL, 0 };

	cr_assert_eq(store_run(st, 0, get_fn, &g, NULL, 0), ANVIL_OK);
	*norders = g.n;
	return g.rec;
}

static anvil_err
replacing(const char *account, const char *name, json_t **o, char *why,
    size_t whylen)
{
	struct acme_order_ident ids[1];
	char oid[23];

	memset(ids, 0, sizeof(ids));
	snprintf(ids[0].type, sizeof(ids[0].type), "dns");
	snprintf(ids[0].value, sizeof(ids[0].value), "%s", name);
	*o = NULL;
	return acme_order_create_replacing(st, account, T0 + DAY, ids, 1,
	    NULL, "aWQ.CgsMDQ4PEBESExQVFhcYGQ", SERIAL, oid, o, why, whylen);
}

static anvil_err
put_order_fn(struct store_txn *txn, void *arg)
{
	json_t *o = arg;

	return store_put(txn, STORE_ORDER, json_string_value(json_object_get(o,
	    "id")), o, 0);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

struct rrow {
	int line;
	const char *account;
	const char *name;
	const char *serial;
	const char *why;
	const char *desc;
};

/* Each refusal leaves no order and the certificate as it was. */
Test(store, refusals_leave_nothing)
{
	static const struct rrow rows[] = {
		{ __LINE__, "acct2", "a.test", SERIAL, "no certificate",
		  "another account's certificate" },
		{ __LINE__, "acct1", "c.test", SERIAL, "no identifier",
		  "no identifier in common" },
		{ __LINE__, "acct1", "a.test", "ffff", "no certificate",
		  "a serial never issued" },
	};
	struct acme_order_ident ids[1];
	char oid[23], why[200];
	json_t *o, *c;
	size_t i, n;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(ids, 0, sizeof(ids));
		snprintf(ids[0].type, sizeof(ids[0].type), "dns");
		snprintf(ids[0].value, sizeof(ids[0].value), "%s",
		    rows[i].name);
		o = NULL;
		why[0] = '\0';
		cr_expect_eq(acme_order_create_replacing(st, rows[i].account,
		    T0 + DAY, ids, 1, NULL, "x.y", rows[i].serial, oid, &o, why,
		    sizeof(why)), ANVIL_ERR_MALFORMED, "line %d [%s]",
		    rows[i].line, rows[i].desc);
		cr_expect_null(o);
		cr_expect_not_null(strstr(why, rows[i].why), "line %d: %s",
		    rows[i].line, why);
		c = cert_now(&n);
		cr_expect_null(rec_cert_replaced_by(c), "line %d", rows[i].line);
		cr_expect_eq(n, 0, "line %d: no order stored", rows[i].line);
		json_decref(c);
	}
}

Test(store, replaced_once_while_the_order_lives)
{
	char why[200] = "";
	json_t *o1 = NULL, *o2 = NULL, *c;
	size_t n;

	cr_assert_eq(replacing("acct1", "b.test", &o1, why, sizeof(why)),
	    ANVIL_OK, "%s", why);
	cr_expect_str_eq(rec_order_replaces(o1), "aWQ.CgsMDQ4PEBESExQVFhcYGQ");
	cr_expect_str_eq(rec_order_replaces_serial(o1), SERIAL);
	c = cert_now(&n);
	cr_expect_eq(n, 1);
	cr_expect_str_eq(json_string_value(json_object_get(
	    rec_cert_replaced_by(c), "order")), json_string_value(
	    json_object_get(o1, "id")), "the certificate is held by the order");
	json_decref(c);

	cr_expect_eq(replacing("acct1", "a.test", &o2, why, sizeof(why)),
	    ANVIL_ERR_ALREADYREPLACED, "a pending order holds it");
	cr_expect_null(o2);
	cr_expect_not_null(strstr(why, "already replaced"), "%s", why);
	c = cert_now(&n);
	cr_expect_eq(n, 1, "no second order");
	json_decref(c);
	json_decref(o1);
}

/* An order that failed lets go: a new one may replace the certificate. */
Test(store, an_invalid_order_lets_go)
{
	char why[200] = "";
	json_t *o1 = NULL, *o2 = NULL, *c;
	size_t n;

	cr_assert_eq(replacing("acct1", "a.test", &o1, why, sizeof(why)),
	    ANVIL_OK, "%s", why);
	cr_assert_eq(rec_status_set(o1, REC_ORDER, REC_INVALID), ANVIL_OK);
	cr_assert_eq(store_run(st, 0, put_order_fn, o1, NULL, 0), ANVIL_OK);
	cr_expect_eq(replacing("acct1", "a.test", &o2, why, sizeof(why)),
	    ANVIL_OK, "%s", why);
	c = cert_now(&n);
	cr_expect_str_eq(json_string_value(json_object_get(
	    rec_cert_replaced_by(c), "order")), json_string_value(
	    json_object_get(o2, "id")), "the new order holds it");
	json_decref(c);
	json_decref(o1);
	json_decref(o2);
}
