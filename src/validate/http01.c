/*
 * http01.c - http-01 (RFC 8555 §8.3): GET
 * http://<host>:<http_port>/.well-known/acme-challenge/<token> with
 * libcurl. Redirects are followed here, not by libcurl, so that every
 * host name goes through our resolver and every address through the
 * denied-network check; libcurl's open-socket hook checks the address
 * actually connected to once more. Each hop (the challenge URL, then each
 * redirect) runs the same named steps from one table: target, addresses,
 * pinning, handle, fetch.
 *
 * Nothing a peer sends goes into a detail: not the body, not a header, not
 * a Location. The validator may be pointed at a page the client cannot
 * read itself (an allowed internal network, a redirect), so a
 * detail says what was wrong (a status code, a length, a denied network)
 * and names only the URL we built from the identifier; a redirect target
 * is named by its number.
 */
#include "config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "validate/curl_dl.h"
#include "validate/val_int.h"

#define MAX_BODY 8192
#define MAX_REDIRECTS 10
#define USER_AGENT "anvil-validator"

static const struct val_curl_api *vc;	/* libcurl, once loaded */

/* Per-request state shared with libcurl's callbacks. */
struct fetch {
	const struct anvil_config *cfg;
	char body[MAX_BODY];
	size_t len;
	int too_large;		/* more than MAX_BODY bytes arrived */
	int denied;		/* the open-socket hook refused an address */
	char denied_addr[INET6_ADDRSTRLEN];
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct fetch *f = arg;
	size_t n = size * nmemb;

	if (n > MAX_BODY - f->len) {
		f->too_large = 1;
		return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
	}
	memcpy(f->body + f->len, data, n);
	f->len += n;
	return n;
}

static curl_socket_t
on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *sa)
{
	struct fetch *f = arg;
	struct val_addr a;
	curl_socket_t s;

	(void)purpose;
	memset(&a, 0, sizeof(a));
	if (sa->family == AF_INET &&
	    sa->addrlen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)&sa->addr;

		a.family = AF_INET;
		memcpy(a.bytes, &in->sin_addr, 4);
	} else if (sa->family == AF_INET6 &&
	    sa->addrlen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)&sa->addr;

		a.family = AF_INET6;
		memcpy(a.bytes, &in6->sin6_addr, 16);
	} else {
		return CURL_SOCKET_BAD;
	}
	if (config_net_denied(f->cfg, a.family, a.bytes)) {
		f->denied = 1;
		val_addr_str(&a, f->denied_addr, sizeof(f->denied_addr));
		return CURL_SOCKET_BAD;
	}
	s = socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
	return s < 0 ? CURL_SOCKET_BAD : s;
}

/* 1 if a redirect may go to this port: the well-known ones and the
 * configured validation ports. */
static int
port_allowed(const struct anvil_config *cfg, long port)
{
	return port == 80 || port == 443 || port == (long)cfg->http_port ||
	    port == (long)cfg->tls_port;
}

/*
 * Splits url into its host (brackets removed, caller frees) and port.
 * On a redirect (hop > 0) the scheme must be http or https and the port
 * one of port_allowed's. label names the URL in a detail (url itself may
 * be a peer's Location and is never shown).
 */
