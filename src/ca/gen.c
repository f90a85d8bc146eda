/*
 * gen.c - the generations of a CA (ca.h): which one signs what, and the
 * chains above a certificate of each (RFC 8555 §7.4.2).
 */
#include "config.h"

#include <string.h>

#include "ca/ca_int.h"

unsigned
ca_generation(const struct ca *ca)
{
	return ca->gen;
}

struct ca *
ca_older(const struct ca *ca)
{
	return ca->older;
}

struct ca *
ca_generation_get(const struct ca *ca, unsigned gen)
{
	unsigned n;

	/* Bounded: at most CA_MAX_GENERATIONS are linked. */
	for (n = 0; ca != NULL && n < CA_MAX_GENERATIONS; n++, ca = ca->older)
		if (ca->gen == gen)
			return (struct ca *)ca;
	return NULL;
}

struct ca *
ca_generation_by_key_id(const struct ca *ca, const unsigned char *kid,
    size_t len)
{
	unsigned n;

	for (n = 0; ca != NULL && n < CA_MAX_GENERATIONS; n++, ca = ca->older)
		if (ca->key_id_len == len && memcmp(ca->key_id, kid, len) == 0)
			return (struct ca *)ca;
	return NULL;
}

int
ca_retired(const struct ca *ca)
{
	return ca->retired;
}

unsigned
ca_chain_count(const struct ca *ca)
{
	return ca->gen > 1 && ca->cross_pem != NULL ? 2 : 1;
}

const char *
ca_chain_pem_peek(const struct ca *ca, unsigned which)
{
	if (which == 0)
		return ca->gen > 1 && ca->cross_pem != NULL ? ca->cross_pem :
		    ca->cert_pem;
	if (which == 1 && ca_chain_count(ca) == 2)
		return ca->cert_pem;
	return NULL;
}
