/*
 * contact.c - account contacts: mailto: URLs with one plain address, no
 * header fields, at most ten.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "acme/contact.h"

#define MAX_CONTACTS 10

static int
email_ok(const char *s)
{
	const char *at = strchr(s, '@'), *p;
	int dots = 0;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL ||
	    strlen(s) > 254 || at[1] == '\0')
		return 0;
	for (p = s; p < at; p++)
		if (!(isalnum((unsigned char)*p) || strchr(".!#$%&'*+/=^_`{|}~-",
		    *p)))
			return 0;
	for (p = at + 1; *p; p++) {
		if (*p == '.') {
			if (p[1] == '.' || p[1] == '\0' || p == at + 1)
				return 0;
			dots++;
		} else if (!(isalnum((unsigned char)*p) || *p == '-'))
			return 0;
	}
	return dots > 0;
}

anvil_err
acme_contact_check(struct acme_req *r, json_t *contact)
{
	json_t *v;
	size_t i;

	if (!json_is_array(contact))
		return acme_fail(r, ANVIL_ERR_MALFORMED, "contact must be an "
		    "array of URLs");
	if (json_array_size(contact) > MAX_CONTACTS)
		return acme_fail(r, ANVIL_ERR_MALFORMED, "at most %d contacts",
		    MAX_CONTACTS);
	json_array_foreach(contact, i, v) {
		const char *s = json_string_value(v);
		if (s == NULL)
			return acme_fail(r, ANVIL_ERR_MALFORMED, "contact %zu "
			    "is not a string", i);
		if (strncasecmp(s, "mailto:", 7) != 0)
			return acme_fail(r, ANVIL_ERR_UNSUPPORTEDCONTACT,
			    "contact %zu: only mailto: URLs are supported", i);
		if (!email_ok(s + 7))
			return acme_fail(r, ANVIL_ERR_BADCONTACT, "contact %zu: "
			    "\"%.64s\" is not one plain e-mail address (no "
			    "header fields, no lists)", i, s + 7);
	}
	return ANVIL_OK;
}
