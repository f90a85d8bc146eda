/*
 * conf.c - the INI configuration file.
 *
 * Keys live in one typed table with their default and bounds, and each
 * kind of key has its own setter; the parser reads the file once, checks
 * each value against its row with its kind's setter, and refuses the
 * whole file at the first problem with "file:line: what is wrong". The
 * result is an immutable struct anvil_config that callers pass down.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/conf.h"
#include "core/keytype.h"
#include "core/log.h"
#include "core/util.h"

#define CONFIG_MAX_FILE (1024 * 1024)
#define CONFIG_MAX_LINE 4096
#define PROFILE_NAME_MAX 32	/* characters of a profile name */
#define PROFILES_MAX 32		/* [profile NAME] sections in one file */

#ifndef ANVIL_SYSCONFDIR
#define ANVIL_SYSCONFDIR "/etc"
#endif

enum key_kind { K_STR, K_URL, K_PATH, K_UINT, K_SIZE, K_BOOL, K_KEYTYPE,
	K_LOGLEVEL, K_RESOLVER, K_NETS, K_KEYFILE, K_NAMES, K_VALIDITY, K_EKU,
	K_KU, K_IDTYPES, K_OPTPATH, K_CHALLS, K_AUDIT, K_BACKEND };

struct key_def {
	const char *section;
	const char *name;
	enum key_kind kind;
	size_t offset;		/* into struct anvil_config (section
				 * "profile": struct config_profile) */
	const char *def;	/* default; NULL: required */
	unsigned long min, max;	/* K_UINT/K_SIZE bounds; K_STR max length */
};

#define OFF(f) offsetof(struct anvil_config, f)

/*
 * Where validation never connects unless allow_networks says so: every
 * special-purpose block of the IANA IPv4 and IPv6 registries (RFC 6890)
 * that is not globally reachable, so that a challenge (or a redirect) cannot
 * make the validator read a page on this host or its private networks.
 * IPv4: "this network" (RFC 791), private use (RFC 1918), shared address
 * space (RFC 6598), loopback, link local (RFC 3927), IETF protocol
 * assignments (RFC 6890), the three documentation nets (RFC 5737),
 * benchmarking (RFC 2544), multicast (RFC 5771), reserved and limited
 * broadcast (RFC 1112, RFC 919). IPv6 (RFC 4291 unless named):
 * unspecified, loopback, local-use NAT64 (RFC 8215), discard-only
 * (RFC 6666), documentation (RFC 3849, RFC 9637), unique local (RFC 4193),
 * link local, site local (RFC 3879), multicast. IPv4-mapped,
 * IPv4-compatible and NAT64 (RFC 6052) forms are matched through their
 * IPv4 address (config_net_denied), so they need no rows of their own.
 */
#define DENY_DEFAULT "0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, " \
	"169.254.0.0/16, 172.16.0.0/12, 192.0.0.0/24, 192.0.2.0/24, " \
	"192.168.0.0/16, 198.18.0.0/15, 198.51.100.0/24, 203.0.113.0/24, " \
	"224.0.0.0/4, 240.0.0.0/4, ::/128, ::1/128, 64:ff9b:1::/48, " \
	"100::/64, 2001:db8::/32, 3fff::/20, fc00::/7, fe80::/10, " \
	"fec0::/10, ff00::/8"

