/*
 * test_pkcs11.c - a CA whose key lives on a PKCS#11 token (SoftHSM 2).
 *
 * Each test makes its own token: a softhsm2.conf in a temporary folder,
 * named by SOFTHSM2_CONF before anything in the process touches PKCS#11
 * (GnuTLS loads its modules on first use, through p11-kit, whose module
 * list includes softhsm2 once the Debian package softhsm2 is installed:
 * /usr/share/p11-kit/modules/softhsm2.module). softhsm2-util makes the
 * token and p11tool generates the key on it, sensitive and never
 * extractable. The CA then gets key_file = a pkcs11: URL with the PIN in
 * pin-value, and must create its certificate, issue, sign CRLs, reload,
 * and never be able to take the key off the token.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/ocsp.h>
#include <gnutls/pkcs11.h>
#include <gnutls/x509.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/error.h"
#include "csr_helpers.h"
#include "helpers.h"

#define OK(call)                                                               \
	do {                                                                   \
		int ok_ret_ = (call);                                          \
		cr_assert(ok_ret_ >= 0, "%s: %s", #call,                       \
		    gnutls_strerror(ok_ret_));                                 \
	} while (0)

#define PIN "1234"
#define SO_PIN "5678"
#define KEY_URL "pkcs11:token=anvil;object=ca;type=private?pin-value=" PIN
#define PUB_URL "pkcs11:token=anvil;object=ca;type=public"

struct hsm {
	char *dir;		/* softhsm2.conf and tokens/ */
	char *data_dir;		/* the CA's data_dir */
};

/* Runs cmd with sh; its exit status and (if out) its stdout (free). */
static int
run(const char *cmd, char **out)
{
	FILE *f = popen(cmd, "r");
	size_t cap = 4096, n = 0, r;
	char *buf = malloc(cap);
	int st;

	cr_assert_not_null(f, "popen %s", cmd);
	cr_assert_not_null(buf);
	while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	buf[n] = '\0';
	st = pclose(f);
	if (out != NULL)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * A fresh token "anvil" with one key pair "ca" of the given p11tool type
 * ("ECDSA" with --curve, or "RSA" with --bits).
 */
static void
hsm_setup(struct hsm *h, const char *keygen_args)
{
	char path[4096], conf[8192], cmd[8192], *out = NULL;
	int st;

	h->dir = th_tempdir();
	h->data_dir = th_tempdir();
	snprintf(path, sizeof(path), "%s/tokens", h->dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(conf, sizeof(conf), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n"
	    "slots.removable = false\n", path);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", h->dir);
	th_write_file(path, conf, strlen(conf));
	/* Before GnuTLS initialises PKCS#11 in this process. */
	cr_assert_eq(setenv("SOFTHSM2_CONF", path, 1), 0);

	st = run("softhsm2-util --init-token --free --label anvil --pin " PIN
	    " --so-pin " SO_PIN " 2>&1", &out);
	cr_assert_eq(st, 0, "softhsm2-util --init-token: %s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "p11tool --login --set-pin=" PIN
	    " --generate-privkey=%s --label=ca 'pkcs11:token=anvil' 2>&1",
	    keygen_args);
	st = run(cmd, &out);
	cr_assert_eq(st, 0, "p11tool --generate-privkey: %s", out);
	free(out);
}

static void
hsm_teardown(struct hsm *h)
{
	th_rmrf(h->data_dir);
	th_rmrf(h->dir);
	free(h->data_dir);
	free(h->dir);
	unsetenv("SOFTHSM2_CONF");
}

static struct anvil_config *
hsm_config(const struct hsm *h, const char *url)
{
	char extra[2048];

	snprintf(extra, sizeof(extra), "[ca]\nkey_file = %s\n"
	    "common_name = Anvil HSM Test CA\norganization = Anvil Tests\n",
	    url);
	return th_config(h->data_dir, extra);
}

/* No file in dir holds a private key. */
static void
no_key_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096], *buf;
	struct stat sb;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		buf = th_read_file(path, NULL);
		cr_assert(strstr(buf, "PRIVATE KEY") == NULL,
		    "%s holds a private key", path);
		free(buf);
	}
	closedir(d);
}

/* ------------------------------------------------------------ the CA */

