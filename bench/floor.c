/*
 * floor.c - what the parts no ACME server of this design can skip cost on
 * this machine, measured in the same run as the table they explain.
 *
 *	floor [-n ITER] [-x EXECS] [PROGRAM [ARG...]]
 *
 * - ES256 (P-256, SHA-256) verification and signature through GnuTLS, the
 *   library the server signs and verifies with, over a JWS-sized input:
 *   every ACME POST is a JWS the server must verify, a finalize carries a
 *   CSR whose signature it must verify, and each certificate is a
 *   signature of its own.
 * - A fork + exec + wait of PROGRAM (with its output to /dev/null), when
 *   one is named: a CGI request is at least that. The CPU counted is this
 *   process's own (the fork) and the child's (getrusage of children).
 *
 * Each figure is CPU time per operation, not wall time, so that another
 * process on the machine slows the loop but does not change its figure
 * much. Bounded by the counts (defaults 2000 and 200) and by 20 s for
 * each loop. Prints one line "FLOOR verify_us=... sign_us=...
 * exec_ms=..." (exec_ms=- without PROGRAM). Exit status 1 if anything
 * failed, with the reason on stderr.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#define LOOP_SECS	20.0

static double
cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double
wall_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double
tv_secs(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static int
pk_floor(long iter, double *verify_us, double *sign_us)
{
	gnutls_privkey_t key = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t data, sig = { NULL, 0 };
	unsigned char msg[320];
	double t0, w0;
	long i;
	int ret, rc = -1;

	/* About a JWS signing input: protected header and payload, base64. */
	memset(msg, 'A', sizeof(msg));
	data.data = msg;
	data.size = sizeof(msg);
	if ((ret = gnutls_privkey_init(&key)) < 0 ||
	    (ret = gnutls_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0 ||
	    (ret = gnutls_pubkey_init(&pub)) < 0 ||
	    (ret = gnutls_pubkey_import_privkey(pub, key, 0, 0)) < 0) {
		fprintf(stderr, "floor: P-256 key: %s\n", gnutls_strerror(ret));
		goto out;
	}

	t0 = cpu_now();
	w0 = wall_now();
	for (i = 0; i < iter && wall_now() - w0 < LOOP_SECS; i++) {
		gnutls_free(sig.data);
		sig.data = NULL;
		if ((ret = gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0,
		    &data, &sig)) < 0) {
			fprintf(stderr, "floor: sign: %s\n",
			    gnutls_strerror(ret));
			goto out;
		}
	}
	*sign_us = (cpu_now() - t0) / (double)i * 1e6;

	t0 = cpu_now();
	w0 = wall_now();
	for (i = 0; i < iter && wall_now() - w0 < LOOP_SECS; i++) {
		if ((ret = gnutls_pubkey_verify_data2(pub,
		    GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &sig)) < 0) {
			fprintf(stderr, "floor: verify: %s\n",
			    gnutls_strerror(ret));
			goto out;
		}
	}
	*verify_us = (cpu_now() - t0) / (double)i * 1e6;
	/* The check must be able to fail: a changed input must not verify. */
	msg[0] ^= 1;
	if (gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0,
	    &data, &sig) >= 0) {
		fprintf(stderr, "floor: a changed input verified\n");
		goto out;
	}
	rc = 0;
out:
	gnutls_free(sig.data);
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(key);
	return rc;
}

static int
exec_floor(long execs, char **argv, double *exec_ms)
{
	struct rusage self0, self1, kids0, kids1;
	double w0, used;
	long i;
	pid_t pid;
	int st, devnull;

	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		perror("floor: /dev/null");
		return -1;
	}
	getrusage(RUSAGE_SELF, &self0);
	getrusage(RUSAGE_CHILDREN, &kids0);
	w0 = wall_now();
	for (i = 0; i < execs && wall_now() - w0 < LOOP_SECS; i++) {
		if ((pid = fork()) < 0) {
			perror("floor: fork");
			close(devnull);
			return -1;
		}
		if (pid == 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
			execvp(argv[0], argv);
			_exit(127);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			fprintf(stderr, "floor: %s did not exit 0\n", argv[0]);
			close(devnull);
			return -1;
		}
	}
	getrusage(RUSAGE_SELF, &self1);
	getrusage(RUSAGE_CHILDREN, &kids1);
	close(devnull);
	used = tv_secs(&self1.ru_utime) - tv_secs(&self0.ru_utime) +
	    tv_secs(&self1.ru_stime) - tv_secs(&self0.ru_stime) +
	    tv_secs(&kids1.ru_utime) - tv_secs(&kids0.ru_utime) +
	    tv_secs(&kids1.ru_stime) - tv_secs(&kids0.ru_stime);
	*exec_ms = used / (double)i * 1e3;
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: floor [-n ITER] [-x EXECS] "
	    "[PROGRAM [ARG...]]\n");
	exit(2);
}

static long
count_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 1000000)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	long iter = 2000, execs = 200;
	double verify_us = 0, sign_us = 0, exec_ms = 0;
	int c;

	while ((c = getopt(argc, argv, "+n:x:")) != -1) {
		switch (c) {
		case 'n':
			iter = count_arg(optarg);
			break;
		case 'x':
			execs = count_arg(optarg);
			break;
		default:
			usage();
		}
	}
	if (gnutls_global_init() < 0) {
		fprintf(stderr, "floor: gnutls_global_init failed\n");
		return 1;
	}
	if (pk_floor(iter, &verify_us, &sign_us) != 0)
		return 1;
	if (optind < argc && exec_floor(execs, argv + optind, &exec_ms) != 0)
		return 1;
	if (optind < argc)
		printf("FLOOR verify_us=%.1f sign_us=%.1f exec_ms=%.3f\n",
		    verify_us, sign_us, exec_ms);
	else
		printf("FLOOR verify_us=%.1f sign_us=%.1f exec_ms=-\n",
		    verify_us, sign_us);
	return 0;
}
