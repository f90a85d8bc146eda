/*
 * ca.h - the certificate authority core: CA key and certificate (load or
 * generate), CSR validation, end-entity issuance, CRL, OCSP responses.
 *
 * Built on GnuTLS; libtasn1 builds what GnuTLS cannot (CRL entry reason
 * codes). The CA key may be a file or a PKCS#11 URL that GnuTLS opens, in
 * which case it never leaves the token.
 */
#ifndef ANVIL_CA_CA_H
#define ANVIL_CA_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "core/conf.h"
#include "core/error.h"
#include "core/keytype.h"

/* Generates a new private key of type t (caller gnutls_x509_privkey_deinit). */
anvil_err ca_key_generate(enum keytype t, gnutls_x509_privkey_t *out,
    char *err, size_t errlen);

struct ca;

/*
 * The CA of cfg: key at cfg->key_file, certificate at cfg->cert_file.
 * - neither present: generates a key of cfg->key_type and a self-signed CA
 *   certificate (profile in architecture.md §3) and writes both, the key
 *   0600, each by temporary file and rename, under a lock so two processes
 *   never both generate;
 * - both present: loads them and checks that they belong together
 *   (ANVIL_ERR_MISMATCH otherwise);
 * - only one present: ANVIL_ERR_PARTIAL naming the missing file.
 * A pkcs11: URL as key_file is opened through GnuTLS; the key must already
 * be on the token, and a missing certificate is created for it.
 * Then the later generations data_dir/cas.json names (ca_rollover), each
 * checked against its key and its predecessor: *out is the newest.
 * Caller owns *out (ca_free).
 */
anvil_err ca_load_or_generate(const struct anvil_config *cfg, struct ca **out,
    char *err, size_t errlen);

/* Frees ca; NULL is a no-op. */
void ca_free(struct ca *ca);

/* Borrowed CA certificate, valid until ca_free. */
gnutls_x509_crt_t ca_cert_peek(const struct ca *ca);

/* Borrowed PEM of the CA certificate (NUL-terminated). */
const char *ca_cert_pem_peek(const struct ca *ca);

/* Borrowed CA private key. */
gnutls_privkey_t ca_key_peek(const struct ca *ca);

/* Borrowed key identifier the CA puts in every certificate's Authority
 * Key Identifier (RFC 9773 §4.1 names certificates by it); *len set. */
const unsigned char *ca_key_id_peek(const struct ca *ca, size_t *len);

/* ---------------------------------------------------------- generations */

/*
 * A CA has generations (issue 20 part 3, CA rollover): 1 is [ca] key_file
 * and cert_file; a later one g is a new key and self-signed certificate
 * plus a cross-certificate of that key issued by generation g-1. The
 * newest signs new certificates; older ones sign CRLs and OCSP answers for
 * what they issued until they retire. ca_load_or_generate loads them
 * all and returns the newest; ca_older walks back to generation 1.
 */
#define CA_MAX_GENERATIONS 32

/* The generation of ca (1 for an install that never rolled over). */
unsigned ca_generation(const struct ca *ca);

/* The generation before ca, or NULL (borrowed). */
struct ca *ca_older(const struct ca *ca);

/* Generation gen of the chain ca belongs to (ca or older), or NULL. */
struct ca *ca_generation_get(const struct ca *ca, unsigned gen);

/* The generation (ca or older) whose key identifier is kid, or NULL. */
struct ca *ca_generation_by_key_id(const struct ca *ca,
    const unsigned char *kid, size_t len);

/* 1 when generation ca is retired: it signs no CRL or OCSP answer. */
int ca_retired(const struct ca *ca);

/* notAfter of the cross-certificate generation ca (>= 2) holds from the
 * generation before it, which must not retire before then; 0 for
 * generation 1. */
time_t ca_cross_not_after(const struct ca *ca);

/* Marks generation ca retired in memory, after ca_gens_retire. */
void ca_set_retired(struct ca *ca);

