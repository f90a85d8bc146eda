/*
 * test_router.c - the router's table (src/acme/acme.c): every resource
 * reached with its methods, every other method a 405 with the Allow the
 * client needs, and every path the router must not know a 404. Requests
 * come in as a CGI request would (REQUEST_METHOD, REQUEST_URI), through
 * http_read_request, so the rows see the path exactly as the router does;
 * no row reaches a handler, so no store is needed.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_int.h"
#include "core/error.h"
#include "http/http.h"

#define BASE "/acme"
#define NOTFOUND ANVIL_ERR_HTTPNOTFOUND
#define METHOD ANVIL_ERR_METHOD
#define GET_ONLY "GET, HEAD"
#define USE_POST "use POST (POST-as-GET to fetch)"

struct row {
	int line;
	const char *method;
	const char *uri;	/* REQUEST_URI; NULL: unset */
	anvil_err want;		/* from acme_route_match */
	const char *route;	/* route name when want is ANVIL_OK */
	const char *cap0, *cap1;	/* captured segments, or NULL */
	const char *allow;	/* Allow of the 405, else NULL */
	const char *detail;	/* piece of the problem detail */
	const char *desc;
};

static const struct row rows[] = {
	/* Each resource with the methods it answers. */
	{ __LINE__, "GET", BASE "/directory", ANVIL_OK, "directory", NULL,
	  NULL, NULL, NULL, "directory by GET" },
	{ __LINE__, "HEAD", BASE "/directory", ANVIL_OK, "directory", NULL,
	  NULL, NULL, NULL, "directory by HEAD" },
	{ __LINE__, "GET", BASE "/new-nonce", ANVIL_OK, "new-nonce", NULL,
	  NULL, NULL, NULL, "newNonce by GET" },
	{ __LINE__, "HEAD", BASE "/new-nonce", ANVIL_OK, "new-nonce", NULL,
	  NULL, NULL, NULL, "newNonce by HEAD" },
	{ __LINE__, "GET", BASE "/ca", ANVIL_OK, "ca", NULL, NULL, NULL, NULL,
	  "CA certificate by GET" },
	{ __LINE__, "HEAD", BASE "/ca", ANVIL_OK, "ca", NULL, NULL, NULL, NULL,
	  "CA certificate by HEAD" },
	{ __LINE__, "POST", BASE "/ca", ANVIL_OK, "ca", NULL, NULL, NULL, NULL,
	  "CA certificate by POST-as-GET (RFC 8555 §6.3)" },
	{ __LINE__, "POST", BASE "/new-account", ANVIL_OK, "new-account", NULL,
	  NULL, NULL, NULL, "newAccount" },
	{ __LINE__, "POST", BASE "/new-order", ANVIL_OK, "new-order", NULL,
	  NULL, NULL, NULL, "newOrder" },
	{ __LINE__, "POST", BASE "/revoke-cert", ANVIL_OK, "revoke-cert", NULL,
	  NULL, NULL, NULL, "revokeCert" },
	{ __LINE__, "POST", BASE "/key-change", ANVIL_OK, "key-change", NULL,
	  NULL, NULL, NULL, "keyChange" },
	{ __LINE__, "POST", BASE "/acct/A1b2", ANVIL_OK, "account", "A1b2",
	  NULL, NULL, NULL, "account" },
	{ __LINE__, "POST", BASE "/acct/A1b2/orders", ANVIL_OK, "orders",
	  "A1b2", NULL, NULL, NULL, "account's orders, first page" },
	{ __LINE__, "POST", BASE "/acct/A1b2/orders/O9", ANVIL_OK,
	  "orders-page", "A1b2", "O9", NULL, NULL,
	  "account's orders after O9" },
	{ __LINE__, "POST", BASE "/order/O9", ANVIL_OK, "order", "O9", NULL,
	  NULL, NULL, "order" },
	{ __LINE__, "POST", BASE "/order/O9/finalize", ANVIL_OK, "finalize",
	  "O9", NULL, NULL, NULL, "finalize" },
	{ __LINE__, "POST", BASE "/authz/Z_1-x", ANVIL_OK, "authz", "Z_1-x",
	  NULL, NULL, NULL, "authorization" },
	{ __LINE__, "POST", BASE "/chall/C3", ANVIL_OK, "challenge", "C3",
	  NULL, NULL, NULL, "challenge" },
	{ __LINE__, "POST", BASE "/cert/0A1B", ANVIL_OK, "cert", "0A1B", NULL,
	  NULL, NULL, "certificate" },
	{ __LINE__, "GET", BASE "/renewal-info/a2lk.AQI", ANVIL_OK,
	  "renewal-info", "a2lk.AQI", NULL, NULL, NULL,
	  "renewalInfo by unsigned GET (RFC 9773 §4)" },
	{ __LINE__, "HEAD", BASE "/renewal-info/a2lk.AQI", ANVIL_OK,
	  "renewal-info", "a2lk.AQI", NULL, NULL, NULL,
	  "renewalInfo by HEAD" },
	{ __LINE__, "POST", BASE "/renewal-info/a2lk.AQI", ANVIL_OK,
	  "renewal-info", "a2lk.AQI", NULL, NULL, NULL,
	  "renewalInfo by POST-as-GET" },

	/* Spellings the router folds onto a resource. */
	{ __LINE__, "GET", BASE "/directory?x=1", ANVIL_OK, "directory", NULL,
	  NULL, NULL, NULL, "query string dropped" },
	{ __LINE__, "GET", BASE "/directory/", ANVIL_OK, "directory", NULL,
	  NULL, NULL, NULL, "one trailing slash" },
	{ __LINE__, "GET", BASE "//directory", ANVIL_OK, "directory", NULL,
	  NULL, NULL, NULL, "double slash after the base" },
	{ __LINE__, "POST", BASE "/order/O9/", ANVIL_OK, "order", "O9", NULL,
	  NULL, NULL, "order with a trailing slash" },
	{ __LINE__, "POST", BASE "/acct//orders", ANVIL_OK, "orders", "", NULL,
	  NULL, NULL, "empty account id: the handler refuses it" },

	/* Known paths, other methods: 405 naming the methods that work. */
	{ __LINE__, "POST", BASE "/directory", METHOD, NULL, NULL, NULL,
	  GET_ONLY, "use GET", "directory by POST" },
	{ __LINE__, "PUT", BASE "/new-nonce", METHOD, NULL, NULL, NULL,
	  GET_ONLY, "use HEAD or GET", "newNonce by PUT" },
	{ __LINE__, "POST", BASE "/new-nonce", METHOD, NULL, NULL, NULL,
	  GET_ONLY, "use HEAD or GET", "newNonce by POST" },
	{ __LINE__, "DELETE", BASE "/ca", METHOD, NULL, NULL, NULL,
	  "GET, HEAD, POST", "use GET or POST-as-GET",
	  "CA certificate by DELETE" },
	{ __LINE__, "get", BASE "/directory", METHOD, NULL, NULL, NULL,
	  GET_ONLY, "use GET", "methods are case-sensitive" },
	{ __LINE__, "GET", BASE "/new-order", METHOD, NULL, NULL, NULL, "POST",
	  USE_POST, "newOrder by GET" },
	{ __LINE__, "HEAD", BASE "/order/O9", METHOD, NULL, NULL, NULL, "POST",
	  USE_POST, "order by HEAD" },
	{ __LINE__, "GET", BASE "/cert/0A1B", METHOD, NULL, NULL, NULL, "POST",
	  USE_POST, "certificate by plain GET" },
	{ __LINE__, "OPTIONS", BASE "/acct/A1b2/orders", METHOD, NULL, NULL,
	  NULL, "POST", USE_POST, "orders by OPTIONS" },

	/* Unknown paths: 404 to a POST, 405 to anything else. */
	{ __LINE__, "POST", BASE "/nothing", NOTFOUND, NULL, NULL, NULL, NULL,
	  "no such resource", "unknown name POSTed" },
	{ __LINE__, "GET", BASE "/nothing", METHOD, NULL, NULL, NULL, "POST",
	  USE_POST, "unknown name fetched: POST-as-GET is the cure" },
	{ __LINE__, "GET", BASE "/directory//", METHOD, NULL, NULL, NULL,
	  GET_ONLY, USE_POST, "two trailing slashes: an empty segment" },
	{ __LINE__, "POST", BASE "/order/O9/finalize/x", NOTFOUND, NULL, NULL,
	  NULL, NULL, "no such resource", "a segment past finalize" },
	{ __LINE__, "POST", BASE "/acct/A/orders/B/C", NOTFOUND, NULL, NULL,
	  NULL, NULL, "no such resource", "five segments" },
	{ __LINE__, "POST", BASE "/acct", NOTFOUND, NULL, NULL, NULL, NULL,
	  "no such resource", "collection without an id" },
	{ __LINE__, "POST", BASE "/renewal-info", NOTFOUND, NULL, NULL, NULL,
	  NULL, "no such resource", "renewalInfo without a certID" },
	{ __LINE__, "POST", BASE "/renewal-info/a.b/c", NOTFOUND, NULL, NULL,
	  NULL, NULL, "no such resource", "a segment after the certID" },
	{ __LINE__, "POST", BASE "/order/O9/orders", NOTFOUND, NULL, NULL,
	  NULL, NULL, "no such resource", "pattern of another collection" },
	{ __LINE__, "POST", BASE "/Directory", NOTFOUND, NULL, NULL, NULL,
	  NULL, "no such resource", "paths are case-sensitive" },
	{ __LINE__, "GET", BASE, NOTFOUND, NULL, NULL, NULL, NULL,
	  "no such resource", "the base itself" },
	{ __LINE__, "GET", BASE "/", NOTFOUND, NULL, NULL, NULL, NULL,
	  "no such resource", "the base with a slash" },
	{ __LINE__, "POST", BASE "///", NOTFOUND, NULL, NULL, NULL, NULL,
	  "no such resource", "only slashes" },

	/* Paths http_read_request leaves out (path NULL): always 404. */
	{ __LINE__, "GET", BASE "/../acme/directory", NOTFOUND, NULL, NULL,
	  NULL, NULL, "no such resource", "dot-dot segment" },
	{ __LINE__, "POST", BASE "/order/..", NOTFOUND, NULL, NULL, NULL, NULL,
	  "no such resource", "dot-dot as the id" },
	{ __LINE__, "GET", BASE "/.well-known/x", NOTFOUND, NULL, NULL, NULL,
	  NULL, "no such resource", "segment starting with a dot" },
	{ __LINE__, "GET", BASE "/direc%74ory", NOTFOUND, NULL, NULL, NULL,
	  NULL, "no such resource", "percent-encoded letter" },
	{ __LINE__, "GET", BASE "/directory%00", NOTFOUND, NULL, NULL, NULL,
	  NULL, "no such resource", "percent-encoded NUL" },
	{ __LINE__, "POST", BASE "/order/O%2F9", NOTFOUND, NULL, NULL, NULL,
	  NULL, "no such resource", "percent-encoded slash in an id" },
	{ __LINE__, "GET", BASE "/direc tory", NOTFOUND, NULL, NULL, NULL,
	  NULL, "no such resource", "space" },
	{ __LINE__, "GET", "/other/directory", NOTFOUND, NULL, NULL, NULL,
	  NULL, "no such resource", "outside the base" },
	{ __LINE__, "GET", BASE "directory", NOTFOUND, NULL, NULL, NULL, NULL,
	  "no such resource", "base as a prefix of a segment" },
	{ __LINE__, "GET", "", NOTFOUND, NULL, NULL, NULL, NULL,
	  "no such resource", "empty REQUEST_URI, no SCRIPT_NAME" },
	{ __LINE__, "GET", NULL, NOTFOUND, NULL, NULL, NULL, NULL,
	  "no such resource", "no REQUEST_URI at all" },
};

