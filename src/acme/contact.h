/*
 * contact.h - private to src/acme: checking an account's contact list.
 */
#ifndef ANVIL_ACME_CONTACT_H
#define ANVIL_ACME_CONTACT_H

#include "acme/acme_int.h"

/*
 * Checks a "contact" value: an array of at most 10 "mailto:" URLs with
 * one plain address each. Fails r with unsupportedContact (not mailto) or
 * invalidContact (bad address) or malformed.
 */
anvil_err acme_contact_check(struct acme_req *r, json_t *contact);

#endif
