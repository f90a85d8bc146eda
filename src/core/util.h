/*
 * util.h - small helpers used everywhere: files, constant-time compare,
 * randomness, hex.
 */
#ifndef ANVIL_CORE_UTIL_H
#define ANVIL_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

/* 1 if the n bytes at a and b are equal, 0 otherwise; time independent of content. */
int ct_memeq(const void *a, const void *b, size_t n);

/* Overwrites n bytes at p in a way the compiler does not drop. */
void util_wipe(void *p, size_t n);

/*
 * Reads at most maxlen bytes of path into a new NUL-terminated buffer
 * (*out, caller frees; *outlen excludes the NUL). A file longer than maxlen
 * is ANVIL_ERR_INVALID; a missing file ANVIL_ERR_NOTFOUND.
 */
anvil_err util_read_file(const char *path, size_t maxlen, char **out,
    size_t *outlen, char *err, size_t errlen);

/*
 * Writes len bytes to a temporary file beside path created O_EXCL with
 * mode, fsyncs it and renames it over path, then fsyncs the folder, so a
 * reader sees the old file or the new one and never half of one.
 */
anvil_err util_write_file_atomic(const char *path, const void *data,
    size_t len, mode_t mode, char *err, size_t errlen);

/*
 * A batch of atomic writes sharing one flush, for thousands of small files
 * (anvil-crl's pre-signed OCSP answers): util_batch_write puts each file
 * in a temporary beside its path without waiting for the disk;
 * util_batch_commit makes every pending one durable with a single
 * syncfs(2), renames each over its path and syncs again. As with
 * util_write_file_atomic a reader sees the old file or the new one, and a
 * crash never leaves a renamed file whose bytes are not on disk. A batch
 * commits itself when max files are pending; util_batch_free removes the
 * temporaries of an uncommitted batch. Every path of a batch must be on
 * one file system. *tmpname (may be NULL) gets the temporary's name,
 * valid until the next call on b.
 */
struct util_batch;
struct util_batch *util_batch_new(size_t max);
anvil_err util_batch_write(struct util_batch *b, const char *path,
    const void *data, size_t len, mode_t mode, const char **tmpname,
    char *err, size_t errlen);
anvil_err util_batch_commit(struct util_batch *b, char *err, size_t errlen);
void util_batch_free(struct util_batch *b);

/* 1 if path exists (any type), 0 if not. */
int util_exists(const char *path);

/*
 * Returns path if absolute, else dir/path, in a new string (caller frees);
 * NULL on allocation failure.
 */
char *util_path_join(const char *dir, const char *path);

/* Creates dir (and its parents) with mode if missing. */
anvil_err util_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen);

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t util_now_ms(void);

/* Fills buf with n bytes from GnuTLS's random generator (GNUTLS_RND_RANDOM). */
anvil_err util_random(void *buf, size_t n);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void util_hex(const unsigned char *in, size_t n, char *out);
/* The value of hex digit c (either case), or -1. */
int util_hexval(char c);

/*
 * CRL names, one convention for the file under [issuance] crl_dir and
 * the URL in a certificate's CRLDistributionPoints. The stem S is the
 * last path segment of crl_url without ".crl" ("anvil" when that is
 * empty or holds anything but letters, digits, '.', '_', '-'). Names:
 * generation 1 full CRL S.crl, generation g >= 2 S-g<g>.crl, shard k of
 * generation 1 S-s<k>.crl, of generation g >= 2 S-g<g>-s<k>.crl.
 */
#define UTIL_CRL_STEM_MAX 64

/* The stem of crl_url (borrowed) into out (UTIL_CRL_STEM_MAX + 1 bytes). */
void util_crl_stem(const char *crl_url, char out[UTIL_CRL_STEM_MAX + 1]);

/*
 * The file name of generation gen (0 is taken as 1) and shard (0: the full
 * CRL) under stem into out. 0, or -1 when it does not fit in outlen.
 */
int util_crl_name(const char *stem, unsigned gen, unsigned shard, char *out,
    size_t outlen);

/*
 * The URL of that CRL: crl_url itself for the full CRL of generation 1
 * (certificates already carry it), else crl_url with its last path
 * segment replaced by util_crl_name of crl_url's stem. 0, or -1 when
 * crl_url is empty or the result does not fit in outlen.
 */
int util_crl_url(const char *crl_url, unsigned gen, unsigned shard,
    char *out, size_t outlen);

/*
 * The CRL shard (1..shards) of a certificate with serial (len bytes, big
 * endian), or 0 when shards <= 1 (no shards). Stable for a serial and
 * even over random serials: the serial's value modulo shards.
 */
unsigned util_crl_shard_of(const unsigned char *serial, size_t len,
    unsigned shards);

/* Sets FD_CLOEXEC on every open descriptor above 2. */
void util_cloexec_all(void);

/*
 * Closes every descriptor above 2 except keep (-1: none), so a forked child
 * holds no copy of its parent's sockets, pipes or store locks.
 */
void util_close_except(int keep);

/*
 * Starts a detached grandchild (own session, reparented to init, standard
 * input and output on /dev/null, standard error too unless keep_stderr).
 * Returns 0 in the grandchild, 1 in the caller once the intermediate child
 * is reaped, -1 if either fork failed.
 */
int util_detach(int keep_stderr);

/* strdup that returns NULL for NULL. */
char *util_strdup0(const char *s);

#endif
