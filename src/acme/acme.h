/*
 * acme.h - the ACME server (RFC 8555): routes one HTTP request to its
 * endpoint handler and builds the response; runs challenge validations.
 *
 * Stateless: an acme_ctx holds only what is costly to open and the same
 * for every request (config, CA, store, nonce key); nothing about a
 * request stays in it after the response.
 */
#ifndef ANVIL_ACME_ACME_H
#define ANVIL_ACME_ACME_H

#include <stddef.h>

#include "ca/ca.h"
#include "core/conf.h"
#include "core/error.h"
#include "http/http.h"
#include "store/store.h"

struct acme_ctx;

/*
 * Makes a context from borrowed cfg, ca and st (they must outlive it) and
 * loads (or creates) the nonce key under cfg->data_dir. Caller owns *out.
 */
anvil_err acme_ctx_new(const struct anvil_config *cfg, struct ca *ca,
    struct store *st, struct acme_ctx **out, char *err, size_t errlen);

/* Frees ctx; NULL is a no-op. */
void acme_ctx_free(struct acme_ctx *ctx);

/* The path of the base URL ("/acme" for https://h/acme; "" at the root). */
const char *acme_base_path(const struct acme_ctx *ctx);

/*
 * Handles req (read with status rc from http_read_request) and fills resp.
 * When the request started a challenge validation, *validate receives the
 * challenge id (new string, caller frees) to pass to acme_validate once
 * the response is out; else NULL.
 */
void acme_handle(struct acme_ctx *ctx, anvil_err rc,
    const struct http_req *req, struct http_resp *resp, char **validate);

/*
 * Validates challenge chall_id now (blocking up to the configured
 * timeout) and records the result: challenge, authorization and, in the
 * same transaction, every order it completes become valid/ready or
 * invalid. A challenge that is not "processing" is left alone.
 */
anvil_err acme_validate(struct acme_ctx *ctx, const char *chall_id);

/*
 * The status of a stored order or authorization record (borrowed) as
 * clients see it at now: a pending or ready order past its expiry is
 * "invalid"; a pending or valid authorization past it is "expired".
 */
const char *acme_order_status(json_t *rec, time_t now);
const char *acme_authz_status(json_t *rec, time_t now);

/* 1 if p is a name-policy pattern newOrder understands: a lower-case DNS
 * name, or an IP address or network (used by anvil-admin policy). */
int acme_policy_pattern_ok(const char *p);

#endif
