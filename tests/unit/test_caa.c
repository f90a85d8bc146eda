/*
 * test_caa.c - the CAA decision (RFC 8659, RFC 8657) on record sets given
 * as rows: what permits, what forbids and what the detail names, then
 * hostile rdata that must never crash or permit. Also the TXT formats of
 * dns-account-01 (the account label, against the draft's example) and
 * dns-persist-01 (rows of records, the draft's examples among them).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "validate/val_int.h"
#include "validate/validate.h"

#define ACCT "https://acme.anvil.test/acme/acct/Abc123"
#define MAXRR 4

static const char *const ids[] = { "anvil.test", "ca.anvil.test" };

/* One record: flags, tag, value (wire form built by rr()). */
struct rrdef {
	unsigned flags;
	const char *tag;
	const char *value;
};

struct row {
	int line;
	const char *what;
	struct rrdef rr[MAXRR];
	int wildcard;
	const char *method;
	anvil_err want;
	const char *detail;	/* substring of the detail, or NULL */
};

static const struct row rows[] = {
	{ __LINE__, "no issue property: permitted",
	    { { 0, "iodef", "mailto:sec@example.test" } }, 0, "http-01",
	    ANVIL_OK, NULL },
	{ __LINE__, "issue names us", { { 0, "issue", "anvil.test" } }, 0,
	    "http-01", ANVIL_OK, NULL },
	{ __LINE__, "second identity, upper case",
	    { { 0, "issue", "CA.Anvil.Test" } }, 0, "dns-01", ANVIL_OK, NULL },
	{ __LINE__, "one of several issue records names us",
	    { { 0, "issue", "other.ca" }, { 0, "issue", "anvil.test" } }, 0,
	    "http-01", ANVIL_OK, NULL },
	{ __LINE__, "issue names another CA",
	    { { 0, "issue", "other.ca" } }, 0, "http-01", ANVIL_ERR_CAA,
	    "0 issue \"other.ca\" at example.test names another CA" },
	{ __LINE__, "issue \";\" forbids every CA", { { 0, "issue", ";" } },
	    0, "http-01", ANVIL_ERR_CAA, "authorizes no CA" },
	{ __LINE__, "accounturi matches",
	    { { 0, "issue", "anvil.test; accounturi=" ACCT } }, 0, "http-01",
	    ANVIL_OK, NULL },
	{ __LINE__, "accounturi of another account",
	    { { 0, "issue", "anvil.test; accounturi=" ACCT "x" } }, 0,
	    "http-01", ANVIL_ERR_CAA, "another account (accounturi)" },
	{ __LINE__, "two accounturi parameters",
	    { { 0, "issue", "anvil.test; accounturi=" ACCT "; accounturi="
	    ACCT } }, 0, "http-01", ANVIL_ERR_CAA, "more than one accounturi" },
	{ __LINE__, "validationmethods includes ours",
	    { { 0, "issue", "anvil.test; validationmethods=dns-01,http-01" } },
	    0, "http-01", ANVIL_OK, NULL },
	{ __LINE__, "validationmethods excludes ours",
	    { { 0, "issue", "anvil.test; validationmethods=dns-01" } }, 0,
	    "http-01", ANVIL_ERR_CAA, "(validationmethods)" },
	{ __LINE__, "both parameters match, blanks around",
	    { { 0, "issue", "  anvil.test ;  accounturi = " ACCT " ; "
	    "validationmethods=tls-alpn-01  " } }, 0, "tls-alpn-01", ANVIL_OK,
	    NULL },
	{ __LINE__, "unknown parameter ignored",
	    { { 0, "issue", "anvil.test; foo=bar" } }, 0, "http-01",
	    ANVIL_OK, NULL },
	{ __LINE__, "blame names us over the other CA",
	    { { 0, "issue", "other.ca" }, { 0, "issue",
	    "anvil.test; validationmethods=dns-01" } }, 0, "http-01",
	    ANVIL_ERR_CAA, "validationmethods=dns-01\" at example.test does "
	    "not allow" },
	{ __LINE__, "wildcard: issuewild forbids",
	    { { 0, "issue", "anvil.test" }, { 0, "issuewild", ";" } }, 1,
	    "dns-01", ANVIL_ERR_CAA, "of a wildcard" },
	{ __LINE__, "wildcard: issuewild permits though issue forbids",
	    { { 0, "issue", "other.ca" }, { 0, "issuewild", "anvil.test" } },
	    1, "dns-01", ANVIL_OK, NULL },
	{ __LINE__, "wildcard without issuewild: issue decides",
	    { { 0, "issue", "other.ca" } }, 1, "dns-01", ANVIL_ERR_CAA,
	    "names another CA" },
	{ __LINE__, "not a wildcard: issuewild ignored",
	    { { 0, "issuewild", ";" } }, 0, "http-01", ANVIL_OK, NULL },
	{ __LINE__, "unknown critical tag refuses",
	    { { 0, "issue", "anvil.test" }, { 128, "tbs", "x" } }, 0,
	    "http-01", ANVIL_ERR_CAA, "unknown critical tag" },
	{ __LINE__, "unknown non-critical tag ignored",
	    { { 0, "issue", "anvil.test" }, { 0, "tbs", "x" } }, 0,
	    "http-01", ANVIL_OK, NULL },
	{ __LINE__, "critical iodef is known",
	    { { 128, "iodef", "mailto:x@y" }, { 0, "issue", "anvil.test" } },
	    0, "http-01", ANVIL_OK, NULL },
	{ __LINE__, "tag case-insensitive",
	    { { 0, "ISSUE", "other.ca" } }, 0, "http-01", ANVIL_ERR_CAA,
	    "names another CA" },
	{ __LINE__, "malformed issue value authorizes no CA",
	    { { 0, "issue", "anvil.test accounturi" } }, 0, "http-01",
	    ANVIL_ERR_CAA, "is malformed" },
	{ __LINE__, "parameter without '='",
	    { { 0, "issue", "anvil.test; accounturi" } }, 0, "http-01",
	    ANVIL_ERR_CAA, "is malformed" },
	{ __LINE__, "a suffix of our identity is not ours",
	    { { 0, "issue", "test" } }, 0, "http-01", ANVIL_ERR_CAA,
	    "names another CA" },
	{ __LINE__, "our identity with a dot more is not ours",
	    { { 0, "issue", "anvil.test." } }, 0, "http-01", ANVIL_ERR_CAA,
	    "is malformed" },
	{ __LINE__, "non-printable value excerpted",
	    { { 0, "issue", "\x01\x02" } }, 0, "http-01", ANVIL_ERR_CAA,
	    "\"??\"" },
};

