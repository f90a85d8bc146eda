/*
 * test_http.c - src/http/http.c on its CGI path: the request read from the
 * environment and stdin (CONTENT_LENGTH parsed strictly, the body bounded
 * before it is read, short reads and NULs refused, the path cut below the
 * base URL), and the response written to stdout (Status or nph status
 * line, headers that no value can split).
 *
 * Criterion runs each test in a process of its own, so the tests set
 * environment variables and replace descriptors 0 and 1 freely. The
 * FastCGI path gets the same rows that differ there (params instead of
 * the environment, FCGI_STDIN instead of stdin): the test connects to a
 * Unix socket of its own, writes the records a web server would, and
 * lets libfcgi accept them in the same process.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "http/http.h"

#define MAX_BODY 64

/* Clears every variable http_read_request looks at. */
static void
env_clear(void)
{
	unsetenv("REQUEST_METHOD");
	unsetenv("REQUEST_URI");
	unsetenv("SCRIPT_NAME");
	unsetenv("PATH_INFO");
	unsetenv("CONTENT_TYPE");
	unsetenv("CONTENT_LENGTH");
}

static void
env_set(const char *name, const char *value)
{
	if (value == NULL)
		unsetenv(name);
	else
		cr_assert_eq(setenv(name, value, 1), 0);
}

/*
 * Makes descriptor 0 a pipe holding len bytes of data, closed behind them
 * so that a read past them sees end of file. Returns the read end's
 * duplicate kept by the test (to look at what was left unread) or -1.
 */
static int
stdin_from(const char *data, size_t len)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert(len < 4096, "row too long for a pipe buffer");
	if (len > 0)
		cr_assert_eq(write(p[1], data, len), (ssize_t)len);
	close(p[1]);
	cr_assert_neq(dup2(p[0], 0), -1);
	return p[0];
}

/* ------------------------------------------------------- CONTENT_LENGTH */

struct cl_row {
	int line;
	const char *cl;		/* CONTENT_LENGTH; NULL: unset */
	const char *body;	/* what stdin holds */
	size_t body_len;
	anvil_err want;
	size_t want_len;	/* body_len on success */
	const char *desc;
};

static const struct cl_row cl_rows[] = {
	{ __LINE__, NULL, "", 0, ANVIL_OK, 0, "no CONTENT_LENGTH: no body" },
	{ __LINE__, "", "", 0, ANVIL_OK, 0, "empty CONTENT_LENGTH: no body" },
	{ __LINE__, NULL, "hello", 5, ANVIL_OK, 0,
	    "no CONTENT_LENGTH: stdin is not read" },
	{ __LINE__, "0", "", 0, ANVIL_OK, 0, "zero" },
	{ __LINE__, "5", "hello", 5, ANVIL_OK, 5, "exact" },
	{ __LINE__, "05", "hello", 5, ANVIL_OK, 5,
	    "leading zero is still decimal, not octal" },
	{ __LINE__, "3", "hello", 5, ANVIL_OK, 3,
	    "longer body: only CONTENT_LENGTH bytes are read" },
	{ __LINE__, "64", "0123456789012345678901234567890123456789"
	    "012345678901234567890123", 64, ANVIL_OK, 64, "exactly max_body" },
	{ __LINE__, "-1", "hello", 5, ANVIL_ERR_MALFORMED, 0, "negative" },
	{ __LINE__, "-0", "", 0, ANVIL_ERR_MALFORMED, 0, "negative zero" },
	{ __LINE__, "+5", "hello", 5, ANVIL_ERR_MALFORMED, 0, "plus sign" },
	{ __LINE__, "1e3", "hello", 5, ANVIL_ERR_MALFORMED, 0, "exponent" },
	{ __LINE__, "5.0", "hello", 5, ANVIL_ERR_MALFORMED, 0, "fraction" },
	{ __LINE__, "0x5", "hello", 5, ANVIL_ERR_MALFORMED, 0, "hex" },
	{ __LINE__, " 5", "hello", 5, ANVIL_ERR_MALFORMED, 0,
	    "leading space (strtoull would skip it)" },
	{ __LINE__, "5 ", "hello", 5, ANVIL_ERR_MALFORMED, 0,
	    "trailing space" },
	{ __LINE__, "\t5", "hello", 5, ANVIL_ERR_MALFORMED, 0, "leading tab" },
	{ __LINE__, "5\n", "hello", 5, ANVIL_ERR_MALFORMED, 0,
	    "trailing newline" },
	{ __LINE__, "5,5", "hello", 5, ANVIL_ERR_MALFORMED, 0,
	    "two lengths joined" },
	{ __LINE__, "five", "hello", 5, ANVIL_ERR_MALFORMED, 0, "a word" },
	{ __LINE__, "\xd9\xa5", "hello", 5, ANVIL_ERR_MALFORMED, 0,
	    "Arabic-Indic digit five" },
	{ __LINE__, "99999999999999999999", "", 0, ANVIL_ERR_MALFORMED, 0,
	    "past 2^64: refused by length before strtoull" },
	{ __LINE__, "18446744073709551616", "", 0, ANVIL_ERR_MALFORMED, 0,
	    "2^64 exactly" },
	{ __LINE__, "9999999999999", "", 0, ANVIL_ERR_MALFORMED, 0,
	    "13 digits" },
	{ __LINE__, "999999999999", "", 0, ANVIL_ERR_TOOLARGE, 0,
	    "12 digits: too large, not malformed" },
	{ __LINE__, "65", "", 0, ANVIL_ERR_TOOLARGE, 0, "max_body + 1" },
	{ __LINE__, "5", "hel", 3, ANVIL_ERR_MALFORMED, 0,
	    "short body (end of file after 3 bytes)" },
	{ __LINE__, "5", "", 0, ANVIL_ERR_MALFORMED, 0, "no body at all" },
	{ __LINE__, "5", "he\0lo", 5, ANVIL_ERR_MALFORMED, 0, "NUL inside" },
	{ __LINE__, "5", "hell\0", 5, ANVIL_ERR_MALFORMED, 0, "NUL last" },
	{ __LINE__, "1", "\0", 1, ANVIL_ERR_MALFORMED, 0, "only a NUL" },
	{ __LINE__, "2", "ab\0de", 5, ANVIL_OK, 2,
	    "NUL past CONTENT_LENGTH is never read" },
};

