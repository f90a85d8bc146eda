/*
 * acmeload.c - a load generator for ACME (RFC 8555) servers.
 *
 * C worker threads, each with its own libcurl easy handle (one kept-alive
 * HTTPS connection) and its own ES256 account key (GnuTLS), run full
 * issuance flows: newOrder for one random DNS name under a test domain,
 * authz fetch, http-01 answered by the generator's own responder (threads
 * listening on --http01-address (default 127.0.0.1) and --http01-port
 * serving /.well-known/acme-challenge/
 * from a shared table), POST {} to the challenge, poll the authz, finalize
 * with a fresh P-256 CSR (poll the order if it is processing), download the
 * certificate. The server validates for real.
 *
 * Micro modes: --mode nonce (HEAD newNonce), directory (GET directory),
 * order (POST-as-GET of one order per worker).
 *
 * Every run is bounded by a count (-n) and a time (-t); every request by a
 * libcurl timeout; every poll by a count and a time.
 *
 * Prints flows/s (or req/s), p50/p95/p99 latency, errors by type, and the
 * generator's own CPU (getrusage) per flow, then one "RESULT key=value ..."
 * line for scripts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>

enum mode { M_FLOWS, M_NONCE, M_DIRECTORY, M_ORDER };

static struct {
	int conc;
	long max;
	double secs;
	const char *dir_url;
	const char *cacert;
	int http01_port;
	const char *http01_addr;	/* IPv4 address of the responder */
	enum mode mode;
	const char *domain;
	int verbose;
	double poll_max;	/* seconds a poll may last */
	int req_timeout;	/* seconds per request */
} opt = { 4, 1000000, 10, NULL, NULL, 5002, "127.0.0.1", M_FLOWS,
    "bench.test", 0, 30, 30 };

/* The directory, read once. */
static char u_nonce[512], u_account[512], u_order[512];

static atomic_long started, done_ok, done_err, requests;
static double t_start, t_deadline;
static atomic_int stop_now;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("acmeload: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ------------------------------------------------------------ errors */

#define MAX_ERRKINDS 64
static struct { char what[160]; long n; } errkinds[MAX_ERRKINDS];
static int n_errkinds;
static long errkinds_other;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;

static void count_error(const char *what)
{
	pthread_mutex_lock(&err_mu);
	int i;
	for (i = 0; i < n_errkinds; i++)
		if (strcmp(errkinds[i].what, what) == 0)
			break;
	if (i == n_errkinds) {
		if (n_errkinds == MAX_ERRKINDS) {
			errkinds_other++;
			pthread_mutex_unlock(&err_mu);
			return;
		}
		snprintf(errkinds[i].what, sizeof errkinds[i].what, "%s", what);
		n_errkinds++;
	}
	errkinds[i].n++;
	pthread_mutex_unlock(&err_mu);
}

/* ------------------------------------------------------------ base64url */

static size_t b64u(char *out, const unsigned char *in, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = in[i] << 16;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = in[i] << 16 | in[i + 1] << 8;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
	}
	out[o] = 0;
	return o;
}

static char *b64u_alloc(const void *in, size_t n)
{
	char *out = malloc(n * 4 / 3 + 4);
	if (!out)
		die("out of memory");
	b64u(out, in, n);
	return out;
}

/* ------------------------------------------------------------ http-01 */

#define MAX_TOKENS 1024
static struct { char token[128]; char keyauth[256]; int used; } tokens[MAX_TOKENS];
static pthread_mutex_t tok_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long http01_served, http01_missed;
static int listen_fd = -1;

static void token_set(int slot, const char *token, const char *keyauth)
{
	pthread_mutex_lock(&tok_mu);
	snprintf(tokens[slot].token, sizeof tokens[slot].token, "%s", token);
	snprintf(tokens[slot].keyauth, sizeof tokens[slot].keyauth, "%s", keyauth);
	tokens[slot].used = 1;
	pthread_mutex_unlock(&tok_mu);
}

static void token_clear(int slot)
{
	pthread_mutex_lock(&tok_mu);
	tokens[slot].used = 0;
	pthread_mutex_unlock(&tok_mu);
}

