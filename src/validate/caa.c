/*
 * caa.c - CAA (RFC 8659) with the accounturi and validationmethods
 * parameters (RFC 8657): the relevant record set found by climbing from
 * the name towards the root (RFC 8659 §3), then the issue or issuewild
 * properties (§4.2, §4.3) decide. Any failure to learn the record set
 * (SERVFAIL, timeout, a DNSSEC-bogus answer) refuses issuance (§3: a CA
 * issues only when the lookup succeeded or the name has no CAA records).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

#include "core/log.h"
#include "validate/val_int.h"

#define RR_CAA 257
#define RCODE_NXDOMAIN 3
#define CAA_FLAG_CRITICAL 0x80	/* RFC 8659 §4.1 */
#define MAX_TAG 15		/* RFC 8659 §4.1.1: tag length 1 to 15 */
#define MAX_VALUE 1024		/* longer values are treated as malformed */
#define MAX_PARAMS 16
#define MAX_RRS 64		/* CAA records of one name read, at most */

/* One parsed CAA resource record. */
struct caa_rr {
	unsigned flags;
	char tag[MAX_TAG + 1];	/* lower case */
	const unsigned char *value;
	size_t vlen;
};

/* Tags RFC 8659 §4.2-§4.4 and the IANA registry define; an unknown tag
 * with the critical flag forbids issuance (§4.1). */
static int
tag_known(const char *tag)
{
	static const char *const known[] = { "issue", "issuewild", "iodef",
		"contactemail", "contactphone", "issuemail", "issuevmc" };
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(tag, known[i]) == 0)
			return 1;
	return 0;
}

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Splits one CAA rdata (RFC 8659 §4.1.1); -1 if malformed. */
static int
rr_parse(const unsigned char *rd, size_t len, struct caa_rr *out)
{
	size_t tl, i;

	if (rd == NULL || len < 2)
		return -1;
	tl = rd[1];
	if (tl == 0 || tl > MAX_TAG || tl > len - 2)
		return -1;
	for (i = 0; i < tl; i++) {
		if (!is_alnum(rd[2 + i]))
			return -1;
		out->tag[i] = (char)(rd[2 + i] | 0x20);
	}
	out->tag[tl] = '\0';
	out->flags = rd[0];
	out->value = rd + 2 + tl;
	out->vlen = len - 2 - tl;
	return 0;
}

/* The record as a person reads it in a zone file, sanitised. */
static void
rr_text(const struct caa_rr *r, char *out, size_t cap)
{
	char v[80 + 4];

	val_excerpt(r->value, r->vlen, 80, v);
	snprintf(out, cap, "%u %s \"%s\"", r->flags, r->tag, v);
}

/* One parameter of an issue value: tag = value (RFC 8659 §4.2). */
struct param {
	const char *tag;
	size_t tlen;
	const char *val;
	size_t vlen;
};