/* RFC 6960 A.1: a DER request body holds NULs; only that type may. */
Test(http, ocsp_request_body_may_hold_nul)
{
	static const char der[] = "\x30\x03\x0a\x01\x00";
	struct http_req req;
	int keep;

	env_clear();
	env_set("REQUEST_METHOD", "POST");
	env_set("REQUEST_URI", "/acme/ocsp");
	env_set("CONTENT_TYPE", "application/ocsp-request");
	env_set("CONTENT_LENGTH", "5");
	keep = stdin_from(der, 5);
	cr_assert_eq(http_read_request(NULL, "/acme", MAX_BODY, &req), ANVIL_OK);
	cr_assert_eq(req.body_len, 5);
	cr_assert_eq(memcmp(req.body, der, 5), 0);
	cr_assert_str_eq(req.path, "/ocsp");
	http_req_clear(&req);
	close(keep);
}

Test(http, content_length_rows)
{
	size_t i;

	for (i = 0; i < sizeof(cl_rows) / sizeof(cl_rows[0]); i++) {
		const struct cl_row *r = &cl_rows[i];
		struct http_req req;
		anvil_err rc;
		int keep;

		env_clear();
		env_set("REQUEST_METHOD", "POST");
		env_set("REQUEST_URI", "/acme/new-order");
		env_set("CONTENT_TYPE", "application/jose+json");
		env_set("CONTENT_LENGTH", r->cl);
		keep = stdin_from(r->body, r->body_len);
		rc = http_read_request(NULL, "/acme", MAX_BODY, &req);
		cr_expect_eq(rc, r->want, "line %d (%s): got %d, want %d",
		    r->line, r->desc, rc, r->want);
		/* Filled as far as it could be, for the error response. */
		cr_expect_str_eq(req.method, "POST", "line %d", r->line);
		cr_expect_str_eq(req.path, "/new-order", "line %d", r->line);
		if (rc == ANVIL_OK && r->want == ANVIL_OK) {
			cr_expect_eq(req.body_len, r->want_len,
			    "line %d (%s): body_len %zu", r->line, r->desc,
			    req.body_len);
			cr_expect_eq(memcmp(req.body, r->body, r->want_len), 0,
			    "line %d (%s)", r->line, r->desc);
			cr_expect_eq(req.body[req.body_len], '\0',
			    "line %d: NUL-terminated", r->line);
		}
		http_req_clear(&req);
		close(keep);
	}
}

/* A body over max_body is refused before a byte of it is read: a client
 * cannot make the process buffer what it will not accept. */
Test(http, too_large_is_not_read)
{
	char big[200], left[256];
	struct http_req req;
	int keep;
	ssize_t n;

	memset(big, 'x', sizeof(big));
	env_clear();
	env_set("REQUEST_METHOD", "POST");
	env_set("REQUEST_URI", "/acme/new-account");
	env_set("CONTENT_LENGTH", "200");
	keep = stdin_from(big, sizeof(big));
	cr_assert_eq(http_read_request(NULL, "/acme", MAX_BODY, &req),
	    ANVIL_ERR_TOOLARGE);
	cr_expect_null(req.body);
	n = read(keep, left, sizeof(left));
	cr_expect_eq(n, (ssize_t)sizeof(big), "read %zd of the body", n);
	http_req_clear(&req);
	close(keep);
}

/* ------------------------------------------------------ method and path */

struct path_row {
	int line;
	const char *base;
	const char *method;	/* NULL: unset */
	const char *uri;	/* REQUEST_URI; NULL: unset */
	const char *script;	/* SCRIPT_NAME */
	const char *info;	/* PATH_INFO */
	const char *want_method;
	const char *want_path;	/* NULL: outside the base, or refused */
	const char *want_query;
	const char *desc;
};

