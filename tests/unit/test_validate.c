/*
 * test_validate.c - challenge validation against real peers on loopback:
 * pebble-challtestsrv (http-01, tls-alpn-01, mock DNS) and small hostile
 * HTTP and TLS servers forked by the test. Every test binds its own
 * address 127.x.y.z (derived from its pid), so tests run in parallel and
 * never meet another test's servers. No traffic leaves loopback: every
 * config names the test's challtestsrv as the DNS resolver (or uses IP
 * identifiers only). Loopback is in the default deny_networks, so each
 * config allows exactly the address its peers listen on (make_cfg).
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/conf.h"
#include "helpers.h"
#include "validate/validate.h"
#include "validate/val_int.h"

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define THUMB "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
#define KA TOKEN "." THUMB
#define OTHER_KA TOKEN ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* challtestsrv's fixed ports on the test's own address. */
#define CTS_HTTP 5002
#define CTS_TLS 5001
#define CTS_DNS 8053
#define CTS_MGMT 8055

#define MAX_KIDS 8

static char addr[INET_ADDRSTRLEN];	/* this test's 127.x.y.z */
static const char *peer_host;		/* where peers listen: addr */
static pid_t kids[MAX_KIDS];
static int nkids;
static struct anvil_config *cfg;
static gnutls_certificate_credentials_t creds[MAX_KIDS];
static int ncreds;
static char detail[512];

/* ------------------------------------------------------------ fixture */

static void
setup(void)
{
	unsigned pid = (unsigned)getpid();

	/* Injective in the pid (pid_max <= 2^22), never .0 or .255 last. */
	snprintf(addr, sizeof(addr), "127.%u.%u.%u", 64 + ((pid >> 14) & 255),
	    (pid >> 6) & 255, 1 + (pid & 63));
	peer_host = addr;
	nkids = 0;
	ncreds = 0;
	cfg = NULL;
	detail[0] = '\0';
	signal(SIGPIPE, SIG_IGN);
}

static void
teardown(void)
{
	int i;

	for (i = 0; i < nkids; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	nkids = 0;
	for (i = 0; i < ncreds; i++)
		gnutls_certificate_free_credentials(creds[i]);
	ncreds = 0;
	config_free(cfg);
	cfg = NULL;
}

TestSuite(validate, .init = setup, .fini = teardown, .timeout = 20);

/* In a forked child: die with the test process. */
static void
child_guard(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

static pid_t
spawn(void)
{
	pid_t parent = getpid(), pid;

	cr_assert_lt(nkids, MAX_KIDS);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0)
		child_guard(parent);
	else
		kids[nkids++] = pid;
	return pid;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
tcp_connects(const char *host, unsigned port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sin.sin_addr);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A listening socket on peer_host:port (0: any free port); *portp gets
 * the port. */
static int
listen_on(unsigned port, unsigned *portp)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl = sizeof(ss);
	int v6 = strchr(peer_host, ':') != NULL, one = 1, fd;

	fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&ss, 0, sizeof(ss));
	if (v6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, peer_host, &sin6->sin6_addr);
		sl = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, peer_host, &sin->sin_addr);
		sl = sizeof(*sin);
	}
	cr_assert_eq(bind(fd, (struct sockaddr *)&ss, sl), 0,
	    "bind %s:%u: %s", peer_host, port, strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (portp != NULL)
		*portp = ntohs(v6 ? sin6->sin6_port : sin->sin_port);
	return fd;
}

/* A port on addr where nothing listens. */
static unsigned
free_port(void)
{
	unsigned port;
	int fd = listen_on(0, &port);

	close(fd);
	return port;
}

/* ------------------------------------------------------------ config */

/*
 * A config for this test. nets: more [validation] lines; NULL keeps the
 * default deny_networks and allows only peer_host (/32 or /128), the one
 * address this test's peers listen on.
 */
static void
make_cfg(unsigned http_port, unsigned tls_port, const char *resolver,
    unsigned timeout, const char *nets)
{
	char extra[1024], allow[96];

	snprintf(allow, sizeof(allow), "allow_networks = %s/%u\n", peer_host,
	    strchr(peer_host, ':') != NULL ? 128 : 32);
	snprintf(extra, sizeof(extra),
	    "[validation]\nhttp_port = %u\ntls_port = %u\n"
	    "dns_resolver = %s\ntimeout = %u\n%s",
	    http_port, tls_port, resolver, timeout,
	    nets != NULL ? nets : allow);
	config_free(cfg);
	cfg = th_config("/tmp/anvil-test-validate", extra);
}

/* The resolver string for this test's challtestsrv. */
static const char *
cts_resolver(void)
{
	static char r[40];

	snprintf(r, sizeof(r), "%s@%u", addr, CTS_DNS);
	return r;
}

static anvil_err
check(enum val_type t, const char *type, const char *value,
    const char *key_authz)
{
	struct val_ident id = { type, value, NULL, 0 };

	detail[0] = '\0';
	return val_check(cfg, t, &id, TOKEN, key_authz, detail,
	    sizeof(detail));
}

/*
 * The first piece of a library's own wording in d, or NULL: libcurl's
 * curl_easy_strerror, GnuTLS's gnutls_strerror, libunbound's ub_strerror
 * and the C library's strerror. A detail reaches the ACME client as the
 * challenge's error; the library's text goes to the log only, so that the
 * client reads the same words whichever library version answered.
 */
static const char *
lib_text_in(const char *d)
{
	static const char *const marks[] = {
		/* libcurl */
		"Couldn't", "Could not", "Operation timed out",
		"Timeout was reached", "Failure when receiving",
		"Failed sending", "Weird server reply", "Server returned nothing",
		"SSL connect error", "Received HTTP/0.9", "Send failure",
		"Recv failure", "Transferred a partial file",
		/* GnuTLS */
		"Error in the", "has failed.", "An unexpected TLS packet",
		"The TLS connection", "non-properly terminated",
		"No supported application protocol", "The request is invalid.",
		"GnuTLS", "ASN1 parser",
		/* strerror */
		"Connection refused", "Connection reset", "No route to host",
		"Network is unreachable", "Broken pipe", "Connection timed out",
		"Resource temporarily unavailable",
		/* libunbound */
		"server failure", "socket error", "initialization failure",
		"error in pipe", "syntax error", "error reading from file",
	};
	size_t i;

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strstr(d, marks[i]) != NULL)
			return marks[i];
	return NULL;
}

static void
assert_result_at(anvil_err got, anvil_err want, const char *needle, int line)
{
	cr_log_info("line %d: %s: %s", line, anvil_strerror(got), detail);
	cr_expect_null(lib_text_in(detail), "line %d: library text \"%s\" in "
	    "detail \"%s\"", line, lib_text_in(detail), detail);
	cr_assert_eq(got, want, "line %d: got %s, want %s: %s", line,
	    anvil_strerror(got), anvil_strerror(want), detail);
	if (needle != NULL)
		cr_assert_not_null(strstr(detail, needle),
		    "line %d: detail \"%s\" lacks \"%s\"", line, detail,
		    needle);
}

#define assert_result(got, want, needle) \
	assert_result_at((got), (want), (needle), __LINE__)

/* ------------------------------------------------------------ challtestsrv */