static void *http01_thread(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (atomic_load(&stop_now))
				return NULL;
			continue;
		}
		struct timeval tv = { 2, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		char buf[4096];
		size_t len = 0;
		while (len < sizeof buf - 1) {
			ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
			if (r <= 0)
				break;
			len += r;
			buf[len] = 0;
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		buf[len] = 0;
		const char *pre = "GET /.well-known/acme-challenge/";
		char ka[256] = "";
		if (strncmp(buf, pre, strlen(pre)) == 0) {
			char *tok = buf + strlen(pre);
			tok[strcspn(tok, " ?\r\n")] = 0;
			pthread_mutex_lock(&tok_mu);
			for (int i = 0; i < MAX_TOKENS; i++)
				if (tokens[i].used && strcmp(tokens[i].token, tok) == 0) {
					strcpy(ka, tokens[i].keyauth);
					break;
				}
			pthread_mutex_unlock(&tok_mu);
		}
		char out[512];
		int n;
		if (ka[0]) {
			n = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Type: "
			    "text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			    strlen(ka), ka);
			atomic_fetch_add(&http01_served, 1);
		} else {
			n = snprintf(out, sizeof out, "HTTP/1.1 404 Not Found\r\n"
			    "Content-Length: 0\r\nConnection: close\r\n\r\n");
			atomic_fetch_add(&http01_missed, 1);
		}
		ssize_t w = write(fd, out, n);
		(void)w;
		close(fd);
	}
	return NULL;
}

static void start_http01(void)
{
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port = htons(opt.http01_port) };
	if (inet_pton(AF_INET, opt.http01_addr, &sa.sin_addr) != 1)
		die("--http01-address %s: not an IPv4 address", opt.http01_addr);
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("http-01 responder: bind %s:%d: %s", opt.http01_addr,
		    opt.http01_port, strerror(errno));
	if (listen(listen_fd, 256) < 0)
		die("listen: %s", strerror(errno));
	for (int i = 0; i < 4; i++) {
		pthread_t t;
		pthread_create(&t, NULL, http01_thread, NULL);
		pthread_detach(t);
	}
}

/* ------------------------------------------------------------ worker */

struct buf { char *p; size_t len, cap; };

struct worker {
	int id;
	CURL *h;
	struct curl_slist *hdrs;
	gnutls_privkey_t key;
	char jwk[256];		/* canonical JWK (also the thumbprint input) */
	char thumb[64];
	char kid[512];
	char nonce[256];
	char location[512];
	char ctype[128];
	char retry_after[32];
	long status;
	struct buf body;
	unsigned int rng;
	double *lat;
	long nlat, caplat;
	long polls;
	char order_url[512];	/* --mode order */
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	struct buf *b = ud;
	size_t k = sz * n;
	if (b->len + k + 1 > b->cap) {
		size_t c = b->cap ? b->cap * 2 : 8192;
		while (c < b->len + k + 1)
			c *= 2;
		char *q = realloc(b->p, c);
		if (!q)
			return 0;
		b->p = q;
		b->cap = c;
	}
	memcpy(b->p + b->len, p, k);
	b->len += k;
	b->p[b->len] = 0;
	return k;
}

