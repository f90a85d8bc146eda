/*
 * nonce.c - anti-replay nonces that need no database write to hand out.
 *
 * A nonce is base64url(time (milliseconds since the epoch, 8 bytes
 * big-endian) || random (8) || HMAC-SHA256 of both under a
 * per-installation key (first 16 bytes)). Checking it is a
 * MAC and a clock comparison; only spending writes, once, into the store's
 * spent-nonce table, whose insert-if-absent makes a replay fail even when
 * two processes receive the same nonce at the same instant. Spends are not
 * durable: a nonce issued before a crash of the store is refused
 * (store_nonce_floor), so none whose spend was lost passes twice.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "acme/acme_int.h"
#include "core/log.h"
#include "core/util.h"

#define NONCE_RAW 32

/*
 * The key lives in data_dir/nonce.key (0600). Two processes creating it at
 * once must end with one key: write a temporary file, then link() it into
 * place, which fails if the other won; then read what is there.
 * The temporary file gets a name nobody can guess and is created by
 * mkostemp (O_CREAT|O_EXCL, 0600), so a file or symlink planted beside the
 * key is never opened, truncated or written through.
 */
anvil_err
acme_nonce_key_load(struct acme_ctx *ctx, char *err, size_t errlen)
{
	char *path = util_path_join(ctx->cfg->data_dir, "nonce.key");
	char *tmp = NULL, *buf = NULL;
	unsigned char key[ACME_NONCE_KEY_LEN];
	size_t len = 0;
	anvil_err rc;
	int fd = -1;

	if (path == NULL)
		return errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
	rc = util_read_file(path, ACME_NONCE_KEY_LEN, &buf, &len, err, errlen);
	if (rc == ANVIL_ERR_NOTFOUND) {
		if (util_random(key, sizeof(key)) != ANVIL_OK ||
		    asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
			tmp = NULL;
			rc = errf(err, errlen, ANVIL_ERR_CRYPTO, "nonce key");
			goto out;
		}
		if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", tmp,
			    strerror(errno));
			free(tmp);
			tmp = NULL;	/* nothing of ours to unlink */
			goto out;
		}
		if (write(fd, key, sizeof(key)) != sizeof(key) ||
		    fsync(fd) != 0) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", tmp,
			    strerror(errno));
			goto out;
		}
		if (link(tmp, path) != 0 && errno != EEXIST) {
			rc = errf(err, errlen, ANVIL_ERR_IO, "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		rc = util_read_file(path, ACME_NONCE_KEY_LEN, &buf, &len, err,
		    errlen);
	}
	if (rc != ANVIL_OK)
		goto out;
	if (len != ACME_NONCE_KEY_LEN) {
		rc = errf(err, errlen, ANVIL_ERR_CORRUPT, "%s: %zu bytes, "
		    "expected %d", path, len, ACME_NONCE_KEY_LEN);
		goto out;
	}
	memcpy(ctx->nonce_key, buf, ACME_NONCE_KEY_LEN);
	rc = ANVIL_OK;
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	util_wipe(key, sizeof(key));
	if (buf != NULL)
		util_wipe(buf, len);
	free(buf);
	free(path);
	return rc;
}

static void
nonce_mac(struct acme_ctx *ctx, const unsigned char *msg, unsigned char *mac)
{
	unsigned char full[32];

	gnutls_hmac_fast(GNUTLS_MAC_SHA256, ctx->nonce_key,
	    ACME_NONCE_KEY_LEN, msg, 16, full);
	memcpy(mac, full, 16);
}

char *
acme_nonce_new(struct acme_ctx *ctx)
{
	unsigned char raw[NONCE_RAW];
	int64_t now = util_now_ms(), floor = store_nonce_floor(ctx->st);
	uint64_t t;
	char *out = NULL;
	int i;

	/* A clock behind the store's floor (another host's) would make
	 * nonces that acme_nonce_check refuses; stamp them past it. */
	t = (uint64_t)(now > floor ? now : floor + 1);

	for (i = 0; i < 8; i++)
		raw[i] = (unsigned char)(t >> (56 - 8 * i));
	if (util_random(raw + 8, 8) != ANVIL_OK)
		return NULL;
	nonce_mac(ctx, raw, raw + 16);
	if (b64u_encode(raw, sizeof(raw), &out) != ANVIL_OK)
		return NULL;
	return out;
}

/*
 * Decodes nonce into raw and *t: ANVIL_OK if it is ours, unexpired and
 * newer than the store's floor.
 */
static anvil_err
nonce_open(struct acme_ctx *ctx, const char *nonce,
    unsigned char raw[NONCE_RAW], uint64_t *t)
{
	unsigned char *buf = NULL, mac[16];
	size_t len = 0;
	int64_t now = util_now_ms();
	anvil_err rc = ANVIL_ERR_BADNONCE;
	int i;

	*t = 0;
	if (nonce == NULL || strlen(nonce) != 43 ||
	    b64u_decode(nonce, strlen(nonce), &buf, &len) != ANVIL_OK ||
	    len != NONCE_RAW)
		goto out;
	memcpy(raw, buf, NONCE_RAW);
	nonce_mac(ctx, raw, mac);
	if (!ct_memeq(mac, raw + 16, 16))
		goto out;
	for (i = 0; i < 8; i++)
		*t = *t << 8 | raw[i];
	if (*t > (uint64_t)INT64_MAX || (int64_t)*t > now + 60000 ||
	    (int64_t)*t + ACME_NONCE_LIFETIME * 1000 < now)
		goto out;
	/* Issued before a crash that may have lost its spend (store.h). */
	if ((int64_t)*t <= store_nonce_floor(ctx->st))
		goto out;
	rc = ANVIL_OK;
out:
	free(buf);
	return rc;
}

anvil_err
acme_nonce_check(struct acme_ctx *ctx, const char *nonce, int spend)
{
	unsigned char raw[NONCE_RAW];
	uint64_t t = 0;
	anvil_err rc;

	if ((rc = nonce_open(ctx, nonce, raw, &t)) != ANVIL_OK || !spend)
		return rc;
	if ((rc = store_nonce_spend(ctx->st, raw, NONCE_RAW,
	    (time_t)(t / 1000) + ACME_NONCE_LIFETIME)) != ANVIL_OK)
		return rc;	/* ANVIL_ERR_EXISTS: spent before */
	/* The spend may have found the store recovered (a reopen) or the
	 * database restarted: the floor it read then. */
	if ((int64_t)t <= store_nonce_floor(ctx->st)) {
		log_info("nonce of %lld ms refused: the store recovered at "
		    "%lld ms", (long long)t,
		    (long long)store_nonce_floor(ctx->st));
		return ANVIL_ERR_BADNONCE;
	}
	return ANVIL_OK;
}

anvil_err
acme_nonce_spend_txn(struct acme_ctx *ctx, struct store_txn *txn,
    const char *nonce)
{
	unsigned char raw[NONCE_RAW];
	uint64_t t = 0;
	anvil_err rc;

	if ((rc = nonce_open(ctx, nonce, raw, &t)) != ANVIL_OK)
		return rc;
	return store_nonce_spend_txn(txn, raw, NONCE_RAW,
	    (time_t)(t / 1000) + ACME_NONCE_LIFETIME);
}
