/*
 * dns01.c - dns-01 (RFC 8555 §8.4): one TXT record at
 * _acme-challenge.<name> must hold base64url(SHA-256(key authorization)).
 * dns-account-01 (draft-ietf-acme-dns-account-label): the same value at
 * _<label>._acme-challenge.<name>, the label made from the account URL,
 * so that many accounts can validate one name. dns-persist-01
 * (draft-ietf-acme-dns-persist): a standing TXT record at
 * _validation-persist.<name> naming this CA and the account.
 * libunbound follows CNAME chains itself (also when the forwarder answers
 * with the CNAME alone: its iterator then asks for the target).
 */
#include "config.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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

/* dns-01 or dns-account-01: the digest at _acme-challenge.<name> with an
 * optional label in front. */
static anvil_err
digest_txt(const struct anvil_config *cfg, const char *label,
    const char *name, const char *key_authz, int64_t deadline, char *detail,
    size_t detaillen)
{
	unsigned char digest[32];
	char expected[DIGEST_B64U_LEN + 1], qname[VAL_MAX_NAME + 64];
	struct val_dns *dns = NULL;
	struct ub_result *res = NULL;
	anvil_err rc = ANVIL_ERR_DNS;
	int ret;

	if ((size_t)snprintf(qname, sizeof(qname), "%s%s_acme-challenge.%s",
	    label, label[0] ? "." : "", name) >= sizeof(qname) ||
	    strlen(qname) > 253)
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "name too long for %s", label[0] ? "dns-account-01" :
		    "dns-01");
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
		val_dns_result_free(res);
	val_dns_free(dns);
	return rc;
}

anvil_err
val_dns01(const struct anvil_config *cfg, const char *name,
    const char *key_authz, int64_t deadline, char *detail, size_t detaillen)
{
	return digest_txt(cfg, "", name, key_authz, deadline, detail,
	    detaillen);
}

/* draft-ietf-acme-dns-account-label §3.1: "_" and the lower-case base32
 * (RFC 4648 §6, no padding) of the first 10 bytes of SHA-256 of the
 * account URL: 16 characters after the underscore. */
anvil_err
val_account_label(const char *account_url, char out[VAL_ACCOUNT_LABEL])
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char h[32];
	size_t i, o = 0;
	unsigned acc = 0, bits = 0;

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, account_url,
	    strlen(account_url), h) < 0)
		return ANVIL_ERR_CRYPTO;
	out[o++] = '_';
	for (i = 0; i < 10; i++) {
		acc = (acc << 8) | h[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	out[o] = '\0';
	return ANVIL_OK;
}

anvil_err
val_dnsaccount01(const struct anvil_config *cfg, const char *name,
    const char *account_url, const char *key_authz, int64_t deadline,
    char *detail, size_t detaillen)
{
	char label[VAL_ACCOUNT_LABEL];

	if (account_url == NULL || account_url[0] == '\0')
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "dns-account-01 needs the account URL");
	if (val_account_label(account_url, label) != ANVIL_OK)
		return errf(detail, detaillen, ANVIL_ERR_CRYPTO,
		    "cannot hash the account URL");
	return digest_txt(cfg, label, name, key_authz, deadline, detail,
	    detaillen);
}

static size_t
trim_wsp(const char **s, size_t len)
{
	while (len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		len--;
	}
	while (len > 0 && ((*s)[len - 1] == ' ' || (*s)[len - 1] == '\t'))
		len--;
	return len;
}

/*
 * One dns-persist-01 record (draft-ietf-acme-dns-persist §3):
 *   issuer-domain-name *(";" parameter), parameter = key "=" value
 * with accounturi required, policy and persistUntil optional, unknown
 * parameters ignored. NULL if it authorizes q, else why not.
 */
