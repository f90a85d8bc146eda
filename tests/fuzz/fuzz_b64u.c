/*
 * fuzz_b64u.c - base64url (src/jose/b64u.c). Decoding is strict, so
 * whatever decodes must encode back to exactly the input; and every byte
 * string must survive encode then decode.
 */
#include "fuzz_common.h"

#include "jose/jose.h"

FUZZ_QUIET_INIT()

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *dec = NULL, *back = NULL;
	char *enc = NULL, *enc2 = NULL;
	size_t declen = 0, backlen = 0;

	/* Input as base64url text. */
	if (b64u_decode((const char *)data, size, &dec, &declen) == ANVIL_OK) {
		FUZZ_ASSERT(dec != NULL);
		FUZZ_ASSERT(dec[declen] == '\0');
		FUZZ_ASSERT(b64u_encode(dec, declen, &enc) == ANVIL_OK);
		FUZZ_ASSERT(strlen(enc) == size &&
		    memcmp(enc, data, size) == 0);
	}
	/* Input as bytes. */
	FUZZ_ASSERT(b64u_encode(data, size, &enc2) == ANVIL_OK);
	FUZZ_ASSERT(b64u_decode(enc2, strlen(enc2), &back, &backlen) ==
	    ANVIL_OK);
	FUZZ_ASSERT(backlen == size && memcmp(back, data, size) == 0);
	free(dec);
	free(enc);
	free(enc2);
	free(back);
	return 0;
}
