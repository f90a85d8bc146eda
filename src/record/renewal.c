/*
 * renewal.c - ACME Renewal Information (RFC 9773) on stored records
 * (record.h): the certID codec of §4.1, the suggested window of §4.2,
 * the operator's advice, and the "replaces" link of §5 between an order
 * and the certificate it renews.
 *
 * A certID names a certificate by its issuer's key identifier and its
 * serial, so that an unauthenticated GET can ask about it. The serial
 * half is the DER content octets of the INTEGER, sign octet included;
 * the store keys certificates by the hex of the value (src/acme/
 * finalize.c), so parsing drops the sign octet and refuses any other
 * spelling of the same number: one certificate, one certID.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "jose/jose.h"
#include "record/record.h"

/* ------------------------------------------------------------ certID */

anvil_err
rec_certid_parse(const char *s, unsigned char kid[REC_KEYID_MAX],
    size_t *kidlen, char serial_hex[2 * REC_SERIAL_MAX + 1], char *why,
    size_t whylen)
{
	const char *dot;
	unsigned char *k = NULL, *ser = NULL;
	size_t klen = 0, slen = 0, len;
	anvil_err rc = ANVIL_ERR_MALFORMED;

	*kidlen = 0;
	serial_hex[0] = '\0';
	if (s == NULL || (len = strnlen(s, REC_CERTID_MAX + 1)) == 0) {
		snprintf(why, whylen, "empty certID");
		goto out;
	}
	if (len > REC_CERTID_MAX) {
		snprintf(why, whylen, "certID longer than %d characters",
		    REC_CERTID_MAX);
		goto out;
	}
	if ((dot = strchr(s, '.')) == NULL || strchr(dot + 1, '.') != NULL) {
		snprintf(why, whylen, "a certID is two base64url parts joined "
		    "by one \".\"");
		goto out;
	}
	if (dot == s || dot[1] == '\0') {
		snprintf(why, whylen, "certID has an empty part");
		goto out;
	}
	/* b64u_decode refuses padding, '+', '/' and non-zero spare bits:
	 * a second spelling of the same octets would be a second name. */
	if ((rc = b64u_decode(s, (size_t)(dot - s), &k, &klen)) != ANVIL_OK ||
	    (rc = b64u_decode(dot + 1, strlen(dot + 1), &ser, &slen)) !=
	    ANVIL_OK) {
		if (rc == ANVIL_ERR_NOMEM)
			goto out;
		rc = ANVIL_ERR_MALFORMED;
		snprintf(why, whylen, "certID is not unpadded base64url");
		goto out;
	}
	rc = ANVIL_ERR_MALFORMED;
	if (klen == 0 || klen > REC_KEYID_MAX) {
		snprintf(why, whylen, "certID key identifier of %zu octets",
		    klen);
		goto out;
	}
	if (slen == 0) {
		snprintf(why, whylen, "certID serial is empty");
		goto out;
	}
	/* X.690 §8.3.2: the first nine bits are never all zeros or all
	 * ones; a set high bit is a negative number, never a serial. */
	if (ser[0] & 0x80) {
		snprintf(why, whylen, "certID serial is negative");
		goto out;
	}
	if (ser[0] == 0x00 && (slen == 1 || !(ser[1] & 0x80))) {
		snprintf(why, whylen, "certID serial is not minimally encoded "
		    "(DER)");
		goto out;
	}
	if (ser[0] == 0x00) {
		memmove(ser, ser + 1, --slen);
	}
	if (slen > REC_SERIAL_MAX) {
		snprintf(why, whylen, "certID serial longer than %d octets",
		    REC_SERIAL_MAX);
		goto out;
	}
	memcpy(kid, k, klen);
	*kidlen = klen;
	util_hex(ser, slen, serial_hex);
	rc = ANVIL_OK;
out:
	free(k);
	free(ser);
	return rc;
}

anvil_err
rec_certid_make(const unsigned char *kid, size_t kidlen,
    const unsigned char *serial, size_t serlen, char **out)
{
	unsigned char der[REC_SERIAL_MAX + 1];
	char *a = NULL, *b = NULL;
	size_t n = 0;
	anvil_err rc = ANVIL_ERR_NOMEM;

	*out = NULL;
	while (serlen > 1 && serial[0] == 0x00) {
		serial++;
		serlen--;
	}
	if (kidlen == 0 || kidlen > REC_KEYID_MAX || serlen == 0 ||
	    serlen > REC_SERIAL_MAX)
		return ANVIL_ERR_INVALID;
	if (serial[0] & 0x80)
		der[n++] = 0x00;
	memcpy(der + n, serial, serlen);
	n += serlen;
	if (b64u_encode(kid, kidlen, &a) != ANVIL_OK ||
	    b64u_encode(der, n, &b) != ANVIL_OK)
		goto out;
	if (asprintf(out, "%s.%s", a, b) < 0) {
		*out = NULL;
		goto out;
	}
	rc = ANVIL_OK;
out:
	free(a);
	free(b);
	return rc;
}

