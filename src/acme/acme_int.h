/*
 * acme_int.h - private to src/acme: the context, the request being
 * handled, and helpers shared by the endpoint files.
 */
#ifndef ANVIL_ACME_ACME_INT_H
#define ANVIL_ACME_ACME_INT_H

#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "acme/acme.h"
#include "core/audit.h"
#include "jose/jose.h"
#include "record/record.h"

#define ACME_NONCE_KEY_LEN 32
#define ACME_NONCE_LIFETIME 3600	/* seconds a nonce is good for */
#define ACME_ORDER_LIFETIME (7 * 86400)
#define ACME_AUTHZ_PENDING_LIFETIME (7 * 86400)
#define ACME_MAX_IDENTIFIERS 100
#define ACME_ORDERS_PAGE 50
#define ACME_RETRY_AFTER "3"

struct acme_ctx {
	const struct anvil_config *cfg;
	struct ca *ca;
	struct store *st;
	unsigned char nonce_key[ACME_NONCE_KEY_LEN];
	char base_path[512];
	struct ca_ocsp_signer *ocsp;	/* loaded at the first OCSP request */
	time_t ocsp_mtime;		/* of the responder certificate file */
	ino_t ocsp_ino;			/* then: a change reloads it */
};

/* One request being handled: what the endpoint files share. */
struct acme_req {
	struct acme_ctx *ctx;
	const struct http_req *http;
	struct http_resp *resp;
	time_t now;
	/* After a successful acme_auth(): */
	struct jose_jws *jws;
	json_t *payload;		/* parsed payload; NULL for POST-as-GET */
	char *account_id;		/* kid-signed requests */
	json_t *account;		/* its record */
	char *validate;			/* challenge id to validate afterwards */
	/* Error reply being built: */
	char detail[512];
	json_t *subproblems;
	json_t *problem_extra;		/* members added to the problem
					 * document (owned; acme_fail) */
};

/* ------------------------------------------------------------ problem.c */

/*
 * Makes r's response a problem document for e with detail (printf), plus
 * r->subproblems if set and the members of r->problem_extra that the
 * document does not already have (type, detail and status stay acme_fail's
 * own). badSignatureAlgorithm always carries "algorithms" (RFC 8555 §6.2).
 * Returns e.
 */