static const struct {
	const char *desc;
	const char *keygen;		/* p11tool --generate-privkey=... */
	gnutls_pk_algorithm_t pk;
} token_keys[] = {
	{ "ECDSA P-256 on the token", "ECDSA --curve=secp256r1",
	  GNUTLS_PK_ECDSA },
	{ "RSA 2048 on the token", "RSA --bits=2048", GNUTLS_PK_RSA },
};
#define N_TOKEN_KEYS (sizeof(token_keys) / sizeof(token_keys[0]))

ParameterizedTestParameters(pkcs11, ca_key_on_token)
{
	static int rows[N_TOKEN_KEYS];
	size_t i;

	for (i = 0; i < N_TOKEN_KEYS; i++)
		rows[i] = (int)i;
	return cr_make_param_array(int, rows, N_TOKEN_KEYS);
}

ParameterizedTest(int *row, pkcs11, ca_key_on_token, .timeout = 60)
{
	struct hsm h;
	struct anvil_config *cfg;
	struct ca *ca = NULL, *ca2 = NULL;
	gnutls_x509_crt_t cacrt, filecrt, leaf;
	gnutls_x509_privkey_t exported = NULL, leafkey;
	gnutls_pubkey_t tokpub = NULL;
	gnutls_x509_crl_t gcrl;
	unsigned char id1[64], id2[64], serial[8], ski[64], aki[64];
	size_t n1 = sizeof(id1), n2 = sizeof(id2), sz, nski;
	unsigned crit = 0, isca = 0, ku = 0, status = 99;
	char err[1024] = "", *list = NULL, *pem1, *pem2;
	int pathlen, ret;
	anvil_err rc;

	cr_log_info("%s", token_keys[*row].desc);
	hsm_setup(&h, token_keys[*row].keygen);
	cfg = hsm_config(&h, KEY_URL);
	cr_assert_str_eq(cfg->key_file, KEY_URL, "config changed the URL");

	rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "ca_load_or_generate: %s: %s",
	    anvil_strerror(rc), err);

	/* The key is the token's object and cannot be exported. */
	cr_assert_eq(gnutls_privkey_get_type(ca_key_peek(ca)),
	    GNUTLS_PRIVKEY_PKCS11, "CA key is not a PKCS#11 object");
	ret = gnutls_privkey_export_x509(ca_key_peek(ca), &exported);
	cr_assert(ret < 0, "the token key was exported");
	cr_assert_eq(run("p11tool --login --set-pin=" PIN
	    " --list-all-privkeys 'pkcs11:token=anvil' 2>&1", &list), 0,
	    "p11tool --list-all-privkeys: %s", list);
	cr_assert(strstr(list, "object=ca;type=private") != NULL, "%s", list);
	cr_assert(strstr(list, "CKA_SENSITIVE") != NULL,
	    "token key not sensitive: %s", list);
	cr_assert(strstr(list, "CKA_EXTRACTABLE") == NULL,
	    "token key extractable: %s", list);
	free(list);

	/* A certificate was made for the token's public key; no key file. */
	filecrt = NULL;
	pem1 = th_read_file(cfg->cert_file, NULL);
	filecrt = th_crt_pem(pem1);
	cacrt = ca_cert_peek(ca);
	cr_assert(th_crt_equal(filecrt, cacrt));
	OK(gnutls_pubkey_init(&tokpub));
	OK(gnutls_pubkey_import_url(tokpub, PUB_URL, 0));
	OK(gnutls_pubkey_get_key_id(tokpub, GNUTLS_KEYID_USE_SHA256, id1,
	    &n1));
	OK(gnutls_x509_crt_get_key_id(cacrt, GNUTLS_KEYID_USE_SHA256, id2,
	    &n2));
	cr_assert(n1 == n2 && memcmp(id1, id2, n1) == 0,
	    "CA certificate is not for the token's key");
	cr_assert_eq(gnutls_x509_crt_get_pk_algorithm(cacrt, NULL),
	    (int)token_keys[*row].pk);
	no_key_files(h.data_dir);

	/* Its profile, briefly (test_ca checks it in full). */
	sz = sizeof(serial);
	OK(gnutls_x509_crt_get_serial(cacrt, serial, &sz));
	cr_assert(sz == 1 && serial[0] == 1);
	OK(gnutls_x509_crt_get_basic_constraints(cacrt, &crit, &isca,
	    &pathlen));
	cr_assert(crit && isca);
	OK(gnutls_x509_crt_get_key_usage(cacrt, &ku, &crit));
	cr_assert_eq(ku, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
	OK(gnutls_x509_crt_verify(cacrt, &cacrt, 1, 0, &status));
	cr_assert_eq(status, 0, "self-signature made on the token does not "
	    "verify (0x%x)", status);

	/* A leaf signed on the token. */
	leafkey = th_key(GNUTLS_PK_ECDSA, TH_P256);
	{
		const struct ca_ident ids[] = {
			{ CA_IDENT_DNS, "hsm.example.org" },
			{ CA_IDENT_IP, "192.0.2.44" },
		};
		const struct th_csr c = { .dns = { "hsm.example.org" },
			.ip = { "192.0.2.44" } };
		gnutls_datum_t der = th_csr_der(leafkey, &c);
		struct ca_csr *csr = NULL;
		struct ca_issued *is = NULL;
		struct ca_issue_params p = { .validity_days = 30,
			.now = time(NULL) - 60 };

		rc = ca_csr_check(der.data, der.size, ids, 2, NULL, 0, &csr,
		    NULL, err, sizeof(err));
		cr_assert_eq(rc, ANVIL_OK, "%s", err);
		rc = ca_issue(ca, csr, ids, 2, &p, &is, err, sizeof(err));
		cr_assert_eq(rc, ANVIL_OK, "ca_issue on the token: %s", err);
		leaf = th_crt_der(is->der, is->der_len);
		cr_assert_eq(th_verify(leaf, cacrt, "hsm.example.org"), 0,
		    "leaf signed on the token does not verify");
		cr_assert(th_crt_has_key(leaf, leafkey));
		th_check_san(leaf, ids, 2);
		nski = th_ski(cacrt, ski);
		cr_assert(th_aki(leaf, aki) == nski &&
		    memcmp(aki, ski, nski) == 0);
		gnutls_x509_crt_deinit(leaf);
		ca_issued_free(is);
		ca_csr_free(csr);
		gnutls_free(der.data);
	}

	/* A CRL signed on the token, with a reasonCode entry. */
	{
		struct ca_revoked rv[2] = {
			{ { 0x12, 0x34 }, 2, 1700000000, 1 },
			{ { 0x56 }, 1, 1700000001, 0 },
		};
		struct ca_crl *crl = NULL;
		gnutls_datum_t d;
		time_t now = time(NULL);

		rc = ca_crl_build(ca, rv, 2, 3, now - 60, now + 86400, &crl,
		    err, sizeof(err));
		cr_assert_eq(rc, ANVIL_OK, "ca_crl_build on the token: %s",
		    err);
		d.data = crl->der;
		d.size = (unsigned)crl->der_len;
		OK(gnutls_x509_crl_init(&gcrl));
		OK(gnutls_x509_crl_import(gcrl, &d, GNUTLS_X509_FMT_DER));
		status = 99;
		OK(gnutls_x509_crl_verify(gcrl, &cacrt, 1, 0, &status));
		cr_assert_eq(status, 0, "CRL signed on the token does not "
		    "verify (0x%x)", status);
		cr_assert_eq(gnutls_x509_crl_get_crt_count(gcrl), 2);
		gnutls_x509_crl_deinit(gcrl);
		ca_crl_free(crl);
	}

	/* A second start finds the same CA and leaves the file alone. */
	rc = ca_load_or_generate(cfg, &ca2, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "reload: %s", err);
	cr_assert(th_crt_equal(ca_cert_peek(ca2), cacrt),
	    "reload made another certificate");
	pem2 = th_read_file(cfg->cert_file, NULL);
	cr_assert_str_eq(pem1, pem2, "certificate file rewritten");
	no_key_files(h.data_dir);

	free(pem1);
	free(pem2);
	gnutls_pubkey_deinit(tokpub);
	gnutls_x509_crt_deinit(filecrt);
	gnutls_x509_privkey_deinit(leafkey);
	if (exported != NULL)
		gnutls_x509_privkey_deinit(exported);
	ca_free(ca2);
	ca_free(ca);
	config_free(cfg);
	hsm_teardown(&h);
}

