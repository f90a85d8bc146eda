/*
 * policy.c - anvil-admin policy: the name policy newOrder applies, for the
 * whole server or for the accounts bound to one EAB key (--eab KID).
 *   policy show | allow PATTERN | deny PATTERN | remove PATTERN | clear
 *   policy --eab KID allow-profile NAME | remove-profile NAME
 * A pattern is a DNS name (covering itself and every name below it) or an
 * IP address or network. Deny wins; a non-empty allow list admits only what
 * it covers. An EAB key's non-empty profile list admits only the
 * certificate profiles it names (src/acme/policy.c). Changes apply to the
 * next order, with no restart.
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "admin/admin.h"

struct pol_arg {
	char id[200];
	const char *eab;	/* NULL: global */
	const char *op;		/* show allow deny remove clear
				 * allow-profile remove-profile */
	const char *pattern;
	json_t *rec;		/* out */
	int changed;
};

static anvil_err
pol_fn(struct store_txn *txn, void *arg)
{
	struct pol_arg *p = arg;
	json_t *allow, *deny, *eab = NULL, *v;
	anvil_err rc;
	size_t i;

	json_decref(p->rec);
	p->rec = NULL;
	p->changed = 0;
	if (p->eab != NULL) {
		if ((rc = store_get(txn, STORE_EAB, p->eab, &eab)) != ANVIL_OK)
			return rc;
		json_decref(eab);
	}
	rc = store_get(txn, STORE_POLICY, p->id, &p->rec);
	if (rc == ANVIL_ERR_NOTFOUND)
		p->rec = json_pack("{s:[], s:[]}", "allow", "deny");
	else if (rc != ANVIL_OK)
		return rc;
	if (p->rec == NULL)
		return ANVIL_ERR_NOMEM;
	json_object_del(p->rec, "v");
	allow = json_object_get(p->rec, "allow");
	deny = json_object_get(p->rec, "deny");
	if (!json_is_array(allow) || !json_is_array(deny))
		return ANVIL_ERR_CORRUPT;
	if (strcmp(p->op, "allow-profile") == 0 ||
	    strcmp(p->op, "remove-profile") == 0) {
		json_t *list = json_object_get(p->rec, "profiles");
		if (list == NULL) {
			list = json_array();
			if (json_object_set_new(p->rec, "profiles", list) != 0)
				return ANVIL_ERR_NOMEM;
		}
		if (!json_is_array(list))
			return ANVIL_ERR_CORRUPT;
		for (i = json_array_size(list); i-- > 0;)
			if (strcmp(json_string_value(json_array_get(list, i)) ?:
			    "", p->pattern) == 0)
				break;
		if (p->op[0] == 'a' && i == (size_t)-1) {
			json_array_append_new(list, json_string(p->pattern));
			p->changed = 1;
		} else if (p->op[0] == 'r') {
			if (i == (size_t)-1)
				return ANVIL_ERR_NOTFOUND;
			json_array_remove(list, i);
			p->changed = 1;
		}
	} else if (strcmp(p->op, "allow") == 0 || strcmp(p->op, "deny") == 0) {
		json_t *list = p->op[0] == 'a' ? allow : deny;
		json_array_foreach(list, i, v)
			if (strcmp(json_string_value(v) ?: "", p->pattern) == 0)
				return ANVIL_OK;
		json_array_append_new(list, json_string(p->pattern));
		p->changed = 1;
	} else if (strcmp(p->op, "remove") == 0) {
		json_t *lists[2] = { allow, deny };
		int l;
		for (l = 0; l < 2; l++)
			for (i = json_array_size(lists[l]); i-- > 0;)
				if (strcmp(json_string_value(json_array_get(
				    lists[l], i)) ?: "", p->pattern) == 0) {
					json_array_remove(lists[l], i);
					p->changed = 1;
				}
		if (!p->changed)
			return ANVIL_ERR_NOTFOUND;
	} else if (strcmp(p->op, "clear") == 0) {
		json_array_clear(allow);
		json_array_clear(deny);
		json_object_del(p->rec, "profiles");
		p->changed = 1;
	}
	if (!p->changed)
		return ANVIL_OK;
	return store_put(txn, STORE_POLICY, p->id, p->rec, 0);
}

