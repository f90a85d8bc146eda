#!/usr/bin/python3
"""conformance.py - RFC 8555 sections 6 and 7, and RFC 9773, one MUST per row.

Against a running Anvil (conformance.sh starts it behind lighttpd with
FastCGI). ROWS below is the table: the section, the requirement in the
RFC's words (shortened), and a check that fails when the server breaks
it. Requirements that protocol.py already checks at length are checked
here again, cheaply, so that this table alone answers "which MUSTs of
RFC 8555 does Anvil keep?". A row listed in KNOWN is a requirement the
server is known to break: it prints "KNOWN FAIL" without failing the run,
and fails the run the day it passes, so that it is taken off the list.

It reuses protocol.py's client (keys, JWS, the http-01 responder, the
store comparison). Environment: as protocol.py.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocol as P  # noqa: E402
from protocol import C, ERR, JOSE  # noqa: E402

# Row ids the server is known to fail (none today).
KNOWN = set()

S = {}  # what the setup made: accounts, an order, a certificate


def problem_type(r):
    try:
        return r.json().get("type")
    except ValueError:
        return None


def is_problem(r, status, typ):
    return (r.status_code == status and P.ctype_of(r) ==
            "application/problem+json" and problem_type(r) == ERR + typ)


def base():
    return P.DIR_URL.rsplit("/", 1)[0]


def raw_jws(key, protected, payload):
    return P.make_jws(key, protected, payload)


# --------------------------------------------------------------------------
# Setup: two accounts, a valid order with its certificate, a pending order

def setup():
    P.C.dir = C.s.get(P.DIR_URL, timeout=P.TIMEOUT).json()
    A = P.Account()
    if A.register({"termsOfServiceAgreed": True}).status_code != 201:
        raise SystemExit("setup: account A")
    B = P.Account()
    if B.register().status_code != 201:
        raise SystemExit("setup: account B")
    S["A"], S["B"] = A, B
    names = ["a.conf.test", "b.conf.test"]
    ourl, o = P.new_order(A, names)
    if not o:
        raise SystemExit("setup: newOrder")
    for au in o["authorizations"]:
        c = P.chall_of(A.get(au).json(), "http-01")
        P.CHALLENGES[c["token"]] = (200, A.keyauth(c["token"]))
        A.post(c["url"], {})
    for au in o["authorizations"]:
        P.poll(A, au, lambda d: d.get("status") != "pending")
    doc, _ = P.poll(A, ourl, lambda d: d.get("status") != "pending", 10)
    if not doc or doc.get("status") != "ready":
        raise SystemExit("setup: order not ready: %s" % doc)
    S["ready_order"] = dict(doc)
    key = P.ec_key()
    r = P.finalize(A, o, P.make_csr(key, names))
    if r.status_code != 200:
        raise SystemExit("setup: finalize %d %s" % (r.status_code, r.text))
    S["order_url"], S["order"] = ourl, r.json()
    S["cert_url"] = r.json()["certificate"]
    S["cert_key"] = key
    r = A.get(S["cert_url"])
    pems = P.split_pem(r.text)
    S["cert_reply"] = r
    S["cert_der"] = P.x509.load_pem_x509_certificate(
        pems[0].encode()).public_bytes(P.serialization.Encoding.DER)
    purl, po = P.new_order(A, ["pending.conf.test"])
    if not po:
        raise SystemExit("setup: pending order")
    S["pending_url"], S["pending"] = purl, po


# --------------------------------------------------------------------------
# §6 Message transport

def r_https():
    d = C.dir
    urls = [P.DIR_URL] + [d[k] for k in ("newNonce", "newAccount",
                                         "newOrder", "revokeCert",
                                         "keyChange")]
    urls += [S["A"].kid, S["order_url"], S["cert_url"]]
    return all(u.startswith("https://") for u in urls)


def r_jose_type():
    A = S["A"]
    prot = {"alg": "ES256", "nonce": C.nonce(), "url": A.kid, "kid": A.kid}
    r = C.send_jws(A.kid, raw_jws(A.key, prot, None), prot, None,
                   ctype="application/json")
    return r.status_code == 415 and problem_type(r) == ERR + "malformed"


def r_flattened_only():
    A = S["A"]
    prot = {"alg": "ES256", "nonce": C.nonce(), "url": A.kid, "kid": A.kid}
    jws = raw_jws(A.key, prot, None)
    r = C.send_jws(A.kid, {"payload": jws["payload"], "signatures": [
        {"protected": jws["protected"], "signature": jws["signature"]}]},
        prot, None)
    return is_problem(r, 400, "malformed")


def r_no_unprotected_header():
    A = S["A"]
    prot = {"alg": "ES256", "nonce": C.nonce(), "url": A.kid, "kid": A.kid}
    jws = raw_jws(A.key, prot, None)
    jws["header"] = {"kid": A.kid}
    return is_problem(C.send_jws(A.kid, jws, prot, None), 400, "malformed")


def r_alg_none():
    key = P.ec_key()
    na = C.dir["newAccount"]
    prot = {"alg": "none", "nonce": C.nonce(), "url": na,
            "jwk": P.jwk_of(key)}
    jws = {"protected": P.b64u(json.dumps(prot)),
           "payload": P.b64u(json.dumps({"termsOfServiceAgreed": True})),
           "signature": ""}
    with P.store_unchanged("§6.2 alg none"):
        r = C.send_jws(na, jws, prot, {})
    return is_problem(r, 400, "badSignatureAlgorithm")


def r_alg_mac():
    A = S["A"]
    r = A.get(A.kid, hdr={"alg": "HS256"},
              signer=lambda data: P.hmac.new(b"k" * 32, data,
                                             "sha256").digest())
    return is_problem(r, 400, "badSignatureAlgorithm")


def r_algorithms_field():
    A = S["A"]
    r = A.get(A.kid, hdr={"alg": "none"}, signer=lambda data: b"")
    algs = r.json().get("algorithms") if P.ctype_of(r) == \
        "application/problem+json" else None
    return is_problem(r, 400, "badSignatureAlgorithm") and \
        isinstance(algs, list) and "ES256" in algs and "none" not in algs


def r_header_fields():
    A = S["A"]
    ok = True
    for drop, typ in (("alg", "malformed"), ("nonce", "badNonce"),
                      ("url", "malformed")):
        r = A.get(A.kid, drop=(drop,))
        if not is_problem(r, 400, typ):
            print("    without %s: %d %s" % (drop, r.status_code,
                                             problem_type(r)))
            ok = False
    return ok


def r_jwk_xor_kid():
    A = S["A"]
    r1 = A.get(A.kid, hdr={"jwk": P.jwk_of(A.key)})
    r2 = A.get(A.kid, drop=("kid",))
    return is_problem(r1, 400, "malformed") and \
        is_problem(r2, 400, "malformed")


def r_kid_for_others():
    A = S["A"]
    with P.store_unchanged("§6.2 jwk-signed newOrder"):
        r = C.post(C.dir["newOrder"], {"identifiers": [
            {"type": "dns", "value": "jwk.conf.test"}]}, A.key)
    return is_problem(r, 400, "malformed")


def r_jwk_for_new_account():
    A = S["A"]
    with P.store_unchanged("§6.2 kid-signed newAccount"):
        r = A.post(C.dir["newAccount"], {"termsOfServiceAgreed": True})
    return is_problem(r, 400, "malformed")


def r_signature_checked():
    A = S["A"]

    def flip(jws):
        sig = bytearray(P.base64.urlsafe_b64decode(jws["signature"] + "=="))
        sig[3] ^= 1
        return dict(jws, signature=P.b64u(bytes(sig)))
    return is_problem(A.get(A.kid, tamper=flip), 400, "malformed")


def r_post_as_get_empty():
    A = S["A"]
    with P.store_unchanged("§6.3 POST {} to an order"):
        r = A.post(S["order_url"], {})
    return is_problem(r, 400, "malformed") and \
        A.get(S["order_url"]).status_code == 200


def r_get_refused():
    return C.http("GET", S["order_url"]).status_code == 405


def r_ca_post_as_get():
    A = S["A"]
    r = A.get(base() + "/ca")
    return r.status_code == 200 and len(P.split_pem(r.text)) == 1


def r_url_equal():
    A = S["A"]
    r = A.get(A.kid, hdr_url=C.dir["newOrder"])
    return is_problem(r, 403, "unauthorized")


def r_url_protected():
    """§6.4: "url" in the protected header: one in an unprotected header
    does not count."""
    A = S["A"]
    prot = {"alg": "ES256", "nonce": C.nonce(), "kid": A.kid}
    jws = raw_jws(A.key, prot, None)
    jws["header"] = {"url": A.kid}
    return C.send_jws(A.kid, jws, prot, None).status_code == 400


def r_nonce_every_post():
    A = S["A"]
    rs = [A.get(A.kid), A.get(S["order_url"]), A.post(A.kid, "not json"),
          C.http("POST", C.dir["newOrder"], data="x", ctype=JOSE)]
    return all(r.headers.get("Replay-Nonce") for r in rs)


def r_nonce_b64u():
    n = C.http("HEAD", C.dir["newNonce"]).headers.get("Replay-Nonce", "")
    C.nonces.clear()
    return n != "" and all(c in P.B64U_ALPHABET for c in n)


def r_nonce_once():
    A = S["A"]
    n = C.nonce()
    r1 = A.get(A.kid, nonce=n)
    r2 = A.get(A.kid, nonce=n)
    return r1.status_code == 200 and is_problem(r2, 400, "badNonce")


def r_nonce_unknown():
    A = S["A"]
    r = A.get(A.kid, nonce=P.b64u(P.secrets.token_bytes(24)))
    return is_problem(r, 400, "badNonce") and \
        r.headers.get("Replay-Nonce")


def r_nonce_not_b64u():
    A = S["A"]
    return is_problem(A.get(A.kid, nonce="not+base64/url="), 400,
                      "badNonce")


def r_problem_doc():
    r = S["A"].get(base() + "/order/NoSuchOrder00000000000")
    try:
        doc = r.json()
    except ValueError:
        return False
    return P.ctype_of(r) == "application/problem+json" and \
        isinstance(doc.get("type"), str) and \
        doc.get("status") == r.status_code and r.status_code == 404


def r_problem_types():
    """§6.7: errors of the table carry the urn:ietf:params:acme:error:
    namespace (malformed, badNonce, unauthorized, accountDoesNotExist)."""
    A = S["A"]
    rs = [A.post(A.kid, "[1]"), A.get(A.kid, nonce="x"),
          A.get(A.kid, hdr_url=C.dir["newOrder"]),
          C.post(A.kid, None, P.ec_key(), kid=base() + "/acct/Nope")]
    return all((problem_type(r) or "").startswith(ERR) for r in rs)


def r_subproblems():
    """§6.7.1: a problem about several identifiers has subproblems, each
    naming its identifier."""
    A = S["A"]
    with P.store_unchanged("§6.7.1 newOrder with two bad identifiers"):
        r = A.post(C.dir["newOrder"], {"identifiers": [
            {"type": "dns", "value": "ok.conf.test"},
            {"type": "dns", "value": "bad_name.conf.test"},
            {"type": "dns", "value": "trailing.conf.test."}]})
    try:
        subs = r.json().get("subproblems")
    except ValueError:
        return False
    return r.status_code == 400 and isinstance(subs, list) and \
        len(subs) == 2 and all(isinstance(s.get("identifier"), dict)
                               for s in subs)


# --------------------------------------------------------------------------
# §7.1 Resources, §7.2 newNonce

def r_directory():
    d = C.http("GET", P.DIR_URL).json()
    return all(isinstance(d.get(k), str) for k in (
        "newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"))


def r_index_link():
    r = S["A"].get(S["order_url"])
    return ('<%s>;rel="index"' % P.DIR_URL) in r.headers.get("Link", "")


def r_account_object():
    d = S["A"].get(S["A"].kid).json()
    return d.get("status") == "valid" and isinstance(d.get("orders"), str)


def r_order_object():
    o = S["A"].get(S["pending_url"]).json()
    return o.get("status") == "pending" and isinstance(o.get("expires"),
                                                       str) and \
        isinstance(o.get("identifiers"), list) and \
        isinstance(o.get("authorizations"), list) and \
        isinstance(o.get("finalize"), str)


def r_order_valid_cert():
    o = S["A"].get(S["order_url"]).json()
    return o.get("status") == "valid" and o.get("certificate") == \
        S["cert_url"]


def r_authz_object():
    a = S["A"].get(S["pending"]["authorizations"][0]).json()
    return isinstance(a.get("identifier"), dict) and \
        a.get("status") == "pending" and isinstance(a.get("expires"), str) \
        and isinstance(a.get("challenges"), list) and all(
            isinstance(c.get(k), str) for c in a["challenges"]
            for k in ("type", "url", "status", "token"))


def r_orders_list():
    A = S["A"]
    lurl = A.get(A.kid).json()["orders"]
    r = A.get(lurl)
    return r.status_code == 200 and S["order_url"] in r.json().get("orders",
                                                                   [])


def r_new_nonce():
    d = C.dir
    h = C.http("HEAD", d["newNonce"])
    g = C.http("GET", d["newNonce"])
    C.nonces.clear()
    return h.status_code == 200 and g.status_code == 204 and all(
        r.headers.get("Replay-Nonce") and "no-store" in
        r.headers.get("Cache-Control", "") for r in (h, g))


# --------------------------------------------------------------------------
# §7.3 Accounts

def r_new_account():
    X = P.Account()
    r = X.register({"termsOfServiceAgreed": True})
    r2 = C.post(C.dir["newAccount"], {"termsOfServiceAgreed": True}, X.key)
    S["X"] = X
    return r.status_code == 201 and r.headers.get("Location") and \
        r2.status_code == 200 and r2.headers.get("Location") == X.kid


def r_only_return_existing():
    with P.store_unchanged("§7.3.1 onlyReturnExisting, unknown key"):
        r = C.post(C.dir["newAccount"], {"onlyReturnExisting": True},
                   P.ec_key())
    return is_problem(r, 400, "accountDoesNotExist")


def r_unsupported_contact():
    with P.store_unchanged("§7.3 newAccount with a tel: contact"):
        r = C.post(C.dir["newAccount"], {"termsOfServiceAgreed": True,
                   "contact": ["tel:+15555550100"]}, P.ec_key())
    return is_problem(r, 400, "unsupportedContact")


def r_update_ignores_orders():
    A = S["A"]
    before = A.get(A.kid).json().get("orders")
    r = A.post(A.kid, {"orders": "https://elsewhere.test/x"})
    return r.status_code == 200 and r.json().get("orders") == before


def r_deactivated_refused():
    X = S.get("X") or P.Account()
    if X.kid is None:
        X.register()
    r = X.post(X.kid, {"status": "deactivated"})
    if r.status_code != 200 or r.json().get("status") != "deactivated":
        return False
    with P.store_unchanged("§7.3.6 newOrder by a deactivated account"):
        r = X.post(C.dir["newOrder"], {"identifiers": [
            {"type": "dns", "value": "gone.conf.test"}]})
    return is_problem(r, 403, "unauthorized")


def keychange_inner(newkey, account, oldkey, url=None, extra=None):
    prot = {"alg": P.alg_of(newkey), "jwk": P.jwk_of(newkey),
            "url": url or C.dir["keyChange"]}
    prot.update(extra or {})
    return P.make_jws(newkey, prot, {"account": account,
                                     "oldKey": P.jwk_of(oldkey)})


def r_keychange_inner_nonce():
    K = S["B"]
    with P.store_unchanged("§7.3.5 inner JWS with a nonce"):
        r = K.post(C.dir["keyChange"], keychange_inner(
            P.ec_key(), K.kid, K.key, extra={"nonce": C.nonce()}))
    return is_problem(r, 400, "malformed")


def r_keychange_inner_url():
    K = S["B"]
    with P.store_unchanged("§7.3.5 inner url differs"):
        r = K.post(C.dir["keyChange"], keychange_inner(
            P.ec_key(), K.kid, K.key, url=C.dir["newOrder"]))
    return is_problem(r, 400, "malformed")


def r_keychange_conflict():
    K, A = S["B"], S["A"]
    with P.store_unchanged("§7.3.5 new key already in use"):
        r = K.post(C.dir["keyChange"], keychange_inner(A.key, K.kid, K.key))
    return r.status_code == 409 and r.headers.get("Location") == A.kid


def r_keychange_inner_jwk():
    """§7.3.5: the inner JWS MUST have a jwk (the new key), not a kid."""
    K = S["B"]
    new = P.ec_key()
    prot = {"alg": P.alg_of(new), "kid": K.kid, "url": C.dir["keyChange"]}
    inner = P.make_jws(new, prot, {"account": K.kid,
                                   "oldKey": P.jwk_of(K.key)})
    with P.store_unchanged("§7.3.5 inner JWS with a kid"):
        r = K.post(C.dir["keyChange"], inner)
    return is_problem(r, 400, "malformed")


def r_keychange_inner_sig():
    """§7.3.5: the inner JWS MUST verify with the key it carries."""
    K = S["B"]
    new, other = P.ec_key(), P.ec_key()
    prot = {"alg": "ES256", "jwk": P.jwk_of(new), "url": C.dir["keyChange"]}
    inner = P.make_jws(other, prot, {"account": K.kid,
                                     "oldKey": P.jwk_of(K.key)})
    with P.store_unchanged("§7.3.5 inner JWS signed by another key"):
        r = K.post(C.dir["keyChange"], inner)
    return is_problem(r, 400, "malformed")


def r_keychange_works():
    K = P.Account()
    K.register()
    new = P.ec_key()
    r = K.post(C.dir["keyChange"], keychange_inner(new, K.kid, K.key))
    if r.status_code != 200:
        return False
    old = K.key
    K.key = new
    r1 = K.get(K.kid)
    K.key = old
    r2 = K.get(K.kid)
    return r1.status_code == 200 and r2.status_code != 200


# --------------------------------------------------------------------------
# §7.4 Orders

def r_new_order():
    r = S["A"].post(C.dir["newOrder"], {"identifiers": [
        {"type": "dns", "value": "new.conf.test"}]})
    return r.status_code == 201 and r.headers.get("Location") and \
        r.json().get("status") == "pending"


def r_empty_identifiers():
    with P.store_unchanged("§7.4 newOrder with no identifiers"):
        r = S["A"].post(C.dir["newOrder"], {"identifiers": []})
    return is_problem(r, 400, "malformed")


def r_unsupported_identifier():
    with P.store_unchanged("§7.4 newOrder for an email identifier"):
        r = S["A"].post(C.dir["newOrder"], {"identifiers": [
            {"type": "email", "value": "a@conf.test"}]})
    return is_problem(r, 400, "unsupportedIdentifier")


def r_order_other_account():
    return S["B"].get(S["order_url"]).status_code == 404 and \
        S["B"].get(S["pending"]["authorizations"][0]).status_code == 404


def r_finalize_not_ready():
    A, o = S["A"], S["pending"]
    with P.store_unchanged("§7.4 finalize of a pending order"):
        r = P.finalize(A, o, P.make_csr(P.ec_key(), ["pending.conf.test"]))
    return is_problem(r, 403, "orderNotReady")


def r_csr_names():
    """§7.4: the CSR names exactly the order's identifiers. The order of
    the setup is valid now, so a ready one is made for this row."""
    A = S["A"]
    ourl, o = P.new_order(A, ["a.conf.test"])
    if not o or o.get("status") != "ready":
        return False
    with P.store_unchanged("§7.4 finalize with a CSR naming more"):
        r = P.finalize(A, o, P.make_csr(P.ec_key(), ["a.conf.test",
                                                     "x.conf.test"]))
    return is_problem(r, 400, "badCSR")


def r_cert_download():
    r = S["cert_reply"]
    pems = P.split_pem(r.text)
    return r.status_code == 200 and r.headers.get("Content-Type") == \
        "application/pem-certificate-chain" and len(pems) == 2


def r_cert_no_up_dup():
    """§7.4.2: the chain is complete; a rel="up" on top of it has a
    chain-completing client store the CA twice."""
    return not P.links(S["cert_reply"], "up")


def r_cert_other_account():
    return S["B"].get(S["cert_url"]).status_code == 404


# --------------------------------------------------------------------------
# §7.5 Authorizations and challenges

def r_authz_fetch_no_validation():
    A = S["A"]
    au = S["pending"]["authorizations"][0]
    A.get(au)
    c = P.chall_of(A.get(au).json(), "http-01")
    return c is not None and c.get("status") == "pending" and \
        P.HITS.get(c["token"], 0) == 0


def r_challenge_up_link():
    """§7.5.1: the challenge reply links "up" to its authorization."""
    A = S["A"]
    au = S["ready_order"]["authorizations"][0]
    c = P.chall_of(A.get(au).json(), "http-01")
    r = A.post(c["url"], {})
    return r.status_code == 200 and au in P.links(r, "up")


def r_authz_empty_payload():
    A = S["A"]
    with P.store_unchanged("§6.3/§7.5 POST {} to an authorization"):
        r = A.post(S["pending"]["authorizations"][0], {})
    return is_problem(r, 400, "malformed")


def r_authz_deactivate():
    A = S["A"]
    ourl, o = P.new_order(A, ["deact.conf.test"])
    if not o:
        return False
    r = A.post(o["authorizations"][0], {"status": "deactivated"})
    st = A.get(ourl).json().get("status")
    return r.status_code == 200 and r.json().get("status") == \
        "deactivated" and st == "invalid"


def r_authz_only_deactivated():
    A = S["A"]
    with P.store_unchanged("§7.5.2 authz set to valid"):
        r = A.post(S["pending"]["authorizations"][0], {"status": "valid"})
    return is_problem(r, 400, "malformed")


def r_wildcard_authz():
    A = S["A"]
    r = A.post(C.dir["newOrder"], {"identifiers": [
        {"type": "dns", "value": "*.wild.conf.test"}]})
    if r.status_code != 201:
        return False
    a = A.get(r.json()["authorizations"][0]).json()
    return a.get("wildcard") is True and \
        a["identifier"]["value"] == "wild.conf.test" and \
        [c["type"] for c in a["challenges"]] == ["dns-01"]


# --------------------------------------------------------------------------
# §7.6 Revocation

def revoke(signer_acct=None, key=None, reason=None):
    payload = {"certificate": P.b64u(S["cert_der"])}
    if reason is not None:
        payload["reason"] = reason
    url = C.dir["revokeCert"]
    if signer_acct is not None:
        return signer_acct.post(url, payload)
    return C.post(url, payload, key)


def r_revoke_other_account():
    with P.store_unchanged("§7.6 revoke by an unrelated account"):
        r = revoke(S["B"])
    return is_problem(r, 403, "unauthorized")


def r_revoke_bad_reason():
    with P.store_unchanged("§7.6 revoke with reason 7"):
        r = revoke(S["A"], reason=7)
    return is_problem(r, 400, "badRevocationReason")


def r_revoke():
    r = revoke(S["A"], reason=1)
    return r.status_code == 200


def r_revoke_by_cert_key():
    """§7.6: a request signed by the certificate's own key (jwk) is
    authorised to revoke it."""
    c = P.issue_again(S["A"], ["a.conf.test", "b.conf.test"], "§7.6")
    if not c:
        return False
    r = C.post(C.dir["revokeCert"], {"certificate": P.b64u(c["der"])},
               c["key"])
    return r.status_code == 200


# --------------------------------------------------------------------------
# RFC 9773 ACME Renewal Information

def ri_url(der):
    return C.dir["renewalInfo"] + "/" + P.cert_id(der)


def r_ari_directory():
    return C.dir.get("renewalInfo", "").startswith("https://")


def r_ari_get():
    r = C.http("GET", ri_url(S["cert_der"]))
    return r.status_code == 200 and "suggestedWindow" in r.json()


def r_ari_window():
    w = C.http("GET", ri_url(S["cert_der"])).json()["suggestedWindow"]
    return P.rfc3339(w["start"]) < P.rfc3339(w["end"])


def r_ari_retry_after():
    r = C.http("GET", ri_url(S["cert_der"]))
    ra = r.headers.get("Retry-After", "")
    return ra.isdigit() and int(ra) > 0


def r_ari_malformed():
    cid = P.cert_id(S["cert_der"])
    return all(is_problem(C.http("GET", C.dir["renewalInfo"] + "/" + bad),
                          400, "malformed")
               for bad in (cid.replace(".", ""), cid + "=", cid + ".AQ"))


def r_ari_unknown():
    aki = P.cert_id(S["cert_der"]).split(".")[0]
    r = C.http("GET", C.dir["renewalInfo"] + "/" + aki + ".AQIDBA")
    return r.status_code == 404


def replaces_order(acct, names, replaces):
    return acct.post(C.dir["newOrder"], {"identifiers": [
        {"type": "dns", "value": n} for n in names], "replaces": replaces})


def r_replaces_echoed():
    r = replaces_order(S["A"], ["a.conf.test"], P.cert_id(S["cert_der"]))
    S["replacing_order"] = r
    return r.status_code == 201 and \
        r.json().get("replaces") == P.cert_id(S["cert_der"])


def r_already_replaced():
    with P.store_unchanged("RFC 9773 §5 replaces twice"):
        r = replaces_order(S["A"], ["b.conf.test"], P.cert_id(S["cert_der"]))
    return is_problem(r, 409, "alreadyReplaced")


def r_replaces_other_account():
    with P.store_unchanged("RFC 9773 §5 replaces another's certificate"):
        r = replaces_order(S["B"], ["a.conf.test"], P.cert_id(S["cert_der"]))
    return is_problem(r, 400, "malformed")


def r_replaces_unknown():
    aki = P.cert_id(S["cert_der"]).split(".")[0]
    with P.store_unchanged("RFC 9773 §5 replaces an unknown certificate"):
        r = replaces_order(S["A"], ["a.conf.test"], aki + ".AQIDBA")
    return is_problem(r, 400, "malformed")


def r_already_revoked():
    with P.store_unchanged("§7.6 revoke twice"):
        r = revoke(key=S["cert_key"])
    return is_problem(r, 400, "alreadyRevoked")


ROWS = [
    ("6.1", "ACME communications MUST be over HTTPS: every URL handed out "
     "is https", r_https),
    ("6.2", "POST content type MUST be application/jose+json (415)",
     r_jose_type),
    ("6.2", "JWS MUST use the flattened JSON serialization",
     r_flattened_only),
    ("6.2", "JWS MUST NOT have an unprotected header", r_no_unprotected_header),
    ("6.2", "alg MUST NOT be none: badSignatureAlgorithm", r_alg_none),
    ("6.2", "alg MUST NOT be a MAC: badSignatureAlgorithm", r_alg_mac),
    ("6.2", "badSignatureAlgorithm problem MUST include \"algorithms\"",
     r_algorithms_field),
    ("6.2", "protected header MUST have alg, nonce, url", r_header_fields),
    ("6.2", "protected header MUST have exactly one of jwk and kid",
     r_jwk_xor_kid),
    ("6.2", "kid MUST be used for requests other than newAccount and "
     "revokeCert-by-key", r_kid_for_others),
    ("6.2", "jwk MUST be used for newAccount", r_jwk_for_new_account),
    ("6.2", "the signature MUST verify", r_signature_checked),
    ("6.3", "POST-as-GET payload MUST be empty: {} to an order is "
     "malformed", r_post_as_get_empty),
    ("6.3", "resources are fetched by POST-as-GET, GET refused (405)",
     r_get_refused),
    ("6.3", "the CA certificate URL answers POST-as-GET", r_ca_post_as_get),
    ("6.4", "url header MUST equal the request URL: unauthorized",
     r_url_equal),
    ("6.4", "url MUST be in the protected header", r_url_protected),
    ("6.5", "Replay-Nonce MUST be in every POST reply, errors included",
     r_nonce_every_post),
    ("6.5.1", "Replay-Nonce value MUST be base64url", r_nonce_b64u),
    ("6.5", "a nonce MUST be used once: replay is badNonce", r_nonce_once),
    ("6.5", "an unknown nonce is badNonce, with a fresh nonce",
     r_nonce_unknown),
    ("6.5.2", "a nonce not base64url is badNonce", r_nonce_not_b64u),
    ("6.7", "errors are problem documents (RFC 7807) with status",
     r_problem_doc),
    ("6.7", "error types in urn:ietf:params:acme:error:", r_problem_types),
    ("6.7.1", "several identifiers' errors as subproblems, each with its "
     "identifier", r_subproblems),
    ("7.1.1", "directory lists newNonce, newAccount, newOrder, revokeCert, "
     "keyChange", r_directory),
    ("7.1", "replies carry Link rel=\"index\" to the directory",
     r_index_link),
    ("7.1.2", "account object has status and orders (required)",
     r_account_object),
    ("7.1.3", "order object has status, expires, identifiers, "
     "authorizations, finalize", r_order_object),
    ("7.1.3", "a valid order has its certificate URL", r_order_valid_cert),
    ("7.1.4", "authorization object has identifier, status, expires, "
     "challenges (type, url, status, token)", r_authz_object),
    ("7.1.2.1", "orders list holds the account's orders", r_orders_list),
    ("7.2", "newNonce: HEAD 200, GET 204, Replay-Nonce, Cache-Control "
     "no-store", r_new_nonce),
    ("7.3", "newAccount 201 + Location; the same key again 200 + the same "
     "Location", r_new_account),
    ("7.3.1", "onlyReturnExisting with an unknown key: accountDoesNotExist",
     r_only_return_existing),
    ("7.3", "unsupported contact scheme MUST be unsupportedContact",
     r_unsupported_contact),
    ("7.3.2", "account update MUST ignore the orders field",
     r_update_ignores_orders),
    ("7.3.6", "a deactivated account's requests MUST be refused "
     "(unauthorized)", r_deactivated_refused),
    ("7.3.5", "inner JWS MUST NOT have a nonce", r_keychange_inner_nonce),
    ("7.3.5", "inner url MUST equal the outer url", r_keychange_inner_url),
    ("7.3.5", "a new key in use by another account: 409 with its Location",
     r_keychange_conflict),
    ("7.3.5", "inner JWS MUST carry the new key as jwk (kid refused)",
     r_keychange_inner_jwk),
    ("7.3.5", "inner JWS MUST verify with its jwk", r_keychange_inner_sig),
    ("7.3.5", "after keyChange the new key signs, the old one no longer",
     r_keychange_works),
    ("7.4", "newOrder 201 + Location, status pending", r_new_order),
    ("7.4", "newOrder with no identifiers: malformed", r_empty_identifiers),
    ("7.4", "an identifier type the server does not support: "
     "unsupportedIdentifier", r_unsupported_identifier),
    ("7.4", "another account's order and authorization are not served "
     "(404)", r_order_other_account),
    ("7.4", "finalize before ready: orderNotReady (403)",
     r_finalize_not_ready),
    ("7.4", "the CSR MUST name exactly the order's identifiers: badCSR",
     r_csr_names),
    ("7.4.2", "certificate: application/pem-certificate-chain, leaf then "
     "chain", r_cert_download),
    ("7.4.2", "certificate reply has no rel=\"up\" when the chain holds "
     "the CA", r_cert_no_up_dup),
    ("7.4.2", "another account's certificate is not served",
     r_cert_other_account),
    ("7.5", "fetching an authorization starts no validation",
     r_authz_fetch_no_validation),
    ("7.5.1", "challenge reply has Link rel=\"up\" to its authorization",
     r_challenge_up_link),
    ("7.5", "POST {} to an authorization (fetch is POST-as-GET): malformed",
     r_authz_empty_payload),
    ("7.5.2", "deactivating an authorization invalidates its pending order",
     r_authz_deactivate),
    ("7.5.2", "the only status a client sets on an authz is deactivated",
     r_authz_only_deactivated),
    ("7.1.4", "wildcard authz: base name, wildcard true, dns-01 only",
     r_wildcard_authz),
    ("9773/3", "the directory gives renewalInfo, an https URL",
     r_ari_directory),
    ("9773/4.1", "GET renewalInfo/<certID> without a JWS: 200 with "
     "suggestedWindow", r_ari_get),
    ("9773/4.1", "a certID not two base64url parts joined by '.': "
     "malformed (400)", r_ari_malformed),
    ("9773/4.1", "a certID of a serial never issued: 404", r_ari_unknown),
    ("9773/4.2", "suggestedWindow start and end are RFC 3339, end after "
     "start (an end at or before start MUST NOT be served)", r_ari_window),
    ("9773/4.3", "the reply carries Retry-After in seconds",
     r_ari_retry_after),
    ("9773/5", "newOrder with replaces: 201, the order echoes replaces",
     r_replaces_echoed),
    ("9773/5", "a certificate already being replaced: alreadyReplaced "
     "(409), no order left", r_already_replaced),
    ("9773/5", "replaces naming another account's certificate: malformed, "
     "no order left", r_replaces_other_account),
    ("9773/5", "replaces naming an unknown certificate: malformed, no "
     "order left", r_replaces_unknown),
    ("7.6", "revocation by an unrelated account: unauthorized",
     r_revoke_other_account),
    ("7.6", "an unsupported reason: badRevocationReason",
     r_revoke_bad_reason),
    ("7.6", "revocation by the issuing account: 200", r_revoke),
    ("7.6", "revocation signed by the certificate's own key (jwk): 200",
     r_revoke_by_cert_key),
    ("7.6", "revoking again (by the certificate key): alreadyRevoked",
     r_already_revoked),
]


def main():
    srv = P.start_http01()
    failed = 0
    try:
        setup()
        for i, (sec, text, fn) in enumerate(ROWS):
            rid = "%s/%s" % (sec, fn.__name__)
            try:
                good = bool(fn())
            except Exception as e:  # noqa: BLE001
                print("    %s raised %r" % (rid, e))
                good = False
            rfc, _, sect = sec.rpartition("/")
            label = "RFC %s §%s: %s" % (rfc or "8555", sect, text)
            if rid in KNOWN:
                if good:
                    failed += 1
                    print("FAIL: now passes, take it off KNOWN: " + label)
                else:
                    print("KNOWN FAIL: " + label)
            elif good:
                print("ok: " + label)
            else:
                failed += 1
                print("FAIL: " + label)
            sys.stdout.flush()
    finally:
        srv.shutdown()
    failed += P.failures
    print("%d rows, %d failure(s)" % (len(ROWS), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
