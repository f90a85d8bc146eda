/*
 * test_config.c - the INI configuration: defaults, every kind of bad
 * input refused with file:line, deny_networks and allow_networks matching.
 */
#include "config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/conf.h"
#include "helpers.h"

#define BASE "[server]\nbase_url = https://acme.test/acme\ndata_dir = /var/lib/anvil\n"

static struct anvil_config *
parse_ok(const char *text)
{
	struct anvil_config *cfg = NULL;
	char err[512] = "";

	cr_assert_eq(config_parse("t.conf", text, strlen(text), &cfg, err,
	    sizeof(err)), ANVIL_OK, "refused: %s", err);
	return cfg;
}

Test(config, defaults_for_every_key_but_the_two_required)
{
	struct anvil_config *cfg = parse_ok(BASE);

	cr_assert_str_eq(cfg->base_url, "https://acme.test/acme");
	cr_assert_str_eq(cfg->data_dir, "/var/lib/anvil");
	cr_assert_str_eq(cfg->terms_of_service, "");
	cr_assert_eq(cfg->max_body, 65536);
	cr_assert_str_eq(cfg->key_type, "ec:P-256");
	cr_assert_str_eq(cfg->key_file, "/var/lib/anvil/ca.key");
	cr_assert_str_eq(cfg->cert_file, "/var/lib/anvil/ca.pem");
	cr_assert_str_eq(cfg->common_name, "Anvil Private CA");
	cr_assert_str_eq(cfg->organization, "Anvil");
	cr_assert_eq(cfg->validity_years, 10);
	cr_assert_eq(cfg->validity_days, 90);
	cr_assert_str_eq(cfg->crl_url, "");
	cr_assert_eq(cfg->crl_validity_hours, 168);
	cr_assert_eq(cfg->crl_shards, 1);
	cr_assert_eq(cfg->rsa_key_encipherment, false);
	cr_assert_eq(cfg->http_port, 80);
	cr_assert_eq(cfg->tls_port, 443);
	cr_assert_str_eq(cfg->dns_resolver, "");
	cr_assert_eq(cfg->timeout, 10);
	cr_assert_eq(cfg->deny_networks.n, 24);
	cr_assert_eq(cfg->allow_networks.n, 0);
	cr_assert_eq(cfg->eab_required, false);
	cr_assert_eq(cfg->caa_identities.n, 0);
	cr_assert_eq(cfg->caa_max_age, 28800);
	cr_assert_str_eq(cfg->dns_trust_anchor, "");
	cr_assert_eq(cfg->challenges_dns, CONFIG_CHALL_HTTP01 |
	    CONFIG_CHALL_DNS01 | CONFIG_CHALL_TLSALPN01);
	cr_assert_eq(cfg->challenges_wildcard, CONFIG_CHALL_DNS01);
	cr_assert_eq(cfg->challenges_ip, CONFIG_CHALL_HTTP01 |
	    CONFIG_CHALL_TLSALPN01);
	cr_assert_str_eq(cfg->store_backend, "bdb");
	cr_assert_str_eq(cfg->store_conninfo, "");
	cr_assert_eq(cfg->store_connect_timeout, 5);
	config_free(cfg);
}

Test(config, store_section_picks_postgresql)
{
	struct anvil_config *cfg = parse_ok(BASE "[store]\n"
	    "backend = postgresql\n"
	    "conninfo = host=/run/postgresql dbname=anvil user=anvil\n"
	    "connect_timeout = 2\n");

	cr_assert_str_eq(cfg->store_backend, "postgresql");
	cr_assert_str_eq(cfg->store_conninfo,
	    "host=/run/postgresql dbname=anvil user=anvil");
	cr_assert_eq(cfg->store_connect_timeout, 2);
	config_free(cfg);
}

Test(config, caa_and_challenge_types)
{
	struct anvil_config *cfg = parse_ok(BASE
	    "caa_identities = anvil.test, ca.anvil.test\n"
	    "[validation]\ncaa_max_age = 0\n"
	    "dns_trust_anchor = /etc/anvil/root.key\n"
	    "challenges_dns = dns-account-01, dns-persist-01\n"
	    "challenges_wildcard = dns-persist-01\n"
	    "challenges_ip = tls-alpn-01\n");

	cr_assert_eq(cfg->caa_identities.n, 2);
	cr_assert_eq(cfg->caa_max_age, 0);
	cr_assert_str_eq(cfg->dns_trust_anchor, "/etc/anvil/root.key");
	cr_assert_eq(cfg->challenges_dns, CONFIG_CHALL_DNSACCOUNT01 |
	    CONFIG_CHALL_DNSPERSIST01);
	cr_assert_eq(cfg->challenges_wildcard, CONFIG_CHALL_DNSPERSIST01);
	cr_assert_eq(cfg->challenges_ip, CONFIG_CHALL_TLSALPN01);
	config_free(cfg);

	/* A profile overrides; one that is silent inherits. */
	cfg = parse_ok(BASE "caa_identities = anvil.test\n"
	    "[validation]\nchallenges_dns = http-01\n"
	    "[profile a]\nchallenges_dns = dns-persist-01\n[profile b]\n");
	cr_assert_eq(config_profile_find(cfg, "a")->challenges_dns,
	    CONFIG_CHALL_DNSPERSIST01);
	cr_assert_eq(config_profile_find(cfg, "b")->challenges_dns,
	    CONFIG_CHALL_HTTP01);
	cr_assert_eq(config_profile_find(cfg, "b")->challenges_wildcard,
	    CONFIG_CHALL_DNS01);
	config_free(cfg);
}

