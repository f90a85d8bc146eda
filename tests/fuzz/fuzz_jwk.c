/*
 * fuzz_jwk.c - JWK import (src/jose/jwk.c) of a JSON document. A key that
 * imports must give a thumbprint, a DER SubjectPublicKeyInfo and a
 * canonical JSON form that imports again as the same key.
 */
#include "fuzz_common.h"

#include "jose/jose.h"

FUZZ_QUIET_INIT()

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jose_jwk *k = NULL, *k2 = NULL;
	json_t *doc, *canon;
	gnutls_datum_t spki = { NULL, 0 };
	char err[256], thumb[44], thumb2[44];

	doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL);
	if (doc == NULL)
		return 0;
	if (jose_jwk_import(doc, &k, err, sizeof(err)) == ANVIL_OK) {
		FUZZ_REPORT("jose_jwk_import", 0, "");
		FUZZ_ASSERT(k != NULL);
		FUZZ_ASSERT(jose_jwk_thumbprint(k, thumb) == ANVIL_OK);
		FUZZ_ASSERT(strlen(thumb) == 43);
		FUZZ_ASSERT(jose_jwk_spki(k, &spki) == ANVIL_OK);
		canon = jose_jwk_to_json(k);
		FUZZ_ASSERT(canon != NULL);
		FUZZ_ASSERT(jose_jwk_import(canon, &k2, err, sizeof(err)) ==
		    ANVIL_OK);
		FUZZ_ASSERT(jose_jwk_equal(k, k2));
		FUZZ_ASSERT(jose_jwk_thumbprint(k2, thumb2) == ANVIL_OK);
		FUZZ_ASSERT(strcmp(thumb, thumb2) == 0);
		json_decref(canon);
		gnutls_free(spki.data);
	} else {
		FUZZ_ASSERT(k == NULL);
	}
	jose_jwk_free(k);
	jose_jwk_free(k2);
	json_decref(doc);
	return 0;
}
