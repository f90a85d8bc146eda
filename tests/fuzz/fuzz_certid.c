/*
 * fuzz_certid.c - the certID of RFC 9773 §4.1 (src/record/renewal.c),
 * read from an unauthenticated URL and from newOrder's "replaces". The
 * parser takes one spelling per certificate, so whatever it accepts must
 * be made again, byte for byte, from the key id and serial it returned.
 */
#include "fuzz_common.h"

#include "record/record.h"

FUZZ_QUIET_INIT()

static int
unhex(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char kid[REC_KEYID_MAX], ser[REC_SERIAL_MAX];
	char serial[2 * REC_SERIAL_MAX + 1], why[160], *in, *back = NULL;
	size_t kidlen = 0, n, i;

	/* A URL segment or a JSON string of jansson's holds no NUL. */
	if (memchr(data, '\0', size) != NULL || (in = malloc(size + 1)) ==
	    NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (rec_certid_parse(in, kid, &kidlen, serial, why, sizeof(why)) ==
	    ANVIL_OK) {
		n = strlen(serial);
		FUZZ_ASSERT(n % 2 == 0 && n > 0 && n <= 2 * REC_SERIAL_MAX);
		FUZZ_ASSERT(kidlen > 0 && kidlen <= REC_KEYID_MAX);
		for (i = 0; i < n / 2; i++)
			ser[i] = (unsigned char)(unhex(serial[2 * i]) << 4 |
			    unhex(serial[2 * i + 1]));
		FUZZ_ASSERT(rec_certid_make(kid, kidlen, ser, n / 2, &back) ==
		    ANVIL_OK);
		FUZZ_ASSERT(strlen(back) == size && memcmp(back, data, size) ==
		    0);
	} else
		FUZZ_ASSERT(why[0] != '\0');
	free(back);
	free(in);
	return 0;
}
