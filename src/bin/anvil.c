/*
 * anvil.c - the ACME server program: a FastCGI responder when a FastCGI
 * process manager starts it, a CGI program otherwise, with one code path.
 *
 * It keeps across requests only what is costly to open and the same for
 * every request: the config ($ANVIL_CONFIG), the CA, the store, the nonce
 * key. A challenge validation is queued in the store; once the reply is
 * out the program kicks a detached validation runner (src/acme/runner.c,
 * "anvil-validate" in ps), so no validation ever holds a process that
 * answers requests. "anvil --validate ID" runs one by hand.
 * Started as "nph-..." it writes the HTTP status line itself (Apache
 * mod_cgi would otherwise turn 200 + Location into a redirect).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <gnutls/gnutls.h>

#include "acme/acme.h"
#include "core/log.h"
#include "core/util.h"
#include "jose/jose.h"
#include "record/record.h"

struct server {
	struct anvil_config *cfg;
	struct ca *ca;
	unsigned long long ca_stamp;	/* ca_gens_stamp when ca was loaded */
	struct store *st;
	struct acme_ctx *ctx;
	char err[1024];
	int nph;
	int store_away;		/* the database did not answer: each request
				 * tries again, and gets 503 until it does */
	int cgi;		/* one request, then exit */
};

/* Seconds a client waits before it asks again while the store is away. */
#define STORE_RETRY_AFTER "3"

/*
 * Opens the store and the request context. 1 when the database did not
 * answer (ANVIL_ERR_UNAVAILABLE), so that the worker stays up and tries
 * again with the next request; -1 on any other failure.
 */
static int
server_store(struct server *s)
{
	unsigned flags = STORE_OPEN_CREATE;
	anvil_err rc;

	/* A CGI request that reads no record joins no Berkeley DB
	 * environment (issue 22, lever 7). PostgreSQL keeps opening first:
	 * a database that is away answers every request with 503 and
	 * Retry-After (store_away), as it does under FastCGI. */
	if (s->cgi && (s->cfg->store_backend == NULL ||
	    strcmp(s->cfg->store_backend, STORE_BACKEND_BDB) == 0))
		flags |= STORE_OPEN_DEFER;
	rc = store_open_conf(s->cfg, flags, &s->st, s->err,
	    sizeof(s->err));
	if (rc == ANVIL_ERR_UNAVAILABLE)
		return 1;
	if (rc != ANVIL_OK)
		return -1;
	if (acme_ctx_new(s->cfg, s->ca, s->st, &s->ctx, s->err,
	    sizeof(s->err)) != ANVIL_OK)
		return -1;
	return 0;
}

static int
server_open(struct server *s)
{
	int lvl;

	if (config_load(NULL, &s->cfg, s->err, sizeof(s->err)) != ANVIL_OK)
		return -1;
	if ((lvl = log_level_parse(s->cfg->log_level)) >= 0)
		log_set_level((enum log_level)lvl);
	/* Stamp first: a rollover in between is seen at the next request. */
	s->ca_stamp = ca_gens_stamp(s->cfg);
	if (ca_load_or_generate(s->cfg, &s->ca, s->err, sizeof(s->err)) !=
	    ANVIL_OK)
		return -1;
	switch (server_store(s)) {
	case 0:
		return 0;
	case 1:
		log_warn("the store is away, requests get 503 until it "
		    "answers: %s", s->err);
		s->store_away = 1;
		return 0;
	default:
		return -1;
	}
}

static void
server_close(struct server *s)
{
	acme_ctx_free(s->ctx);
	store_close(s->st);
	ca_free(s->ca);
	config_free(s->cfg);
}

/*
 * SIGTERM, SIGINT, SIGHUP: web servers send them to CGI programs that are
 * still running once the reply is in (lighttpd), and to FastCGI workers
 * they retire (mod_fcgid's idle and lifetime limits, a server stopping).
 * The handler only notes it. A FastCGI worker waiting in accept() is woken
 * (no SA_RESTART, and FCGI_FAIL_ACCEPT_ON_INTR makes libfcgi return
 * instead of accepting again); one serving a request finishes it; both then
 * leave through server_close, which closes the store, as a process dying
 * with it open makes the next opener run recovery. The handler calls
 * nothing else: it may interrupt malloc inside libfcgi. A signal that
 * lands after the check and before accept() blocks would be missed, so
 * when the worker is idle the handler also closes the listening socket
 * (fd 0 in FastCGI; close is async-signal-safe), and accept() fails.
 */
static volatile sig_atomic_t term_pending;	/* asked to stop */
static volatile sig_atomic_t fcgi_idle;	/* in FCGX_Accept_r, waiting */

static void
on_term(int sig)
{
	(void)sig;
	term_pending = 1;
	if (fcgi_idle)
		(void)close(0);
}

static void
catch_term(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)sigaction(sigs[i], &sa, NULL);
}

