/*
 * ident.c - order identifiers: "dns" names (lower case, LDH labels,
 * IDNA A-labels that decode, one leading "*." for wildcards) and "ip"
 * addresses (RFC 8738; written back in canonical text).
 *
 * Every identifier enters through acme_ident_normalise (newOrder is the
 * only way in: there is no newAuthz), and finalize matches the CSR's
 * names against the order's normalised ones (src/ca/csr.c), so the two
 * refusals below hold for CSRs too:
 *   - a "dns" name that is a number to someone (inet_aton, a URL parser
 *     or libcurl): validation would connect to that address, and the
 *     certificate would name it under a policy written for DNS names;
 *   - an "ip" address that is an IPv4 address in IPv6 clothing (mapped,
 *     compatible, NAT64): policy and validation deny lists are written
 *     for the IPv4 form. Refused, naming the form to order instead,
 *     rather than rewritten: the certificate then says what was asked.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <idn2.h>

#include "acme/acme_int.h"

/* 1 if the xn-- label (len bytes) is a valid A-label that round-trips. */
static int
alabel_ok(const char *label, size_t len)
{
	char buf[64], *u = NULL, *back = NULL;
	int ok;

	memcpy(buf, label, len);
	buf[len] = '\0';
	ok = idn2_to_unicode_8z8z(buf, &u, 0) == IDN2_OK &&
	    idn2_to_ascii_8z(u, &back, IDN2_NONTRANSITIONAL) == IDN2_OK &&
	    strcasecmp(back, buf) == 0;
	idn2_free(u);
	idn2_free(back);
	return ok;
}

/*
 * 1 if name (without "*.") is a number to a resolver or URL parser: what
 * inet_aton() accepts (hex, octal and short forms: 0x7f.1, 017700000001,
 * 127.1, 2130706433), or a last label that is all digits or "0x" and hex
 * digits. The WHATWG URL standard (IPv4 parser, "ends in a number") takes
 * such a host as IPv4, and RFC 3696 §2 (after RFC 1123 §2.1) says a
 * top-level domain is not all-numeric; no TLD starts with "0x" either.
 * "example.123" and "example.0x1f" are refused for that reason, though
 * inet_aton() refuses them. The address, when there is one, into addr.
 */
static int
dns_numeric(const char *name, char addr[INET_ADDRSTRLEN])
{
	const char *last = strrchr(name, '.');
	struct in_addr in;
	unsigned char a6[16];

	addr[0] = '\0';
	if (inet_aton(name, &in) != 0) {
		inet_ntop(AF_INET, &in, addr, INET_ADDRSTRLEN);
		return 1;
	}
	if (inet_pton(AF_INET6, name, a6) == 1)
		return 1;
	last = last ? last + 1 : name;
	if (*last != '\0' && strspn(last, "0123456789") == strlen(last))
		return 1;
	return last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
	    strspn(last + 2, "0123456789abcdefABCDEF") == strlen(last + 2);
}

static anvil_err
dns_check(const char *v, char *out, char *why, size_t whylen)
{
	size_t len = strlen(v), i, lab = 0, start = 0, nlabels = 0;
	const char *name = v;
	char addr[INET_ADDRSTRLEN];

	if (len > 2 && v[0] == '*' && v[1] == '.')
		name = v + 2;
	len = strlen(name);
	if (len == 0 || len > 253) {
		snprintf(why, whylen, "name length must be 1 to 253");
		return ANVIL_ERR_REJECTEDID;
	}
	if (name[len - 1] == '.') {
		snprintf(why, whylen, "name ends in a dot");
		return ANVIL_ERR_REJECTEDID;
	}
	for (i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.' || c == '\0') {
			if (lab == 0) {
				snprintf(why, whylen, "empty label");
				return ANVIL_ERR_REJECTEDID;
			}
			if (name[i - 1] == '-' || name[start] == '-') {
				snprintf(why, whylen, "a label starts or ends "
				    "with a hyphen");
				return ANVIL_ERR_REJECTEDID;
			}
			if (lab >= 4 && strncasecmp(name + start, "xn--", 4) ==
			    0 && !alabel_ok(name + start, lab)) {
				snprintf(why, whylen, "label %.*s is not a valid "
				    "IDNA A-label", (int)lab, name + start);
				return ANVIL_ERR_REJECTEDID;
			}
			nlabels++;
			lab = 0;
			start = i + 1;
			continue;
		}
		if (c >= 0x80) {
			snprintf(why, whylen, "non-ASCII name: send IDNA "
			    "A-labels (xn--)");
			return ANVIL_ERR_REJECTEDID;
		}
		if (!isalnum(c) && c != '-') {
			snprintf(why, whylen, "character '%c' not allowed in "
			    "a DNS name", isprint(c) ? c : '?');
			return ANVIL_ERR_REJECTEDID;
		}
		if (++lab > 63) {
			snprintf(why, whylen, "label longer than 63");
			return ANVIL_ERR_REJECTEDID;
		}
	}
	(void)nlabels;
	if (dns_numeric(name, addr)) {
		if (addr[0] != '\0')
			snprintf(why, whylen, "%.64s is the IPv4 address %s: "
			    "order it as an \"ip\" identifier", name, addr);
		else
			snprintf(why, whylen, "the last label of %.64s is a "
			    "number, which resolvers and URL parsers read as "
			    "an IPv4 address (RFC 3696 §2)", name);
		return ANVIL_ERR_REJECTEDID;
	}
	for (i = 0; v[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)v[i]);
	out[i] = '\0';
	return ANVIL_OK;
}