static void hdr_copy(char *dst, size_t dsz, const char *v, size_t n)
{
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	while (n && *v == ' ')
		v++, n--;
	if (n >= dsz)
		n = dsz - 1;
	memcpy(dst, v, n);
	dst[n] = 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	struct worker *w = ud;
	size_t k = sz * n;
	if (k > 13 && strncasecmp(p, "Replay-Nonce:", 13) == 0)
		hdr_copy(w->nonce, sizeof w->nonce, p + 13, k - 13);
	else if (k > 9 && strncasecmp(p, "Location:", 9) == 0)
		hdr_copy(w->location, sizeof w->location, p + 9, k - 9);
	else if (k > 13 && strncasecmp(p, "Content-Type:", 13) == 0)
		hdr_copy(w->ctype, sizeof w->ctype, p + 13, k - 13);
	else if (k > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
		hdr_copy(w->retry_after, sizeof w->retry_after, p + 12, k - 12);
	return k;
}

/* One request. method "GET", "HEAD" or "POST" (body JSON). Returns 0 when
 * an HTTP answer came back (w->status), -1 on a transport error (counted
 * under step). */
static int http(struct worker *w, const char *step, const char *method,
    const char *url, const char *body)
{
	CURL *h = w->h;
	w->body.len = 0;
	if (w->body.p)
		w->body.p[0] = 0;
	w->location[0] = w->ctype[0] = w->retry_after[0] = 0;
	w->status = 0;
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else {
		curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
	atomic_fetch_add(&requests, 1);
	double t0 = now();
	CURLcode rc = curl_easy_perform(h);
	if (opt.verbose && now() - t0 > 0.25)
		fprintf(stderr, "worker %d: slow %s %s: %.0f ms\n", w->id,
		    method, step, (now() - t0) * 1000);
	if (rc != CURLE_OK) {
		char e[160];
		snprintf(e, sizeof e, "%s: transport: %s", step, curl_easy_strerror(rc));
		count_error(e);
		if (opt.verbose)
			fprintf(stderr, "worker %d: %s (%s)\n", w->id, e, url);
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &w->status);
	return 0;
}

/* Counts an unexpected HTTP answer under "step: STATUS type". */
static void bad_answer(struct worker *w, const char *step)
{
	char e[160], typ[96] = "";
	json_t *j = json_loads(w->body.p ? w->body.p : "", 0, NULL);
	if (j) {
		const char *t = json_string_value(json_object_get(j, "type"));
		if (t) {
			const char *s = strrchr(t, ':');
			snprintf(typ, sizeof typ, " %s", s ? s + 1 : t);
		}
		json_decref(j);
	}
	snprintf(e, sizeof e, "%s: HTTP %ld%s", step, w->status, typ);
	count_error(e);
	if (opt.verbose)
		fprintf(stderr, "worker %d: %s\n%.600s\n", w->id, e,
		    w->body.p ? w->body.p : "");
}

static int sign_es256(gnutls_privkey_t key, const char *data, size_t n,
    unsigned char out[64])
{
	gnutls_datum_t d = { (unsigned char *)data, n }, sig = { 0 }, r, s;
	if (gnutls_privkey_sign_data(key, GNUTLS_DIG_SHA256, 0, &d, &sig) < 0)
		return -1;
	if (gnutls_decode_rs_value(&sig, &r, &s) < 0) {
		gnutls_free(sig.data);
		return -1;
	}
	memset(out, 0, 64);
	const gnutls_datum_t *v[2] = { &r, &s };
	for (int i = 0; i < 2; i++) {
		const unsigned char *p = v[i]->data;
		size_t len = v[i]->size;
		while (len > 32 && *p == 0)
			p++, len--;
		memcpy(out + i * 32 + (32 - len), p, len);
	}
	gnutls_free(r.data);
	gnutls_free(s.data);
	gnutls_free(sig.data);
	return 0;
}

static int get_nonce(struct worker *w, const char *step)
{
	if (http(w, step, "HEAD", u_nonce, NULL) < 0)
		return -1;
	if (!w->nonce[0]) {
		bad_answer(w, step);
		return -1;
	}
	return 0;
}

/* POST a JWS to url. payload NULL: POST-as-GET. use_jwk: newAccount.
 * Retries a badNonce twice. Returns 0 with an HTTP answer, -1 otherwise. */
static int acme_post(struct worker *w, const char *step, const char *url,
    const char *payload, int use_jwk)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		if (!w->nonce[0] && get_nonce(w, "newNonce") < 0)
			return -1;
		char prot[1600];
		if (use_jwk)
			snprintf(prot, sizeof prot, "{\"alg\":\"ES256\",\"jwk\":%s,"
			    "\"nonce\":\"%s\",\"url\":\"%s\"}", w->jwk, w->nonce, url);
		else
			snprintf(prot, sizeof prot, "{\"alg\":\"ES256\",\"kid\":\"%s\","
			    "\"nonce\":\"%s\",\"url\":\"%s\"}", w->kid, w->nonce, url);
		w->nonce[0] = 0;
		size_t plen = payload ? strlen(payload) : 0;
		size_t cap = (strlen(prot) + plen) * 4 / 3 + 256;
		char *signing = malloc(cap);
		if (!signing)
			die("out of memory");
		size_t a = b64u(signing, (unsigned char *)prot, strlen(prot));
		signing[a++] = '.';
		size_t b = payload ? b64u(signing + a, (unsigned char *)payload, plen) : 0;
		signing[a + b] = 0;
		unsigned char sig[64];
		char sig64[100];
		if (sign_es256(w->key, signing, a + b, sig) < 0)
			die("signing failed");
		b64u(sig64, sig, 64);
		signing[a - 1] = 0;
		char *body = malloc(cap + 256);
		if (!body)
			die("out of memory");
		sprintf(body, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
		    signing, signing + a, sig64);
		free(signing);
		int rc = http(w, step, "POST", url, body);
		free(body);
		if (rc < 0)
			return -1;
		if (w->status == 400 && w->body.p &&
		    strstr(w->body.p, "urn:ietf:params:acme:error:badNonce")) {
			count_error("(retried) badNonce");
			continue;
		}
		return 0;
	}
	bad_answer(w, step);
	return -1;
}

