/*
 * http.c - reading a request and writing a response, FastCGI or CGI.
 *
 * libfcgi's FCGX_Accept_r only serves FastCGI; in a CGI process the same
 * request is read from the environment and stdin. Everything above this
 * file sees one struct http_req either way.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "core/util.h"
#include "http/http.h"

static const char *
param(struct FCGX_Request *fcgi, const char *name)
{
	if (fcgi != NULL)
		return FCGX_GetParam(name, fcgi->envp);
	return getenv(name);
}

/* Reads exactly len bytes of body; -1 on a short read. */
static int
read_body(struct FCGX_Request *fcgi, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		if (fcgi != NULL) {
			int n = FCGX_GetStr((char *)buf + got,
			    (int)(len - got), fcgi->in);
			if (n <= 0)
				return -1;
			got += (size_t)n;
		} else {
			ssize_t n = read(0, buf + got, len - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			got += (size_t)n;
		}
	}
	return 0;
}

/*
 * Percent-decoding is not needed: ACME paths here are [A-Za-z0-9_/-.].
 * Below /ocsp/ the path is an RFC 5019 A.1 GET request: base64 (with
 * '+', '/', '='), percent-encoded or not, which src/acme/ocsp.c decodes;
 * it never names a file.
 */
static int
path_ok(const char *p)
{
	if (strncmp(p, "/ocsp/", 6) == 0) {
		for (p += 6; *p; p++)
			if (!(isalnum((unsigned char)*p) || *p == '+' ||
			    *p == '/' || *p == '=' || *p == '%'))
				return 0;
		return 1;
	}
	/* No segment may start with a dot: no "..", no hidden names. */
	if (strstr(p, "/.") != NULL)
		return 0;
	for (; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '/' || *p == '-' ||
		    *p == '_' || *p == '.'))
			return 0;
	return 1;
}

anvil_err
http_read_request(struct FCGX_Request *fcgi, const char *base_path,
    size_t max_body, struct http_req *req)
{
	const char *m, *uri, *cl, *ct, *q;
	unsigned long long len = 0;
	size_t blen = strlen(base_path);
	unsigned char rnd[8];
	char *end;

	memset(req, 0, sizeof(*req));
	if (util_random(rnd, sizeof(rnd)) == ANVIL_OK)
		util_hex(rnd, sizeof(rnd), req->id);
	m = param(fcgi, "REQUEST_METHOD");
	snprintf(req->method, sizeof(req->method), "%s", m ? m : "");
	ct = param(fcgi, "CONTENT_TYPE");
	if ((req->content_type = strdup(ct ? ct : "")) == NULL)
		return ANVIL_ERR_NOMEM;

	/* The path: REQUEST_URI less the query, which every server sets;
	 * else SCRIPT_NAME + PATH_INFO. */
	uri = param(fcgi, "REQUEST_URI");
	if (uri == NULL || *uri == '\0') {
		const char *sn = param(fcgi, "SCRIPT_NAME");
		const char *pi = param(fcgi, "PATH_INFO");
		char *joined = NULL;
		if (asprintf(&joined, "%s%s", sn ? sn : "", pi ? pi : "") < 0)
			return ANVIL_ERR_NOMEM;
		req->path = joined;
	} else if ((req->path = strdup(uri)) == NULL)
		return ANVIL_ERR_NOMEM;
	q = strchr(req->path, '?');
	if ((req->query = strdup(q ? q + 1 : "")) == NULL)
		return ANVIL_ERR_NOMEM;
	if (q != NULL)
		req->path[q - req->path] = '\0';
	if (strncmp(req->path, base_path, blen) != 0 ||
	    (req->path[blen] != '/' && req->path[blen] != '\0')) {
		free(req->path);
		req->path = NULL;
	} else if (!path_ok(req->path + blen)) {
		/* Kept apart so the router can tell a malformed
		 * identifier (a certID with '=') from a missing
		 * resource; it is never routed. */
		memmove(req->path, req->path + blen,
		    strlen(req->path + blen) + 1);
		req->refused = req->path;
		req->path = NULL;
	} else
		memmove(req->path, req->path + blen, strlen(req->path + blen) + 1);

	cl = param(fcgi, "CONTENT_LENGTH");
	if (cl != NULL && *cl != '\0') {
		if (!isdigit((unsigned char)cl[0]) || strlen(cl) > 12)
			return ANVIL_ERR_MALFORMED;
		errno = 0;
		len = strtoull(cl, &end, 10);
		if (errno != 0 || *end != '\0')
			return ANVIL_ERR_MALFORMED;
	}
	if (len > max_body)
		return ANVIL_ERR_TOOLARGE;
	if ((req->body = malloc((size_t)len + 1)) == NULL)
		return ANVIL_ERR_NOMEM;
	if (len > 0 && read_body(fcgi, req->body, (size_t)len) != 0)
		return ANVIL_ERR_MALFORMED;
	req->body[len] = '\0';
	req->body_len = (size_t)len;
	/* DER (RFC 6960 A.1 POST) holds NULs; every other body is text. */
	if (strcmp(req->content_type, "application/ocsp-request") != 0 &&
	    memchr(req->body, '\0', req->body_len) != NULL)
		return ANVIL_ERR_MALFORMED;
	return ANVIL_OK;
}