/*
 * The chains above a certificate of generation ca (RFC 8555 §7.4.2):
 * ca_chain_count of them; chain 0 is the default one, which ends at the
 * root of generation 1 (generation 1: its certificate; later: the
 * cross-certificates of each generation down to 2, then generation 1's
 * certificate), chain 1 the self-signed certificate of a later
 * generation. Borrowed PEM, or NULL for which >= ca_chain_count.
 */
unsigned ca_chain_count(const struct ca *ca);
const char *ca_chain_pem_peek(const struct ca *ca, unsigned which);

/*
 * Makes generation g+1 of the CA of cfg whose newest is g: a key of
 * [ca] key_type (data_dir/ca-g<g+1>.key, 0600), a self-signed certificate
 * named common_name + " G<g+1>" (ca-g<g+1>.pem), a cross-certificate of
 * it issued by generation g (ca-g<g+1>-cross.pem), then data_dir/cas.json
 * naming it the newest; under the CA lock. *newgen set on success.
 */
anvil_err ca_rollover(const struct anvil_config *cfg, unsigned *newgen,
    char *err, size_t errlen);

/*
 * Marks generation gen retired in data_dir/cas.json, under the CA lock:
 * it signs no CRL or OCSP answer any more (anvil-crl retires a generation
 * once every certificate it issued has expired). The newest cannot
 * retire. ANVIL_ERR_INVALID naming the generation.
 */
anvil_err ca_gens_retire(const struct anvil_config *cfg, unsigned gen,
    char *err, size_t errlen);

/* Changes whenever data_dir/cas.json is replaced (0: none): a process
 * that loaded the CA reloads it when this differs (a rollover). */
unsigned long long ca_gens_stamp(const struct anvil_config *cfg);

/* The text of a cas.json (path names it in errors): the newest
 * generation, and the retired ones as bit g-1 of *retired.
 * ANVIL_ERR_CONFIG naming path and what is wrong. */
anvil_err ca_gens_parse(const char *path, const char *text, size_t len,
    unsigned *newest, uint32_t *retired, char *err, size_t errlen);

/* ---------------------------------------------------------------- CSR */

enum ca_ident_type { CA_IDENT_DNS = 0, CA_IDENT_IP };

/* One order identifier, already normalised (dns: lower case A-labels). */
struct ca_ident {
	enum ca_ident_type type;
	const char *value;	/* "example.org", "*.example.org", "192.0.2.1",
				 * "2001:db8::1" */
};

/* The ten CSR checks, in the order they run. */
enum ca_csr_check {
	CA_CSR_PARSE = 1,	/* DER parses as one PKCS#10 request */
	CA_CSR_VERSION,		/* version is v1 (0) */
	CA_CSR_SIGNATURE,	/* self-signature verifies */
	CA_CSR_KEY,		/* key type and size acceptable */
	CA_CSR_ACCOUNT_KEY,	/* key differs from the account key */
	CA_CSR_EXTENSIONS,	/* extensionRequest attribute readable */
	CA_CSR_BASIC_CONSTRAINTS, /* no basicConstraints cA=TRUE */
	CA_CSR_SAN,		/* subjectAltName present, only dNSName and
				 * iPAddress entries, each well formed */
	CA_CSR_SAN_IN_ORDER,	/* every SAN and the CN is an order identifier
				 * of the same type */
	CA_CSR_ORDER_IN_SAN	/* every order identifier is in the SAN */
};

/* "parse", "version", ... for messages. */
const char *ca_csr_check_name(enum ca_csr_check c);

struct ca_csr;

/*
 * Runs the ten checks on a DER PKCS#10 request against the order's
 * identifiers. account_spki (DER SubjectPublicKeyInfo of the account key,
 * may be NULL to skip check 5) is borrowed. On failure returns
 * ANVIL_ERR_BADCSR, sets *failed (if not NULL) to the check that failed and
 * writes "CSR check N (name): detail" into err. Caller owns *out.
 */
