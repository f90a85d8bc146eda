/*
 * tlsalpn01.c - tls-alpn-01 (RFC 8737; RFC 8738 for IP addresses): a TLS
 * handshake offering only ALPN "acme-tls/1", SNI the name (or the reverse
 * name of the address), then checks on the self-signed certificate the
 * peer presents: exactly one subjectAltName equal to the identifier and a
 * critical acmeIdentifier extension holding SHA-256 of the key
 * authorization. The chain is not verified.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libtasn1.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.h"
#include "validate/val_int.h"

#define ACME_TLS_1 "acme-tls/1"
#define OID_ACME_IDENTIFIER "1.3.6.1.5.5.7.1.31"
#define OID_SUBJECT_ALT_NAME "2.5.29.17"
/* Extensions and names looked at in a peer certificate, at most. */
#define MAX_EXTENSIONS 64
#define MAX_SANS 64

/*
 * A GnuTLS call failed. Its text goes to the log under the call's name;
 * the detail, which the ACME client reads, says in our words what could
 * not be done (src/validate/validate.h).
 */
static void
tls_lib_log(const char *call, int ret)
{
	log_info("tls-alpn-01: %s: %s", call, gnutls_strerror(ret));
}

/* The SNI for an address: its name under in-addr.arpa or ip6.arpa. */
static void
reverse_name(const struct val_addr *a, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int i;

	if (a->family == AF_INET) {
		snprintf(out, len, "%u.%u.%u.%u.in-addr.arpa", a->bytes[3],
		    a->bytes[2], a->bytes[1], a->bytes[0]);
		return;
	}
	for (i = 15; i >= 0 && o + 4 < len; i--) {
		out[o++] = hex[a->bytes[i] & 15];
		out[o++] = '.';
		out[o++] = hex[a->bytes[i] >> 4];
		out[o++] = '.';
	}
	snprintf(out + o, len - o, "ip6.arpa");
}

static socklen_t
make_sockaddr(const struct val_addr *a, unsigned port,
    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, a->bytes, 4);
		return sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		memcpy(&in6->sin6_addr, a->bytes, 16);
		return sizeof(*in6);
	}
}

/* Connects to one of the n addresses in turn, each getting a fair share of
 * the time left. On success *fdp is a blocking socket whose reads and
 * writes time out at the deadline. Every address is checked against the
 * denied networks right before its connect, whatever produced the list
 * (val_host_addrs checks them too: this is the last word, as the
 * open-socket hook is for http-01). */
static anvil_err
connect_any(const struct anvil_config *cfg, const struct val_addr *a,
    size_t n, unsigned port, int64_t deadline, const char *where, int *fdp,
    char *detail, size_t detaillen)
{
	struct sockaddr_storage ss;
	struct timeval tv;
	socklen_t sl;
	int64_t left, slice;
	int fd = -1, err = ETIMEDOUT, flags;
	size_t i;

	*fdp = -1;
	for (i = 0; i < n; i++) {
		struct pollfd pfd;
		socklen_t el = sizeof(err);
		int prc;

		left = val_left_ms(deadline);
		if (left <= 0) {
			err = ETIMEDOUT;
			break;
		}
		slice = left / (int64_t)(n - i);
		if (config_net_denied(cfg, a[i].family, a[i].bytes)) {
			char text[INET6_ADDRSTRLEN];

			val_addr_str(&a[i], text, sizeof(text));
			return errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
			    "%s: %s is in a denied network", where, text);
		}
		fd = socket(a[i].family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		sl = make_sockaddr(&a[i], port, &ss);
		if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
			goto connected;
		if (errno != EINPROGRESS) {
			err = errno;
			close(fd);
			fd = -1;
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		do {
			prc = poll(&pfd, 1, (int)slice);
		} while (prc < 0 && errno == EINTR &&
		    (slice = val_left_ms(deadline)) > 0);
		if (prc == 0) {
			err = ETIMEDOUT;
		} else if (prc < 0) {
			err = errno;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) ==
		    0 && err == 0) {
			goto connected;
		} else if (err == 0) {
			err = errno;
		}
		close(fd);
		fd = -1;
	}
	if (err == ETIMEDOUT || err == 0)
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: timeout while connecting", where);
	if (err == ECONNREFUSED)
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: connection refused", where);
	log_info("tls-alpn-01: %s: connect: %s", where, strerror(err));
	return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
	    "%s: cannot connect", where);

