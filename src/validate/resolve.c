/*
 * resolve.c - name resolution for validation: libunbound, forwarding to
 * the configured resolver or using the system's, always asynchronous so
 * that every lookup ends by the check's deadline; address literals; the
 * denied-network test.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "validate/unbound_dl.h"
#include "validate/val_int.h"

#define RR_A 1
#define RR_AAAA 28
#define CLASS_IN 1
#define RCODE_NXDOMAIN 3

struct val_dns {
	struct ub_ctx *ctx;
	int forwarding; /* 1 when cfg->dns_resolver is used */
	char *key;	/* resolver "|" trust anchor it was made for */
	pid_t pid;	/* process it was made in (its thread is there) */
	int in_use;	/* handed out and not given back */
	int spoiled;	/* a query failed or timed out: do not reuse */
};

/*
 * The context is kept for the next validation of the same process: making
 * one (and its resolver thread) per validation was 8 % of a FastCGI
 * worker's CPU under load (bench/README.md). Its caches are capped at a
 * TTL of 0, so an answer is never reused: a client that fixes a record
 * after a failed validation is seen at once, as with a fresh context.
 */
static struct val_dns *kept;
static unsigned made;		/* contexts made by this process */
/* libunbound, loaded by the first val_dns_new (src/validate/unbound_dl.h);
 * every context and answer comes after it. */
static const struct val_unbound_api *ub;

static void dns_delete(struct val_dns *);

/* One outstanding asynchronous query. */
struct pending {
	int id;
	int done;
	int err;		/* unbound error code, 0 if none */
	struct ub_result *res;
};

int64_t
val_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
val_left_ms(int64_t deadline)
{
	int64_t left = deadline - val_now_ms();

	return left > 0 ? left : 0;
}

int
val_addr_parse(const char *s, struct val_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->bytes) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out->bytes) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

void
val_addr_str(const struct val_addr *a, char *buf, size_t len)
{
	if (inet_ntop(a->family, a->bytes, buf, (socklen_t)len) == NULL &&
	    len > 0)
		buf[0] = '\0';
}