static anvil_err
split_url(const struct anvil_config *cfg, const char *url, int hop,
    const char *label, char **hostp, long *portp, char *detail,
    size_t detaillen)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *port = NULL, *end = NULL;
	anvil_err rc = ANVIL_ERR_UNAUTHORIZED;
	size_t hl;

	*hostp = NULL;
	u = vc->url();
	if (u == NULL) {
		rc = errf(detail, detaillen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (vc->url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    vc->url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    vc->url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    vc->url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK) {
		rc = errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
		    "%s is not a valid URL", label);
		goto out;
	}
	if (hop > 0 && strcmp(scheme, "http") != 0 &&
	    strcmp(scheme, "https") != 0) {
		rc = errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
		    "%s: only http and https are allowed", label);
		goto out;
	}
	*portp = strtol(port, &end, 10);
	if (*end != '\0' || *portp <= 0 || *portp > 65535 ||
	    (hop > 0 && !port_allowed(cfg, *portp))) {
		rc = errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
		    "%s: the port is not allowed (only 80, 443 and the "
		    "validation ports)", label);
		goto out;
	}
	hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	if (strlen(host) == 0 || strlen(host) >= VAL_MAX_NAME ||
	    strchr(host, '%') != NULL) {
		rc = errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
		    "%s: unusable host", label);
		goto out;
	}
	*hostp = strdup(host);
	if (*hostp == NULL) {
		rc = errf(detail, detaillen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = ANVIL_OK;
out:
	vc->free(scheme);
	vc->free(host);
	vc->free(port);
	vc->url_cleanup(u);
	return rc;
}

/* "host:port:addr,addr" for CURLOPT_RESOLVE (IPv6 in brackets). */
static char *
resolve_entry(const char *host, long port, const struct val_addr *a,
    size_t n)
{
	size_t cap = strlen(host) + 8 + n * (INET6_ADDRSTRLEN + 3) + 1;
	char *s = malloc(cap), text[INET6_ADDRSTRLEN];
	size_t i, len;

	if (s == NULL)
		return NULL;
	len = (size_t)snprintf(s, cap, "%s:%ld:", host, port);
	for (i = 0; i < n && len < cap; i++) {
		val_addr_str(&a[i], text, sizeof(text));
		len += (size_t)snprintf(s + len, cap - len,
		    a[i].family == AF_INET6 ? "%s[%s]" : "%s%s",
		    i > 0 ? "," : "", text);
	}
	return s;
}

/*
 * The detail for a failed transfer. where names the peer ("host:port" of
 * the first request, "the target of redirect N" after), shown the URL
 * (ours, or again "the target of redirect N"). The words are ours, one
 * wording per class of failure: libcurl's text (its error buffer can quote
 * the peer, and its fixed text changes between versions) goes to the log.
 * The refused address is named only when it is the identifier's own
 * (name_addr), never one a redirect led to.
 */
static anvil_err
curl_failure(struct fetch *f, CURLcode cc, long os_errno, const char *where,
    const char *shown, int name_addr, long code, char *detail,
    size_t detaillen)
{
	if (f->denied && name_addr)
		return errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
		    "%s: %s is in a denied network", where, f->denied_addr);
	if (f->denied)
		return errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
		    "%s is in a denied network", where);
	if (f->too_large) {
		if (code != 0 && code != 200)
			return errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
			    "%s returned %ld", shown, code);
		return errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "%s: response too large (more than %d bytes)", shown,
		    MAX_BODY);
	}
	log_info("http-01: %s: curl_easy_perform: %s (%d, errno %ld)", where,
	    vc->easy_strerror(cc), (int)cc, os_errno);
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: timeout", where);
	case CURLE_COULDNT_CONNECT:
		if (os_errno == ECONNREFUSED)
			return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
			    "%s: connection refused", where);
		if (os_errno == ETIMEDOUT)
			return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
			    "%s: timeout while connecting", where);
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: cannot connect", where);
	case CURLE_COULDNT_RESOLVE_HOST:
		return errf(detail, detaillen, ANVIL_ERR_DNS,
		    "%s: the host name cannot be resolved", where);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		return errf(detail, detaillen, ANVIL_ERR_TLS,
		    "%s: TLS handshake failed", where);
	case CURLE_OUT_OF_MEMORY:
		return errf(detail, detaillen, ANVIL_ERR_NOMEM,
		    "out of memory");
	case CURLE_GOT_NOTHING:
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: connection closed without a response", where);
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: connection lost before the response was complete",
		    where);
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: the answer is not an HTTP response", where);
	default:
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: the HTTP request failed", where);
	}
}

/* 1 if c is whitespace a key authorization file may end with. */
static int
is_trailing_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

/* One http-01 validation: the URL of the current hop and what it found. */
struct h01 {
	const struct anvil_config *cfg;
	int64_t deadline;
	struct fetch f;			/* shared with libcurl's callbacks */
	struct val_dns *dns;
	struct val_addr addrs[VAL_MAX_ADDRS];
	size_t naddrs;
	struct curl_slist *resolve;	/* host:port:addrs for libcurl */
	CURL *curl;
	char *url;			/* ours at hop 0, then a Location */
	char *host, *entry;
	long port, code;
	int hop;
	char errbuf[CURL_ERROR_SIZE];
	char where[VAL_MAX_NAME + 16];	/* the peer, for a detail */
	char shown[176];		/* the URL, for a detail */
	char label[48];			/* the URL's name in a detail */
	char *detail;
	size_t detaillen;
};

/* The challenge URL, built from the identifier (an address canonical). */
static anvil_err
challenge_url(struct h01 *h, const struct val_ident *id,
    const struct val_addr *ip, const char *token)
{
	char text[INET6_ADDRSTRLEN] = "";
	int n;

	if (ip != NULL)
		val_addr_str(ip, text, sizeof(text));
	if (ip != NULL && ip->family == AF_INET6)
		n = asprintf(&h->url,
		    "http://[%s]:%u/.well-known/acme-challenge/%s", text,
		    h->cfg->http_port, token);
	else
		n = asprintf(&h->url,
		    "http://%s:%u/.well-known/acme-challenge/%s",
		    ip != NULL ? text : id->value, h->cfg->http_port, token);
	if (n < 0) {
		h->url = NULL;
		return errf(h->detail, h->detaillen, ANVIL_ERR_NOMEM,
		    "out of memory");
	}
	return ANVIL_OK;
}