anvil_err ca_csr_check(const unsigned char *der, size_t len,
    const struct ca_ident *ids, size_t nids, const unsigned char *account_spki,
    size_t account_spki_len, struct ca_csr **out, enum ca_csr_check *failed,
    char *err, size_t errlen);

/* Frees csr; NULL is a no-op. */
void ca_csr_free(struct ca_csr *csr);

/* ---------------------------------------------------------------- issuance */

/* Extended key usages of an end-entity certificate. */
#define CA_EKU_SERVER 0x1	/* id-kp-serverAuth */
#define CA_EKU_CLIENT 0x2	/* id-kp-clientAuth */

struct ca_issue_params {
	unsigned validity_days;
	unsigned validity_hours;	/* when not 0, used instead of days */
	const char *crl_url;		/* NULL or "": no CRLDistributionPoints */
	unsigned crl_shards;		/* > 1: CRLDP names the serial's shard */
	const char *ocsp_url;		/* NULL or "": no OCSP in AIA */
	const char *ca_issuers_url;	/* NULL or "": no caIssuers in AIA */
	int rsa_key_encipherment;	/* keyEncipherment for RSA leaf keys */
	unsigned eku;			/* CA_EKU_* bits; 0 means CA_EKU_SERVER */
	int no_subject_cn;		/* empty subject: the SAN names it all */
	time_t now;			/* notBefore; 0 means time(NULL) */
};

/* Fills p from cfg's [issuance] section (strings borrowed from cfg). */
void ca_issue_params_from_config(const struct anvil_config *cfg,
    struct ca_issue_params *p);

/*
 * Fills p from cfg's [issuance] section, then takes the lifetime, key
 * usage, extended key usage and subject CN choice from profile (borrowed,
 * one of cfg's profiles): every profile shares the end-entity base of
 * ca_issue and differs from it only there.
 */
void ca_issue_params_from_profile(const struct anvil_config *cfg,
    const struct config_profile *profile, struct ca_issue_params *p);

struct ca_issued {
	unsigned char serial[16];	/* random, high bit clear */
	char serial_hex[33];		/* lower-case hex of serial */
	time_t not_before;
	time_t not_after;
	char *pem;			/* the leaf only, PEM */
	char *chain_pem;		/* leaf then default chain, PEM */
	unsigned char *der;		/* the leaf, DER */
	size_t der_len;
	unsigned crl_shard;		/* its CRL shard, 0: none (full CRL) */
};

/*
 * Issues an end-entity certificate for a checked CSR and the order's
 * identifiers (SAN rebuilt from ids, never copied from the CSR). With
 * p->crl_shards > 1 its CRLDistributionPoints is its shard's URL
 * (util_crl_shard_of its serial, util_crl_url), else p->crl_url. Caller
 * owns *out (ca_issued_free).
 */
anvil_err ca_issue(struct ca *ca, const struct ca_csr *csr,
    const struct ca_ident *ids, size_t nids, const struct ca_issue_params *p,
    struct ca_issued **out, char *err, size_t errlen);

/* Frees an issued certificate; NULL is a no-op. */
void ca_issued_free(struct ca_issued *c);

/* ---------------------------------------------------------------- CRL */

/* RFC 5280 CRLReason values (7 is unused). */
enum ca_crl_reason {
	CA_REASON_UNSPECIFIED = 0,
	CA_REASON_KEY_COMPROMISE = 1,
	CA_REASON_CA_COMPROMISE = 2,
	CA_REASON_AFFILIATION_CHANGED = 3,
	CA_REASON_SUPERSEDED = 4,
	CA_REASON_CESSATION_OF_OPERATION = 5,
	CA_REASON_CERTIFICATE_HOLD = 6,
	CA_REASON_REMOVE_FROM_CRL = 8,
	CA_REASON_PRIVILEGE_WITHDRAWN = 9,
	CA_REASON_AA_COMPROMISE = 10
};

/* 1 if r is a valid CRLReason value (0-6, 8-10). */
int ca_crl_reason_valid(int r);

