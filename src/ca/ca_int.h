/*
 * ca_int.h - private to src/ca: the structures behind ca.h's opaque types.
 * Nothing outside src/ca includes this file.
 */
#ifndef ANVIL_CA_CA_INT_H
#define ANVIL_CA_CA_INT_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ca/ca.h"

struct ca {
	gnutls_privkey_t key;		/* file key or PKCS#11 object */
	gnutls_x509_crt_t cert;
	char *cert_pem;
	unsigned char key_id[64];	/* subjectKeyIdentifier of the CA */
	size_t key_id_len;
	gnutls_digest_algorithm_t dig;	/* hash for signing with key */
	unsigned gen;			/* 1: [ca] key_file and cert_file */
	char *cross_pem;		/* gen >= 2: this key certified by the
					 * previous generation's key */
	time_t cross_not_after;		/* gen >= 2: the cross-certificate's */
	char *chain_pem;		/* gen >= 2: cross_pem and the older
					 * generation's default chain */
	int retired;			/* signs nothing any more */
	struct ca *older;		/* the previous generation, or NULL */
};

struct ca_csr {
	gnutls_x509_crq_t crq;
	gnutls_pubkey_t pub;
	gnutls_pk_algorithm_t pk;
};

/*
 * Calls a GnuTLS function; on a negative return logs and records it with
 * ca_gnutls_err and jumps to out. Needs locals ret, rc, err, errlen.
 */
#define CA_TRY(call, ...)                                                      \
	do {                                                                   \
		if ((ret = call(__VA_ARGS__)) < 0) {                           \
			rc = ca_gnutls_err(err, errlen, #call, ret);           \
			goto out;                                              \
		}                                                              \
	} while (0)

/* Logs "call: gnutls_strerror(ret)" and writes the same into err. */
anvil_err ca_gnutls_err(char *err, size_t errlen, const char *call, int ret);

/* The SHA-1 key identifier (RFC 5280 method 1) of pub into id. */
anvil_err ca_key_id(gnutls_pubkey_t pub, unsigned char *id, size_t *len);

/* 1 if the certificate's public key is pub. */
int ca_cert_has_key(gnutls_x509_crt_t crt, gnutls_pubkey_t pub);

/*
 * Gives the files in paths (NULL-terminated) to data_dir's owner when
 * run as root and data_dir is not root's: what anvil-admin and cron
 * make, the web server's anvil, which owns data_dir, must read (a key
 * is 0600). A failure is logged, not fatal.
 */
void ca_own_like_data_dir(const struct anvil_config *cfg,
    const char *const *paths);

/* Writes k as plain PKCS#8 PEM to path, 0600, by temporary file and
 * rename. */
anvil_err ca_write_key_file(gnutls_x509_privkey_t k, const char *path,
    char *err, size_t errlen);

/* Sets ca->dig and ca->key_id from ca->key; its public key into *pubout
 * (caller gnutls_pubkey_deinit). */
anvil_err ca_key_facts(struct ca *ca, gnutls_pubkey_t *pubout, char *err,
    size_t errlen);

/* ca->cert_pem from ca->cert. */
anvil_err ca_cert_to_pem(struct ca *ca, char *err, size_t errlen);

/* The PEM key at path into ca->key; the PEM certificate at path into
 * ca->cert. */
anvil_err ca_load_key_file(struct ca *ca, const char *path, char *err,
    size_t errlen);
anvil_err ca_load_cert_file(struct ca *ca, const char *path, char *err,
    size_t errlen);

/* ca_load_or_generate with data_dir/ca.lock already held. */
anvil_err ca_load_locked(const struct anvil_config *cfg, struct ca **out,
    char *err, size_t errlen);

/* Loads the generations after generation 1 (*head) that data_dir/cas.json
 * names, linking each in front: *head is then the newest. Lock held. */
anvil_err ca_gens_load(const struct anvil_config *cfg, struct ca **head,
    char *err, size_t errlen);

/* Takes an exclusive lock on data_dir/ca.lock; returns the fd (caller
 * closes) or -1 with err set. */
int ca_lock(const struct anvil_config *cfg, char *err, size_t errlen);

/* The libtasn1 definitions of pkix.asn, parsed once per process. */
struct asn1_node_st;
anvil_err ca_asn1_defs(struct asn1_node_st **out);

#endif