/* Reads a CGI request for method and uri (NULL: unset) below BASE. */
static anvil_err
read_cgi(const char *method, const char *uri, struct http_req *req)
{
	unsetenv("SCRIPT_NAME");
	unsetenv("PATH_INFO");
	unsetenv("CONTENT_LENGTH");
	unsetenv("CONTENT_TYPE");
	setenv("REQUEST_METHOD", method, 1);
	if (uri != NULL)
		setenv("REQUEST_URI", uri, 1);
	else
		unsetenv("REQUEST_URI");
	return http_read_request(NULL, BASE, 65536, req);
}

static const char *
header(const struct http_resp *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++)
		if (strcmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

static void
check_match(const struct row *w, const struct http_req *req)
{
	struct acme_route_match m;
	anvil_err rc;

	rc = acme_route_match(req->method, req->path, &m);
	cr_expect_eq(rc, w->want, "line %d [%s]: %s, want %s", w->line,
	    w->desc, anvil_strerror(rc), anvil_strerror(w->want));
	if (w->want == ANVIL_OK && rc == ANVIL_OK) {
		cr_expect_str_eq(m.route->name, w->route, "line %d [%s]",
		    w->line, w->desc);
		if (w->cap0 == NULL)
			cr_expect_null(m.cap[0], "line %d [%s]", w->line,
			    w->desc);
		else
			cr_expect(m.cap[0] != NULL &&
			    strcmp(m.cap[0], w->cap0) == 0,
			    "line %d [%s]: id \"%s\"", w->line, w->desc,
			    m.cap[0] ? m.cap[0] : "(null)");
		if (w->cap1 == NULL)
			cr_expect_null(m.cap[1], "line %d [%s]", w->line,
			    w->desc);
		else
			cr_expect(m.cap[1] != NULL &&
			    strcmp(m.cap[1], w->cap1) == 0,
			    "line %d [%s]: second \"%s\"", w->line, w->desc,
			    m.cap[1] ? m.cap[1] : "(null)");
	}
	acme_route_match_clear(&m);
}

/* The reply acme_route makes for a row that reaches no handler. */
static void
check_reply(const struct row *w, const struct http_req *req)
{
	struct http_resp resp;
	struct acme_req r;
	const char *allow;
	anvil_err rc;

	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.http = req;
	r.resp = &resp;
	rc = acme_route(&r);
	cr_expect_eq(rc, w->want, "line %d [%s]: %s", w->line, w->desc,
	    anvil_strerror(rc));
	cr_expect_eq(resp.status, w->want == METHOD ? 405 : 404,
	    "line %d [%s]: status %d", w->line, w->desc, resp.status);
	allow = header(&resp, "Allow");
	if (w->allow == NULL)
		cr_expect_null(allow, "line %d [%s]: Allow %s", w->line,
		    w->desc, allow);
	else
		cr_expect(allow != NULL && strcmp(allow, w->allow) == 0,
		    "line %d [%s]: Allow \"%s\", want \"%s\"", w->line,
		    w->desc, allow ? allow : "(none)", w->allow);
	cr_expect(resp.body != NULL && strstr(resp.body, w->detail) != NULL,
	    "line %d [%s]: body %s lacks \"%s\"", w->line, w->desc,
	    resp.body ? resp.body : "(none)", w->detail);
	cr_expect_str_eq(resp.content_type, "application/problem+json",
	    "line %d [%s]", w->line, w->desc);
	http_resp_clear(&resp);
}

Test(router, rows)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct http_req req;
		anvil_err rc;

		rc = read_cgi(w->method, w->uri, &req);
		cr_expect_eq(rc, ANVIL_OK, "line %d [%s]: read %s", w->line,
		    w->desc, anvil_strerror(rc));
		check_match(w, &req);
		if (w->want != ANVIL_OK)
			check_reply(w, &req);
		http_req_clear(&req);
	}
}