struct ca_revoked {
	unsigned char serial[20];
	size_t serial_len;
	time_t when;
	int reason;		/* enum ca_crl_reason; 0 is written as no reasonCode */
};

struct ca_crl {
	uint64_t number;
	time_t this_update;
	time_t next_update;
	unsigned char *der;
	size_t der_len;
	char *pem;
};

/*
 * Builds and signs a v2 CRL: issuer the CA subject, one entry per element
 * of revoked with its time and (if non-zero) reasonCode, CRLNumber number,
 * AuthorityKeyIdentifier, thisUpdate and nextUpdate as given. Caller owns
 * *out (ca_crl_free).
 */
anvil_err ca_crl_build(struct ca *ca, const struct ca_revoked *revoked,
    size_t n, uint64_t number, time_t this_update, time_t next_update,
    struct ca_crl **out, char *err, size_t errlen);

/* The longest IssuingDistributionPoint URL ca_crl_build_idp takes. */
#define CA_CRL_IDP_URL_MAX 2000

/*
 * As ca_crl_build, with a critical IssuingDistributionPoint (RFC 5280
 * 5.2.5) whose distributionPoint is the fullName URI idp_url (printable
 * ASCII, at most CA_CRL_IDP_URL_MAX) and onlyContainsUserCerts TRUE: the
 * CRL of one shard, which a relying party takes for a certificate only
 * when it names idp_url in its CRLDistributionPoints. idp_url NULL:
 * ca_crl_build (no IDP: a complete CRL of every certificate).
 */
anvil_err ca_crl_build_idp(struct ca *ca, const struct ca_revoked *revoked,
    size_t n, uint64_t number, time_t this_update, time_t next_update,
    const char *idp_url, struct ca_crl **out, char *err, size_t errlen);

/* Frees a CRL; NULL is a no-op. */
void ca_crl_free(struct ca_crl *crl);

/* ---------------------------------------------------------------- OCSP */

/* RFC 6960 4.2.1 OCSPResponseStatus. */
enum ca_ocsp_status {
	CA_OCSP_SUCCESSFUL = 0,
	CA_OCSP_MALFORMED = 1,
	CA_OCSP_INTERNAL = 2,
	CA_OCSP_TRY_LATER = 3,
	CA_OCSP_SIG_REQUIRED = 5,
	CA_OCSP_UNAUTHORIZED = 6
};

#define CA_OCSP_MAX_CERTIDS 16		/* CertIDs in one request */
#define CA_OCSP_MAX_EXTENSIONS 8	/* requestExtensions read */
#define CA_OCSP_MAX_NONCE 32		/* RFC 8954 2.1 */
#define CA_OCSP_MAX_REQUEST 8192	/* bytes of DER */

/* One CertID of a request for this CA (hashes already matched). */
struct ca_ocsp_certid {
	gnutls_digest_algorithm_t dig;	/* GNUTLS_DIG_SHA1 or _SHA256 */
	unsigned char serial[20];	/* INTEGER content as sent */
	size_t serial_len;
};

struct ca_ocsp_req {
	struct ca_ocsp_certid ids[CA_OCSP_MAX_CERTIDS];
	size_t n;
	unsigned char nonce[CA_OCSP_MAX_NONCE + 2]; /* extnValue as sent */
	size_t nonce_len;		/* 0: no nonce */
};

enum ca_ocsp_cert_status { CA_OCSP_GOOD, CA_OCSP_REVOKED, CA_OCSP_UNKNOWN };

struct ca_ocsp_single {
	const struct ca_ocsp_certid *id;	/* borrowed */
	enum ca_ocsp_cert_status status;
	time_t revoked_at;
	int reason;			/* CRLReason; 0: none written */
};

/* What signs responses: the delegated responder, or the CA itself. */
struct ca_ocsp_signer;

