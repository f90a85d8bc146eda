/*
 * curl_dl.h - libcurl, loaded when the first http-01 check needs it.
 *
 * Debian's libcurl-gnutls pulls in 30 shared objects (Kerberos, LDAP,
 * SSH, ...): linking it made every start of the anvil program cost 4 ms
 * of CPU, most of a CGI request, though only a validation uses it. The
 * program is linked without it; val_curl_load() opens it (the soname
 * configure found) once per process.
 */
#ifndef ANVIL_VALIDATE_CURL_DL_H
#define ANVIL_VALIDATE_CURL_DL_H

#include <stddef.h>
#include <curl/curl.h>

#include "core/error.h"

struct val_curl_api {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	void (*free)(void *);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *);
	CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
};

/*
 * The functions of libcurl (*out), loaded on first use. Errors:
 * ANVIL_ERR_IO naming the library and the loader's reason in detail.
 */
anvil_err val_curl_load(const struct val_curl_api **out, char *detail,
    size_t detaillen);

#endif