/* A path far longer than any resource: one unknown segment. */
Test(router, very_long_path)
{
	static char uri[sizeof(BASE) + 16384];
	struct http_req req;
	struct acme_route_match m;

	memcpy(uri, BASE "/", sizeof(BASE));
	memset(uri + sizeof(BASE), 'a', sizeof(uri) - sizeof(BASE) - 1);
	uri[sizeof(uri) - 1] = '\0';
	cr_assert_eq(read_cgi("POST", uri, &req), ANVIL_OK);
	cr_expect_eq(acme_route_match(req.method, req.path, &m), NOTFOUND);
	cr_expect_null(m.route);
	acme_route_match_clear(&m);
	http_req_clear(&req);

	cr_assert_eq(read_cgi("GET", uri, &req), ANVIL_OK);
	cr_expect_eq(acme_route_match(req.method, req.path, &m), METHOD);
	acme_route_match_clear(&m);
	http_req_clear(&req);
}

/* Many segments: counted, never written past the router's array. */
Test(router, many_segments)
{
	struct acme_route_match m;
	char path[4096];
	size_t i;

	path[0] = '\0';
	for (i = 0; i < 500; i++)
		strcat(path, "/order");
	cr_expect_eq(acme_route_match("POST", path, &m), NOTFOUND);
	acme_route_match_clear(&m);
}

