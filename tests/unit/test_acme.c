/*
 * test_acme.c - the ACME layer's decisions that need no signed request:
 * identifier normalisation (src/acme/ident.c), name policy
 * (src/acme/policy.c), and the order's life against its authorizations
 * (src/acme/new_order.c, src/acme/finalize.c) on a fresh store per test,
 * with the request's clock ("now") moved by hand.
 *
 * The rows are identifiers that name internal addresses in disguise,
 * wildcards over denied names, and orders outliving their authorizations.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acme/acme_int.h"
#include "core/error.h"
#include "store/store.h"
#include "helpers.h"

/* ------------------------------------------------------------ identifiers */

struct ident_row {
	int line;
	const char *type;
	const char *value;
	anvil_err want;
	const char *out;	/* normalised value, or a piece of why */
	const char *desc;
};

static const struct ident_row ident_rows[] = {
	/* Finding 2: IPv4 in IPv6 clothing, refused naming the IPv4 form. */
	{ __LINE__, "ip", "::ffff:127.0.0.1", ANVIL_ERR_REJECTEDID,
	    "order the IPv4 address 127.0.0.1", "IPv4-mapped, dotted" },
	{ __LINE__, "ip", "::FFFF:7f00:1", ANVIL_ERR_REJECTEDID, "127.0.0.1",
	    "IPv4-mapped, hex, upper case" },
	{ __LINE__, "ip", "0:0:0:0:0:ffff:a00:1", ANVIL_ERR_REJECTEDID,
	    "10.0.0.1", "IPv4-mapped, written out" },
	{ __LINE__, "ip", "::127.0.0.1", ANVIL_ERR_REJECTEDID,
	    "IPv4-compatible", "IPv4-compatible (deprecated)" },
	{ __LINE__, "ip", "::2", ANVIL_ERR_REJECTEDID, "0.0.0.2",
	    "IPv4-compatible, smallest past ::1" },
	{ __LINE__, "ip", "64:ff9b::127.0.0.1", ANVIL_ERR_REJECTEDID,
	    "NAT64", "NAT64 well-known prefix" },
	{ __LINE__, "ip", "64:ff9b::c000:201", ANVIL_ERR_REJECTEDID,
	    "192.0.2.1", "NAT64 well-known prefix, hex" },
	{ __LINE__, "ip", "::1", ANVIL_OK, "::1",
	    "IPv6 loopback is not IPv4-compatible (policy's call)" },
	{ __LINE__, "ip", "::", ANVIL_OK, "::",
	    "unspecified is not IPv4-compatible" },
	{ __LINE__, "ip", "64:ff9b:1::a00:1", ANVIL_OK, "64:ff9b:1::a00:1",
	    "local-use NAT64 prefix: not recognisable, left to policy" },
	{ __LINE__, "ip", "::fffe:7f00:1", ANVIL_OK, "::fffe:7f00:1",
	    "one bit off the mapped prefix" },
	{ __LINE__, "ip", "2001:db8::ffff:7f00:1", ANVIL_OK,
	    "2001:db8::ffff:7f00:1", "mapped-looking tail elsewhere" },
	{ __LINE__, "ip", "127.0.0.1", ANVIL_OK, "127.0.0.1",
	    "plain IPv4 (policy decides)" },
	{ __LINE__, "ip", "2001:DB8::1", ANVIL_OK, "2001:db8::1",
	    "plain IPv6, canonical text" },
	/* Finding 5: names that are numbers to resolvers and libcurl. */
	{ __LINE__, "dns", "0x7f000001", ANVIL_ERR_REJECTEDID,
	    "IPv4 address 127.0.0.1", "one hex number" },
	{ __LINE__, "dns", "0x7f.1", ANVIL_ERR_REJECTEDID, "127.0.0.1",
	    "hex, two parts" },
	{ __LINE__, "dns", "0x7f.0.0.1", ANVIL_ERR_REJECTEDID, "127.0.0.1",
	    "hex first part" },
	{ __LINE__, "dns", "2130706433", ANVIL_ERR_REJECTEDID, "127.0.0.1",
	    "one decimal number" },
	{ __LINE__, "dns", "017700000001", ANVIL_ERR_REJECTEDID, "127.0.0.1",
	    "one octal number" },
	{ __LINE__, "dns", "127.1", ANVIL_ERR_REJECTEDID, "127.0.0.1",
	    "short dotted form" },
	{ __LINE__, "dns", "1.2.3.4", ANVIL_ERR_REJECTEDID, "1.2.3.4",
	    "dotted quad" },
	{ __LINE__, "dns", "0X7F000001", ANVIL_ERR_REJECTEDID, "127.0.0.1",
	    "upper-case hex" },
	{ __LINE__, "dns", "*.0x7f000001", ANVIL_ERR_REJECTEDID, "127.0.0.1",
	    "wildcard over a number" },
	{ __LINE__, "dns", "*.1.2.3.4", ANVIL_ERR_REJECTEDID, "1.2.3.4",
	    "wildcard over a dotted quad" },
	{ __LINE__, "dns", "example.123", ANVIL_ERR_REJECTEDID,
	    "last label", "all-numeric last label (RFC 3696 §2)" },
	{ __LINE__, "dns", "1.2.3.4.5", ANVIL_ERR_REJECTEDID, "last label",
	    "five numbers: no address, still numeric" },
	{ __LINE__, "dns", "example.0x1f", ANVIL_ERR_REJECTEDID, "last label",
	    "hex last label (URL parsers: ends in a number)" },
	{ __LINE__, "dns", "0x1f", ANVIL_ERR_REJECTEDID, "0.0.0.31",
	    "a lone hex label" },
	{ __LINE__, "dns", "example.0x", ANVIL_ERR_REJECTEDID, "last label",
	    "\"0x\" alone is zero to URL parsers" },
	{ __LINE__, "dns", "example.org", ANVIL_OK, "example.org",
	    "ordinary name" },
	{ __LINE__, "dns", "123.example.org", ANVIL_OK, "123.example.org",
	    "numeric first label is fine" },
	{ __LINE__, "dns", "0x7f.example.org", ANVIL_OK, "0x7f.example.org",
	    "hex-looking first label is fine" },
	{ __LINE__, "dns", "example.x1f", ANVIL_OK, "example.x1f",
	    "last label with letters" },
	{ __LINE__, "dns", "example.0xg", ANVIL_OK, "example.0xg",
	    "\"0x\" then a non-hex letter" },
	{ __LINE__, "dns", "example.1a", ANVIL_OK, "example.1a",
	    "last label starting with a digit but not a number" },
	{ __LINE__, "dns", "*.Example.ORG", ANVIL_OK, "*.example.org",
	    "wildcard, lower-cased" },
};

