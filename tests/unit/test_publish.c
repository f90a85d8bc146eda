/*
 * test_publish.c - src/publish: the CRL of a real store (numbers that only
 * grow, revoked certificates and nothing else listed, malformed records
 * refused without spending a number), the four published files, and the
 * data_dir lock. What the CRL itself holds is tests/unit/test_crl.c's.
 *
 * Each test gets a new data folder with a new store and a new CA (fixture
 * below).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/error.h"
#include "core/util.h"
#include "helpers.h"
#include "publish/publish.h"
#include "store/store.h"

/* ------------------------------------------------------------ fixture */

static char *dir;			/* data folder of the test */
static struct anvil_config *cfg;	/* crl_validity_hours = 24 */
static struct ca *ca;			/* ed25519: quick to make */
static struct store *st;		/* open on dir */

static void
setup(void)
{
	char err[1024] = "";

	dir = th_tempdir();
	cfg = th_config(dir, "[ca]\nkey_type = ed25519\n"
	    "[issuance]\ncrl_validity_hours = 24\n");
	cr_assert_eq(ca_load_or_generate(cfg, &ca, err, sizeof(err)),
	    ANVIL_OK, "ca_load_or_generate: %s", err);
	cr_assert_eq(store_open(dir, STORE_OPEN_CREATE, &st, err, sizeof(err)),
	    ANVIL_OK, "store_open: %s", err);
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
	ca_free(ca);
	ca = NULL;
	config_free(cfg);
	cfg = NULL;
	th_rmrf(dir);
	free(dir);
	dir = NULL;
}

TestSuite(publish, .init = setup, .fini = teardown, .timeout = 60);

/* ------------------------------------------------------------ helpers */

struct put {
	const char *id;
	const char *json;	/* the record */
};

static anvil_err
put_fn(struct store_txn *txn, void *arg)
{
	const struct put *p = arg;
	json_error_t jerr;
	json_t *rec = json_loads(p->json, 0, &jerr);
	anvil_err rc;

	cr_assert_not_null(rec, "%s: %s", p->json, jerr.text);
	rc = store_put(txn, STORE_CERT, p->id, rec, 0);
	json_decref(rec);
	return rc;
}

static void
put_cert(const char *id, const char *json)
{
	struct put p = { id, json };
	char err[512] = "";

	cr_assert_eq(store_run(st, 0, put_fn, &p, err, sizeof(err)), ANVIL_OK,
	    "put %s: %s", id, err);
}

static anvil_err
del_fn(struct store_txn *txn, void *arg)
{
	return store_del(txn, STORE_CERT, arg);
}

static anvil_err
counter_fn(struct store_txn *txn, void *arg)
{
	anvil_err rc = store_counter_get(txn, "crl_number", arg);

	if (rc == ANVIL_ERR_NOTFOUND) {
		*(uint64_t *)arg = 0;
		rc = ANVIL_OK;
	}
	return rc;
}

