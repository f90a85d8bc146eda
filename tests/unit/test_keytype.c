/*
 * test_keytype.c - the key-type leaf (src/core/keytype.h) on its own: the
 * fourteen spellings of architecture.md §3 parse to their enum value, and
 * everything else, however close, is refused without touching the output.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/keytype.h"

static const struct {
	int line;
	const char *s;
	enum keytype want;
} good[] = {
	{ __LINE__, "ec:P-256", KEYTYPE_EC_P256 },
	{ __LINE__, "P-256", KEYTYPE_EC_P256 },
	{ __LINE__, "ec:P-384", KEYTYPE_EC_P384 },
	{ __LINE__, "P-384", KEYTYPE_EC_P384 },
	{ __LINE__, "ec:P-521", KEYTYPE_EC_P521 },
	{ __LINE__, "P-521", KEYTYPE_EC_P521 },
	{ __LINE__, "rsa:2048", KEYTYPE_RSA2048 },
	{ __LINE__, "rsa2048", KEYTYPE_RSA2048 },
	{ __LINE__, "rsa:3072", KEYTYPE_RSA3072 },
	{ __LINE__, "rsa3072", KEYTYPE_RSA3072 },
	{ __LINE__, "rsa:4096", KEYTYPE_RSA4096 },
	{ __LINE__, "rsa4096", KEYTYPE_RSA4096 },
	{ __LINE__, "ed25519", KEYTYPE_ED25519 },
	{ __LINE__, "ed448", KEYTYPE_ED448 },
};
#define N_GOOD (sizeof(good) / sizeof(good[0]))

static const struct {
	int line;
	const char *desc;
	const char *s;
} bad[] = {
	{ __LINE__, "empty", "" },
	{ __LINE__, "one space", " " },
	{ __LINE__, "upper-case EC prefix", "EC:P-256" },
	{ __LINE__, "lower-case curve", "ec:p-256" },
	{ __LINE__, "lower-case short curve", "p-256" },
	{ __LINE__, "upper-case RSA", "RSA:2048" },
	{ __LINE__, "upper-case RSA short form", "RSA2048" },
	{ __LINE__, "capitalised Ed25519", "Ed25519" },
	{ __LINE__, "upper-case ED448", "ED448" },
	{ __LINE__, "trailing space", "ed25519 " },
	{ __LINE__, "trailing space after a curve", "ec:P-256 " },
	{ __LINE__, "leading space", " rsa:2048" },
	{ __LINE__, "trailing tab", "P-384\t" },
	{ __LINE__, "trailing newline", "ed448\n" },
	{ __LINE__, "trailing CR", "rsa3072\r" },
	{ __LINE__, "space after the colon", "ec: P-256" },
	{ __LINE__, "RSA 1024 (too small)", "rsa:1024" },
	{ __LINE__, "RSA 1024 short form", "rsa1024" },
	{ __LINE__, "RSA 8192 (not offered)", "rsa:8192" },
	{ __LINE__, "RSA without size", "rsa" },
	{ __LINE__, "RSA with empty size", "rsa:" },
	{ __LINE__, "RSA with leading zero", "rsa:02048" },
	{ __LINE__, "RSA with sign", "rsa:+2048" },
	{ __LINE__, "RSA with dash", "rsa-2048" },
	{ __LINE__, "RSA with suffix", "rsa:2048x" },
	{ __LINE__, "P-192", "P-192" },
	{ __LINE__, "ec:P-192", "ec:P-192" },
	{ __LINE__, "ec:P-224", "ec:P-224" },
	{ __LINE__, "prefix of a name", "ec:P-25" },
	{ __LINE__, "prefix of an alias", "P-2" },
	{ __LINE__, "name twice", "ed25519ed25519" },
	{ __LINE__, "ec without curve", "ec:" },
	{ __LINE__, "ec: before an EdDSA name", "ec:ed25519" },
	{ __LINE__, "OpenSSL curve name", "prime256v1" },
	{ __LINE__, "SEC curve name", "secp384r1" },
	{ __LINE__, "x25519 (not a signature key)", "x25519" },
	{ __LINE__, "dsa", "dsa" },
	{ __LINE__, "the accepted list itself", "ec:P-256, P-256" },
	{ __LINE__, "pkcs11 URL (key_file, not key_type)", "pkcs11:token=x" },
};
#define N_BAD (sizeof(bad) / sizeof(bad[0]))

Test(keytype, every_spelling_parses)
{
	enum keytype t;
	size_t i;

	for (i = 0; i < N_GOOD; i++) {
		t = KEYTYPE__MAX;
		cr_expect_eq(keytype_parse(good[i].s, &t), ANVIL_OK,
		    "line %d: \"%s\" refused", good[i].line, good[i].s);
		cr_expect_eq(t, good[i].want, "line %d: \"%s\" parsed as %d",
		    good[i].line, good[i].s, (int)t);
	}
}

Test(keytype, everything_else_refused_and_output_untouched)
{
	enum keytype t;
	size_t i;

	for (i = 0; i < N_BAD; i++) {
		t = KEYTYPE__MAX;
		cr_expect_eq(keytype_parse(bad[i].s, &t), ANVIL_ERR_INVALID,
		    "line %d: %s: \"%s\" accepted", bad[i].line, bad[i].desc,
		    bad[i].s);
		cr_expect_eq(t, KEYTYPE__MAX, "line %d: %s: output written",
		    bad[i].line, bad[i].desc);
	}
}

Test(keytype, null_refused)
{
	enum keytype t = KEYTYPE__MAX;

	cr_assert_eq(keytype_parse(NULL, &t), ANVIL_ERR_INVALID);
	cr_assert_eq(t, KEYTYPE__MAX);
}

/* A valid name followed by a megabyte of padding, and the padding alone. */
Test(keytype, very_long_strings_refused)
{
	const size_t len = 1024 * 1024;
	enum keytype t = KEYTYPE__MAX;
	char *s = malloc(len + 1);

	cr_assert_not_null(s);
	memset(s, 'A', len);
	s[len] = '\0';
	cr_expect_eq(keytype_parse(s, &t), ANVIL_ERR_INVALID, "padding");
	memcpy(s, "ec:P-256", 8);
	cr_expect_eq(keytype_parse(s, &t), ANVIL_ERR_INVALID,
	    "valid name then padding");
	memset(s, ' ', len);
	memcpy(s + len - 7, "ed25519", 7);
	cr_expect_eq(keytype_parse(s, &t), ANVIL_ERR_INVALID,
	    "spaces then a valid name");
	cr_expect_eq(t, KEYTYPE__MAX);
	free(s);
}

/* Each spelling that parses is in the list error messages print, once. */
Test(keytype, accepted_list_is_the_spellings)
{
	const char *list = keytype_accepted();
	char *copy, *tok, *save = NULL;
	int seen[N_GOOD] = { 0 };
	size_t i, n = 0;

	cr_assert_not_null(list);
	cr_assert_not_null(copy = strdup(list));
	for (tok = strtok_r(copy, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save)) {
		for (i = 0; i < N_GOOD; i++)
			if (strcmp(tok, good[i].s) == 0)
				break;
		cr_expect(i < N_GOOD, "accepted list names \"%s\"", tok);
		if (i < N_GOOD) {
			cr_expect_eq(seen[i], 0, "\"%s\" listed twice", tok);
			seen[i] = 1;
		}
		n++;
	}
	cr_expect_eq(n, N_GOOD, "accepted list \"%s\" has %zu names", list, n);
	free(copy);
}