Test(acme, identifiers)
{
	size_t i;

	for (i = 0; i < sizeof(ident_rows) / sizeof(ident_rows[0]); i++) {
		const struct ident_row *r = &ident_rows[i];
		json_t *id = json_pack("{s:s, s:s}", "type", r->type, "value",
		    r->value);
		char type[8] = "", value[256] = "", why[300] = "";
		anvil_err e = acme_ident_normalise(id, type, value, why,
		    sizeof(why));

		json_decref(id);
		cr_expect_eq(e, r->want, "line %d (%s): %s %s: got %d (%s)",
		    r->line, r->desc, r->type, r->value, e, why);
		if (e != r->want)
			continue;
		if (e == ANVIL_OK)
			cr_expect_str_eq(value, r->out, "line %d (%s)", r->line,
			    r->desc);
		else
			cr_expect(strstr(why, r->out) != NULL,
			    "line %d (%s): why \"%s\" lacks \"%s\"", r->line,
			    r->desc, why, r->out);
	}
}

/* ------------------------------------------------------------ policy */

struct policy_row {
	int line;
	const char *global;	/* JSON policy record, or NULL */
	const char *key;	/* the EAB key's, or NULL */
	const char *type;
	const char *value;	/* as ordered */
	anvil_err want;
	const char *desc;
};

#define DENY(p) "{\"allow\": [], \"deny\": [" p "]}"
#define ALLOW(p) "{\"allow\": [" p "], \"deny\": []}"