static void
cts_start(void)
{
	char http[40], tls[40], dns[40], mgmt[40];
	int64_t until;
	pid_t pid;

	snprintf(http, sizeof(http), "%s:%u", addr, CTS_HTTP);
	snprintf(tls, sizeof(tls), "%s:%u", addr, CTS_TLS);
	snprintf(dns, sizeof(dns), "%s:%u", addr, CTS_DNS);
	snprintf(mgmt, sizeof(mgmt), "%s:%u", addr, CTS_MGMT);
	pid = spawn();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (getenv("ANVIL_TEST_CTS_LOG") == NULL && null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp("pebble-challtestsrv", "pebble-challtestsrv",
		    "-http01", http, "-https01", "", "-tlsalpn01", tls,
		    "-dns01", dns, "-management", mgmt,
		    "-defaultIPv4", addr, "-defaultIPv6", "", (char *)NULL);
		_exit(127);
	}
	until = now_ms() + 10000;
	while (!(tcp_connects(addr, CTS_MGMT) && tcp_connects(addr, CTS_HTTP) &&
	    tcp_connects(addr, CTS_TLS) && tcp_connects(addr, CTS_DNS))) {
		int status;

		cr_assert_eq(waitpid(pid, &status, WNOHANG), 0,
		    "pebble-challtestsrv exited");
		cr_assert_lt(now_ms(), until, "pebble-challtestsrv not ready");
		usleep(20000);
	}
}

static size_t
discard(char *p, size_t s, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return s * n;
}

/* POSTs json to the management API; asserts 200. */
static void
cts_post(const char *path, const char *json)
{
	char url[128];
	long code = 0;
	CURL *c = curl_easy_init();
	CURLcode cc;

	cr_assert_not_null(c);
	snprintf(url, sizeof(url), "http://%s:%u%s", addr, CTS_MGMT, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	cr_assert_eq(cc, CURLE_OK, "%s: %s", url, curl_easy_strerror(cc));
	cr_assert_eq(code, 200, "%s %s: status %ld", path, json, code);
}

/* The dns-01 TXT value for key_authz. */
static void
txt_value(const char *key_authz, char *out, size_t len)
{
	unsigned char d[32];
	gnutls_datum_t in = { d, sizeof(d) }, b64 = { NULL, 0 };
	unsigned i, o = 0;

	cr_assert_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, key_authz,
	    strlen(key_authz), d), 0);
	cr_assert_eq(gnutls_base64_encode2(&in, &b64), 0);
	for (i = 0; i < b64.size && o + 1 < len; i++) {
		char ch = (char)b64.data[i];

		if (ch == '=')
			break;
		out[o++] = ch == '+' ? '-' : ch == '/' ? '_' : ch;
	}
	out[o] = '\0';
	gnutls_free(b64.data);
}

static void
cts_set_txt(const char *host, const char *value)
{
	char json[256];

	snprintf(json, sizeof(json), "{\"host\":\"%s\",\"value\":\"%s\"}",
	    host, value);
	cts_post("/set-txt", json);
}

/* ------------------------------------------------------------ HTTP peers */

enum hmode {
	H_BODY,		/* 200 with the given bytes */
	H_STATUS404,	/* 404 */
	H_REDIRECT,	/* 302 to the given URL */
	H_BIG,		/* 200 with a 1 MiB body */
	H_STALL,	/* headers, then nothing */
	H_GARBAGE,	/* bytes that are no protocol at all */
	H_SILENT,	/* accepts, never answers */
};

struct peer {
	unsigned port;
	int events;	/* read end: one line per connection */
};

static void
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

/* Reads a request's head (bounded) so the client sees a normal peer. */
static void
read_head(int fd)
{
	char buf[4096];
	size_t len = 0;
	struct timeval tv = { 2, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (len < sizeof(buf) - 1) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (r <= 0)
			return;
		len += (size_t)r;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL)
			return;
	}
}

static void
http_serve(int lfd, int ev, enum hmode mode, const char *arg, size_t arglen)
{
	static char big[65536];
	char head[512];
	int fd, i, n;

	memset(big, 'A', sizeof(big));
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		write_all(ev, "c\n", 2);
		if (mode != H_SILENT && mode != H_GARBAGE)
			read_head(fd);
		switch (mode) {
		case H_BODY:
			n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			    arglen);
			write_all(fd, head, (size_t)n);
			write_all(fd, arg, arglen);
			break;
		case H_STATUS404:
			n = snprintf(head, sizeof(head), "HTTP/1.1 404 Not "
			    "Found\r\nContent-Length: 9\r\nConnection: "
			    "close\r\n\r\nnot found");
			write_all(fd, head, (size_t)n);
			break;
		case H_REDIRECT:
			n = snprintf(head, sizeof(head), "HTTP/1.1 302 Found\r\n"
			    "Location: %s\r\nContent-Length: 0\r\n"
			    "Connection: close\r\n\r\n", arg);
			write_all(fd, head, (size_t)n);
			break;
		case H_BIG:
			n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
			    "Content-Length: 1048576\r\nConnection: close"
			    "\r\n\r\n");
			write_all(fd, head, (size_t)n);
			for (i = 0; i < 16; i++)
				write_all(fd, big, sizeof(big));
			break;
		case H_STALL:
			n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
			    "Content-Length: 100\r\n\r\n" KA);
			write_all(fd, head, (size_t)n);
			sleep(60);
			break;
		case H_GARBAGE:
			for (i = 0; i < 64; i++)
				head[i] = (char)(i * 37 + 11);
			write_all(fd, "\x16\x03\x03\xff\xff", 5);
			write_all(fd, head, 64);
			usleep(100000);
			break;
		case H_SILENT:
			sleep(60);
			break;
		}
		close(fd);
	}
}

static void
http_peer(enum hmode mode, const void *arg, size_t arglen, struct peer *p)
{
	int lfd = listen_on(0, &p->port), ev[2];

	cr_assert_eq(pipe2(ev, O_CLOEXEC), 0);
	if (spawn() == 0) {
		close(ev[0]);
		http_serve(lfd, ev[1], mode, arg, arglen);
		_exit(0);
	}
	close(lfd);
	close(ev[1]);
	p->events = ev[0];
}

/* A peer that redirects every request to http://host:<its port>path. */
static void
redirect_peer(const char *host, const char *path, struct peer *p)
{
	static char loc[256];
	int lfd = listen_on(0, &p->port), ev[2];

	snprintf(loc, sizeof(loc), "http://%s:%u%s", host, p->port, path);
	cr_assert_eq(pipe2(ev, O_CLOEXEC), 0);
	if (spawn() == 0) {
		close(ev[0]);
		http_serve(lfd, ev[1], H_REDIRECT, loc, strlen(loc));
		_exit(0);
	}
	close(lfd);
	close(ev[1]);
	p->events = ev[0];
}

/* Lines the peer reported so far (waits up to wait_ms for the first). */
static int
peer_read(struct peer *p, char *buf, size_t len, int wait_ms)
{
	struct pollfd pfd = { p->events, POLLIN, 0 };
	ssize_t r;

	buf[0] = '\0';
	if (poll(&pfd, 1, wait_ms) <= 0)
		return 0;
	usleep(50000);
	r = read(p->events, buf, len - 1);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	return (int)r;
}

/* ------------------------------------------------------------ TLS peers */

struct certspec {
	const char *dns[2];	/* dNSName SANs */
	const char *ip;		/* an iPAddress SAN */
	const char *ka;		/* key authorization for acmeIdentifier */
	int acme;		/* add acmeIdentifier */
	int critical;		/* ...as critical */
};

