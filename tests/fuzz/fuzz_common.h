/*
 * fuzz_common.h - shared by the libFuzzer targets in tests/fuzz: quiet
 * logging, a NUL-terminated copy of the input, and FUZZ_ASSERT for the
 * properties a target checks beyond "does not crash".
 */
#ifndef ANVIL_FUZZ_COMMON_H
#define ANVIL_FUZZ_COMMON_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property that must hold for every input: abort so libFuzzer keeps
 * the input as a crash. */
#define FUZZ_ASSERT(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: property failed: %s\n",        \
			    __FILE__, __LINE__, #cond);                        \
			abort();                                               \
		}                                                              \
	} while (0)

/* The input as a new NUL-terminated string (may hold NULs inside). */
static inline char *
fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* With FUZZ_VERBOSE set in the environment (e.g. when running a target on
 * the seed files), says what a check returned: seeds should reach the
 * success paths. */
#define FUZZ_REPORT(what, rc, detail)                                          \
	do {                                                                   \
		if (getenv("FUZZ_VERBOSE") != NULL)                            \
			fprintf(stderr, "%s: %d %s\n", (what), (int)(rc),      \
			    (detail));                                         \
	} while (0)

/* Logging only errors, so the run's output stays readable. */
#define FUZZ_QUIET_INIT()                                                      \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                      \
	{                                                                      \
		(void)argc;                                                    \
		(void)argv;                                                    \
		log_init("fuzz", LOG_LVL_ERR, 0);                              \
		return 0;                                                      \
	}

#endif
