/*
 * record.h - what a stored ACME record means: the status values of
 * accounts, orders, authorizations, challenges and certificates (one enum,
 * one string table), the status a client sees at a given time, the legal
 * transitions (RFC 8555 §7.1.6), the result of a validation carried from
 * the challenge to its authorization and orders, revocation marking, and
 * the table from the project error enum to ACME problem documents
 * (RFC 8555 §6.7, RFC 7807).
 *
 * The ACME handlers, anvil-admin and anvil-crl call this module instead
 * of reading or writing status strings and record members themselves, so
 * the record format is known in one place. The strings stored on disk are
 * the RFC's: this module changes no stored byte.
 */
#ifndef ANVIL_RECORD_RECORD_H
#define ANVIL_RECORD_RECORD_H

#include <time.h>

#include <jansson.h>

#include "core/error.h"
#include "store/store.h"

/* The kinds of record that carry a status. */
enum rec_kind {
	REC_ACCOUNT = 0,
	REC_ORDER,
	REC_AUTHZ,
	REC_CHALLENGE,
	REC_CERT,		/* no stored status: seen as valid, expired or
				 * revoked (rec_cert_status) */
	REC_KIND__MAX
};

/* Every status value RFC 8555 §7.1.6 names, once. */
enum rec_status {
	REC_ST_NONE = 0,	/* missing, or not one of the strings below */
	REC_PENDING,
	REC_READY,
	REC_PROCESSING,
	REC_VALID,
	REC_INVALID,
	REC_DEACTIVATED,
	REC_EXPIRED,
	REC_REVOKED,
	REC_ST__MAX
};

/* The string of st ("pending", ...); static; NULL for REC_ST_NONE or a
 * value out of range. */
const char *rec_status_name(enum rec_status st);

/* The status named exactly by s (case matters); REC_ST_NONE for NULL or
 * anything else. */
enum rec_status rec_status_parse(const char *s);

/* 1 if a record of kind can be seen with status st, else 0. */
int rec_status_of_kind(enum rec_kind kind, enum rec_status st);

/* The "status" member of rec (borrowed) as stored, parsed. */
enum rec_status rec_status_get(json_t *rec);

/*
 * The text to show for a status seen on rec (borrowed): the name of seen,
 * or when seen is REC_ST_NONE the stored "status" string as it is ("" if
 * none), so that a record from elsewhere is shown unchanged. Borrowed.
 */
const char *rec_status_text(json_t *rec, enum rec_status seen);

/*
 * The status of a stored order, authorization or certificate record
 * (borrowed) as clients see it at now: a pending or ready order past its
 * expiry is invalid; a pending or valid authorization past it is expired;
 * a certificate is revoked when it carries a "revoked" member, else
 * expired after its not_after, else valid.
 */
enum rec_status rec_order_status(json_t *rec, time_t now);
enum rec_status rec_authz_status(json_t *rec, time_t now);
enum rec_status rec_cert_status(json_t *rec, time_t now);

/* 1 if a record of kind may move from status from to status to, else 0
 * (staying put is not a transition). */
int rec_transition_ok(enum rec_kind kind, enum rec_status from,
    enum rec_status to);

/*
 * Sets rec's (borrowed) "status" to to if kind allows the move from its
 * stored status; ANVIL_ERR_INVALID and rec unchanged otherwise, or
 * ANVIL_ERR_NOMEM.
 */
anvil_err rec_status_set(json_t *rec, enum rec_kind kind, enum rec_status to);

/*
 * New records as the ACME server stores them (the store adds "v"). Each
 * returns a new reference, or NULL when out of memory or when a string is
 * not UTF-8. Members the caller adds later (an account's "jwk", "contact"
 * and "eab"; an authorization's "orders"; an order's "certificate") are
 * not set here.
 */
/* An account, valid, created at now. */
json_t *rec_account_new(const char *id, const char *thumbprint,
    int tos_agreed, time_t now);
/* A pending challenge of type for authorization authz of account. */
json_t *rec_challenge_new(const char *id, const char *type,
    const char *token, const char *authz, const char *account);
/* A pending authorization of account for identifier type:value (value
 * without "*." for a wildcard), no challenges yet. */
json_t *rec_authz_new(const char *id, const char *account,
    const char *type, const char *value, int wildcard, time_t expires);