static gnutls_certificate_credentials_t
make_creds(const struct certspec *s)
{
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_certificate_credentials_t cred;
	unsigned char ext[34], serial[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	unsigned char ipb[16];
	time_t now = time(NULL);
	int i;

	cr_assert_eq(gnutls_x509_privkey_init(&key), 0);
	cr_assert_eq(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
	cr_assert_eq(gnutls_x509_crt_init(&crt), 0);
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	gnutls_x509_crt_set_activation_time(crt, now - 3600);
	gnutls_x509_crt_set_expiration_time(crt, now + 86400);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    "acme test", 9);
	cr_assert_eq(gnutls_x509_crt_set_key(crt, key), 0);
	for (i = 0; i < 2 && s->dns[i] != NULL; i++)
		cr_assert_eq(gnutls_x509_crt_set_subject_alt_name(crt,
		    GNUTLS_SAN_DNSNAME, s->dns[i], (unsigned)strlen(s->dns[i]),
		    GNUTLS_FSAN_APPEND), 0);
	if (s->ip != NULL) {
		int v6 = strchr(s->ip, ':') != NULL;

		cr_assert_eq(inet_pton(v6 ? AF_INET6 : AF_INET, s->ip, ipb), 1);
		cr_assert_eq(gnutls_x509_crt_set_subject_alt_name(crt,
		    GNUTLS_SAN_IPADDRESS, ipb, v6 ? 16 : 4,
		    GNUTLS_FSAN_APPEND), 0);
	}
	if (s->acme) {
		ext[0] = 0x04;
		ext[1] = 32;
		cr_assert_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, s->ka,
		    strlen(s->ka), ext + 2), 0);
		cr_assert_eq(gnutls_x509_crt_set_extension_by_oid(crt,
		    "1.3.6.1.5.5.7.1.31", ext, sizeof(ext),
		    (unsigned)s->critical), 0);
	}
	cr_assert_eq(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256,
	    0), 0);
	cr_assert_eq(gnutls_certificate_allocate_credentials(&cred), 0);
	cr_assert_eq(gnutls_certificate_set_x509_key(cred, &crt, 1, key), 0);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	cr_assert_lt(ncreds, MAX_KIDS);
	creds[ncreds++] = cred;
	return cred;
}

/* A TLS server with cred, offering ALPN acme-tls/1 if alpn; reports each
 * connection's SNI (or "!error") as one line. */
static void
tls_peer(gnutls_certificate_credentials_t cred, int alpn, struct peer *p)
{
	int lfd = listen_on(0, &p->port), ev[2];

	cr_assert_eq(pipe2(ev, O_CLOEXEC), 0);
	if (spawn() == 0) {
		static const char proto[] = "acme-tls/1";
		gnutls_datum_t d = { (unsigned char *)proto, 10 };

		close(ev[0]);
		for (;;) {
			gnutls_session_t s;
			char name[300], line[320];
			size_t nl = sizeof(name);
			unsigned type;
			int fd = accept(lfd, NULL, NULL), ret, n;

			if (fd < 0)
				continue;
			gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
			gnutls_set_default_priority(s);
			gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
			if (alpn)
				gnutls_alpn_set_protocols(s, &d, 1, 0);
			gnutls_transport_set_int(s, fd);
			gnutls_handshake_set_timeout(s, 5000);
			do {
				ret = gnutls_handshake(s);
			} while (ret < 0 && !gnutls_error_is_fatal(ret));
			if (ret < 0)
				n = snprintf(line, sizeof(line), "!%s\n",
				    gnutls_strerror(ret));
			else if (gnutls_server_name_get(s, name, &nl, &type,
			    0) == 0)
				n = snprintf(line, sizeof(line), "%s\n", name);
			else
				n = snprintf(line, sizeof(line), "-\n");
			write_all(ev[1], line, (size_t)n);
			if (ret >= 0)
				gnutls_bye(s, GNUTLS_SHUT_WR);
			gnutls_deinit(s);
			close(fd);
		}
	}
	close(lfd);
	close(ev[1]);
	p->events = ev[0];
}

/* ============================================================ arguments */

Test(validate, type_names_round_trip)
{
	cr_assert_str_eq(val_type_name(VAL_HTTP01), "http-01");
	cr_assert_str_eq(val_type_name(VAL_DNS01), "dns-01");
	cr_assert_str_eq(val_type_name(VAL_TLSALPN01), "tls-alpn-01");
	cr_assert_eq(val_type_parse("http-01"), VAL_HTTP01);
	cr_assert_eq(val_type_parse("dns-01"), VAL_DNS01);
	cr_assert_eq(val_type_parse("tls-alpn-01"), VAL_TLSALPN01);
	cr_assert_eq(val_type_parse("HTTP-01"), -1);
	cr_assert_str_eq(val_type_name(VAL_DNSACCOUNT01), "dns-account-01");
	cr_assert_str_eq(val_type_name(VAL_DNSPERSIST01), "dns-persist-01");
	cr_assert_eq(val_type_parse("dns-account-01"), VAL_DNSACCOUNT01);
	cr_assert_eq(val_type_parse("dns-persist-01"), VAL_DNSPERSIST01);
	cr_assert_eq(val_type_parse("dns-02"), -1);
	cr_assert_eq(val_type_parse(""), -1);
	cr_assert_eq(val_type_parse(NULL), -1);
}

Test(validate, refuses_bad_arguments_before_any_traffic)
{
	static const struct {
		const char *desc;
		enum val_type t;
		const char *type, *value, *token, *ka;
	} rows[] = {
		{ "token not base64url", VAL_HTTP01, "dns", "a.test",
		    "to/ken", "to/ken." THUMB },
		{ "empty token", VAL_HTTP01, "dns", "a.test", "", "." THUMB },
		{ "key authz of another token", VAL_HTTP01, "dns", "a.test",
		    TOKEN, "other." THUMB },
		{ "key authz without thumbprint", VAL_HTTP01, "dns", "a.test",
		    TOKEN, TOKEN "." },
		{ "key authz with a newline", VAL_HTTP01, "dns", "a.test",
		    TOKEN, KA "\n" },
		{ "unknown identifier type", VAL_HTTP01, "email", "a@b.test",
		    TOKEN, KA },
		{ "ip identifier not an address", VAL_HTTP01, "ip",
		    "300.1.1.1", TOKEN, KA },
		{ "ip identifier with a zone", VAL_TLSALPN01, "ip", "fe80::1%lo",
		    TOKEN, KA },
		{ "dns identifier with a path", VAL_HTTP01, "dns", "a.test/x",
		    TOKEN, KA },
		{ "dns identifier with a port", VAL_HTTP01, "dns", "a.test:80",
		    TOKEN, KA },
		{ "dns identifier wildcard", VAL_DNS01, "dns", "*.a.test",
		    TOKEN, KA },
		{ "dns identifier empty label", VAL_HTTP01, "dns", "a..test",
		    TOKEN, KA },
		{ "dns identifier that is an address", VAL_HTTP01, "dns",
		    "127.0.0.1", TOKEN, KA },
		{ "dns-01 for an ip identifier", VAL_DNS01, "ip", "127.0.0.1",
		    TOKEN, KA },
		{ "unknown challenge type", (enum val_type)7, "dns", "a.test",
		    TOKEN, KA },
	};
	struct val_ident id;
	size_t i;

	make_cfg(free_port(), free_port(), cts_resolver(), 2, NULL);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		id.type = rows[i].type;
		id.value = rows[i].value;
		detail[0] = '\0';
		cr_expect_eq(val_check(cfg, rows[i].t, &id, rows[i].token,
		    rows[i].ka, detail, sizeof(detail)), ANVIL_ERR_MALFORMED,
		    "%s: %s", rows[i].desc, detail);
		cr_expect_neq(detail[0], '\0', "%s: no detail", rows[i].desc);
	}
	cr_assert_eq(val_check(cfg, VAL_HTTP01, NULL, TOKEN, KA, NULL, 0),
	    ANVIL_ERR_MALFORMED);
	id.type = "dns";
	id.value = "a.test";
	cr_assert_eq(val_check(NULL, VAL_HTTP01, &id, TOKEN, KA, NULL, 0),
	    ANVIL_ERR_MALFORMED);
	cr_assert_eq(val_check(cfg, VAL_HTTP01, &id, NULL, KA, NULL, 0),
	    ANVIL_ERR_MALFORMED);
	cr_assert_eq(val_check(cfg, VAL_HTTP01, &id, TOKEN, NULL, NULL, 0),
	    ANVIL_ERR_MALFORMED);
}