/* A server that could not start answers every request with this. */
static void
unavailable(struct http_resp *resp)
{
	json_t *doc = rec_problem(ANVIL_ERR_CONFIG, "the ACME server is not "
	    "configured correctly; see the web server's error log");
	char *b = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;

	json_decref(doc);
	resp->status = rec_problem_status(ANVIL_ERR_CONFIG);
	if (b != NULL)
		http_resp_body(resp, b, strlen(b), "application/problem+json");
}

/*
 * Apache mod_fcgid turns 200 + Location into a redirect. Its shipped
 * config sets ANVIL_LOCATION_HEADER to a private header name; the program
 * sends the URL under that name and mod_headers copies it back to
 * Location (apache/anvil-fcgid.conf).
 */
static void
rename_location(struct http_resp *resp)
{
	const char *name = getenv("ANVIL_LOCATION_HEADER");
	size_t i;

	/* An nph- reply passes Apache untouched, so nothing would put the
	 * header back; the same entry point may be renamed nph-
	 * (docs/shared-host.md). */
	if (resp->nph || name == NULL || *name == '\0' || strlen(name) > 64 ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-") != strlen(name))
		return;
	for (i = 0; i < resp->nheaders; i++)
		if (strcmp(resp->headers[i].name, "Location") == 0) {
			char *n = strdup(name);
			if (n != NULL) {
				free(resp->headers[i].name);
				resp->headers[i].name = n;
			}
		}
}

/*
 * A FastCGI worker outlives an "anvil-admin ca rollover": when
 * data_dir/cas.json has changed since the CA was loaded, the CA is loaded
 * again, so the new generation issues from the next request on. A CA that
 * fails to load is logged and the one in use kept.
 */
static void
ca_reload(struct server *s)
{
	unsigned long long stamp = ca_gens_stamp(s->cfg);
	struct ca *ca = NULL;
	char err[512] = "";

	if (stamp == s->ca_stamp)
		return;
	s->ca_stamp = stamp;
	if (ca_load_or_generate(s->cfg, &ca, err, sizeof(err)) != ANVIL_OK) {
		log_err("CA generations changed but cannot be loaded: %s; "
		    "still issuing from generation %u", err,
		    ca_generation(s->ca));
		return;
	}
	acme_ctx_set_ca(s->ctx, ca);
	ca_free(s->ca);
	s->ca = ca;
	log_info("CA reloaded: generation %u issues", ca_generation(ca));
}

/* While the database is away: 503 and when to come back. */
static void
store_away(struct http_resp *resp)
{
	json_t *doc = rec_problem(ANVIL_ERR_UNAVAILABLE, "the database is "
	    "unavailable; try again shortly");
	char *b = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;

	json_decref(doc);
	resp->status = rec_problem_status(ANVIL_ERR_UNAVAILABLE);
	(void)http_resp_header(resp, "Retry-After", STORE_RETRY_AFTER);
	if (b != NULL)
		http_resp_body(resp, b, strlen(b), "application/problem+json");
}

static void
serve_one(struct server *s, struct FCGX_Request *fcgi, char **validate)
{
	struct http_req req;
	struct http_resp resp;
	anvil_err rc;

	memset(&resp, 0, sizeof(resp));
	resp.nph = s->nph;
	*validate = NULL;
	if (s->ctx == NULL && s->store_away) {
		int r = server_store(s);

		if (r != 1)
			s->store_away = 0;
		if (r < 0)
			log_err("cannot start: %s", s->err);
		else if (r == 0)
			log_info("the store answers again");
	}
	if (s->ctx == NULL) {
		memset(&req, 0, sizeof(req));
		if (s->store_away)
			store_away(&resp);
		else
			unavailable(&resp);
	} else {
		ca_reload(s);
		rc = http_read_request(fcgi, acme_base_path(s->ctx),
		    s->cfg->max_body, &req);
		/* The request's store calls share one span of the recovery
		 * fence; it ends before the reply is written. */
		store_hold(s->st);
		acme_handle(s->ctx, rc, &req, &resp, validate);
		store_idle(s->st);
	}
	rename_location(&resp);
	if (http_write_response(fcgi, &resp) != ANVIL_OK)
		log_warn("the client went away before the reply was written");
	http_req_clear(&req);
	http_resp_clear(&resp);
}

/*
 * Ends a FastCGI request. libfcgi closes the connection lingering
 * (os_unix.c OS_Close in libfcgi: shutdown, then wait up to 2 s for the
 * web server to close first, reading whatever it still sends), so that
 * input left unread cannot turn the close into a TCP reset that loses the
 * reply. That wait is a sleep and a wake-up per request, and the worker
 * accepts nothing meanwhile. Once the request's input is read to its end
 * (the empty FCGI_STDIN record; the web server sends nothing after it
 * without FCGI_KEEP_CONN, which lighttpd and Apache do not set) nothing is
 * left to reset, so FCGX_Detach turns the lingering off and the close is
 * immediate.
 *
 * The reply is still in libfcgi's buffer here (http_write_response does
 * not flush), so input is drained only when CONTENT_LENGTH is a body
 * http_read_request accepts (at most max_body, already read): then only
 * the end record is left. A body refused as too large is not waited for;
 * the lingering close stays for it.
 */
#define DRAIN_MAX	65536

static void
fcgi_finish(FCGX_Request *req, size_t max_body)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", req->envp);
	unsigned long long len = 0;
	char buf[4096], *end = NULL;
	size_t drained = 0;
	int n;

	if (cl != NULL && *cl != '\0') {
		errno = 0;
		len = strtoull(cl, &end, 10);
		if (errno != 0 || *end != '\0' || *cl == '-' || len > max_body)
			goto linger;
	}
	while (drained < DRAIN_MAX && (n = FCGX_GetStr(buf, sizeof(buf),
	    req->in)) > 0)
		drained += (size_t)n;
	if (FCGX_HasSeenEOF(req->in) == EOF)
		(void)FCGX_Detach(req);
linger:
	FCGX_Finish_r(req);
}