/* An order of account, ready when all of its authorizations are valid
 * already (ready != 0), else pending; identifiers and authorizations
 * (arrays) are stolen, even on failure. profile: the certificate profile
 * finalize issues with (draft-ietf-acme-profiles), or NULL for none
 * (records from before profiles; finalize then uses the default). */
json_t *rec_order_new(const char *id, const char *account, int ready,
    time_t expires, time_t now, json_t *identifiers,
    json_t *authorizations, const char *profile);
/* A certificate issued at issued for order of account; identifiers
 * borrowed (copied by reference); profile (NULL: none) is the profile it
 * was issued with. */
json_t *rec_cert_new(const char *serial, const char *account,
    const char *order, const char *pem, time_t not_before,
    time_t not_after, time_t issued, json_t *identifiers,
    const char *profile);

/* The CA generation that issued certificate record rec (its "ca_gen";
 * records from before CA rollover have none and are generation 1), or 0
 * when the member is not a positive integer. */
unsigned rec_cert_generation(json_t *rec);

/* Sets the "ca_gen" of certificate record rec (gen >= 1). */
anvil_err rec_cert_set_generation(json_t *rec, unsigned gen);

/* The CRL shard certificate record rec was issued in (its "crl_shard",
 * 1..CONFIG_CRL_SHARDS_MAX), or 0 when it has none (issued unsharded: its
 * CRLDistributionPoints is crl_url, the full CRL) or a malformed one. */
unsigned rec_cert_crl_shard(json_t *rec);

/* Sets the "crl_shard" of certificate record rec (1..1024). */
anvil_err rec_cert_set_crl_shard(json_t *rec, unsigned shard);

/* How long an authorization stays valid after its challenge succeeds. */
#define REC_AUTHZ_VALID_LIFETIME (30 * 86400)

/*
 * Records in txn the end of challenge id's validation, whose record chall
 * (borrowed; the caller has checked it is processing) is updated and
 * stored. With problem NULL (success): the challenge becomes valid
 * ("validated" now), its authorization valid for REC_AUTHZ_VALID_LIFETIME
 * if it was pending, and each of the authorization's pending orders ready
 * once all of its authorizations are valid. With a problem document
 * (borrowed, see rec_problem): the challenge becomes invalid with it as
 * "error", its authorization invalid if it was pending, and then that
 * authorization's pending orders invalid with the same "error". Statuses
 * are those seen at now. A missing authorization or order is skipped.
 * If changed is not NULL it receives (new reference, on success only)
 * {"identifier": the authorization's identifier or null, "authz": its id
 * if it changed or null, "orders": [ids of the orders that changed]}.
 * Returns ANVIL_OK or a store or ANVIL_ERR_NOMEM error.
 */
anvil_err rec_challenge_result(struct store_txn *txn, const char *id,
    json_t *chall, json_t *problem, time_t now, json_t **changed);

/*
 * Marks the certificate record rec (borrowed) revoked at now for reason
 * (an RFC 5280 CRLReason code) by whom ("account", "certificate key",
 * "operator"): the "revoked" member {time, reason, by}. Returns
 * ANVIL_ERR_ALREADYREVOKED (rec unchanged) when it is revoked already,
 * ANVIL_ERR_NOMEM, or ANVIL_OK.
 */
anvil_err rec_cert_revoke(json_t *rec, time_t now, int reason,
    const char *by);

/* The "revoked" member of certificate record rec (borrowed) or NULL if it
 * has none; borrowed. */
json_t *rec_cert_revoked(json_t *rec);

/* Every problem type URN starts with this (RFC 8555 §6.7). */
#define REC_PROBLEM_PREFIX "urn:ietf:params:acme:error:"

/* The ACME error type of e, after REC_PROBLEM_PREFIX ("serverInternal"
 * for an error no client causes); static, never NULL. */
const char *rec_problem_type(anvil_err e);

/* The HTTP status of e's problem document. */
int rec_problem_status(anvil_err e);

/* A sentence for e's problem when there is nothing better; static. */
const char *rec_problem_detail(anvil_err e);

/*
 * A problem document {"type", "detail", "status"} for e with detail (NULL:
 * rec_problem_detail(e)); new reference, NULL when out of memory or when
 * detail is not UTF-8.
 */
json_t *rec_problem(anvil_err e, const char *detail);

/* ------------------------------------------------------------ renewal */

/*
 * ACME Renewal Information (RFC 9773), renewal.c: the certificate
 * identifier of §4.1, the suggested renewal window of §4.2, the
 * operator's advice to renew early, and the "replaces" link between an
 * order and the certificate it renews (§5).
 */