/*
 * IPv6 forms that carry an IPv4 address in their last 32 bits, each a
 * spelling of that IPv4 host: IPv4-mapped ::ffff:0:0/96 (RFC 4291
 * §2.5.5.2; a v6 socket connecting to one reaches the IPv4 host),
 * IPv4-compatible ::/96 (RFC 4291 §2.5.5.1, deprecated; :: and ::1 are
 * not, as in glibc's IN6_IS_ADDR_V4COMPAT), and the NAT64 well-known
 * prefix 64:ff9b::/96 (RFC 6052 §2.1; a validator behind NAT64 reaches
 * the IPv4 host). The network-specific NAT64 prefixes (64:ff9b:1::/48,
 * RFC 8215, and any other) embed at operator-chosen lengths and cannot
 * be recognised here; deny them in policy where they are used.
 */
static const struct {
	unsigned char prefix[12];
	const char *what;
} v4_in_v6[] = {
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, "an IPv4-mapped" },
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "an IPv4-compatible" },
	{ { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 }, "a NAT64" },
};

/* The row of v4_in_v6 that a holds, or -1; its IPv4 form into v4. */
static int
ip6_embeds_v4(const unsigned char a[16], char v4[INET_ADDRSTRLEN])
{
	size_t i;

	for (i = 0; i < sizeof(v4_in_v6) / sizeof(v4_in_v6[0]); i++) {
		if (memcmp(a, v4_in_v6[i].prefix, 12) != 0)
			continue;
		if (i == 1 && a[12] == 0 && a[13] == 0 && a[14] == 0 &&
		    a[15] <= 1)
			continue;
		inet_ntop(AF_INET, a + 12, v4, INET_ADDRSTRLEN);
		return (int)i;
	}
	return -1;
}

anvil_err
acme_ident_normalise(json_t *id, char type[8], char value[256], char *why,
    size_t whylen)
{
	const char *t = json_string_value(json_object_get(id, "type"));
	const char *v = json_string_value(json_object_get(id, "value"));
	unsigned char addr[16];
	char v4[INET_ADDRSTRLEN];
	int row;

	if (!json_is_object(id) || t == NULL || v == NULL) {
		snprintf(why, whylen, "identifier must be {\"type\", \"value\"}");
		return ANVIL_ERR_MALFORMED;
	}
	if (strlen(v) > 255) {
		snprintf(why, whylen, "identifier too long");
		return ANVIL_ERR_REJECTEDID;
	}
	if (strcmp(t, "dns") == 0) {
		snprintf(type, 8, "dns");
		return dns_check(v, value, why, whylen);
	}
	if (strcmp(t, "ip") == 0) {
		snprintf(type, 8, "ip");
		if (inet_pton(AF_INET, v, addr) == 1) {
			inet_ntop(AF_INET, addr, value, 256);
			return ANVIL_OK;
		}
		if (inet_pton(AF_INET6, v, addr) == 1) {
			if ((row = ip6_embeds_v4(addr, v4)) >= 0) {
				snprintf(why, whylen, "%.64s is %s IPv6 "
				    "address: order the IPv4 address %s "
				    "instead", v, v4_in_v6[row].what, v4);
				return ANVIL_ERR_REJECTEDID;
			}
			inet_ntop(AF_INET6, addr, value, 256);
			return ANVIL_OK;
		}
		snprintf(why, whylen, "\"%.64s\" is not an IP address", v);
		return ANVIL_ERR_MALFORMED;
	}
	snprintf(why, whylen, "identifier type \"%.32s\" is not supported "
	    "(dns, ip)", t);
	return ANVIL_ERR_UNSUPPORTEDID;
}