static const char *
persist_verdict(const char *v, size_t len, const struct val_persist_req *q)
{
	const char *part, *acct = NULL, *policy = NULL, *until = NULL;
	size_t plen, alen = 0, pollen = 0, ulen = 0, i, pos = 0;
	int first = 1, ours = 0;

	if (memchr(v, '\0', len) != NULL)
		return "is malformed";
	while (pos <= len) {
		const char *semi = memchr(v + pos, ';', len - pos);
		const char *eq;
		size_t end = semi != NULL ? (size_t)(semi - v) : len;

		part = v + pos;
		plen = trim_wsp(&part, end - pos);
		pos = end + 1;
		if (first) {
			first = 0;
			if (plen > 0 && part[plen - 1] == '.')
				plen--;
			for (i = 0; i < q->nissuers && !ours; i++)
				ours = strlen(q->issuers[i]) == plen &&
				    strncasecmp(q->issuers[i], part, plen) == 0;
			if (!ours)
				return "names another issuer";
			continue;
		}
		if (plen == 0)
			continue;
		if ((eq = memchr(part, '=', plen)) == NULL)
			return "is malformed";
		{
			const char *key = part, *val = eq + 1;
			size_t klen = (size_t)(eq - part), vlen;

			klen = trim_wsp(&key, klen);
			vlen = trim_wsp(&val, plen - (size_t)(val - part));
			if (klen == 10 && strncasecmp(key, "accounturi", 10) == 0) {
				if (acct != NULL)
					return "has more than one accounturi";
				acct = val;
				alen = vlen;
			} else if (klen == 6 && strncasecmp(key, "policy",
			    6) == 0) {
				policy = val;
				pollen = vlen;
			} else if (klen == 12 && strncasecmp(key,
			    "persistuntil", 12) == 0) {
				until = val;
				ulen = vlen;
			}
		}
	}
	if (acct == NULL)
		return "has no accounturi";
	if (q->account_url == NULL || strlen(q->account_url) != alen ||
	    memcmp(q->account_url, acct, alen) != 0)
		return "is for another account";
	if (q->wildcard && (policy == NULL || pollen != 8 ||
	    strncasecmp(policy, "wildcard", 8) != 0))
		return "lacks policy=wildcard, which a wildcard needs";
	if (until != NULL) {
		long long t = 0;

		if (ulen == 0)
			return "has a malformed persistUntil";
		for (i = 0; i < ulen; i++)
			if (until[i] < '0' || until[i] > '9')
				return "has a malformed persistUntil";
		/* More than 18 digits is beyond any clock here. */
		for (i = 0; i < ulen && ulen <= 18; i++)
			t = t * 10 + (until[i] - '0');
		if (ulen <= 18 && t < q->now)
			return "expired (persistUntil)";
	}
	return NULL;
}

/* Checks unbound's TXT answer for dns-persist-01: see val_int.h. */
anvil_err
val_persist_answer(const struct ub_result *res, const char *qname,
    const struct val_persist_req *q, char *detail, size_t detaillen)
{
	char value[1024], first[80] = "";
	const char *why = NULL, *first_why = NULL;
	size_t total;
	int i, seen = 0;

	if (!res->havedata) {
		if (res->nxdomain || res->rcode == RCODE_NXDOMAIN ||
		    res->rcode == 0)
			return errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
			    "no TXT record at %s", qname);
		return errf(detail, detaillen, ANVIL_ERR_DNS,
		    "looking up TXT %s: the DNS resolver answered rcode %d",
		    qname, res->rcode);
	}
	for (i = 0; res->data[i] != NULL; i++) {
		if (res->len[i] < 0 ||
		    txt_join((const unsigned char *)res->data[i],
		    (size_t)res->len[i], value, sizeof(value), &total) != 0)
			continue;
		seen++;
		if (total > sizeof(value))
			why = "is too long";
		else
			why = persist_verdict(value, total, q);
		if (why == NULL)
			return ANVIL_OK;
		/* Blame the record naming this CA over another CA's. */
		if (first_why == NULL || (strcmp(first_why,
		    "names another issuer") == 0 && strcmp(why,
		    "names another issuer") != 0)) {
			first_why = why;
			val_excerpt(value, total < sizeof(value) ? total :
			    sizeof(value), 64, first);
		}
	}
	if (first_why == NULL)
		return errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "no readable TXT record at %s", qname);
	return errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
	    "the TXT record \"%s\" at %s %s%s", first, qname, first_why,
	    seen > 1 ? " (nor does another record there authorize this "
	    "account)" : "");
}

anvil_err
val_dnspersist01(const struct anvil_config *cfg, const char *name,
    const struct val_persist_req *q, int64_t deadline, char *detail,
    size_t detaillen)
{
	char qname[VAL_MAX_NAME + 32];
	struct val_dns *dns = NULL;
	struct ub_result *res = NULL;
	anvil_err rc;

	if (q->nissuers == 0)
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "dns-persist-01 needs caa_identities in anvil.conf");
	if ((size_t)snprintf(qname, sizeof(qname), "_validation-persist.%s",
	    name) >= sizeof(qname) || strlen(qname) > 253)
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "name too long for dns-persist-01");
	rc = val_dns_new(cfg, &dns, detail, detaillen);
	if (rc != ANVIL_OK)
		goto out;
	rc = val_dns_query(dns, qname, RR_TXT, deadline, &res, detail,
	    detaillen);
	if (rc != ANVIL_OK)
		goto out;
	rc = val_persist_answer(res, qname, q, detail, detaillen);
out:
	if (res != NULL)
		val_dns_result_free(res);
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