static const struct path_row path_rows[] = {
	{ __LINE__, "/acme", "GET", "/acme/directory", NULL, NULL, "GET",
	    "/directory", "", "plain" },
	{ __LINE__, "/acme", "HEAD", "/acme/new-nonce?x=1&y", NULL, NULL,
	    "HEAD", "/new-nonce", "x=1&y", "query split off" },
	{ __LINE__, "/acme", "GET", "/acme/a?b?c", NULL, NULL, "GET", "/a",
	    "b?c", "only the first ? splits" },
	{ __LINE__, "/acme", "GET", "/acme?", NULL, NULL, "GET", "", "",
	    "empty query on the base" },
	{ __LINE__, "/acme", "GET", "/acme", NULL, NULL, "GET", "", "",
	    "the base itself" },
	{ __LINE__, "/acme", "GET", "/acme/", NULL, NULL, "GET", "/", "",
	    "the base with a slash" },
	{ __LINE__, "/acme", "POST", "/acme/acct/AbC_-9/orders", NULL, NULL,
	    "POST", "/acct/AbC_-9/orders", "", "id characters" },
	{ __LINE__, "/acme", "GET", "/acme//directory", NULL, NULL, "GET",
	    "//directory", "", "double slash kept (router sees an empty "
	    "segment)" },
	{ __LINE__, "", "GET", "/directory", NULL, NULL, "GET", "/directory",
	    "", "base URL at the root" },
	{ __LINE__, "/acme", "GET", "/acmex/directory", NULL, NULL, "GET",
	    NULL, "", "base is a prefix of the first segment only" },
	{ __LINE__, "/acme", "GET", "/other/directory", NULL, NULL, "GET",
	    NULL, "", "outside the base" },
	{ __LINE__, "/acme", "GET", "/ACME/directory", NULL, NULL, "GET",
	    NULL, "", "base is case sensitive" },
	{ __LINE__, "/acme", "GET", "https://acme.test/acme/directory", NULL,
	    NULL, "GET", NULL, "", "absolute form is not a path" },
	{ __LINE__, "/acme", "GET", "/acme/../etc/passwd", NULL, NULL, "GET",
	    NULL, "", "dot-dot segment" },
	{ __LINE__, "/acme", "GET", "/acme/.hidden", NULL, NULL, "GET", NULL,
	    "", "segment starting with a dot" },
	{ __LINE__, "/acme", "GET", "/acme/a/./b", NULL, NULL, "GET", NULL,
	    "", "dot segment" },
	{ __LINE__, "/acme", "GET", "/acme/%2e%2e/x", NULL, NULL, "GET", NULL,
	    "", "percent-encoded dots" },
	{ __LINE__, "/acme", "GET", "/acme/ocsp/MEMw+QTA/MD0w=", NULL, NULL,
	    "GET", "/ocsp/MEMw+QTA/MD0w=", "", "OCSP GET: base64 with + / =" },
	{ __LINE__, "/acme", "GET", "/acme/ocsp/MEMw%2BQTA%2FMD0w%3D", NULL,
	    NULL, "GET", "/ocsp/MEMw%2BQTA%2FMD0w%3D", "", "OCSP GET: "
	    "percent-encoded base64, decoded by src/acme/ocsp.c" },
	{ __LINE__, "/acme", "GET", "/acme/ocsp/../x", NULL, NULL, "GET", NULL,
	    "", "OCSP GET: dot-dot" },
	{ __LINE__, "/acme", "GET", "/acme/ocsp/a.b", NULL, NULL, "GET", NULL,
	    "", "OCSP GET: a dot is not base64" },
	{ __LINE__, "/acme", "GET", "/acme/x/+", NULL, NULL, "GET", NULL,
	    "", "'+' outside /ocsp/" },
	{ __LINE__, "/acme", "GET", "/acme/dir%00ectory", NULL, NULL, "GET",
	    NULL, "", "percent-encoded NUL" },
	{ __LINE__, "/acme", "GET", "/acme/dir ectory", NULL, NULL, "GET",
	    NULL, "", "space" },
	{ __LINE__, "/acme", "GET", "/acme/dir\r\nX: y", NULL, NULL, "GET",
	    NULL, "", "CR LF" },
	{ __LINE__, "/acme", "GET", "/acme/directory#frag", NULL, NULL, "GET",
	    NULL, "", "fragment" },
	{ __LINE__, "/acme", "GET", "/acme/caf\xc3\xa9", NULL, NULL, "GET",
	    NULL, "", "UTF-8" },
	{ __LINE__, "/acme", "GET", "/acme/a\\b", NULL, NULL, "GET", NULL, "",
	    "backslash" },
	{ __LINE__, "/acme", "GET", "", "/acme", "/new-nonce", "GET",
	    "/new-nonce", "", "empty REQUEST_URI: SCRIPT_NAME + PATH_INFO" },
	{ __LINE__, "/acme", "GET", NULL, "/acme", "/directory", "GET",
	    "/directory", "", "no REQUEST_URI: SCRIPT_NAME + PATH_INFO" },
	{ __LINE__, "/acme", "GET", NULL, "/cgi-bin/anvil", "/directory",
	    "GET", NULL, "", "script outside the base" },
	{ __LINE__, "/acme", "GET", NULL, "/acme", NULL, "GET", "", "",
	    "SCRIPT_NAME alone" },
	{ __LINE__, "/acme", "GET", NULL, NULL, "/acme/directory", "GET",
	    "/directory", "", "PATH_INFO alone" },
	{ __LINE__, "/acme", "GET", NULL, NULL, NULL, "GET", NULL, "",
	    "no path at all" },
	{ __LINE__, "/acme", "GET", NULL, "/acme", "/../x", "GET", NULL, "",
	    "dot-dot in PATH_INFO" },
	{ __LINE__, "/acme", NULL, "/acme/directory", NULL, NULL, "",
	    "/directory", "", "no REQUEST_METHOD: empty, the router's 405" },
	{ __LINE__, "/acme", "", "/acme/directory", NULL, NULL, "",
	    "/directory", "", "empty REQUEST_METHOD" },
	{ __LINE__, "/acme", "get", "/acme/directory", NULL, NULL, "get",
	    "/directory", "", "lower case kept: methods are case sensitive" },
	{ __LINE__, "/acme", "OPTIONS", "/acme/directory", NULL, NULL,
	    "OPTIONS", "/directory", "", "seven characters fit" },
	{ __LINE__, "/acme", "PROPFIND", "/acme/directory", NULL, NULL,
	    "PROPFIN", "/directory", "", "eight are cut to seven" },
	{ __LINE__, "/acme", "GETGETGETGET", "/acme/directory", NULL, NULL,
	    "GETGETG", "/directory", "", "a long method never cuts down to "
	    "GET, HEAD or POST" },
};