connected:
	flags = fcntl(fd, F_GETFL);
	left = val_left_ms(deadline);
	if (left <= 0)
		left = 1;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		log_warn("tls-alpn-01: %s: socket options: %s", where,
		    strerror(errno));
		close(fd);
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: cannot set up the connection", where);
	}
	*fdp = fd;
	return ANVIL_OK;
}

/* Checks that the certificate names exactly the identifier. */
static anvil_err
check_san(gnutls_x509_crt_t crt, const struct val_ident *id,
    const struct val_addr *ip, char *detail, size_t detaillen)
{
	char buf[512];
	unsigned seq, type = 0, crit = 0;
	size_t size;
	int ret, match = 0;

	for (seq = 0; seq < MAX_SANS; seq++) {
		size = sizeof(buf) - 1;
		ret = gnutls_x509_crt_get_subject_alt_name2(crt, seq, buf,
		    &size, &type, &crit);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue; /* counts as a name, never ours */
		if (ret < 0) {
			tls_lib_log("gnutls_x509_crt_get_subject_alt_name2",
			    ret);
			return errf(detail, detaillen, ANVIL_ERR_INCORRECT,
			    "the tls-alpn-01 certificate's subjectAltName "
			    "cannot be read");
		}
		if (seq > 0)
			continue;
		if (ip == NULL && ret == GNUTLS_SAN_DNSNAME) {
			buf[size < sizeof(buf) ? size : sizeof(buf) - 1] = '\0';
			match = strlen(buf) == size &&
			    strcasecmp(buf, id->value) == 0;
			/* The name the peer put there is not quoted:
			 * see http01.c on echoing what a peer sends. */
			if (!match)
				return errf(detail, detaillen,
				    ANVIL_ERR_INCORRECT,
				    "the tls-alpn-01 certificate's dNSName is "
				    "not %s", id->value);
		} else if (ip != NULL && ret == GNUTLS_SAN_IPADDRESS) {
			size_t want = ip->family == AF_INET ? 4 : 16;

			match = size == want &&
			    memcmp(buf, ip->bytes, want) == 0;
			if (!match)
				return errf(detail, detaillen,
				    ANVIL_ERR_INCORRECT,
				    "the tls-alpn-01 certificate's "
				    "iPAddress is not %s", id->value);
		} else {
			return errf(detail, detaillen, ANVIL_ERR_INCORRECT,
			    "the tls-alpn-01 certificate's subjectAltName "
			    "is not a %s", ip != NULL ? "iPAddress" :
			    "dNSName");
		}
	}
	if (seq == 0)
		return errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the tls-alpn-01 certificate has no subjectAltName");
	if (seq != 1)
		return errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the tls-alpn-01 certificate has %u subjectAltNames, "
		    "not exactly one", seq);
	return match ? ANVIL_OK : errf(detail, detaillen, ANVIL_ERR_INCORRECT,
	    "the tls-alpn-01 certificate does not name %s", id->value);
}

/* Checks the acmeIdentifier extension value: a DER OCTET STRING holding
 * exactly the 32 bytes of digest. */
static anvil_err
check_acme_value(const gnutls_datum_t *v, const unsigned char *digest,
    char *detail, size_t detaillen)
{
	unsigned char cls = 0;
	unsigned long tag = 0;
	int taglen = 0, lenlen = 0;
	long clen;

	if (v->size < 2 || v->size > 64 ||
	    asn1_get_tag_der(v->data, (int)v->size, &cls, &taglen, &tag) !=
	    ASN1_SUCCESS ||
	    cls != ASN1_CLASS_UNIVERSAL || tag != ASN1_TAG_OCTET_STRING ||
	    taglen != 1)
		return errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the acmeIdentifier extension is not an OCTET STRING");
	clen = asn1_get_length_der(v->data + taglen, (int)v->size - taglen,
	    &lenlen);
	/* 32 bytes take the one-byte short form in DER. */
	if (clen != 32 || lenlen != 1 ||
	    (size_t)taglen + (size_t)lenlen + 32 != v->size)
		return errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the acmeIdentifier extension does not hold a 32-byte "
		    "SHA-256 value");
	if (memcmp(v->data + taglen + lenlen, digest, 32) != 0)
		return errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the acmeIdentifier extension does not match the key "
		    "authorization");
	return ANVIL_OK;
}

