/*
 * helpers.c - shared by the unit tests: temporary data folders and configs.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

char *
th_tempdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p = NULL;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	cr_assert(asprintf(&p, "%s/anvil-test-XXXXXX", base) > 0);
	cr_assert_not_null(mkdtemp(p), "mkdtemp %s", p);
	return p;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	remove(path);
	return 0;
}

void
th_rmrf(const char *path)
{
	if (path != NULL)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct anvil_config *
th_config(const char *data_dir, const char *extra)
{
	struct anvil_config *cfg = NULL;
	char *text = NULL;
	char err[512] = "";
	int n;

	n = asprintf(&text,
	    "[server]\nbase_url = https://acme.test/acme\ndata_dir = %s\n%s\n",
	    data_dir, extra ? extra : "");
	cr_assert(n > 0);
	cr_assert_eq(config_parse("test.conf", text, (size_t)n, &cfg, err,
	    sizeof(err)), ANVIL_OK, "config refused: %s", err);
	free(text);
	return cfg;
}