/* A path that never reached the router (outside the base URL). */
Test(router, null_path)
{
	struct acme_route_match m;

	cr_expect_eq(acme_route_match("GET", NULL, &m), NOTFOUND);
	cr_expect_null(m.route);
	cr_expect_str_eq(m.detail, "no such resource");
	acme_route_match_clear(&m);
}

/* A malformed request is refused before routing (src/acme/acme.c). */
Test(router, bad_content_length_is_refused_before_routing)
{
	static const char *const bad[] = { "-1", "12x", "0x10", " 5",
		"1234567890123" };
	struct http_req req;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("REQUEST_METHOD", "POST", 1);
		setenv("REQUEST_URI", BASE "/new-order", 1);
		setenv("CONTENT_LENGTH", bad[i], 1);
		cr_expect_eq(http_read_request(NULL, BASE, 65536, &req),
		    ANVIL_ERR_MALFORMED, "CONTENT_LENGTH \"%s\"", bad[i]);
		cr_expect_eq(rec_problem_status(ANVIL_ERR_MALFORMED), 400);
		http_req_clear(&req);
	}
	unsetenv("CONTENT_LENGTH");
}

/* Count of "*" segments in a pattern. */
static size_t
stars(const char *p)
{
	size_t n = 0;

	for (; (p = strchr(p, '*')) != NULL; p++)
		n++;
	return n;
}

