/*
 * rec.h - private to src/store: the checks of records and what a record
 * contributes to the indexes, for every backend (src/store/backend.h).
 */
#ifndef ANVIL_STORE_REC_H
#define ANVIL_STORE_REC_H

#include <stddef.h>

#include "store/store.h"

#define THUMB_MAX	256		/* JWK thumbprint string */
#define IDTYPE_MAX	16		/* identifier "type" */
#define IDVALUE_MAX	1024		/* identifier "value" */
#define RECORD_MAX	(1024 * 1024)	/* largest serialised record */

int id_ok(const char *s, size_t max);
int kind_ok(enum store_kind kind);

#endif