Test(http, method_and_path_rows)
{
	size_t i;

	for (i = 0; i < sizeof(path_rows) / sizeof(path_rows[0]); i++) {
		const struct path_row *r = &path_rows[i];
		struct http_req req;
		anvil_err rc;
		int keep;

		env_clear();
		env_set("REQUEST_METHOD", r->method);
		env_set("REQUEST_URI", r->uri);
		env_set("SCRIPT_NAME", r->script);
		env_set("PATH_INFO", r->info);
		keep = stdin_from("", 0);
		rc = http_read_request(NULL, r->base, MAX_BODY, &req);
		cr_expect_eq(rc, ANVIL_OK, "line %d (%s): %d", r->line,
		    r->desc, rc);
		cr_expect_str_eq(req.method, r->want_method, "line %d (%s): "
		    "method \"%s\"", r->line, r->desc, req.method);
		if (r->want_path == NULL)
			cr_expect_null(req.path, "line %d (%s): path \"%s\"",
			    r->line, r->desc, req.path);
		else {
			cr_expect_not_null(req.path, "line %d (%s)", r->line,
			    r->desc);
			if (req.path != NULL)
				cr_expect_str_eq(req.path, r->want_path,
				    "line %d (%s): path \"%s\"", r->line,
				    r->desc, req.path);
		}
		cr_expect_str_eq(req.query, r->want_query, "line %d (%s)",
		    r->line, r->desc);
		cr_expect_str_eq(req.content_type, "", "line %d", r->line);
		cr_expect_eq(strlen(req.id), 16, "line %d: request id",
		    r->line);
		http_req_clear(&req);
		close(keep);
	}
}

Test(http, content_type_copied)
{
	struct http_req req;
	int keep;

	env_clear();
	env_set("REQUEST_METHOD", "POST");
	env_set("REQUEST_URI", "/acme/new-nonce");
	env_set("CONTENT_TYPE", "application/jose+json; charset=utf-8");
	keep = stdin_from("", 0);
	cr_assert_eq(http_read_request(NULL, "/acme", MAX_BODY, &req),
	    ANVIL_OK);
	cr_expect_str_eq(req.content_type,
	    "application/jose+json; charset=utf-8");
	http_req_clear(&req);
	cr_expect_null(req.path);
	cr_expect_null(req.body);
	close(keep);
}

/* ------------------------------------------------------------ headers */

struct hdr_row {
	int line;
	const char *name;
	const char *value;
	anvil_err want;
	const char *desc;
};

