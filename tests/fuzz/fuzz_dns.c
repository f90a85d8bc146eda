/*
 * fuzz_dns.c - the dns-01 answer handling (src/validate/dns01.c,
 * val_dns01_answer): the TXT rdata of unbound's answer, as a resolver
 * (that is, whoever runs the name's DNS) sends it. Also val_addr_parse
 * and val_excerpt on the raw input.
 *
 * The same records are also read as a dns-persist-01 TXT answer
 * (val_persist_answer, draft-ietf-acme-dns-persist) and as a CAA record
 * set (val_caa_decide, RFC 8659, RFC 8657): whoever runs the name's DNS
 * writes those too.
 *
 * Input: byte 0 flags (bit 0 havedata, bit 1 nxdomain, bit 2 wildcard),
 * byte 1 rcode, then records, each a 2-byte big-endian length and that
 * many rdata bytes (a length past the end takes what is left), at most 32.
 * The expected value is base64url(SHA-256(FUZZ_KEY_AUTHZ)).
 */
#include "fuzz_common.h"

#include <gnutls/crypto.h>
#include <unbound.h>

#include "jose/jose.h"
#include "validate/val_int.h"
#include "validate/validate.h"

#define FUZZ_KEY_AUTHZ "fuzz-token.fuzz-thumbprint"
#define FUZZ_ACCOUNT "https://ca.example/acct/123"
#define MAX_RECORDS 32

static char expected[44];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char digest[32];
	char *e = NULL;

	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_ERR, 0);
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, FUZZ_KEY_AUTHZ,
	    strlen(FUZZ_KEY_AUTHZ), digest) < 0 ||
	    b64u_encode(digest, sizeof(digest), &e) != ANVIL_OK ||
	    strlen(e) != 43)
		abort();
	memcpy(expected, e, 44);
	free(e);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ub_result res;
	char *recs[MAX_RECORDS + 1];
	int lens[MAX_RECORDS + 1];
	char detail[512], excerpt[64 + 4], *s;
	struct val_addr a;
	size_t pos = 2;
	int n = 0;
	anvil_err rc;

	/* Text the other parsers of this file see. */
	s = fuzz_strdup(data, size);
	if (val_addr_parse(s, &a) == 0) {
		char back[64];

		val_addr_str(&a, back, sizeof(back));
		FUZZ_ASSERT(val_addr_parse(back, &a) == 0);
	}
	val_excerpt(data, size, 64, excerpt);
	FUZZ_ASSERT(strlen(excerpt) <= 64 + 3);
	free(s);

	if (size < 2)
		return 0;
	memset(&res, 0, sizeof(res));
	res.qname = (char *)"_acme-challenge.example.org";
	res.qtype = 16;
	res.qclass = 1;
	res.havedata = data[0] & 1;
	res.nxdomain = (data[0] >> 1) & 1;
	res.rcode = data[1];
	while (pos + 2 <= size && n < MAX_RECORDS) {
		size_t len = (size_t)data[pos] << 8 | data[pos + 1];

		pos += 2;
		if (len > size - pos)
			len = size - pos;
		/* Each record in its own allocation, so ASan sees overreads. */
		recs[n] = malloc(len ? len : 1);
		if (recs[n] == NULL)
			abort();
		memcpy(recs[n], data + pos, len);
		lens[n] = (int)len;
		n++;
		pos += len;
	}
	recs[n] = NULL;
	lens[n] = 0;
	res.data = recs;
	res.len = lens;
	if (n == 0)
		res.havedata = 0;
	detail[0] = '\0';
	rc = val_dns01_answer(&res, res.qname, expected, detail,
	    sizeof(detail));
	FUZZ_REPORT("val_dns01_answer", rc, detail);
	FUZZ_ASSERT(rc == ANVIL_OK || detail[0] != '\0');

	{
		static const char *const issuers[] = { "authority.example",
			"ca.example" };
		struct val_persist_req pq = { issuers, 2, FUZZ_ACCOUNT,
			(data[0] >> 2) & 1, 1800000000LL };
		struct val_caa_req cq = { issuers, 2, FUZZ_ACCOUNT, "dns-01",
			(data[0] >> 2) & 1 };
		const unsigned char *rd[MAX_RECORDS];
		size_t rl[MAX_RECORDS];
		int i;

		detail[0] = '\0';
		rc = val_persist_answer(&res, "_validation-persist.example.org",
		    &pq, detail, sizeof(detail));
		FUZZ_REPORT("val_persist_answer", rc, detail);
		FUZZ_ASSERT(rc == ANVIL_OK || detail[0] != '\0');
		for (i = 0; i < n; i++) {
			rd[i] = (const unsigned char *)recs[i];
			rl[i] = (size_t)lens[i];
		}
		detail[0] = '\0';
		rc = val_caa_decide(&cq, "example.org", rd, rl, (size_t)n,
		    detail, sizeof(detail));
		FUZZ_REPORT("val_caa_decide", rc, detail);
		FUZZ_ASSERT(rc == ANVIL_OK || rc == ANVIL_ERR_CAA);
		FUZZ_ASSERT(rc == ANVIL_OK || detail[0] != '\0');
		FUZZ_ASSERT(strlen(detail) < sizeof(detail));
	}
	while (n > 0)
		free(recs[--n]);
	return 0;
}