/* ============================================================ http-01 */

Test(validate, http01_ok_through_challtestsrv_and_its_dns)
{
	cts_start();
	cts_post("/add-http01", "{\"token\":\"" TOKEN "\",\"content\":\"" KA
	    "\"}");
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_HTTP01, "dns", "www.example.test", KA),
	    ANVIL_OK, NULL);
	cr_assert_str_eq(detail, "");
	/* The same for an ip identifier: no DNS involved. */
	assert_result(check(VAL_HTTP01, "ip", addr, KA), ANVIL_OK, NULL);
}

Test(validate, http01_wrong_content_is_incorrect_and_not_quoted)
{
	cts_start();
	cts_post("/add-http01", "{\"token\":\"" TOKEN "\",\"content\":\""
	    "not-the-key-authorization\"}");
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_HTTP01, "dns", "www.example.test", KA),
	    ANVIL_ERR_INCORRECT, "a body of 25 bytes");
	/* A fetched body never comes back in a detail. */
	cr_assert_null(strstr(detail, "not-the"), "%s", detail);
	cr_assert_null(strstr(detail, "authorization\""), "%s", detail);
}

Test(validate, http01_body_checks)
{
	static const struct {
		const char *desc;
		const char *body;
		size_t len;
		anvil_err want;
	} rows[] = {
		{ "trailing whitespace is ignored", KA "\r\n \t\n",
		    sizeof(KA "\r\n \t\n") - 1, ANVIL_OK },
		{ "leading whitespace is not", " " KA, sizeof(KA), ANVIL_ERR_INCORRECT },
		{ "a NUL after the key authz", KA "\0", sizeof(KA),
		    ANVIL_ERR_INCORRECT },
		{ "a prefix of the key authz", TOKEN ".", sizeof(TOKEN),
		    ANVIL_ERR_INCORRECT },
		{ "empty body", "", 0, ANVIL_ERR_INCORRECT },
		{ "binary body", "\x01\x02\xff\xfe", 4, ANVIL_ERR_INCORRECT },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct peer p;
		size_t j;

		http_peer(H_BODY, rows[i].body, rows[i].len, &p);
		make_cfg(p.port, free_port(), cts_resolver(), 5, NULL);
		detail[0] = '\0';
		cr_expect_eq(check(VAL_HTTP01, "ip", addr, KA), rows[i].want,
		    "%s: %s", rows[i].desc, detail);
		for (j = 0; detail[j] != '\0'; j++)
			cr_expect(detail[j] >= 0x20 && detail[j] < 0x7f,
			    "%s: unprintable detail", rows[i].desc);
		close(p.events);
	}
}

Test(validate, http01_ipv6_identifier_in_brackets)
{
	struct peer p;

	peer_host = "::1";
	http_peer(H_BODY, KA, strlen(KA), &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", "::1", KA), ANVIL_OK, NULL);
	/* Any spelling of the address is connected to canonically. */
	assert_result(check(VAL_HTTP01, "ip", "0:0:0:0:0:0:0:1", KA), ANVIL_OK,
	    NULL);
	make_cfg(p.port, free_port(), "", 5, "");
	assert_result(check(VAL_HTTP01, "ip", "::1", KA),
	    ANVIL_ERR_UNAUTHORIZED, "::1 is in a denied network");
}

Test(validate, http01_system_resolver_finds_localhost)
{
	struct peer p;

	/* No resolver configured: resolv.conf and the hosts file, where
	 * localhost is answered locally without any query leaving. */
	peer_host = "127.0.0.1";
	http_peer(H_BODY, KA, strlen(KA), &p);
	/* The hosts file may give ::1 as well: every address of a name
	 * must be allowed. */
	make_cfg(p.port, free_port(), "", 5,
	    "allow_networks = 127.0.0.1/32, ::1/128\n");
	assert_result(check(VAL_HTTP01, "dns", "localhost", KA), ANVIL_OK,
	    NULL);
}

Test(validate, http01_404_is_unauthorized)
{
	struct peer p;

	http_peer(H_STATUS404, NULL, 0, &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", addr, KA),
	    ANVIL_ERR_UNAUTHORIZED, "returned 404");
}

Test(validate, http01_nothing_listening_is_connection)
{
	make_cfg(free_port(), free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", addr, KA), ANVIL_ERR_CONNECTION,
	    addr);
}

Test(validate, http01_follows_a_redirect_through_our_resolver)
{
	char json[512];

	cts_start();
	cts_post("/add-http01", "{\"token\":\"target\",\"content\":\"" KA
	    "\"}");
	snprintf(json, sizeof(json), "{\"path\":\"/.well-known/acme-challenge/"
	    TOKEN "\",\"targetURL\":\"http://elsewhere.test:%u/.well-known/"
	    "acme-challenge/target\"}", CTS_HTTP);
	cts_post("/add-redirect", json);
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_HTTP01, "dns", "www.example.test", KA),
	    ANVIL_OK, NULL);
}

Test(validate, http01_redirect_to_another_scheme_is_unauthorized)
{
	struct peer p;
	const char *loc = "ftp://127.0.0.1/x";

	http_peer(H_REDIRECT, loc, strlen(loc), &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", addr, KA),
	    ANVIL_ERR_UNAUTHORIZED, "only http and https");
}

Test(validate, http01_redirect_to_an_odd_port_is_unauthorized)
{
	struct peer p;
	char loc[128];

	snprintf(loc, sizeof(loc), "http://%s:%u/x", addr, free_port());
	http_peer(H_REDIRECT, loc, strlen(loc), &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", addr, KA),
	    ANVIL_ERR_UNAUTHORIZED, "is not allowed");
}

Test(validate, http01_redirect_into_a_denied_network_is_unauthorized)
{
	struct peer p;
	char ev[64];

	/* The peer is on 127.x.y.z, allowed; 127.0.0.1 is denied by
	 * default, and not named back (it came from the peer). */
	redirect_peer("127.0.0.1", "/.well-known/acme-challenge/x", &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", addr, KA),
	    ANVIL_ERR_UNAUTHORIZED,
	    "the target of redirect 1 is in a denied network");
	cr_assert_null(strstr(detail, "127.0.0.1"), "%s", detail);
	cr_assert_eq(peer_read(&p, ev, sizeof(ev), 300), 2, "%s", ev);
}