static uint64_t
crl_counter(void)
{
	uint64_t v = 0;
	char err[512] = "";

	cr_assert_eq(store_run(st, 0, counter_fn, &v, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	return v;
}

/* The number of entries of a CRL, read back by GnuTLS. */
static int
crl_entries(const struct ca_crl *crl)
{
	gnutls_x509_crl_t c;
	gnutls_datum_t d = { crl->der, (unsigned)crl->der_len };
	int n;

	cr_assert_geq(gnutls_x509_crl_init(&c), 0);
	cr_assert_geq(gnutls_x509_crl_import(c, &d, GNUTLS_X509_FMT_DER), 0);
	n = gnutls_x509_crl_get_crt_count(c);
	gnutls_x509_crl_deinit(c);
	return n;
}

static char *
path_in(const char *folder, const char *name)
{
	char *p = util_path_join(folder, name);

	cr_assert_not_null(p);
	return p;
}

/* ------------------------------------------------------------ build */

Test(publish, build_lists_revoked_only_and_numbers_grow)
{
	struct ca_crl *crl = NULL;
	char err[1024] = "";
	time_t now = time(NULL) - 60;
	uint64_t i;

	put_cert("0a0b0c0d", "{\"status\": \"revoked\", \"revoked\": "
	    "{\"time\": 1700000000, \"reason\": 1}}");
	put_cert("1a1b1c1d", "{\"status\": \"valid\"}");
	put_cert("2a2b2c2d", "{\"status\": \"revoked\", \"revoked\": "
	    "{\"time\": 1700000001}}");

	for (i = 1; i <= 3; i++) {
		cr_assert_eq(publish_crl_build(st, ca, cfg, now, &crl, err,
		    sizeof(err)), ANVIL_OK, "build %llu: %s",
		    (unsigned long long)i, err);
		cr_assert_not_null(crl);
		cr_expect_eq(crl->number, i);
		cr_expect_eq(crl->this_update, now);
		cr_expect_eq(crl->next_update, now + 24 * 3600);
		cr_expect_eq(crl_entries(crl), 2);
		ca_crl_free(crl);
		crl = NULL;
	}
	cr_expect_eq(crl_counter(), 3);
}

Test(publish, build_of_empty_store_is_number_one)
{
	struct ca_crl *crl = NULL;
	char err[1024] = "";

	cr_assert_eq(publish_crl_build(st, ca, cfg, time(NULL), &crl, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_expect_eq(crl->number, 1);
	cr_expect_eq(crl_entries(crl), 0);
	ca_crl_free(crl);
}

static const struct {
	int line;
	const char *desc;
	const char *id;
	const char *json;
} bad_records[] = {
	{ __LINE__, "time not a number", "0a0b",
	  "{\"revoked\": {\"time\": \"yesterday\", \"reason\": 1}}" },
	{ __LINE__, "time missing", "0a0b", "{\"revoked\": {\"reason\": 1}}" },
	{ __LINE__, "time a real", "0a0b", "{\"revoked\": {\"time\": 1.5}}" },
	{ __LINE__, "reason a string", "0a0b",
	  "{\"revoked\": {\"time\": 1, \"reason\": \"keyCompromise\"}}" },
	{ __LINE__, "reason 7 (unused)", "0a0b",
	  "{\"revoked\": {\"time\": 1, \"reason\": 7}}" },
	{ __LINE__, "reason negative", "0a0b",
	  "{\"revoked\": {\"time\": 1, \"reason\": -1}}" },
	{ __LINE__, "reason 11", "0a0b",
	  "{\"revoked\": {\"time\": 1, \"reason\": 11}}" },
	{ __LINE__, "serial of odd length", "0a0",
	  "{\"revoked\": {\"time\": 1}}" },
	{ __LINE__, "serial not hex", "zz",
	  "{\"revoked\": {\"time\": 1}}" },
	{ __LINE__, "serial of 21 bytes", "0102030405060708090a0b0c0d0e0f"
	  "101112131415", "{\"revoked\": {\"time\": 1}}" },
};

/*
 * A malformed revocation record fails the whole build, and the aborted
 * transaction gives back the CRL number it raised.
 */
Test(publish, malformed_record_fails_and_spends_no_number)
{
	struct ca_crl *crl = NULL;
	char err[1024];
	anvil_err rc;
	size_t i;

	for (i = 0; i < sizeof(bad_records) / sizeof(bad_records[0]); i++) {
		put_cert(bad_records[i].id, bad_records[i].json);
		err[0] = '\0';
		rc = publish_crl_build(st, ca, cfg, time(NULL), &crl, err,
		    sizeof(err));
		cr_expect_eq(rc, ANVIL_ERR_CORRUPT, "line %d: %s: rc %s",
		    bad_records[i].line, bad_records[i].desc,
		    anvil_strerror(rc));
		cr_expect_null(crl, "line %d: a CRL came back",
		    bad_records[i].line);
		cr_expect_neq(err[0], '\0', "line %d: no reason given",
		    bad_records[i].line);
		ca_crl_free(crl);
		crl = NULL;
		cr_assert_eq(store_run(st, 0, del_fn,
		    (void *)bad_records[i].id, err, sizeof(err)), ANVIL_OK,
		    "%s", err);
	}
	cr_expect_eq(crl_counter(), 0, "failed builds spent CRL numbers");
	cr_assert_eq(publish_crl_build(st, ca, cfg, time(NULL), &crl, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_expect_eq(crl->number, 1);
	ca_crl_free(crl);
}

/* ------------------------------------------------------------ files */

Test(publish, write_puts_four_readable_files)
{
	static const char *const names[] = { "anvil.crl", "anvil.crl.pem",
		"ca.crt", "ca.pem" };
	struct ca_crl *crl = NULL;
	char *out = path_in(dir, "pub"), *p, *buf = NULL;
	char err[1024] = "";
	gnutls_datum_t der = { NULL, 0 };
	struct stat sb;
	size_t i, len = 0;
	int fd;

	cr_assert_eq(publish_crl_build(st, ca, cfg, time(NULL), &crl, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	fd = publish_lock(dir, out, err, sizeof(err));
	cr_assert_geq(fd, 0, "publish_lock: %s", err);
	cr_assert_eq(publish_crl_write(out, ca, crl, err, sizeof(err)),
	    ANVIL_OK, "publish_crl_write: %s", err);
	for (i = 0; i < 4; i++) {
		p = path_in(out, names[i]);
		cr_assert_eq(lstat(p, &sb), 0, "%s: %s", names[i],
		    strerror(errno));
		cr_expect(S_ISREG(sb.st_mode) && (sb.st_mode & 0777) == 0644,
		    "%s: mode %o", names[i], (unsigned)sb.st_mode);
		cr_assert_eq(util_read_file(p, 1 << 20, &buf, &len, err,
		    sizeof(err)), ANVIL_OK, "%s", err);
		switch (i) {
		case 0:
			cr_expect(len == crl->der_len &&
			    memcmp(buf, crl->der, len) == 0, "anvil.crl");
			break;
		case 1:
			cr_expect_str_eq(buf, crl->pem);
			break;
		case 2:
			cr_assert_geq(gnutls_x509_crt_export2(ca_cert_peek(ca),
			    GNUTLS_X509_FMT_DER, &der), 0);
			cr_expect(len == der.size &&
			    memcmp(buf, der.data, len) == 0, "ca.crt");
			gnutls_free(der.data);
			break;
		case 3:
			cr_expect_str_eq(buf, ca_cert_pem_peek(ca));
			break;
		}
		free(buf);
		buf = NULL;
		free(p);
	}
	close(fd);
	ca_crl_free(crl);
	free(out);
}

Test(publish, write_into_missing_folder_fails)
{
	struct ca_crl *crl = NULL;
	char *out = path_in(dir, "not/there");
	char err[1024] = "";

	cr_assert_eq(publish_crl_build(st, ca, cfg, time(NULL), &crl, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	err[0] = '\0';
	cr_expect_neq(publish_crl_write(out, ca, crl, err, sizeof(err)),
	    ANVIL_OK);
	cr_expect_neq(err[0], '\0');
	ca_crl_free(crl);
	free(out);
}

/* ------------------------------------------------------------ lock */

Test(publish, lock_is_exclusive_and_removes_the_old_name)
{
	char *out = path_in(dir, "pub");
	char *lock = path_in(dir, "anvil-crl.lock");
	char *old = path_in(out, ".anvil-crl.lock");
	char *victim = path_in(dir, "victim");
	char err[1024] = "";
	struct stat sb;
	int fd, fd2;
	FILE *f;

	cr_assert_eq(mkdir(out, 0755), 0);
	cr_assert_not_null(f = fopen(victim, "w"));
	fclose(f);
	cr_assert_eq(symlink(victim, old), 0);

	fd = publish_lock(dir, out, err, sizeof(err));
	cr_assert_geq(fd, 0, "publish_lock: %s", err);
	cr_expect(lstat(old, &sb) != 0 && errno == ENOENT,
	    "the old lock name in the served folder is still there");
	cr_expect_eq(stat(victim, &sb), 0, "what it pointed at was removed");

	fd2 = open(lock, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd2, 0, "%s: %s", lock, strerror(errno));
	cr_expect(flock(fd2, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK,
	    "a second lock was granted while the first is held");
	close(fd);
	cr_expect_eq(flock(fd2, LOCK_EX | LOCK_NB), 0,
	    "the lock was not released with its descriptor");
	close(fd2);
	free(out);
	free(lock);
	free(old);
	free(victim);
}

Test(publish, lock_refuses_a_symlink_and_makes_the_folder)
{
	char *out = path_in(dir, "a/b");
	char *lock = path_in(dir, "anvil-crl.lock");
	char *victim = path_in(dir, "victim");
	char err[1024] = "";
	struct stat sb;

	cr_assert_eq(symlink(victim, lock), 0);
	cr_expect_eq(publish_lock(dir, out, err, sizeof(err)), -1,
	    "a symlink was followed");
	cr_expect_neq(err[0], '\0');
	cr_expect(lstat(victim, &sb) != 0, "the symlink's target was created");
	cr_expect_eq(stat(out, &sb), 0, "the publish folder was not made");
	cr_expect(S_ISDIR(sb.st_mode));
	free(out);
	free(lock);
	free(victim);
}

/* ------------------------------------------------------- generations */

/* The AIA caIssuers name of a generation: its cross-certificate. */
Test(publish, issuer_names)
{
	static const struct {
		const char *base;
		unsigned gen;
		const char *want;	/* NULL: refused */
	} rows[] = {
		{ "ca.crt", 1, "ca.crt" },
		{ "ca.crt", 2, "ca-g2-cross.crt" },
		{ NULL, 3, "ca-g3-cross.crt" },
		{ "http://h:9/crl/ca.crt", 1, "http://h:9/crl/ca.crt" },
		{ "http://h:9/crl/ca.crt", 2, "http://h:9/crl/ca-g2-cross.crt" },
		{ "http://h/issuer.der", 4, "http://h/issuer-g4-cross.crt" },
		{ "http://h/issuer", 2, "http://h/issuer-g2-cross.crt" },
		{ "http://h/a/", 2, NULL },
		{ "http://h/a/.crt", 2, NULL },
		{ "ca.crt", 0, NULL },
	};
	char out[128];
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		anvil_err rc = publish_issuer_name(rows[i].base, rows[i].gen,
		    out, sizeof(out));
		if (rows[i].want == NULL) {
			cr_expect_eq(rc, ANVIL_ERR_INVALID, "row %zu", i);
			continue;
		}
		cr_expect_eq(rc, ANVIL_OK, "row %zu", i);
		cr_expect_str_eq(out, rows[i].want, "row %zu", i);
	}
}

/*
 * After a rollover each generation's CRL lists only the revoked
 * certificates it issued, numbered by its own counter, signed by its
 * own key, and is written under its own name.
 */
Test(publish, crl_per_generation)
{
	struct ca *all = NULL;
	struct ca_crl *crl = NULL;
	gnutls_x509_crl_t c;
	gnutls_datum_t d;
	char err[1024] = "", path[1024];
	unsigned g = 0, vst = 1;
	gnutls_x509_crt_t signer;

	put_cert("0a0b", "{\"revoked\": {\"time\": 1700000000}}");
	put_cert("1a1b", "{\"ca_gen\": 1, \"revoked\": {\"time\": 1700000000}}");
	put_cert("2a2b", "{\"ca_gen\": 2, \"revoked\": {\"time\": 1700000000}}");
	put_cert("3a3b", "{\"ca_gen\": 2}");
	cr_assert_eq(ca_rollover(cfg, &g, err, sizeof(err)), ANVIL_OK, "%s",
	    err);
	cr_assert_eq(ca_load_or_generate(cfg, &all, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert_eq(ca_generation(all), 2);

	cr_assert_eq(publish_crl_build(st, all, cfg, time(NULL), &crl, err,
	    sizeof(err)), ANVIL_OK, "%s", err);
	cr_expect_eq(crl->number, 1, "its own counter");
	cr_expect_eq(crl_entries(crl), 1, "generation 2's revocation only");
	d.data = crl->der;
	d.size = (unsigned)crl->der_len;
	signer = ca_cert_peek(all);
	cr_assert_geq(gnutls_x509_crl_init(&c), 0);
	cr_assert_geq(gnutls_x509_crl_import(c, &d, GNUTLS_X509_FMT_DER), 0);
	cr_expect_geq(gnutls_x509_crl_verify(c, &signer, 1, 0, &vst), 0);
	cr_expect_eq(vst, 0, "signed by generation 2");
	gnutls_x509_crl_deinit(c);
	cr_assert_eq(publish_crl_write_gen(dir, cfg, all, crl, path,
	    sizeof(path), err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_expect_not_null(strstr(path, "/anvil-g2.crl"), "%s", path);
	cr_expect_eq(access(path, R_OK), 0);
	{
		char *x = path_in(dir, "ca-g2-cross.crt"), *der;
		gnutls_x509_crt_t xc, g1 = ca_cert_peek(ca_generation_get(all,
		    1));
		gnutls_datum_t xd;
		size_t xlen = 0;
		unsigned xs = 1;

		cr_assert_eq(util_read_file(x, 65536, &der, &xlen, err,
		    sizeof(err)), ANVIL_OK, "%s", err);
		xd.data = (unsigned char *)der;
		xd.size = (unsigned)xlen;
		cr_assert_geq(gnutls_x509_crt_init(&xc), 0);
		cr_assert_geq(gnutls_x509_crt_import(xc, &xd,
		    GNUTLS_X509_FMT_DER), 0, "the cross-certificate, DER");
		cr_expect_geq(gnutls_x509_crt_verify(xc, &g1, 1, 0, &xs), 0);
		cr_expect_eq(xs, 0, "issued by generation 1");
		gnutls_x509_crt_deinit(xc);
		free(der);
		free(x);
	}
	ca_crl_free(crl);
	crl = NULL;

	cr_assert_eq(publish_crl_build(st, ca_generation_get(all, 1), cfg,
	    time(NULL), &crl, err, sizeof(err)), ANVIL_OK, "%s", err);
	cr_expect_eq(crl->number, 1);
	cr_expect_eq(crl_counter(), 1, "generation 1 keeps crl_number");
	cr_expect_eq(crl_entries(crl), 2, "no ca_gen is generation 1");
	ca_crl_free(crl);
	ca_free(all);
}

/* What anvil-crl retires by: unexpired certificates per generation. */
Test(publish, generations_live)
{
	size_t counts[CA_MAX_GENERATIONS + 1];
	char err[512] = "";
	time_t now = 1800000000;

	put_cert("0a01", "{\"not_after\": 1800000001}");
	put_cert("0a02", "{\"ca_gen\": 1, \"not_after\": 1700000000}");
	put_cert("0a03", "{\"ca_gen\": 2, \"not_after\": 1800000000}");
	put_cert("0a04", "{\"ca_gen\": 2, \"not_after\": 1900000000}");
	put_cert("0a05", "{\"ca_gen\": 3, \"not_after\": 1700000000}");
	put_cert("0a06", "{\"ca_gen\": \"x\", \"not_after\": 1900000000}");
	put_cert("0a07", "{\"ca_gen\": 4}");
	cr_assert_eq(publish_gens_live(st, now, counts, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_expect_eq(counts[1], 1, "one live, one expired");
	cr_expect_eq(counts[2], 2, "ending now is still live");
	cr_expect_eq(counts[3], 0, "all expired");
	cr_expect_eq(counts[4], 1, "no end: live");
	cr_expect_eq(counts[0], 1, "malformed generation");
	cr_expect_eq(counts[5], 0);
}
