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

/* Makes ca (borrowed, as in acme_ctx_new) the CA of ctx, after a CA
 * rollover; the OCSP signer of the previous one is dropped. */
void acme_ctx_set_ca(struct acme_ctx *ctx, struct ca *ca);

/* The path of the base URL ("/acme" for https://h/acme; "" at the root). */
const char *acme_base_path(const struct acme_ctx *ctx);

/*
 * Handles req (read with status rc from http_read_request) and fills resp.
 * When the request queued a challenge validation, *validate receives the
 * challenge id (new string, caller frees): once the response is out, the
 * caller calls acme_runner_kick. Else NULL.
 */
void acme_handle(struct acme_ctx *ctx, anvil_err rc,
    const struct http_req *req, struct http_resp *resp, char **validate);

/*
 * Validates challenge chall_id now, in the foreground (a child process
 * bounded by 3 x [validation] timeout), and records the result: challenge,
 * authorization and, in the same transaction, every order it completes
 * become valid/ready or invalid; its queue entry goes. A challenge that
 * is not "processing" is left alone. For "anvil --validate ID".
 */
anvil_err acme_validate(struct acme_ctx *ctx, const char *chall_id);

/*
 * Sets a validation runner (runner.c) to work on the queue: wakes one
 * that waits idle, else starts a detached one if one of the [validation]
 * validators slots of this host is free. Returns 1 if one was woken, 2 if
 * one started, 0 if every slot is held by a busy runner (they will reach
 * the queued work), -1 on failure (logged). cfg is borrowed; call with
 * the reply written and no store span held.
 */
int acme_runner_kick(const struct anvil_config *cfg);

/* The detail of a validation whose process died. */
#define ACME_VALIDATION_DIED "validation did not finish (the process died)"

/*
 * Whether a queue entry (borrowed) was abandoned at now: claimed by a
 * runner that did not record a result within 3 x timeout + 5 s.
 */
int acme_valq_abandoned(const struct anvil_config *cfg, json_t *entry,
    time_t now);

/* How many queued validations no runner holds (*waiting). */
anvil_err acme_valq_waiting(struct store *st, const struct anvil_config *cfg,
    size_t *waiting);

/* 1 if p is a name-policy pattern newOrder understands: a lower-case DNS
 * name, or an IP address or network (used by anvil-admin policy). */
int acme_policy_pattern_ok(const char *p);

#endif
