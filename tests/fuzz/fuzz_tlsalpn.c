/*
 * fuzz_tlsalpn.c - the tls-alpn-01 certificate checks (src/validate/
 * tlsalpn01.c, val_tlsalpn01_check_der): subjectAltName and the
 * acmeIdentifier extension of the certificate a peer presents, for a dns
 * identifier and for an ip identifier. The key authorization is fixed
 * (FUZZ_KEY_AUTHZ), so a seed certificate made for it passes.
 */
#include "fuzz_common.h"

#include <gnutls/crypto.h>
#include <sys/socket.h>

#include "validate/val_int.h"

#define FUZZ_KEY_AUTHZ "fuzz-token.fuzz-thumbprint"

static unsigned char digest[32];
static struct val_addr ip4, ip6;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_ERR, 0);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, FUZZ_KEY_AUTHZ,
	    strlen(FUZZ_KEY_AUTHZ), digest) < 0 ||
	    val_addr_parse("192.0.2.1", &ip4) != 0 ||
	    val_addr_parse("2001:db8::1", &ip6) != 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct val_ident dns = { "dns", "example.org", NULL, 0 };
	static const struct val_ident v4 = { "ip", "192.0.2.1", NULL, 0 };
	static const struct val_ident v6 = { "ip", "2001:db8::1", NULL, 0 };
	char detail[512];
	anvil_err rc;

	if (size > 65536)
		return 0;
	detail[0] = '\0';
	rc = val_tlsalpn01_check_der(data, size, &dns, NULL, digest, detail,
	    sizeof(detail));
	FUZZ_REPORT("check", rc, detail);
	FUZZ_ASSERT(rc == ANVIL_OK || detail[0] != '\0');
	detail[0] = '\0';
	rc = val_tlsalpn01_check_der(data, size, &v4, &ip4, digest, detail,
	    sizeof(detail));
	FUZZ_REPORT("check", rc, detail);
	FUZZ_ASSERT(rc == ANVIL_OK || detail[0] != '\0');
	rc = val_tlsalpn01_check_der(data, size, &v6, &ip6, digest, detail,
	    sizeof(detail));
	FUZZ_REPORT("check", rc, detail);
	FUZZ_ASSERT(rc == ANVIL_OK || detail[0] != '\0');
	return 0;
}