int
admin_policy(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "eab", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	struct pol_arg p;
	char err[256] = "", low[256];
	int c, needs_pattern, is_profile;
	size_t i;
	anvil_err rc;

	memset(&p, 0, sizeof(p));
	while ((c = getopt_long(argc, argv, "+e:", opts, NULL)) != -1) {
		if (c != 'e')
			goto usage;
		p.eab = optarg;
	}
	/* Options may also follow the operation. */
	if (optind >= argc)
		goto usage;
	p.op = argv[optind++];
	while ((c = getopt_long(argc, argv, "e:", opts, NULL)) != -1) {
		if (c != 'e')
			goto usage;
		p.eab = optarg;
	}
	is_profile = strcmp(p.op, "allow-profile") == 0 ||
	    strcmp(p.op, "remove-profile") == 0;
	needs_pattern = strcmp(p.op, "allow") == 0 || strcmp(p.op, "deny") ==
	    0 || strcmp(p.op, "remove") == 0 || is_profile;
	if (!needs_pattern && strcmp(p.op, "show") != 0 &&
	    strcmp(p.op, "clear") != 0)
		goto usage;
	if (needs_pattern != (optind + 1 == argc) ||
	    (!needs_pattern && optind != argc))
		goto usage;
	if (is_profile) {
		/* The server's profiles come from anvil.conf: only a key's
		 * accounts can be narrowed to some of them. Removing a name
		 * the configuration no longer has must stay possible. */
		if (p.eab == NULL) {
			fprintf(stderr, "anvil-admin: policy: %s needs --eab "
			    "KID\n", p.op);
			return ADMIN_USAGE;
		}
		if (p.op[0] == 'a' && config_profile_find(ctx->cfg,
		    argv[optind]) == NULL) {
			fprintf(stderr, "anvil-admin: policy: no profile \"%s\" "
			    "in %s\n", argv[optind], ctx->cfg->path);
			return ADMIN_USAGE;
		}
		snprintf(low, sizeof(low), "%s", argv[optind]);
		p.pattern = low;
	} else if (needs_pattern) {
		snprintf(low, sizeof(low), "%s", argv[optind]);
		for (i = 0; low[i]; i++)
			low[i] = (char)tolower((unsigned char)low[i]);
		if (!acme_policy_pattern_ok(low)) {
			fprintf(stderr, "anvil-admin: policy: \"%s\" is neither "
			    "a DNS name nor an IP address or network\n",
			    argv[optind]);
			return ADMIN_USAGE;
		}
		p.pattern = low;
	}
	snprintf(p.id, sizeof(p.id), p.eab ? "eab:%s" : "global",
	    p.eab ? p.eab : "");
	rc = store_run(ctx->st, 0, pol_fn, &p, err, sizeof(err));
	if (rc == ANVIL_ERR_NOTFOUND || rc == ANVIL_ERR_INVALID) {
		if (p.eab != NULL && strcmp(p.op, "remove") != 0 &&
		    strcmp(p.op, "remove-profile") != 0)
			fprintf(stderr, "anvil-admin: policy: no EAB key "
			    "\"%s\"\n", p.eab);
		else
			fprintf(stderr, "anvil-admin: policy: \"%s\" is not in "
			    "the policy\n", p.pattern ? p.pattern : "");
		json_decref(p.rec);
		return ADMIN_FAIL;
	}
	if (rc != ANVIL_OK) {
		fprintf(stderr, "anvil-admin: policy: %s\n", err[0] ? err :
		    anvil_strerror(rc));
		json_decref(p.rec);
		return ADMIN_FAIL;
	}
	json_object_set_new(p.rec, "scope", json_string(p.eab ? p.id :
	    "global"));
	admin_print_object(ctx, p.rec);
	json_decref(p.rec);
	return ADMIN_OK;
usage:
	fprintf(stderr, "usage: anvil-admin policy [--eab KID] show | allow "
	    "PATTERN | deny PATTERN | remove PATTERN | clear\n"
	    "       anvil-admin policy --eab KID allow-profile NAME | "
	    "remove-profile NAME\n");
	return ADMIN_USAGE;
}
