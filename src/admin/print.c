/*
 * print.c - anvil-admin output: aligned columns for people, JSON for
 * scripts.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"

static char *
cell(json_t *v)
{
	if (v == NULL || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

void
admin_print_table(struct admin_ctx *ctx, json_t *rows, const char *const *cols)
{
	size_t ncols = 0, i, c, w[32];
	json_t *row;

	if (ctx->json) {
		json_dumpf(rows, ctx->out, JSON_INDENT(2));
		fputc('\n', ctx->out);
		return;
	}
	while (cols[ncols] != NULL && ncols < 32)
		ncols++;
	for (c = 0; c < ncols; c++)
		w[c] = strlen(cols[c]);
	json_array_foreach(rows, i, row) {
		for (c = 0; c < ncols; c++) {
			char *s = cell(json_object_get(row, cols[c]));
			if (s != NULL && strlen(s) > w[c])
				w[c] = strlen(s);
			free(s);
		}
	}
	for (c = 0; c < ncols; c++)
		fprintf(ctx->out, "%-*s%s", (int)w[c], cols[c],
		    c + 1 < ncols ? "  " : "\n");
	json_array_foreach(rows, i, row) {
		for (c = 0; c < ncols; c++) {
			char *s = cell(json_object_get(row, cols[c]));
			fprintf(ctx->out, "%-*s%s", (int)w[c], s ? s : "?",
			    c + 1 < ncols ? "  " : "\n");
			free(s);
		}
	}
}

void
admin_print_object(struct admin_ctx *ctx, json_t *obj)
{
	const char *k;
	json_t *v;

	if (ctx->json) {
		json_dumpf(obj, ctx->out, JSON_INDENT(2));
		fputc('\n', ctx->out);
		return;
	}
	json_object_foreach(obj, k, v) {
		char *s = cell(v);
		fprintf(ctx->out, "%s: %s\n", k, s ? s : "?");
		free(s);
	}
}
