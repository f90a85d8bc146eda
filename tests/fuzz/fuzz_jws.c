/*
 * fuzz_jws.c - flattened JWS parsing (src/jose/jws.c: envelope, protected
 * header, embedded jwk) and, when the header carries a jwk, verification
 * of the signature with it, as newAccount and keyChange do.
 */
#include "fuzz_common.h"

#include "jose/jose.h"

FUZZ_QUIET_INIT()

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jose_jws *jws = NULL;
	char err[256];
	anvil_err rc;

	rc = jose_jws_parse((const char *)data, size, &jws, err, sizeof(err));
	FUZZ_REPORT("parse", rc, rc ? err : "");
	if (rc != ANVIL_OK) {
		FUZZ_ASSERT(err[0] != '\0');
		return 0;
	}
	FUZZ_ASSERT(jws != NULL && jws->header != NULL && jws->alg != NULL);
	FUZZ_ASSERT((jws->jwk != NULL) != (jws->kid != NULL));
	FUZZ_ASSERT(jws->payload != NULL && jws->payload[jws->payload_len] ==
	    '\0');
	err[0] = '\0';
	if (jws->jwk != NULL)
		FUZZ_REPORT("verify", jose_jws_verify(jws, jws->jwk, err,
		    sizeof(err)), err);
	jose_jws_free(jws);
	return 0;
}
