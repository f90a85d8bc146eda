/*
 * fuzz_payloads.c - the JSON payloads of signed requests, fed to the
 * pieces of the server that examine them, the way the endpoints do:
 *   newAccount / account update: termsOfServiceAgreed, onlyReturnExisting,
 *     status, contact (acme_contact_check, src/acme/contact.c);
 *   newOrder: notBefore/notAfter, identifiers[] (acme_ident_normalise,
 *     src/acme/ident.c; acme_policy_check, src/acme/policy.c, with a fixed
 *     policy);
 *   finalize: csr (b64u_decode, then ca_csr_check against the normalised
 *     identifiers);
 *   revokeCert: certificate (b64u_decode, GnuTLS import, serial), reason;
 *   keyChange: the payload is itself a JWS (jose_jws_parse, verify with
 *     its jwk), whose payload names account and oldKey (jose_jwk_import).
 * The store, nonces and the outer JWS are not involved (fuzz_jws covers
 * the outer envelope).
 */
#include "fuzz_common.h"

#include <gnutls/x509.h>

#include "acme/acme_int.h"
#include "acme/contact.h"
#include "ca/ca.h"
#include "http/http.h"
#include "jose/jose.h"

static json_t *policy;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_ERR, 0);
	policy = json_loads("{\"deny\": [\"bad.example\", "
	    "\"secret.good.example\", \"10.0.0.0/8\"], \"allow\": []}", 0, NULL);
	if (policy == NULL)
		abort();
	return 0;
}

/* An acme_req that acme_fail can write its problem document into. */
struct fake {
	struct http_req http;
	struct http_resp resp;
	struct acme_req r;
};

static void
fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->http.method, sizeof(f->http.method), "POST");
	f->http.path = (char *)"/new-account";
	f->r.http = &f->http;
	f->r.resp = &f->resp;
	f->r.now = 1700000000;
}

static void
fake_clear(struct fake *f)
{
	if (f->r.subproblems != NULL)
		json_decref(f->r.subproblems);
	http_resp_clear(&f->resp);
}

static void
account_payload(json_t *p)
{
	struct fake f;
	json_t *contact = json_object_get(p, "contact");
	json_t *status = json_object_get(p, "status");
	anvil_err rc;

	(void)json_is_boolean(json_object_get(p, "termsOfServiceAgreed"));
	(void)json_is_boolean(json_object_get(p, "onlyReturnExisting"));
	if (status != NULL)
		(void)(json_is_string(status) &&
		    strcmp(json_string_value(status), "deactivated") == 0);
	if (contact == NULL)
		return;
	fake_init(&f);
	rc = acme_contact_check(&f.r, contact);
	FUZZ_REPORT("contact", rc, f.resp.body ? f.resp.body : "");
	if (rc != ANVIL_OK)
		FUZZ_ASSERT(f.resp.status >= 400 && f.resp.body != NULL);
	fake_clear(&f);
}

/* newOrder's identifiers, normalised into ids (at most max) for finalize. */
static size_t
order_payload(json_t *p, struct ca_ident *ids, char (*vals)[256], size_t max)
{
	json_t *list = json_object_get(p, "identifiers"), *v;
	size_t i, n = 0;

	(void)json_object_get(p, "notBefore");
	(void)json_object_get(p, "notAfter");
	if (!json_is_array(list) || json_array_size(list) >
	    ACME_MAX_IDENTIFIERS)
		return 0;
	json_array_foreach(list, i, v) {
		char type[8], value[256], why[300];
		anvil_err e;

		why[0] = '\0';
		e = acme_ident_normalise(v, type, value, why, sizeof(why));
		FUZZ_REPORT("identifier", e, why);
		if (e != ANVIL_OK) {
			FUZZ_ASSERT(why[0] != '\0');
			continue;
		}
		FUZZ_ASSERT(strcmp(type, "dns") == 0 ||
		    strcmp(type, "ip") == 0);
		FUZZ_ASSERT(strlen(value) < 256);
		e = acme_policy_check(policy, NULL, type, value, why,
		    sizeof(why));
		if (e != ANVIL_OK || n >= max)
			continue;
		ids[n].type = strcmp(type, "ip") == 0 ? CA_IDENT_IP :
		    CA_IDENT_DNS;
		memcpy(vals[n], value, 256);
		ids[n].value = vals[n];
		n++;
	}
	return n;
}