/* ------------------------------------------------------------ window */

json_t *
rec_cert_advice(json_t *rec)
{
	return json_object_get(rec, "renewal");
}

void
rec_cert_window(json_t *rec, time_t now, time_t *start, time_t *end,
    const char **explanation)
{
	json_int_t nb = json_integer_value(json_object_get(rec, "not_before"));
	json_int_t na = json_integer_value(json_object_get(rec, "not_after"));
	json_t *adv = rec_cert_advice(rec);
	json_int_t life = na - nb;

	*explanation = json_string_value(json_object_get(adv, "explanation"));
	/*
	 * Revoked (the client must replace it now), advised by the operator
	 * (a key or CA event), or a record without a lifetime: a window that
	 * is already open. RFC 9773 §4.2 has a client whose window lies in
	 * the past renew at once.
	 */
	if (json_is_object(rec_cert_revoked(rec)) || json_is_object(adv) ||
	    life <= 0) {
		*start = now - REC_RENEW_OPEN_BACK;
		*end = now;
		return;
	}
	/*
	 * Two thirds into the lifetime, for a ninth of it: the point where
	 * ACME clients renew by habit, so a client that ignores ARI and one
	 * that follows it behave alike, and a window that ends with two
	 * ninths of the lifetime (20 days of 90) left for retries before
	 * expiry. A certificate past its window, or past expiry, gets its
	 * window as it was: in the past, so renew now.
	 */
	*start = (time_t)(nb + life * 2 / 3);
	*end = *start + (time_t)(life / 9);
	if (*end <= *start)
		*end = *start + 1;
}

anvil_err
rec_cert_advise(json_t *rec, time_t now, const char *explanation)
{
	json_t *adv = json_pack("{s:I}", "advised", (json_int_t)now);

	if (adv == NULL)
		return ANVIL_ERR_NOMEM;
	if (explanation != NULL) {
		json_t *e = json_string(explanation);
		if (e == NULL) {
			json_decref(adv);
			return ANVIL_ERR_INVALID;
		}
		json_object_set_new(adv, "explanation", e);
	}
	if (json_object_set_new(rec, "renewal", adv) != 0)
		return ANVIL_ERR_NOMEM;
	return ANVIL_OK;
}

/* ------------------------------------------------------------ replaces */

json_t *
rec_cert_replaced_by(json_t *rec)
{
	json_t *r = json_object_get(rec, "replaced_by");

	return json_is_object(r) ? r : NULL;
}

anvil_err
rec_cert_replacing(json_t *rec, const char *order, time_t now)
{
	json_t *r = json_pack("{s:s, s:I}", "order", order, "time",
	    (json_int_t)now);

	if (r == NULL || json_object_set_new(rec, "replaced_by", r) != 0)
		return ANVIL_ERR_NOMEM;
	return ANVIL_OK;
}

anvil_err
rec_cert_replaced(json_t *rec, const char *order, const char *serial,
    time_t now)
{
	json_t *r = rec_cert_replaced_by(rec);
	const char *o = json_string_value(json_object_get(r, "order"));

	if (o != NULL && strcmp(o, order) != 0)
		return ANVIL_ERR_ALREADYREPLACED;
	if (r == NULL) {
		if (rec_cert_replacing(rec, order, now) != ANVIL_OK)
			return ANVIL_ERR_NOMEM;
		r = rec_cert_replaced_by(rec);
	}
	if (json_object_set_new(r, "certificate", json_string(serial)) != 0 ||
	    json_object_set_new(r, "replaced", json_integer(
	    (json_int_t)now)) != 0)
		return ANVIL_ERR_NOMEM;
	return ANVIL_OK;
}

anvil_err
rec_order_set_replaces(json_t *order, const char *certid, const char *serial)
{
	if (json_object_set_new(order, "replaces", json_string(certid)) != 0 ||
	    json_object_set_new(order, "replaces_serial",
	    json_string(serial)) != 0)
		return ANVIL_ERR_NOMEM;
	return ANVIL_OK;
}

const char *
rec_order_replaces(json_t *order)
{
	return json_string_value(json_object_get(order, "replaces"));
}

const char *
rec_order_replaces_serial(json_t *order)
{
	return json_string_value(json_object_get(order, "replaces_serial"));
}
