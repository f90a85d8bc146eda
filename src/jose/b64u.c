/*
 * b64u.c - strict base64url without padding (RFC 7515 §2, RFC 4648 §5),
 * on top of nettle's base64url codec.
 *
 * nettle's decoder is lenient in ways JOSE is not: it skips whitespace and
 * understands '=' padding. So the input is checked against the alphabet
 * first; then the padding an unpadded input lacks is fed to nettle, whose
 * padding step refuses non-zero unused bits, so that only the one canonical
 * spelling of each byte string decodes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "jose/jose.h"

/* [A-Za-z0-9_-]: the URL-safe alphabet, '=' excluded. */
static int
b64u_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

anvil_err
b64u_encode(const unsigned char *in, size_t len, char **out)
{
	struct base64_encode_ctx ctx;
	char *buf = NULL;
	size_t n = 0;

	*out = NULL;
	if (len > (SIZE_MAX - 16) / 8)
		return ANVIL_ERR_NOMEM;
	buf = malloc(BASE64_ENCODE_LENGTH(len) + BASE64_ENCODE_FINAL_LENGTH +
	    1);
	if (buf == NULL)
		return ANVIL_ERR_NOMEM;
	base64url_encode_init(&ctx);
	if (len > 0)
		n = base64_encode_update(&ctx, buf, len, in);
	n += base64_encode_final(&ctx, buf + n);
	/* nettle pads to a multiple of four; JOSE does not. */
	while (n > 0 && buf[n - 1] == '=')
		n--;
	buf[n] = '\0';
	*out = buf;
	return ANVIL_OK;
}

anvil_err
b64u_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	static const char pad[] = "==";
	struct base64_decode_ctx ctx;
	unsigned char *buf = NULL;
	size_t i, n = 0, npad = 0;
	anvil_err rc = ANVIL_ERR_MALFORMED;

	*out = NULL;
	*outlen = 0;
	if (in == NULL && len > 0)
		return ANVIL_ERR_MALFORMED;
	/* A lone character holds 6 bits: not even one byte. */
	if (len % 4 == 1)
		return ANVIL_ERR_MALFORMED;
	if (len > SIZE_MAX / 8)
		return ANVIL_ERR_MALFORMED;
	for (i = 0; i < len; i++)
		if (!b64u_char_ok((unsigned char)in[i]))
			return ANVIL_ERR_MALFORMED;

	buf = malloc(BASE64_DECODE_LENGTH(len) + 1);
	if (buf == NULL)
		return ANVIL_ERR_NOMEM;
	base64url_decode_init(&ctx);
	if (len > 0 && !base64_decode_update(&ctx, &n, buf, len, in))
		goto out;
	/*
	 * Two characters carry 4 unused bits, three carry 2: the padding
	 * nettle expects there checks that those bits are zero.
	 */
	if (len % 4 == 2)
		npad = 2;
	else if (len % 4 == 3)
		npad = 1;
	for (i = 0; i < npad; i++)
		if (base64_decode_single(&ctx, buf + n, pad[i]) != 0)
			goto out;
	if (!base64_decode_final(&ctx))
		goto out;

	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	buf = NULL;
	rc = ANVIL_OK;
out:
	free(buf);
	return rc;
}
