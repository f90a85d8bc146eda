/*
 * http.h - one HTTP request in, one response out, over FastCGI (libfcgi's
 * fcgiapp) or plain CGI (environment, stdin, stdout), with the same code.
 *
 * The request body is bounded before it is read; header values written
 * into a response are checked for CR, LF and NUL, so nothing from a request
 * can split a header.
 */
#ifndef ANVIL_HTTP_HTTP_H
#define ANVIL_HTTP_HTTP_H

#include <stddef.h>

#include "core/error.h"

struct FCGX_Request;

struct http_req {
	char method[8];		/* "GET", "HEAD", "POST", ... */
	char *path;		/* path below the base URL's path, e.g.
				 * "/directory"; no query */
	char *refused;		/* below the base URL's path, when path is
				 * NULL for a character ACME paths never
				 * hold; only compared, never echoed */
	char *query;		/* after '?', "" when none */
	char *content_type;	/* "" when none */
	unsigned char *body;	/* NUL-terminated; body_len excludes it */
	size_t body_len;
	char id[17];		/* request id for the log */
};

#define HTTP_MAX_HEADERS 12

struct http_resp {
	int status;
	const char *content_type;	/* static string or NULL */
	struct {
		char *name;
		char *value;
	} headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	char *body;			/* owned */
	size_t body_len;
	int nph;			/* write an HTTP status line (nph- CGI) */
};

/*
 * Reads the request from fcgi (NULL: CGI, from the environment and
 * stdin). base_path is the path of the configured base URL (e.g. "/acme",
 * "" for the root); a request outside it gets path NULL. A body longer than
 * max_body is ANVIL_ERR_TOOLARGE without reading it; a body shorter than
 * CONTENT_LENGTH, a malformed CONTENT_LENGTH, or a NUL in the body of a
 * JSON request is ANVIL_ERR_MALFORMED. req is filled even on error as far
 * as it could be (method, path) so that an error response can be built.
 */
anvil_err http_read_request(struct FCGX_Request *fcgi, const char *base_path,
    size_t max_body, struct http_req *req);

/* Frees what a request holds (not req itself) and zeroes it. */
void http_req_clear(struct http_req *req);

/*
 * Adds a header (both strings copied). A name that is not a token (RFC
 * 9110 section 5.6.2: empty, spaces, separators, controls), a value
 * holding CR, LF or other control characters, or too many headers, is
 * ANVIL_ERR_INVALID and nothing is added.
 */
anvil_err http_resp_header(struct http_resp *resp, const char *name,
    const char *value);

/* Sets the body (taken over: resp frees it) and its content type. */
void http_resp_body(struct http_resp *resp, char *body, size_t len,
    const char *content_type);

/* Writes the response to fcgi (NULL: stdout). */
anvil_err http_write_response(struct FCGX_Request *fcgi,
    const struct http_resp *resp);

/* Frees what a response holds and zeroes it. */
void http_resp_clear(struct http_resp *resp);

/* The reason phrase of an HTTP status ("OK", "Not Found", ...). */
const char *http_reason(int status);

#endif