Test(config, every_key_set_with_comments_and_odd_spacing)
{
	struct anvil_config *cfg = parse_ok(
	    "; leading comment\n"
	    "# another\n"
	    "[server]\n"
	    "  base_url=https://ca.example.org:8443/acme/   ; trailing slash dropped\n"
	    "data_dir = /srv/anvil\r\n"
	    "terms_of_service = https://ca.example.org/tos\n"
	    "max_body = 131072\n"
	    "log_level = debug\n"
	    "[ ca ]\n"
	    "key_type = rsa:3072\n"
	    "key_file = pkcs11:token=anvil;object=ca;type=private?pin-value=1\n"
	    "cert_file = /etc/anvil/ca.pem\n"
	    "common_name = Example CA\n"
	    "organization =\n"
	    "validity_years = 20\n"
	    "[issuance]\n"
	    "validity_days = 7\n"
	    "crl_url = http://ca.example.org/crl/anvil.crl\n"
	    "ocsp_url = http://ocsp.example.org\n"
	    "ca_issuers_url = http://ca.example.org/ca.pem\n"
	    "crl_validity_hours = 48\n"
	    "rsa_key_encipherment = yes\n"
	    "[validation]\n"
	    "http_port = 5002\n"
	    "tls_port = 5001\n"
	    "dns_resolver = 127.0.0.1@8053\n"
	    "timeout = 3\n"
	    "deny_networks = 10.0.0.0/8,192.168.0.0/16 ::1/128\n"
	    "allow_networks = 10.1.2.3/32\n"
	    "[accounts]\n"
	    "eab_required = true\n");

	cr_assert_str_eq(cfg->base_url, "https://ca.example.org:8443/acme");
	cr_assert_str_eq(cfg->data_dir, "/srv/anvil");
	cr_assert_eq(cfg->max_body, 131072);
	cr_assert_str_eq(cfg->log_level, "debug");
	cr_assert_str_eq(cfg->key_type, "rsa:3072");
	cr_assert_str_eq(cfg->key_file,
	    "pkcs11:token=anvil;object=ca;type=private?pin-value=1",
	    "a pkcs11 URL keeps its ';' and is not made relative");
	cr_assert_str_eq(cfg->cert_file, "/etc/anvil/ca.pem");
	cr_assert_str_eq(cfg->organization, "");
	cr_assert_eq(cfg->validity_years, 20);
	cr_assert_eq(cfg->validity_days, 7);
	cr_assert_str_eq(cfg->ocsp_url, "http://ocsp.example.org");
	cr_assert_eq(cfg->crl_validity_hours, 48);
	cr_assert(cfg->rsa_key_encipherment);
	cr_assert_eq(cfg->http_port, 5002);
	cr_assert_eq(cfg->tls_port, 5001);
	cr_assert_str_eq(cfg->dns_resolver, "127.0.0.1@8053");
	cr_assert_eq(cfg->timeout, 3);
	cr_assert_eq(cfg->deny_networks.n, 3);
	cr_assert_eq(cfg->allow_networks.n, 1);
	cr_assert(cfg->eab_required);
	config_free(cfg);
}

Test(config, crl_shards_read)
{
	struct anvil_config *cfg = parse_ok(BASE "[issuance]\ncrl_url = "
	    "http://a.test/crl/anvil.crl\n[crl]\nshards = 1024\n");

	cr_assert_eq(cfg->crl_shards, 1024);
	config_free(cfg);
}

struct bad_case {
	int line;
	const char *desc;
	const char *text;
	const char *want;	/* expected start of the error */
	const char *also;	/* expected somewhere in the error */
};