static const struct hdr_row hdr_rows[] = {
	{ __LINE__, "Location", "https://acme.test/acme/order/x", ANVIL_OK,
	    "plain" },
	{ __LINE__, "Link", "<https://acme.test/acme/directory>;rel=\"index\"",
	    ANVIL_OK, "quotes and angle brackets in a value" },
	{ __LINE__, "Retry-After", "", ANVIL_OK, "empty value" },
	{ __LINE__, "X-Utf8", "caf\xc3\xa9", ANVIL_OK,
	    "bytes above 0x7f (obs-text, RFC 9110 section 5.5)" },
	{ __LINE__, "Location", "https://x/\r\nSet-Cookie: a=b",
	    ANVIL_ERR_INVALID, "CR LF in the value" },
	{ __LINE__, "Location", "https://x/\nSet-Cookie: a=b",
	    ANVIL_ERR_INVALID, "LF alone in the value" },
	{ __LINE__, "Location", "https://x/\rSet-Cookie: a=b",
	    ANVIL_ERR_INVALID, "CR alone in the value" },
	{ __LINE__, "Location", "a\tb", ANVIL_ERR_INVALID,
	    "tab in the value (refused with every control)" },
	{ __LINE__, "Location", "a\x7f", ANVIL_ERR_INVALID, "DEL" },
	{ __LINE__, "Location", "a\x01", ANVIL_ERR_INVALID, "SOH" },
	{ __LINE__, "Location", "a\x1b[0m", ANVIL_ERR_INVALID, "ESC" },
	{ __LINE__, "X-A\r\nX-B", "v", ANVIL_ERR_INVALID, "CR LF in the name" },
	{ __LINE__, "X-A\n", "v", ANVIL_ERR_INVALID, "LF in the name" },
	{ __LINE__, "X-A:", "v", ANVIL_ERR_INVALID, "colon in the name" },
	{ __LINE__, "", "v", ANVIL_ERR_INVALID,
	    "empty name (would write \": v\")" },
	{ __LINE__, "X A", "v", ANVIL_ERR_INVALID, "space in the name" },
	{ __LINE__, "X-A ", "v", ANVIL_ERR_INVALID,
	    "space before the colon (RFC 9112 section 5.1)" },
	{ __LINE__, "X\"A", "v", ANVIL_ERR_INVALID, "quote in the name" },
	{ __LINE__, "X(A)", "v", ANVIL_ERR_INVALID, "parentheses in the name" },
	{ __LINE__, "X\xc3\xa9", "v", ANVIL_ERR_INVALID,
	    "non-ASCII in the name" },
	{ __LINE__, "X-Ok_!#$%&'*+.^`|~9", "v", ANVIL_OK,
	    "every tchar of RFC 9110 section 5.6.2" },
};

Test(http, header_rows)
{
	size_t i;

	for (i = 0; i < sizeof(hdr_rows) / sizeof(hdr_rows[0]); i++) {
		const struct hdr_row *r = &hdr_rows[i];
		struct http_resp resp;
		anvil_err rc;

		memset(&resp, 0, sizeof(resp));
		rc = http_resp_header(&resp, r->name, r->value);
		cr_expect_eq(rc, r->want, "line %d (%s): got %d", r->line,
		    r->desc, rc);
		cr_expect_eq(resp.nheaders, r->want == ANVIL_OK ? 1u : 0u,
		    "line %d (%s): nothing added on error", r->line, r->desc);
		if (rc == ANVIL_OK) {
			cr_expect_str_eq(resp.headers[0].name, r->name);
			cr_expect_str_eq(resp.headers[0].value, r->value);
			cr_expect_neq((const char *)resp.headers[0].value,
			    r->value, "line %d: copied", r->line);
		}
		http_resp_clear(&resp);
	}
}

Test(http, header_limit)
{
	struct http_resp resp;
	char name[16];
	size_t i;

	memset(&resp, 0, sizeof(resp));
	for (i = 0; i < HTTP_MAX_HEADERS; i++) {
		snprintf(name, sizeof(name), "X-%zu", i);
		cr_assert_eq(http_resp_header(&resp, name, "v"), ANVIL_OK);
	}
	cr_expect_eq(http_resp_header(&resp, "X-Over", "v"),
	    ANVIL_ERR_INVALID);
	cr_expect_eq(resp.nheaders, HTTP_MAX_HEADERS);
	http_resp_clear(&resp);
	cr_expect_eq(resp.nheaders, 0u);
}

/* ------------------------------------------------------------ responses */

/* Runs http_write_response with descriptor 1 on a file; returns what was
 * written (caller frees) and its length. */
