"""mkcorpus.py - seeds for the JOSE, payload, tls-alpn and dns targets
(called by mkcorpus.sh). Keys are generated afresh: the seeds only need
to be well formed and correctly signed."""
import base64, datetime, hashlib, json, os, struct, sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

out, csr_path = sys.argv[1], sys.argv[2]
KEY_AUTHZ = b"fuzz-token.fuzz-thumbprint"  # as in fuzz_tlsalpn.c, fuzz_dns.c


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uint(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return n.to_bytes(size, "big")


def write(name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


keys = {
    "es256": (ec.generate_private_key(ec.SECP256R1()), "ES256"),
    "es384": (ec.generate_private_key(ec.SECP384R1()), "ES384"),
    "rs256": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    "eddsa": (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
}


def jwk(priv):
    pub = priv.public_key()
    if isinstance(priv, rsa.RSAPrivateKey):
        n = pub.public_numbers()
        return {"kty": "RSA", "n": b64u(uint(n.n)), "e": b64u(uint(n.e))}
    if isinstance(priv, ec.EllipticCurvePrivateKey):
        n = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {256: "P-256", 384: "P-384", 521: "P-521"}[pub.curve.key_size]
        return {"kty": "EC", "crv": crv, "x": b64u(uint(n.x, size)),
                "y": b64u(uint(n.y, size))}
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}


def sign(priv, data):
    if isinstance(priv, rsa.RSAPrivateKey):
        return priv.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(priv, ec.EllipticCurvePrivateKey):
        size = (priv.curve.key_size + 7) // 8
        h = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[priv.curve.key_size]
        r, s = decode_dss_signature(priv.sign(data, ec.ECDSA(h)))
        return uint(r, size) + uint(s, size)
    return priv.sign(data)


def jws(priv, alg, payload, kid=None, url="https://acme.test/acme/new-account"):
    h = {"alg": alg, "nonce": "bm9uY2U", "url": url}
    if kid:
        h["kid"] = kid
    else:
        h["jwk"] = jwk(priv)
    p = b64u(json.dumps(h, separators=(",", ":")).encode())
    pl = b64u(payload.encode()) if payload else ""
    sig = sign(priv, (p + "." + pl).encode())
    return json.dumps({"protected": p, "payload": pl, "signature": b64u(sig)})


account = '{"termsOfServiceAgreed":true,"contact":["mailto:admin@example.org"]}'
for name, (priv, alg) in keys.items():
    write("jwk/%s.json" % name, json.dumps(jwk(priv)))
    write("jws/%s-new-account.json" % name, jws(priv, alg, account))
priv, alg = keys["es256"]
write("jws/es256-kid-post-as-get.json",
      jws(priv, alg, "", kid="https://acme.test/acme/acct/abc",
          url="https://acme.test/acme/order/xyz"))

# payloads
csr = open(csr_path, "rb").read()
write("payloads/new-account.json", account)
write("payloads/account-update.json",
      '{"status":"deactivated","contact":["mailto:a@example.org","mailto:b.c@sub.example.net"]}')
write("payloads/new-order.json", json.dumps({"identifiers": [
    {"type": "dns", "value": "example.org"},
    {"type": "dns", "value": "*.example.org"},
    {"type": "dns", "value": "xn--bcher-kva.example"},
    {"type": "ip", "value": "192.0.2.1"},
    {"type": "ip", "value": "2001:db8::1"}]}))
# Issue 16: identifier forms that once slipped past policy. Addresses in
# IPv6 clothing (mapped, compatible, NAT64), names that are numbers to
# resolvers, and wildcards against fuzz_payloads.c's deny list
# (bad.example, secret.good.example, 10.0.0.0/8).
write("payloads/new-order-v4-in-v6.json", json.dumps({"identifiers": [
    {"type": "ip", "value": "::ffff:127.0.0.1"},
    {"type": "ip", "value": "::ffff:a00:1"},
    {"type": "ip", "value": "::10.0.0.1"},
    {"type": "ip", "value": "64:ff9b::10.0.0.1"},
    {"type": "ip", "value": "64:ff9b:1::a00:1"},
    {"type": "ip", "value": "::1"}]}))
write("payloads/new-order-numeric-names.json", json.dumps({"identifiers": [
    {"type": "dns", "value": "0x7f000001"},
    {"type": "dns", "value": "0x7f.1"},
    {"type": "dns", "value": "0x7f.0.0.1"},
    {"type": "dns", "value": "2130706433"},
    {"type": "dns", "value": "017700000001"},
    {"type": "dns", "value": "127.1"},
    {"type": "dns", "value": "example.123"},
    {"type": "dns", "value": "example.0x1f"},
    {"type": "dns", "value": "123.example.org"}]}))
write("payloads/new-order-wildcards.json", json.dumps({"identifiers": [
    {"type": "dns", "value": "*.good.example"},
    {"type": "dns", "value": "*.secret.good.example"},
    {"type": "dns", "value": "*.other.good.example"},
    {"type": "dns", "value": "*.bad.example"},
    {"type": "dns", "value": "*.0x7f000001"},
    {"type": "dns", "value": "*.10.0.0.1"}]}))
write("payloads/finalize.json", json.dumps({"csr": b64u(csr), "identifiers": [
    {"type": "dns", "value": "example.org"}, {"type": "dns", "value": "*.example.org"},
    {"type": "ip", "value": "192.0.2.1"}, {"type": "ip", "value": "2001:db8::1"}]}))

# tls-alpn-01 certificates (RFC 8737): one SAN, critical acmeIdentifier.
def alpn_cert(san, value=hashlib.sha256(KEY_AUTHZ).digest(), critical=True):
    k = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime(2024, 1, 1)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")]))
         .public_key(k.public_key()).serial_number(1)
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=7))
         .add_extension(x509.SubjectAlternativeName([san]), critical=False)
         .add_extension(x509.UnrecognizedExtension(
             x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31"),
             b"\x04" + bytes([len(value)]) + value), critical=critical))
    return b.sign(k, hashes.SHA256()).public_bytes(serialization.Encoding.DER), k