/*
 * A rollover of a CA whose key is on the token: the token signs the
 * cross-certificate, the new generation's key is a file (0600), and the
 * new generation loads with its cross-certificate verified against the
 * token's certificate.
 */
Test(pkcs11, rollover_from_token, .timeout = 60)
{
	struct hsm h;
	struct anvil_config *cfg;
	struct ca *ca = NULL;
	gnutls_x509_crt_t cross, g1crt;
	char err[1024] = "", path[4096], *pem;
	unsigned g = 0, status = 99;
	struct stat sb;
	anvil_err rc;

	hsm_setup(&h, "ECDSA --curve=secp256r1");
	cfg = hsm_config(&h, KEY_URL);
	rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "%s", err);
	ca_free(ca);
	ca = NULL;
	rc = ca_rollover(cfg, &g, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "ca_rollover with a token key: %s", err);
	cr_assert_eq(g, 2);
	snprintf(path, sizeof(path), "%s/ca-g2.key", h.data_dir);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
	rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "reload after rollover: %s", err);
	cr_assert_eq(ca_generation(ca), 2);
	cr_assert_eq(gnutls_privkey_get_type(ca_key_peek(ca_older(ca))),
	    GNUTLS_PRIVKEY_PKCS11, "generation 1 stays on the token");
	snprintf(path, sizeof(path), "%s/ca-g2-cross.pem", h.data_dir);
	pem = th_read_file(path, NULL);
	cross = th_crt_pem(pem);
	g1crt = ca_cert_peek(ca_older(ca));
	OK(gnutls_x509_crt_verify(cross, &g1crt, 1, 0, &status));
	cr_assert_eq(status, 0, "cross-certificate signed on the token does "
	    "not verify (0x%x)", status);
	gnutls_x509_crt_deinit(cross);
	free(pem);
	ca_free(ca);
	config_free(cfg);
	hsm_teardown(&h);
}