void
val_excerpt(const void *data, size_t len, size_t max, char *out)
{
	const unsigned char *p = data;
	size_t i, n = len < max ? len : max;

	for (i = 0; i < n; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	out[n] = '\0';
	if (len > max)
		strcpy(out + n, "...");
}

/* Sets one unbound option, logging a refusal. */
static int
set_opt(struct ub_ctx *ctx, const char *opt, const char *val)
{
	int rc = ub->ub_ctx_set_option(ctx, opt, val);

	if (rc != 0)
		log_warn("ub_ctx_set_option %s %s: %s", opt, val,
		    ub->ub_strerror(rc));
	return rc;
}

anvil_err
val_dns_new(const struct anvil_config *cfg, struct val_dns **out,
    char *detail, size_t detaillen)
{
	/* Special-use zones unbound answers itself by default (RFC 6761,
	 * RFC 8375) that a named resolver may well serve: test labs and
	 * home networks are where a private CA lives. "nodefault" does not
	 * lift the default through ub_ctx_set_option; "transparent" does. */
	static const char *const passthrough[] = {
		"test. transparent", "home.arpa. transparent",
	};
	char key[2048];
	struct val_dns *dns = NULL;
	anvil_err rc = ANVIL_ERR_DNS;
	size_t i;
	int urc;

	*out = NULL;
	/* A context serves the same resolver and trust anchor only. */
	if ((size_t)snprintf(key, sizeof(key), "%s|%s", cfg->dns_resolver !=
	    NULL ? cfg->dns_resolver : "", cfg->dns_trust_anchor != NULL ?
	    cfg->dns_trust_anchor : "") >= sizeof(key))
		return errf(detail, detaillen, ANVIL_ERR_DNS,
		    "DNS resolver settings too long");
	if (kept != NULL && !kept->in_use && kept->pid == getpid() &&
	    strcmp(kept->key, key) == 0) {
		kept->in_use = 1;
		*out = kept;
		return ANVIL_OK;
	}
	if ((rc = val_unbound_load(&ub, detail, detaillen)) != ANVIL_OK)
		return rc;
	rc = ANVIL_ERR_DNS;
	dns = calloc(1, sizeof(*dns));
	if (dns == NULL || (dns->key = strdup(key)) == NULL) {
		free(dns);
		return errf(detail, detaillen, ANVIL_ERR_NOMEM, "out of memory");
	}
	dns->pid = getpid();
	dns->in_use = 1;
	made++;
	dns->ctx = ub->ub_ctx_create();
	if (dns->ctx == NULL) {
		rc = errf(detail, detaillen, ANVIL_ERR_DNS,
		    "cannot create a DNS resolver");
		goto out;
	}
	/* A thread, not a forked process, answers the queries. */
	if ((urc = ub->ub_ctx_async(dns->ctx, 1)) != 0) {
		log_err("ub_ctx_async: %s", ub->ub_strerror(urc));
		rc = errf(detail, detaillen, ANVIL_ERR_DNS,
		    "cannot set up the DNS resolver");
		goto out;
	}
	/* Loopback resolvers are legitimate here (local caches, tests). */
	if (set_opt(dns->ctx, "do-not-query-localhost:", "no") != 0) {
		rc = errf(detail, detaillen, ANVIL_ERR_DNS,
		    "the DNS resolver refused do-not-query-localhost");
		goto out;
	}
	/* Nothing answered is remembered (the context is kept). */
	if (set_opt(dns->ctx, "cache-max-ttl:", "0") != 0 ||
	    set_opt(dns->ctx, "cache-max-negative-ttl:", "0") != 0) {
		rc = errf(detail, detaillen, ANVIL_ERR_DNS,
		    "the DNS resolver refused to turn its cache off");
		goto out;
	}
	/* A configured trust anchor turns DNSSEC validation on; a bogus
	 * answer then comes back flagged (caa.c refuses it). */
	if (cfg->dns_trust_anchor != NULL && cfg->dns_trust_anchor[0] != '\0' &&
	    (urc = ub->ub_ctx_add_ta_file(dns->ctx,
	    cfg->dns_trust_anchor)) != 0) {
		log_err("ub_ctx_add_ta_file %s: %s", cfg->dns_trust_anchor,
		    ub->ub_strerror(urc));
		rc = errf(detail, detaillen, ANVIL_ERR_DNS,
		    "the DNSSEC trust anchor cannot be used");
		goto out;
	}
	if (cfg->dns_resolver != NULL && cfg->dns_resolver[0] != '\0') {
		dns->forwarding = 1;
		if ((urc = ub->ub_ctx_set_fwd(dns->ctx,
		    cfg->dns_resolver)) != 0) {
			log_err("ub_ctx_set_fwd %s: %s", cfg->dns_resolver,
			    ub->ub_strerror(urc));
			rc = errf(detail, detaillen, ANVIL_ERR_DNS,
			    "DNS resolver %s cannot be used", cfg->dns_resolver);
			goto out;
		}
		for (i = 0; i < sizeof(passthrough) / sizeof(passthrough[0]);
		    i++)
			(void)set_opt(dns->ctx, "local-zone:", passthrough[i]);
	} else {
		if ((urc = ub->ub_ctx_resolvconf(dns->ctx, NULL)) != 0)
			log_warn("ub_ctx_resolvconf: %s", ub->ub_strerror(urc));
		if ((urc = ub->ub_ctx_hosts(dns->ctx, NULL)) != 0)
			log_warn("ub_ctx_hosts: %s", ub->ub_strerror(urc));
	}
	if (kept == NULL || (!kept->in_use && kept->pid == getpid())) {
		/* Replaces one made for another resolver (config reload). */
		if (kept != NULL)
			dns_delete(kept);
		kept = dns;
	}
	*out = dns;
	dns = NULL;
	rc = ANVIL_OK;
out:
	if (dns != NULL)
		dns_delete(dns);
	return rc;
}

void
val_dns_result_free(struct ub_result *res)
{
	if (res != NULL)
		ub->ub_resolve_free(res);
}

unsigned
val_dns_made(void)
{
	return made;
}

static void
dns_delete(struct val_dns *dns)
{
	if (dns == kept)
		kept = NULL;
	/* In a forked child the resolver thread is the parent's: leave it. */
	if (dns->ctx != NULL && dns->pid == getpid())
		ub->ub_ctx_delete(dns->ctx);
	free(dns->key);
	free(dns);
}

void
val_dns_free(struct val_dns *dns)
{
	if (dns == NULL)
		return;
	if (dns == kept && !dns->spoiled && dns->pid == getpid()) {
		dns->in_use = 0;
		return;
	}
	dns_delete(dns);
}

static void
query_done(void *arg, int err, struct ub_result *res)
{
	struct pending *p = arg;

	p->done = 1;
	p->err = err;
	p->res = res;
}

static const char *
rrtype_name(int rrtype)
{
	switch (rrtype) {
	case RR_A:
		return "A";
	case RR_AAAA:
		return "AAAA";
	case 16:
		return "TXT";
	case 257:
		return "CAA";
	default:
		return "DNS";
	}
}

/*
 * Starts n queries for name (types[i]) and waits for all of them or the
 * deadline. On ANVIL_OK every p[i] is done (p[i].res may be NULL when
 * p[i].err is set). On failure no result is left behind.
 */
static anvil_err
run_queries(struct val_dns *dns, const char *name, const int *types,
    struct pending *p, size_t n, int64_t deadline, char *detail,
    size_t detaillen)
{
	anvil_err rc = ANVIL_ERR_DNS;
	size_t i, done;
	int urc;

	for (i = 0; i < n; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].id = -1;
	}
	for (i = 0; i < n; i++) {
		urc = ub->ub_resolve_async(dns->ctx, name, types[i], CLASS_IN,
		    &p[i], query_done, &p[i].id);
		if (urc != 0) {
			log_warn("ub_resolve_async %s %s: %s",
			    rrtype_name(types[i]), name, ub->ub_strerror(urc));
			rc = errf(detail, detaillen, ANVIL_ERR_DNS,
			    "looking up %s %s: the query cannot be sent",
			    rrtype_name(types[i]), name);
			goto out;
		}
	}
	for (;;) {
		struct pollfd pfd;
		int64_t left;
		int prc;

		for (i = 0, done = 0; i < n; i++)
			done += p[i].done ? 1 : 0;
		if (done == n)
			break;
		left = val_left_ms(deadline);
		if (left <= 0) {
			rc = errf(detail, detaillen, ANVIL_ERR_DNS,
			    "looking up %s %s: no answer from the DNS "
			    "resolver in time",
			    n == 1 ? rrtype_name(types[0]) : "A/AAAA", name);
			goto out;
		}
		pfd.fd = ub->ub_fd(dns->ctx);
		pfd.events = POLLIN;
		pfd.revents = 0;
		prc = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));
		if (prc < 0 && errno != EINTR) {
			log_warn("looking up %s: poll: %s", name,
			    strerror(errno));
			rc = errf(detail, detaillen, ANVIL_ERR_DNS,
			    "looking up %s: waiting for the answer failed",
			    name);
			goto out;
		}
		if (prc > 0 && (urc = ub->ub_process(dns->ctx)) != 0) {
			log_warn("looking up %s: ub_process: %s", name,
			    ub->ub_strerror(urc));
			rc = errf(detail, detaillen, ANVIL_ERR_DNS,
			    "looking up %s: the DNS resolver failed", name);
			goto out;
		}
	}
	return ANVIL_OK;
