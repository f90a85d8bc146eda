/*
 * eab.c - External Account Binding (RFC 8555 §7.3.4): the MAC-signed JWS
 * in a newAccount payload that ties the new account to a key id an
 * operator made with "anvil-admin eab create". Checked, and the binding
 * recorded, in the transaction that creates the account.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

#include "acme/acme_int.h"
#include "core/util.h"

static const struct {
	const char *alg;
	gnutls_mac_algorithm_t mac;
	size_t len;
} macs[] = {
	{ "HS256", GNUTLS_MAC_SHA256, 32 },
	{ "HS384", GNUTLS_MAC_SHA384, 48 },
	{ "HS512", GNUTLS_MAC_SHA512, 64 },
};

static json_t *
decode_json(const char *b64)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	json_t *j = NULL;

	if (b64u_decode(b64, strlen(b64), &raw, &len) == ANVIL_OK)
		j = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES,
		    NULL);
	free(raw);
	return j;
}

anvil_err
acme_eab_bind(struct acme_req *r, struct store_txn *txn, json_t *eab,
    const char *account_id, char *kid_out, size_t kidlen, char *why,
    size_t whylen)
{
	const char *prot, *pay, *sig, *alg, *kid, *url, *k64;
	json_t *hdr = NULL, *payload = NULL, *rec = NULL, *accts;
	struct jose_jwk *inner = NULL;
	unsigned char *key = NULL, *mac = NULL, want[64];
	size_t keylen = 0, maclen = 0, i;
	char *expect = NULL, *input = NULL;
	anvil_err rc = ANVIL_ERR_MALFORMED;

	prot = json_string_value(json_object_get(eab, "protected"));
	pay = json_string_value(json_object_get(eab, "payload"));
	sig = json_string_value(json_object_get(eab, "signature"));
	if (!json_is_object(eab) || json_object_size(eab) != 3 ||
	    prot == NULL || pay == NULL || sig == NULL) {
		snprintf(why, whylen, "externalAccountBinding must be a "
		    "flattened JWS (protected, payload, signature)");
		goto out;
	}
	if ((hdr = decode_json(prot)) == NULL || !json_is_object(hdr)) {
		snprintf(why, whylen, "externalAccountBinding protected header "
		    "is not base64url JSON");
		goto out;
	}
	alg = json_string_value(json_object_get(hdr, "alg"));
	kid = json_string_value(json_object_get(hdr, "kid"));
	url = json_string_value(json_object_get(hdr, "url"));
	for (i = 0; alg != NULL && i < sizeof(macs) / sizeof(macs[0]); i++)
		if (strcmp(alg, macs[i].alg) == 0)
			break;
	if (alg == NULL || i == sizeof(macs) / sizeof(macs[0])) {
		snprintf(why, whylen, "externalAccountBinding alg must be "
		    "HS256, HS384 or HS512");
		goto out;
	}
	if (kid == NULL || url == NULL ||
	    json_object_get(hdr, "nonce") != NULL ||
	    json_object_get(hdr, "jwk") != NULL) {
		snprintf(why, whylen, "externalAccountBinding header needs kid "
		    "and url, and no nonce or jwk");
		goto out;
	}
	if ((expect = acme_url(r->ctx, "/new-account")) == NULL ||
	    strcmp(url, expect) != 0) {
		snprintf(why, whylen, "externalAccountBinding url must be the "
		    "newAccount URL");
		goto out;
	}
	if ((payload = decode_json(pay)) == NULL ||
	    jose_jwk_import(payload, &inner, why, whylen) != ANVIL_OK ||
	    !jose_jwk_equal(inner, r->jws->jwk)) {
		snprintf(why, whylen, "externalAccountBinding payload must be "
		    "the account's public key (the outer jwk)");
		goto out;
	}

	/* Structure is fine: from here on, failures are "unauthorized". */
	rc = store_get(txn, STORE_EAB, kid, &rec);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		snprintf(why, whylen, "unknown external account key id");
		rc = ANVIL_ERR_UNAUTHORIZED;
		goto out;
	}
	if (rc != ANVIL_OK) {
		snprintf(why, whylen, "cannot read the external account key");
		goto out;
	}
	rc = ANVIL_ERR_UNAUTHORIZED;
	k64 = json_string_value(json_object_get(rec, "key"));
	if (strcmp(json_string_value(json_object_get(rec, "status")) ?: "",
	    "active") != 0) {
		snprintf(why, whylen, "external account key %.64s is disabled",
		    kid);
		goto out;
	}
	if (json_is_integer(json_object_get(rec, "expires")) &&
	    json_integer_value(json_object_get(rec, "expires")) <
	    (json_int_t)r->now) {
		snprintf(why, whylen, "external account key %.64s has expired",
		    kid);
		goto out;
	}
	accts = json_object_get(rec, "accounts");
	if (json_is_true(json_object_get(rec, "single_use")) &&
	    json_array_size(accts) > 0) {
		snprintf(why, whylen, "external account key %.64s was for one "
		    "account and is used", kid);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(rec, "alg")) ?: "",
	    alg) != 0 || k64 == NULL ||
	    b64u_decode(k64, strlen(k64), &key, &keylen) != ANVIL_OK ||
	    b64u_decode(sig, strlen(sig), &mac, &maclen) != ANVIL_OK ||
	    asprintf(&input, "%s.%s", prot, pay) < 0) {
		input = NULL;
		snprintf(why, whylen, "externalAccountBinding MAC does not "
		    "verify");
		goto out;
	}
	if (gnutls_hmac_fast(macs[i].mac, key, keylen, input, strlen(input),
	    want) < 0 || maclen != macs[i].len ||
	    !ct_memeq(want, mac, maclen)) {
		snprintf(why, whylen, "externalAccountBinding MAC does not "
		    "verify");
		goto out;
	}
	if (!json_is_array(accts)) {
		accts = json_array();
		json_object_set_new(rec, "accounts", accts);
	}
	json_array_append_new(accts, json_string(account_id));
	if ((rc = store_put(txn, STORE_EAB, kid, rec, 0)) != ANVIL_OK) {
		snprintf(why, whylen, "cannot record the binding");
		goto out;
	}
	snprintf(kid_out, kidlen, "%s", kid);
	rc = ANVIL_OK;
out:
	if (key != NULL)
		util_wipe(key, keylen);
	util_wipe(want, sizeof(want));
	free(key);
	free(mac);
	free(input);
	free(expect);
	jose_jwk_free(inner);
	json_decref(hdr);
	json_decref(payload);
	json_decref(rec);
	return rc;
}