static const struct policy_row policy_rows[] = {
	/* Finding 3: a deny one label below the wildcard's base. */
	{ __LINE__, DENY("\"secret.example.test\""), NULL, "dns",
	    "*.example.test", ANVIL_ERR_REJECTEDID,
	    "deny x.B refuses *.B (x.B is one of its names)" },
	{ __LINE__, NULL, DENY("\"secret.example.test\""), "dns",
	    "*.example.test", ANVIL_ERR_REJECTEDID,
	    "the same in the EAB key's policy" },
	{ __LINE__, DENY("\"secret.example.test\""), NULL, "dns",
	    "secret.example.test", ANVIL_ERR_REJECTEDID, "the name itself" },
	{ __LINE__, DENY("\"secret.example.test\""), NULL, "dns",
	    "*.secret.example.test", ANVIL_ERR_REJECTEDID,
	    "wildcard below the denied name" },
	{ __LINE__, DENY("\"secret.example.test\""), NULL, "dns",
	    "example.test", ANVIL_OK, "the base alone is not denied" },
	{ __LINE__, DENY("\"secret.example.test\""), NULL, "dns",
	    "other.example.test", ANVIL_OK, "a sibling" },
	{ __LINE__, DENY("\"secret.example.test\""), NULL, "dns",
	    "*.other.example.test", ANVIL_OK, "wildcard under a sibling" },
	{ __LINE__, DENY("\"a.b.example.test\""), NULL, "dns",
	    "*.example.test", ANVIL_OK,
	    "deny two labels below: *.B names none of it" },
	{ __LINE__, DENY("\"a.b.example.test\""), NULL, "dns",
	    "*.b.example.test", ANVIL_ERR_REJECTEDID,
	    "deny one label below that wildcard's base" },
	{ __LINE__, DENY("\"example.test\""), NULL, "dns", "*.example.test",
	    ANVIL_ERR_REJECTEDID, "deny the base: all names under it" },
	{ __LINE__, DENY("\"test\""), NULL, "dns", "*.example.test",
	    ANVIL_ERR_REJECTEDID, "deny above the base" },
	{ __LINE__, DENY("\"x.notexample.test\""), NULL, "dns",
	    "*.example.test", ANVIL_OK, "suffix without a label boundary" },
	{ __LINE__, DENY("\"xexample.test\""), NULL, "dns", "*.example.test",
	    ANVIL_OK, "pattern ending in the base's text, not below it" },
	{ __LINE__, DENY("\"secret.example.test\""), NULL, "dns",
	    "*.notexample.test", ANVIL_OK, "unrelated wildcard" },
	{ __LINE__, DENY("\"SECRET.example.test\""), NULL, "dns",
	    "*.example.test", ANVIL_ERR_REJECTEDID, "case does not matter" },
	{ __LINE__, DENY("\"10.0.0.0/8\""), NULL, "dns", "*.example.test",
	    ANVIL_OK, "an ip pattern says nothing of names" },
	/* Allow lists: a wildcard needs all its names allowed. */
	{ __LINE__, ALLOW("\"example.test\""), NULL, "dns", "*.example.test",
	    ANVIL_OK, "allow the base: all names under it" },
	{ __LINE__, ALLOW("\"test\""), NULL, "dns", "*.example.test",
	    ANVIL_OK, "allow above the base" },
	{ __LINE__, ALLOW("\"x.example.test\""), NULL, "dns",
	    "*.example.test", ANVIL_ERR_REJECTEDID,
	    "allow one name below: not all of *.B" },
	{ __LINE__, ALLOW("\"x.example.test\""), NULL, "dns",
	    "x.example.test", ANVIL_OK, "that name itself" },
	{ __LINE__, ALLOW("\"example.test\""), NULL, "dns", "*.test",
	    ANVIL_ERR_REJECTEDID, "wildcard above the allowed name" },
	{ __LINE__, ALLOW("\"example.test\""), DENY("\"x.example.test\""),
	    "dns", "*.example.test", ANVIL_ERR_REJECTEDID,
	    "global allow, key deny below: deny wins" },
	/* IP patterns (finding 2 is refused before policy, in ident.c). */
	{ __LINE__, DENY("\"127.0.0.0/8\""), NULL, "ip", "127.0.0.1",
	    ANVIL_ERR_REJECTEDID, "denied network" },
	{ __LINE__, DENY("\"127.0.0.0/8\""), NULL, "ip", "2001:db8::1",
	    ANVIL_OK, "other family" },
};

Test(acme, policy)
{
	size_t i;

	for (i = 0; i < sizeof(policy_rows) / sizeof(policy_rows[0]); i++) {
		const struct policy_row *r = &policy_rows[i];
		json_t *g = r->global ? json_loads(r->global, 0, NULL) : NULL;
		json_t *k = r->key ? json_loads(r->key, 0, NULL) : NULL;
		char why[300] = "";
		anvil_err e = acme_policy_check(g, k, r->type, r->value, why,
		    sizeof(why));

		cr_expect_eq(e, r->want, "line %d (%s): %s: got %d (%s)",
		    r->line, r->desc, r->value, e, why);
		if (e != ANVIL_OK)
			cr_expect(why[0] != '\0', "line %d: no why", r->line);
		json_decref(g);
		json_decref(k);
	}
}