static const struct bad_case bad[] = {
	{ __LINE__, "unknown key", BASE "colour = blue\n", "t.conf:4:", "unknown key \"colour\"" },
	{ __LINE__, "unknown section", BASE "[servers]\n", "t.conf:4:", "unknown section" },
	{ __LINE__, "key before any section", "base_url = https://a.test\n", "t.conf:1:", "before any [section]" },
	{ __LINE__, "no equals sign", BASE "max_body\n", "t.conf:4:", "key = value" },
	{ __LINE__, "unterminated section", BASE "[ca\n", "t.conf:4:", "section header" },
	{ __LINE__, "duplicate key", BASE "max_body = 2000\nmax_body = 3000\n", "t.conf:5:", "set twice" },
	{ __LINE__, "missing base_url", "[server]\ndata_dir = /x\n", "t.conf:2:", "base_url is required" },
	{ __LINE__, "missing data_dir", "[server]\nbase_url = https://a.test\n", "t.conf:2:", "data_dir is required" },
	{ __LINE__, "relative data_dir", "[server]\nbase_url = https://a.test\ndata_dir = var/lib\n", "t.conf:3:", "absolute path" },
	{ __LINE__, "base_url not a URL", "[server]\nbase_url = acme.test\ndata_dir = /x\n", "t.conf:2:", "URL" },
	{ __LINE__, "base_url ftp", "[server]\nbase_url = ftp://acme.test\ndata_dir = /x\n", "t.conf:2:", "URL" },
	{ __LINE__, "base_url with space", "[server]\nbase_url = https://a b.test\ndata_dir = /x\n", "t.conf:2:", "URL" },
	{ __LINE__, "base_url with query", "[server]\nbase_url = https://a.test/?x=1\ndata_dir = /x\n", "t.conf:2:", "URL" },
	{ __LINE__, "base_url without host", "[server]\nbase_url = https:///acme\ndata_dir = /x\n", "t.conf:2:", "URL" },
	{ __LINE__, "max_body not a number", BASE "max_body = lots\n", "t.conf:4:", "whole number" },
	{ __LINE__, "max_body negative", BASE "max_body = -5\n", "t.conf:4:", "whole number" },
	{ __LINE__, "max_body too small", BASE "max_body = 10\n", "t.conf:4:", "between 1024 and" },
	{ __LINE__, "max_body overflow", BASE "max_body = 99999999999999999999999\n", "t.conf:4:", "whole number" },
	{ __LINE__, "number with junk", BASE "max_body = 2048k\n", "t.conf:4:", "whole number" },
	{ __LINE__, "bad log level", BASE "log_level = loud\n", "t.conf:4:", "log_level" },
	{ __LINE__, "crl shards 0", BASE "[issuance]\ncrl_url = http://a.test/crl/anvil.crl\n[crl]\nshards = 0\n", "t.conf:7:", "between 1 and 1024" },
	{ __LINE__, "crl shards above 1024", BASE "[issuance]\ncrl_url = http://a.test/crl/anvil.crl\n[crl]\nshards = 1025\n", "t.conf:7:", "between 1 and 1024" },
	{ __LINE__, "crl shards not a number", BASE "[crl]\nshards = many\n", "t.conf:5:", "whole number" },
	{ __LINE__, "crl shards negative", BASE "[crl]\nshards = -4\n", "t.conf:5:", "whole number" },
	{ __LINE__, "crl shards without crl_url", BASE "[crl]\n\nshards = 4\n", "t.conf:6:", "needs [issuance] crl_url" },
	{ __LINE__, "crl unknown key", BASE "[crl]\nshard = 4\n", "t.conf:5:", "unknown key \"shard\"" },
	{ __LINE__, "bad key type", BASE "[ca]\nkey_type = rsa:1024\n", "t.conf:5:", "ec:P-256, P-256" },
	{ __LINE__, "key type case", BASE "[ca]\nkey_type = ED25519\n", "t.conf:5:", "key_type" },
	{ __LINE__, "empty common name", BASE "[ca]\ncommon_name =\n", "t.conf:5:", "common_name" },
	{ __LINE__, "common name too long", BASE "[ca]\ncommon_name = 12345678901234567890123456789012345678901234567890123456789012345\n", "t.conf:5:", "1 to 64" },
	{ __LINE__, "validity_years zero", BASE "[ca]\nvalidity_years = 0\n", "t.conf:5:", "between 1 and 100" },
	{ __LINE__, "cert_file as pkcs11", BASE "[ca]\ncert_file = pkcs11:token=x\n", "t.conf:5:", "cannot be a pkcs11" },
	{ __LINE__, "empty key_file", BASE "[ca]\nkey_file =\n", "t.conf:5:", "key_file" },
	{ __LINE__, "validity_days too long", BASE "[issuance]\nvalidity_days = 5000\n", "t.conf:5:", "between 1 and 3650" },
	{ __LINE__, "crl_url not http", BASE "[issuance]\ncrl_url = ldap://x/crl\n", "t.conf:5:", "crl_url" },
	{ __LINE__, "bool typo", BASE "[issuance]\nrsa_key_encipherment = ture\n", "t.conf:5:", "true or false" },
	{ __LINE__, "port zero", BASE "[validation]\nhttp_port = 0\n", "t.conf:5:", "between 1 and 65535" },
	{ __LINE__, "port too big", BASE "[validation]\ntls_port = 65536\n", "t.conf:5:", "between 1 and 65535" },
	{ __LINE__, "resolver hostname", BASE "[validation]\ndns_resolver = dns.example\n", "t.conf:5:", "IP address" },
	{ __LINE__, "resolver port junk", BASE "[validation]\ndns_resolver = 127.0.0.1@x\n", "t.conf:5:", "IP address" },
	{ __LINE__, "resolver port zero", BASE "[validation]\ndns_resolver = 127.0.0.1@0\n", "t.conf:5:", "IP address" },
	{ __LINE__, "network not CIDR", BASE "[validation]\ndeny_networks = 10.0.0.0/33\n", "t.conf:5:", "10.0.0.0/33" },
	{ __LINE__, "network host bits", BASE "[validation]\ndeny_networks = 10.0.0.1/8\n", "t.conf:5:", "host bits" },
	{ __LINE__, "network garbage", BASE "[validation]\ndeny_networks = 169.254.0.0/16, nope\n", "t.conf:5:", "\"nope\"" },
	{ __LINE__, "allow not CIDR", BASE "[validation]\nallow_networks = 127.0.0.1/33\n", "t.conf:5:", "allow_networks: \"127.0.0.1/33\"" },
	{ __LINE__, "allow host bits", BASE "[validation]\nallow_networks = 127.0.0.1/8\n", "t.conf:5:", "host bits" },
	{ __LINE__, "allow a host name", BASE "[validation]\nallow_networks = localhost\n", "t.conf:5:", "\"localhost\"" },
	{ __LINE__, "allow with a zone", BASE "[validation]\nallow_networks = fe80::1%lo/128\n", "t.conf:5:", "fe80::1%lo/128" },
	{ __LINE__, "allow prefix junk", BASE "[validation]\nallow_networks = 127.0.0.1/32x\n", "t.conf:5:", "127.0.0.1/32x" },
	{ __LINE__, "allow negative prefix", BASE "[validation]\nallow_networks = 127.0.0.1/-1\n", "t.conf:5:", "127.0.0.1/-1" },
	{ __LINE__, "allow empty prefix", BASE "[validation]\nallow_networks = 127.0.0.0/\n", "t.conf:5:", "127.0.0.0/" },
	{ __LINE__, "allow a range", BASE "[validation]\nallow_networks = 127.0.0.1-127.0.0.9\n", "t.conf:5:", "not a network" },
	{ __LINE__, "allow a decimal address", BASE "[validation]\nallow_networks = 2130706433\n", "t.conf:5:", "\"2130706433\"" },
	{ __LINE__, "allow octal quads", BASE "[validation]\nallow_networks = 0177.0.0.1/32\n", "t.conf:5:", "0177.0.0.1/32" },
	{ __LINE__, "allow set twice", BASE "[validation]\nallow_networks = ::1/128 ; comment\nallow_networks = 1.2.3.4\n", "t.conf:6:", "set twice" },
	{ __LINE__, "allow in wrong section", BASE "allow_networks = 127.0.0.1/32\n", "t.conf:4:", "unknown key \"allow_networks\" in [server]" },
	{ __LINE__, "timeout zero", BASE "[validation]\ntimeout = 0\n", "t.conf:5:", "timeout" },
	{ __LINE__, "eab bool", BASE "[accounts]\neab_required = maybe\n", "t.conf:5:", "eab_required" },
	{ __LINE__, "key in wrong section", BASE "[ca]\nmax_body = 2048\n", "t.conf:5:", "unknown key \"max_body\" in [ca]" },
	{ __LINE__, "website not a URL", BASE "website = acme.test\n", "t.conf:4:", "website" },
	{ __LINE__, "caa identity upper case", BASE "caa_identities = Acme.Test\n", "t.conf:4:", "\"Acme.Test\"" },
	{ __LINE__, "caa identity with a slash", BASE "caa_identities = acme.test, a/b\n", "t.conf:4:", "\"a/b\"" },
	{ __LINE__, "profile without a name", BASE "[profile]\n", "t.conf:4:", "name must be" },
	{ __LINE__, "profile name with a slash", BASE "[profile a/b]\n", "t.conf:4:", "\"a/b\"" },
	{ __LINE__, "profile name too long", BASE "[profile abcdefghijklmnopqrstuvwxyz0123456789]\n", "t.conf:4:", "1 to 32" },
	{ __LINE__, "duplicate profile", BASE "[profile short]\n[ca]\n[profile short]\n", "t.conf:6:", "[profile short] defined twice" },
	{ __LINE__, "unknown key in a profile", BASE "[profile short]\ncolour = blue\n", "t.conf:5:", "unknown key \"colour\" in [profile short]" },
	{ __LINE__, "issuance key in a profile", BASE "[profile short]\nvalidity_days = 7\n", "t.conf:5:", "unknown key \"validity_days\"" },
	{ __LINE__, "profile key set twice", BASE "[profile short]\nsubject_cn = no\nsubject_cn = yes\n", "t.conf:6:", "[profile short] subject_cn set twice" },
	{ __LINE__, "bad EKU name", BASE "[profile p]\nextended_key_usage = serverAuth, codeSigning\n", "t.conf:5:", "\"codeSigning\" is not one of: serverAuth, clientAuth" },
	{ __LINE__, "EKU case", BASE "[profile p]\nextended_key_usage = serverauth\n", "t.conf:5:", "\"serverauth\"" },
	{ __LINE__, "empty EKU", BASE "[profile p]\nextended_key_usage =\n", "t.conf:5:", "at least one" },
	{ __LINE__, "bad key usage", BASE "[profile p]\nkey_usage = digitalSignature, keyCertSign\n", "t.conf:5:", "\"keyCertSign\"" },
	{ __LINE__, "key usage without digitalSignature", BASE "[profile p]\nkey_usage = keyEncipherment\n", "t.conf:5:", "must include digitalSignature" },
	{ __LINE__, "validity in weeks", BASE "[profile p]\nvalidity = 1w\n", "t.conf:5:", "days (\"90d\"" },
	{ __LINE__, "validity zero hours", BASE "[profile p]\nvalidity = 0h\n", "t.conf:5:", "between 1h and 3650d" },
	{ __LINE__, "validity too long", BASE "[profile p]\nvalidity = 3651d\n", "t.conf:5:", "between 1h and 3650d" },
	{ __LINE__, "validity negative", BASE "[profile p]\nvalidity = -7d\n", "t.conf:5:", "validity must be days" },
	{ __LINE__, "validity huge", BASE "[profile p]\nvalidity = 99999999999999999999h\n", "t.conf:5:", "validity must be days" },
	{ __LINE__, "validity with a space", BASE "[profile p]\nvalidity = 7 d\n", "t.conf:5:", "validity must be days" },
	{ __LINE__, "bad identifier type", BASE "[profile p]\nidentifier_types = dns, email\n", "t.conf:5:", "\"email\" is not one of: dns, ip" },
	{ __LINE__, "max_identifiers zero", BASE "[profile p]\nmax_identifiers = 0\n", "t.conf:5:", "between 1 and 100" },
	{ __LINE__, "bool typo in a profile", BASE "[profile p]\nsubject_cn = maybe\n", "t.conf:5:", "true or false" },
	{ __LINE__, "default_profile unknown", BASE "[issuance]\ndefault_profile = nope\n", "t.conf:5:", "default_profile \"nope\" names no profile (known: classic, tlsserver, shortlived)" },
	{ __LINE__, "default_profile a built-in hidden by sections", BASE "[issuance]\ndefault_profile = classic\n[profile mine]\n", "t.conf:5:", "names no profile (known: mine)" },
	{ __LINE__, "unknown challenge type", BASE "[validation]\nchallenges_dns = http-01, dns-02\n", "t.conf:5:", "\"dns-02\" is not one of" },
	{ __LINE__, "no challenge type", BASE "[validation]\nchallenges_dns =\n", "t.conf:5:", "at least one" },
	{ __LINE__, "dns-01 for an ip", BASE "[validation]\nchallenges_ip = http-01, dns-01\n", "t.conf:5:", "only http-01 and tls-alpn-01" },
	{ __LINE__, "http-01 for a wildcard", BASE "[validation]\nchallenges_wildcard = dns-01, http-01\n", "t.conf:5:", "can validate a wildcard" },
	{ __LINE__, "dns-persist-01 without caa_identities", BASE "[validation]\ntimeout = 5\nchallenges_dns = dns-persist-01\n", "t.conf:6:", "needs [server] caa_identities" },
	{ __LINE__, "dns-persist-01 in a profile without caa_identities", BASE "[profile p]\nchallenges_wildcard = dns-persist-01\n", "t.conf:5:", "needs [server] caa_identities" },
	{ __LINE__, "dns-01 for an ip in a profile", BASE "[profile p]\nchallenges_ip = dns-01\n", "t.conf:5:", "only http-01 and tls-alpn-01" },
	{ __LINE__, "caa_max_age too long", BASE "[validation]\ncaa_max_age = 2592001\n", "t.conf:5:", "between 0 and 2592000" },
	{ __LINE__, "relative trust anchor", BASE "[validation]\ndns_trust_anchor = root.key\n", "t.conf:5:", "absolute path" },
	{ __LINE__, "default_profile in [server]", BASE "default_profile = classic\n", "t.conf:4:", "unknown key \"default_profile\" in [server]" },
	{ __LINE__, "unknown store backend", BASE "[store]\nbackend = mysql\n", "t.conf:5:", "bdb or postgresql, not \"mysql\"" },
	{ __LINE__, "store backend case", BASE "[store]\nbackend = PostgreSQL\n", "t.conf:5:", "bdb or postgresql" },
	{ __LINE__, "postgresql without conninfo", BASE "[store]\nbackend = postgresql\nconnect_timeout = 3\n", "t.conf:5:", "needs conninfo" },
	{ __LINE__, "conninfo with a control character", BASE "[store]\nconninfo = host=/run\x01\n", "t.conf:5:", "control character" },
	{ __LINE__, "connect_timeout zero", BASE "[store]\nconnect_timeout = 0\n", "t.conf:5:", "between 1 and 60" },
	{ __LINE__, "connect_timeout too long", BASE "[store]\nconnect_timeout = 61\n", "t.conf:5:", "between 1 and 60" },
	{ __LINE__, "conninfo in [server]", BASE "conninfo = dbname=anvil\n", "t.conf:4:", "unknown key \"conninfo\" in [server]" },
};