/*
 * The signer of cfg's [ocsp]: with sign_with_ca the CA key and
 * certificate (borrowed from ca, which must outlive it); else the
 * responder key and certificate files, issued at now by
 * ca_ocsp_responder_issue when neither exists; exactly one present is
 * ANVIL_ERR_PARTIAL, a pair that does not match or that the CA did not
 * issue ANVIL_ERR_MISMATCH. The responder files belong to generation 1:
 * for a later generation ca (ca_rollover) its own key signs.
 * Caller owns *out (ca_ocsp_signer_free).
 */
anvil_err ca_ocsp_signer_load(const struct anvil_config *cfg, struct ca *ca,
    time_t now, struct ca_ocsp_signer **out, char *err, size_t errlen);

/* Frees s; NULL is a no-op. */
void ca_ocsp_signer_free(struct ca_ocsp_signer *s);

/* notAfter of the signing certificate. */
time_t ca_ocsp_signer_not_after(const struct ca_ocsp_signer *s);

/* 1 when the CA key signs (sign_with_ca). */
int ca_ocsp_signer_by_ca(const struct ca_ocsp_signer *s);

/* The CA generation s answers for (ca_generation of the CA it was loaded
 * for); a certificate of another generation is not its to answer. */
unsigned ca_ocsp_signer_gen(const struct ca_ocsp_signer *s);

/*
 * Issues a new delegated responder (RFC 6960 4.2.2.2: id-kp-OCSPSigning,
 * id-pkix-ocsp-nocheck, lifetime [ocsp] responder_validity_days): a new
 * key of [ca] key_type (or the key at a pkcs11: responder_key) and its
 * certificate, written over cfg's responder files (key 0600) under the CA
 * lock. Responses signed by the previous one stay verifiable until its
 * certificate expires.
 */
anvil_err ca_ocsp_responder_issue(const struct anvil_config *cfg,
    struct ca *ca, time_t now, char *err, size_t errlen);

/*
 * Reads a DER OCSPRequest (borrowed) into r. Returns CA_OCSP_SUCCESSFUL,
 * CA_OCSP_MALFORMED (not DER, not v1, no CertID or more than
 * CA_OCSP_MAX_CERTIDS, a nonce outside RFC 8954's 1 to 32 octets, an
 * unknown critical extension) or CA_OCSP_UNAUTHORIZED (a CertID of
 * another issuer or hash algorithm than SHA-1/SHA-256). Never fails on
 * input otherwise.
 */
int ca_ocsp_req_parse(const struct ca_ocsp_signer *s, const unsigned char *der,
    size_t len, struct ca_ocsp_req *r);

/* The serial of id as lower-case hex without leading zero bytes (the
 * store's key); "" if outlen is too small (2 * 20 + 1 is enough). */
void ca_ocsp_serial_hex(const struct ca_ocsp_certid *id, char *out,
    size_t outlen);

/*
 * Builds and signs an OCSPResponse (successful, BasicOCSPResponse) with
 * one SingleResponse per element of v, producedAt and thisUpdate now,
 * nextUpdate next_update, the nonce extnValue echoed when nonce_len > 0.
 * *der is malloc'ed (caller frees).
 */
anvil_err ca_ocsp_resp_build(const struct ca_ocsp_signer *s,
    const struct ca_ocsp_single *v, size_t n, const unsigned char *nonce,
    size_t nonce_len, time_t now, time_t next_update, unsigned char **der,
    size_t *len, char *err, size_t errlen);

/* The 5-byte OCSPResponse of an error status (malloc'ed). */
anvil_err ca_ocsp_resp_error(int status, unsigned char **der, size_t *len);

/*
 * The request an RFC 5019 client sends for the certificate cert_pem
 * issued by issuer: one CertID with hash dig, no nonce, no extension
 * (GnuTLS builds it as its own clients do). *der malloc'ed.
 */
anvil_err ca_ocsp_req_for(gnutls_x509_crt_t issuer, const char *cert_pem,
    gnutls_digest_algorithm_t dig, unsigned char **der, size_t *len);

#endif
