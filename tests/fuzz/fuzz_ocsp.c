/*
 * fuzz_ocsp.c - OCSP requests (src/ca/ocsp.c), read from an
 * unauthenticated GET path or POST body. Every input gets a status; a
 * request read as successful has 1 to CA_OCSP_MAX_CERTIDS CertIDs of
 * this CA with bounded serials and nonce, and the response built for it
 * must be one GnuTLS reads back and verifies.
 *
 * The CA is fixed (a test key below, made by anvil-admin init) so that
 * the seeds in corpus/ocsp, requests for it made by openssl ocsp, reach
 * the success path.
 */
#include "fuzz_common.h"

#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/ocsp.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/util.h"

static const char ca_key[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQgDEYtif7Wxg9oB48N\n"
	"xxIFNqTJvPyVy/3bscHxhFgVM/WgCgYIKoZIzj0DAQehRANCAARnowRRJd76ZwN6\n"
	"DUeoLPoMvwM7GbJmndgCaE8LeGhVukXP+7dFyMdHLhhH1gSkFdDMJeXmbFNhZwij\n"
	"lVn3ueg7\n"
	"-----END PRIVATE KEY-----\n";

static const char ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBojCCAUigAwIBAgIBATAKBggqhkjOPQQDAjAoMQ4wDAYDVQQKEwVBbnZpbDEW\n"
	"MBQGA1UEAxMNQW52aWwgRnV6eiBDQTAeFw0yNjEyMDQxODQxMzFaFw0zNjEyMDQw\n"
	"NjQxMzFaMCgxDjAMBgNVBAoTBUFudmlsMRYwFAYDVQQDEw1BbnZpbCBGdXp6IENB\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZ6MEUSXe+mcDeg1HqCz6DL8DOxmy\n"
	"Zp3YAmhPC3hoVbpFz/u3RcjHRy4YR9YEpBXQzCXl5mxTYWcIo5VZ97noO6NjMGEw\n"
	"DwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFN2APF4e\n"
	"xFst2HUJCswUy5WT3qDeMB8GA1UdIwQYMBaAFN2APF4exFst2HUJCswUy5WT3qDe\n"
	"MAoGCCqGSM49BAMCA0gAMEUCIQC8IWFJ6/nbpAlNbgZWnUBor4gAnqjNqHU5phYf\n"
	"N+Q8JQIgEKBSR2j048l2avvonQEg0vE2JBOVrb5yL23OLtdp9n4=\n"
	"-----END CERTIFICATE-----\n";

static struct ca *ca;
static struct ca_ocsp_signer *signer;
static char tmpdir[] = "/tmp/anvil-fuzz-ocsp-XXXXXX";

/* Removes the scratch CA folder (the files Initialize and the CA load
 * make, nothing else). */
static void
cleanup(void)
{
	static const char *const names[] = { "ca.key", "ca.pem", "ca.lock",
		"anvil.conf", "ocsp.key", "ocsp.pem" };
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(tmpdir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *dir = tmpdir, path[256], err[512];
	struct anvil_config *cfg = NULL;
	FILE *f;

	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_ERR, 0);
	gnutls_global_init();
	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/ca.key", dir);
	if (util_write_file_atomic(path, ca_key, strlen(ca_key), 0600, err,
	    sizeof(err)) != ANVIL_OK)
		abort();
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	if (util_write_file_atomic(path, ca_pem, strlen(ca_pem), 0644, err,
	    sizeof(err)) != ANVIL_OK)
		abort();
	snprintf(path, sizeof(path), "%s/anvil.conf", dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "[server]\nbase_url = https://a.test/acme\ndata_dir = %s\n",
	    dir);
	fclose(f);
	if (config_load(path, &cfg, err, sizeof(err)) != ANVIL_OK ||
	    ca_load_or_generate(cfg, &ca, err, sizeof(err)) != ANVIL_OK ||
	    ca_ocsp_signer_load(cfg, ca, time(NULL), &signer, err,
	    sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "fuzz_ocsp: %s\n", err);
		abort();
	}
	config_free(cfg);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ca_ocsp_req r;
	struct ca_ocsp_single v[CA_OCSP_MAX_CERTIDS];
	unsigned char *der = NULL;
	size_t len = 0, i;
	time_t now = 1767225600;	/* fixed: runs repeat */
	gnutls_ocsp_resp_t resp = NULL;
	gnutls_datum_t d;
	unsigned vout = 0;
	char err[256];
	int st;

	st = ca_ocsp_req_parse(signer, data, size, &r);
	FUZZ_REPORT("ca_ocsp_req_parse", st, "");
	FUZZ_ASSERT(st == CA_OCSP_SUCCESSFUL || st == CA_OCSP_MALFORMED ||
	    st == CA_OCSP_UNAUTHORIZED);
	if (st != CA_OCSP_SUCCESSFUL) {
		FUZZ_ASSERT(r.n == 0);
		FUZZ_ASSERT(ca_ocsp_resp_error(st, &der, &len) == ANVIL_OK &&
		    len == 5);
		free(der);
		return 0;
	}
	FUZZ_ASSERT(r.n >= 1 && r.n <= CA_OCSP_MAX_CERTIDS);
	FUZZ_ASSERT(r.nonce_len == 0 || (r.nonce_len >= 3 &&
	    r.nonce_len <= CA_OCSP_MAX_NONCE + 2));
	for (i = 0; i < r.n; i++) {
		FUZZ_ASSERT(r.ids[i].serial_len >= 1 && r.ids[i].serial_len <=
		    sizeof(r.ids[i].serial));
		v[i].id = &r.ids[i];
		v[i].status = (enum ca_ocsp_cert_status)(i % 3);
		v[i].revoked_at = now - 10;
		v[i].reason = (int)(i % 11);
	}
	FUZZ_ASSERT(ca_ocsp_resp_build(signer, v, r.n, r.nonce, r.nonce_len,
	    now, now + 3600, &der, &len, err, sizeof(err)) == ANVIL_OK);
	d.data = der;
	d.size = (unsigned)len;
	FUZZ_ASSERT(gnutls_ocsp_resp_init(&resp) >= 0);
	FUZZ_ASSERT(gnutls_ocsp_resp_import(resp, &d) >= 0);
	FUZZ_ASSERT(gnutls_ocsp_resp_verify_direct(resp, ca_cert_peek(ca),
	    &vout, GNUTLS_VERIFY_DISABLE_TIME_CHECKS) >= 0 && vout == 0);
	gnutls_ocsp_resp_deinit(resp);
	free(der);
	return 0;
}
