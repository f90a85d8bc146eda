/*
 * fuzz_csr.c - the ten CSR checks (src/ca/csr.c) on DER bytes, against a
 * fixed order (dns example.org and *.example.org, ip 192.0.2.1 and
 * 2001:db8::1) and a fixed account key (RFC 7515 A.3's P-256 key).
 */
#include "fuzz_common.h"

#include "ca/ca.h"
#include "jose/jose.h"

static const struct ca_ident ids[] = {
	{ CA_IDENT_DNS, "example.org" },
	{ CA_IDENT_DNS, "*.example.org" },
	{ CA_IDENT_IP, "192.0.2.1" },
	{ CA_IDENT_IP, "2001:db8::1" },
};
static gnutls_datum_t acct_spki;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char jwk[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
	struct jose_jwk *k = NULL;
	json_t *j;
	char err[256];

	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_ERR, 0);
	j = json_loads(jwk, 0, NULL);
	if (j == NULL || jose_jwk_import(j, &k, err, sizeof(err)) != ANVIL_OK ||
	    jose_jwk_spki(k, &acct_spki) != ANVIL_OK)
		abort();
	jose_jwk_free(k);
	json_decref(j);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ca_csr *csr = NULL;
	enum ca_csr_check failed = 0;
	char err[512];
	size_t n;
	anvil_err rc;

	/* The whole order, then only its first identifier (one SAN). */
	for (n = sizeof(ids) / sizeof(ids[0]); n >= 1; n -= 3) {
		err[0] = '\0';
		rc = ca_csr_check(data, size, ids, n, acct_spki.data,
		    acct_spki.size, &csr, &failed, err, sizeof(err));
		FUZZ_REPORT("ca_csr_check", rc, err);
		if (rc == ANVIL_OK) {
			FUZZ_ASSERT(csr != NULL);
		} else {
			FUZZ_ASSERT(rc == ANVIL_ERR_BADCSR ? failed >=
			    CA_CSR_PARSE && failed <= CA_CSR_ORDER_IN_SAN : 1);
			FUZZ_ASSERT(err[0] != '\0');
			(void)ca_csr_check_name(failed);
		}
		ca_csr_free(csr);
		csr = NULL;
		if (n < 3)
			break;
	}
	return 0;
}