/*
 * The host and port of this hop's URL and how a detail names them. The
 * first URL is ours, built from the identifier; a later one is a peer's
 * Location and is named by its number.
 */
static anvil_err
hop_target(struct h01 *h)
{
	anvil_err rc;

	free(h->host);
	h->host = NULL;
	if (h->hop == 0)
		snprintf(h->label, sizeof(h->label), "the challenge URL");
	else
		snprintf(h->label, sizeof(h->label),
		    "the target of redirect %d", h->hop);
	rc = split_url(h->cfg, h->url, h->hop, h->label, &h->host, &h->port,
	    h->detail, h->detaillen);
	if (rc != ANVIL_OK)
		return rc;
	if (h->hop == 0) {
		val_excerpt(h->url, strlen(h->url), 160, h->shown);
		snprintf(h->where, sizeof(h->where), strchr(h->host, ':') !=
		    NULL ? "[%s]:%ld" : "%s:%ld", h->host, h->port);
	} else {
		snprintf(h->shown, sizeof(h->shown), "%s", h->label);
		snprintf(h->where, sizeof(h->where), "%s", h->label);
	}
	return ANVIL_OK;
}

/* The host's addresses, every one outside the denied networks. */
static anvil_err
hop_addrs(struct h01 *h)
{
	char seen[VAL_MAX_NAME + 4];
	anvil_err rc;

	rc = val_host_addrs(h->cfg, &h->dns, h->host, h->deadline, h->addrs,
	    VAL_MAX_ADDRS, &h->naddrs, h->detail, h->detaillen);
	if (rc == ANVIL_OK || h->hop == 0 || rc == ANVIL_ERR_NOMEM)
		return rc;
	/* val_host_addrs names the host and its addresses: a redirect's are
	 * not repeated back. */
	val_excerpt(h->host, strlen(h->host), VAL_MAX_NAME - 1, seen);
	log_info("http-01: %s (%s): %s", h->label, seen, h->detail);
	if (rc == ANVIL_ERR_UNAUTHORIZED)
		errf(h->detail, h->detaillen, rc, "%s is in a denied network",
		    h->label);
	else
		errf(h->detail, h->detaillen, rc, "%s: its host name cannot "
		    "be resolved", h->label);
	return rc;
}

/* Pins libcurl to the addresses checked above (a name, not a literal). */
static anvil_err
hop_pin(struct h01 *h)
{
	struct val_addr literal;

	vc->slist_free_all(h->resolve);
	h->resolve = NULL;
	free(h->entry);
	h->entry = NULL;
	if (val_addr_parse(h->host, &literal) == 0)
		return ANVIL_OK;
	h->entry = resolve_entry(h->host, h->port, h->addrs, h->naddrs);
	if (h->entry == NULL ||
	    (h->resolve = vc->slist_append(NULL, h->entry)) == NULL)
		return errf(h->detail, h->detaillen, ANVIL_ERR_NOMEM,
		    "out of memory");
	return ANVIL_OK;
}

/* A fresh handle for this hop, bounded by what is left of the deadline. */
static anvil_err
hop_setup(struct h01 *h)
{
	CURL *curl;
	int64_t left;

	/* 0 would mean "no timeout" to libcurl. */
	left = val_left_ms(h->deadline);
	if (left <= 0)
		return errf(h->detail, h->detaillen, ANVIL_ERR_CONNECTION,
		    "%s: timeout after %u s", h->where, h->cfg->timeout);
	vc->easy_cleanup(h->curl);
	h->curl = curl = vc->easy_init();
	if (curl == NULL)
		return errf(h->detail, h->detaillen, ANVIL_ERR_NOMEM,
		    "curl_easy_init failed");
	h->f.len = 0;
	h->f.too_large = 0;
	h->f.denied = 0;
	h->errbuf[0] = '\0';
	h->code = 0;
	if (vc->easy_setopt(curl, CURLOPT_URL, h->url) != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_PROXY, "") != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_NOPROXY, "*") != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)left) !=
	    CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)left) !=
	    CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
	    /* Let's Encrypt does not verify https redirect targets: the
	     * challenge proves control, not the certificate. */
	    vc->easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_ERRORBUFFER, h->errbuf) !=
	    CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body) !=
	    CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_WRITEDATA, &h->f) != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION,
	    on_open_socket) != CURLE_OK ||
	    vc->easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &h->f) !=
	    CURLE_OK ||
	    (h->resolve != NULL &&
	    vc->easy_setopt(curl, CURLOPT_RESOLVE, h->resolve) != CURLE_OK))
		return errf(h->detail, h->detaillen, ANVIL_ERR_CONNECTION,
		    "libcurl refused an option");
	return ANVIL_OK;
}

