/*
 * anvil_crl.c - anvil-crl, run from cron or a systemd timer: builds the
 * CRL from the store (raising CRLNumber in the same transaction), signs it
 * with the CA key, and writes anvil.crl (DER), anvil.crl.pem and the CA
 * certificate (ca.crt DER, ca.pem) into the publish folder, each by a
 * temporary file and rename. Every run signs a new CRL, so a run well
 * before nextUpdate keeps the CRL fresh even when nothing changed.
 * Runs under a lock in data_dir (anvil-crl.lock), so two at once, into
 * one folder or two, take turns and write in number order.
 *
 * With [ocsp] enabled (the default) it then pre-signs an OCSP answer for
 * every unexpired certificate into [ocsp] dir, which the web server
 * serves at the RFC 5019 GET path (lighttpd/anvil-ocsp.conf,
 * apache/anvil-ocsp.conf), and issues a new responder certificate when
 * the one in use has less than a third of its lifetime left.
 *
 * The work is src/publish's; this file reads the options and the config
 * and opens the CA and the store.
 *
 * Exit codes: 0 written, 1 failed (reason on stderr), 2 usage, 3 config.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/log.h"
#include "publish/publish.h"
#include "store/store.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_CONFIG 3

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: anvil-crl [--config FILE] [--out DIR] [--quiet]\n"
	    "\n"
	    "Signs a new CRL of every certificate revoked in the store and\n"
	    "writes DIR/anvil.crl (DER), DIR/anvil.crl.pem, DIR/ca.crt (DER)\n"
	    "and DIR/ca.pem. DIR is [issuance] crl_dir unless --out is given.\n"
	    "Run it from cron or a timer well within crl_validity_hours.\n"
	    "With [ocsp] enabled it also pre-signs an OCSP answer for every\n"
	    "unexpired certificate into [ocsp] dir (run it well within\n"
	    "[ocsp] validity_hours then).\n"
	    "\n"
	    "  -c, --config FILE  configuration (default: $ANVIL_CONFIG, else\n"
	    "                     %s)\n"
	    "  -o, --out DIR      publish folder\n"
	    "  -q, --quiet        print nothing on success\n"
	    "  -h, --help, -V, --version\n"
	    "\n"
	    "Exit status: 0 written, 1 failed, 2 usage error, 3 configuration "
	    "refused.\n", config_default_path());
}

/*
 * Renews the responder when a third of its lifetime is left, then
 * pre-signs every unexpired certificate's answers. 0 or -1 (reason on
 * stderr).
 */
static int
presign(const struct anvil_config *cfg, struct ca *ca, struct store *st,
    int quiet)
{
	struct ca_ocsp_signer *s = NULL;
	time_t now = time(NULL);
	size_t written = 0, removed = 0;
	char err[1024] = "";
	int status = -1;

	if (ca_ocsp_signer_load(cfg, ca, now, &s, err, sizeof(err)) != ANVIL_OK)
		goto out;
	if (!ca_ocsp_signer_by_ca(s) && ca_ocsp_signer_not_after(s) - now <
	    (time_t)cfg->ocsp_responder_days * 86400 / 3) {
		ca_ocsp_signer_free(s);
		s = NULL;
		if (ca_ocsp_responder_issue(cfg, ca, now, err, sizeof(err)) !=
		    ANVIL_OK || ca_ocsp_signer_load(cfg, ca, now, &s, err,
		    sizeof(err)) != ANVIL_OK)
			goto out;
		if (!quiet)
			printf("OCSP responder certificate renewed: %s\n",
			    cfg->ocsp_responder_cert);
	}
	if (publish_ocsp_presign_all(st, ca, s, cfg, cfg->ocsp_dir, now,
	    &written, &removed, err, sizeof(err)) != ANVIL_OK)
		goto out;
	if (!quiet)
		printf("OCSP: %zu answers pre-signed in %s (%zu removed)\n",
		    2 * written, cfg->ocsp_dir, removed);
	status = 0;
out:
	if (status != 0)
		fprintf(stderr, "anvil-crl: OCSP: %s\n", err);
	ca_ocsp_signer_free(s);
	return status;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct anvil_config *cfg = NULL;
	struct store *st = NULL;
	struct ca *ca = NULL;
	struct ca_crl *crl = NULL;
	const char *config_path = NULL, *out = NULL;
	char err[1024] = "";
	int c, quiet = 0, status = EXIT_FAIL, lockfd = -1;
	anvil_err rc;

	log_init("anvil-crl", LOG_LVL_WARN, 0);
	while ((c = getopt_long(argc, argv, "c:o:qhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'o': out = optarg; break;
		case 'q': quiet = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("anvil-crl %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "anvil-crl: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (gnutls_global_init() < 0) {
		fprintf(stderr, "anvil-crl: GnuTLS failed to initialise\n");
		return EXIT_FAIL;
	}
	if (config_load(config_path, &cfg, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-crl: %s\n", err);
		status = EXIT_CONFIG;
		goto done;
	}
	if (out == NULL)
		out = cfg->crl_dir;
	if ((lockfd = publish_lock(cfg->data_dir, out, err, sizeof(err))) < 0) {
		fprintf(stderr, "anvil-crl: %s\n", err);
		goto done;
	}
	if ((rc = ca_load_or_generate(cfg, &ca, err, sizeof(err)))) {
		fprintf(stderr, "anvil-crl: %s\n", err);
		goto done;
	}
	if ((rc = store_open_conf(cfg, 0, &st, err, sizeof(err)))) {
		fprintf(stderr, "anvil-crl: %s\n", err);
		goto done;
	}
	rc = publish_crl_build(st, ca, cfg, time(NULL), &crl, err, sizeof(err));
	if (rc != ANVIL_OK) {
		fprintf(stderr, "anvil-crl: cannot build the CRL: %s\n", err);
		goto done;
	}
	if (publish_crl_write(out, ca, crl, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-crl: %s\n", err);
		goto done;
	}
	if (!quiet) {
		char nu[32];
		struct tm tm;
		gmtime_r(&crl->next_update, &tm);
		strftime(nu, sizeof(nu), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("CRL %llu written to %s/anvil.crl (next update %s)\n",
		    (unsigned long long)crl->number, out, nu);
	}
	if (cfg->ocsp_enabled && presign(cfg, ca, st, quiet) != 0)
		goto done;
	status = 0;
done:
	if (lockfd >= 0)
		close(lockfd);
	ca_crl_free(crl);
	store_close(st);
	ca_free(ca);
	config_free(cfg);
	gnutls_global_deinit();
	return status;
}