Test(config, refuses_bad_input_naming_file_and_line)
{
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct anvil_config *cfg = NULL;
		char err[512] = "";
		anvil_err rc = config_parse("t.conf", bad[i].text,
		    strlen(bad[i].text), &cfg, err, sizeof(err));

		cr_expect_eq(rc, ANVIL_ERR_CONFIG, "line %d (%s): accepted",
		    bad[i].line, bad[i].desc);
		cr_expect_null(cfg, "line %d (%s)", bad[i].line, bad[i].desc);
		cr_expect(strncmp(err, bad[i].want, strlen(bad[i].want)) == 0,
		    "line %d (%s): error \"%s\" should start \"%s\"",
		    bad[i].line, bad[i].desc, err, bad[i].want);
		cr_expect(strstr(err, bad[i].also) != NULL,
		    "line %d (%s): error \"%s\" should say \"%s\"",
		    bad[i].line, bad[i].desc, err, bad[i].also);
		config_free(cfg);
	}
}

Test(config, builtin_profiles_when_none_configured)
{
	struct anvil_config *cfg = parse_ok(BASE "[issuance]\nvalidity_days "
	    "= 30\nrsa_key_encipherment = true\n");
	const struct config_profile *c, *t, *s;

	cr_assert_eq(cfg->profiles.n, 3);
	cr_assert_str_eq(cfg->default_profile, "classic");
	c = config_profile_find(cfg, NULL);
	cr_assert_not_null(c);
	cr_assert_str_eq(c->name, "classic");
	cr_expect_eq(c->validity_hours, 30 * 24, "classic follows [issuance]");
	cr_expect_eq(c->eku, CONFIG_EKU_SERVER);
	cr_expect_eq(c->key_usage, CONFIG_KU_DIGITAL_SIGNATURE |
	    CONFIG_KU_KEY_ENCIPHERMENT);
	cr_expect(c->subject_cn);
	cr_expect_eq(c->ident_types, CONFIG_IDENT_DNS | CONFIG_IDENT_IP);
	cr_expect_eq(c->max_identifiers, 100);
	cr_expect_neq(c->description[0], '\0');
	t = config_profile_find(cfg, "tlsserver");
	cr_assert_not_null(t);
	cr_expect_eq(t->eku, CONFIG_EKU_SERVER);
	cr_expect_not(t->subject_cn);
	cr_expect_eq(t->validity_hours, 30 * 24);
	s = config_profile_find(cfg, "shortlived");
	cr_assert_not_null(s);
	cr_expect_eq(s->validity_hours, 7 * 24);
	cr_expect_null(config_profile_find(cfg, "Classic"), "names are exact");
	cr_expect_null(config_profile_find(cfg, ""));
	config_free(cfg);
}

