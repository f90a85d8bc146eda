/*
 * conf.h - the INI configuration file, parsed once into an immutable
 * structure that is passed down explicitly.
 *
 * Sections and keys are those of anvil.conf(5) (etc/anvil.conf.sample
 * documents every one). Every key has a default except server.base_url and
 * server.data_dir. Unknown sections or keys, bad values, duplicates and a
 * missing file are refused with "file:line: what is wrong".
 */
#ifndef ANVIL_CORE_CONF_H
#define ANVIL_CORE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* One network of validation.deny_networks or allow_networks. */
struct config_net {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network address, 4 or 16 bytes used */
	unsigned prefix;	/* prefix length in bits */
};

/* A list of networks, in the order written. */
struct config_nets {
	struct config_net *v;
	size_t n;
};

/* A list of strings, in the order written. */
struct config_strs {
	char **v;
	size_t n;
};

/* Extended key usages a profile may put in a certificate. */
#define CONFIG_EKU_SERVER 0x1	/* serverAuth */
#define CONFIG_EKU_CLIENT 0x2	/* clientAuth */

/* Key usages a profile may put in a certificate. */
#define CONFIG_KU_DIGITAL_SIGNATURE 0x1
#define CONFIG_KU_KEY_ENCIPHERMENT 0x2	/* RSA leaf keys only */

/* Identifier types a profile accepts. */
#define CONFIG_IDENT_DNS 0x1
#define CONFIG_IDENT_IP 0x2

/* Challenge types (validation.challenges_*). */
#define CONFIG_CHALL_HTTP01 0x1
#define CONFIG_CHALL_DNS01 0x2
#define CONFIG_CHALL_TLSALPN01 0x4
#define CONFIG_CHALL_DNSACCOUNT01 0x8
#define CONFIG_CHALL_DNSPERSIST01 0x10

/*
 * One certificate profile (draft-ietf-acme-profiles): a [profile NAME]
 * section, or one of the built-in profiles when the file has none. Every
 * member is set once parsing has succeeded; keys a section leaves out take
 * their value from [issuance] (validity_days, rsa_key_encipherment),
 * [validation] (challenges_*) or the defaults of anvil.conf(5).
 */
struct config_profile {
	char *name;
	char *description;
	unsigned validity_hours;	/* certificate lifetime */
	unsigned eku;			/* CONFIG_EKU_* bits, never 0 */
	unsigned key_usage;		/* CONFIG_KU_* bits, never 0 */
	bool subject_cn;		/* keep a DNS name as subject CN */
	unsigned ident_types;		/* CONFIG_IDENT_* bits, never 0 */
	unsigned max_identifiers;	/* identifiers in one order, at most */
	unsigned challenges_dns;	/* CONFIG_CHALL_* offered: dns names */
	unsigned challenges_wildcard;	/* ... "*." names */
	unsigned challenges_ip;		/* ... ip identifiers */
};

/* The profiles, in the order written (built-ins: classic, tlsserver,
 * shortlived). */
struct config_profiles {
	struct config_profile *v;
	size_t n;
};

struct anvil_config {
	char *path;			/* file this was read from */

	/* [server] */
	char *base_url;			/* no trailing slash */
	char *data_dir;			/* absolute */
	char *terms_of_service;		/* "" when unset */
	char *website;			/* "" when unset: meta.website */
	struct config_strs caa_identities; /* meta.caaIdentities */
	size_t max_body;		/* bytes */
	char *log_level;		/* err|warn|info|debug */

	/* [ca] */
	char *key_type;			/* one of the eight key type strings */
	char *key_file;			/* absolute path, or a pkcs11: URL */
	char *cert_file;		/* absolute path */
	char *common_name;
	char *organization;
	unsigned validity_years;

	/* [issuance] */
	unsigned validity_days;
	char *crl_url;			/* "" when unset */
	char *ocsp_url;			/* "" when unset */
	char *ca_issuers_url;		/* "" when unset */
	unsigned crl_validity_hours;	/* nextUpdate - thisUpdate */
	char *crl_dir;			/* absolute: where anvil-crl writes */
	bool rsa_key_encipherment;	/* add keyEncipherment for RSA leaves */
	char *default_profile;		/* always the name of a profile */
	struct config_profiles profiles; /* at least one */