#define REC_CERTID_MAX 256	/* longest certID read; ours are ~50 */
#define REC_KEYID_MAX 64	/* longest keyIdentifier taken */
#define REC_SERIAL_MAX 20	/* RFC 5280 §4.1.2.2: serials fit 20 octets */

/*
 * Parses certID s (RFC 9773 §4.1): base64url(keyIdentifier) "."
 * base64url(serial's DER content octets), unpadded, strict alphabet,
 * canonical. The serial must be a positive, minimally encoded INTEGER
 * (a 0x00 only before an octet with its high bit set) of at most
 * REC_SERIAL_MAX octets. On success the keyIdentifier into kid[0..*kidlen)
 * and the serial as the store keys it (lower-case hex of its value, the
 * sign octet dropped) into serial_hex. ANVIL_ERR_MALFORMED for anything
 * else, with why filled (for the client); ANVIL_ERR_NOMEM.
 */
anvil_err rec_certid_parse(const char *s, unsigned char kid[REC_KEYID_MAX],
    size_t *kidlen, char serial_hex[2 * REC_SERIAL_MAX + 1], char *why,
    size_t whylen);

/*
 * The certID of a certificate with keyIdentifier kid (its AKI) and serial
 * (the value's octets, big-endian, as stored: leading zero octets are
 * dropped and a sign octet added as DER wants). New string into *out.
 * ANVIL_ERR_INVALID for empty or too long input; ANVIL_ERR_NOMEM.
 */
anvil_err rec_certid_make(const unsigned char *kid, size_t kidlen,
    const unsigned char *serial, size_t serlen, char **out);

/* How far back an open window starts: a window already under way tells
 * a client to renew at once (RFC 9773 §4.2). */
#define REC_RENEW_OPEN_BACK 3600

/*
 * The suggested renewal window of certificate record rec (borrowed) at
 * now. Normally from notBefore + 2/3 of the lifetime for 1/9 of it (a
 * 90-day certificate: days 60 to 70). Revoked, or advised by the
 * operator (rec_cert_advise): [now - REC_RENEW_OPEN_BACK, now], so that
 * clients renew at once. *explanation (borrowed from rec, or NULL) is the
 * operator's URL for the advice.
 */
void rec_cert_window(json_t *rec, time_t now, time_t *start, time_t *end,
    const char **explanation);

/*
 * Advises renewal of certificate record rec (borrowed) now: the
 * "renewal" member {advised, explanation (when not NULL)}; a later advice
 * replaces an earlier one. ANVIL_ERR_NOMEM, ANVIL_ERR_INVALID (explanation
 * not UTF-8) or ANVIL_OK.
 */
anvil_err rec_cert_advise(json_t *rec, time_t now, const char *explanation);

/* The "renewal" member of rec or NULL; borrowed. */
json_t *rec_cert_advice(json_t *rec);

/*
 * The "replaced_by" member of certificate record rec: {order, time the
 * order was placed, and once it was finalized certificate (its serial)
 * and replaced (time)}; NULL if no order names it. Borrowed.
 */
json_t *rec_cert_replaced_by(json_t *rec);

/*
 * Records on certificate record rec (borrowed) that order, placed at now,
 * replaces it (RFC 9773 §5). The caller has checked that no order still
 * pending or valid holds it. ANVIL_ERR_NOMEM or ANVIL_OK.
 */
anvil_err rec_cert_replacing(json_t *rec, const char *order, time_t now);

/*
 * Records that order was finalized at now with certificate serial: the
 * certificate rec (borrowed) is replaced. ANVIL_ERR_ALREADYREPLACED (rec
 * unchanged) when another order holds it; ANVIL_ERR_NOMEM; ANVIL_OK.
 */
anvil_err rec_cert_replaced(json_t *rec, const char *order,
    const char *serial, time_t now);

/*
 * Sets an order record's "replaces": the certID as the client sent it
 * (echoed in the order object) and the serial it names (store key).
 * ANVIL_ERR_NOMEM or ANVIL_OK.
 */
anvil_err rec_order_set_replaces(json_t *order, const char *certid,
    const char *serial);

/* The certID and the serial an order replaces, or NULL; borrowed. */
const char *rec_order_replaces(json_t *order);
const char *rec_order_replaces_serial(json_t *order);

#endif
