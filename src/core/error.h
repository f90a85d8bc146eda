/*
 * error.h - the project's one error enum and its strings.
 *
 * Every module returns an anvil_err: ANVIL_OK (0) on success, a positive
 * value otherwise. Where a person needs to know more than the class of the
 * error, functions also take a caller-supplied buffer (char *err, size_t
 * errlen) into which they write one line saying what went wrong.
 * Library error text goes there or to the log, never into an HTTP response.
 */
#ifndef ANVIL_CORE_ERROR_H
#define ANVIL_CORE_ERROR_H

#include <stddef.h>

typedef enum anvil_err {
	ANVIL_OK = 0,
	ANVIL_ERR_NOMEM,	/* allocation failed */
	ANVIL_ERR_IO,		/* a file or socket operation failed */
	ANVIL_ERR_CONFIG,	/* configuration refused */
	ANVIL_ERR_INVALID,	/* an argument or input value is not acceptable */
	ANVIL_ERR_CRYPTO,	/* a GnuTLS or libtasn1 call failed */
	ANVIL_ERR_PARTIAL,	/* CA key or certificate present without the other */
	ANVIL_ERR_MISMATCH,	/* CA key and certificate do not belong together */
	ANVIL_ERR_BADCSR,	/* a CSR failed one of the checks */
	ANVIL_ERR_NOTFOUND,	/* no such record */
	ANVIL_ERR_EXISTS,	/* record exists (or nonce already spent) */
	ANVIL_ERR_DEADLOCK,	/* store: transaction lost a deadlock; retry */
	ANVIL_ERR_STORE,	/* store: an operation failed */
	ANVIL_ERR_CORRUPT,	/* store: a file or record is damaged or foreign */
	ANVIL_ERR_VERSION,	/* store: record or store from a newer format */

	/* Request errors: each maps to an ACME problem type and an HTTP
	 * status in one table (src/record/record.c). */
	ANVIL_ERR_MALFORMED,	/* malformed, 400 */
	ANVIL_ERR_BADNONCE,	/* badNonce, 400 */
	ANVIL_ERR_BADSIGALG,	/* badSignatureAlgorithm, 400 */
	ANVIL_ERR_BADPUBKEY,	/* badPublicKey, 400 */
	ANVIL_ERR_UNAUTHORIZED,	/* unauthorized, 403 */
	ANVIL_ERR_NOACCOUNT,	/* accountDoesNotExist, 400 */
	ANVIL_ERR_ORDERNOTREADY, /* orderNotReady, 403 */
	ANVIL_ERR_REJECTEDID,	/* rejectedIdentifier, 400 */
	ANVIL_ERR_UNSUPPORTEDID, /* unsupportedIdentifier, 400 */
	ANVIL_ERR_BADREVREASON,	/* badRevocationReason, 400 */
	ANVIL_ERR_ALREADYREVOKED, /* alreadyRevoked, 400 */
	ANVIL_ERR_CONNECTION,	/* connection, 400 */
	ANVIL_ERR_DNS,		/* dns, 400 */
	ANVIL_ERR_INCORRECT,	/* incorrectResponse, 403 */
	ANVIL_ERR_TLS,		/* tls, 400 */
	ANVIL_ERR_CAA,		/* caa, 403 */
	ANVIL_ERR_EABREQUIRED,	/* externalAccountRequired, 400 */
	ANVIL_ERR_BADCONTACT,	/* invalidContact, 400 */
	ANVIL_ERR_UNSUPPORTEDCONTACT, /* unsupportedContact, 400 */
	ANVIL_ERR_RATELIMITED,	/* rateLimited, 429 */
	ANVIL_ERR_METHOD,	/* malformed, 405 */
	ANVIL_ERR_MEDIATYPE,	/* malformed, 415 */
	ANVIL_ERR_TOOLARGE,	/* malformed, 413 */
	ANVIL_ERR_HTTPNOTFOUND,	/* malformed, 404: no such resource */
	ANVIL_ERR_ALREADYREPLACED, /* alreadyReplaced, 409 (RFC 9773 §5) */
	ANVIL_ERR_INVALIDPROFILE, /* invalidProfile, 400 */
	ANVIL_ERR_UNAVAILABLE,	/* store: database unreachable; 503, retry */
	ANVIL_ERR__MAX
} anvil_err;

/* Returns a static English string naming err; never NULL. */
const char *anvil_strerror(anvil_err err);

/*
 * Writes printf-style text into err (errlen bytes, always terminated) if
 * err is not NULL and errlen > 0. Returns code, so that callers can write
 * "return errf(err, errlen, ANVIL_ERR_IO, "open %s: %s", ...);".
 */
anvil_err errf(char *err, size_t errlen, anvil_err code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