/* The table itself: one handler per row fitting its captures, names and
 * patterns unique, GET resources unsigned and the rest signed. */
Test(router, table_is_consistent)
{
	const struct acme_route *t;
	size_t i, j, n;

	t = acme_routes(&n);
	cr_assert_geq(n, 15, "every ACME resource has a row");
	for (i = 0; i < n; i++) {
		int set = (t[i].run0 != NULL) + (t[i].run1 != NULL) +
		    (t[i].run2 != NULL);
		cr_expect_eq(set, 1, "%s: %d handlers", t[i].name, set);
		if (t[i].run0 != NULL)
			cr_expect_eq(stars(t[i].pattern), 0, "%s", t[i].name);
		if (t[i].run1 != NULL)
			cr_expect_eq(stars(t[i].pattern), 1, "%s", t[i].name);
		if (t[i].run2 != NULL)
			cr_expect(stars(t[i].pattern) >= 1 &&
			    stars(t[i].pattern) <= 2, "%s", t[i].name);
		if (t[i].methods == ACME_ROUTE_GET) {
			cr_expect_eq(t[i].auth, ACME_AUTH_NONE, "%s",
			    t[i].name);
			cr_expect_eq(t[i].payload, ACME_PAYLOAD_ANY, "%s",
			    t[i].name);
		}
		else
			cr_expect_neq(t[i].auth, ACME_AUTH_NONE, "%s",
			    t[i].name);
		cr_expect_not_null(t[i].wrong_method, "%s", t[i].name);
		for (j = 0; j < i; j++) {
			cr_expect_str_neq(t[i].name, t[j].name);
			cr_expect_str_neq(t[i].pattern, t[j].pattern);
		}
	}
}