static json_t *body_json(struct worker *w, const char *step)
{
	json_error_t je;
	json_t *j = json_loads(w->body.p ? w->body.p : "", 0, &je);
	if (!j) {
		char e[160];
		snprintf(e, sizeof e, "%s: reply not JSON", step);
		count_error(e);
	}
	return j;
}

static void copy_str(char *dst, size_t n, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(dst, n, "%s", s ? s : "");
}

/* Polls url (POST-as-GET) while status is one of `pending` (space
 * separated); returns the final object (caller frees) or NULL. */
static json_t *poll_until(struct worker *w, const char *step, const char *url,
    const char *want)
{
	double t0 = now();
	int sleep_us = 2000;
	for (int i = 0; i < 2000; i++) {
		if (acme_post(w, step, url, NULL, 0) < 0)
			return NULL;
		if (w->status != 200) {
			bad_answer(w, step);
			return NULL;
		}
		w->polls++;
		json_t *j = body_json(w, step);
		if (!j)
			return NULL;
		const char *st = json_string_value(json_object_get(j, "status"));
		if (st && strcmp(st, want) == 0)
			return j;
		if (!st || strcmp(st, "invalid") == 0 ||
		    (strcmp(st, "pending") != 0 && strcmp(st, "processing") != 0 &&
		     strcmp(st, "ready") != 0)) {
			char e[160];
			snprintf(e, sizeof e, "%s: status %s", step, st ? st : "(none)");
			count_error(e);
			if (opt.verbose)
				fprintf(stderr, "worker %d: %s\n%.800s\n", w->id, e, w->body.p);
			json_decref(j);
			return NULL;
		}
		json_decref(j);
		if (now() - t0 > opt.poll_max) {
			char e[160];
			snprintf(e, sizeof e, "%s: still %s after %.0f s", step, st,
			    opt.poll_max);
			count_error(e);
			return NULL;
		}
		usleep(sleep_us);
		if (sleep_us < 50000)
			sleep_us *= 2;
	}
	return NULL;
}

static int make_csr(const char *name, char **out64)
{
	gnutls_privkey_t k;
	gnutls_pubkey_t pub;
	gnutls_x509_crq_t crq;
	gnutls_datum_t der = { 0 };
	int ok = -1;
	gnutls_privkey_init(&k);
	gnutls_pubkey_init(&pub);
	gnutls_x509_crq_init(&crq);
	if (gnutls_privkey_generate(k, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_pubkey_import_privkey(pub, k, 0, 0) < 0 ||
	    gnutls_x509_crq_set_version(crq, 1) < 0 ||
	    gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0,
	        name, strlen(name)) < 0 ||
	    gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, name,
	        strlen(name), GNUTLS_FSAN_SET) < 0 ||
	    gnutls_x509_crq_set_pubkey(crq, pub) < 0 ||
	    gnutls_x509_crq_privkey_sign(crq, k, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &der) < 0)
		goto out;
	*out64 = b64u_alloc(der.data, der.size);
	ok = 0;
out:
	gnutls_free(der.data);
	gnutls_x509_crq_deinit(crq);
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(k);
	return ok;
}

static int create_order(struct worker *w, const char *name, char *order_url,
    size_t n, json_t **order)
{
	char payload[512];
	snprintf(payload, sizeof payload,
	    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}", name);
	if (acme_post(w, "newOrder", u_order, payload, 0) < 0)
		return -1;
	if (w->status != 201 || !w->location[0]) {
		bad_answer(w, "newOrder");
		return -1;
	}
	snprintf(order_url, n, "%s", w->location);
	*order = body_json(w, "newOrder");
	return *order ? 0 : -1;
}