static size_t
rr(const struct rrdef *d, unsigned char *out, size_t cap)
{
	size_t tl = strlen(d->tag), vl = strlen(d->value);

	cr_assert(2 + tl + vl <= cap);
	out[0] = (unsigned char)d->flags;
	out[1] = (unsigned char)tl;
	memcpy(out + 2, d->tag, tl);
	memcpy(out + 2 + tl, d->value, vl);
	return 2 + tl + vl;
}

Test(caa, decision_rows)
{
	unsigned char buf[MAXRR][600];
	const unsigned char *rd[MAXRR];
	size_t len[MAXRR], i, n;
	char detail[512];

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct val_caa_req q = { ids, 2, ACCT, w->method, w->wildcard };
		anvil_err rc;

		for (n = 0; n < MAXRR && w->rr[n].tag != NULL; n++) {
			len[n] = rr(&w->rr[n], buf[n], sizeof(buf[n]));
			rd[n] = buf[n];
		}
		detail[0] = '\0';
		rc = val_caa_decide(&q, "example.test", rd, len, n, detail,
		    sizeof(detail));
		cr_expect_eq(rc, w->want, "line %d (%s): rc %d, want %d: %s",
		    w->line, w->what, rc, w->want, detail);
		if (w->detail != NULL)
			cr_expect(strstr(detail, w->detail) != NULL,
			    "line %d (%s): detail \"%s\" lacks \"%s\"",
			    w->line, w->what, detail, w->detail);
	}
}

