/*
 * policy.c - which names and addresses may be ordered: deny and allow
 * lists kept in the store ("global", and "eab:<kid>" for the accounts
 * bound to an External Account Binding key), edited live with
 * "anvil-admin policy". A dns pattern "example.org" covers the name and
 * every name below it; an ip pattern is an address or a network
 * (address/prefix). Deny wins; a non-empty allow list admits only what it
 * covers. A wildcard is refused when a deny pattern covers any name it
 * stands for (see covers_some). An EAB key's policy may also name the
 * certificate profiles its accounts may order (acme_policy_profile).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "acme/acme_int.h"

int
acme_policy_pattern_ok(const char *p)
{
	unsigned char a[16];
	char buf[64];
	const char *slash = strchr(p, '/');
	size_t i;

	if (*p == '\0' || strlen(p) > 253)
		return 0;
	if (slash != NULL || strchr(p, ':') != NULL ||
	    strspn(p, "0123456789.") == strlen(p)) {
		size_t al = slash ? (size_t)(slash - p) : strlen(p);
		char *end;
		long bits;
		int v6;
		if (al == 0 || al >= sizeof(buf))
			return 0;
		memcpy(buf, p, al);
		buf[al] = '\0';
		v6 = inet_pton(AF_INET6, buf, a) == 1;
		if (!v6 && inet_pton(AF_INET, buf, a) != 1)
			return 0;
		if (slash == NULL)
			return 1;
		bits = strtol(slash + 1, &end, 10);
		return *end == '\0' && slash[1] != '\0' && bits >= 0 &&
		    bits <= (v6 ? 128 : 32);
	}
	for (i = 0; p[i]; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' &&
		    p[i] <= '9') || p[i] == '-' || p[i] == '.'))
			return 0;
	return p[0] != '.' && p[strlen(p) - 1] != '.';
}

/* 1 if pattern p covers identifier type/value (value without "*."). */
static int
covers(const char *p, const char *type, const char *value)
{
	unsigned char a[16], n[16];
	char buf[64];
	const char *slash;
	size_t al, pl, vl, full, rest;
	long bits;
	int fam;

	if (strcmp(type, "dns") == 0) {
		pl = strlen(p);
		vl = strlen(value);
		if (strchr(p, ':') || strchr(p, '/'))
			return 0;
		return strcasecmp(value, p) == 0 || (vl > pl &&
		    value[vl - pl - 1] == '.' &&
		    strcasecmp(value + vl - pl, p) == 0);
	}
	fam = strchr(value, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, value, a) != 1)
		return 0;
	slash = strchr(p, '/');
	al = slash ? (size_t)(slash - p) : strlen(p);
	if (al >= sizeof(buf))
		return 0;
	memcpy(buf, p, al);
	buf[al] = '\0';
	if (inet_pton(fam, buf, n) != 1)
		return 0;
	bits = slash ? strtol(slash + 1, NULL, 10) : (fam == AF_INET ? 32 :
	    128);
	full = (size_t)bits / 8;
	rest = (size_t)bits % 8;
	if (memcmp(a, n, full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ n[full]) & (0xff << (8 - rest))) == 0;
}

/*
 * A wildcard "*.B" stands for every name one label below B (RFC 8555
 * §7.1.3; a certificate for it matches exactly one label, RFC 6125
 * §6.4.3), never B itself nor a.b.B. A pattern P covers P and every name
 * below it. So, for a deny pattern P:
 *   - P is B or above B: every name *.B stands for is below P: refused;
 *   - P is one label below B (x.B): x.B is one of those names: refused,
 *     and with it *.B, although the base B is not covered ("deny
 *     secret.example.test" must stop "*.example.test");
 *   - P is two or more labels below B (a.b.B): no name *.B stands for is
 *     P or below it: admitted;
 *   - P elsewhere: admitted.
 * For an allow list every name *.B stands for must be covered; the labels
 * are unbounded and the list is finite, so that holds exactly when one
 * pattern covers B itself, which is the check on the base (an
 * "allow x.B" admits x.B, not *.B).
 * Patterns are as acme_policy_pattern_ok() admits them: "*." and leading
 * dots are refused there, so no pattern form escapes this reasoning.
 */