import ipaddress
der, k = alpn_cert(x509.DNSName("example.org"))
write("tlsalpn/dns-ok.der", der)
der2, _ = alpn_cert(x509.IPAddress(ipaddress.ip_address("192.0.2.1")))
write("tlsalpn/ip4-ok.der", der2)
der3, _ = alpn_cert(x509.IPAddress(ipaddress.ip_address("2001:db8::1")))
write("tlsalpn/ip6-ok.der", der3)
der4, _ = alpn_cert(x509.DNSName("example.org"), critical=False)
write("tlsalpn/dns-not-critical.der", der4)

# revoke: the dns certificate, with a reason
write("payloads/revoke.json", json.dumps({"certificate": b64u(der), "reason": 4}))

# keyChange: the inner JWS, payload {account, oldKey}
new, nalg = keys["eddsa"]
inner = jws(new, nalg, json.dumps({"account": "https://acme.test/acme/acct/abc",
                                   "oldKey": jwk(keys["es256"][0])}),
            url="https://acme.test/acme/key-change")
write("payloads/key-change.json", inner)

# b64u
write("b64u/digest", b64u(hashlib.sha256(KEY_AUTHZ).digest()))
write("b64u/one", "AQ")
write("b64u/two", "AQI")
write("b64u/csr", b64u(csr))

# dns: flags, rcode, then records of 2-byte length + rdata
digest = b64u(hashlib.sha256(KEY_AUTHZ).digest()).encode()
def rec(*strings):
    rd = b"".join(bytes([len(s)]) + s for s in strings)
    return struct.pack(">H", len(rd)) + rd
write("dns/ok", b"\x01\x00" + rec(digest))
write("dns/split", b"\x01\x00" + rec(b"other value") + rec(digest[:20], digest[20:]))
write("dns/wrong", b"\x01\x00" + rec(b"x" * 43) + rec(b"y" * 200, b"z" * 100))
write("dns/nxdomain", b"\x02\x03")
write("dns/servfail", b"\x00\x02")
# dns-persist-01 (the draft's examples) and CAA rdata (flags, tag length,
# tag, value) in the same frame
acct = b"accounturi=https://ca.example/acct/123"
write("dns/persist", b"\x01\x00" + rec(b"authority.example; " + acct))
write("dns/persist-wild", b"\x05\x00" + rec(b"authority.example; " + acct +
      b"; policy=wildcard; persistUntil=4102444800"))
write("dns/persist-other", b"\x01\x00" + rec(b"other.example; " + acct) +
      rec(b"authority.example; accounturi=x; accounturi=y"))


def caa(flags, tag, value):
    rd = bytes([flags, len(tag)]) + tag + value
    return len(rd).to_bytes(2, "big") + rd


write("dns/caa-issue", b"\x01\x00" + caa(0, b"issue", b"ca.example; " + acct) +
      caa(0, b"issuewild", b";") + caa(0, b"iodef", b"mailto:x@example.org"))
write("dns/caa-params", b"\x05\x00" + caa(0, b"issuewild",
      b"authority.example; validationmethods=dns-01,http-01; " + acct))
write("dns/caa-critical", b"\x01\x00" + caa(128, b"tbs", b"x") +
      caa(0, b"issue", b"other.example"))
