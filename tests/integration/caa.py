#!/usr/bin/python3
"""caa.py - CAA (RFC 8659, RFC 8657), dns-account-01 and dns-persist-01
against Anvil whose resolver is NSD serving the zones caa.sh wrote.

This script owns the zone caa.test: it writes the file with every record
a row needs (CAA sets, TXT records for the challenges), reloads NSD with
SIGHUP and waits until NSD serves the new serial. Each row is one
authorization; its expected end is valid, or invalid with the problem
type and a piece of the detail.

Environment: as protocol.py, plus ZONES (NSD's zone folder), NSD_PORT,
NSD_PID, and caa_identities "anvil.test, ca.anvil.test" in anvil.conf.
"""
import base64
import hashlib
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocol as P  # noqa: E402

ZONES = os.environ["ZONES"]
NSD_PORT = os.environ["NSD_PORT"]
NSD_PID = int(os.environ["NSD_PID"])
ISSUERS = ["anvil.test", "ca.anvil.test"]
serial = [1]


def drill(name, rtype):
    r = subprocess.run(["drill", "-p", NSD_PORT, "@127.0.0.1", name, rtype],
                       capture_output=True, text=True, timeout=10)
    return r.stdout


def publish(records):
    """caa.test holds exactly records (zone-file lines) once this returns."""
    serial[0] += 1
    lines = ["$ORIGIN caa.test.", "$TTL 1",
             "@ SOA ns.test. hostmaster.test. %d 3600 600 86400 1" %
             serial[0],
             "@ NS ns.test.", "* A 127.0.0.1",
             'serial TXT "%d"' % serial[0]] + list(dict.fromkeys(records))
    tmp = os.path.join(ZONES, "caa.test.zone.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, os.path.join(ZONES, "caa.test.zone"))
    os.kill(NSD_PID, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if ('"%d"' % serial[0]) in drill("serial.caa.test", "TXT"):
            return
        time.sleep(0.1)
    P.fail("NSD did not load serial %d" % serial[0])


def digest(keyauth):
    return P.b64u(hashlib.sha256(keyauth.encode()).digest())


def account_label(url):
    """draft-ietf-acme-dns-account-label: "_" + base32 of the first 10
    bytes of SHA-256(account URL), lower case."""
    h = hashlib.sha256(url.encode()).digest()[:10]
    return "_" + base64.b32encode(h).decode().lower()


def q(s):
    return '"%s"' % s


class Row:
    """One authorization: name (with "*." for a wildcard), the challenge
    type, the records it needs, who asks, what must come out."""

    def __init__(self, what, name, ctype, records, acct, want,
                 typ=None, detail=None, txt_acct=None):
        self.txt_acct = txt_acct or acct  # whose label dns-account-01 uses
        self.what, self.name, self.ctype = what, name, ctype
        self.records, self.acct, self.want = records, acct, want
        self.typ, self.detail = typ, detail
        self.order = self.oloc = self.authz = self.chall = None

    def place(self):
        r = self.acct.post(P.C.dir["newOrder"], {"identifiers": [
            {"type": "dns", "value": self.name}]})
        if r.status_code != 201:
            P.fail("%s: newOrder %d" % (self.what, r.status_code), r)
            return False
        self.oloc, self.order = r.headers.get("Location"), r.json()
        self.authz = self.order["authorizations"][0]
        az = self.acct.get(self.authz).json()
        self.chall = P.chall_of(az, self.ctype)
        if self.chall is not None and self.ctype == "dns-persist-01" and \
                self.chall.get("issuer-domain-names") != ISSUERS:
            P.fail("%s: issuer-domain-names %r" % (
                self.what, self.chall.get("issuer-domain-names")))
        if self.chall is None:
            P.fail("%s: no %s challenge offered (%s)" % (
                self.what, self.ctype,
                [c.get("type") for c in az.get("challenges", [])]))
            return False
        return True

    def challenge_records(self):
        base = self.name[2:] if self.name.startswith("*.") else self.name
        ka = self.acct.keyauth(self.chall["token"])
        if self.ctype == "http-01":
            P.CHALLENGES[self.chall["token"]] = (200, ka)
            # The wildcard A of caa.test does not cover a name that has
            # records of its own, nor names below one (RFC 4592 §2.2).
            if base.endswith(".caa.test") and not any(
                    "CNAME" in x and x.startswith(base[:-9] + " ")
                    for x in self.records):
                return ["%s. A 127.0.0.1" % base]
            return []
        if self.ctype == "dns-01":
            return ["_acme-challenge.%s. TXT %s" % (base, q(digest(ka)))]
        if self.ctype == "dns-account-01":
            return ["%s._acme-challenge.%s. TXT %s" % (
                account_label(self.txt_acct.kid), base, q(digest(ka)))]
        return []

    def start(self):
        r = self.acct.post(self.chall["url"], {})
        if r.status_code != 200:
            P.fail("%s: challenge POST %d" % (self.what, r.status_code), r)

    def settle(self):
        doc, _ = P.poll(self.acct, self.authz,
                        lambda d: d.get("status") != "pending", 30)
        st = doc.get("status") if doc else None
        c = P.chall_of(doc or {}, self.ctype) or {}
        err = c.get("error") or {}
        if st != self.want:
            P.fail("%s: authorization %s, wanted %s (%s)" % (
                self.what, st, self.want, err.get("detail")))
            return
        if self.want == "invalid":
            if self.typ and err.get("type") != P.ERR + self.typ:
                P.fail("%s: problem %s, wanted %s (%s)" % (
                    self.what, err.get("type"), self.typ,
                    err.get("detail")))
                return
            if self.detail and self.detail not in (err.get("detail") or ""):
                P.fail("%s: detail %r lacks %r" % (
                    self.what, err.get("detail"), self.detail))
                return
            P.ok("%s: invalid, %s: %s" % (self.what, self.typ,
                                          err.get("detail")))
        else:
            P.ok("%s: valid" % self.what)


def caa(tag, value, flags=0):
    return "CAA %d %s %s" % (flags, tag, q(value))


def run(rows, extra=()):
    rows = [w for w in rows if w.place()]
    recs = list(extra)
    for w in rows:
        recs += w.records + w.challenge_records()
    publish(recs)
    for w in rows:
        w.start()
    for w in rows:
        w.settle()
    return recs


def caa_rows(A, B):
    ua = A.kid
    rows = [
        Row("issue names this CA", "allow.caa.test", "http-01",
            ["allow " + caa("issue", "anvil.test")], A, "valid"),
        Row("no CAA record up to the root", "none.caa.test", "http-01",
            [], A, "valid"),
        Row("issue names another CA", "forbid.caa.test", "http-01",
            ["forbid " + caa("issue", "other.ca")], A, "invalid", "caa",
            'the CAA record 0 issue "other.ca" at forbid.caa.test names '
            'another CA'),
        Row("accounturi of this account", "acct.caa.test", "http-01",
            ["acct " + caa("issue", "anvil.test; accounturi=" + ua)], A,
            "valid"),
        Row("accounturi of another account", "acct.caa.test", "http-01",
            [], B, "invalid", "caa", "another account (accounturi)"),
        Row("validationmethods without http-01", "vm.caa.test", "http-01",
            ["vm " + caa("issue", "ca.anvil.test; validationmethods=dns-01")],
            A, "invalid", "caa", "validationmethods=dns-01"),
        Row("validationmethods with dns-01", "vm.caa.test", "dns-01", [], B,
            "valid"),
        Row("issuewild forbids: the name itself", "wild.caa.test",
            "http-01", ["wild " + caa("issue", "anvil.test"),
                        "wild " + caa("issuewild", ";")], A, "valid"),
        Row("issuewild forbids: the wildcard", "*.wild.caa.test", "dns-01",
            [], A, "invalid", "caa", "of a wildcard"),
        Row("unknown critical tag", "crit.caa.test", "http-01",
            ["crit " + caa("issue", "anvil.test"),
             "crit " + caa("tbs", "unknown", 128)], A, "invalid", "caa",
            "unknown critical tag"),
        Row("tree climbing: the parent forbids", "h.sub.parent.caa.test",
            "http-01", ["parent " + caa("issue", "other.ca")], A,
            "invalid", "caa", "at parent.caa.test"),
        Row("tree climbing: the parent allows", "h.sub.okparent.caa.test",
            "http-01", ["okparent " + caa("issue", "anvil.test")], A,
            "valid"),
        Row("CNAME chain to a forbidding set", "alias.caa.test", "http-01",
            ["alias CNAME mid", "mid CNAME target",
             "target " + caa("issue", "other.ca"), "target A 127.0.0.1"],
            A, "invalid", "caa",
            "alias of target.caa.test"),
        Row("CNAME chain to an allowing set", "alias2.caa.test", "http-01",
            ["alias2 CNAME target2", "target2 A 127.0.0.1",
             "target2 " + caa("issue", "anvil.test")],
            A, "valid"),
        Row("SERVFAIL on the climb", "h.sf.example", "http-01", [], A,
            "invalid", "caa", "SERVFAIL"),
        Row("DNSSEC: validly signed", "good.dnssec.test", "http-01", [], A,
            "valid"),
        Row("DNSSEC: broken signature", "bad.dnssec.test", "http-01", [], A,
            "invalid", "caa", "DNSSEC"),
        Row("finalize re-check: allowed at validation", "later.caa.test",
            "http-01", ["later " + caa("issue", "anvil.test")], A, "valid"),
    ]
    recs = run(rows)
    # Finalize: one allowed order issues; then a forbidding record
    # published after validation stops the other at finalize.
    allow, later = rows[0], rows[-1]
    key = P.ec_key()
    doc, _ = P.poll(A, allow.oloc, lambda d: d.get("status") == "ready", 10)
    r = A.post(allow.order["finalize"],
               {"csr": P.make_csr(key, [allow.name])})
    P.check(r.status_code == 200 and r.json().get("status") == "valid",
            "finalize allow.caa.test issues", r)
    recs = [x for x in recs if not x.startswith("later ")]
    publish(recs + ["later " + caa("issue", "other.ca")])
    r = A.post(later.order["finalize"],
               {"csr": P.make_csr(key, [later.name])})
    P.expect_problem(r, 403, "caa", "finalize re-checks CAA: a record "
                     "published since validation forbids",
                     'the CAA record 0 issue "other.ca" at later.caa.test')


def persist(name, value):
    return "_validation-persist.%s. TXT %s" % (name, q(value))


def new_challenge_rows(A, B):
    ua, ub = A.kid, B.kid
    la = account_label(ua)
    P.check(len(la) == 17 and la.startswith("_"),
            "dns-account-01 label of account A: %s" % la)
    rows = [
        Row("dns-account-01, account A", "many.caa.test", "dns-account-01",
            [], A, "valid"),
        Row("dns-account-01, account B on the same name", "many.caa.test",
            "dns-account-01", [], B, "valid"),
        Row("dns-account-01 under another account's label",
            "label.caa.test", "dns-account-01", [], B, "invalid",
            "unauthorized", "no TXT record at _", txt_acct=A),
        Row("dns-account-01 for a wildcard", "*.wacct.caa.test",
            "dns-account-01", [], A, "valid"),
        Row("dns-persist-01 of this account", "persist.caa.test",
            "dns-persist-01",
            [persist("persist.caa.test", "anvil.test; accounturi=" + ua)],
            A, "valid"),
        Row("dns-persist-01 record of another account", "persist.caa.test",
            "dns-persist-01", [], B, "invalid", "unauthorized",
            "is for another account"),
        Row("dns-persist-01 record for another issuer", "pother.caa.test",
            "dns-persist-01",
            [persist("pother.caa.test", "other.ca; accounturi=" + ua)],
            A, "invalid", "unauthorized", "names another issuer"),
        Row("dns-persist-01 wildcard without policy=wildcard",
            "*.pw.caa.test", "dns-persist-01",
            [persist("pw.caa.test", "ca.anvil.test; accounturi=" + ua)],
            A, "invalid", "unauthorized", "lacks policy=wildcard"),
        Row("dns-persist-01 wildcard with policy=wildcard",
            "*.pwok.caa.test", "dns-persist-01",
            [persist("pwok.caa.test", "anvil.test; accounturi=%s; "
                     "policy=wildcard; persistUntil=4102444800" % ua)],
            A, "valid"),
    ]
    recs = run(rows)
    # The standing record validates the account's next authorization too:
    # the first one deactivated, a new order gets a new authorization.
    first = rows[4]
    r = A.post(first.authz, {"status": "deactivated"})
    P.check(r.status_code == 200, "deactivate the dns-persist-01 "
            "authorization", r)
    again = Row("dns-persist-01 record still standing: a new order",
                "persist.caa.test", "dns-persist-01", [], A, "valid")
    if again.place():
        P.check(again.authz != first.authz, "the new order has a new "
                "authorization")
        again.start()
        again.settle()
        key = P.ec_key()
        P.poll(A, again.oloc, lambda d: d.get("status") == "ready", 10)
        r = A.post(again.order["finalize"],
                   {"csr": P.make_csr(key, [again.name])})
        P.check(r.status_code == 200 and r.json().get("status") == "valid",
                "finalize through the standing dns-persist-01 record", r)
    return recs


def nsd_pids():
    """NSD_PID and its descendants."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    out = [NSD_PID]
    for _ in range(4):
        out += [p for p, pp in parent.items() if pp in out and p not in out]
    return out


def caa_timeout(A):
    """The DNS server stops answering (SIGSTOP): the CAA re-check at
    finalize times out, and a lookup that did not finish refuses."""
    r = A.post(P.C.dir["newOrder"], {"identifiers": [
        {"type": "dns", "value": "allow.caa.test"}]})
    if r.status_code != 201 or r.json().get("status") != "ready":
        P.fail("order reusing the valid allow.caa.test authorization", r)
        return
    o = r.json()
    csr = P.make_csr(P.ec_key(), ["allow.caa.test"])
    # NSD answers from child processes of the one caa.sh started.
    pids = nsd_pids()
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        r = A.post(o["finalize"], {"csr": csr})
    finally:
        for p in pids:
            os.kill(p, signal.SIGCONT)
    P.expect_problem(r, 403, "caa", "CAA lookup timing out at finalize "
                     "refuses", "no answer from the DNS resolver in time")


def profile_offer(A):
    """[profile persistonly] challenges_dns = dns-persist-01: its orders'
    authorizations offer that type alone; the default profile all five."""
    for prof, want in (("persistonly", ["dns-persist-01"]),
                       (None, ["http-01", "dns-01", "tls-alpn-01",
                               "dns-account-01", "dns-persist-01"])):
        payload = {"identifiers": [{"type": "dns",
                                    "value": "prof-%s.caa.test" % prof}]}
        if prof:
            payload["profile"] = prof
        r = A.post(P.C.dir["newOrder"], payload)
        if r.status_code != 201:
            P.fail("newOrder with profile %s" % prof, r)
            continue
        az = A.get(r.json()["authorizations"][0]).json()
        got = [c.get("type") for c in az.get("challenges", [])]
        P.check(got == want, "profile %s offers %s (got %s)" %
                (prof or "(default)", want, got))


def main():
    P.C.dir = P.C.s.get(P.DIR_URL, timeout=P.TIMEOUT).json()
    P.check(P.C.dir.get("meta", {}).get("caaIdentities") == ISSUERS,
            "meta.caaIdentities lists the CA's identities")
    srv = P.start_http01()
    try:
        A, B = P.Account(), P.Account()
        for a in (A, B):
            if a.register().status_code != 201:
                P.fail("account registration")
                raise SystemExit(1)
        caa_rows(A, B)
        new_challenge_rows(A, B)
        profile_offer(A)
        caa_timeout(A)
    finally:
        srv.shutdown()
    if P.failures:
        print("%d failure(s)" % P.failures)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