static int
covers_some(const char *p, const char *type, const char *value,
    int wildcard)
{
	size_t pl, vl;

	if (covers(p, type, value))
		return 1;
	if (!wildcard || strcmp(type, "dns") != 0)
		return 0;
	pl = strlen(p);
	vl = strlen(value);
	return pl > vl + 1 && p[pl - vl - 1] == '.' &&
	    strcasecmp(p + pl - vl, value) == 0 &&
	    memchr(p, '.', pl - vl - 1) == NULL;
}

static int
any_covers(json_t *list, const char *type, const char *value, int wildcard,
    const char **which)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v) {
		const char *p = json_string_value(v);
		if (p != NULL && covers_some(p, type, value, wildcard)) {
			*which = p;
			return 1;
		}
	}
	return 0;
}

anvil_err
acme_policy_check(json_t *global, json_t *key, const char *type,
    const char *value, char *why, size_t whylen)
{
	json_t *pols[2] = { global, key };
	const char *names[2] = { "the server's", "your account key's" };
	const char *which = NULL, *base = value;
	int i, wild = 0;

	if (strcmp(type, "dns") == 0 && strncmp(value, "*.", 2) == 0) {
		base = value + 2;
		wild = 1;
	}
	for (i = 0; i < 2; i++)
		if (pols[i] != NULL && any_covers(json_object_get(pols[i],
		    "deny"), type, base, wild, &which)) {
			snprintf(why, whylen, "%s policy forbids %s (deny %s%s)",
			    names[i], value, which, wild && !covers(which,
			    type, base) ? ", a name the wildcard covers" : "");
			return ANVIL_ERR_REJECTEDID;
		}
	for (i = 0; i < 2; i++) {
		json_t *allow = pols[i] ? json_object_get(pols[i], "allow") :
		    NULL;
		if (json_array_size(allow) > 0 && !any_covers(allow, type,
		    base, 0, &which)) {
			snprintf(why, whylen, "%s policy does not allow %s%s",
			    names[i], value, wild ? ": a wildcard needs every "
			    "name below its base allowed" : "");
			return ANVIL_ERR_REJECTEDID;
		}
	}
	return ANVIL_OK;
}

/* 1 if name is in the "profiles" list of key, or that list is empty. */
static int
profile_listed(json_t *key, const char *name)
{
	json_t *list = json_object_get(key, "profiles"), *v;
	size_t i;

	if (json_array_size(list) == 0)
		return 1;
	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return 1;
	return 0;
}

const struct config_profile *
acme_policy_profile(const struct anvil_config *cfg, json_t *key,
    const char *asked, anvil_err *e, char *why, size_t whylen)
{
	const struct config_profile *p = config_profile_find(cfg, asked);
	json_t *v;
	size_t i;

	*e = ANVIL_ERR_INVALIDPROFILE;
	if (p == NULL) {
		snprintf(why, whylen, "no profile \"%.64s\": see meta.profiles "
		    "in the directory", asked ? asked : "");
		return NULL;
	}
	if (profile_listed(key, p->name)) {
		*e = ANVIL_OK;
		return p;
	}
	if (asked == NULL)
		/* The server's default is not this key's: its first is. */
		json_array_foreach(json_object_get(key, "profiles"), i, v)
			if ((p = config_profile_find(cfg, json_string_value(v) ?:
			    "")) != NULL) {
				*e = ANVIL_OK;
				return p;
			}
	snprintf(why, whylen, "profile \"%.64s\" is not offered to the "
	    "accounts of this external account binding key", asked ? asked :
	    cfg->default_profile);
	return NULL;
}

anvil_err
acme_policy_profile_admits(const struct config_profile *prof,
    const struct acme_order_ident *ids, size_t n, char *why, size_t whylen)
{
	size_t i;

	if (n > prof->max_identifiers)
		return errf(why, whylen, ANVIL_ERR_REJECTEDID, "profile %s "
		    "takes at most %u identifiers in one order", prof->name,
		    prof->max_identifiers);
	for (i = 0; i < n; i++) {
		unsigned bit = strcmp(ids[i].type, "ip") == 0 ?
		    CONFIG_IDENT_IP : CONFIG_IDENT_DNS;
		if (!(prof->ident_types & bit))
			return errf(why, whylen, ANVIL_ERR_REJECTEDID, "profile "
			    "%s does not take %s identifiers (%.253s)",
			    prof->name, ids[i].type, ids[i].value);
	}
	return ANVIL_OK;
}