Test(validate, http01_redirect_loop_stops_after_ten)
{
	struct peer p;
	char ev[256];
	int64_t t0;
	int n;

	redirect_peer(addr, "/.well-known/acme-challenge/again", &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	t0 = now_ms();
	assert_result(check(VAL_HTTP01, "ip", addr, KA), ANVIL_ERR_CONNECTION,
	    "too many redirects");
	cr_assert_lt(now_ms() - t0, 5000);
	n = peer_read(&p, ev, sizeof(ev), 1000);
	cr_assert_eq(n, 2 * 11, "connections: %s", ev);
}

Test(validate, http01_name_in_a_denied_network_is_unauthorized_unasked)
{
	struct peer p;
	char ev[64];

	cts_start();
	http_peer(H_BODY, KA, strlen(KA), &p);
	make_cfg(p.port, free_port(), cts_resolver(), 5, "");
	assert_result(check(VAL_HTTP01, "dns", "www.example.test", KA),
	    ANVIL_ERR_UNAUTHORIZED, "is in a denied network");
	cr_assert_not_null(strstr(detail, addr), "%s", detail);
	assert_result(check(VAL_HTTP01, "ip", addr, KA),
	    ANVIL_ERR_UNAUTHORIZED, "is in a denied network");
	assert_result(check(VAL_TLSALPN01, "ip", addr, KA),
	    ANVIL_ERR_UNAUTHORIZED, "is in a denied network");
	cr_assert_eq(peer_read(&p, ev, sizeof(ev), 300), 0,
	    "the denied peer was contacted");
}

/* ------------------------------------------------------- denied networks */

/* Another loopback address, never any test's own (theirs end in 1..64):
 * where the "internal" peers of the SSRF tests listen. */
static void
internal_addr(char *out, size_t len)
{
	unsigned a, b, c, d;

	cr_assert_eq(sscanf(addr, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
	snprintf(out, len, "%u.%u.%u.%u", a, b, c, d + 100);
}

Test(validate, default_deny_refuses_every_special_range_unasked)
{
	/* Each row an ip identifier in a range the default deny_networks
	 * covers, or an IPv4-mapped, IPv4-compatible or NAT64 spelling of
	 * one. Refused before any traffic, for both checkers that connect. */
	static const char *const rows[] = {
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255",
		"100.64.0.1", "100.127.255.254", "127.0.0.1",
		"127.255.255.254", "169.254.169.254", "172.16.0.1",
		"172.31.255.255", "192.0.0.8", "192.0.2.1", "192.168.1.1",
		"198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
		"224.0.0.1", "239.255.255.250", "240.0.0.1",
		"255.255.255.255",
		"::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::ffff:169.254.169.254", "::ffff:192.168.0.1",
		"::ffff:100.64.0.1", "::127.0.0.1", "::10.0.0.1",
		"::192.168.1.1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
		"64:ff9b::10.1.2.3", "64:ff9b:1::1", "100::1", "2001:db8::1",
		"3fff::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1",
		"fec0::1", "ff02::1", "ff0e::1",
	};
	size_t i;

	make_cfg(free_port(), free_port(), "", 2, "");
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cr_expect_eq(check(VAL_HTTP01, "ip", rows[i], KA),
		    ANVIL_ERR_UNAUTHORIZED, "http-01 %s: %s", rows[i], detail);
		cr_expect_not_null(strstr(detail, "in a denied network"),
		    "http-01 %s: %s", rows[i], detail);
		cr_expect_eq(check(VAL_TLSALPN01, "ip", rows[i], KA),
		    ANVIL_ERR_UNAUTHORIZED, "tls-alpn-01 %s: %s", rows[i],
		    detail);
		cr_expect_not_null(strstr(detail, "in a denied network"),
		    "tls-alpn-01 %s: %s", rows[i], detail);
	}
}

Test(validate, allow_networks_is_a_narrow_exception)
{
	struct peer p, q;
	char other[INET_ADDRSTRLEN], nets[128], ev[64], v6[64];

	/* The test's address allowed as a /32; the next one is not. */
	internal_addr(other, sizeof(other));
	http_peer(H_BODY, KA, strlen(KA), &p);
	peer_host = other;
	http_peer(H_BODY, KA, strlen(KA), &q);
	peer_host = addr;
	snprintf(nets, sizeof(nets), "allow_networks = %s/32\n", addr);
	make_cfg(p.port, q.port, "", 5, nets);
	assert_result(check(VAL_HTTP01, "ip", addr, KA), ANVIL_OK, NULL);
	/* The same host through an IPv4-mapped address is the same
	 * exception. */
	snprintf(v6, sizeof(v6), "::ffff:%s", addr);
	assert_result(check(VAL_HTTP01, "ip", v6, KA), ANVIL_OK, NULL);
	/* A NAT64 address is another host's view: not excepted. */
	snprintf(v6, sizeof(v6), "64:ff9b::%s", addr);
	assert_result(check(VAL_HTTP01, "ip", v6, KA),
	    ANVIL_ERR_UNAUTHORIZED, "in a denied network");
	/* The neighbour is refused without a connection. */
	make_cfg(q.port, q.port, "", 5, nets);
	assert_result(check(VAL_HTTP01, "ip", other, KA),
	    ANVIL_ERR_UNAUTHORIZED, "in a denied network");
	assert_result(check(VAL_TLSALPN01, "ip", other, KA),
	    ANVIL_ERR_UNAUTHORIZED, "in a denied network");
	snprintf(v6, sizeof(v6), "::ffff:%s", other);
	assert_result(check(VAL_HTTP01, "ip", v6, KA),
	    ANVIL_ERR_UNAUTHORIZED, "in a denied network");
	cr_assert_eq(peer_read(&q, ev, sizeof(ev), 300), 0,
	    "the denied peer was contacted: %s", ev);
}

Test(validate, http01_redirect_to_a_denied_address_reads_nothing)
{
	/* SSRF: the client's own responder (allowed) redirects the
	 * validator to an internal page. Every spelling of the internal
	 * address is refused before a connection, with the unauthorized
	 * problem (a policy refusal, as for an identifier in a denied
	 * network), and nothing of the page or its address comes back. */
	static const char secret[] = "SECRET-internal-admin-page " KA;
	struct peer in, out;
	char other[INET_ADDRSTRLEN], nets[128], loc[160], ev[64];
	unsigned a, b, c, d;
	unsigned long dec;
	int i;

	cts_start();
	internal_addr(other, sizeof(other));
	cr_assert_eq(sscanf(other, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
	snprintf(loc, sizeof(loc), "{\"host\":\"internal.test\","
	    "\"addresses\":[\"%s\"]}", other);
	cts_post("/add-a", loc);
	peer_host = other;
	http_peer(H_BODY, secret, strlen(secret), &in);
	peer_host = addr;
	/* Only the client's responder is allowed, as narrowly as possible. */
	snprintf(nets, sizeof(nets), "allow_networks = %s/32\n", addr);
	dec = ((unsigned long)a << 24) | (b << 16) | (c << 8) | d;
	for (i = 0; i < 5; i++) {
		/* The literal, IPv4-mapped, a decimal integer (libcurl reads
		 * it as the address), a name that resolves to it,
		 * IPv4-compatible. */
		if (i == 0)
			snprintf(loc, sizeof(loc), "http://%s:%u/.well-known/"
			    "acme-challenge/x", other, in.port);
		else if (i == 1)
			snprintf(loc, sizeof(loc), "http://[::ffff:%s]:%u/",
			    other, in.port);
		else if (i == 2)
			snprintf(loc, sizeof(loc), "http://%lu:%u/", dec,
			    in.port);
		else if (i == 3)
			snprintf(loc, sizeof(loc), "http://internal.test:%u/",
			    in.port);
		else
			snprintf(loc, sizeof(loc), "http://[::%s]:%u/", other,
			    in.port);
		http_peer(H_REDIRECT, loc, strlen(loc), &out);
		/* tls_port is the internal peer's, so the port is allowed
		 * and only the address check stands in the way. */
		make_cfg(out.port, in.port, cts_resolver(), 5, nets);
		assert_result(check(VAL_HTTP01, "ip", addr, KA),
		    ANVIL_ERR_UNAUTHORIZED,
		    "the target of redirect 1 is in a denied network");
		cr_expect_null(strstr(detail, "SECRET"), "%s: %s", loc,
		    detail);
		cr_expect_null(strstr(detail, other), "%s: %s", loc, detail);
		cr_expect_null(strstr(detail, "internal.test"), "%s: %s", loc,
		    detail);
		/* The same through a dns identifier. */
		assert_result(check(VAL_HTTP01, "dns", "www.example.test", KA),
		    ANVIL_ERR_UNAUTHORIZED, "in a denied network");
		cr_expect_null(strstr(detail, "SECRET"), "%s: %s", loc,
		    detail);
		close(out.events);
		kill(kids[nkids - 1], SIGKILL);
		waitpid(kids[nkids - 1], NULL, 0);
		nkids--;
	}
	cr_assert_eq(peer_read(&in, ev, sizeof(ev), 300), 0,
	    "the internal peer was contacted");
}

Test(validate, http01_wrong_body_is_described_not_quoted)
{
	static const char secret[] = "SECRET-internal-admin-page";
	struct peer p;

	http_peer(H_BODY, secret, strlen(secret), &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", addr, KA), ANVIL_ERR_INCORRECT,
	    "a body of 26 bytes that is not the key authorization");
	cr_assert_null(strstr(detail, "SECRET"), "%s", detail);
}

Test(validate, http01_servfail_is_dns)
{
	cts_start();
	cts_post("/set-servfail", "{\"host\":\"broken.test\"}");
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_HTTP01, "dns", "broken.test", KA),
	    ANVIL_ERR_DNS, "broken.test");
}

Test(validate, http01_name_without_addresses_is_dns)
{
	cts_start();
	cts_post("/set-default-ipv4", "{\"ip\":\"\"}");
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_HTTP01, "dns", "nowhere.test", KA),
	    ANVIL_ERR_DNS, "nowhere.test");
}