anvil_err acme_fail(struct acme_req *r, anvil_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------ nonce.c */

anvil_err acme_nonce_key_load(struct acme_ctx *ctx, char *err, size_t errlen);
/* A fresh nonce (base64url, new string). */
char *acme_nonce_new(struct acme_ctx *ctx);
/* ANVIL_OK if nonce is authentic, unexpired, newer than the store's nonce
 * floor and not spent (and, with spend, spends it); ANVIL_ERR_EXISTS if
 * spend finds it spent before; ANVIL_ERR_BADNONCE if it is not such a
 * nonce; a store error as it came. */
anvil_err acme_nonce_check(struct acme_ctx *ctx, const char *nonce, int spend);
/*
 * Spends nonce (acme_nonce_check passed it) as part of txn; after txn
 * committed, acme_nonce_check(ctx, nonce, 0) says whether the store's
 * floor passed it meanwhile. Errors as acme_nonce_check's.
 */
anvil_err acme_nonce_spend_txn(struct acme_ctx *ctx, struct store_txn *txn,
    const char *nonce);

/* ------------------------------------------------------------ ocsp.c */

/* 1 if path (below the base URL) is the OCSP responder's: "/ocsp" or
 * below "/ocsp/". */
int acme_ocsp_path(const char *path);

/*
 * Answers an OCSP request (GET with the base64 request in the path, or
 * POST application/ocsp-request) into resp: always an
 * application/ocsp-response, malformedRequest for anything unreadable
 * (rc is http_read_request's result). 404 when [ocsp] is disabled.
 */
void acme_ocsp_handle(struct acme_ctx *ctx, anvil_err rc,
    const struct http_req *req, struct http_resp *resp);

/* ------------------------------------------------------------ reply.c */

/* Sets a JSON body (application/json, indented one member per line). */
anvil_err acme_reply_json(struct acme_req *r, int status, json_t *body);
/* Adds "Location: <url>". */
anvil_err acme_location(struct acme_req *r, const char *url);
/* Adds "Link: <url>;rel="rel"". */
anvil_err acme_link(struct acme_req *r, const char *url, const char *rel);
/* base_url + path (path starts with '/'); new string. */
char *acme_url(struct acme_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A new random id: 16 bytes base64url (22 characters), into out[23]. */
anvil_err acme_new_id(char out[23]);
/* An RFC 3339 UTC time string (static buffer per call site: out[32]). */
void acme_time(time_t t, char out[32]);

/* ------------------------------------------------------------ auth.c */

enum acme_auth_key {
	ACME_AUTH_KID,
	ACME_AUTH_JWK,
	ACME_AUTH_EITHER,
	ACME_AUTH_NONE		/* unsigned GET/HEAD: the router's table only */
};

/*
 * Checks a POST: content type, JWS, url, nonce, key (kid: the account
 * must exist and be valid), signature; parses the payload as a JSON object
 * unless it is empty (POST-as-GET). On failure the problem reply is set.
 * acme_route calls it with the route's kind before a signed resource's
 * handler, so handlers find r->jws (and r->account for kid) filled in.
 */
anvil_err acme_auth(struct acme_req *r, enum acme_auth_key how);

/* Reads one record in its own transaction; *out new ref. */
anvil_err acme_record_load(struct acme_ctx *ctx, enum store_kind kind,
    const char *id, json_t **out);

/* ------------------------------------------------------------ resource.c */

json_t *acme_account_json(struct acme_ctx *ctx, const char *id, json_t *rec);
json_t *acme_order_json(struct acme_ctx *ctx, const char *id, json_t *rec,
    time_t now);
json_t *acme_authz_json(struct acme_ctx *ctx, struct store_txn *txn,
    const char *id, json_t *rec, time_t now);
json_t *acme_chall_json(struct acme_ctx *ctx, const char *id, json_t *rec);

/* ------------------------------------------------------------ ident.c */

/*
 * Normalises one identifier object {"type","value"} into type/value
 * (lower-case A-label names; canonical IP text). Returns ANVIL_OK,
 * ANVIL_ERR_MALFORMED, ANVIL_ERR_UNSUPPORTEDID or ANVIL_ERR_REJECTEDID
 * with why filled.
 */
anvil_err acme_ident_normalise(json_t *id, char type[8], char value[256],
    char *why, size_t whylen);

/* ------------------------------------------------------------ new_order.c */

struct acme_order_ident {
	char type[8];		/* "dns" or "ip" */
	char value[256];	/* normalised, as ordered: "*.example.org" */
};

/*
 * In one transaction of st, creates an order for account at now over
 * ids[0..n) (borrowed; normalised, distinct, policy already checked):
 * valid authorizations of the account with more than a day left are
 * reused, others created pending. The order expires at now +
 * ACME_ORDER_LIFETIME or with its earliest authorization, whichever comes
 * first. profile (borrowed; NULL: none stored, finalize uses the
 * default) is the certificate profile the order is finalized with. Its id
 * into order_id, its record into *order (new reference). Returns ANVIL_OK
 * or a store, ANVIL_ERR_CRYPTO or ANVIL_ERR_NOMEM error.
 */
anvil_err acme_order_create(struct store *st, const char *account, time_t now,
    const struct acme_order_ident *ids, size_t n, const char *profile,
    char order_id[23], json_t **order);

/*
 * acme_order_create for an order that replaces (RFC 9773 §5) the
 * certificate named by certid (as the client sent it; NULL for none),
 * whose serial (store key) the caller parsed from it. In the same
 * transaction the certificate must be account's, share an identifier
 * with the order and not be held by another live order; it is then
 * marked as held by this one. ANVIL_ERR_MALFORMED or
 * ANVIL_ERR_ALREADYREPLACED with why filled, and no order stored.
 */
anvil_err acme_order_create_replacing(struct store *st, const char *account,
    time_t now, const struct acme_order_ident *ids, size_t n,
    const char *profile, const char *certid, const char *serial,
    char order_id[23],
    json_t **order, char *why, size_t whylen);

/* ------------------------------------------------------------ finalize.c */

/*
 * In txn: ANVIL_OK when every authorization order (borrowed record) lists
 * is valid at now; else ANVIL_ERR_ORDERNOTREADY with why naming the first
 * that is not and its status (expired, deactivated, missing, ...).
 */
anvil_err acme_order_authzs_valid(struct store_txn *txn, json_t *order,
    time_t now, char *why, size_t whylen);

/* ------------------------------------------------------------ eab.c */

/*
 * Checks an externalAccountBinding JWS (borrowed) for the new account
 * account_id and, in txn, records the binding on its key. Returns
 * ANVIL_ERR_MALFORMED (structure) or ANVIL_ERR_UNAUTHORIZED (unknown,
 * disabled, expired or used key; bad MAC) with why filled; the key id
 * into kid_out on success.
 */
anvil_err acme_eab_bind(struct acme_req *r, struct store_txn *txn,
    json_t *eab, const char *account_id, char *kid_out, size_t kidlen,
    char *why, size_t whylen);

/* ------------------------------------------------------------ policy.c */

/*
 * Checks one normalised identifier (value as ordered, "*." included)
 * against the global policy and the policy of the account's EAB key
 * (either may be NULL): deny lists first, then allow lists. A wildcard is
 * refused when a deny pattern covers any name it stands for, and admitted
 * only when an allow pattern covers them all. ANVIL_ERR_REJECTEDID with
 * why when refused.
 */
/*
 * The certificate profile of a newOrder that asked for asked (NULL: none)
 * by an account whose EAB key has policy key (NULL: none). A non-empty
 * "profiles" list in key admits only the profiles it names, and its first
 * is the default of that key's accounts when cfg's default is not among
 * them. Returns the profile (borrowed from cfg), or NULL with *e set to
 * ANVIL_ERR_INVALIDPROFILE and why written.
 */
const struct config_profile *acme_policy_profile(
    const struct anvil_config *cfg, json_t *key, const char *asked,
    anvil_err *e, char *why, size_t whylen);

/*
 * ANVIL_OK if profile prof takes the n identifiers ids (normalised and
 * distinct; borrowed): their count and types. Else ANVIL_ERR_REJECTEDID
 * with why.
 */
anvil_err acme_policy_profile_admits(const struct config_profile *prof,
    const struct acme_order_ident *ids, size_t n, char *why, size_t whylen);

anvil_err acme_policy_check(json_t *global, json_t *key, const char *type,
    const char *value, char *why, size_t whylen);

/* ------------------------------------------------------------ validation.c */

/* A validation may run this long before its process is killed: per step
 * (connect, TLS, DNS, each redirect) the check is bounded by timeout;
 * src/admin/maint.c uses the same factor. */
#define ACME_VALIDATION_DEADLINE(cfg) (3 * (cfg)->timeout)
/* A claim this old lost its runner: the runner records a result a moment
 * after the deadline. */
#define ACME_VALIDATION_ABANDONED(cfg) (ACME_VALIDATION_DEADLINE(cfg) + 5)

/* What one validation needs, copied out of its records. */
struct acme_vinfo {
	char type[16];
	char token[128];
	char thumb[64];
	char ident_type[8];
	char ident_value[256];
	int wildcard;
	int skip;		/* challenge not processing: nothing to do */
	char account[64];	/* account id: its URL for RFC 8657 */
	int caa_checked;	/* out of the check: CAA permitted issuance */
};

/* Reads challenge id's validation data in txn; skip set when the
 * challenge is no longer "processing". */
anvil_err acme_validation_load(struct store_txn *txn, const char *id,
    struct acme_vinfo *v);

/*
 * Runs the check in this process's checker, a child that touches no store
 * and serves one check after another (validation.c); it is killed when a
 * check passes ACME_VALIDATION_DEADLINE (the result is then
 * ANVIL_ERR_CONNECTION) and the next check starts a new one.
 * When *stop becomes non-zero (a signal) the child is killed and
 * ANVIL_ERR_INVALID returned: no result, the caller gives the work back.
 * Blocks; detail gets a sentence for the client. With CAA on
 * (caa_identities), a dns identifier's check passes only when CAA permits
 * issuance too, and v->caa_checked is then set.
 */
anvil_err acme_validation_check(const struct anvil_config *cfg,
    struct acme_vinfo *v, const volatile sig_atomic_t *stop,
    char *detail, size_t detaillen);

/*
 * Records result (ANVIL_OK: valid) for challenge id in txn: drops the
 * challenge's queue entry and, through rec_challenge_result(), moves the
 * challenge, its authorization and waiting orders as RFC 8555 §7.1.6 has
 * them move. A challenge no longer "processing" is left alone.
 */
anvil_err acme_validation_record(struct store_txn *txn, const char *id,
    anvil_err result, const char *detail, time_t now);

/* One log line for a finished validation (acme_validation_finish
 * writes it too). */
void acme_validation_log(const char *id, const struct acme_vinfo *v,
    anvil_err result, const char *detail);

/* acme_validation_record in txn, keeping "caa_checked" as
 * acme_validation_finish does: for a runner that records a result in the
 * transaction that claims its next entry (runner.c). */
anvil_err acme_validation_settle(struct store_txn *txn, const char *id,
    const struct acme_vinfo *v, anvil_err result, const char *detail,
    time_t now);

/* Logs the result and records it (acme_validation_record) in its own
 * transaction; a challenge whose check included CAA (v->caa_checked)
 * keeps the time as "caa_checked" for finalize.c. */
anvil_err acme_validation_finish(struct store *st, const char *id,
    const struct acme_vinfo *v, anvil_err result, const char *detail);

/* ------------------------------------------------------------ runner.c */

/*
 * Queues challenge id for validation in txn (the transaction that makes
 * it "processing"). ANVIL_ERR_RATELIMITED when [validation] queue_max
 * entries already wait.
 */
anvil_err acme_valq_add(struct store_txn *txn, const struct anvil_config *cfg,
    const char *id, time_t now);

/* ------------------------------------------------------------ acme.c */

enum acme_route_methods {
	ACME_ROUTE_GET,		/* GET and HEAD */
	ACME_ROUTE_POST,	/* POST only (POST-as-GET to fetch) */
	ACME_ROUTE_GET_POST	/* GET and HEAD unsigned, or POST-as-GET */
};

/* What a signed route's payload may be. */
enum acme_route_payload {
	ACME_PAYLOAD_ANY,	/* the handler decides: object or empty */
	ACME_PAYLOAD_EMPTY	/* POST-as-GET only: "{}" is malformed */
};

/* One resource of the router's table (acme.c). */
struct acme_route {
	const char *name;		/* for logs and tests */
	const char *pattern;		/* segments; "*" captures one */
	enum acme_route_methods methods;
	enum acme_auth_key auth;	/* who must sign a POST */
	enum acme_route_payload payload;
	anvil_err (*run0)(struct acme_req *);
	anvil_err (*run1)(struct acme_req *, const char *);
	anvil_err (*run2)(struct acme_req *, const char *, const char *);
	const char *wrong_method;	/* 405 detail for other methods */
};

/* The router's table (static; *n rows). */
const struct acme_route *acme_routes(size_t *n);

/* Where acme_route_match found a request's path. */
struct acme_route_match {
	const struct acme_route *route;	/* NULL when no pattern fits */
	const char *cap[2];		/* "*" segments, into buf; or NULL */
	const char *detail;		/* problem detail unless ANVIL_OK */
	char *buf;			/* owned: the split path */
};

/*
 * The route for method and path (both borrowed; path as
 * http_read_request leaves it, NULL outside the base URL). ANVIL_OK: run
 * m->route with m->cap. ANVIL_ERR_HTTPNOTFOUND for no path, the root, or
 * an unknown path POSTed to; ANVIL_ERR_METHOD for a known path with a
 * method it does not answer and for any other unknown path;
 * ANVIL_ERR_NOMEM. m->detail then says so for the client. Clear m with
 * acme_route_match_clear whatever it returns.
 */
anvil_err acme_route_match(const char *method, const char *path,
    struct acme_route_match *m);
void acme_route_match_clear(struct acme_route_match *m);

/*
 * What a path http_read_request refused (req->refused, borrowed, may be
 * NULL) is to the client: ANVIL_ERR_MALFORMED for a certID under
 * renewal-info that holds a character base64url never does (RFC 9773
 * §4.1), else ANVIL_ERR_HTTPNOTFOUND. *detail then says so.
 */
anvil_err acme_route_refused(const char *refused, const char **detail);

/*
 * Routes r to its handler, after acme_auth for a POST (and, for an
 * ACME_PAYLOAD_EMPTY route, the check that its payload is empty), or makes
 * its reply the 404, the 405, acme_auth's refusal or the malformed.
 */
anvil_err acme_route(struct acme_req *r);

/* ------------------------------------------------------------ endpoints */

/* Each runs from acme_route; a POST one after acme_auth has passed. */

anvil_err acme_directory(struct acme_req *r);
anvil_err acme_new_nonce(struct acme_req *r);
anvil_err acme_new_account(struct acme_req *r);
anvil_err acme_account(struct acme_req *r, const char *id);
anvil_err acme_account_orders(struct acme_req *r, const char *id,
    const char *after);
anvil_err acme_key_change(struct acme_req *r);
anvil_err acme_new_order(struct acme_req *r);
anvil_err acme_order(struct acme_req *r, const char *id);
anvil_err acme_finalize(struct acme_req *r, const char *id);
anvil_err acme_authz(struct acme_req *r, const char *id);
anvil_err acme_challenge(struct acme_req *r, const char *id);
anvil_err acme_cert(struct acme_req *r, const char *serial);
/* <base>/cert/<serial>/<n>: alternate chain n (RFC 8555 §7.4.2). */
anvil_err acme_cert_alt(struct acme_req *r, const char *serial,
    const char *which);
anvil_err acme_ca_cert(struct acme_req *r);
anvil_err acme_revoke(struct acme_req *r);
anvil_err acme_renewal_info(struct acme_req *r, const char *certid);

#endif
