/*
 * ident.c - order identifiers: "dns" names (lower case, LDH labels,
 * IDNA A-labels that decode, one leading "*." for wildcards) and "ip"
 * addresses (RFC 8738; written back in canonical text).
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

static anvil_err
dns_check(const char *v, char *out, char *why, size_t whylen)
{
	size_t len = strlen(v), i, lab = 0, start = 0, nlabels = 0;
	const char *name = v;
	int all_digits = 1;

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
		if (!isdigit(c))
			all_digits = 0;
		if (++lab > 63) {
			snprintf(why, whylen, "label longer than 63");
			return ANVIL_ERR_REJECTEDID;
		}
	}
	(void)nlabels;
	if (all_digits || (strspn(name, "0123456789.") == len)) {
		snprintf(why, whylen, "an IP address must be an \"ip\" "
		    "identifier");
		return ANVIL_ERR_REJECTEDID;
	}
	for (i = 0; v[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)v[i]);
	out[i] = '\0';
	return ANVIL_OK;
}

anvil_err
acme_ident_normalise(json_t *id, char type[8], char value[256], char *why,
    size_t whylen)
{
	const char *t = json_string_value(json_object_get(id, "type"));
	const char *v = json_string_value(json_object_get(id, "value"));
	unsigned char addr[16];

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