/* One full issuance flow. 0 on success. */
static int flow(struct worker *w)
{
	char name[128], order_url[512], authz[512], chall[512], token[128],
	    finalize[512], cert[512], keyauth[256];
	int rc = -1;
	json_t *o = NULL, *a = NULL;
	unsigned long long r1 = ((unsigned long long)rand_r(&w->rng) << 31) ^ rand_r(&w->rng);
	snprintf(name, sizeof name, "f%d-%llx.%s", w->id, r1, opt.domain);

	if (create_order(w, name, order_url, sizeof order_url, &o) < 0)
		return -1;
	json_t *az = json_array_get(json_object_get(o, "authorizations"), 0);
	snprintf(authz, sizeof authz, "%s", json_string_value(az) ? json_string_value(az) : "");
	copy_str(finalize, sizeof finalize, o, "finalize");
	json_decref(o);
	o = NULL;
	if (!authz[0] || !finalize[0]) {
		count_error("newOrder: no authorization or finalize URL");
		return -1;
	}

	if (acme_post(w, "authz", authz, NULL, 0) < 0)
		return -1;
	if (w->status != 200) {
		bad_answer(w, "authz");
		return -1;
	}
	if (!(a = body_json(w, "authz")))
		return -1;
	chall[0] = token[0] = 0;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(a, "challenges"), i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));
		if (t && strcmp(t, "http-01") == 0) {
			copy_str(chall, sizeof chall, c, "url");
			copy_str(token, sizeof token, c, "token");
		}
	}
	json_decref(a);
	a = NULL;
	if (!chall[0] || !token[0]) {
		count_error("authz: no http-01 challenge");
		return -1;
	}
	snprintf(keyauth, sizeof keyauth, "%s.%s", token, w->thumb);
	token_set(w->id, token, keyauth);

	if (acme_post(w, "challenge", chall, "{}", 0) < 0)
		goto out;
	if (w->status != 200) {
		bad_answer(w, "challenge");
		goto out;
	}
	if (!(a = poll_until(w, "poll authz", authz, "valid")))
		goto out;
	json_decref(a);
	a = NULL;
	token_clear(w->id);

	char *csr = NULL;
	if (make_csr(name, &csr) < 0) {
		count_error("CSR: GnuTLS failed");
		goto out;
	}
	char *payload = malloc(strlen(csr) + 32);
	sprintf(payload, "{\"csr\":\"%s\"}", csr);
	free(csr);
	int frc = -1;
	for (int tries = 0; tries < 2; tries++) {
		frc = acme_post(w, "finalize", finalize, payload, 0);
		if (frc < 0)
			break;
		if (w->status == 403 && strstr(w->body.p, "orderNotReady") && tries == 0) {
			/* The order may turn ready a moment after its authz. */
			json_t *x = poll_until(w, "poll order (ready)", order_url, "ready");
			if (!x) {
				frc = -1;
				break;
			}
			json_decref(x);
			continue;
		}
		break;
	}
	free(payload);
	if (frc < 0)
		goto out;
	if (w->status != 200) {
		bad_answer(w, "finalize");
		goto out;
	}
	if (!(o = body_json(w, "finalize")))
		goto out;
	const char *st = json_string_value(json_object_get(o, "status"));
	if (!st || strcmp(st, "valid") != 0) {
		json_decref(o);
		if (!(o = poll_until(w, "poll order", order_url, "valid")))
			goto out;
	}
	copy_str(cert, sizeof cert, o, "certificate");
	if (!cert[0]) {
		count_error("order: no certificate URL");
		goto out;
	}
	if (acme_post(w, "certificate", cert, NULL, 0) < 0)
		goto out;
	if (w->status != 200 || !w->body.p ||
	    !strstr(w->body.p, "-----BEGIN CERTIFICATE-----")) {
		bad_answer(w, "certificate");
		goto out;
	}
	rc = 0;
out:
	token_clear(w->id);
	if (o)
		json_decref(o);
	if (a)
		json_decref(a);
	return rc;
}