/* Checks the peer's certificate (DER): see val_int.h. */
anvil_err
val_tlsalpn01_check_der(const unsigned char *der, size_t len,
    const struct val_ident *id, const struct val_addr *ip,
    const unsigned char *digest, char *detail, size_t detaillen)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t value = { NULL, 0 };
	gnutls_datum_t in = { (unsigned char *)der, (unsigned)len };
	anvil_err rc = ANVIL_ERR_INCORRECT;
	unsigned idx, crit = 0, acme_crit = 0;
	int ret, nacme = 0, nsan = 0, acme_idx = -1;

	if ((ret = gnutls_x509_crt_init(&crt)) < 0) {
		tls_lib_log("gnutls_x509_crt_init", ret);
		return errf(detail, detaillen, ANVIL_ERR_NOMEM,
		    "out of memory");
	}
	ret = gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_DER);
	if (ret < 0) {
		tls_lib_log("gnutls_x509_crt_import", ret);
		rc = errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the tls-alpn-01 certificate cannot be parsed");
		goto out;
	}
	for (idx = 0; idx < MAX_EXTENSIONS; idx++) {
		char oid[128];
		size_t oidlen = sizeof(oid);

		ret = gnutls_x509_crt_get_extension_info(crt, idx, oid,
		    &oidlen, &crit);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue; /* an OID this long is none of ours */
		if (ret < 0) {
			tls_lib_log("gnutls_x509_crt_get_extension_info", ret);
			rc = errf(detail, detaillen, ANVIL_ERR_INCORRECT,
			    "the tls-alpn-01 certificate's extensions cannot "
			    "be read");
			goto out;
		}
		if (strcmp(oid, OID_ACME_IDENTIFIER) == 0) {
			nacme++;
			acme_idx = (int)idx;
			acme_crit = crit;
		} else if (strcmp(oid, OID_SUBJECT_ALT_NAME) == 0) {
			nsan++;
		}
	}
	if (nsan > 1) {
		rc = errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the tls-alpn-01 certificate has %d subjectAltName "
		    "extensions", nsan);
		goto out;
	}
	rc = check_san(crt, id, ip, detail, detaillen);
	if (rc != ANVIL_OK)
		goto out;
	if (nacme != 1) {
		rc = errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    nacme == 0 ? "the tls-alpn-01 certificate has no "
		    "acmeIdentifier extension" : "the tls-alpn-01 certificate "
		    "has more than one acmeIdentifier extension");
		goto out;
	}
	if (!acme_crit) {
		rc = errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the acmeIdentifier extension is not critical");
		goto out;
	}
	ret = gnutls_x509_crt_get_extension_data2(crt, (unsigned)acme_idx,
	    &value);
	if (ret < 0) {
		tls_lib_log("gnutls_x509_crt_get_extension_data2", ret);
		rc = errf(detail, detaillen, ANVIL_ERR_INCORRECT,
		    "the acmeIdentifier extension cannot be read");
		goto out;
	}
	rc = check_acme_value(&value, digest, detail, detaillen);
out:
	gnutls_free(value.data);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

/* Checks the peer's certificate. */
static anvil_err
check_cert(gnutls_session_t sess, const struct val_ident *id,
    const struct val_addr *ip, const unsigned char *digest, char *detail,
    size_t detaillen)
{
	const gnutls_datum_t *peers;
	unsigned np = 0;

	if (gnutls_certificate_type_get(sess) != GNUTLS_CRT_X509)
		return errf(detail, detaillen, ANVIL_ERR_TLS,
		    "the peer did not present an X.509 certificate");
	peers = gnutls_certificate_get_peers(sess, &np);
	if (peers == NULL || np == 0)
		return errf(detail, detaillen, ANVIL_ERR_TLS,
		    "the peer presented no certificate");
	return val_tlsalpn01_check_der(peers[0].data, peers[0].size, id, ip,
	    digest, detail, detaillen);
}

/* Maps a failed handshake to CONNECTION (the transport) or TLS. */
static anvil_err
handshake_failure(int ret, const char *where, char *detail,
    size_t detaillen)
{
	switch (ret) {
	case GNUTLS_E_TIMEDOUT:
	case GNUTLS_E_AGAIN:
	case GNUTLS_E_INTERRUPTED:
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: timeout during the TLS handshake", where);
	case GNUTLS_E_PULL_ERROR:
	case GNUTLS_E_PUSH_ERROR:
		return errf(detail, detaillen, ANVIL_ERR_CONNECTION,
		    "%s: connection lost during the TLS handshake", where);
	default:
		log_info("tls-alpn-01: %s: gnutls_handshake: %s", where,
		    gnutls_strerror(ret));
		return errf(detail, detaillen, ANVIL_ERR_TLS,
		    "%s: TLS handshake failed", where);
	}
}