Test(config, profile_sections_replace_the_builtins)
{
	struct anvil_config *cfg = parse_ok(BASE
	    "website = https://acme.test/about\n"
	    "caa_identities = acme.test  ca.example\n"
	    "[profile client] ; comment\n"
	    "description = mTLS clients\n"
	    "validity = 160h\n"
	    "extended_key_usage = clientAuth,serverAuth\n"
	    "key_usage = digitalSignature\n"
	    "subject_cn = false\n"
	    "identifier_types = dns\n"
	    "max_identifiers = 3\n"
	    "[issuance]\n"
	    "validity_days = 10\n"
	    "default_profile = plain\n"
	    "[ profile plain ]\n"
	    "validity = 2\n");
	const struct config_profile *p;

	cr_assert_eq(cfg->profiles.n, 2);
	cr_expect_str_eq(cfg->website, "https://acme.test/about");
	cr_assert_eq(cfg->caa_identities.n, 2);
	cr_expect_str_eq(cfg->caa_identities.v[1], "ca.example");
	cr_expect_null(config_profile_find(cfg, "classic"));
	p = config_profile_find(cfg, NULL);
	cr_assert_not_null(p);
	cr_expect_str_eq(p->name, "plain");
	cr_expect_eq(p->validity_hours, 48);
	cr_expect_str_eq(p->description, "");
	p = config_profile_find(cfg, "client");
	cr_assert_not_null(p);
	cr_expect_str_eq(p->description, "mTLS clients");
	cr_expect_eq(p->validity_hours, 160);
	cr_expect_eq(p->eku, CONFIG_EKU_SERVER | CONFIG_EKU_CLIENT);
	cr_expect_eq(p->key_usage, CONFIG_KU_DIGITAL_SIGNATURE);
	cr_expect_not(p->subject_cn);
	cr_expect_eq(p->ident_types, CONFIG_IDENT_DNS);
	cr_expect_eq(p->max_identifiers, 3);
	config_free(cfg);
}

