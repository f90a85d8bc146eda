/*
 * keytype.c - the key type names of [ca] key_type and their enum.
 */
#include "config.h"

#include <string.h>

#include "core/keytype.h"

/* Each type's name and its short alias (architecture.md §3). */
static const struct {
	const char *name;
	const char *alias;
	enum keytype type;
} key_types[KEYTYPE__MAX] = {
	{ "ec:P-256", "P-256", KEYTYPE_EC_P256 },
	{ "ec:P-384", "P-384", KEYTYPE_EC_P384 },
	{ "ec:P-521", "P-521", KEYTYPE_EC_P521 },
	{ "rsa:2048", "rsa2048", KEYTYPE_RSA2048 },
	{ "rsa:3072", "rsa3072", KEYTYPE_RSA3072 },
	{ "rsa:4096", "rsa4096", KEYTYPE_RSA4096 },
	{ "ed25519", NULL, KEYTYPE_ED25519 },
	{ "ed448", NULL, KEYTYPE_ED448 },
};

anvil_err
keytype_parse(const char *s, enum keytype *out)
{
	size_t i;

	if (s == NULL)
		return ANVIL_ERR_INVALID;
	for (i = 0; i < KEYTYPE__MAX; i++)
		if (strcmp(s, key_types[i].name) == 0 ||
		    (key_types[i].alias && strcmp(s, key_types[i].alias) == 0)) {
			*out = key_types[i].type;
			return ANVIL_OK;
		}
	return ANVIL_ERR_INVALID;
}

const char *
keytype_accepted(void)
{
	return "ec:P-256, P-256, ec:P-384, P-384, ec:P-521, P-521, rsa:2048, "
	    "rsa2048, rsa:3072, rsa3072, rsa:4096, rsa4096, ed25519, ed448";
}