out:
	dns->spoiled = 1;	/* a fresh context for the next check */
	for (i = 0; i < n; i++) {
		if (!p[i].done && p[i].id >= 0)
			(void)ub->ub_cancel(dns->ctx, p[i].id);
		if (p[i].res != NULL)
			ub->ub_resolve_free(p[i].res);
		p[i].res = NULL;
	}
	return rc;
}

anvil_err
val_dns_query(struct val_dns *dns, const char *name, int rrtype,
    int64_t deadline, struct ub_result **res, char *detail,
    size_t detaillen)
{
	struct pending p;
	anvil_err rc;

	*res = NULL;
	rc = run_queries(dns, name, &rrtype, &p, 1, deadline, detail,
	    detaillen);
	if (rc != ANVIL_OK)
		return rc;
	if (p.err != 0 || p.res == NULL) {
		if (p.res != NULL)
			ub->ub_resolve_free(p.res);
		log_info("looking up %s %s: %s", rrtype_name(rrtype), name,
		    ub->ub_strerror(p.err));
		return errf(detail, detaillen, ANVIL_ERR_DNS,
		    "looking up %s %s: the DNS resolver failed",
		    rrtype_name(rrtype), name);
	}
	*res = p.res;
	return ANVIL_OK;
}

static const char *
rcode_name(int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 3:
		return "NXDOMAIN";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	default:
		return "an error";
	}
}