Test(validate, http01_silent_resolver_is_dns_within_the_timeout)
{
	char r[40];
	int64_t t0;
	int ufd;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	/* A UDP socket that never answers. */
	ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin.sin_addr);
	cr_assert_eq(bind(ufd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(ufd, (struct sockaddr *)&sin, &sl);
	snprintf(r, sizeof(r), "%s@%u", addr, ntohs(sin.sin_port));
	make_cfg(free_port(), free_port(), r, 2, NULL);
	t0 = now_ms();
	assert_result(check(VAL_HTTP01, "dns", "www.example.test", KA),
	    ANVIL_ERR_DNS, "www.example.test");
	cr_assert_lt(now_ms() - t0, 3500, "took %lld ms",
	    (long long)(now_ms() - t0));
	close(ufd);
}

Test(validate, http01_resolver_port_closed_is_dns)
{
	char r[40];
	int64_t t0;

	snprintf(r, sizeof(r), "%s@%u", addr, free_port());
	make_cfg(free_port(), free_port(), r, 2, NULL);
	t0 = now_ms();
	assert_result(check(VAL_HTTP01, "dns", "www.example.test", KA),
	    ANVIL_ERR_DNS, NULL);
	cr_assert_lt(now_ms() - t0, 3500);
}

Test(validate, http01_huge_body_is_incorrect_too_large)
{
	struct peer p;

	http_peer(H_BIG, NULL, 0, &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", addr, KA), ANVIL_ERR_INCORRECT,
	    "too large");
}

Test(validate, http01_stalled_peer_times_out_as_connection)
{
	struct peer p;
	int64_t t0;

	http_peer(H_STALL, NULL, 0, &p);
	make_cfg(p.port, free_port(), "", 2, NULL);
	t0 = now_ms();
	assert_result(check(VAL_HTTP01, "ip", addr, KA), ANVIL_ERR_CONNECTION,
	    "timeout");
	cr_assert_lt(now_ms() - t0, 3500, "took %lld ms",
	    (long long)(now_ms() - t0));
	cr_assert_geq(now_ms() - t0, 1500);
}

Test(validate, http01_garbage_peer_is_connection)
{
	struct peer p;

	http_peer(H_GARBAGE, NULL, 0, &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", addr, KA), ANVIL_ERR_CONNECTION,
	    NULL);
}

Test(validate, http01_sends_the_expected_request)
{
	char buf[2048] = "", *req;
	unsigned port;
	int lfd, fd;
	size_t len = 0;
	pid_t pid;

	lfd = listen_on(0, &port);
	make_cfg(port, free_port(), "", 3, NULL);
	pid = spawn();
	if (pid == 0) {
		close(lfd);
		check(VAL_HTTP01, "ip", addr, KA);
		_exit(0);
	}
	fd = accept(lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	{
		struct timeval tv = { 3, 0 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	while (len < sizeof(buf) - 1 && strstr(buf, "\r\n\r\n") == NULL) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
	}
	close(fd);
	close(lfd);
	req = buf;
	cr_assert(strncmp(req, "GET /.well-known/acme-challenge/" TOKEN
	    " HTTP/1.1\r\n", strlen("GET /.well-known/acme-challenge/" TOKEN
	    " HTTP/1.1\r\n")) == 0, "%s", req);
	cr_assert_not_null(strstr(req, "User-Agent: anvil-validator\r\n"),
	    "%s", req);
	cr_assert_not_null(strstr(req, "Host: "), "%s", req);
}

Test(validate, http01_ignores_proxy_environment)
{
	struct peer p;

	/* A proxy that would refuse everything. */
	setenv("http_proxy", "http://127.0.0.1:1", 1);
	setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
	setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
	http_peer(H_BODY, KA, strlen(KA), &p);
	make_cfg(p.port, free_port(), "", 5, NULL);
	assert_result(check(VAL_HTTP01, "ip", addr, KA), ANVIL_OK, NULL);
}

/* ============================================================ dns-01 */

Test(validate, dns01_ok)
{
	char v[64];

	cts_start();
	txt_value(KA, v, sizeof(v));
	cts_set_txt("_acme-challenge.www.example.test.", v);
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_DNS01, "dns", "www.example.test", KA),
	    ANVIL_OK, NULL);
}

Test(validate, dns01_one_matching_record_among_several_is_enough)
{
	char v[64];

	cts_start();
	txt_value(KA, v, sizeof(v));
	cts_set_txt("_acme-challenge.multi.test.", "something-else");
	cts_set_txt("_acme-challenge.multi.test.", v);
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_DNS01, "dns", "multi.test", KA), ANVIL_OK,
	    NULL);
}

Test(validate, dns01_wrong_value_is_incorrect)
{
	char v[64];

	cts_start();
	txt_value(OTHER_KA, v, sizeof(v));
	cts_set_txt("_acme-challenge.www.example.test.", v);
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_DNS01, "dns", "www.example.test", KA),
	    ANVIL_ERR_INCORRECT, "_acme-challenge.www.example.test");
	cr_assert_not_null(strstr(detail, v), "%s", detail);
}

Test(validate, dns01_no_record_is_unauthorized)
{
	cts_start();
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_DNS01, "dns", "empty.test", KA),
	    ANVIL_ERR_UNAUTHORIZED, "no TXT record at _acme-challenge.empty.test");
}

