/*
 * dns01.c - dns-01 (RFC 8555 §8.4): one TXT record at
 * _acme-challenge.<name> must hold base64url(SHA-256(key authorization)).
 * libunbound follows CNAME chains itself (also when the forwarder answers
 * with the CNAME alone: its iterator then asks for the target).
 */
#include "config.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>
#include <unbound.h>

#include "core/log.h"
#include "validate/val_int.h"

#define RR_TXT 16
#define RCODE_NXDOMAIN 3
/* base64url of 32 bytes without padding. */
#define DIGEST_B64U_LEN 43

static void
b64u_encode(const unsigned char *in, size_t len, char *out)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
		    in[i + 2];

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)in[i] << 16;

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;

		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
}

/*
 * Joins the character-strings of one TXT rdata into out (at most cap
 * bytes kept; *total is the full length). -1 if the rdata is malformed.
 */
static int
txt_join(const unsigned char *rd, size_t len, char *out, size_t cap,
    size_t *total)
{
	size_t pos = 0, kept = 0;

	*total = 0;
	while (pos < len) {
		size_t sl = rd[pos++];

		if (sl > len - pos)
			return -1;
		if (kept < cap) {
			size_t take = sl < cap - kept ? sl : cap - kept;

			memcpy(out + kept, rd + pos, take);
			kept += take;
		}
		*total += sl;
		pos += sl;
	}
	return 0;
}

anvil_err
val_dns01(const struct anvil_config *cfg, const char *name,
    const char *key_authz, int64_t deadline, char *detail, size_t detaillen)
{
	unsigned char digest[32];
	char expected[DIGEST_B64U_LEN + 1], qname[VAL_MAX_NAME + 32];
	struct val_dns *dns = NULL;
	struct ub_result *res = NULL;
	anvil_err rc = ANVIL_ERR_DNS;
	int ret;

	if ((size_t)snprintf(qname, sizeof(qname), "_acme-challenge.%s",
	    name) >= sizeof(qname))
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "name too long for dns-01");
	ret = gnutls_hash_fast(GNUTLS_DIG_SHA256, key_authz, strlen(key_authz),
	    digest);
	if (ret < 0) {
		log_err("dns-01: gnutls_hash_fast: %s", gnutls_strerror(ret));
		return errf(detail, detaillen, ANVIL_ERR_CRYPTO,
		    "cannot hash the key authorization");
	}
	b64u_encode(digest, sizeof(digest), expected);

	rc = val_dns_new(cfg, &dns, detail, detaillen);
	if (rc != ANVIL_OK)
		goto out;
	rc = val_dns_query(dns, qname, RR_TXT, deadline, &res, detail,
	    detaillen);
	if (rc != ANVIL_OK)
		goto out;
	rc = val_dns01_answer(res, qname, expected, detail, detaillen);
out:
	if (res != NULL)
		ub_resolve_free(res);
	val_dns_free(dns);
	return rc;
}

/* Checks unbound's TXT answer: see val_int.h. */
anvil_err
val_dns01_answer(const struct ub_result *res, const char *qname,
    const char *expected, char *detail, size_t detaillen)
{
	char first[80] = "", value[128];
	anvil_err rc;
	size_t total;
	int i, seen = 0;

	if (!res->havedata) {
		if (res->nxdomain || res->rcode == RCODE_NXDOMAIN)
			rc = errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
			    "no TXT record at %s (the name does not exist)",
			    qname);
		else if (res->rcode != 0)
			rc = errf(detail, detaillen, ANVIL_ERR_DNS,
			    "looking up TXT %s: the DNS resolver answered "
			    "rcode %d%s", qname, res->rcode,
			    res->rcode == 2 ? " (SERVFAIL)" :
			    res->rcode == 5 ? " (REFUSED)" : "");
		else
			rc = errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
			    "no TXT record at %s", qname);
		goto out;
	}
	for (i = 0; res->data[i] != NULL; i++) {
		seen++;
		if (res->len[i] < 0 ||
		    txt_join((const unsigned char *)res->data[i],
		    (size_t)res->len[i], value, sizeof(value), &total) != 0)
			continue;
		if (seen == 1)
			val_excerpt(value, total < sizeof(value) ? total :
			    sizeof(value), 64, first);
		if (total == DIGEST_B64U_LEN &&
		    memcmp(value, expected, DIGEST_B64U_LEN) == 0) {
			rc = ANVIL_OK;
			goto out;
		}
	}
	if (seen == 1)
		rc = errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the TXT record at %s is \"%s\", not the expected "
		    "value", qname, first);
	else
		rc = errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "none of the %d TXT records at %s is the expected value",
		    seen, qname);
out:
	return rc;
}