static const struct key_def keys[] = {
	{ "server", "base_url", K_URL, OFF(base_url), NULL, 0, 0 },
	{ "server", "data_dir", K_PATH, OFF(data_dir), NULL, 0, 0 },
	{ "server", "terms_of_service", K_URL, OFF(terms_of_service), "", 0, 0 },
	{ "server", "website", K_URL, OFF(website), "", 0, 0 },
	{ "server", "caa_identities", K_NAMES, OFF(caa_identities), "", 0, 0 },
	{ "server", "max_body", K_SIZE, OFF(max_body), "65536", 1024, 16777216 },
	{ "server", "log_level", K_LOGLEVEL, OFF(log_level), "info", 0, 0 },
	{ "ca", "key_type", K_KEYTYPE, OFF(key_type), "ec:P-256", 0, 0 },
	{ "ca", "key_file", K_KEYFILE, OFF(key_file), "ca.key", 0, 0 },
	{ "ca", "cert_file", K_KEYFILE, OFF(cert_file), "ca.pem", 0, 0 },
	{ "ca", "common_name", K_STR, OFF(common_name), "Anvil Private CA", 1, 64 },
	{ "ca", "organization", K_STR, OFF(organization), "Anvil", 0, 64 },
	{ "ca", "validity_years", K_UINT, OFF(validity_years), "10", 1, 100 },
	{ "issuance", "validity_days", K_UINT, OFF(validity_days), "90", 1, 3650 },
	{ "issuance", "crl_url", K_URL, OFF(crl_url), "", 0, 0 },
	{ "issuance", "ocsp_url", K_URL, OFF(ocsp_url), "", 0, 0 },
	{ "issuance", "ca_issuers_url", K_URL, OFF(ca_issuers_url), "", 0, 0 },
	{ "issuance", "crl_validity_hours", K_UINT, OFF(crl_validity_hours), "168", 1, 8760 },
	{ "issuance", "crl_dir", K_KEYFILE, OFF(crl_dir), "crl", 0, 0 },
	{ "issuance", "rsa_key_encipherment", K_BOOL, OFF(rsa_key_encipherment), "false", 0, 0 },
	{ "issuance", "default_profile", K_STR, OFF(default_profile), "", 0, PROFILE_NAME_MAX },
	{ "validation", "http_port", K_UINT, OFF(http_port), "80", 1, 65535 },
	{ "validation", "tls_port", K_UINT, OFF(tls_port), "443", 1, 65535 },
	{ "validation", "dns_resolver", K_RESOLVER, OFF(dns_resolver), "", 0, 0 },
	{ "validation", "timeout", K_UINT, OFF(timeout), "10", 1, 300 },
	{ "validation", "validators", K_UINT, OFF(validators), "4", 1, 64 },
	{ "validation", "queue_max", K_UINT, OFF(queue_max), "1000", 1, 100000 },
	{ "validation", "max_wait", K_UINT, OFF(max_wait), "300", 10, 86400 },
	{ "validation", "deny_networks", K_NETS, OFF(deny_networks), DENY_DEFAULT, 0, 0 },
	{ "validation", "allow_networks", K_NETS, OFF(allow_networks), "", 0, 0 },
	{ "validation", "caa_max_age", K_UINT, OFF(caa_max_age), "28800", 0, 2592000 },
	{ "validation", "dns_trust_anchor", K_OPTPATH, OFF(dns_trust_anchor), "", 0, 0 },
	{ "validation", "challenges_dns", K_CHALLS, OFF(challenges_dns), "http-01, dns-01, tls-alpn-01", 0, 0 },
	{ "validation", "challenges_wildcard", K_CHALLS, OFF(challenges_wildcard), "dns-01", 0, 0 },
	{ "validation", "challenges_ip", K_CHALLS, OFF(challenges_ip), "http-01, tls-alpn-01", 0, 0 },
	{ "accounts", "eab_required", K_BOOL, OFF(eab_required), "false", 0, 0 },
	{ "ocsp", "enabled", K_BOOL, OFF(ocsp_enabled), "true", 0, 0 },
	{ "ocsp", "validity_hours", K_UINT, OFF(ocsp_validity_hours), "24", 1, 168 },
	{ "ocsp", "dir", K_KEYFILE, OFF(ocsp_dir), "ocsp", 0, 0 },
	{ "ocsp", "sign_with_ca", K_BOOL, OFF(ocsp_sign_with_ca), "false", 0, 0 },
	{ "ocsp", "responder_key", K_KEYFILE, OFF(ocsp_responder_key), "ocsp.key", 0, 0 },
	{ "ocsp", "responder_cert", K_KEYFILE, OFF(ocsp_responder_cert), "ocsp.pem", 0, 0 },
	{ "ocsp", "responder_validity_days", K_UINT, OFF(ocsp_responder_days), "90", 2, 3650 },
	{ "crl", "shards", K_UINT, OFF(crl_shards), "1", 1, CONFIG_CRL_SHARDS_MAX },
	{ "audit", "destination", K_AUDIT, OFF(audit_to), "file", 0, 0 },
	{ "audit", "file", K_KEYFILE, OFF(audit_file), "audit.log", 0, 0 },
	{ "store", "backend", K_BACKEND, OFF(store_backend), "bdb", 0, 0 },
	{ "store", "conninfo", K_STR, OFF(store_conninfo), "", 0, 1024 },
	{ "store", "connect_timeout", K_UINT, OFF(store_connect_timeout), "5", 1, 60 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

#define POFF(f) offsetof(struct config_profile, f)

/*
 * The keys of a [profile NAME] section. validity and key_usage have no
 * default here: left out, they follow [issuance] validity_days and
 * rsa_key_encipherment (inherit_issuance), so that the built-in "classic"
 * profile is exactly what [issuance] alone describes.
 */
static const struct key_def pkeys[] = {
	{ "profile", "description", K_STR, POFF(description), "", 0, 200 },
	{ "profile", "validity", K_VALIDITY, POFF(validity_hours), NULL, 1, 3650 * 24 },
	{ "profile", "key_usage", K_KU, POFF(key_usage), NULL, 0, 0 },
	{ "profile", "extended_key_usage", K_EKU, POFF(eku), "serverAuth", 0, 0 },
	{ "profile", "subject_cn", K_BOOL, POFF(subject_cn), "true", 0, 0 },
	{ "profile", "identifier_types", K_IDTYPES, POFF(ident_types), "dns, ip", 0, 0 },
	{ "profile", "max_identifiers", K_UINT, POFF(max_identifiers), "100", 1, 100 },
	{ "profile", "challenges_dns", K_CHALLS, POFF(challenges_dns), NULL, 0, 0 },
	{ "profile", "challenges_wildcard", K_CHALLS, POFF(challenges_wildcard), NULL, 0, 0 },
	{ "profile", "challenges_ip", K_CHALLS, POFF(challenges_ip), NULL, 0, 0 },
};
#define NPKEYS (sizeof(pkeys) / sizeof(pkeys[0]))

static const char *const sections[] = { "server", "ca", "issuance",
	"validation", "accounts", "ocsp", "crl", "audit", "store" };

const char *
config_default_path(void)
{
	return ANVIL_SYSCONFDIR "/anvil/anvil.conf";
}

static void
names_free(struct config_strs *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
config_free(struct anvil_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		switch (keys[i].kind) {
		case K_UINT:
		case K_SIZE:
		case K_BOOL:
		case K_VALIDITY:
		case K_EKU:
		case K_KU:
		case K_IDTYPES:
		case K_CHALLS:
		case K_AUDIT:
			break;
		case K_NETS:
			free(((struct config_nets *)((char *)cfg +
			    keys[i].offset))->v);
			break;
		case K_NAMES:
			names_free((struct config_strs *)((char *)cfg +
			    keys[i].offset));
			break;
		default:
			free(*(char **)((char *)cfg + keys[i].offset));
		}
	}
	for (i = 0; i < cfg->profiles.n; i++) {
		free(cfg->profiles.v[i].name);
		free(cfg->profiles.v[i].description);
	}
	free(cfg->profiles.v);
	free(cfg->path);
	free(cfg);
}

/* Parses one CIDR "addr/len" (or a bare address) into n. */
static int
parse_cidr(const char *s, struct config_net *n)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long plen;
	char *end;
	unsigned i, bits;

	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		bits = 128;
	} else
		return -1;
	if (slash == NULL)
		plen = bits;
	else {
		if (!isdigit((unsigned char)slash[1]))
			return -1;
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || plen > bits)
			return -1;
	}
	n->prefix = (unsigned)plen;
	/* Host bits must be zero: "10.0.0.1/8" is a typo more often than not. */
	for (i = n->prefix; i < bits; i++)
		if (n->addr[i / 8] & (0x80 >> (i % 8)))
			return -1;
	return 0;
}