/* The GET itself; h->code is the status it answered. */
static anvil_err
hop_fetch(struct h01 *h)
{
	long os_errno = 0;
	CURLcode cc;

	cc = vc->easy_perform(h->curl);
	(void)vc->easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->code);
	if (cc == CURLE_OK)
		return ANVIL_OK;
	(void)vc->easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno);
	if (h->errbuf[0] != '\0')
		log_debug("http-01: %s: %s", h->where, h->errbuf);
	return curl_failure(&h->f, cc, os_errno, h->where, h->shown,
	    h->hop == 0, h->code, h->detail, h->detaillen);
}

/* The steps of one hop, in order; the first refusal ends the validation. */
static anvil_err (*const hop_steps[])(struct h01 *) = {
	hop_target,
	hop_addrs,
	hop_pin,
	hop_setup,
	hop_fetch,
};

static int
is_redirect(long code)
{
	return code == 301 || code == 302 || code == 303 || code == 307 ||
	    code == 308;
}

/* The redirect's Location becomes the next hop's URL. */
static anvil_err
follow(struct h01 *h)
{
	char *next = NULL;

	if (vc->easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &next) !=
	    CURLE_OK || next == NULL)
		return errf(h->detail, h->detaillen, ANVIL_ERR_UNAUTHORIZED,
		    "%s returned %ld without a Location", h->shown, h->code);
	free(h->url);
	if ((h->url = strdup(next)) == NULL)
		return errf(h->detail, h->detaillen, ANVIL_ERR_NOMEM,
		    "out of memory");
	return ANVIL_OK;
}

/* The last hop answered 200 with the key authorization. */
static anvil_err
check_answer(struct h01 *h, const char *key_authz)
{
	size_t len;

	if (h->code != 200)
		return errf(h->detail, h->detaillen, ANVIL_ERR_UNAUTHORIZED,
		    "%s returned %ld", h->shown, h->code);
	len = h->f.len;
	while (len > 0 && is_trailing_space(h->f.body[len - 1]))
		len--;
	if (len != strlen(key_authz) || memcmp(h->f.body, key_authz, len) != 0)
		/* Its length only: the body may be a page the client must
		 * not read through us. */
		return errf(h->detail, h->detaillen, ANVIL_ERR_INCORRECT,
		    "%s returned a body of %zu bytes that is not the key "
		    "authorization (%zu bytes, token.thumbprint)", h->shown,
		    h->f.len, strlen(key_authz));
	return ANVIL_OK;
}

anvil_err
val_http01(const struct anvil_config *cfg, const struct val_ident *id,
    const struct val_addr *ip, const char *token, const char *key_authz,
    int64_t deadline, char *detail, size_t detaillen)
{
	struct h01 *h = NULL;
	anvil_err rc;
	size_t i;

	if ((rc = val_curl_load(&vc, detail, detaillen)) != ANVIL_OK)
		return rc;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return errf(detail, detaillen, ANVIL_ERR_NOMEM, "out of memory");
	h->cfg = cfg;
	h->f.cfg = cfg;
	h->deadline = deadline;
	h->detail = detail;
	h->detaillen = detaillen;
	if ((rc = challenge_url(h, id, ip, token)) != ANVIL_OK)
		goto out;
	for (h->hop = 0;; h->hop++) {
		if (h->hop > MAX_REDIRECTS) {
			rc = errf(detail, detaillen, ANVIL_ERR_CONNECTION,
			    "too many redirects (more than %d)",
			    MAX_REDIRECTS);
			goto out;
		}
		for (i = 0; i < sizeof(hop_steps) / sizeof(hop_steps[0]); i++)
			if ((rc = hop_steps[i](h)) != ANVIL_OK)
				goto out;
		if (!is_redirect(h->code))
			break;
		if ((rc = follow(h)) != ANVIL_OK)
			goto out;
	}
	rc = check_answer(h, key_authz);
out:
	vc->easy_cleanup(h->curl);
	vc->slist_free_all(h->resolve);
	val_dns_free(h->dns);
	free(h->entry);
	free(h->host);
	free(h->url);
	free(h);
	return rc;
}