Test(config, default_profile_is_the_first_section)
{
	struct anvil_config *cfg = parse_ok(BASE "[profile b]\n[profile a]\n"
	    "validity = 1h\n");

	cr_expect_str_eq(cfg->default_profile, "b");
	cr_expect_eq(config_profile_find(cfg, NULL)->validity_hours, 90 * 24);
	cr_expect_eq(config_profile_find(cfg, "a")->validity_hours, 1);
	config_free(cfg);
}

Test(config, refuses_nul_and_overlong_lines)
{
	struct anvil_config *cfg = NULL;
	char err[512] = "";
	char text[] = BASE "x\0y = 1\n";
	char *big;
	size_t n = 5000;

	cr_assert_eq(config_parse("t.conf", text, sizeof(text) - 1, &cfg, err,
	    sizeof(err)), ANVIL_ERR_CONFIG);
	cr_assert(strstr(err, "NUL") != NULL, "%s", err);

	big = malloc(strlen(BASE) + n + 2);
	cr_assert_not_null(big);
	strcpy(big, BASE);
	memset(big + strlen(BASE), 'a', n);
	big[strlen(BASE) + n] = '\0';
	cr_assert_eq(config_parse("t.conf", big, strlen(big), &cfg, err,
	    sizeof(err)), ANVIL_ERR_CONFIG);
	cr_assert(strstr(err, "t.conf:4: line longer") != NULL, "%s", err);
	free(big);
}