static int
prefix_match(const unsigned char *a, const unsigned char *net, unsigned plen)
{
	unsigned full = plen / 8, rest = plen % 8;

	if (memcmp(a, net, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ net[full]) & (0xff << (8 - rest))) == 0;
}

/* 1 if family/addr falls inside one of nets. */
static int
nets_match(const struct config_nets *nets, int family,
    const unsigned char *addr)
{
	size_t i;

	for (i = 0; i < nets->n; i++) {
		const struct config_net *n = &nets->v[i];

		if (n->family == family && prefix_match(addr, n->addr,
		    n->prefix))
			return 1;
	}
	return 0;
}

int
config_net_denied(const struct anvil_config *cfg, int family,
    const unsigned char *addr)
{
	/* ::ffff:0:0/96 (IPv4-mapped) and ::/96 (IPv4-compatible, RFC 4291
	 * 2.5.5) reach the IPv4 address in their last four bytes: the same
	 * host. 64:ff9b::/96 (RFC 6052 2.1) reaches it through a NAT64
	 * gateway: another host's view, so it may be denied through its IPv4
	 * address but not allowed through it. */
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };
	static const unsigned char compat[12] = { 0 };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	const unsigned char *v4 = NULL, *via = NULL;

	if (family == AF_INET6 && (memcmp(addr, mapped, 12) == 0 ||
	    memcmp(addr, compat, 12) == 0))
		v4 = addr + 12;
	else if (family == AF_INET6 && memcmp(addr, nat64, 12) == 0)
		via = addr + 12;
	if (nets_match(&cfg->allow_networks, family, addr) ||
	    (v4 != NULL && nets_match(&cfg->allow_networks, AF_INET, v4)))
		return 0;
	return nets_match(&cfg->deny_networks, family, addr) ||
	    (v4 != NULL && nets_match(&cfg->deny_networks, AF_INET, v4)) ||
	    (via != NULL && nets_match(&cfg->deny_networks, AF_INET, via));
}

static int
has_ctl_or_space(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* The field of cfg that def's value goes into. */
#define FIELD(cfg, def, type) ((type *)((char *)(cfg) + (def)->offset))

/*
 * Each kind of key has one setter: it checks value against def's row,
 * stores it in cfg and returns 0, or writes why (naming the key) and
 * returns -1 with cfg unchanged.
 */
typedef int key_setter(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen);

/* Stores a copy of value as def's string, replacing the one there. */
static int
keep_string(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	char *copy;

	if ((copy = strdup(value)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	free(*FIELD(cfg, def, char *));
	*FIELD(cfg, def, char *) = copy;
	return 0;
}

/* A whole number within def's bounds into *v. */
static int
parse_number(const struct key_def *def, const char *value, unsigned long *v,
    char *why, size_t whylen)
{
	char *end;

	if (!isdigit((unsigned char)value[0]))
		goto notnum;
	errno = 0;
	*v = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0')
		goto notnum;
	if (*v < def->min || *v > def->max) {
		snprintf(why, whylen, "%s must be between %lu and %lu, not %s",
		    def->name, def->min, def->max, value);
		return -1;
	}
	return 0;
notnum:
	snprintf(why, whylen, "%s must be a whole number, not \"%s\"",
	    def->name, value);
	return -1;
}

static int
set_uint(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	unsigned long v;

	if (parse_number(def, value, &v, why, whylen) != 0)
		return -1;
	*FIELD(cfg, def, unsigned) = (unsigned)v;
	return 0;
}

static int
set_size(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	unsigned long v;

	if (parse_number(def, value, &v, why, whylen) != 0)
		return -1;
	*FIELD(cfg, def, size_t) = (size_t)v;
	return 0;
}

static int
set_bool(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
	    strcmp(value, "1") == 0)
		*FIELD(cfg, def, bool) = true;
	else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
	    strcmp(value, "0") == 0)
		*FIELD(cfg, def, bool) = false;
	else {
		snprintf(why, whylen, "%s must be true or false, not \"%s\"",
		    def->name, value);
		return -1;
	}
	return 0;
}

/* A list of networks separated by commas or blanks; may be empty. */
static int
set_nets(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	struct config_nets *list = FIELD(cfg, def, struct config_nets);
	struct config_net *nets = NULL, *t;
	char *copy = NULL, *tok, *save = NULL;
	size_t n = 0;
	int ret = -1;

	if ((copy = strdup(value)) == NULL)
		goto nomem;
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		if ((t = realloc(nets, (n + 1) * sizeof(*nets))) == NULL)
			goto nomem;
		nets = t;
		if (parse_cidr(tok, &nets[n]) != 0) {
			snprintf(why, whylen, "%s: \"%s\" is not a network "
			    "(address/prefix, host bits zero)", def->name, tok);
			goto out;
		}
		n++;
	}
	free(list->v);
	list->v = nets;
	list->n = n;
	nets = NULL;
	ret = 0;
	goto out;
nomem:
	snprintf(why, whylen, "out of memory");
out:
	free(nets);
	free(copy);
	return ret;
}

