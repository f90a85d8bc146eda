/*
 * publish.h - what anvil-crl runs: gathers from the store what the CA core
 * signs, and publishes the result into the served folder. Sits above
 * src/ca and src/store, which know nothing of each other: the CA core is
 * handed plain entries (struct ca_revoked), never a transaction.
 */
#ifndef ANVIL_PUBLISH_PUBLISH_H
#define ANVIL_PUBLISH_PUBLISH_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/error.h"

struct store;
struct store_txn;

/*
 * Builds the CRL of CA generation ca from the store inside txn
 * (borrowed): raises the store's "crl_number" counter (generation g >= 2:
 * "crl.g<g>"), lists every revoked certificate that generation issued
 * (records with "revoked": {"time": seconds, "reason": n}) and has
 * ca_crl_build sign them; thisUpdate now, nextUpdate now + cfg->crl_validity_hours. A
 * malformed revocation record is ANVIL_ERR_CORRUPT. Caller owns *out
 * (ca_crl_free); the caller's transaction must commit for the number to
 * stay spent.
 */
anvil_err publish_crl_from_store(struct ca *ca, struct store_txn *txn,
    const struct anvil_config *cfg, time_t now, struct ca_crl **out,
    char *err, size_t errlen);

/*
 * publish_crl_from_store in a transaction of its own on st (borrowed),
 * retried as store_run retries. On failure err holds the most telling
 * reason (the build's, else the store's) and *out is NULL. Caller owns
 * *out (ca_crl_free).
 */
anvil_err publish_crl_build(struct store *st, struct ca *ca,
    const struct anvil_config *cfg, time_t now, struct ca_crl **out,
    char *err, size_t errlen);

/*
 * Writes dir/anvil.crl (DER), dir/anvil.crl.pem, dir/ca.crt (DER) and
 * dir/ca.pem, mode 0644, each by a temporary file and rename so a reader
 * never sees half a file. Everything borrowed. Returns the first failing
 * step's error; files written before it stay.
 */
anvil_err publish_crl_write(const char *dir, const struct ca *ca,
    const struct ca_crl *crl, char *err, size_t errlen);

/*
 * The first certificate of pem as DER into path (0644), by a temporary
 * file and rename: ca.crt, and a later CA generation's cross-certificate.
 */
anvil_err publish_cert_der_write(const char *path, const char *pem,
    char *err, size_t errlen);

/*
 * The name of the certificate a CA generation's certificates name in AIA
 * caIssuers: base ([issuance] ca_issuers_url, or a file name; NULL or ""
 * is "ca.crt") itself for generation 1; for generation g >= 2 its last
 * path segment less its extension, then "-g<g>-cross.crt": the
 * cross-certificate, the issuer on the default chain up to ca.pem.
 * ANVIL_ERR_INVALID for gen 0, an empty stem or out too small.
 */
anvil_err publish_issuer_name(const char *base, unsigned gen, char *out,
    size_t outlen);

/*
 * The CRL crl of CA generation ca into dir: generation 1 as
 * publish_crl_write; a later one as util_crl_name of crl_url's stem for
 * it, DER and ".pem" beside it, and its cross-certificate
 * (DER) as publish_issuer_name of ca_issuers_url's last segment. The
 * CRL's DER path into path.
 */
anvil_err publish_crl_write_gen(const char *dir,
    const struct anvil_config *cfg, const struct ca *ca,
    const struct ca_crl *crl, char *path, size_t pathlen, char *err,
    size_t errlen);

/*
 * Every CRL of one anvil-crl run (issue 20 part 2): the full CRL, and
 * with [crl] shards > 1 one CRL per shard, shard[k - 1] for shard k, each
 * with a critical IssuingDistributionPoint naming its URL
 * (util_crl_url) and a CRLNumber of its own.
 */
struct publish_crls {
	struct ca_crl *full;
	unsigned nshards;		/* 0: unsharded */
	struct ca_crl **shard;
};

/* Frees s; NULL is a no-op. */
void publish_crls_free(struct publish_crls *s);

/*
 * publish_crl_from_store, and in the same transaction each shard's CRL:
 * raises its counter "crl.g<generation>.s<k>", and lists the revoked
 * certificates whose record names shard k (rec_cert_crl_shard; those with
 * none are in the full CRL only). Shards 1..[crl] shards are signed, and
 * beyond that every shard signed before or named by a revoked record, so
 * lowering the count leaves no URL without a current CRL. Caller owns
 * *out (publish_crls_free).
 */