static char *
written(const struct http_resp *resp, anvil_err *rc, size_t *len)
{
	char tmpl[] = "/tmp/anvil-http-XXXXXX";
	int fd, saved;
	char *buf;
	off_t end;

	cr_assert_neq(fd = mkstemp(tmpl), -1);
	unlink(tmpl);
	fflush(stdout);
	cr_assert_neq(saved = dup(1), -1);
	cr_assert_neq(dup2(fd, 1), -1);
	*rc = http_write_response(NULL, resp);
	cr_assert_neq(dup2(saved, 1), -1);
	close(saved);
	end = lseek(fd, 0, SEEK_END);
	cr_assert(end >= 0);
	buf = calloc(1, (size_t)end + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(pread(fd, buf, (size_t)end, 0), (ssize_t)end);
	close(fd);
	*len = (size_t)end;
	return buf;
}

struct resp_row {
	int line;
	int status;
	int nph;
	const char *content_type;
	const char *body;
	const char *hname, *hvalue;	/* one header, or NULL */
	const char *want;
	const char *desc;
};

static const struct resp_row resp_rows[] = {
	{ __LINE__, 200, 0, "application/json", "{}", NULL, NULL,
	    "Status: 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 2\r\n\r\n{}", "CGI: Status line" },
	{ __LINE__, 201, 0, "application/json", "{}", "Location",
	    "https://acme.test/acme/acct/1",
	    "Status: 201 Created\r\nContent-Type: application/json\r\n"
	    "Content-Length: 2\r\nLocation: https://acme.test/acme/acct/1\r\n"
	    "\r\n{}", "Location with a Status line (not a CGI redirect)" },
	{ __LINE__, 204, 0, NULL, NULL, "Replay-Nonce", "abc",
	    "Status: 204 No Content\r\nContent-Length: 0\r\n"
	    "Replay-Nonce: abc\r\n\r\n", "no body, no Content-Type" },
	{ __LINE__, 200, 1, "text/plain", "x", NULL, NULL,
	    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 1\r\nConnection: close\r\n\r\nx",
	    "nph: HTTP status line and Connection: close" },
	{ __LINE__, 404, 1, "application/problem+json", "{}", "Link",
	    "<https://acme.test/acme/directory>;rel=\"index\"",
	    "HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json"
	    "\r\nContent-Length: 2\r\nLink: <https://acme.test/acme/directory>"
	    ";rel=\"index\"\r\nConnection: close\r\n\r\n{}",
	    "nph error with a header" },
	{ __LINE__, 418, 0, NULL, NULL, NULL, NULL,
	    "Status: 418 Unknown\r\nContent-Length: 0\r\n\r\n",
	    "status without a reason phrase in the table" },
	{ __LINE__, 0, 0, NULL, NULL, NULL, NULL,
	    "Status: 0 Unknown\r\nContent-Length: 0\r\n\r\n",
	    "zero status is written as it is (acme_handle sets 500 first)" },
};

Test(http, response_rows)
{
	size_t i;

	for (i = 0; i < sizeof(resp_rows) / sizeof(resp_rows[0]); i++) {
		const struct resp_row *r = &resp_rows[i];
		struct http_resp resp;
		anvil_err rc;
		size_t len;
		char *out;

		memset(&resp, 0, sizeof(resp));
		resp.status = r->status;
		resp.nph = r->nph;
		if (r->body != NULL)
			http_resp_body(&resp, strdup(r->body),
			    strlen(r->body), r->content_type);
		else
			resp.content_type = r->content_type;
		if (r->hname != NULL)
			cr_assert_eq(http_resp_header(&resp, r->hname,
			    r->hvalue), ANVIL_OK, "line %d", r->line);
		out = written(&resp, &rc, &len);
		cr_expect_eq(rc, ANVIL_OK, "line %d (%s)", r->line, r->desc);
		cr_expect_eq(len, strlen(r->want), "line %d (%s): %zu bytes:"
		    "\n%s", r->line, r->desc, len, out);
		cr_expect_str_eq(out, r->want, "line %d (%s)", r->line,
		    r->desc);
		free(out);
		http_resp_clear(&resp);
	}
}

/* A refused header leaves the response as it was: nothing from the value
 * reaches the output. */
Test(http, refused_header_not_written)
{
	struct http_resp resp;
	anvil_err rc;
	size_t len;
	char *out;

	memset(&resp, 0, sizeof(resp));
	resp.status = 302;
	cr_expect_eq(http_resp_header(&resp, "Location",
	    "https://x/\r\nSet-Cookie: owned=1"), ANVIL_ERR_INVALID);
	cr_expect_eq(http_resp_header(&resp, "Set-Cookie\r\nX", "owned=1"),
	    ANVIL_ERR_INVALID);
	out = written(&resp, &rc, &len);
	cr_expect_eq(rc, ANVIL_OK);
	cr_expect_str_eq(out, "Status: 302 Unknown\r\nContent-Length: 0\r\n"
	    "\r\n");
	cr_expect_null(strstr(out, "owned"));
	free(out);
	http_resp_clear(&resp);
}

/* A binary body is written whole, NULs included: Content-Length counts. */
Test(http, binary_body)
{
	static const char der[] = { 0x30, 0x00, 0x02, 0x01, 0x00 };
	struct http_resp resp;
	const char *head = "Status: 200 OK\r\nContent-Type: "
	    "application/pkix-cert\r\nContent-Length: 5\r\n\r\n";
	char *body = malloc(sizeof(der)), *out;
	anvil_err rc;
	size_t len;

	cr_assert_not_null(body);
	memcpy(body, der, sizeof(der));
	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	http_resp_body(&resp, body, sizeof(der), "application/pkix-cert");
	out = written(&resp, &rc, &len);
	cr_expect_eq(rc, ANVIL_OK);
	cr_assert_eq(len, strlen(head) + sizeof(der));
	cr_expect_eq(memcmp(out, head, strlen(head)), 0);
	cr_expect_eq(memcmp(out + strlen(head), der, sizeof(der)), 0);
	free(out);
	http_resp_clear(&resp);
}

/* A closed stdout is an error, not a crash or a silent success. */
Test(http, write_to_closed_stdout)
{
	struct http_resp resp;
	int p[2], saved;

	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(pipe(p), 0);
	close(p[0]);
	fflush(stdout);
	saved = dup(1);
	cr_assert_neq(dup2(p[1], 1), -1);
	cr_expect_eq(http_write_response(NULL, &resp), ANVIL_ERR_IO);
	dup2(saved, 1);
	close(saved);
	close(p[1]);
}

Test(http, reason_phrases)
{
	static const struct { int status; const char *want; } rows[] = {
		{ 200, "OK" }, { 201, "Created" }, { 204, "No Content" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 409, "Conflict" },
		{ 413, "Payload Too Large" },
		{ 415, "Unsupported Media Type" },
		{ 429, "Too Many Requests" },
		{ 500, "Internal Server Error" },
		{ 503, "Service Unavailable" },
		{ -1, "Unknown" }, { 999, "Unknown" }, { 302, "Unknown" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_expect_str_eq(http_reason(rows[i].status), rows[i].want,
		    "status %d", rows[i].status);
}

/* ------------------------------------------------------------ FastCGI */

/* One FastCGI record (8-byte header, then the content) onto b at *n. */
static void
fcgi_record(unsigned char *b, size_t *n, int type, const void *data,
    size_t len)
{
	unsigned char h[8] = { 1, (unsigned char)type, 0, 1,
		(unsigned char)(len >> 8), (unsigned char)len, 0, 0 };

	cr_assert(*n + 8 + len < 8192);
	memcpy(b + *n, h, 8);
	memcpy(b + *n + 8, data, len);
	*n += 8 + len;
}

/* A name-value pair, both lengths under 128 (one byte each). */
static size_t
fcgi_pair(unsigned char *p, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	cr_assert(nl < 128 && vl < 128);
	p[0] = (unsigned char)nl;
	p[1] = (unsigned char)vl;
	memcpy(p + 2, name, nl);
	memcpy(p + 2 + nl, value, vl);
	return 2 + nl + vl;
}

struct fcgi_conn {
	FCGX_Request req;
	int lsock, client;
	char path[108];
};

/*
 * Listens on a new Unix socket, connects to it, writes one responder
 * request with params (pairs of name and value, NULL-terminated; a NULL
 * value leaves the name out) and body, and has libfcgi accept it.
 */
static void
fcgi_start(struct fcgi_conn *c, const char *const *params,
    const char *body, size_t body_len)
{
	static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 };
	unsigned char buf[8192], pairs[2048];
	struct sockaddr_un sa;
	size_t n = 0, pl = 0;

	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "/tmp/anvil-fcgi-%ld",
	    (long)getpid());
	unlink(c->path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->path);
	cr_assert_neq(c->lsock = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	cr_assert_eq(bind(c->lsock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(c->lsock, 1), 0);
	cr_assert_neq(c->client = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	cr_assert_eq(connect(c->client, (struct sockaddr *)&sa, sizeof(sa)),
	    0);

	fcgi_record(buf, &n, 1, begin, sizeof(begin));	/* BEGIN_REQUEST */
	for (; params[0] != NULL; params += 2)
		if (params[1] != NULL)
			pl += fcgi_pair(pairs + pl, params[0], params[1]);
	fcgi_record(buf, &n, 4, pairs, pl);		/* PARAMS */
	fcgi_record(buf, &n, 4, "", 0);
	if (body_len > 0)
		fcgi_record(buf, &n, 5, body, body_len);	/* STDIN */
	fcgi_record(buf, &n, 5, "", 0);
	cr_assert_eq(write(c->client, buf, n), (ssize_t)n);

	cr_assert_eq(FCGX_Init(), 0);
	cr_assert_eq(FCGX_InitRequest(&c->req, c->lsock, 0), 0);
	cr_assert_eq(FCGX_Accept_r(&c->req), 0);
}

/* Finishes the request and returns its FCGI_STDOUT stream (caller
 * frees), NUL-terminated. */
static char *
fcgi_finish(struct fcgi_conn *c)
{
	unsigned char h[8];
	char *out = calloc(1, 65536);
	size_t n = 0, len, pad;
	int type = 0;

	cr_assert_not_null(out);
	FCGX_Finish_r(&c->req);
	while (type != 3) {			/* END_REQUEST */
		cr_assert_eq(read(c->client, h, 8), 8);
		type = h[1];
		len = ((size_t)h[4] << 8) | h[5];
		pad = h[6];
		cr_assert(n + len + pad < 65536);
		cr_assert_eq(recv(c->client, out + n, len + pad, MSG_WAITALL),
		    (ssize_t)(len + pad));
		if (type == 6)			/* STDOUT */
			n += len;
	}
	out[n] = '\0';
	FCGX_Free(&c->req, 1);
	close(c->client);
	close(c->lsock);
	unlink(c->path);
	return out;
}

struct fcgi_row {
	int line;
	const char *cl;		/* CONTENT_LENGTH param; NULL: none */
	const char *uri;	/* REQUEST_URI param */
	const char *body;	/* FCGI_STDIN */
	size_t body_len;
	anvil_err want;
	const char *want_path;
	const char *desc;
};

static const struct fcgi_row fcgi_rows[] = {
	{ __LINE__, "5", "/acme/new-order", "hello", 5, ANVIL_OK,
	    "/new-order", "exact" },
	{ __LINE__, NULL, "/acme/new-nonce", "", 0, ANVIL_OK, "/new-nonce",
	    "no CONTENT_LENGTH" },
	{ __LINE__, "3", "/acme/x?q=1", "hello", 5, ANVIL_OK, "/x",
	    "longer stdin: CONTENT_LENGTH bytes; query cut" },
	{ __LINE__, "5", "/acme/new-order", "hel", 3, ANVIL_ERR_MALFORMED,
	    "/new-order", "short: stdin ends after 3 bytes" },
	{ __LINE__, "5", "/acme/new-order", "", 0, ANVIL_ERR_MALFORMED,
	    "/new-order", "empty stdin" },
	{ __LINE__, "5", "/acme/new-order", "he\0lo", 5, ANVIL_ERR_MALFORMED,
	    "/new-order", "NUL in the body" },
	{ __LINE__, "65", "/acme/new-order", "", 0, ANVIL_ERR_TOOLARGE,
	    "/new-order", "max_body + 1" },
	{ __LINE__, " 5", "/acme/new-order", "hello", 5, ANVIL_ERR_MALFORMED,
	    "/new-order", "leading space" },
	{ __LINE__, "-1", "/acme/new-order", "hello", 5, ANVIL_ERR_MALFORMED,
	    "/new-order", "negative" },
	{ __LINE__, "5", "/acme/../x", "hello", 5, ANVIL_OK, NULL,
	    "dot-dot: path refused, body still read" },
};

Test(http, fastcgi_request_rows)
{
	size_t i;

	for (i = 0; i < sizeof(fcgi_rows) / sizeof(fcgi_rows[0]); i++) {
		const struct fcgi_row *r = &fcgi_rows[i];
		const char *params[] = { "REQUEST_METHOD", "POST",
			"REQUEST_URI", r->uri, "CONTENT_TYPE",
			"application/jose+json", "CONTENT_LENGTH", r->cl,
			NULL, NULL };
		struct fcgi_conn c;
		struct http_req req;
		anvil_err rc;

		/* The CGI environment must not leak into a FastCGI request. */
		env_clear();
		env_set("REQUEST_URI", "/acme/from-the-environment");
		env_set("CONTENT_LENGTH", "1");
		fcgi_start(&c, params, r->body, r->body_len);
		rc = http_read_request(&c.req, "/acme", MAX_BODY, &req);
		cr_expect_eq(rc, r->want, "line %d (%s): got %d", r->line,
		    r->desc, rc);
		cr_expect_str_eq(req.method, "POST", "line %d", r->line);
		if (r->want_path == NULL)
			cr_expect_null(req.path, "line %d (%s)", r->line,
			    r->desc);
		else if (req.path == NULL)
			cr_expect_fail("line %d (%s): no path", r->line,
			    r->desc);
		else
			cr_expect_str_eq(req.path, r->want_path,
			    "line %d (%s)", r->line, r->desc);
		if (rc == ANVIL_OK && r->cl != NULL) {
			size_t want = (size_t)atoi(r->cl);
			cr_expect_eq(req.body_len, want, "line %d", r->line);
			cr_expect_eq(memcmp(req.body, r->body, want), 0,
			    "line %d", r->line);
		}
		http_req_clear(&req);
		free(fcgi_finish(&c));
	}
}

Test(http, fastcgi_response)
{
	const char *params[] = { "REQUEST_METHOD", "HEAD", "REQUEST_URI",
		"/acme/new-nonce", NULL, NULL };
	struct fcgi_conn c;
	struct http_req req;
	struct http_resp resp;
	char *out;

	fcgi_start(&c, params, "", 0);
	cr_assert_eq(http_read_request(&c.req, "/acme", MAX_BODY, &req),
	    ANVIL_OK);
	cr_expect_str_eq(req.method, "HEAD");
	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	cr_assert_eq(http_resp_header(&resp, "Replay-Nonce", "n0nce"),
	    ANVIL_OK);
	cr_assert_eq(http_resp_header(&resp, "Cache-Control", "no-store"),
	    ANVIL_OK);
	cr_expect_eq(http_resp_header(&resp, "Location", "x\r\nX-Evil: 1"),
	    ANVIL_ERR_INVALID);
	cr_expect_eq(http_write_response(&c.req, &resp), ANVIL_OK);
	out = fcgi_finish(&c);
	cr_expect_str_eq(out, "Status: 200 OK\r\nContent-Length: 0\r\n"
	    "Replay-Nonce: n0nce\r\nCache-Control: no-store\r\n\r\n");
	free(out);
	http_resp_clear(&resp);
	http_req_clear(&req);
}