/*
 * A DNS server that answers every TXT query with the text in the file
 * "path" (read for each query) and a TTL of an hour, or NXDOMAIN with a
 * SOA of an hour's negative TTL while the file is empty: a resolver that
 * caches would keep answering what it saw first. Returns "addr@port".
 */
static void
ttl_dns_serve(int fd, const char *path)
{
	unsigned char q[512], r[1024];
	char text[200];
	struct sockaddr_in from;
	socklen_t fl;
	ssize_t n;
	size_t qend, len, tl;
	FILE *f;

	for (;;) {
		fl = sizeof(from);
		n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n < 17)
			continue;
		for (qend = 12; qend < (size_t)n && q[qend] != 0;
		    qend += (size_t)q[qend] + 1)
			;
		qend += 5;		/* root label, QTYPE, QCLASS */
		if (qend > (size_t)n)
			continue;
		tl = 0;
		if ((f = fopen(path, "r")) != NULL) {
			tl = fread(text, 1, sizeof(text) - 1, f);
			fclose(f);
		}
		memcpy(r, q, qend);
		r[2] = 0x85;		/* QR, AA, RD */
		r[3] = tl > 0 ? 0x80 : 0x83;	/* RA; NXDOMAIN if empty */
		memset(r + 4, 0, 8);
		r[5] = 1;		/* one question */
		len = qend;
		if (tl > 0) {
			static const unsigned char an[] = { 0xc0, 0x0c, 0, 16,
			    0, 1, 0, 0, 0x0e, 0x10 };
			r[7] = 1;
			memcpy(r + len, an, sizeof(an));
			len += sizeof(an);
			r[len++] = 0;
			r[len++] = (unsigned char)(tl + 1);
			r[len++] = (unsigned char)tl;
			memcpy(r + len, text, tl);
			len += tl;
		} else {
			/* Authority: test. SOA, minimum 3600. */
			static const unsigned char soa[] = { 4, 't', 'e', 's',
			    't', 0, 0, 6, 0, 1, 0, 0, 0x0e, 0x10, 0, 22,
			    0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0,
			    0, 0, 1, 0, 0, 0x0e, 0x10 };
			r[9] = 1;
			memcpy(r + len, soa, sizeof(soa));
			len += sizeof(soa);
		}
		(void)sendto(fd, r, len, 0, (struct sockaddr *)&from, fl);
	}
}

static void
ttl_dns_start(const char *path, char *resolver, size_t rlen)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	pid_t pid;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(60);
		ttl_dns_serve(fd, path);
		_exit(0);
	}
	close(fd);
	snprintf(resolver, rlen, "%s@%u", addr, ntohs(sin.sin_port));
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/*
 * One resolver context serves the checks of a process, and remembers no
 * answer, negative or positive, even with an hour's TTL: a record added
 * or changed after a failed check is seen by the next one.
 */
Test(validate, dns01_kept_resolver_sees_every_change)
{
	char v[64], w[64], r[64], path[] = "/tmp/anvil-ttl-dns-XXXXXX";
	unsigned before = val_dns_made();
	int fd;

	cr_assert((fd = mkstemp(path)) >= 0);
	close(fd);
	ttl_dns_start(path, r, sizeof(r));
	txt_value(KA, v, sizeof(v));
	txt_value(OTHER_KA, w, sizeof(w));
	make_cfg(free_port(), free_port(), r, 5, NULL);
	assert_result(check(VAL_DNS01, "dns", "later.test", KA),
	    ANVIL_ERR_UNAUTHORIZED, "later.test");
	write_text(path, w);
	assert_result(check(VAL_DNS01, "dns", "later.test", KA),
	    ANVIL_ERR_INCORRECT, w);
	write_text(path, v);
	assert_result(check(VAL_DNS01, "dns", "later.test", KA), ANVIL_OK,
	    NULL);
	cr_assert_eq(val_dns_made() - before, 1, "%u contexts for 3 checks",
	    val_dns_made() - before);
	unlink(path);
}

Test(validate, dns01_follows_cname)
{
	char v[64];

	cts_start();
	txt_value(KA, v, sizeof(v));
	cts_post("/set-cname", "{\"host\":\"_acme-challenge.alias.test.\","
	    "\"target\":\"_acme-challenge.delegated.test.\"}");
	cts_set_txt("_acme-challenge.delegated.test.", v);
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_DNS01, "dns", "alias.test", KA), ANVIL_OK,
	    NULL);
}

Test(validate, dns01_follows_a_cname_chain)
{
	char v[64];

	cts_start();
	txt_value(KA, v, sizeof(v));
	/* challtestsrv answers one level only: unbound chases the rest. */
	cts_post("/set-cname", "{\"host\":\"_acme-challenge.chain.test.\","
	    "\"target\":\"hop1.test.\"}");
	cts_post("/set-cname", "{\"host\":\"hop1.test.\","
	    "\"target\":\"hop2.test.\"}");
	cts_post("/set-cname", "{\"host\":\"hop2.test.\","
	    "\"target\":\"final.test.\"}");
	cts_set_txt("final.test.", v);
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_DNS01, "dns", "chain.test", KA), ANVIL_OK,
	    NULL);
}

Test(validate, dns01_cname_loop_is_dns)
{
	cts_start();
	cts_post("/set-cname", "{\"host\":\"_acme-challenge.loop.test.\","
	    "\"target\":\"loop2.test.\"}");
	cts_post("/set-cname", "{\"host\":\"loop2.test.\","
	    "\"target\":\"_acme-challenge.loop.test.\"}");
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_DNS01, "dns", "loop.test", KA), ANVIL_ERR_DNS,
	    "_acme-challenge.loop.test");
}

Test(validate, dns01_servfail_is_dns)
{
	cts_start();
	cts_post("/set-servfail", "{\"host\":\"_acme-challenge.broken.test.\"}");
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_DNS01, "dns", "broken.test", KA),
	    ANVIL_ERR_DNS, "_acme-challenge.broken.test");
}

Test(validate, dns01_silent_resolver_is_dns_within_the_timeout)
{
	char r[40];
	int64_t t0;
	int ufd;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin.sin_addr);
	cr_assert_eq(bind(ufd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(ufd, (struct sockaddr *)&sin, &sl);
	snprintf(r, sizeof(r), "%s@%u", addr, ntohs(sin.sin_port));
	make_cfg(free_port(), free_port(), r, 2, NULL);
	t0 = now_ms();
	assert_result(check(VAL_DNS01, "dns", "www.example.test", KA),
	    ANVIL_ERR_DNS, NULL);
	cr_assert_lt(now_ms() - t0, 3500);
	close(ufd);
}

/* ============================================================ tls-alpn-01 */

Test(validate, tlsalpn01_ok_through_challtestsrv)
{
	cts_start();
	cts_post("/add-tlsalpn01", "{\"host\":\"www.example.test\","
	    "\"content\":\"" KA "\"}");
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_TLSALPN01, "dns", "www.example.test", KA),
	    ANVIL_OK, NULL);
}

Test(validate, tlsalpn01_wrong_key_authz_is_incorrect)
{
	cts_start();
	cts_post("/add-tlsalpn01", "{\"host\":\"www.example.test\","
	    "\"content\":\"" OTHER_KA "\"}");
	make_cfg(CTS_HTTP, CTS_TLS, cts_resolver(), 5, NULL);
	assert_result(check(VAL_TLSALPN01, "dns", "www.example.test", KA),
	    ANVIL_ERR_INCORRECT, "does not match the key authorization");
}