/* Hostile rdata: each must refuse, never read past its length. */
Test(caa, hostile_rdata_refuses)
{
	static const struct {
		const char *what;
		const char *bytes;
		size_t len;
	} bad[] = {
		{ "empty", "", 0 },
		{ "one byte", "\x00", 1 },
		{ "tag length 0", "\x00\x00issue", 7 },
		{ "tag longer than the record", "\x00\x09issue", 7 },
		{ "tag length 255", "\x00\xffissue", 7 },
		{ "tag with a NUL", "\x00\x05is\0ue", 7 },
		{ "tag with a dot", "\x00\x05is.ue", 7 },
		{ "tag of 16 characters", "\x00\x10issueissueissuex", 18 },
	};
	const char *const one[] = { "anvil.test" };
	struct val_caa_req q = { one, 1, ACCT, "http-01", 0 };
	char detail[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char *copy = malloc(bad[i].len ? bad[i].len : 1);
		const unsigned char *rd[1];
		size_t len[1];

		cr_assert(copy != NULL);
		memcpy(copy, bad[i].bytes, bad[i].len);
		rd[0] = copy;
		len[0] = bad[i].len;
		cr_expect_eq(val_caa_decide(&q, "x.test", rd, len, 1, detail,
		    sizeof(detail)), ANVIL_ERR_CAA, "%s", bad[i].what);
		free(copy);
	}
}

Test(caa, long_and_binary_values_refuse)
{
	const char *const one[] = { "anvil.test" };
	struct val_caa_req q = { one, 1, ACCT, "http-01", 0 };
	unsigned char big[2 + 5 + 4000];
	const unsigned char *rd[1] = { big };
	size_t len[1] = { sizeof(big) };
	char detail[512];

	big[0] = 0;
	big[1] = 5;
	memcpy(big + 2, "issue", 5);
	memset(big + 7, 'a', sizeof(big) - 7);
	memcpy(big + 7, "anvil.test;", 11);
	cr_expect_eq(val_caa_decide(&q, "x.test", rd, len, 1, detail,
	    sizeof(detail)), ANVIL_ERR_CAA);
	/* A NUL inside the value cannot cut it short into "anvil.test". */
	memcpy(big + 7, "anvil.test\0", 11);
	len[0] = 7 + 11;
	cr_expect_eq(val_caa_decide(&q, "x.test", rd, len, 1, detail,
	    sizeof(detail)), ANVIL_ERR_CAA);
	/* A tiny detail buffer is still terminated. */
	len[0] = 7 + 10;
	big[7 + 3] = 'X';
	cr_expect_eq(val_caa_decide(&q, "x.test", rd, len, 1, detail, 8),
	    ANVIL_ERR_CAA);
	cr_expect(strlen(detail) < 8);
}

Test(caa, missing_config_is_malformed)
{
	struct val_caa_req q = { NULL, 0, ACCT, "http-01", 0 };
	char detail[64];

	cr_expect_eq(val_caa_check(NULL, "x.test", &q, detail,
	    sizeof(detail)), ANVIL_ERR_MALFORMED);
}

/* draft-ietf-acme-dns-account-label's example account and its label. */
Test(dns_account, label_of_the_draft_example)
{
	char label[VAL_ACCOUNT_LABEL];

	cr_assert_eq(val_account_label(
	    "https://example.com/acme/acct/ExampleAccount", label), ANVIL_OK);
	cr_expect_str_eq(label, "_ujmmovf2vn55tgye");
	cr_assert_eq(val_account_label(ACCT, label), ANVIL_OK);
	cr_expect_eq(strlen(label), 17);
}

#define PACCT "https://ca.example/acct/123"

struct prow {
	int line;
	const char *what;
	const char *txt[3];	/* one string per record */
	int wildcard;
	anvil_err want;
	const char *detail;
};