static void
finalize_payload(json_t *p, const struct ca_ident *ids, size_t nids)
{
	const char *csr64 = json_string_value(json_object_get(p, "csr"));
	unsigned char *der = NULL;
	size_t derlen = 0;
	struct ca_csr *csr = NULL;
	enum ca_csr_check failed = 0;
	char err[512];

	if (csr64 == NULL || b64u_decode(csr64, strlen(csr64), &der,
	    &derlen) != ANVIL_OK)
		return;
	FUZZ_REPORT("finalize", ca_csr_check(der, derlen, ids, nids, NULL, 0,
	    &csr, &failed, err, sizeof(err)), err);
	ca_csr_free(csr);
	free(der);
}

static void
revoke_payload(json_t *p)
{
	const char *c64 = json_string_value(json_object_get(p, "certificate"));
	json_t *reason = json_object_get(p, "reason");
	unsigned char *der = NULL, serial[40];
	size_t derlen = 0, slen = sizeof(serial);
	gnutls_x509_crt_t crt = NULL;

	/* revoke.c's test on reason (ca_crl_reason_valid lives in crl.c,
	 * which needs the store): an integer, 0-6 or 9, 2 excluded. */
	if (reason != NULL && json_is_integer(reason))
		(void)(json_integer_value(reason) >= 0 &&
		    json_integer_value(reason) <= 9 &&
		    json_integer_value(reason) != 7);
	if (c64 == NULL || b64u_decode(c64, strlen(c64), &der, &derlen) !=
	    ANVIL_OK)
		return;
	if (gnutls_x509_crt_init(&crt) >= 0) {
		gnutls_datum_t d = { der, (unsigned)derlen };

		if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) >= 0)
			FUZZ_REPORT("revoke serial", gnutls_x509_crt_get_serial(
			    crt, serial, &slen), "");
		gnutls_x509_crt_deinit(crt);
	}
	free(der);
}

static void
keychange_payload(const uint8_t *data, size_t size)
{
	struct jose_jws *inner = NULL;
	struct jose_jwk *old = NULL;
	json_t *ip;
	char err[256];

	if (jose_jws_parse((const char *)data, size, &inner, err,
	    sizeof(err)) != ANVIL_OK)
		return;
	if (inner->jwk != NULL)
		FUZZ_REPORT("keyChange verify", jose_jws_verify(inner,
		    inner->jwk, err, sizeof(err)), err);
	ip = json_loadb((const char *)inner->payload, inner->payload_len,
	    JSON_REJECT_DUPLICATES, NULL);
	(void)json_string_value(json_object_get(ip, "account"));
	FUZZ_REPORT("keyChange oldKey", jose_jwk_import(json_object_get(ip,
	    "oldKey"), &old, err, sizeof(err)), "");
	if (old != NULL && inner->jwk != NULL)
		(void)jose_jwk_equal(old, inner->jwk);
	jose_jwk_free(old);
	json_decref(ip);
	jose_jws_free(inner);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ca_ident ids[8];
	char vals[8][256];
	json_t *p;
	size_t n;

	/* acme_auth loads the payload this way. */
	p = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (p == NULL || !json_is_object(p)) {
		json_decref(p);
		return 0;
	}
	account_payload(p);
	n = order_payload(p, ids, vals, sizeof(ids) / sizeof(ids[0]));
	finalize_payload(p, ids, n);
	revoke_payload(p);
	if (json_object_get(p, "protected") != NULL)
		keychange_payload(data, size);
	json_decref(p);
	return 0;
}
