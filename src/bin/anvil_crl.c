/*
 * anvil_crl.c - anvil-crl, run from cron or a systemd timer: builds the
 * CRL from the store (raising CRLNumber in the same transaction), signs it
 * with the CA key, and writes anvil.crl (DER), anvil.crl.pem and the CA
 * certificate (ca.crt DER, ca.pem) into the publish folder, each by a
 * temporary file and rename. With [crl] shards > 1 it also signs one CRL
 * per shard, each with its own CRLNumber and a critical
 * IssuingDistributionPoint, as <stem>-s<k>.crl (and .pem) beside it.
 * Every run signs a new CRL, so a run well before nextUpdate keeps the
 * CRL fresh even when nothing changed.
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
#include "core/progress.h"
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
	    "With [crl] shards > 1 it also writes each shard's CRL,\n"
	    "DIR/<stem>-s<k>.crl and .pem (<stem>: crl_url's file name).\n"
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
 * Retires each older generation (gens[1..n-1], newest first) whose
 * certificates, the cross-certificate of the next generation included,
 * have all expired: its last CRL and OCSP answers stay
 * published, it signs nothing more (RFC 5280 5: a CRL need not list a
 * certificate past its validity). 0 or -1 (reason on stderr).
 */
static int
retire(const struct anvil_config *cfg, struct ca **gens, size_t n,
    struct store *st, time_t now, int quiet)
{
	size_t counts[CA_MAX_GENERATIONS + 1], i;
	char err[1024] = "";

	if (publish_gens_live(st, now, counts, err, sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-crl: %s\n", err);
		return -1;
	}
	for (i = 1; i < n; i++) {
		/* The cross-certificate it issued to the next generation is
		 * one of its certificates too: the default chain needs its
		 * CRL while it is valid. */
		if (ca_retired(gens[i]) || counts[ca_generation(gens[i])] != 0 ||
		    ca_cross_not_after(gens[i - 1]) >= now)
			continue;
		if (ca_gens_retire(cfg, ca_generation(gens[i]), err,
		    sizeof(err)) != ANVIL_OK) {
			fprintf(stderr, "anvil-crl: %s\n", err);
			return -1;
		}
		ca_set_retired(gens[i]);
		if (!quiet)
			printf("CA generation %u retired: every certificate it "
			    "issued has expired\n", ca_generation(gens[i]));
	}
	return 0;
}

/*
 * Signs the CRL of CA generation ca and writes it into out. 0 or -1
 * (reason on stderr).
 */
static int
crl_one(const struct anvil_config *cfg, struct ca *ca, struct store *st,
    const char *out, struct progress *pg, int quiet)
{
	struct publish_crls *crls = NULL;
	struct ca_crl *crl;
	char err[1024] = "", path[1024] = "", nu[32];
	struct tm tm;
	int status = -1;
	anvil_err rc;

	progress_show(pg, "building the CRL", 0, 0, 1);
	rc = publish_crls_build(st, ca, cfg, time(NULL), &crls, err,
	    sizeof(err));
	progress_end(pg);
	if (rc != ANVIL_OK) {
		fprintf(stderr, "anvil-crl: cannot build the CRL: %s\n", err);
		return -1;
	}
	crl = crls->full;
	if (publish_crls_write(out, ca, cfg, crls, path, sizeof(path), err,
	    sizeof(err)) != ANVIL_OK) {
		fprintf(stderr, "anvil-crl: %s\n", err);
		goto out;
	}
	if (!quiet) {
		gmtime_r(&crl->next_update, &tm);
		strftime(nu, sizeof(nu), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (ca_generation(ca) == 1)
			printf("CRL %llu written to %s (next update %s)\n",
			    (unsigned long long)crl->number, path, nu);
		else
			printf("CRL %llu of CA generation %u written to %s "
			    "(next update %s)\n",
			    (unsigned long long)crl->number,
			    ca_generation(ca), path, nu);
		if (crls->nshards > 0)
			printf("CRL shards 1 to %u written to %s\n",
			    crls->nshards, out);
	}
	status = 0;
out:
	publish_crls_free(crls);
	return status;
}

/*
 * Renews the responder when a third of its lifetime is left, then
 * pre-signs every unexpired certificate's answers. 0 or -1 (reason on
 * stderr).
 */
static int
presign(const struct anvil_config *cfg, struct ca *ca, struct store *st,
    time_t now, struct progress *pg, int quiet)
{
	struct ca_ocsp_signer *s = NULL;
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
	if (publish_ocsp_presign_all(st, ca, s, cfg, cfg->ocsp_dir, now, pg,
	    &written, &removed, err, sizeof(err)) != ANVIL_OK)
		goto out;
	progress_end(pg);
	if (!quiet)
		printf("OCSP: %zu answers pre-signed in %s (%zu removed)\n",
		    2 * written, cfg->ocsp_dir, removed);
	status = 0;
out:
	progress_end(pg);
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
	struct ca *ca = NULL, *g, *gens[CA_MAX_GENERATIONS];
	struct progress pg;
	const char *config_path = NULL, *out = NULL;
	time_t now;
	size_t i, ngen;
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
	/* Generation 1 first, as before rollover; each unretired one signs
	 * its own CRL and OCSP answers (issue 20 part 3). One now for all:
	 * each pre-signing pass keeps what the others wrote. */
	now = time(NULL);
	/* On a terminal only: cron sees nothing of it (progress.h). */
	progress_begin(&pg, "anvil-crl", quiet);
	ngen = 0;
	for (g = ca; g != NULL && ngen < CA_MAX_GENERATIONS; g = ca_older(g))
		gens[ngen++] = g;
	if (ngen > 1 && retire(cfg, gens, ngen, st, now, quiet) != 0)
		goto done;
	for (i = ngen; i-- > 0;) {
		if (ca_retired(gens[i]))
			continue;
		if (crl_one(cfg, gens[i], st, out, &pg, quiet) != 0)
			goto done;
	}
	for (i = ngen; cfg->ocsp_enabled && i-- > 0;) {
		if (ca_retired(gens[i]))
			continue;
		if (presign(cfg, gens[i], st, now, &pg, quiet) != 0)
			goto done;
	}
	status = 0;
done:
	if (lockfd >= 0)
		close(lockfd);
	store_close(st);
	ca_free(ca);
	config_free(cfg);
	gnutls_global_deinit();
	return status;
}