/* URLs that do not open the key: refused, nothing written, PIN not told. */
Test(pkcs11, unusable_url_refused, .timeout = 60)
{
	static const struct {
		const char *desc;
		const char *url;
	} rows[] = {
		{ "wrong PIN",
		  "pkcs11:token=anvil;object=ca;type=private?pin-value=9876" },
		{ "no PIN", "pkcs11:token=anvil;object=ca;type=private" },
		{ "no such object",
		  "pkcs11:token=anvil;object=nope;type=private?pin-value="
		  PIN },
		{ "no such token",
		  "pkcs11:token=nope;object=ca;type=private?pin-value=" PIN },
	};
	struct hsm h;
	size_t i;

	hsm_setup(&h, "ECDSA --curve=secp256r1");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct anvil_config *cfg = hsm_config(&h, rows[i].url);
		struct ca *ca = NULL;
		char err[1024] = "";
		anvil_err rc;

		rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
		cr_expect_neq(rc, ANVIL_OK, "[%s] accepted", rows[i].desc);
		cr_expect_null(ca, "[%s]", rows[i].desc);
		cr_expect_neq(err[0], '\0', "[%s] no message", rows[i].desc);
		cr_expect(strstr(err, "pin-value") == NULL &&
		    strstr(err, "9876") == NULL && strstr(err, "=" PIN) == NULL,
		    "[%s] the error shows the PIN: %s", rows[i].desc, err);
		cr_expect(access(cfg->cert_file, F_OK) != 0,
		    "[%s] a certificate was written", rows[i].desc);
		ca_free(ca);
		config_free(cfg);
	}
	hsm_teardown(&h);
}

