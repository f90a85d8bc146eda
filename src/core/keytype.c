/*
 * keytype.c - the key type names of [ca] key_type and their enum.
 */
#include "config.h"

#include <string.h>

#include "core/keytype.h"

static const struct {
	const char *name;
	const char *alias;
	enum ca_key_type type;
} key_types[CA_KEY__MAX] = {
	{ "ec:P-256", "P-256", CA_KEY_EC_P256 },
	{ "ec:P-384", "P-384", CA_KEY_EC_P384 },
	{ "ec:P-521", "P-521", CA_KEY_EC_P521 },
	{ "rsa:2048", "rsa2048", CA_KEY_RSA2048 },
	{ "rsa:3072", "rsa3072", CA_KEY_RSA3072 },
	{ "rsa:4096", "rsa4096", CA_KEY_RSA4096 },
	{ "ed25519", NULL, CA_KEY_ED25519 },
	{ "ed448", NULL, CA_KEY_ED448 },
};

anvil_err
ca_key_type_parse(const char *s, enum ca_key_type *out)
{
	size_t i;

	if (s == NULL)
		return ANVIL_ERR_INVALID;
	for (i = 0; i < CA_KEY__MAX; i++)
		if (strcmp(s, key_types[i].name) == 0 ||
		    (key_types[i].alias && strcmp(s, key_types[i].alias) == 0)) {
			*out = key_types[i].type;
			return ANVIL_OK;
		}
	return ANVIL_ERR_INVALID;
}

const char *
ca_key_type_accepted(void)
{
	return "ec:P-256, P-256, ec:P-384, P-384, ec:P-521, P-521, rsa:2048, "
	    "rsa2048, rsa:3072, rsa3072, rsa:4096, rsa4096, ed25519, ed448";
}