anvil_err
val_tlsalpn01(const struct anvil_config *cfg, const struct val_ident *id,
    const struct val_addr *ip, const char *key_authz, int64_t deadline,
    char *detail, size_t detaillen)
{
	static const char alpn_name[] = ACME_TLS_1;
	struct val_addr addrs[VAL_MAX_ADDRS];
	struct val_dns *dns = NULL;
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_session_t sess = NULL;
	gnutls_datum_t proto, selected = { NULL, 0 };
	unsigned char digest[32];
	char sni[80], where[VAL_MAX_NAME + 16];
	anvil_err rc = ANVIL_ERR_TLS;
	size_t naddrs = 0;
	int fd = -1, ret;
	int64_t left;

	ret = gnutls_hash_fast(GNUTLS_DIG_SHA256, key_authz, strlen(key_authz),
	    digest);
	if (ret < 0) {
		tls_lib_log("gnutls_hash_fast", ret);
		return errf(detail, detaillen, ANVIL_ERR_CRYPTO,
		    "cannot hash the key authorization");
	}
	if (ip != NULL)
		reverse_name(ip, sni, sizeof(sni));
	snprintf(where, sizeof(where), ip != NULL && ip->family == AF_INET6 ?
	    "[%s]:%u" : "%s:%u", id->value, cfg->tls_port);

	rc = val_host_addrs(cfg, &dns, id->value, deadline, addrs,
	    VAL_MAX_ADDRS, &naddrs, detail, detaillen);
	if (rc != ANVIL_OK)
		goto out;
	rc = connect_any(cfg, addrs, naddrs, cfg->tls_port, deadline, where,
	    &fd, detail, detaillen);
	if (rc != ANVIL_OK)
		goto out;

	if ((ret = gnutls_certificate_allocate_credentials(&cred)) < 0 ||
	    (ret = gnutls_init(&sess, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL)) < 0 ||
	    /* The challenge certificate is checked by hand below, not
	     * trusted: its keyUsage (lego's lacks digitalSignature for an
	     * key) must not fail the handshake: %COMPAT lets a peer's
	     * key usage violation pass in GnuTLS 3.7. */
	    (ret = gnutls_set_default_priority_append(sess,
	    "%COMPAT", NULL, 0)) < 0 ||
	    (ret = gnutls_credentials_set(sess, GNUTLS_CRD_CERTIFICATE,
	    cred)) < 0) {
		tls_lib_log("setting up the TLS client", ret);
		rc = errf(detail, detaillen, ANVIL_ERR_TLS,
		    "cannot set up the TLS client");
		goto out;
	}
	if (ip != NULL)
		ret = gnutls_server_name_set(sess, GNUTLS_NAME_DNS, sni,
		    strlen(sni));
	else
		ret = gnutls_server_name_set(sess, GNUTLS_NAME_DNS, id->value,
		    strlen(id->value));
	if (ret < 0) {
		tls_lib_log("gnutls_server_name_set", ret);
		rc = errf(detail, detaillen, ANVIL_ERR_TLS,
		    "cannot set the TLS server name");
		goto out;
	}
	proto.data = (unsigned char *)alpn_name;
	proto.size = sizeof(alpn_name) - 1;
	ret = gnutls_alpn_set_protocols(sess, &proto, 1,
	    GNUTLS_ALPN_MANDATORY);
	if (ret < 0) {
		tls_lib_log("gnutls_alpn_set_protocols", ret);
		rc = errf(detail, detaillen, ANVIL_ERR_TLS,
		    "cannot offer the acme-tls/1 protocol");
		goto out;
	}
	gnutls_transport_set_int(sess, fd);
	left = val_left_ms(deadline);
	gnutls_handshake_set_timeout(sess, (unsigned)(left > 0 ? left : 1));
	do {
		ret = gnutls_handshake(sess);
	} while (ret < 0 && !gnutls_error_is_fatal(ret) &&
	    val_left_ms(deadline) > 0);
	if (ret < 0) {
		rc = handshake_failure(ret, where, detail, detaillen);
		goto out;
	}
	if (gnutls_alpn_get_selected_protocol(sess, &selected) < 0 ||
	    selected.size != proto.size ||
	    memcmp(selected.data, alpn_name, proto.size) != 0) {
		rc = errf(detail, detaillen, ANVIL_ERR_TLS,
		    "%s did not negotiate the ALPN protocol acme-tls/1", where);
		goto out;
	}
	rc = check_cert(sess, id, ip, digest, detail, detaillen);
	if (rc == ANVIL_OK)
		(void)gnutls_bye(sess, GNUTLS_SHUT_WR);
out:
	if (sess != NULL)
		gnutls_deinit(sess);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	if (fd >= 0)
		close(fd);
	val_dns_free(dns);
	return rc;
}