static const struct prow prows[] = {
	{ __LINE__, "the draft's basic record",
	    { "authority.example; accounturi=" PACCT }, 0, ANVIL_OK, NULL },
	{ __LINE__, "wildcard with policy=wildcard and persistUntil",
	    { "authority.example; accounturi=" PACCT "; policy=wildcard; "
	    "persistUntil=4102444800" }, 1, ANVIL_OK, NULL },
	{ __LINE__, "wildcard without policy",
	    { "authority.example; accounturi=" PACCT }, 1,
	    ANVIL_ERR_UNAUTHORIZED, "lacks policy=wildcard" },
	{ __LINE__, "another account",
	    { "authority.example; accounturi=" PACCT "4" }, 0,
	    ANVIL_ERR_UNAUTHORIZED, "is for another account" },
	{ __LINE__, "another issuer",
	    { "other.example; accounturi=" PACCT }, 0,
	    ANVIL_ERR_UNAUTHORIZED, "names another issuer" },
	{ __LINE__, "second identity, case and blanks",
	    { "  CA.Anvil.Example ;ACCOUNTURI = " PACCT " ; foo=bar" }, 0,
	    ANVIL_OK, NULL },
	{ __LINE__, "expired", { "authority.example; accounturi=" PACCT
	    "; persistUntil=1721952000" }, 0, ANVIL_ERR_UNAUTHORIZED,
	    "expired" },
	{ __LINE__, "persistUntil not a number",
	    { "authority.example; accounturi=" PACCT "; persistUntil=soon" },
	    0, ANVIL_ERR_UNAUTHORIZED, "malformed persistUntil" },
	{ __LINE__, "no accounturi", { "authority.example" }, 0,
	    ANVIL_ERR_UNAUTHORIZED, "has no accounturi" },
	{ __LINE__, "two accounturi", { "authority.example; accounturi="
	    PACCT "; accounturi=" PACCT }, 0, ANVIL_ERR_UNAUTHORIZED,
	    "more than one" },
	{ __LINE__, "parameter without '='",
	    { "authority.example; accounturi" }, 0, ANVIL_ERR_UNAUTHORIZED,
	    "malformed" },
	{ __LINE__, "one good among others",
	    { "other.example; accounturi=" PACCT, "garbage",
	    "authority.example; accounturi=" PACCT }, 0, ANVIL_OK, NULL },
	{ __LINE__, "blame names this CA",
	    { "other.example; accounturi=" PACCT,
	    "authority.example; accounturi=x" }, 0, ANVIL_ERR_UNAUTHORIZED,
	    "\"authority.example; accounturi=x\"" },
};

/* A TXT rdata of one character-string (short) or two (long). */
static int
txt_rdata(const char *s, char *out, size_t cap)
{
	size_t len = strlen(s), pos = 0, o = 0;

	while (pos < len || o == 0) {
		size_t take = len - pos > 255 ? 255 : len - pos;

		cr_assert(o + 1 + take <= cap);
		out[o++] = (char)take;
		memcpy(out + o, s + pos, take);
		o += take;
		pos += take;
		if (take == 0)
			break;
	}
	return (int)o;
}

Test(dns_persist, record_rows)
{
	static const char *const issuers[] = { "authority.example",
		"ca.anvil.example" };
	/* persistUntil=4102444800 is 2100; 1721952000 is 2024. */
	char buf[3][600], detail[512];
	char *data[4];
	int len[4];
	size_t i, n;

	for (i = 0; i < sizeof(prows) / sizeof(prows[0]); i++) {
		const struct prow *w = &prows[i];
		struct val_persist_req q = { issuers, 2, PACCT, w->wildcard,
			1800000000LL };
		struct ub_result res;
		anvil_err rc;

		for (n = 0; n < 3 && w->txt[n] != NULL; n++) {
			len[n] = txt_rdata(w->txt[n], buf[n], sizeof(buf[n]));
			data[n] = buf[n];
		}
		data[n] = NULL;
		memset(&res, 0, sizeof(res));
		res.havedata = 1;
		res.data = data;
		res.len = len;
		detail[0] = '\0';
		rc = val_persist_answer(&res, "_validation-persist.x.test", &q,
		    detail, sizeof(detail));
		cr_expect_eq(rc, w->want, "line %d (%s): rc %d: %s", w->line,
		    w->what, rc, detail);
		if (w->detail != NULL)
			cr_expect(strstr(detail, w->detail) != NULL,
			    "line %d (%s): detail \"%s\" lacks \"%s\"",
			    w->line, w->what, detail, w->detail);
	}
}

/* Hostile TXT rdata: lengths past the end, NULs, 600 bytes. */
Test(dns_persist, hostile_rdata)
{
	static const char *const issuers[] = { "authority.example" };
	struct val_persist_req q = { issuers, 1, PACCT, 0, 0 };
	static const struct {
		const char *bytes;
		int len;
	} bad[] = {
		{ "\x20short", 6 },
		{ "\x11" "authority.example\0; accounturi=x", 33 },
		{ "", 0 },
	};
	char *data[2], detail[512];
	int len[2];
	size_t i;
	struct ub_result res;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *copy = malloc(bad[i].len ? (size_t)bad[i].len : 1);

		cr_assert(copy != NULL);
		memcpy(copy, bad[i].bytes, (size_t)bad[i].len);
		data[0] = copy;
		data[1] = NULL;
		len[0] = bad[i].len;
		memset(&res, 0, sizeof(res));
		res.havedata = 1;
		res.data = data;
		res.len = len;
		cr_expect_neq(val_persist_answer(&res, "q", &q, detail,
		    sizeof(detail)), ANVIL_OK, "row %zu", i);
		free(copy);
	}
}