void
http_req_clear(struct http_req *req)
{
	free(req->path);
	free(req->refused);
	free(req->query);
	free(req->content_type);
	free(req->body);
	memset(req, 0, sizeof(*req));
}

static int
header_text_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/*
 * A field name is a token (RFC 9110 section 5.6.2): one or more of these.
 * An empty name, a space before the colon (RFC 9112 section 5.1) or a
 * separator would make a line that is not a header.
 */
static int
header_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9')) &&
		    strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			return 0;
	return 1;
}

anvil_err
http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
	char *n, *v;

	if (resp->nheaders == HTTP_MAX_HEADERS || !header_name_ok(name) ||
	    !header_text_ok(value))
		return ANVIL_ERR_INVALID;
	if ((n = strdup(name)) == NULL || (v = strdup(value)) == NULL) {
		free(n);
		return ANVIL_ERR_NOMEM;
	}
	resp->headers[resp->nheaders].name = n;
	resp->headers[resp->nheaders].value = v;
	resp->nheaders++;
	return ANVIL_OK;
}

void
http_resp_body(struct http_resp *resp, char *body, size_t len,
    const char *content_type)
{
	free(resp->body);
	resp->body = body;
	resp->body_len = len;
	resp->content_type = content_type;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

struct out {
	struct FCGX_Request *fcgi;
	int failed;
};

static void
out_write(struct out *o, const char *data, size_t len)
{
	size_t done = 0;

	if (o->failed)
		return;
	if (o->fcgi != NULL) {
		if (FCGX_PutStr(data, (int)len, o->fcgi->out) != (int)len)
			o->failed = 1;
		return;
	}
	while (done < len) {
		ssize_t w = write(1, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->failed = 1;
			return;
		}
		done += (size_t)w;
	}
}

anvil_err
http_write_response(struct FCGX_Request *fcgi, const struct http_resp *resp)
{
	struct out o = { fcgi, 0 };
	char line[2048];
	size_t i;
	int n;

	/* Always a Status: line: lighttpd and Apache turn a Location without
	 * one into a redirect (interop.md). An nph- CGI writes the HTTP
	 * status line itself. */
	if (resp->nph)
		n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n",
		    resp->status, http_reason(resp->status));
	else
		n = snprintf(line, sizeof(line), "Status: %d %s\r\n",
		    resp->status, http_reason(resp->status));
	out_write(&o, line, (size_t)n);
	if (resp->content_type != NULL) {
		n = snprintf(line, sizeof(line), "Content-Type: %s\r\n",
		    resp->content_type);
		out_write(&o, line, (size_t)n);
	}
	n = snprintf(line, sizeof(line), "Content-Length: %zu\r\n",
	    resp->body_len);
	out_write(&o, line, (size_t)n);
	for (i = 0; i < resp->nheaders; i++) {
		out_write(&o, resp->headers[i].name,
		    strlen(resp->headers[i].name));
		out_write(&o, ": ", 2);
		out_write(&o, resp->headers[i].value,
		    strlen(resp->headers[i].value));
		out_write(&o, "\r\n", 2);
	}
	if (resp->nph)
		out_write(&o, "Connection: close\r\n", 19);
	out_write(&o, "\r\n", 2);
	if (resp->body_len > 0)
		out_write(&o, resp->body, resp->body_len);
	/*
	 * No FCGX_FFlush: FCGX_Finish_r writes what is buffered (8 KiB; a
	 * longer reply goes out as the buffer fills) with the end of the
	 * stream and FCGI_END_REQUEST in one write. Flushed here, the reply
	 * went alone; lighttpd, which has the whole body by Content-Length,
	 * closed the connection, and the closing records met EPIPE and a
	 * SIGPIPE (libfcgi catches it) on every request.
	 */
	return o.failed ? ANVIL_ERR_IO : ANVIL_OK;
}

void
http_resp_clear(struct http_resp *resp)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		free(resp->headers[i].value);
	}
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}
