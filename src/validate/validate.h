/*
 * validate.h - ACME challenge validation: http-01 (libcurl, GnuTLS
 * flavour), dns-01 (libunbound), tls-alpn-01 (GnuTLS client, libtasn1 for
 * the acmeIdentifier extension). RFC 8555 §8, RFC 8737, RFC 8738.
 *
 * Each check is synchronous and bounded by cfg->timeout; the caller runs
 * it after the HTTP response has been sent. Ports, resolver, timeout and
 * denied networks come from the [validation] section of the config.
 */
#ifndef ANVIL_VALIDATE_VALIDATE_H
#define ANVIL_VALIDATE_VALIDATE_H

#include <stddef.h>

#include "core/conf.h"
#include "core/error.h"

enum val_type { VAL_HTTP01 = 0, VAL_DNS01, VAL_TLSALPN01, VAL_DNSACCOUNT01,
	VAL_DNSPERSIST01 };

/* "http-01", "dns-01", "tls-alpn-01", "dns-account-01", "dns-persist-01". */
const char *val_type_name(enum val_type t);
/* Parses a challenge type name; -1 if unknown. */
int val_type_parse(const char *s);

/* One identifier: type "dns" (value a lower-case name; for a wildcard
 * order the caller passes the base name without "*.") or "ip" (textual
 * IPv4 or IPv6 address). */
struct val_ident {
	const char *type;
	const char *value;
	const char *account_url;	/* dns-account-01, dns-persist-01 */
	int wildcard;			/* dns-persist-01: "*." + value */
};

/*
 * Validates one challenge. key_authz is token "." thumbprint.
 * dns-account-01 and dns-persist-01 need id->account_url; dns-persist-01
 * takes its issuer domain names from cfg->caa_identities.
 * Returns ANVIL_OK when the challenge is met. Otherwise returns one of
 * ANVIL_ERR_CONNECTION, ANVIL_ERR_DNS, ANVIL_ERR_INCORRECT, ANVIL_ERR_TLS,
 * ANVIL_ERR_UNAUTHORIZED (e.g. a denied network, or a redirect to a
 * disallowed place), ANVIL_ERR_MALFORMED (bad arguments), and writes into
 * detail (detaillen bytes) one sentence a person can act on, e.g.
 * "127.0.0.1:5002: connection refused" or "the TXT records at
 * _acme-challenge.example.org do not include the expected value". The
 * detail is shown to the ACME client, which is the party that must fix its
 * setup: its words are ours, one wording per class of failure (timeout,
 * connection refused, TLS handshake, DNS answer, ...), so clients read the
 * same text whichever library version answered; the libraries' own error
 * text goes to the log. Never secrets, and never what an http-01 or
 * tls-alpn-01 peer sent (body, headers, Location, certificate names): the
 * peer may be one the client cannot reach itself.
 */
anvil_err val_check(const struct anvil_config *cfg, enum val_type type,
    const struct val_ident *id, const char *token, const char *key_authz,
    char *detail, size_t detaillen);

/*
 * CAA (RFC 8659, RFC 8657). What one decision needs: the CA's identities
 * (anvil.conf caa_identities; none: CAA is not checked), the URL of the
 * account asking, the challenge type that validated the authorization,
 * and whether the name is for a wildcard. All borrowed.
 */
struct val_caa_req {
	const char *const *identities;
	size_t nidentities;
	const char *account_uri;
	const char *method;
	int wildcard;
};

/*
 * Decides on the relevant CAA record set of one name: n records, each
 * rdata[i] (len[i] bytes, wire form of RFC 8659 §4.1.1) found at owner.
 * ANVIL_OK if issuance is permitted; ANVIL_ERR_CAA with detail naming the
 * record that forbids it (an unknown critical tag, a malformed record, or
 * no issue/issuewild property that authorizes this CA for this account
 * and validation method).
 */
anvil_err val_caa_decide(const struct val_caa_req *q, const char *owner,
    const unsigned char *const *rdata, const size_t *len, size_t n,
    char *detail, size_t detaillen);

/*
 * The CAA check of name (a dns identifier without "*."), through the
 * resolver of cfg: the relevant record set (RFC 8659 §3, climbing to the
 * parents) and val_caa_decide. ANVIL_OK when permitted or when
 * q->nidentities is 0; ANVIL_ERR_CAA when forbidden, and when the lookup
 * fails (SERVFAIL, timeout, an answer DNSSEC finds bogus).
 */
anvil_err val_caa_check(const struct anvil_config *cfg, const char *name,
    const struct val_caa_req *q, char *detail, size_t detaillen);

#endif
