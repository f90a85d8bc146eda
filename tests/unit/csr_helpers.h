/*
 * csr_helpers.h - shared by the CA unit tests: keys, PKCS#10 requests built
 * with GnuTLS's crq API, and small readers for certificates.
 *
 * Every function aborts the running test (cr_assert) when a GnuTLS call it
 * makes fails, so callers need not check results.
 */
#ifndef ANVIL_TESTS_CSR_HELPERS_H
#define ANVIL_TESTS_CSR_HELPERS_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ca/ca.h"

/* Bits argument of th_key for the usual EC curves. */
#define TH_P256 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1)
#define TH_P384 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1)
#define TH_ED25519 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519)

/* A new key (caller gnutls_x509_privkey_deinit). */
gnutls_x509_privkey_t th_key(gnutls_pk_algorithm_t pk, unsigned bits);

/* DER SubjectPublicKeyInfo of key (caller gnutls_free(d.data)). */
gnutls_datum_t th_key_spki(gnutls_x509_privkey_t key);

#define TH_MAX_NAMES 8

/* What a request asks for; unset members are left out of the request. */
struct th_csr {
	const char *cn;			/* subject CN; NULL: empty subject */
	const char *dns[TH_MAX_NAMES];	/* dNSName SANs */
	const char *ip[TH_MAX_NAMES];	/* iPAddress SANs, textual v4/v6 */
	const char *email[TH_MAX_NAMES];	/* rfc822Name SANs */
	const char *uri[TH_MAX_NAMES];	/* uniformResourceIdentifier SANs */
	const unsigned char *raw_ip;	/* one iPAddress SAN of raw_ip_len */
	size_t raw_ip_len;		/* bytes, taken as they are */
	const char *raw_dns;		/* one dNSName SAN of raw_dns_len */
	size_t raw_dns_len;		/* bytes (GnuTLS stops at a NUL) */
	int basic_constraints;		/* 0 none, 1 cA=FALSE, 2 cA=TRUE */
	unsigned key_usage;		/* GNUTLS_KEY_* bits; 0: none */
	const char *eku[TH_MAX_NAMES];	/* key purpose OIDs */
	int must_staple;		/* adds the TLS feature extension */
	unsigned version;		/* 0: v1 as usual; else set_version(n) */
	const unsigned char *raw_extreq; /* if set: the extensionRequest */
	size_t raw_extreq_len;		/* attribute value, as is (no SANs) */
};

/*
 * The DER of a request for key signed by key (SHA-256, or the EdDSA hash).
 * Caller frees d.data with gnutls_free.
 */
gnutls_datum_t th_csr_der(gnutls_x509_privkey_t key, const struct th_csr *c);

/* A certificate parsed from DER or PEM (caller gnutls_x509_crt_deinit). */
gnutls_x509_crt_t th_crt_der(const unsigned char *der, size_t len);
gnutls_x509_crt_t th_crt_pem(const char *pem);

/* 1 if two certificates have the same DER. */
int th_crt_equal(gnutls_x509_crt_t a, gnutls_x509_crt_t b);

/*
 * Verifies leaf against the single trust anchor ca with a
 * gnutls_x509_trust_list (hostname, if not NULL, and the serverAuth
 * purpose included). Returns the verification status (0: trusted).
 */
unsigned th_verify(gnutls_x509_crt_t leaf, gnutls_x509_crt_t ca,
    const char *hostname);

/* Subject key identifier of crt into id (at least 64 bytes); its length. */
size_t th_ski(gnutls_x509_crt_t crt, unsigned char *id);

/* Authority key identifier (key id) of crt, or 0 if absent. */
size_t th_aki(gnutls_x509_crt_t crt, unsigned char *id);

/* 1 if the public key of crt is the public key of key. */
int th_crt_has_key(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key);

/* Asserts that crt carries exactly the extensions (OIDs) in want, once each. */
void th_check_extensions(gnutls_x509_crt_t crt, const char *const *want,
    size_t nwant, const char *what);

/* The 4 or 16 bytes of a textual IPv4 or IPv6 address. */
void th_ip_bytes(const char *text, unsigned char *out, size_t *len);

/*
 * Asserts that the SAN of crt holds exactly ids: each DNS identifier as a
 * dNSName spelt as given, each IP identifier as an iPAddress, nothing else.
 */
void th_check_san(gnutls_x509_crt_t crt, const struct ca_ident *ids,
    size_t nids);

/* Writes len bytes to path (mode 0600); aborts the test on failure. */
void th_write_file(const char *path, const void *data, size_t len);

/* Reads path into a new NUL-terminated buffer (*len without the NUL). */
char *th_read_file(const char *path, size_t *len);

#endif