anvil_err publish_crls_from_store(struct ca *ca, struct store_txn *txn,
    const struct anvil_config *cfg, time_t now, struct publish_crls **out,
    char *err, size_t errlen);

/* publish_crls_from_store in a transaction of its own, as
 * publish_crl_build. */
anvil_err publish_crls_build(struct store *st, struct ca *ca,
    const struct anvil_config *cfg, time_t now, struct publish_crls **out,
    char *err, size_t errlen);

/*
 * Writes each shard's CRL into dir as util_crl_name (S-s<k>.crl or, for
 * a CA generation g >= 2, S-g<g>-s<k>.crl; DER, and .pem beside it), then
 * the full CRL: generation 1 as publish_crl_write does, and also as S.crl
 * (and .pem) when crl_url's stem S is not "anvil"; a later generation as
 * publish_crl_write_gen, whose path it returns. Each file by a temporary
 * file and rename.
 */
anvil_err publish_crls_write(const char *dir, const struct ca *ca,
    const struct anvil_config *cfg, const struct publish_crls *s, char *path,
    size_t pathlen, char *err, size_t errlen);

/*
 * Makes the publish folder dir (0755) and takes the lock
 * data_dir/anvil-crl.lock, waiting for another anvil-crl to finish, so
 * runs on one store, into one folder or two, write in CRL number order.
 * Returns the locked descriptor, which the caller closes when done, or
 * -1 with err set.
 */
int publish_lock(const char *data_dir, const char *dir, char *err,
    size_t errlen);

/*
 * Counts the unexpired certificates (not_after at or after now) of each
 * CA generation into counts[gen] (counts[0]: records whose generation is
 * malformed or above CA_MAX_GENERATIONS). A generation with none left
 * may retire (ca_gens_retire).
 */
anvil_err publish_gens_live(struct store *st, time_t now,
    size_t counts[CA_MAX_GENERATIONS + 1], char *err, size_t errlen);

/* ---------------------------------------------------------------- OCSP */

/*
 * The answer to the DER OCSPRequest der (borrowed) from the store st:
 * good, revoked (time, reason) or unknown per CertID, signed by s (NULL:
 * no signer, tryLater), nextUpdate now + [ocsp] validity_hours into
 * *next_update (0 for an error answer). Every outcome is an OCSPResponse
 * in *out (malloc'ed): a request that is not one is malformedRequest,
 * another issuer's unauthorized, a store failure tryLater. Returns
 * ANVIL_OK, or ANVIL_ERR_NOMEM with *out NULL.
 */
anvil_err publish_ocsp_answer(struct store *st, const struct ca_ocsp_signer *s,
    const struct anvil_config *cfg, const unsigned char *der, size_t len,
    time_t now, unsigned char **out, size_t *outlen, time_t *next_update);

/*
 * Writes the pre-signed answers for certificate serial (record rec,
 * borrowed) under dir: one per CertID hash (SHA-1, SHA-256), at the path
 * of the base64 of the request an RFC 5019 client sends, by temporary
 * file and rename. Used by anvil-crl and at once after a revocation.
 */
anvil_err publish_ocsp_presign(const struct ca *ca,
    const struct ca_ocsp_signer *s, const struct anvil_config *cfg,
    const char *dir, const char *serial, json_t *rec, time_t now, char *err,
    size_t errlen);

/*
 * Pre-signs every unexpired certificate of st into dir, signs again any
 * revoked meanwhile, then removes answers older than now (expired
 * certificates). Counts into *written and *removed. Shows how far it is
 * on pg (may be NULL; see src/core/progress.h).
 */
struct progress;
anvil_err publish_ocsp_presign_all(struct store *st, const struct ca *ca,
    const struct ca_ocsp_signer *s, const struct anvil_config *cfg,
    const char *dir, time_t now, struct progress *pg, size_t *written,
    size_t *removed, char *err, size_t errlen);

/*
 * After a revocation of serial (record rec, borrowed): loads the signer
 * of cfg and pre-signs that certificate's answers into [ocsp] dir, so the
 * web server never serves the old good one. Logs and returns the error;
 * the revocation itself stands either way.
 */
anvil_err publish_ocsp_refresh(const struct anvil_config *cfg, struct ca *ca,
    const char *serial, json_t *rec, time_t now);

#endif