static int one_request(struct worker *w)
{
	switch (opt.mode) {
	case M_NONCE:
		if (http(w, "HEAD newNonce", "HEAD", u_nonce, NULL) < 0)
			return -1;
		if ((w->status != 200 && w->status != 204) || !w->nonce[0]) {
			bad_answer(w, "HEAD newNonce");
			return -1;
		}
		return 0;
	case M_DIRECTORY:
		if (http(w, "directory", "GET", opt.dir_url, NULL) < 0)
			return -1;
		if (w->status != 200 || !strstr(w->body.p, "newNonce")) {
			bad_answer(w, "directory");
			return -1;
		}
		return 0;
	case M_ORDER:
		if (acme_post(w, "order", w->order_url, NULL, 0) < 0)
			return -1;
		if (w->status != 200) {
			bad_answer(w, "order");
			return -1;
		}
		return 0;
	default:
		return flow(w);
	}
}

static pthread_barrier_t barrier;

static int setup_worker(struct worker *w)
{
	w->h = curl_easy_init();
	CURL *h = w->h;
	if (!h || !(w->body.p = calloc(1, 8192)))
		die("out of memory");
	w->body.cap = 8192;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)opt.req_timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "acmeload/1");
	if (opt.cacert) {
		/*
		 * Trust that file alone. libcurl's GnuTLS build also loads its
		 * default CA folder (/etc/ssl/certs, ~140 certificates) for every
		 * new connection: 15-25 ms of the generator's CPU each time a
		 * server ends a kept-alive connection (lighttpd does after 1000
		 * requests), which made the generator, not the server, the
		 * bottleneck of the newNonce runs.
		 */
		curl_easy_setopt(h, CURLOPT_CAINFO, opt.cacert);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	w->hdrs = curl_slist_append(NULL, "Content-Type: application/jose+json");
	w->hdrs = curl_slist_append(w->hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, w->hdrs);

	if (opt.mode == M_NONCE || opt.mode == M_DIRECTORY)
		return 0;

	/* The account: an ES256 key of its own. */
	gnutls_privkey_init(&w->key);
	if (gnutls_privkey_generate(w->key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		die("key generation failed");
	gnutls_ecc_curve_t curve;
	gnutls_datum_t x, y;
	if (gnutls_privkey_export_ecc_raw2(w->key, &curve, &x, &y, NULL,
	    GNUTLS_EXPORT_FLAG_NO_LZ) < 0)
		die("key export failed");
	unsigned char xb[32] = { 0 }, yb[32] = { 0 };
	memcpy(xb + 32 - x.size, x.data, x.size);
	memcpy(yb + 32 - y.size, y.data, y.size);
	gnutls_free(x.data);
	gnutls_free(y.data);
	char x64[64], y64[64];
	b64u(x64, xb, 32);
	b64u(y64, yb, 32);
	snprintf(w->jwk, sizeof w->jwk,
	    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x64, y64);
	unsigned char dg[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, w->jwk, strlen(w->jwk), dg);
	b64u(w->thumb, dg, 32);

	if (acme_post(w, "newAccount", u_account,
	    "{\"termsOfServiceAgreed\":true}", 1) < 0)
		return -1;
	if ((w->status != 201 && w->status != 200) || !w->location[0]) {
		bad_answer(w, "newAccount");
		return -1;
	}
	snprintf(w->kid, sizeof w->kid, "%s", w->location);

	if (opt.mode == M_ORDER) {
		char name[128];
		json_t *o;
		snprintf(name, sizeof name, "o%d-%x.%s", w->id, rand_r(&w->rng), opt.domain);
		if (create_order(w, name, w->order_url, sizeof w->order_url, &o) < 0)
			return -1;
		json_decref(o);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ok = setup_worker(w) == 0;
	pthread_barrier_wait(&barrier);
	if (!ok)
		return NULL;
	while (!atomic_load(&stop_now)) {
		if (atomic_fetch_add(&started, 1) >= opt.max)
			break;
		double t0 = now();
		if (t0 >= t_deadline)
			break;
		int rc = one_request(w);
		double t1 = now();
		if (rc == 0) {
			atomic_fetch_add(&done_ok, 1);
			if (w->nlat == w->caplat) {
				w->caplat = w->caplat ? w->caplat * 2 : 1024;
				w->lat = realloc(w->lat, w->caplat * sizeof *w->lat);
				if (!w->lat)
					die("out of memory");
			}
			w->lat[w->nlat++] = t1 - t0;
		} else {
			atomic_fetch_add(&done_err, 1);
		}
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, long n, double p)
{
	if (n == 0)
		return 0;
	long i = (long)(p / 100.0 * n);
	if (i >= n)
		i = n - 1;
	return v[i];
}

static double cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 +
	    ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
}

static void read_directory(void)
{
	struct worker w = { .id = -1 };
	struct { const char *key; char *dst; } f[] = {
		{ "newNonce", u_nonce }, { "newAccount", u_account },
		{ "newOrder", u_order } };
	enum mode m = opt.mode;
	opt.mode = M_NONCE;	/* no account for this one */
	setup_worker(&w);
	opt.mode = m;
	if (http(&w, "directory", "GET", opt.dir_url, NULL) < 0 || w.status != 200)
		die("cannot read the directory %s (HTTP %ld)", opt.dir_url, w.status);
	json_t *d = json_loads(w.body.p, 0, NULL);
	if (!d)
		die("directory is not JSON");
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		const char *s = json_string_value(json_object_get(d, f[i].key));
		if (!s)
			die("directory lacks %s", f[i].key);
		snprintf(f[i].dst, 512, "%s", s);
	}
	json_decref(d);
	curl_easy_cleanup(w.h);
	curl_slist_free_all(w.hdrs);
	free(w.body.p);
}

static void usage(void)
{
	fprintf(stderr,
	    "usage: acmeload -u DIRECTORY_URL [-c CONC] [-n MAX] [-t SECONDS]\n"
	    "         [--cacert PEM] [--http01-port PORT] [--http01-address IPV4]\n"
	    "         [--domain DOMAIN]\n"
	    "         [--mode flows|nonce|directory|order] [--poll-max S] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cacert", required_argument, 0, 'C' },
		{ "http01-port", required_argument, 0, 'P' },
		{ "http01-address", required_argument, 0, 'A' },
		{ "mode", required_argument, 0, 'm' },
		{ "domain", required_argument, 0, 'd' },
		{ "poll-max", required_argument, 0, 'p' },
		{ "timeout", required_argument, 0, 'T' },
		{ 0, 0, 0, 0 } };
	int ch;
	while ((ch = getopt_long(argc, argv, "c:n:t:u:vh", lo, NULL)) != -1) {
		switch (ch) {
		case 'c': opt.conc = atoi(optarg); break;
		case 'n': opt.max = atol(optarg); break;
		case 't': opt.secs = atof(optarg); break;
		case 'u': opt.dir_url = optarg; break;
		case 'v': opt.verbose = 1; break;
		case 'C': opt.cacert = optarg; break;
		case 'P': opt.http01_port = atoi(optarg); break;
		case 'A': opt.http01_addr = optarg; break;
		case 'd': opt.domain = optarg; break;
		case 'p': opt.poll_max = atof(optarg); break;
		case 'T': opt.req_timeout = atoi(optarg); break;
		case 'm':
			if (!strcmp(optarg, "flows")) opt.mode = M_FLOWS;
			else if (!strcmp(optarg, "nonce")) opt.mode = M_NONCE;
			else if (!strcmp(optarg, "directory")) opt.mode = M_DIRECTORY;
			else if (!strcmp(optarg, "order")) opt.mode = M_ORDER;
			else usage();
			break;
		default: usage();
		}
	}
	if (!opt.dir_url || opt.conc < 1 || opt.conc > MAX_TOKENS || opt.max < 1 ||
	    opt.secs <= 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	gnutls_global_init();
	read_directory();
	if (opt.mode == M_FLOWS)
		start_http01();

	struct worker *ws = calloc(opt.conc, sizeof *ws);
	pthread_t *ts = calloc(opt.conc, sizeof *ts);
	pthread_barrier_init(&barrier, NULL, opt.conc + 1);
	/* Setup (accounts) is not timed: the deadline is set at the barrier;
	 * setup itself is bounded by the request timeouts. */
	t_deadline = now() + 1e9;
	for (int i = 0; i < opt.conc; i++) {
		ws[i].id = i;
		ws[i].rng = (unsigned)time(NULL) ^ (unsigned)getpid() * 2654435761u ^ (i * 7919u);
		pthread_create(&ts[i], NULL, worker_main, &ws[i]);
	}
	double setup0 = now();
	pthread_barrier_wait(&barrier);
	double setup_s = now() - setup0;
	long setup_errs = 0;
	pthread_mutex_lock(&err_mu);
	for (int i = 0; i < n_errkinds; i++)
		setup_errs += errkinds[i].n;
	pthread_mutex_unlock(&err_mu);
	double cpu0 = cpu_ms();
	long req0 = atomic_load(&requests);
	t_start = now();
	t_deadline = t_start + opt.secs;
	for (int i = 0; i < opt.conc; i++)
		pthread_join(ts[i], NULL);
	double elapsed = now() - t_start;
	double cpu = cpu_ms() - cpu0;
	long reqs = atomic_load(&requests) - req0;
	atomic_store(&stop_now, 1);

	long n = 0, polls = 0;
	for (int i = 0; i < opt.conc; i++)
		n += ws[i].nlat, polls += ws[i].polls;
	double *all = malloc((n + 1) * sizeof *all);
	long k = 0;
	for (int i = 0; i < opt.conc; i++) {
		memcpy(all + k, ws[i].lat, ws[i].nlat * sizeof *all);
		k += ws[i].nlat;
	}
	qsort(all, n, sizeof *all, cmp_d);
	long ok = atomic_load(&done_ok), err = atomic_load(&done_err);
	const char *unit = opt.mode == M_FLOWS ? "flows" : "req";
	double rate = elapsed > 0 ? ok / elapsed : 0;
	printf("mode %s, concurrency %d, %.2f s (setup %.2f s%s)\n",
	    opt.mode == M_FLOWS ? "flows" : opt.mode == M_NONCE ? "nonce" :
	    opt.mode == M_DIRECTORY ? "directory" : "order", opt.conc, elapsed,
	    setup_s, setup_errs ? ", SETUP ERRORS" : "");
	printf("  ok %ld, errors %ld, %.1f %s/s, %ld HTTP requests (%.1f/s)\n",
	    ok, err, rate, unit, reqs, elapsed > 0 ? reqs / elapsed : 0);
	printf("  latency ms: p50 %.2f  p95 %.2f  p99 %.2f  max %.2f\n",
	    pct(all, n, 50) * 1e3, pct(all, n, 95) * 1e3, pct(all, n, 99) * 1e3,
	    n ? all[n - 1] * 1e3 : 0);
	printf("  generator CPU: %.0f ms total, %.3f ms per %s\n", cpu,
	    ok ? cpu / ok : 0, opt.mode == M_FLOWS ? "flow" : "request");
	if (opt.mode == M_FLOWS)
		printf("  http-01 served %ld (missed %ld), authz/order polls %ld\n",
		    atomic_load(&http01_served), atomic_load(&http01_missed), polls);
	long errtotal = 0;
	for (int i = 0; i < n_errkinds; i++) {
		printf("  error x%ld: %s\n", errkinds[i].n, errkinds[i].what);
		if (strncmp(errkinds[i].what, "(retried)", 9) != 0)
			errtotal += errkinds[i].n;
	}
	if (errkinds_other)
		printf("  error x%ld: (other kinds)\n", errkinds_other);
	printf("RESULT mode=%s c=%d ok=%ld err=%ld errkinds=%ld setup_err=%ld secs=%.3f "
	    "rate=%.2f p50=%.2f p95=%.2f p99=%.2f cpu_ms=%.1f cpu_per=%.3f reqs=%ld\n",
	    opt.mode == M_FLOWS ? "flows" : opt.mode == M_NONCE ? "nonce" :
	    opt.mode == M_DIRECTORY ? "directory" : "order", opt.conc, ok, err,
	    errtotal + errkinds_other, setup_errs, elapsed, rate,
	    pct(all, n, 50) * 1e3, pct(all, n, 95) * 1e3, pct(all, n, 99) * 1e3,
	    cpu, ok ? cpu / ok : 0, reqs);
	fflush(stdout);
	/* Workers' handles and keys are left to exit. */
	_exit(err || setup_errs ? 1 : 0);
}
