/*
 * renewal_info.c - GET <base>/renewal-info/<certID> (RFC 9773 §4): when
 * the client should renew a certificate, as {"suggestedWindow": {start,
 * end}} and the operator's "explanationURL", with Retry-After saying
 * when to ask again. Unauthenticated, so that a client asks without its
 * account key; a POST-as-GET from an account is answered the same.
 *
 * The certID names our CA's key identifier and a serial
 * (src/record/renewal.c). A malformed one is 400; one that names another
 * CA's key, or a serial this CA never issued, is 404: there is no such
 * resource here.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "acme/acme_int.h"

/* Ask again in six hours: advice changes rarely (an operator's
 * anvil-admin renewal advise), and a window is days wide. */
#define ARI_RETRY_AFTER 21600

anvil_err
acme_renewal_info(struct acme_req *r, const char *certid)
{
	unsigned char kid[REC_KEYID_MAX];
	const struct ca *gen;
	char serial[2 * REC_SERIAL_MAX + 1], why[160] = "", start_s[32],
	    end_s[32], num[24], cache[64];
	const char *expl = NULL;
	size_t kidlen = 0;
	time_t start, end;
	json_t *rec = NULL, *body = NULL;
	anvil_err rc;

	/* A POST-as-GET was authenticated by the router (acme.c), its
	 * payload checked empty. */
	if (rec_certid_parse(certid, kid, &kidlen, serial, why, sizeof(why)) !=
	    ANVIL_OK) {
		rc = acme_fail(r, ANVIL_ERR_MALFORMED, "%s", why[0] ? why :
		    "malformed certID");
		goto out;
	}
	/* Any generation's key: certificates issued before a rollover
	 * keep their renewal window. */
	gen = ca_generation_by_key_id(r->ctx->ca, kid, kidlen);
	if (gen == NULL) {
		rc = acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "certID names a key "
		    "identifier that is not this CA's");
		goto out;
	}
	rc = acme_record_load(r->ctx, STORE_CERT, serial, &rec);
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		rc = acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no certificate with "
		    "that serial");
		goto out;
	}
	if (rc != ANVIL_OK) {
		rc = acme_fail(r, rc, "cannot read the certificate");
		goto out;
	}
	if (rec_cert_generation(rec) != ca_generation(gen)) {
		rc = acme_fail(r, ANVIL_ERR_HTTPNOTFOUND, "no certificate with "
		    "that serial under that key identifier");
		goto out;
	}
	rec_cert_window(rec, r->now, &start, &end, &expl);
	acme_time(start, start_s);
	acme_time(end, end_s);
	body = json_pack("{s:{s:s, s:s}}", "suggestedWindow", "start",
	    start_s, "end", end_s);
	if (body != NULL && expl != NULL)
		json_object_set_new(body, "explanationURL", json_string(expl));
	if (body == NULL) {
		rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* RFC 9773 §4.3: Retry-After in seconds; caches may keep the
	 * answer as long, since it is the same for every asker. */
	snprintf(num, sizeof(num), "%d", ARI_RETRY_AFTER);
	snprintf(cache, sizeof(cache), "public, max-age=%d", ARI_RETRY_AFTER);
	if (http_resp_header(r->resp, "Retry-After", num) != ANVIL_OK ||
	    http_resp_header(r->resp, "Cache-Control", cache) != ANVIL_OK) {
		json_decref(body);
		rc = acme_fail(r, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = acme_reply_json(r, 200, body);
out:
	json_decref(rec);
	return rc;
}