static int
set_url(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	char *s;
	size_t n;

	if (value[0] != '\0' && ((strncmp(value, "https://", 8) != 0 &&
	    strncmp(value, "http://", 7) != 0) || has_ctl_or_space(value) ||
	    strchr(value, '#') || strchr(value, '?') || strlen(value) > 1024 ||
	    value[strcspn(value, ":") + 3] == '\0' ||
	    value[strcspn(value, ":") + 3] == '/')) {
		snprintf(why, whylen, "%s must be an http:// or https:// URL "
		    "with a host, no query or fragment, not \"%s\"", def->name,
		    value);
		return -1;
	}
	if (keep_string(cfg, def, value, why, whylen) != 0)
		return -1;
	/* base_url: no trailing slash (URLs are built by appending). */
	s = *FIELD(cfg, def, char *);
	while (def->offset == OFF(base_url) && (n = strlen(s)) > 8 &&
	    s[n - 1] == '/')
		s[n - 1] = '\0';
	return 0;
}

static int
set_path(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	if (value[0] != '/' || strlen(value) > 1024) {
		snprintf(why, whylen, "%s must be an absolute path, not \"%s\"",
		    def->name, value);
		return -1;
	}
	return keep_string(cfg, def, value, why, whylen);
}

/* Empty, or an absolute path. */
static int
set_optpath(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	if (value[0] == '\0')
		return keep_string(cfg, def, value, why, whylen);
	return set_path(cfg, def, value, why, whylen);
}

/* A file under data_dir; key_file may also be a pkcs11: URL. */
static int
set_keyfile(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	if (value[0] == '\0' || strlen(value) > 2048) {
		snprintf(why, whylen, "%s must be a file name%s", def->name,
		    def->offset == OFF(key_file) ||
		    def->offset == OFF(ocsp_responder_key) ?
		    " or a pkcs11: URL" : "");
		return -1;
	}
	if (strncmp(value, "pkcs11:", 7) == 0 && def->offset != OFF(key_file) &&
	    def->offset != OFF(ocsp_responder_key)) {
		/* cert_file, crl_dir, [ocsp] dir and responder_cert */
		snprintf(why, whylen, "%s cannot be a pkcs11: URL", def->name);
		return -1;
	}
	return keep_string(cfg, def, value, why, whylen);
}

static int
set_keytype(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	enum keytype kt;

	if (keytype_parse(value, &kt) != ANVIL_OK) {
		snprintf(why, whylen, "%s \"%s\" is not one of: %s", def->name,
		    value, keytype_accepted());
		return -1;
	}
	return keep_string(cfg, def, value, why, whylen);
}

/* Where security events go (src/core/audit.c). */
static int
set_audit(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	static const struct {
		const char *name;
		unsigned to;
	} dest[] = { { "file", CONFIG_AUDIT_FILE },
		{ "syslog", CONFIG_AUDIT_SYSLOG },
		{ "both", CONFIG_AUDIT_FILE | CONFIG_AUDIT_SYSLOG },
		{ "none", 0 } };
	size_t i;

	for (i = 0; i < sizeof(dest) / sizeof(dest[0]); i++)
		if (strcmp(value, dest[i].name) == 0) {
			*FIELD(cfg, def, unsigned) = dest[i].to;
			return 0;
		}
	snprintf(why, whylen, "%s must be file, syslog, both or none, not "
	    "\"%s\"", def->name, value);
	return -1;
}

/* Where the records are kept (src/store/store.h, STORE_BACKEND_*). */
static int
set_backend(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	if (strcmp(value, "bdb") != 0 && strcmp(value, "postgresql") != 0) {
		snprintf(why, whylen, "%s must be bdb or postgresql, not "
		    "\"%.40s\"", def->name, value);
		return -1;
	}
	return keep_string(cfg, def, value, why, whylen);
}

static int
set_loglevel(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	if (log_level_parse(value) < 0) {
		snprintf(why, whylen, "%s must be err, warn, info or debug, not "
		    "\"%s\"", def->name, value);
		return -1;
	}
	return keep_string(cfg, def, value, why, whylen);
}

/* 1 if value is "address" or "address@port" (empty is fine too). */
static int
resolver_ok(const char *value)
{
	const char *at = strchr(value, '@');
	unsigned char a[16];
	unsigned long port;
	char host[64], *end;
	size_t hl;

	if (value[0] == '\0')
		return 1;
	hl = at ? (size_t)(at - value) : strlen(value);
	if (hl == 0 || hl >= sizeof(host))
		return 0;
	memcpy(host, value, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, a) != 1 &&
	    inet_pton(AF_INET6, host, a) != 1)
		return 0;
	if (at == NULL)
		return 1;
	if (!isdigit((unsigned char)at[1]))
		return 0;
	errno = 0;
	port = strtoul(at + 1, &end, 10);
	return !(errno || *end || port < 1 || port > 65535);
}

static int
set_resolver(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	if (!resolver_ok(value)) {
		snprintf(why, whylen, "%s must be an IP address, optionally "
		    "@port (e.g. 127.0.0.1@5353), not \"%s\"", def->name, value);
		return -1;
	}
	return keep_string(cfg, def, value, why, whylen);
}

/* Free text of def's min to max characters, no control characters. */
static int
set_str(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	const char *p;

	if (strlen(value) < def->min || strlen(value) > def->max) {
		snprintf(why, whylen, "%s must be %lu to %lu characters",
		    def->name, def->min, def->max);
		return -1;
	}
	for (p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, whylen, "%s holds a control character",
			    def->name);
			return -1;
		}
	return keep_string(cfg, def, value, why, whylen);
}

/*
 * A list of host names separated by commas or blanks; may be empty. Used
 * for caa_identities: RFC 8555 §7.1.1 advertises there the domain names a
 * CAA "issue" property names this CA by (RFC 8659 §4.2), so each must be
 * a lower-case DNS name.
 */