/*
 * Every signed resource is checked by acme_auth before its handler: a
 * POST without the JOSE media type is refused (415) for each of them,
 * and no handler runs (the request has no context a handler could use).
 */
Test(router, signed_routes_check_the_jws_first)
{
	const struct acme_route *t;
	size_t i, n;

	t = acme_routes(&n);
	for (i = 0; i < n; i++) {
		struct http_resp resp;
		struct http_req req;
		struct acme_req r;
		char uri[128], *p;

		if (t[i].auth == ACME_AUTH_NONE)
			continue;
		/* The pattern with each "*" spelt as an id. */
		snprintf(uri, sizeof(uri), BASE "/%s", t[i].pattern);
		while ((p = strchr(uri, '*')) != NULL)
			*p = 'X';
		cr_assert_eq(read_cgi("POST", uri, &req), ANVIL_OK);
		memset(&resp, 0, sizeof(resp));
		memset(&r, 0, sizeof(r));
		r.http = &req;
		r.resp = &resp;
		cr_expect_eq(acme_route(&r), ANVIL_ERR_MEDIATYPE, "%s (%s)",
		    t[i].name, uri);
		cr_expect_eq(resp.status, 415, "%s: status %d", t[i].name,
		    resp.status);
		http_resp_clear(&resp);
		http_req_clear(&req);
	}
}

/*
 * The resources whose only request is a fetch take no payload (RFC 8555
 * §6.3); the others read theirs. Spelt out here so that a row turning
 * ACME_PAYLOAD_ANY by mistake is caught without a server.
 */
Test(router, post_as_get_only_routes)
{
	static const struct {
		const char *name;
		enum acme_route_payload want;
	} want[] = {
		{ "ca", ACME_PAYLOAD_EMPTY },
		{ "order", ACME_PAYLOAD_EMPTY },
		{ "orders", ACME_PAYLOAD_EMPTY },
		{ "orders-page", ACME_PAYLOAD_EMPTY },
		{ "cert", ACME_PAYLOAD_EMPTY },
		{ "cert-alternate", ACME_PAYLOAD_EMPTY },
		{ "renewal-info", ACME_PAYLOAD_EMPTY },
		{ "account", ACME_PAYLOAD_ANY },	/* {} updates nothing */
		{ "authz", ACME_PAYLOAD_ANY },		/* handler decides */
		{ "challenge", ACME_PAYLOAD_ANY },	/* {} starts it */
		{ "finalize", ACME_PAYLOAD_ANY },
		{ "new-order", ACME_PAYLOAD_ANY },
	};
	const struct acme_route *t;
	size_t i, j, n;

	t = acme_routes(&n);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		for (j = 0; j < n; j++)
			if (strcmp(t[j].name, want[i].name) == 0)
				break;
		cr_assert_lt(j, n, "no route %s", want[i].name);
		cr_expect_eq(t[j].payload, want[i].want, "%s", want[i].name);
	}
}

/*
 * RFC 8555 §6.2: a badSignatureAlgorithm problem document carries
 * "algorithms", the accepted "alg" values, whichever step refused; other
 * problems do not, and r->problem_extra never replaces type or status.
 */
