/*
 * validate.c - val_check: argument checks, then one of http01.c, dns01.c,
 * tlsalpn01.c, all bounded by one deadline of cfg->timeout seconds.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "validate/val_int.h"
#include "validate/validate.h"

/* Longest token and key authorization accepted (ours are far shorter). */
#define MAX_TOKEN 256
#define MAX_KEY_AUTHZ 512

static const char *const type_names[] = {
	[VAL_HTTP01] = "http-01",
	[VAL_DNS01] = "dns-01",
	[VAL_TLSALPN01] = "tls-alpn-01",
	[VAL_DNSACCOUNT01] = "dns-account-01",
	[VAL_DNSPERSIST01] = "dns-persist-01",
};

const char *
val_type_name(enum val_type t)
{
	if ((unsigned)t < sizeof(type_names) / sizeof(type_names[0]))
		return type_names[t];
	return "unknown";
}

int
val_type_parse(const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcmp(s, type_names[i]) == 0)
			return (int)i;
	return -1;
}

static int
is_b64u_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* 1 if s is 1..max base64url characters. */
static int
is_b64u(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i++)
		if (!is_b64u_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* 1 if name is a plausible DNS name: labels of letters, digits, '-' and
 * '_', 1 to 63 bytes each, 253 bytes at most, no trailing dot. */
static int
is_dns_name(const char *name)
{
	size_t len = strlen(name), label = 0, i;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

anvil_err
val_check(const struct anvil_config *cfg, enum val_type type,
    const struct val_ident *id, const char *token, const char *key_authz,
    char *detail, size_t detaillen)
{
	struct val_addr ip;
	const struct val_addr *ipp = NULL;
	size_t toklen, kalen;
	int64_t deadline;

	if (detail != NULL && detaillen > 0)
		detail[0] = '\0';
	if (cfg == NULL || id == NULL || id->type == NULL ||
	    id->value == NULL || token == NULL || key_authz == NULL)
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "missing argument to the validator");
	toklen = strlen(token);
	kalen = strlen(key_authz);
	if (!is_b64u(token, toklen, MAX_TOKEN))
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "the challenge token is not base64url");
	if (kalen <= toklen + 1 || kalen > MAX_KEY_AUTHZ ||
	    memcmp(key_authz, token, toklen) != 0 || key_authz[toklen] != '.' ||
	    !is_b64u(key_authz + toklen + 1, kalen - toklen - 1, MAX_KEY_AUTHZ))
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "the key authorization is not token.thumbprint");

	if (strcmp(id->type, "ip") == 0) {
		if (val_addr_parse(id->value, &ip) != 0)
			return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
			    "ip identifier \"%.64s\" is not an IPv4 or IPv6 "
			    "address", id->value);
		ipp = &ip;
	} else if (strcmp(id->type, "dns") == 0) {
		if (!is_dns_name(id->value))
			return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
			    "dns identifier \"%.64s\" is not a host name",
			    id->value);
		if (val_addr_parse(id->value, &ip) == 0)
			return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
			    "dns identifier %s is an IP address", id->value);
	} else {
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "unknown identifier type \"%.16s\"", id->type);
	}

	deadline = val_now_ms() + (int64_t)cfg->timeout * 1000;
	switch (type) {
	case VAL_HTTP01:
		return val_http01(cfg, id, ipp, token, key_authz, deadline,
		    detail, detaillen);
	case VAL_DNS01:
		if (ipp != NULL)
			return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
			    "dns-01 cannot validate an ip identifier");
		return val_dns01(cfg, id->value, key_authz, deadline, detail,
		    detaillen);
	case VAL_TLSALPN01:
		return val_tlsalpn01(cfg, id, ipp, key_authz, deadline, detail,
		    detaillen);
	case VAL_DNSACCOUNT01:
		if (ipp != NULL)
			return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
			    "dns-account-01 cannot validate an ip identifier");
		return val_dnsaccount01(cfg, id->value, id->account_url,
		    key_authz, deadline, detail, detaillen);
	case VAL_DNSPERSIST01: {
		struct val_persist_req q;

		if (ipp != NULL)
			return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
			    "dns-persist-01 cannot validate an ip identifier");
		memset(&q, 0, sizeof(q));
		q.issuers = (const char *const *)cfg->caa_identities.v;
		q.nissuers = cfg->caa_identities.n;
		q.account_url = id->account_url;
		q.wildcard = id->wildcard;
		q.now = (long long)time(NULL);
		return val_dnspersist01(cfg, id->value, &q, deadline, detail,
		    detaillen);
	}
	default:
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "unknown challenge type %d", (int)type);
	}
}

anvil_err
val_caa_check(const struct anvil_config *cfg, const char *name,
    const struct val_caa_req *q, char *detail, size_t detaillen)
{
	if (detail != NULL && detaillen > 0)
		detail[0] = '\0';
	if (cfg == NULL || name == NULL || q == NULL)
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "missing argument to the CAA check");
	if (q->nidentities == 0)
		return ANVIL_OK;
	if (!is_dns_name(name))
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "\"%.64s\" is not a host name", name);
	return val_caa(cfg, name, q, val_now_ms() + (int64_t)cfg->timeout *
	    1000, detail, detaillen);
}
