/*
 * ocsp.c - the OCSP responder at <base_url>/ocsp (RFC 6960 A.1, RFC 5019
 * profile): GET <base_url>/ocsp/<base64 of the DER request> and POST of
 * application/ocsp-request to <base_url>/ocsp. Not ACME: no JWS, no
 * nonce, no problem documents; every answer, errors included, is an
 * application/ocsp-response.
 *
 * The web server serves a pre-signed answer (anvil-crl's [ocsp] dir) for
 * the GET path when it has one; this runs only when it has not, or for a
 * POST, or for a request with a nonce.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/gnutls.h>

#include "acme/acme_int.h"
#include "core/util.h"
#include "core/log.h"
#include "publish/publish.h"

#define OCSP_CT "application/ocsp-response"

/* The longest GET path part read: base64 of the largest request, every
 * character percent-encoded. */
#define OCSP_MAX_GET (3 * (4 * (CA_OCSP_MAX_REQUEST / 3 + 1)))

/*
 * The DER request of a GET path part (RFC 5019 A.1: url-encoding of
 * base64 encoding of DER). Percent escapes are decoded first; what
 * remains must be base64. *der is gnutls_malloc'ed. -1 when it is not.
 */
static int
get_request(const char *rest, gnutls_datum_t *der)
{
	size_t n = strlen(rest), i, k = 0;
	gnutls_datum_t b64;
	char *buf;
	int hi, lo, ret = -1;

	der->data = NULL;
	der->size = 0;
	if (n == 0 || n > OCSP_MAX_GET || (buf = malloc(n + 1)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (rest[i] == '%') {
			if (i + 2 >= n)
				goto out;
			if ((hi = util_hexval(rest[i + 1])) < 0 ||
			    (lo = util_hexval(rest[i + 2])) < 0)
				goto out;
			buf[k++] = (char)(hi << 4 | lo);
			i += 2;
		} else
			buf[k++] = rest[i];
	}
	for (i = 0; i < k; i++)
		if (!((buf[i] >= 'A' && buf[i] <= 'Z') ||
		    (buf[i] >= 'a' && buf[i] <= 'z') ||
		    (buf[i] >= '0' && buf[i] <= '9') || buf[i] == '+' ||
		    buf[i] == '/' || buf[i] == '='))
			goto out;
	b64.data = (unsigned char *)buf;
	b64.size = (unsigned)k;
	if (gnutls_base64_decode2(&b64, der) < 0)
		goto out;
	ret = 0;
out:
	free(buf);
	return ret;
}

/* HTTP-date (RFC 9110 5.6.7) of t into out[40]. */
static void
http_date(time_t t, char out[40])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/*
 * The signer, kept across requests; loaded again when the responder
 * certificate file changes (anvil-admin ocsp rotate, or anvil-crl
 * renewing it), so a FastCGI process never outlives its responder.
 */
static const struct ca_ocsp_signer *
signer(struct acme_ctx *ctx, time_t now)
{
	const struct anvil_config *cfg = ctx->cfg;
	struct ca_ocsp_signer *s = NULL;
	struct stat st;
	char err[512] = "";

	memset(&st, 0, sizeof(st));
	if (!cfg->ocsp_sign_with_ca)
		(void)stat(cfg->ocsp_responder_cert, &st);
	if (ctx->ocsp != NULL && st.st_mtime == ctx->ocsp_mtime &&
	    st.st_ino == ctx->ocsp_ino)
		return ctx->ocsp;
	if (ca_ocsp_signer_load(cfg, ctx->ca, now, &s, err, sizeof(err)) !=
	    ANVIL_OK) {
		log_err("OCSP signer: %s", err);
		/* Keep answering with the one we had. */
		return ctx->ocsp;
	}
	ca_ocsp_signer_free(ctx->ocsp);
	ctx->ocsp = s;
	if (!cfg->ocsp_sign_with_ca && stat(cfg->ocsp_responder_cert, &st) == 0) {
		ctx->ocsp_mtime = st.st_mtime;
		ctx->ocsp_ino = st.st_ino;
	}
	return s;
}

/*
 * The signer of the CA generation the request's CertIDs name (their
 * issuer hashes): the newest's, kept across requests, or an older
 * unretired generation's, loaded into *tmp for this request (caller
 * frees). A request no generation can answer gets the newest's, which
 * answers it unauthorized.
 */
static const struct ca_ocsp_signer *
signer_for(struct acme_ctx *ctx, const unsigned char *der, size_t len,
    time_t now, struct ca_ocsp_signer **tmp)
{
	const struct ca_ocsp_signer *s = signer(ctx, now);
	struct ca_ocsp_req req;
	struct ca *g;
	char err[512] = "";
	unsigned n;

	*tmp = NULL;
	if (s == NULL || ca_ocsp_req_parse(s, der, len, &req) !=
	    CA_OCSP_UNAUTHORIZED)
		return s;
	for (g = ca_older(ctx->ca), n = 0; g != NULL &&
	    n < CA_MAX_GENERATIONS; g = ca_older(g), n++) {
		if (ca_retired(g))
			continue;
		if (ca_ocsp_signer_load(ctx->cfg, g, now, tmp, err,
		    sizeof(err)) != ANVIL_OK) {
			log_err("OCSP signer of CA generation %u: %s",
			    ca_generation(g), err);
			continue;
		}
		if (ca_ocsp_req_parse(*tmp, der, len, &req) !=
		    CA_OCSP_UNAUTHORIZED)
			return *tmp;
		ca_ocsp_signer_free(*tmp);
		*tmp = NULL;
	}
	return s;
}

void
acme_ocsp_handle(struct acme_ctx *ctx, anvil_err rc, const struct http_req *req,
    struct http_resp *resp)
{
	const char *path = req->path;
	gnutls_datum_t der = { NULL, 0 };
	struct ca_ocsp_signer *older = NULL;
	unsigned char *out = NULL;
	size_t outlen = 0;
	time_t now = time(NULL), next = 0;
	int readable = 0, is_get;
	char cc[96], date[40];

	is_get = strcmp(req->method, "GET") == 0 ||
	    strcmp(req->method, "HEAD") == 0;
	if (!ctx->cfg->ocsp_enabled) {
		resp->status = 404;
		goto out;
	}
	if (!is_get && strcmp(req->method, "POST") != 0) {
		resp->status = 405;
		http_resp_header(resp, "Allow", "GET, HEAD, POST");
		goto out;
	}
	/* rc: too large or unreadable is malformedRequest like the rest. */
	if (rc == ANVIL_OK && is_get)
		readable = strncmp(path, "/ocsp/", 6) == 0 &&
		    get_request(path + 6, &der) == 0;
	else if (rc == ANVIL_OK)
		readable = strcmp(req->content_type,
		    "application/ocsp-request") == 0;
	if (readable) {
		const unsigned char *q = is_get ? der.data :
		    (const unsigned char *)req->body;
		size_t qlen = is_get ? der.size : req->body_len;

		rc = publish_ocsp_answer(ctx->st, signer_for(ctx, q, qlen, now,
		    &older), ctx->cfg, q, qlen, now, &out, &outlen, &next);
		ca_ocsp_signer_free(older);
	} else
		rc = ca_ocsp_resp_error(CA_OCSP_MALFORMED, &out, &outlen);
	if (rc != ANVIL_OK || out == NULL) {
		resp->status = 500;
		goto out;
	}
	resp->status = 200;
	http_resp_body(resp, (char *)out, outlen, OCSP_CT);
	out = NULL;
	if (next > now) {
		/* RFC 5019 6.2: cacheable until nextUpdate. */
		snprintf(cc, sizeof(cc), "max-age=%lld, public, no-transform, "
		    "must-revalidate", (long long)(next - now));
		http_resp_header(resp, "Cache-Control", cc);
		http_date(now, date);
		http_resp_header(resp, "Last-Modified", date);
		http_date(next, date);
		http_resp_header(resp, "Expires", date);
	} else
		http_resp_header(resp, "Cache-Control", "no-store");
out:
	free(out);
	gnutls_free(der.data);
}

int
acme_ocsp_path(const char *path)
{
	return path != NULL && strncmp(path, "/ocsp", 5) == 0 &&
	    (path[5] == '\0' || path[5] == '/');
}