Test(validate, tlsalpn01_ip_identifier_uses_reverse_sni_and_ip_san)
{
	struct certspec s = { { NULL, NULL }, NULL, KA, 1, 1 };
	struct peer p;
	char ev[256], want[64];
	unsigned a, b, c, d;

	s.ip = addr;
	tls_peer(make_creds(&s), 1, &p);
	make_cfg(free_port(), p.port, "", 5, NULL);
	assert_result(check(VAL_TLSALPN01, "ip", addr, KA), ANVIL_OK, NULL);
	cr_assert_gt(peer_read(&p, ev, sizeof(ev), 1000), 0);
	cr_assert_eq(sscanf(addr, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
	snprintf(want, sizeof(want), "%u.%u.%u.%u.in-addr.arpa\n", d, c, b, a);
	cr_assert_str_eq(ev, want);
}

Test(validate, tlsalpn01_ipv6_identifier_uses_ip6_arpa)
{
	struct certspec s = { { NULL, NULL }, "::1", KA, 1, 1 };
	struct peer p;
	char ev[256];

	peer_host = "::1";
	tls_peer(make_creds(&s), 1, &p);
	make_cfg(free_port(), p.port, "", 5, NULL);
	assert_result(check(VAL_TLSALPN01, "ip", "::1", KA), ANVIL_OK, NULL);
	cr_assert_gt(peer_read(&p, ev, sizeof(ev), 1000), 0);
	cr_assert_str_eq(ev, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0.0.ip6.arpa\n");
	/* The same certificate does not do for 127.0.0.1's check. */
	s.ip = "::2";
	tls_peer(make_creds(&s), 1, &p);
	make_cfg(free_port(), p.port, "", 5, NULL);
	assert_result(check(VAL_TLSALPN01, "ip", "::1", KA),
	    ANVIL_ERR_INCORRECT, "iPAddress is not ::1");
}

Test(validate, tlsalpn01_sni_is_the_name)
{
	struct certspec s = { { "www.example.test", NULL }, NULL, KA, 1, 1 };
	struct peer p;
	char ev[256];

	cts_start(); /* only as the resolver */
	tls_peer(make_creds(&s), 1, &p);
	make_cfg(free_port(), p.port, cts_resolver(), 5, NULL);
	assert_result(check(VAL_TLSALPN01, "dns", "www.example.test", KA),
	    ANVIL_OK, NULL);
	cr_assert_gt(peer_read(&p, ev, sizeof(ev), 1000), 0);
	cr_assert_str_eq(ev, "www.example.test\n");
}

Test(validate, tlsalpn01_certificate_checks)
{
	static const struct {
		const char *desc;
		struct certspec s;
		const char *ident_type; /* "dns": www.example.test; "ip" */
		anvil_err want;
		const char *needle;
	} rows[] = {
		{ "two SANs", { { "www.example.test", "other.test" }, NULL, KA,
		    1, 1 }, "dns", ANVIL_ERR_INCORRECT, "2 subjectAltNames" },
		{ "the wrong name", { { "other.test", NULL }, NULL, KA, 1, 1 },
		    "dns", ANVIL_ERR_INCORRECT,
		    "dNSName is not www.example.test" },
		{ "no SAN", { { NULL, NULL }, NULL, KA, 1, 1 }, "dns",
		    ANVIL_ERR_INCORRECT, "no subjectAltName" },
		{ "a name for an ip", { { "www.example.test", NULL }, NULL, KA,
		    1, 1 }, "ip", ANVIL_ERR_INCORRECT, "iPAddress" },
		{ "no acmeIdentifier", { { "www.example.test", NULL }, NULL, KA,
		    0, 0 }, "dns", ANVIL_ERR_INCORRECT, "no acmeIdentifier" },
		{ "acmeIdentifier not critical", { { "www.example.test", NULL },
		    NULL, KA, 1, 0 }, "dns", ANVIL_ERR_INCORRECT,
		    "not critical" },
		{ "other key authz", { { "www.example.test", NULL }, NULL,
		    OTHER_KA, 1, 1 }, "dns", ANVIL_ERR_INCORRECT,
		    "does not match" },
		{ "name matches case-insensitively", { { "WWW.Example.TEST",
		    NULL }, NULL, KA, 1, 1 }, "dns", ANVIL_OK, NULL },
	};
	size_t i;

	cts_start(); /* only as the resolver */
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct certspec s = rows[i].s;
		struct peer p;
		int ip = strcmp(rows[i].ident_type, "ip") == 0;

		tls_peer(make_creds(&s), 1, &p);
		make_cfg(free_port(), p.port, cts_resolver(), 5, NULL);
		detail[0] = '\0';
		cr_expect_eq(check(VAL_TLSALPN01, rows[i].ident_type,
		    ip ? addr : "www.example.test", KA), rows[i].want,
		    "%s: %s", rows[i].desc, detail);
		if (rows[i].needle != NULL)
			cr_expect_not_null(strstr(detail, rows[i].needle),
			    "%s: %s", rows[i].desc, detail);
		/* What the peer's certificate says is not quoted back. */
		cr_expect_null(strstr(detail, "other.test"), "%s: %s",
		    rows[i].desc, detail);
		cr_expect_null(lib_text_in(detail), "%s: library text in "
		    "\"%s\"", rows[i].desc, detail);
		close(p.events);
		/* Keep the kid table small: stop this row's server. */
		kill(kids[nkids - 1], SIGKILL);
		waitpid(kids[nkids - 1], NULL, 0);
		nkids--;
		gnutls_certificate_free_credentials(creds[--ncreds]);
	}
}

Test(validate, tlsalpn01_peer_without_alpn_is_tls)
{
	struct certspec s = { { "www.example.test", NULL }, NULL, KA, 1, 1 };
	struct peer p;

	tls_peer(make_creds(&s), 0, &p);
	make_cfg(free_port(), p.port, "", 5, NULL);
	assert_result(check(VAL_TLSALPN01, "ip", addr, KA), ANVIL_ERR_TLS,
	    NULL);
}

Test(validate, tlsalpn01_nothing_listening_is_connection)
{
	make_cfg(free_port(), free_port(), "", 5, NULL);
	assert_result(check(VAL_TLSALPN01, "ip", addr, KA),
	    ANVIL_ERR_CONNECTION, "connection refused");
}

Test(validate, tlsalpn01_garbage_peer_is_tls)
{
	struct peer p;

	http_peer(H_GARBAGE, NULL, 0, &p);
	make_cfg(free_port(), p.port, "", 5, NULL);
	assert_result(check(VAL_TLSALPN01, "ip", addr, KA), ANVIL_ERR_TLS,
	    NULL);
}

Test(validate, tlsalpn01_http_peer_is_tls)
{
	struct peer p;

	http_peer(H_STATUS404, NULL, 0, &p);
	make_cfg(free_port(), p.port, "", 5, NULL);
	assert_result(check(VAL_TLSALPN01, "ip", addr, KA), ANVIL_ERR_TLS,
	    NULL);
}

Test(validate, tlsalpn01_silent_peer_times_out_as_connection)
{
	struct peer p;
	int64_t t0;

	http_peer(H_SILENT, NULL, 0, &p);
	make_cfg(free_port(), p.port, "", 2, NULL);
	t0 = now_ms();
	assert_result(check(VAL_TLSALPN01, "ip", addr, KA),
	    ANVIL_ERR_CONNECTION, "timeout");
	cr_assert_lt(now_ms() - t0, 3500, "took %lld ms",
	    (long long)(now_ms() - t0));
}
