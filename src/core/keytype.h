/*
 * keytype.h - the names of the CA key types (architecture.md §3), parsed
 * into an enum. A leaf on libc alone, so the config reader and the CA core
 * both use it without one depending on the other.
 */
#ifndef ANVIL_CORE_KEYTYPE_H
#define ANVIL_CORE_KEYTYPE_H

#include "core/error.h"

enum ca_key_type {
	CA_KEY_EC_P256 = 0,
	CA_KEY_EC_P384,
	CA_KEY_EC_P521,
	CA_KEY_RSA2048,
	CA_KEY_RSA3072,
	CA_KEY_RSA4096,
	CA_KEY_ED25519,
	CA_KEY_ED448,
	CA_KEY__MAX
};

/*
 * Parses a key type string ("ec:P-256" or "P-256", ..., "rsa:2048" or
 * "rsa2048", ..., "ed25519", "ed448"). ANVIL_ERR_INVALID otherwise.
 */
anvil_err ca_key_type_parse(const char *s, enum ca_key_type *out);

/* The accepted key type strings, comma separated, for error messages. */
const char *ca_key_type_accepted(void);

#endif
