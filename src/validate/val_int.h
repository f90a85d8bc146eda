/*
 * val_int.h - shared inside src/validate only: deadlines, addresses, the
 * libunbound wrapper and the three challenge checkers. Not part of the
 * module's interface (that is validate.h).
 */
#ifndef ANVIL_VALIDATE_VAL_INT_H
#define ANVIL_VALIDATE_VAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/conf.h"
#include "core/error.h"
#include "validate/validate.h"

/* At most this many addresses are used for one host name. */
#define VAL_MAX_ADDRS 16
/* Longest host name or DNS query name handled (RFC 1035: 253 + dot). */
#define VAL_MAX_NAME 254

/* One IPv4 or IPv6 address. */
struct val_addr {
	int family;		 /* AF_INET or AF_INET6 */
	unsigned char bytes[16]; /* 4 or 16 used */
};

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t val_now_ms(void);
/* Milliseconds left until deadline, 0 when it has passed. */
int64_t val_left_ms(int64_t deadline);

/* Parses a textual IPv4 or IPv6 address (no brackets, no zone); 0 on
 * success, -1 if s is not an address. */
int val_addr_parse(const char *s, struct val_addr *out);
/* Writes a's text into buf (at least 46 bytes). */
void val_addr_str(const struct val_addr *a, char *buf, size_t len);

/* Sanitised excerpt of untrusted bytes for a detail message: at most max
 * characters, non-printable bytes as '?', "..." appended when cut. out
 * must hold max + 4 bytes. */
void val_excerpt(const void *data, size_t len, size_t max, char *out);

/* The libunbound context for one check (opaque). */
struct val_dns;

/*
 * A resolver for cfg: forwarding to cfg->dns_resolver when set, else the
 * system's resolv.conf and hosts file. Caller frees with val_dns_free.
 * Errors: ANVIL_ERR_DNS (unbound refused the setup), ANVIL_ERR_NOMEM.
 */
anvil_err val_dns_new(const struct anvil_config *cfg, struct val_dns **out,
    char *detail, size_t detaillen);
/* NULL is a no-op. The context is kept for the process's next check
 * unless a query on it failed. */
void val_dns_free(struct val_dns *dns);
/* How many contexts this process has made (tests, bench). */
unsigned val_dns_made(void);

/*
 * Looks up name/rrtype (class IN) and waits for it until deadline.
 * On ANVIL_OK *res is unbound's answer (caller frees with
 * val_dns_result_free), which may have no data (NXDOMAIN or NODATA; the caller
 * decides). Errors: ANVIL_ERR_DNS for a timeout or a resolver failure
 * (SERVFAIL, REFUSED, ... are returned as ANVIL_OK with res->rcode set).
 */
struct ub_result;
anvil_err val_dns_query(struct val_dns *dns, const char *name, int rrtype,
    int64_t deadline, struct ub_result **res, char *detail,
    size_t detaillen);
/* Frees an answer of val_dns_query; NULL is a no-op. */
void val_dns_result_free(struct ub_result *res);

/*
 * The addresses to connect to for host (an address literal, or a name
 * looked up as A and AAAA through *dnsp, which is created on first use and
 * left for the caller to free). Fails with ANVIL_ERR_UNAUTHORIZED if any
 * address is inside cfg's denied networks, ANVIL_ERR_DNS if the name has
 * no addresses or the lookup fails.
 */
anvil_err val_host_addrs(const struct anvil_config *cfg,
    struct val_dns **dnsp, const char *host, int64_t deadline,
    struct val_addr *out, size_t max, size_t *n, char *detail,
    size_t detaillen);

/* The checkers; arguments already validated by val_check. ip is NULL for
 * a dns identifier, else the parsed address of id->value. */
anvil_err val_http01(const struct anvil_config *cfg,
    const struct val_ident *id, const struct val_addr *ip, const char *token,
    const char *key_authz, int64_t deadline, char *detail, size_t detaillen);
anvil_err val_dns01(const struct anvil_config *cfg, const char *name,
    const char *key_authz, int64_t deadline, char *detail, size_t detaillen);
anvil_err val_tlsalpn01(const struct anvil_config *cfg,
    const struct val_ident *id, const struct val_addr *ip,
    const char *key_authz, int64_t deadline, char *detail, size_t detaillen);

/* "_" + 16 base32 characters + NUL. */
#define VAL_ACCOUNT_LABEL 18

/* The dns-account-01 label of an account URL (dns01.c). */
anvil_err val_account_label(const char *account_url,
    char out[VAL_ACCOUNT_LABEL]);

/* What a dns-persist-01 record must say: one of issuers (borrowed), the
 * account's URL, policy=wildcard for a wildcard; persistUntil not before
 * now (seconds since the epoch). */
struct val_persist_req {
	const char *const *issuers;
	size_t nissuers;
	const char *account_url;
	int wildcard;
	long long now;
};

anvil_err val_dnsaccount01(const struct anvil_config *cfg, const char *name,
    const char *account_url, const char *key_authz, int64_t deadline,
    char *detail, size_t detaillen);
anvil_err val_dnspersist01(const struct anvil_config *cfg, const char *name,
    const struct val_persist_req *q, int64_t deadline, char *detail,
    size_t detaillen);

/* The CAA check under deadline (caa.c); see val_caa_check. */
anvil_err val_caa(const struct anvil_config *cfg, const char *name,
    const struct val_caa_req *q, int64_t deadline, char *detail,
    size_t detaillen);

/*
 * Internal entry points of the checkers, split out so the fuzz targets
 * (tests/fuzz) reach the code that reads peer-supplied bytes without a
 * network.
 *
 * val_tlsalpn01_check_der: the checks on the tls-alpn-01 certificate the
 * peer presented (DER, len bytes): exactly one subjectAltName naming id
 * (ip NULL for a dns identifier), one critical acmeIdentifier extension
 * holding the 32 bytes of digest (SHA-256 of the key authorization).
 *
 * val_dns01_answer: the checks on unbound's TXT answer for qname: one of
 * the records must be exactly expected (base64url of the digest, 43
 * characters). res is borrowed.
 */
anvil_err val_tlsalpn01_check_der(const unsigned char *der, size_t len,
    const struct val_ident *id, const struct val_addr *ip,
    const unsigned char *digest, char *detail, size_t detaillen);
anvil_err val_dns01_answer(const struct ub_result *res, const char *qname,
    const char *expected, char *detail, size_t detaillen);
/* val_persist_answer: the dns-persist-01 checks on unbound's TXT answer
 * for qname: one record must authorize q. res is borrowed. */
anvil_err val_persist_answer(const struct ub_result *res, const char *qname,
    const struct val_persist_req *q, char *detail, size_t detaillen);

#endif