/* A certificate on disk that is not for the token's key. */
Test(pkcs11, certificate_for_another_key_refused, .timeout = 60)
{
	struct hsm h;
	char *other = th_tempdir(), *buf;
	struct anvil_config *ocfg = th_config(other, NULL), *cfg;
	struct ca *oca = NULL, *ca = NULL;
	char err[1024] = "";
	size_t len;
	anvil_err rc;

	hsm_setup(&h, "ECDSA --curve=secp256r1");
	rc = ca_load_or_generate(ocfg, &oca, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_OK, "%s", err);
	cfg = hsm_config(&h, KEY_URL);
	buf = th_read_file(ocfg->cert_file, &len);
	th_write_file(cfg->cert_file, buf, len);

	rc = ca_load_or_generate(cfg, &ca, err, sizeof(err));
	cr_assert_eq(rc, ANVIL_ERR_MISMATCH, "rc %s: %s", anvil_strerror(rc),
	    err);
	cr_assert_null(ca);
	cr_assert(strstr(err, "pin-value") == NULL, "PIN in error: %s", err);

	free(buf);
	ca_free(oca);
	config_free(ocfg);
	config_free(cfg);
	th_rmrf(other);
	free(other);
	hsm_teardown(&h);
}

/*
 * An OCSP responder whose key is on the token ([ocsp] responder_key a
 * pkcs11: URL), the CA's on file: the responder certificate is issued for
 * the token's key on first use, answers verify against the CA, and no
 * responder key file is ever written.
 */
Test(pkcs11, ocsp_responder_key_on_token, .timeout = 60)
{
	struct hsm h;
	struct anvil_config *cfg;
	struct ca *ca = NULL;
	struct ca_ocsp_signer *s = NULL;
	struct ca_ocsp_req r;
	struct ca_ocsp_single v;
	gnutls_ocsp_req_t req = NULL;
	gnutls_ocsp_resp_t resp = NULL;
	gnutls_datum_t der = { NULL, 0 }, d;
	unsigned char *out = NULL;
	size_t olen = 0;
	unsigned vout = 99;
	char extra[1024], err[1024] = "";
	time_t now = time(NULL);

	hsm_setup(&h, "ECDSA --curve=secp256r1");
	snprintf(extra, sizeof(extra), "[ocsp]\nresponder_key = %s\n", KEY_URL);
	cfg = th_config(h.data_dir, extra);
	cr_assert_eq(ca_load_or_generate(cfg, &ca, err, sizeof(err)), ANVIL_OK,
	    "%s", err);
	cr_assert_eq(ca_ocsp_signer_load(cfg, ca, now, &s, err, sizeof(err)),
	    ANVIL_OK, "%s", err);
	cr_assert(strstr(err, "pin-value") == NULL);
	/* A request for the CA certificate itself: any serial will do. */
	cr_assert_geq(gnutls_ocsp_req_init(&req), 0);
	cr_assert_geq(gnutls_ocsp_req_add_cert(req, GNUTLS_DIG_SHA1,
	    ca_cert_peek(ca), ca_cert_peek(ca)), 0);
	cr_assert_geq(gnutls_ocsp_req_export(req, &der), 0);
	cr_assert_eq(ca_ocsp_req_parse(s, der.data, der.size, &r),
	    CA_OCSP_SUCCESSFUL);
	v.id = &r.ids[0];
	v.status = CA_OCSP_GOOD;
	v.revoked_at = 0;
	v.reason = 0;
	cr_assert_eq(ca_ocsp_resp_build(s, &v, 1, NULL, 0, now, now + 3600,
	    &out, &olen, err, sizeof(err)), ANVIL_OK, "%s", err);
	d.data = out;
	d.size = (unsigned)olen;
	cr_assert_geq(gnutls_ocsp_resp_init(&resp), 0);
	cr_assert_geq(gnutls_ocsp_resp_import(resp, &d), 0);
	cr_assert_geq(gnutls_ocsp_resp_verify_direct(resp, ca_cert_peek(ca),
	    &vout, 0), 0);
	cr_assert_eq(vout, 0, "verify 0x%x", vout);
	{
		char path[4096];
		snprintf(path, sizeof(path), "%s/ocsp.key", h.data_dir);
		cr_assert(access(path, F_OK) != 0, "%s written", path);
	}
	cr_assert(access(cfg->ocsp_responder_cert, F_OK) == 0);

	gnutls_ocsp_resp_deinit(resp);
	gnutls_ocsp_req_deinit(req);
	gnutls_free(der.data);
	free(out);
	ca_ocsp_signer_free(s);
	ca_free(ca);
	config_free(cfg);
	hsm_teardown(&h);
}