	/* [validation] */
	unsigned http_port;
	unsigned tls_port;
	char *dns_resolver;		/* "address@port" or "" */
	unsigned timeout;		/* seconds */
	unsigned validators;		/* validation processes at once */
	unsigned queue_max;		/* validations waiting, at most */
	unsigned max_wait;		/* seconds from request to result */
	struct config_nets deny_networks;  /* never connected to... */
	struct config_nets allow_networks; /* ...unless inside one of these */
	unsigned caa_max_age;		/* seconds a CAA check stands */
	char *dns_trust_anchor;		/* absolute path or "": no DNSSEC */
	unsigned challenges_dns;	/* CONFIG_CHALL_* bits, never 0 */
	unsigned challenges_wildcard;
	unsigned challenges_ip;

	/* [accounts] */
	bool eab_required;

	/* [ocsp] */
	bool ocsp_enabled;		/* answer <base_url>/ocsp, presign */
	unsigned ocsp_validity_hours;	/* nextUpdate - thisUpdate */
	char *ocsp_dir;			/* absolute: pre-signed responses */
	bool ocsp_sign_with_ca;		/* the CA key signs, no responder */
	char *ocsp_responder_key;	/* absolute path, or a pkcs11: URL */
	char *ocsp_responder_cert;	/* absolute path */
	unsigned ocsp_responder_days;	/* responder certificate lifetime */
	/* [crl] */
	unsigned crl_shards;		/* 1: one CRL; N: N shards + the full */
	/* [audit] */
	unsigned audit_to;		/* CONFIG_AUDIT_* bits; 0: none */
	char *audit_file;		/* absolute */

	/* [store] (src/store/store.h) */
	char *store_backend;		/* "bdb" or "postgresql" */
	char *store_conninfo;		/* libpq conninfo; "" when unset */
	unsigned store_connect_timeout;	/* seconds */
};

/* Bound of [crl] shards: one signature per shard per anvil-crl run. */
#define CONFIG_CRL_SHARDS_MAX 1024

#define CONFIG_AUDIT_FILE 0x1
#define CONFIG_AUDIT_SYSLOG 0x2

/*
 * Reads path (if NULL: $ANVIL_CONFIG, else the compiled-in default) into a
 * new config (*out, free with config_free). On failure writes
 * "file:line: what is wrong" into err and returns ANVIL_ERR_CONFIG (or
 * ANVIL_ERR_NOTFOUND / ANVIL_ERR_IO for the file itself, still naming it).
 */
anvil_err config_load(const char *path, struct anvil_config **out,
    char *err, size_t errlen);

/*
 * Parses text as if read from a file called name; same results as
 * config_load. Relative data_dir is refused; relative key/cert files are
 * resolved under data_dir.
 */
anvil_err config_parse(const char *name, const char *text, size_t len,
    struct anvil_config **out, char *err, size_t errlen);

/* Frees cfg; NULL is a no-op. */
void config_free(struct anvil_config *cfg);

/*
 * The profile called name in cfg, or cfg's default profile when name is
 * NULL; NULL when there is no such profile. Borrowed from cfg.
 */
const struct config_profile *config_profile_find(
    const struct anvil_config *cfg, const char *name);

/* The default config path compiled in ($(sysconfdir)/anvil/anvil.conf). */
const char *config_default_path(void);

/*
 * Returns 1 if validation must not connect to addr (4 bytes for AF_INET,
 * 16 for AF_INET6), else 0: addr falls inside one of cfg's deny_networks
 * and inside none of its allow_networks. An IPv4-mapped (::ffff:a.b.c.d)
 * or IPv4-compatible (::a.b.c.d) address is matched both as itself and as
 * a.b.c.d, against both lists; a NAT64 address (64:ff9b::a.b.c.d) is
 * denied also when a.b.c.d is denied, and allowed only as itself.
 */
int config_net_denied(const struct anvil_config *cfg, int family,
    const unsigned char *addr);

#endif
