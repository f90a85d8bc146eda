/*
 * test_audit.c - the audit log (src/core/audit.c): one whole JSON line per
 * event when several processes append at once, a bounded line, nothing
 * with destination none, and config errors that name the line.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "core/audit.h"
#include "core/conf.h"
#include "helpers.h"

static char *dir;

static void
setup(void)
{
	dir = th_tempdir();
}

static void
teardown(void)
{
	th_rmrf(dir);
	free(dir);
}

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 60);

#define WRITERS 4
#define EVENTS 300

/* Every (writer, n) pair exactly once, each line one JSON object. */
Test(audit, concurrent_writers_give_whole_lines_once)
{
	struct anvil_config *cfg = th_config(dir, NULL);
	static unsigned char seen[WRITERS][EVENTS];
	char *line = NULL;
	size_t cap = 0, lines = 0;
	struct stat sb;
	FILE *fp;
	int w, i, status;

	for (w = 0; w < WRITERS; w++) {
		pid_t pid = fork();
		cr_assert_neq(pid, -1);
		if (pid == 0) {
			/* A worker's event: large enough that a split write
			 * would show. */
			char pad[600];
			memset(pad, 'p', sizeof(pad) - 1);
			pad[sizeof(pad) - 1] = '\0';
			for (i = 0; i < EVENTS; i++)
				audit_event(cfg, 1000, "order.finalized",
				    json_pack("{s:i, s:i, s:s}", "writer", w,
				    "n", i, "pad", pad));
			_exit(0);
		}
	}
	for (w = 0; w < WRITERS; w++) {
		cr_assert_neq(wait(&status), -1);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	cr_assert_eq(stat(cfg->audit_file, &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0600, "mode %o", sb.st_mode & 0777);
	cr_assert_not_null(fp = fopen(cfg->audit_file, "r"));
	while (getline(&line, &cap, fp) > 0) {
		json_t *ev = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		json_int_t wr, n;
		cr_assert(json_is_object(ev), "line %zu: %s", lines + 1, line);
		cr_expect_str_eq(json_string_value(json_object_get(ev,
		    "event")), "order.finalized");
		cr_expect_str_eq(json_string_value(json_object_get(ev,
		    "time")), "1970-01-01T00:16:40Z");
		wr = json_integer_value(json_object_get(ev, "writer"));
		n = json_integer_value(json_object_get(ev, "n"));
		cr_assert(wr >= 0 && wr < WRITERS && n >= 0 && n < EVENTS);
		cr_expect_eq(seen[wr][n]++, 0, "writer %d event %d twice",
		    (int)wr, (int)n);
		json_decref(ev);
		lines++;
	}
	fclose(fp);
	free(line);
	cr_expect_eq(lines, WRITERS * EVENTS, "%zu lines", lines);
	config_free(cfg);
}

Test(audit, an_oversized_event_is_cut_to_its_name)
{
	struct anvil_config *cfg = th_config(dir, NULL);
	char *big = malloc(AUDIT_LINE_MAX + 10), buf[AUDIT_LINE_MAX + 2];
	json_t *ev;
	FILE *fp;

	cr_assert_not_null(big);
	memset(big, 'x', AUDIT_LINE_MAX + 9);
	big[AUDIT_LINE_MAX + 9] = '\0';
	audit_event(cfg, 0, "policy.refused", json_pack("{s:s}", "reason",
	    big));
	cr_assert_not_null(fp = fopen(cfg->audit_file, "r"));
	cr_assert_not_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	cr_assert_not_null(ev = json_loads(buf, 0, NULL));
	cr_expect(json_is_true(json_object_get(ev, "truncated")));
	cr_expect_str_eq(json_string_value(json_object_get(ev, "event")),
	    "policy.refused");
	cr_expect_null(json_object_get(ev, "reason"));
	json_decref(ev);
	free(big);
	config_free(cfg);
}

Test(audit, destination_none_writes_nothing)
{
	struct anvil_config *cfg = th_config(dir, "[audit]\ndestination = none");

	audit_event(cfg, 0, "account.created", json_pack("{s:s}", "account",
	    "a1"));
	cr_expect_neq(access(cfg->audit_file, F_OK), 0);
	config_free(cfg);
}

Test(audit, config_errors_name_the_line)
{
	static const char text[] = "[server]\nbase_url = https://a.test/acme\n"
	    "data_dir = /tmp/x\n[audit]\ndestination = sometimes\n";
	static const char text2[] = "[server]\nbase_url = https://a.test/acme\n"
	    "data_dir = /tmp/x\n[audit]\nfile =\n";
	struct anvil_config *cfg = NULL;
	char err[512] = "";

	cr_expect_eq(config_parse("a.conf", text, sizeof(text) - 1, &cfg, err,
	    sizeof(err)), ANVIL_ERR_CONFIG);
	cr_expect(strstr(err, "a.conf:5") != NULL && strstr(err,
	    "file, syslog, both or none") != NULL, "%s", err);
	err[0] = '\0';
	cr_expect_eq(config_parse("a.conf", text2, sizeof(text2) - 1, &cfg,
	    err, sizeof(err)), ANVIL_ERR_CONFIG);
	cr_expect(strstr(err, "a.conf:5") != NULL, "%s", err);
	cr_expect_null(cfg);
}