/* A label of RFC 8659 §4.2: (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)). */
static size_t
label_len(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0 || !is_alnum((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			break;
	while (i > 1 && s[i - 1] == '-')
		i--;
	return i;
}

static size_t
skip_wsp(const char *s, size_t pos, size_t len)
{
	while (pos < len && (s[pos] == ' ' || s[pos] == '\t'))
		pos++;
	return pos;
}

/*
 * Parses an issue or issuewild value (RFC 8659 §4.2):
 *   *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
 * The domain is [*dom, *dom + *dlen) (empty: no CA is authorised).
 * -1 if malformed (§4.2: such a property authorises no CA).
 */
static int
issue_parse(const char *v, size_t len, const char **dom, size_t *dlen,
    struct param *p, size_t *np)
{
	size_t pos = skip_wsp(v, 0, len), l;

	*np = 0;
	*dom = v + pos;
	*dlen = 0;
	/* issuer-domain-name = label *("." label) */
	while ((l = label_len(v + pos, len - pos)) > 0) {
		pos += l;
		*dlen = (size_t)(v + pos - *dom);
		if (pos < len && v[pos] == '.' && pos + 1 < len &&
		    is_alnum((unsigned char)v[pos + 1]))
			pos++;
		else
			break;
	}
	pos = skip_wsp(v, pos, len);
	if (pos == len)
		return 0;
	if (v[pos] != ';')
		return -1;
	pos = skip_wsp(v, pos + 1, len);
	while (pos < len) {
		struct param q;

		if (*np == MAX_PARAMS)
			return -1;
		q.tag = v + pos;
		if ((q.tlen = label_len(v + pos, len - pos)) == 0)
			return -1;
		pos = skip_wsp(v, pos + q.tlen, len);
		if (pos == len || v[pos] != '=')
			return -1;
		pos = skip_wsp(v, pos + 1, len);
		q.val = v + pos;
		/* value = *(%x21-3A / %x3C-7E) */
		while (pos < len && (unsigned char)v[pos] >= 0x21 &&
		    (unsigned char)v[pos] <= 0x7e && v[pos] != ';')
			pos++;
		q.vlen = (size_t)(v + pos - q.val);
		p[(*np)++] = q;
		pos = skip_wsp(v, pos, len);
		if (pos == len)
			break;
		if (v[pos] != ';')
			return -1;
		pos = skip_wsp(v, pos + 1, len);
	}
	return 0;
}

static int
param_is(const struct param *p, const char *name)
{
	return p->tlen == strlen(name) && strncasecmp(p->tag, name,
	    p->tlen) == 0;
}

/* 1 if the comma-separated list (RFC 8657 §4) holds method. */
static int
methods_include(const char *list, size_t len, const char *method)
{
	size_t ml = strlen(method), pos = 0, end;

	while (pos <= len) {
		for (end = pos; end < len && list[end] != ','; end++)
			;
		if (end - pos == ml && strncasecmp(list + pos, method, ml) == 0)
			return 1;
		pos = end + 1;
	}
	return 0;
}

/* Why one issue property does not authorise us, or NULL if it does. */
static const char *
issue_verdict(const struct val_caa_req *q, const struct caa_rr *r)
{
	char value[MAX_VALUE + 1];
	struct param p[MAX_PARAMS];
	const char *dom, *acct = NULL;
	size_t dlen, np, i, nacct = 0;
	int ours = 0;

	if (r->vlen > MAX_VALUE || memchr(r->value, '\0', r->vlen) != NULL)
		return "is malformed";
	memcpy(value, r->value, r->vlen);
	value[r->vlen] = '\0';
	if (issue_parse(value, r->vlen, &dom, &dlen, p, &np) != 0)
		return "is malformed";
	if (dlen == 0)
		return "authorizes no CA";
	for (i = 0; i < q->nidentities && !ours; i++)
		ours = strlen(q->identities[i]) == dlen &&
		    strncasecmp(q->identities[i], dom, dlen) == 0;
	if (!ours)
		return "names another CA";
	for (i = 0; i < np; i++) {
		if (param_is(&p[i], "accounturi")) {
			acct = p[i].val;
			nacct++;
		}
	}
	/* RFC 8657 §3: more than one accounturi makes the record unusable. */
	if (nacct > 1)
		return "has more than one accounturi";
	if (nacct == 1) {
		size_t alen = 0;

		for (i = 0; i < np; i++)
			if (param_is(&p[i], "accounturi"))
				alen = p[i].vlen;
		if (q->account_uri == NULL || strlen(q->account_uri) != alen ||
		    memcmp(q->account_uri, acct, alen) != 0)
			return "is limited to another account (accounturi)";
	}
	for (i = 0; i < np; i++) {
		/* RFC 8657 §4. */
		if (param_is(&p[i], "validationmethods") &&
		    (q->method == NULL || !methods_include(p[i].val,
		    p[i].vlen, q->method)))
			return "does not allow this validation method "
			    "(validationmethods)";
	}
	return NULL;
}

anvil_err
val_caa_decide(const struct val_caa_req *q, const char *owner,
    const unsigned char *const *rdata, const size_t *len, size_t n,
    char *detail, size_t detaillen)
{
	struct caa_rr r, blamed;
	const char *why = NULL, *blamed_why = "", *prop;
	char text[128];
	size_t i, nissue = 0, nwild = 0, nset = 0;
	int use_wild;

	for (i = 0; i < n; i++) {
		if (rr_parse(rdata[i], len[i], &r) != 0)
			return errf(detail, detaillen, ANVIL_ERR_CAA,
			    "a CAA record at %s is malformed; issuance is "
			    "refused", owner);
		if (strcmp(r.tag, "issue") == 0)
			nissue++;
		else if (strcmp(r.tag, "issuewild") == 0)
			nwild++;
		else if ((r.flags & CAA_FLAG_CRITICAL) && !tag_known(r.tag)) {
			rr_text(&r, text, sizeof(text));
			return errf(detail, detaillen, ANVIL_ERR_CAA,
			    "the CAA record %s at %s has an unknown critical "
			    "tag (RFC 8659 section 4.1)", text, owner);
		}
	}
	/* RFC 8659 §4.3: issuewild governs wildcards when present. */
	use_wild = q->wildcard && nwild > 0;
	prop = use_wild ? "issuewild" : "issue";
	if ((use_wild ? nwild : nissue) == 0)
		return ANVIL_OK;
	for (i = 0; i < n; i++) {
		if (rr_parse(rdata[i], len[i], &r) != 0 ||
		    strcmp(r.tag, prop) != 0)
			continue;
		why = issue_verdict(q, &r);
		if (why == NULL)
			return ANVIL_OK;
		/* Blame a record that names this CA over one naming another:
		 * that is the one the domain's owner has to change. */
		if (nset++ == 0 || (strcmp(blamed_why, "names another CA") ==
		    0 && strcmp(why, "names another CA") != 0)) {
			blamed = r;
			blamed_why = why;
		}
	}
	rr_text(&blamed, text, sizeof(text));
	if (nset > 1)
		return errf(detail, detaillen, ANVIL_ERR_CAA,
		    "CAA forbids issuance%s: the CAA record %s at %s %s "
		    "(and %zu more %s records do not authorize this CA)",
		    q->wildcard ? " of a wildcard" : "", text, owner,
		    blamed_why, nset - 1, prop);
	return errf(detail, detaillen, ANVIL_ERR_CAA,
	    "CAA forbids issuance%s: the CAA record %s at %s %s",
	    q->wildcard ? " of a wildcard" : "", text, owner, blamed_why);
}

/* 1 if a and b name the same node (a trailing dot aside). */
static int
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* RFC 8659 §3: the parents of a name up to, not including, the root. */
static const char *
parent(const char *name)
{
	const char *dot = strchr(name, '.');

	return dot != NULL && dot[1] != '\0' ? dot + 1 : NULL;
}

anvil_err
val_caa(const struct anvil_config *cfg, const char *name,
    const struct val_caa_req *q, int64_t deadline, char *detail,
    size_t detaillen)
{
	const unsigned char *rd[MAX_RRS];
	size_t len[MAX_RRS];
	struct val_dns *dns = NULL;
	struct ub_result *res = NULL;
	const char *x;
	char owner[VAL_MAX_NAME + 64];
	anvil_err rc = ANVIL_OK;
	size_t n;
	int i;

	if (q->nidentities == 0)
		return ANVIL_OK;
	if (strlen(name) >= VAL_MAX_NAME)
		return errf(detail, detaillen, ANVIL_ERR_MALFORMED,
		    "name too long for a CAA check");
	if ((rc = val_dns_new(cfg, &dns, detail, detaillen)) != ANVIL_OK)
		goto out;
	for (x = name; x != NULL; x = parent(x)) {
		rc = val_dns_query(dns, x, RR_CAA, deadline, &res, detail,
		    detaillen);
		if (rc != ANVIL_OK) {
			/* The detail says what failed; the type says why
			 * that stops issuance. */
			rc = ANVIL_ERR_CAA;
			goto out;
		}
		if (res->bogus) {
			log_info("CAA %s: DNSSEC: %s", x, res->why_bogus ?
			    res->why_bogus : "bogus");
			rc = errf(detail, detaillen, ANVIL_ERR_CAA,
			    "looking up CAA %s: the answer failed DNSSEC "
			    "validation; issuance is refused", x);
			goto out;
		}
		if (!res->havedata && res->rcode != 0 &&
		    res->rcode != RCODE_NXDOMAIN) {
			rc = errf(detail, detaillen, ANVIL_ERR_CAA,
			    "looking up CAA %s: the DNS resolver answered "
			    "rcode %d%s; issuance is refused until CAA can be "
			    "checked", x, res->rcode, res->rcode == 2 ?
			    " (SERVFAIL)" : res->rcode == 5 ? " (REFUSED)" :
			    "");
			goto out;
		}
		if (res->havedata) {
			for (i = 0, n = 0; res->data[i] != NULL; i++) {
				if (res->len[i] < 0)
					continue;
				/* Unread records could hold a critical tag:
				 * more than we read refuses. */
				if (n == MAX_RRS) {
					rc = errf(detail, detaillen,
					    ANVIL_ERR_CAA, "%s has more than %d "
					    "CAA records; issuance is refused",
					    x, MAX_RRS);
					goto out;
				}
				rd[n] = (const unsigned char *)res->data[i];
				len[n++] = (size_t)res->len[i];
			}
			if (res->canonname != NULL &&
			    !same_name(res->canonname, x)) {
				size_t cl = strlen(res->canonname);

				if (cl > 0 && res->canonname[cl - 1] == '.')
					cl--;
				snprintf(owner, sizeof(owner), "%s (alias of "
				    "%.*s)", x, (int)(cl < 253 ? cl : 253),
				    res->canonname);
			}
			else
				snprintf(owner, sizeof(owner), "%s", x);
			rc = val_caa_decide(q, owner, rd, len, n, detail,
			    detaillen);
			goto out;
		}
		val_dns_result_free(res);
		res = NULL;
	}
	rc = ANVIL_OK;
out:
	if (res != NULL)
		val_dns_result_free(res);
	val_dns_free(dns);
	return rc;
}