int
main(int argc, char **argv)
{
	struct server s;
	FCGX_Request req;
	char *validate = NULL;
	const char *base = strrchr(argv[0], '/');
	size_t max_body;

	memset(&s, 0, sizeof(s));
	signal(SIGPIPE, SIG_IGN);
	log_init("anvil", LOG_LVL_INFO, argc == 4 && strcmp(argv[3],
	    "--syslog") == 0);
	base = base ? base + 1 : argv[0];
	s.nph = strncmp(base, "nph-", 4) == 0;
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("anvil %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (gnutls_global_init() < 0) {
		log_err("GnuTLS failed to initialise");
		return 1;
	}
	s.cgi = argc == 1 && FCGX_IsCGI();
	if (server_open(&s) != 0) {
		log_err("cannot start: %s", s.err);
		server_close(&s);
		s.cfg = NULL;
		s.ca = NULL;
		s.st = NULL;
		s.ctx = NULL;
		if (argc >= 2)
			return 1;
	}
	util_cloexec_all();
	catch_term();

	if ((argc == 3 || (argc == 4 && strcmp(argv[3], "--syslog") == 0)) &&
	    strcmp(argv[1], "--validate") == 0) {
		anvil_err rc = s.ctx != NULL ? acme_validate(s.ctx, argv[2]) :
		    ANVIL_ERR_UNAVAILABLE;
		server_close(&s);
		return rc == ANVIL_OK ? 0 : 1;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: anvil [--version | --validate ID "
		    "[--syslog]]\n"
		    "(run by a web server as CGI or FastCGI, with "
		    "ANVIL_CONFIG set)\n");
		server_close(&s);
		return 2;
	}

	if (s.cgi) {
		/* A wrapper script named nph-... (a shared host's cgi-bin
		 * entry point) makes this an nph- CGI too. */
		const char *sf = getenv("SCRIPT_FILENAME");
		const char *sb = sf ? strrchr(sf, '/') : NULL;
		sb = sb ? sb + 1 : sf;
		if (sb != NULL && strncmp(sb, "nph-", 4) == 0)
			s.nph = 1;
		serve_one(&s, NULL, &validate);
		/* The store closes first: the runner opens its own. */
		if (validate != NULL && s.ctx != NULL) {
			acme_ctx_free(s.ctx);
			s.ctx = NULL;
			store_close(s.st);
			s.st = NULL;
			(void)acme_runner_kick(s.cfg);
		}
		free(validate);
		server_close(&s);
		return 0;
	}
	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0,
	    FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_err("FastCGI initialisation failed");
		server_close(&s);
		return 1;
	}
	/* A worker verifies many JWS: worth loading libcrypto for (a failure
	 * is logged; GnuTLS verifies then). */
	(void)jose_ossl_enable();
	max_body = s.cfg != NULL ? s.cfg->max_body : 0;
	for (;;) {
		int r;

		fcgi_idle = 1;
		r = term_pending ? -1 : FCGX_Accept_r(&req);
		fcgi_idle = 0;
		if (r < 0 || term_pending) {
			if (r >= 0) {
				/* Accepted as the signal came: answer it. */
				serve_one(&s, &req, &validate);
				fcgi_finish(&req, max_body);
				if (validate != NULL && s.ctx != NULL)
					(void)acme_runner_kick(s.cfg);
				free(validate);
			}
			break;
		}
		serve_one(&s, &req, &validate);
		fcgi_finish(&req, max_body);
		if (validate != NULL && s.ctx != NULL)
			(void)acme_runner_kick(s.cfg);
		free(validate);
		validate = NULL;
		store_maintain(s.st);
	}
	server_close(&s);
	return 0;
}