Test(config, missing_file_is_named)
{
	struct anvil_config *cfg = NULL;
	char err[512] = "";

	cr_assert_eq(config_load("/nonexistent/anvil.conf", &cfg, err,
	    sizeof(err)), ANVIL_ERR_NOTFOUND);
	cr_assert(strstr(err, "/nonexistent/anvil.conf:0:") == err, "%s", err);
	cr_assert_null(cfg);
}

Test(config, load_reads_ANVIL_CONFIG)
{
	char *dir = th_tempdir();
	char path[512];
	struct anvil_config *cfg = NULL;
	char err[512] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/anvil.conf", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(BASE "[ca]\ncommon_name = From Env\n", f);
	fclose(f);
	setenv("ANVIL_CONFIG", path, 1);
	cr_assert_eq(config_load(NULL, &cfg, err, sizeof(err)), ANVIL_OK, "%s",
	    err);
	cr_assert_str_eq(cfg->common_name, "From Env");
	cr_assert_str_eq(cfg->path, path);
	config_free(cfg);
	unsetenv("ANVIL_CONFIG");
	th_rmrf(dir);
	free(dir);
}

Test(config, deny_networks_match)
{
	struct anvil_config *cfg = parse_ok(BASE
	    "[validation]\ndeny_networks = 10.0.0.0/8, 192.168.1.0/24, fd00::/8\n");
	static const struct {
		const char *addr;
		int denied;
	} cases[] = {
		{ "10.1.2.3", 1 }, { "11.0.0.1", 0 }, { "192.168.1.200", 1 },
		{ "192.168.2.1", 0 }, { "fd12::1", 1 }, { "fe80::1", 0 },
		{ "::ffff:10.9.9.9", 1 }, { "::ffff:8.8.8.8", 0 },
		{ "127.0.0.1", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char a[16];
		int fam = strchr(cases[i].addr, ':') ? AF_INET6 : AF_INET;
		cr_assert_eq(inet_pton(fam, cases[i].addr, a), 1);
		cr_expect_eq(config_net_denied(cfg, fam, a), cases[i].denied,
		    "%s", cases[i].addr);
	}
	config_free(cfg);
}

Test(config, default_deny_networks)
{
	/* Everything that is not the public Internet is denied
	 * by default, in every IPv6 spelling of an IPv4 address. */
	struct anvil_config *cfg = parse_ok(BASE);
	static const struct {
		const char *addr;
		int denied;
	} cases[] = {
		{ "0.0.0.0", 1 }, { "0.255.255.255", 1 }, { "10.0.0.1", 1 },
		{ "100.64.0.0", 1 }, { "100.127.255.255", 1 },
		{ "100.128.0.0", 0 }, { "100.63.255.255", 0 },
		{ "127.0.0.1", 1 }, { "127.0.0.2", 1 }, { "169.254.169.254", 1 },
		{ "172.16.0.1", 1 }, { "172.31.255.255", 1 },
		{ "172.32.0.1", 0 }, { "172.15.255.255", 0 },
		{ "192.0.0.1", 1 }, { "192.0.1.1", 0 }, { "192.0.2.1", 1 },
		{ "192.168.0.1", 1 }, { "198.18.0.1", 1 }, { "198.19.255.255", 1 },
		{ "198.20.0.1", 0 }, { "198.51.100.1", 1 }, { "203.0.113.1", 1 },
		{ "224.0.0.1", 1 }, { "239.255.255.255", 1 }, { "240.0.0.1", 1 },
		{ "255.255.255.255", 1 }, { "8.8.8.8", 0 }, { "1.1.1.1", 0 },
		{ "223.255.255.255", 0 },
		{ "::", 1 }, { "::1", 1 }, { "::2", 1 },
		{ "::ffff:127.0.0.1", 1 }, { "::ffff:10.1.1.1", 1 },
		{ "::ffff:169.254.1.1", 1 }, { "::ffff:8.8.8.8", 0 },
		{ "::127.0.0.1", 1 }, { "::172.16.0.1", 1 }, { "::8.8.8.8", 0 },
		{ "64:ff9b::127.0.0.1", 1 }, { "64:ff9b::192.168.1.1", 1 },
		{ "64:ff9b::8.8.8.8", 0 }, { "64:ff9b:1::8.8.8.8", 1 },
		{ "100::1", 1 }, { "100:0:0:1::1", 0 }, { "2001:db8::1", 1 },
		{ "2001:db9::1", 0 }, { "3fff:fff::1", 1 }, { "fc00::1", 1 },
		{ "fdff::1", 1 }, { "fe80::1", 1 }, { "febf::1", 1 },
		{ "fec0::1", 1 }, { "ff02::1", 1 }, { "2606:4700::1111", 0 },
		{ "2a00:1450::1", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char a[16];
		int fam = strchr(cases[i].addr, ':') ? AF_INET6 : AF_INET;
		cr_assert_eq(inet_pton(fam, cases[i].addr, a), 1, "%s",
		    cases[i].addr);
		cr_expect_eq(config_net_denied(cfg, fam, a), cases[i].denied,
		    "%s", cases[i].addr);
	}
	config_free(cfg);
}

Test(config, allow_networks_is_narrow)
{
	struct anvil_config *cfg = parse_ok(BASE
	    "[validation]\nallow_networks = 127.0.0.1/32, fd00:1::/64\n");
	static const struct {
		const char *addr;
		int denied;
	} cases[] = {
		{ "127.0.0.1", 0 }, { "127.0.0.2", 1 }, { "127.0.0.0", 1 },
		{ "::ffff:127.0.0.1", 0 }, { "::ffff:127.0.0.2", 1 },
		{ "::127.0.0.1", 0 }, { "::1", 1 },
		/* NAT64 reaches another host's 127.0.0.1: not excepted. */
		{ "64:ff9b::127.0.0.1", 1 },
		{ "fd00:1::5", 0 }, { "fd00:2::5", 1 }, { "10.0.0.1", 1 },
		{ "8.8.8.8", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char a[16];
		int fam = strchr(cases[i].addr, ':') ? AF_INET6 : AF_INET;
		cr_assert_eq(inet_pton(fam, cases[i].addr, a), 1);
		cr_expect_eq(config_net_denied(cfg, fam, a), cases[i].denied,
		    "%s", cases[i].addr);
	}
	config_free(cfg);
}

Test(config, free_null_is_noop)
{
	config_free(NULL);
}

Test(config, shipped_sample_parses)
{
	const char *top = getenv("top_srcdir");
	char path[1024];
	struct anvil_config *cfg = NULL;
	char err[512] = "";

	snprintf(path, sizeof(path), "%s/etc/anvil.conf.sample",
	    top ? top : ".");
	cr_assert_eq(config_load(path, &cfg, err, sizeof(err)), ANVIL_OK,
	    "the shipped sample is refused: %s", err);
	cr_assert_str_eq(cfg->base_url, "https://acme.example.org/acme");
	/* The sample shows the compiled-in default deny_networks. */
	{
		struct anvil_config *def = parse_ok(BASE);

		cr_assert_eq(cfg->deny_networks.n, def->deny_networks.n);
		cr_assert(memcmp(cfg->deny_networks.v, def->deny_networks.v,
		    def->deny_networks.n * sizeof(struct config_net)) == 0,
		    "the sample's deny_networks is not the default");
		cr_assert_eq(cfg->allow_networks.n, 0);
		/* Its [profile NAME] sections are the built-in profiles. */
		cr_assert_eq(cfg->profiles.n, def->profiles.n);
		for (size_t i = 0; i < def->profiles.n; i++) {
			const struct config_profile *a = &cfg->profiles.v[i];
			const struct config_profile *b = &def->profiles.v[i];

			cr_expect_str_eq(a->name, b->name);
			cr_expect_str_eq(a->description, b->description,
			    "profile %s", b->name);
			cr_expect_eq(a->validity_hours, b->validity_hours,
			    "profile %s", b->name);
			cr_expect_eq(a->eku, b->eku, "profile %s", b->name);
			cr_expect_eq(a->key_usage, b->key_usage, "profile %s",
			    b->name);
			cr_expect_eq(a->subject_cn, b->subject_cn, "profile %s",
			    b->name);
			cr_expect_eq(a->ident_types, b->ident_types);
			cr_expect_eq(a->max_identifiers, b->max_identifiers);
		}
		cr_expect_str_eq(cfg->default_profile, def->default_profile);
		config_free(def);
	}
	config_free(cfg);
}
