/*
 * error.c - strings for the project error enum.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/error.h"

static const char *const err_strings[ANVIL_ERR__MAX] = {
	[ANVIL_OK] = "success",
	[ANVIL_ERR_NOMEM] = "out of memory",
	[ANVIL_ERR_IO] = "input/output error",
	[ANVIL_ERR_CONFIG] = "configuration refused",
	[ANVIL_ERR_INVALID] = "invalid value",
	[ANVIL_ERR_CRYPTO] = "cryptographic operation failed",
	[ANVIL_ERR_PARTIAL] = "CA key or certificate missing (partial state)",
	[ANVIL_ERR_MISMATCH] = "CA key and certificate do not match",
	[ANVIL_ERR_BADCSR] = "CSR refused",
	[ANVIL_ERR_NOTFOUND] = "not found",
	[ANVIL_ERR_EXISTS] = "already exists",
	[ANVIL_ERR_DEADLOCK] = "deadlock",
	[ANVIL_ERR_STORE] = "store error",
	[ANVIL_ERR_CORRUPT] = "store file damaged or foreign",
	[ANVIL_ERR_VERSION] = "store written by a newer version",
	[ANVIL_ERR_MALFORMED] = "malformed request",
	[ANVIL_ERR_BADNONCE] = "bad nonce",
	[ANVIL_ERR_BADSIGALG] = "signature algorithm not accepted",
	[ANVIL_ERR_BADPUBKEY] = "public key not accepted",
	[ANVIL_ERR_UNAUTHORIZED] = "unauthorized",
	[ANVIL_ERR_NOACCOUNT] = "account does not exist",
	[ANVIL_ERR_ORDERNOTREADY] = "order not ready",
	[ANVIL_ERR_REJECTEDID] = "identifier rejected",
	[ANVIL_ERR_UNSUPPORTEDID] = "identifier type not supported",
	[ANVIL_ERR_BADREVREASON] = "bad revocation reason",
	[ANVIL_ERR_ALREADYREVOKED] = "already revoked",
	[ANVIL_ERR_CONNECTION] = "connection failed",
	[ANVIL_ERR_DNS] = "DNS problem",
	[ANVIL_ERR_INCORRECT] = "incorrect response",
	[ANVIL_ERR_TLS] = "TLS problem",
	[ANVIL_ERR_CAA] = "CAA forbids issuance",
	[ANVIL_ERR_EABREQUIRED] = "external account binding required",
	[ANVIL_ERR_BADCONTACT] = "invalid contact",
	[ANVIL_ERR_UNSUPPORTEDCONTACT] = "unsupported contact",
	[ANVIL_ERR_RATELIMITED] = "rate limited",
	[ANVIL_ERR_METHOD] = "method not allowed",
	[ANVIL_ERR_MEDIATYPE] = "unsupported media type",
	[ANVIL_ERR_TOOLARGE] = "request too large",
	[ANVIL_ERR_HTTPNOTFOUND] = "no such resource",
	[ANVIL_ERR_ALREADYREPLACED] = "certificate already replaced",
	[ANVIL_ERR_INVALIDPROFILE] = "no such certificate profile",
	[ANVIL_ERR_UNAVAILABLE] = "database unavailable",
};

const char *
anvil_strerror(anvil_err err)
{
	if ((unsigned)err >= ANVIL_ERR__MAX || err_strings[err] == NULL)
		return "unknown error";
	return err_strings[err];
}

anvil_err
errf(char *err, size_t errlen, anvil_err code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}