/* Looks up the A and AAAA records of name. */
static anvil_err
lookup_addrs(struct val_dns *dns, const char *name, int64_t deadline,
    struct val_addr *out, size_t max, size_t *n, char *detail,
    size_t detaillen)
{
	static const int types[2] = { RR_A, RR_AAAA };
	struct pending p[2];
	anvil_err rc;
	const char *why = NULL;
	int nx = 0, i, j;

	*n = 0;
	rc = run_queries(dns, name, types, p, 2, deadline, detail, detaillen);
	if (rc != ANVIL_OK)
		return rc;
	for (i = 0; i < 2; i++) {
		struct ub_result *r = p[i].res;
		size_t want = types[i] == RR_A ? 4 : 16;

		if (p[i].err != 0 || r == NULL) {
			log_info("looking up %s %s: %s",
			    rrtype_name(types[i]), name,
			    ub->ub_strerror(p[i].err));
			why = "with an error";
			continue;
		}
		if (!r->havedata) {
			if (r->nxdomain || r->rcode == RCODE_NXDOMAIN)
				nx = 1;
			else if (r->rcode != 0)
				why = rcode_name(r->rcode);
			continue;
		}
		for (j = 0; r->data[j] != NULL && *n < max; j++) {
			if ((size_t)r->len[j] != want)
				continue;
			out[*n].family = types[i] == RR_A ? AF_INET : AF_INET6;
			memset(out[*n].bytes, 0, sizeof(out[*n].bytes));
			memcpy(out[*n].bytes, r->data[j], want);
			(*n)++;
		}
	}
	for (i = 0; i < 2; i++)
		if (p[i].res != NULL)
			ub->ub_resolve_free(p[i].res);
	if (*n > 0)
		return ANVIL_OK;
	if (why != NULL)
		return errf(detail, detaillen, ANVIL_ERR_DNS,
		    "looking up %s: the DNS resolver answered %s", name, why);
	if (nx)
		return errf(detail, detaillen, ANVIL_ERR_DNS,
		    "%s does not exist in DNS (NXDOMAIN)", name);
	return errf(detail, detaillen, ANVIL_ERR_DNS,
	    "%s has no A or AAAA record", name);
}

anvil_err
val_host_addrs(const struct anvil_config *cfg, struct val_dns **dnsp,
    const char *host, int64_t deadline, struct val_addr *out, size_t max,
    size_t *n, char *detail, size_t detaillen)
{
	char text[INET6_ADDRSTRLEN];
	anvil_err rc;
	size_t i;

	*n = 0;
	if (max == 0)
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "no room for addresses");
	if (val_addr_parse(host, &out[0]) == 0) {
		*n = 1;
	} else {
		if (*dnsp == NULL) {
			rc = val_dns_new(cfg, dnsp, detail, detaillen);
			if (rc != ANVIL_OK)
				return rc;
		}
		rc = lookup_addrs(*dnsp, host, deadline, out, max, n, detail,
		    detaillen);
		if (rc != ANVIL_OK)
			return rc;
	}
	for (i = 0; i < *n; i++) {
		if (config_net_denied(cfg, out[i].family, out[i].bytes)) {
			val_addr_str(&out[i], text, sizeof(text));
			if (strcmp(text, host) == 0)
				return errf(detail, detaillen,
				    ANVIL_ERR_UNAUTHORIZED,
				    "%s is in a denied network", text);
			return errf(detail, detaillen, ANVIL_ERR_UNAUTHORIZED,
			    "%s resolves to %s, which is in a denied network",
			    host, text);
		}
	}
	return ANVIL_OK;
}