static int
set_names(void *cfg, const struct key_def *def, const char *value, char *why,
    size_t whylen)
{
	struct config_strs *list = FIELD(cfg, def, struct config_strs);
	struct config_strs got = { NULL, 0 };
	char *copy = NULL, *tok, *save = NULL, **t;
	const char *p;
	int ret = -1;

	if ((copy = strdup(value)) == NULL)
		goto nomem;
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		for (p = tok; *p; p++)
			if (!(islower((unsigned char)*p) ||
			    isdigit((unsigned char)*p) || *p == '-' ||
			    *p == '.'))
				break;
		if (*p != '\0' || strlen(tok) > 253 || tok[0] == '.' ||
		    tok[0] == '-') {
			snprintf(why, whylen, "%s: \"%.80s\" is not a lower-case "
			    "domain name", def->name, tok);
			goto out;
		}
		if ((t = realloc(got.v, (got.n + 1) * sizeof(*t))) == NULL)
			goto nomem;
		got.v = t;
		if ((got.v[got.n] = strdup(tok)) == NULL)
			goto nomem;
		got.n++;
	}
	names_free(list);
	*list = got;
	got.v = NULL;
	got.n = 0;
	ret = 0;
	goto out;
nomem:
	snprintf(why, whylen, "out of memory");
out:
	names_free(&got);
	free(copy);
	return ret;
}

/* A certificate lifetime: "90d" (days), "160h" (hours) or "90" (days),
 * stored in hours within def's bounds (in hours). */
static int
set_validity(void *cfg, const struct key_def *def, const char *value,
    char *why, size_t whylen)
{
	unsigned long v, mult = 24;
	char *end;

	if (!isdigit((unsigned char)value[0]))
		goto bad;
	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno != 0 || v > 1000000)
		goto bad;
	if (*end == 'h')
		mult = 1, end++;
	else if (*end == 'd')
		end++;
	if (*end != '\0')
		goto bad;
	v *= mult;
	if (v < def->min || v > def->max) {
		snprintf(why, whylen, "%s must be between 1h and %lud, not %s",
		    def->name, def->max / 24, value);
		return -1;
	}
	*FIELD(cfg, def, unsigned) = (unsigned)v;
	return 0;
bad:
	snprintf(why, whylen, "%s must be days (\"90d\" or \"90\") or hours "
	    "(\"160h\"), not \"%.80s\"", def->name, value);
	return -1;
}

struct word_bit {
	const char *word;
	unsigned bit;
};

/* A non-empty list of words of table (commas or blanks between) into the
 * OR of their bits. */