Test(problem, bad_signature_algorithm_lists_algorithms)
{
	struct http_resp resp;
	struct http_req req;
	struct acme_req r;
	json_t *doc, *algs;

	cr_assert_eq(read_cgi("POST", BASE "/new-account", &req), ANVIL_OK);
	memset(&resp, 0, sizeof(resp));
	memset(&r, 0, sizeof(r));
	r.http = &req;
	r.resp = &resp;
	cr_expect_eq(acme_fail(&r, ANVIL_ERR_BADSIGALG, "alg none"),
	    ANVIL_ERR_BADSIGALG);
	cr_expect_eq(resp.status, 400);
	doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	cr_assert_not_null(doc, "%s", resp.body);
	algs = json_object_get(doc, "algorithms");
	cr_assert(json_is_array(algs), "%s", resp.body);
	cr_expect_eq(json_array_size(algs), 5);
	cr_expect_str_eq(json_string_value(json_array_get(algs, 0)), "RS256");
	json_decref(doc);
	http_resp_clear(&resp);

	memset(&resp, 0, sizeof(resp));
	r.problem_extra = json_pack("{s:s, s:i, s:s}", "type", "x",
	    "status", 999, "hint", "y");
	acme_fail(&r, ANVIL_ERR_MALFORMED, "bad");
	doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	cr_assert_not_null(doc, "%s", resp.body);
	cr_expect_null(json_object_get(doc, "algorithms"));
	cr_expect_str_eq(json_string_value(json_object_get(doc, "type")),
	    "urn:ietf:params:acme:error:malformed");
	cr_expect_eq(json_integer_value(json_object_get(doc, "status")), 400);
	cr_expect_str_eq(json_string_value(json_object_get(doc, "hint")), "y");
	json_decref(doc);
	json_decref(r.problem_extra);
	http_resp_clear(&resp);
	http_req_clear(&req);
}

/*
 * A certID holding what base64url never does is malformed, 400 (RFC 9773
 * §4.1), not a missing resource; every other refused path stays 404.
 */
Test(router, refused_paths)
{
	static const struct {
		int line;
		const char *uri;
		int status;
		const char *desc;
	} rr[] = {
		{ __LINE__, BASE "/renewal-info/a2lk.AQI=", 400,
		  "padded serial" },
		{ __LINE__, BASE "/renewal-info/a2+k.AQI", 400,
		  "standard base64 '+'" },
		{ __LINE__, BASE "/renewal-info/a2lk%2EAQI", 400,
		  "percent-encoded dot" },
		{ __LINE__, BASE "/renewal-info/a2lk.AQI%00", 400,
		  "percent-encoded NUL" },
		{ __LINE__, BASE "/renewal-info/a b", 400, "space" },
		{ __LINE__, BASE "/renewal-info/=/x", 404,
		  "a second segment: no such resource" },
		{ __LINE__, BASE "/renewal-info/.hidden", 400,
		  "a certID with an empty key identifier" },
		{ __LINE__, BASE "/renewal-info%2Fa2lk.AQI", 404,
		  "the collection name itself encoded" },
		{ __LINE__, BASE "/order/O=9", 404, "'=' in an order id" },
	};
	size_t i;

	for (i = 0; i < sizeof(rr) / sizeof(rr[0]); i++) {
		struct http_req req;
		struct http_resp resp;
		struct acme_req r;

		cr_assert_eq(read_cgi("GET", rr[i].uri, &req), ANVIL_OK);
		cr_expect_null(req.path, "line %d [%s]", rr[i].line,
		    rr[i].desc);
		memset(&resp, 0, sizeof(resp));
		memset(&r, 0, sizeof(r));
		r.http = &req;
		r.resp = &resp;
		(void)acme_route(&r);
		cr_expect_eq(resp.status, rr[i].status, "line %d [%s]: %d",
		    rr[i].line, rr[i].desc, resp.status);
		if (rr[i].status == 400)
			cr_expect(resp.body != NULL && strstr(resp.body,
			    "urn:ietf:params:acme:error:malformed") != NULL,
			    "line %d [%s]: %s", rr[i].line, rr[i].desc,
			    resp.body ? resp.body : "(none)");
		/* Nothing of the request is echoed. */
		cr_expect(resp.body == NULL || strstr(resp.body, "AQI") ==
		    NULL, "line %d [%s]", rr[i].line, rr[i].desc);
		http_resp_clear(&resp);
		http_req_clear(&req);
	}
}
