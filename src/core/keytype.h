/*
 * keytype.h - the names of the CA key types (architecture.md §3), parsed
 * into an enum. A leaf on libc alone, so the config reader and the CA core
 * both use it without one depending on the other.
 */
#ifndef ANVIL_CORE_KEYTYPE_H
#define ANVIL_CORE_KEYTYPE_H

#include "core/error.h"

/* ca/key.c indexes its table of GnuTLS algorithms by these values. */
enum keytype {
	KEYTYPE_EC_P256 = 0,
	KEYTYPE_EC_P384,
	KEYTYPE_EC_P521,
	KEYTYPE_RSA2048,
	KEYTYPE_RSA3072,
	KEYTYPE_RSA4096,
	KEYTYPE_ED25519,
	KEYTYPE_ED448,
	KEYTYPE__MAX
};

/*
 * Parses a key type string ("ec:P-256" or "P-256", ..., "rsa:2048" or
 * "rsa2048", ..., "ed25519", "ed448"). ANVIL_ERR_INVALID otherwise.
 */
anvil_err keytype_parse(const char *s, enum keytype *out);

/* The accepted key type strings, comma separated, for error messages. */
const char *keytype_accepted(void);

#endif