static int
set_words(void *cfg, const struct key_def *def, const char *value,
    const struct word_bit *table, size_t n, const char *known, char *why,
    size_t whylen)
{
	char *copy, *tok, *save = NULL;
	unsigned bits = 0;
	size_t i;

	if ((copy = strdup(value)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		for (i = 0; i < n; i++)
			if (strcmp(tok, table[i].word) == 0)
				break;
		if (i == n) {
			snprintf(why, whylen, "%s: \"%.80s\" is not one of: %s",
			    def->name, tok, known);
			free(copy);
			return -1;
		}
		bits |= table[i].bit;
	}
	free(copy);
	if (bits == 0) {
		snprintf(why, whylen, "%s needs at least one of: %s",
		    def->name, known);
		return -1;
	}
	*FIELD(cfg, def, unsigned) = bits;
	return 0;
}

/* Challenge types offered (RFC 8555 §8, RFC 8737,
 * draft-ietf-acme-dns-account-label, draft-ietf-acme-dns-persist). */
static int
set_challs(void *cfg, const struct key_def *def, const char *value,
    char *why, size_t whylen)
{
	static const struct word_bit t[] = {
		{ "http-01", CONFIG_CHALL_HTTP01 },
		{ "dns-01", CONFIG_CHALL_DNS01 },
		{ "tls-alpn-01", CONFIG_CHALL_TLSALPN01 },
		{ "dns-account-01", CONFIG_CHALL_DNSACCOUNT01 },
		{ "dns-persist-01", CONFIG_CHALL_DNSPERSIST01 },
	};

	unsigned bits;

	if (set_words(cfg, def, value, t, sizeof(t) / sizeof(t[0]),
	    "http-01, dns-01, tls-alpn-01, dns-account-01, dns-persist-01",
	    why, whylen) != 0)
		return -1;
	bits = *FIELD(cfg, def, unsigned);
	/* RFC 8738 §7: an ip identifier has no DNS record to look at. */
	if (strcmp(def->name, "challenges_ip") == 0 && (bits & ~(CONFIG_CHALL_HTTP01 |
	    CONFIG_CHALL_TLSALPN01))) {
		snprintf(why, whylen, "%s: only http-01 and tls-alpn-01 can "
		    "validate an ip identifier", def->name);
		return -1;
	}
	/* RFC 8555 §8.3, RFC 8737 §3: a wildcard is proved in DNS only. */
	if (strcmp(def->name, "challenges_wildcard") == 0 && (bits &
	    (CONFIG_CHALL_HTTP01 | CONFIG_CHALL_TLSALPN01))) {
		snprintf(why, whylen, "%s: only dns-01, dns-account-01 and "
		    "dns-persist-01 can validate a wildcard", def->name);
		return -1;
	}
	return 0;
}

static int
set_eku(void *cfg, const struct key_def *def, const char *value, char *why,
    size_t whylen)
{
	static const struct word_bit t[] = {
		{ "serverAuth", CONFIG_EKU_SERVER },
		{ "clientAuth", CONFIG_EKU_CLIENT },
	};

	return set_words(cfg, def, value, t, 2, "serverAuth, clientAuth", why,
	    whylen);
}

/* digitalSignature is required: every leaf key signs (TLS 1.3, ECDHE);
 * keyEncipherment is added for RSA keys only. */
static int
set_ku(void *cfg, const struct key_def *def, const char *value, char *why,
    size_t whylen)
{
	static const struct word_bit t[] = {
		{ "digitalSignature", CONFIG_KU_DIGITAL_SIGNATURE },
		{ "keyEncipherment", CONFIG_KU_KEY_ENCIPHERMENT },
	};

	if (set_words(cfg, def, value, t, 2, "digitalSignature, "
	    "keyEncipherment", why, whylen) != 0)
		return -1;
	if (!(*FIELD(cfg, def, unsigned) & CONFIG_KU_DIGITAL_SIGNATURE)) {
		snprintf(why, whylen, "%s must include digitalSignature",
		    def->name);
		return -1;
	}
	return 0;
}

static int
set_idtypes(void *cfg, const struct key_def *def, const char *value,
    char *why, size_t whylen)
{
	static const struct word_bit t[] = {
		{ "dns", CONFIG_IDENT_DNS },
		{ "ip", CONFIG_IDENT_IP },
	};

	return set_words(cfg, def, value, t, 2, "dns, ip", why, whylen);
}

/* The setter of each kind of key. */
static key_setter *const setters[] = {
	[K_STR] = set_str,
	[K_URL] = set_url,
	[K_PATH] = set_path,
	[K_UINT] = set_uint,
	[K_SIZE] = set_size,
	[K_BOOL] = set_bool,
	[K_KEYTYPE] = set_keytype,
	[K_LOGLEVEL] = set_loglevel,
	[K_RESOLVER] = set_resolver,
	[K_NETS] = set_nets,
	[K_KEYFILE] = set_keyfile,
	[K_NAMES] = set_names,
	[K_VALIDITY] = set_validity,
	[K_EKU] = set_eku,
	[K_KU] = set_ku,
	[K_IDTYPES] = set_idtypes,
	[K_OPTPATH] = set_optpath,
	[K_CHALLS] = set_challs,
	[K_AUDIT] = set_audit,
	[K_BACKEND] = set_backend,
};
_Static_assert(sizeof(setters) / sizeof(setters[0]) == K_BACKEND + 1,
    "every kind of key has a setter");

/* Checks value against def and stores it in cfg. Writes why into why. */
static int
set_value(void *cfg, const struct key_def *def,
    const char *value, char *why, size_t whylen)
{
	return setters[def->kind](cfg, def, value, why, whylen);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Removes a comment: ';' or '#' at the start or after blank space. */
static void
strip_comment(char *s)
{
	char *p;

	for (p = s; *p; p++)
		if ((*p == ';' || *p == '#') &&
		    (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
}

static const struct key_def *
find_key(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static const struct key_def *
find_pkey(const char *name)
{
	size_t i;

	for (i = 0; i < NPKEYS; i++)
		if (strcmp(pkeys[i].name, name) == 0)
			return &pkeys[i];
	return NULL;
}

const struct config_profile *
config_profile_find(const struct anvil_config *cfg, const char *name)
{
	size_t i;

	if (name == NULL)
		name = cfg->default_profile;
	for (i = 0; name != NULL && i < cfg->profiles.n; i++)
		if (strcmp(cfg->profiles.v[i].name, name) == 0)
			return &cfg->profiles.v[i];
	return NULL;
}

/*
 * Appends a profile called name with the defaults of pkeys. Names are what
 * a client sends in newOrder and reads in meta.profiles: short, and no
 * character that a shell client's pattern would trip on.
 */
static int
profile_add(struct anvil_config *cfg, const char *name, char *why,
    size_t whylen)
{
	struct config_profile *t, *p;
	const char *c;
	size_t i;

	for (c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' &&
		    *c != '.')
			break;
	if (name[0] == '\0' || *c != '\0' || strlen(name) > PROFILE_NAME_MAX) {
		snprintf(why, whylen, "[profile NAME]: the name must be 1 to %d "
		    "letters, digits, '.', '-' or '_', not \"%.40s\"",
		    PROFILE_NAME_MAX, name);
		return -1;
	}
	if (config_profile_find(cfg, name) != NULL) {
		snprintf(why, whylen, "[profile %s] defined twice", name);
		return -1;
	}
	if (cfg->profiles.n >= PROFILES_MAX) {
		snprintf(why, whylen, "more than %d profiles", PROFILES_MAX);
		return -1;
	}
	if ((t = realloc(cfg->profiles.v, (cfg->profiles.n + 1) *
	    sizeof(*t))) == NULL)
		goto nomem;
	cfg->profiles.v = t;
	p = &t[cfg->profiles.n];
	memset(p, 0, sizeof(*p));
	if ((p->name = strdup(name)) == NULL)
		goto nomem;
	cfg->profiles.n++;
	for (i = 0; i < NPKEYS; i++)
		if (pkeys[i].def != NULL && set_value(p, &pkeys[i],
		    pkeys[i].def, why, whylen) != 0)
			return -1;
	return 0;
nomem:
	snprintf(why, whylen, "out of memory");
	return -1;
}

/*
 * The profiles offered when the file has no [profile NAME] section, with
 * the names clients of draft-ietf-acme-profiles already ask for: "classic" is
 * what Anvil issued before profiles existed, "tlsserver" drops the subject
 * CN (the SAN alone names the server), "shortlived" lasts a week, short
 * enough for a relying party to do without revocation checking.
 */
static int
builtin_profiles(struct anvil_config *cfg, char *why, size_t whylen)
{
	static const struct {
		const char *name;
		const char *key;
		const char *value;
	} rows[] = {
		{ "classic", "description", "TLS server certificate with a "
		    "subject common name (the default)" },
		{ "tlsserver", "description", "TLS server certificate: "
		    "serverAuth only, no subject common name" },
		{ "tlsserver", "subject_cn", "false" },
		{ "shortlived", "description", "TLS server certificate valid "
		    "for 7 days, for use without revocation checking" },
		{ "shortlived", "subject_cn", "false" },
		{ "shortlived", "validity", "7d" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct config_profile *p = config_profile_find(cfg,
		    rows[i].name);

		if (p == NULL && profile_add(cfg, rows[i].name, why,
		    whylen) != 0)
			return -1;
		p = config_profile_find(cfg, rows[i].name);
		if (set_value((void *)p, find_pkey(rows[i].key), rows[i].value,
		    why, whylen) != 0)
			return -1;
	}
	return 0;
}

/* Profile keys left out follow [issuance]. */
static void
inherit_issuance(struct anvil_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->profiles.n; i++) {
		struct config_profile *p = &cfg->profiles.v[i];

		if (p->validity_hours == 0)
			p->validity_hours = cfg->validity_days * 24;
		if (p->key_usage == 0)
			p->key_usage = CONFIG_KU_DIGITAL_SIGNATURE |
			    (cfg->rsa_key_encipherment ?
			    CONFIG_KU_KEY_ENCIPHERMENT : 0);
		/* Challenge types a profile leaves out: [validation]'s. */
		if (p->challenges_dns == 0)
			p->challenges_dns = cfg->challenges_dns;
		if (p->challenges_wildcard == 0)
			p->challenges_wildcard = cfg->challenges_wildcard;
		if (p->challenges_ip == 0)
			p->challenges_ip = cfg->challenges_ip;
	}
}

anvil_err
config_parse(const char *name, const char *text, size_t len,
    struct anvil_config **out, char *err, size_t errlen)
{
	struct anvil_config *cfg = NULL;
	anvil_err rc = ANVIL_ERR_CONFIG;
	unsigned char seen[NKEYS], pseen[NPKEYS];
	char section[48] = "";
	long prof = -1;		/* index of the [profile NAME] being read */
	unsigned default_line = 0, persist_line = 0, shards_line = 0;
	unsigned backend_line = 0;
	char line[CONFIG_MAX_LINE + 2];
	char why[512];
	size_t pos = 0, i;
	unsigned lineno = 0;

	*out = NULL;
	memset(seen, 0, sizeof(seen));
	if (memchr(text, '\0', len) != NULL)
		return errf(err, errlen, ANVIL_ERR_CONFIG,
		    "%s:1: file holds a NUL byte", name);
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(name)) == NULL) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < NKEYS; i++)
		if (keys[i].def != NULL && set_value(cfg, &keys[i],
		    keys[i].def, why, sizeof(why)) != 0) {
			rc = errf(err, errlen, ANVIL_ERR_NOMEM, "%s", why);
			goto out;
		}

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s, *eq, *k, *v;
		const struct key_def *def;

		lineno++;
		if (ll > CONFIG_MAX_LINE) {
			errf(err, errlen, rc, "%s:%u: line longer than %d "
			    "bytes", name, lineno, CONFIG_MAX_LINE);
			goto out;
		}
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		pos += ll + (nl ? 1 : 0);

		strip_comment(line);
		s = trim(line);
		if (*s == '\0')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (close == NULL || close[1] != '\0') {
				errf(err, errlen, rc, "%s:%u: malformed section "
				    "header", name, lineno);
				goto out;
			}
			*close = '\0';
			s = trim(s + 1);
			prof = -1;
			if (strncmp(s, "profile", 7) == 0 && (s[7] == '\0' ||
			    s[7] == ' ' || s[7] == '\t')) {
				char *pn = trim(s + 7);
				if (profile_add(cfg, pn, why, sizeof(why)) != 0) {
					errf(err, errlen, rc, "%s:%u: %s", name,
					    lineno, why);
					goto out;
				}
				prof = (long)cfg->profiles.n - 1;
				memset(pseen, 0, sizeof(pseen));
				snprintf(section, sizeof(section), "profile %s",
				    pn);
				continue;
			}
			for (i = 0; i < sizeof(sections) / sizeof(*sections);
			    i++)
				if (strcmp(s, sections[i]) == 0)
					break;
			if (i == sizeof(sections) / sizeof(*sections)) {
				errf(err, errlen, rc, "%s:%u: unknown section "
				    "[%.40s] (known: server, ca, issuance, "
				    "validation, accounts, profile NAME)", name, lineno, s);
				goto out;
			}
			snprintf(section, sizeof(section), "%s", s);
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			errf(err, errlen, rc, "%s:%u: expected key = value",
			    name, lineno);
			goto out;
		}
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (section[0] == '\0') {
			errf(err, errlen, rc, "%s:%u: key \"%.40s\" before any "
			    "[section]", name, lineno, k);
			goto out;
		}
		if (prof >= 0) {
			if ((def = find_pkey(k)) == NULL) {
				errf(err, errlen, rc, "%s:%u: unknown key "
				    "\"%.40s\" in [%s] (known: description, "
				    "validity, key_usage, extended_key_usage, "
				    "subject_cn, identifier_types, "
				    "max_identifiers, challenges_dns, "
				    "challenges_wildcard, challenges_ip)", name,
				    lineno, k,
				    section);
				goto out;
			}
			if (pseen[def - pkeys]) {
				errf(err, errlen, rc, "%s:%u: [%s] %s set "
				    "twice", name, lineno, section, k);
				goto out;
			}
			pseen[def - pkeys] = 1;
			if (set_value(&cfg->profiles.v[prof], def, v, why,
			    sizeof(why)) != 0) {
				errf(err, errlen, rc, "%s:%u: [%s] %s", name,
				    lineno, section, why);
				goto out;
			}
			if (def->kind == K_CHALLS && (*FIELD(
			    &cfg->profiles.v[prof], def, unsigned) &
			    CONFIG_CHALL_DNSPERSIST01))
				persist_line = lineno;
			continue;
		}
		if ((def = find_key(section, k)) == NULL) {
			errf(err, errlen, rc, "%s:%u: unknown key \"%.40s\" in "
			    "[%s]", name, lineno, k, section);
			goto out;
		}
		if (seen[def - keys]) {
			errf(err, errlen, rc, "%s:%u: [%s] %s set twice", name,
			    lineno, section, k);
			goto out;
		}
		seen[def - keys] = 1;
		if (def->offset == OFF(default_profile))
			default_line = lineno;
		if (def->offset == OFF(crl_shards))
			shards_line = lineno;
		if (def->offset == OFF(store_backend))
			backend_line = lineno;
		if (set_value(cfg, def, v, why, sizeof(why)) != 0) {
			errf(err, errlen, rc, "%s:%u: [%s] %s", name, lineno,
			    section, why);
			goto out;
		}
		if (def->kind == K_CHALLS && (*FIELD(cfg, def, unsigned) &
		    CONFIG_CHALL_DNSPERSIST01))
			persist_line = lineno;
	}
	/* draft-ietf-acme-dns-persist: the issuer domain names a record
	 * must give are caa_identities; without them nothing validates. */
	if (persist_line != 0 && cfg->caa_identities.n == 0) {
		errf(err, errlen, rc, "%s:%u: [validation] dns-persist-01 "
		    "needs [server] caa_identities (its issuer domain names)",
		    name, persist_line);
		goto out;
	}

	/* A shard is named by its URL beside crl_url (util_crl_name): no
	 * crl_url, nothing for a certificate to point at. */
	if (cfg->crl_shards > 1 && cfg->crl_url[0] == '\0') {
		errf(err, errlen, rc, "%s:%u: [crl] shards = %u needs "
		    "[issuance] crl_url (the shards are served beside it)",
		    name, shards_line, cfg->crl_shards);
		goto out;
	}

	if (strcmp(cfg->store_backend, "postgresql") == 0 &&
	    cfg->store_conninfo[0] == '\0') {
		errf(err, errlen, rc, "%s:%u: [store] backend postgresql needs "
		    "conninfo (a libpq connection string)", name, backend_line);
		goto out;
	}

	for (i = 0; i < NKEYS; i++)
		if (keys[i].def == NULL && !seen[i]) {
			errf(err, errlen, rc, "%s:%u: [%s] %s is required",
			    name, lineno, keys[i].section, keys[i].name);
			goto out;
		}
	if (cfg->profiles.n == 0 && builtin_profiles(cfg, why,
	    sizeof(why)) != 0) {
		rc = errf(err, errlen, ANVIL_ERR_NOMEM, "%s", why);
		goto out;
	}
	inherit_issuance(cfg);
	if (cfg->default_profile[0] == '\0') {
		char *p = strdup(cfg->profiles.v[0].name);
		if (p == NULL)
			goto nomem;
		free(cfg->default_profile);
		cfg->default_profile = p;
	} else if (config_profile_find(cfg, NULL) == NULL) {
		char known[256] = "";
		size_t kl = 0;
		for (i = 0; i < cfg->profiles.n && kl < sizeof(known); i++)
			kl += (size_t)snprintf(known + kl, sizeof(known) - kl,
			    "%s%s", i ? ", " : "", cfg->profiles.v[i].name);
		errf(err, errlen, rc, "%s:%u: [issuance] default_profile "
		    "\"%s\" names no profile (known: %s)", name,
		    default_line, cfg->default_profile, known);
		goto out;
	}
	/* Relative CA files live under data_dir. */
	if (strncmp(cfg->key_file, "pkcs11:", 7) != 0) {
		char *p = util_path_join(cfg->data_dir, cfg->key_file);
		if (p == NULL)
			goto nomem;
		free(cfg->key_file);
		cfg->key_file = p;
	}
	{
		char *p = util_path_join(cfg->data_dir, cfg->cert_file);
		if (p == NULL)
			goto nomem;
		free(cfg->cert_file);
		cfg->cert_file = p;
		if ((p = util_path_join(cfg->data_dir, cfg->crl_dir)) == NULL)
			goto nomem;
		free(cfg->crl_dir);
		cfg->crl_dir = p;
		if ((p = util_path_join(cfg->data_dir, cfg->audit_file)) ==
		    NULL)
			goto nomem;
		free(cfg->audit_file);
		cfg->audit_file = p;
	}
	{
		char **const rel[] = { &cfg->ocsp_dir, &cfg->ocsp_responder_key,
			&cfg->ocsp_responder_cert };
		size_t r;
		for (r = 0; r < sizeof(rel) / sizeof(rel[0]); r++) {
			char *p;
			if (strncmp(*rel[r], "pkcs11:", 7) == 0)
				continue;
			if ((p = util_path_join(cfg->data_dir, *rel[r])) == NULL)
				goto nomem;
			free(*rel[r]);
			*rel[r] = p;
		}
	}
	*out = cfg;
	cfg = NULL;
	rc = ANVIL_OK;
	goto out;
nomem:
	rc = errf(err, errlen, ANVIL_ERR_NOMEM, "out of memory");
out:
	config_free(cfg);
	return rc;
}

anvil_err
config_load(const char *path, struct anvil_config **out, char *err,
    size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	anvil_err rc;

	*out = NULL;
	if (path == NULL || *path == '\0')
		path = getenv("ANVIL_CONFIG");
	if (path == NULL || *path == '\0')
		path = config_default_path();
	rc = util_read_file(path, CONFIG_MAX_FILE, &text, &len, err, errlen);
	if (rc != ANVIL_OK) {
		/* util_read_file names the file; make it look like file:line. */
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "%s", err ? err : "");
		if (rc == ANVIL_ERR_NOTFOUND)
			errf(err, errlen, rc, "%s:0: cannot read config: no "
			    "such file", path);
		else
			errf(err, errlen, rc, "%s:0: cannot read config (%s)",
			    path, tmp);
		return rc;
	}
	rc = config_parse(path, text, len, out, err, errlen);
	free(text);
	return rc;
}
