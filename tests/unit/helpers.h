/*
 * helpers.h - shared by the unit tests: temporary data folders and configs.
 */
#ifndef ANVIL_TESTS_HELPERS_H
#define ANVIL_TESTS_HELPERS_H

#include "core/conf.h"

/* A new empty folder under $TMPDIR (or /tmp); caller frees the string. */
char *th_tempdir(void);

/* Removes path and everything under it (like rm -rf); ignores errors. */
void th_rmrf(const char *path);

/*
 * A config for data_dir: base_url https://acme.test/acme, data_dir, then
 * the INI text extra appended (may be NULL; may open sections). Aborts the
 * test (cr_assert) if the config is refused.
 */
struct anvil_config *th_config(const char *data_dir, const char *extra);

#endif