/* The profile a newOrder gets: the asked one if the server offers it and
 * the EAB key's "profiles" list (when not empty) names it. */
Test(acme, policy_profile)
{
	static const struct {
		int line;
		const char *key;	/* the EAB key's policy, or NULL */
		const char *asked;	/* NULL: newOrder names none */
		const char *want;	/* NULL: invalidProfile */
		const char *desc;
	} rows[] = {
		{ __LINE__, NULL, NULL, "classic", "no key, none asked: the "
		  "default" },
		{ __LINE__, NULL, "shortlived", "shortlived", "asked, offered" },
		{ __LINE__, NULL, "nope", NULL, "not offered" },
		{ __LINE__, NULL, "", NULL, "empty name" },
		{ __LINE__, NULL, "SHORTLIVED", NULL, "names are exact" },
		{ __LINE__, "{\"allow\": [], \"deny\": []}", "tlsserver",
		  "tlsserver", "key policy without profiles: all" },
		{ __LINE__, "{\"profiles\": []}", "tlsserver", "tlsserver",
		  "empty list: all" },
		{ __LINE__, "{\"profiles\": [\"shortlived\"]}", "shortlived",
		  "shortlived", "listed" },
		{ __LINE__, "{\"profiles\": [\"shortlived\"]}", "classic", NULL,
		  "not listed" },
		{ __LINE__, "{\"profiles\": [\"shortlived\"]}", "nope", NULL,
		  "listed nowhere" },
		{ __LINE__, "{\"profiles\": [\"gone\", \"tlsserver\"]}", NULL,
		  "tlsserver", "none asked, default not listed: the first "
		  "listed that exists" },
		{ __LINE__, "{\"profiles\": [\"tlsserver\", \"classic\"]}",
		  NULL, "classic", "none asked, default listed: the default" },
		{ __LINE__, "{\"profiles\": [\"gone\"]}", NULL, NULL,
		  "none asked, nothing listed exists" },
		{ __LINE__, "{\"profiles\": [\"gone\"]}", "gone", NULL,
		  "listed but not configured" },
	};
	const char *text = "[server]\nbase_url = https://a.test\n"
	    "data_dir = /x\n";
	struct anvil_config *cfg = NULL;
	char err[256] = "";
	size_t i;

	cr_assert_eq(config_parse("t.conf", text, strlen(text), &cfg, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *k = rows[i].key ? json_loads(rows[i].key, 0, NULL) :
		    NULL;
		anvil_err e = ANVIL_ERR_IO;
		char why[300] = "";
		const struct config_profile *p = acme_policy_profile(cfg, k,
		    rows[i].asked, &e, why, sizeof(why));

		if (rows[i].want == NULL) {
			cr_expect_null(p, "line %d (%s)", rows[i].line,
			    rows[i].desc);
			cr_expect_eq(e, ANVIL_ERR_INVALIDPROFILE, "line %d",
			    rows[i].line);
			cr_expect_neq(why[0], '\0', "line %d: no why",
			    rows[i].line);
		} else {
			cr_expect(p != NULL && strcmp(p->name,
			    rows[i].want) == 0, "line %d (%s): got %s (%s)",
			    rows[i].line, rows[i].desc, p ? p->name : "NULL",
			    why);
			cr_expect_eq(e, ANVIL_OK, "line %d", rows[i].line);
		}
		json_decref(k);
	}
	config_free(cfg);
}

/* A profile's identifier types and count. */
Test(acme, policy_profile_admits)
{
	const char *text = "[server]\nbase_url = https://a.test\n"
	    "data_dir = /x\n[profile dnsonly]\nidentifier_types = dns\n"
	    "max_identifiers = 2\n[profile iponly]\nidentifier_types = ip\n"
	    "[profile any]\n";
	const struct acme_order_ident dns2[] = { { "dns", "a.test" },
		{ "dns", "*.b.test" } };
	const struct acme_order_ident dns3[] = { { "dns", "a.test" },
		{ "dns", "b.test" }, { "dns", "c.test" } };
	const struct acme_order_ident mixed[] = { { "dns", "a.test" },
		{ "ip", "192.0.2.1" } };
	struct anvil_config *cfg = NULL;
	const struct config_profile *d, *ip, *any;
	char err[256] = "", why[300];

	cr_assert_eq(config_parse("t.conf", text, strlen(text), &cfg, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	d = config_profile_find(cfg, "dnsonly");
	ip = config_profile_find(cfg, "iponly");
	any = config_profile_find(cfg, "any");
	cr_assert(d != NULL && ip != NULL && any != NULL);
	cr_expect_eq(acme_policy_profile_admits(d, dns2, 2, why, sizeof(why)),
	    ANVIL_OK, "two names, two allowed: %s", why);
	why[0] = '\0';
	cr_expect_eq(acme_policy_profile_admits(d, dns3, 3, why, sizeof(why)),
	    ANVIL_ERR_REJECTEDID, "three names, two allowed");
	cr_expect(strstr(why, "at most 2") != NULL, "%s", why);
	cr_expect_eq(acme_policy_profile_admits(d, mixed, 2, why, sizeof(why)),
	    ANVIL_ERR_REJECTEDID, "an address in a dns-only profile");
	cr_expect(strstr(why, "192.0.2.1") != NULL, "%s", why);
	cr_expect_eq(acme_policy_profile_admits(ip, mixed, 2, why, sizeof(why)),
	    ANVIL_ERR_REJECTEDID, "a name in an ip-only profile");
	cr_expect(strstr(why, "a.test") != NULL, "%s", why);
	cr_expect_eq(acme_policy_profile_admits(ip, mixed + 1, 1, why,
	    sizeof(why)), ANVIL_OK, "an address alone");
	cr_expect_eq(acme_policy_profile_admits(any, dns3, 3, why,
	    sizeof(why)), ANVIL_OK, "defaults: both types, 100");
	cr_expect_eq(acme_policy_profile_admits(any, mixed, 2, why,
	    sizeof(why)), ANVIL_OK, "defaults: both types");
	config_free(cfg);
}

/* Only lower-case subtree names and IP networks are patterns: a deny
 * written as "*.B" or ".B" would be a form the wildcard reasoning in
 * policy.c does not know, so anvil-admin refuses it. */
Test(acme, policy_pattern_forms)
{
	cr_expect(acme_policy_pattern_ok("example.test"));
	cr_expect(acme_policy_pattern_ok("10.0.0.0/8"));
	cr_expect(acme_policy_pattern_ok("2001:db8::/32"));
	cr_expect(!acme_policy_pattern_ok("*.example.test"));
	cr_expect(!acme_policy_pattern_ok(".example.test"));
	cr_expect(!acme_policy_pattern_ok("example.test."));
}

/* ------------------------------------------------------------ order life */

static char *dir;
static struct store *st;

static void
setup(void)
{
	char err[512] = "";

	dir = th_tempdir();
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

#define T0 ((time_t)1700000000)
#define DAY 86400

struct txn_arg {
	const char *id;
	json_t *rec;		/* put (borrowed) */
	time_t now;
	char why[512];
};

static anvil_err
put_authz(struct store_txn *txn, void *arg)
{
	struct txn_arg *a = arg;

	return store_put(txn, STORE_AUTHZ, a->id, a->rec, 0);
}

static anvil_err
check_authzs(struct store_txn *txn, void *arg)
{
	struct txn_arg *a = arg;

	return acme_order_authzs_valid(txn, a->rec, a->now, a->why,
	    sizeof(a->why));
}

/* Makes authorization id valid until expires, as a validation long ago
 * would have left it. */
static void
authz_valid_until(const char *id, time_t expires)
{
	struct txn_arg a = { .id = id };

	a.rec = json_pack("{s:s, s:s, s:{s:s, s:s}, s:b, s:s, s:I, s:[], "
	    "s:[]}", "id", id, "account", "acct", "identifier", "type", "dns",
	    "value", "example.org", "wildcard", 0, "status", "valid",
	    "expires", (json_int_t)expires, "challenges", "orders");
	cr_assert_not_null(a.rec);
	cr_assert_eq(store_run(st, 0, put_authz, &a, NULL, 0), ANVIL_OK);
	json_decref(a.rec);
}

static anvil_err
authzs_at(json_t *order, time_t now, char *why, size_t whylen)
{
	struct txn_arg a = { .rec = order, .now = now };
	anvil_err rc = store_run(st, 0, check_authzs, &a, NULL, 0);

	snprintf(why, whylen, "%s", a.why);
	return rc;
}

TestSuite(order, .init = setup, .fini = teardown, .timeout = 60);

/* Finding 6: an authorization reused with two days left; the order used
 * to live seven. */
Test(order, expires_with_its_earliest_authorization)
{
	struct acme_order_ident ids[2] = { { "dns", "example.org" },
		{ "dns", "www.example.org" } };
	char oid[23], why[512];
	json_t *o1 = NULL, *o2 = NULL;
	const char *aid;

	cr_assert_eq(acme_order_create(st, "acct", T0, ids, 1, NULL, oid, &o1),
	    ANVIL_OK);
	cr_expect_eq(json_integer_value(json_object_get(o1, "expires")),
	    (json_int_t)(T0 + ACME_ORDER_LIFETIME),
	    "a new order over new authorizations lives its full lifetime");
	aid = json_string_value(json_array_get(json_object_get(o1,
	    "authorizations"), 0));
	cr_assert_not_null(aid);
	authz_valid_until(aid, T0 + 2 * DAY);

	cr_assert_eq(acme_order_create(st, "acct", T0, ids, 1, NULL, oid, &o2),
	    ANVIL_OK);
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(o2,
	    "authorizations"), 0)), aid, "the valid authorization is reused");
	cr_expect_str_eq(rec_status_name(rec_order_status(o2, T0)), "ready");
	cr_expect_eq(json_integer_value(json_object_get(o2, "expires")),
	    (json_int_t)(T0 + 2 * DAY),
	    "the order ends with the authorization it reuses");
	cr_expect_eq(authzs_at(o2, T0 + DAY, why, sizeof(why)), ANVIL_OK,
	    "%s", why);
	cr_expect_str_eq(rec_status_name(rec_order_status(o2, T0 + 3 * DAY)),
	    "invalid",
	    "past the authorization the order is no longer ready");
	json_decref(o2);

	/* Two identifiers: one reused (2 days), one new (7 days). */
	cr_assert_eq(acme_order_create(st, "acct", T0, ids, 2, NULL, oid, &o2),
	    ANVIL_OK);
	cr_expect_str_eq(rec_status_name(rec_order_status(o2, T0)), "pending");
	cr_expect_eq(json_integer_value(json_object_get(o2, "expires")),
	    (json_int_t)(T0 + 2 * DAY), "the earliest authorization wins");
	json_decref(o2);
	json_decref(o1);
}

/* Finding 6: finalize reads the authorizations again. An order stored
 * before the fix (seven days) over an authorization that expired. */
Test(order, finalize_refuses_an_expired_authorization)
{
	struct acme_order_ident ids[1] = { { "dns", "example.org" } };
	char oid[23], why[512] = "";
	json_t *o = NULL;
	const char *aid;

	cr_assert_eq(acme_order_create(st, "acct", T0, ids, 1, NULL, oid, &o),
	    ANVIL_OK);
	aid = json_string_value(json_array_get(json_object_get(o,
	    "authorizations"), 0));
	authz_valid_until(aid, T0 + 2 * DAY);
	json_object_set_new(o, "status", json_string("ready"));
	json_object_set_new(o, "expires", json_integer(T0 + 7 * DAY));

	cr_expect_eq(authzs_at(o, T0 + DAY, why, sizeof(why)), ANVIL_OK,
	    "%s", why);
	cr_expect_str_eq(rec_status_name(rec_order_status(o, T0 + 3 * DAY)),
	    "ready",
	    "the order record alone still says ready");
	cr_expect_eq(authzs_at(o, T0 + 3 * DAY, why, sizeof(why)),
	    ANVIL_ERR_ORDERNOTREADY);
	cr_expect(strstr(why, "example.org") && strstr(why, "expired"), "%s",
	    why);
	cr_expect_eq(authzs_at(o, T0 + 2 * DAY, why, sizeof(why)), ANVIL_OK,
	    "valid through its expiry second: %s", why);

	/* A listed authorization that is gone, or never was. */
	json_array_append_new(json_object_get(o, "authorizations"),
	    json_string("no-such-authz"));
	cr_expect_eq(authzs_at(o, T0 + DAY, why, sizeof(why)),
	    ANVIL_ERR_ORDERNOTREADY);
	cr_expect(strstr(why, "missing") != NULL, "%s", why);
	json_decref(o);
}
