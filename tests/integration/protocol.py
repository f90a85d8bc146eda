#!/usr/bin/python3
"""protocol.py - RFC 8555 conformance checks against a running Anvil.

A small ACME client of its own (requests + cryptography) that can send
deliberately wrong requests. Each check prints "ok: ..." or "FAIL: ...";
the exit status is 1 when any check failed. A refused request that could
have created or changed something is also checked to have left the store
($DATA/store, read with db5.3_dump) exactly as it was.

Environment (set by protocol.sh): DIR_URL, CA_PEM, HTTP01_PORT,
TLSALPN01_PORT, DNS_PORT, MGMT_PORT, DATA.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import datetime
import ipaddress
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, \
    rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature
from cryptography.x509.oid import NameOID

DIR_URL = os.environ["DIR_URL"]
CA_PEM = os.environ["CA_PEM"]
HTTP01_PORT = int(os.environ["HTTP01_PORT"])
TLSALPN01_PORT = int(os.environ["TLSALPN01_PORT"])
MGMT_PORT = int(os.environ["MGMT_PORT"])
DATA = os.environ.get("DATA") or "/tmp"
TIMEOUT = (5, 15)  # connect, read: every request is bounded
JOSE = "application/jose+json"
ERR = "urn:ietf:params:acme:error:"
START = time.monotonic()

failures = 0
header_violations = []  # replies lacking Link index / Replay-Nonce


def ok(msg):
    print("ok: " + msg, flush=True)


def fail(msg, r=None):
    global failures
    failures += 1
    print("FAIL: " + msg, flush=True)
    if r is not None:
        print(describe(r), flush=True)


def check(cond, msg, r=None):
    if cond:
        ok(msg)
    else:
        fail(msg, r)
    return cond


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_int(n, length=None):
    if length is None:
        length = max(1, (n.bit_length() + 7) // 8)
    return b64u(n.to_bytes(length, "big"))


def describe(r):
    """The request that was sent and the reply that came back, for a FAIL."""
    lines = []
    sent = getattr(r, "sent", None)
    if sent:
        lines.append("    sent: %s %s" % (sent["method"], sent["url"]))
        if sent.get("ctype"):
            lines.append("    content-type: %s" % sent["ctype"])
        if sent.get("protected") is not None:
            lines.append("    protected: %s" % json.dumps(sent["protected"]))
        if sent.get("payload") is not None:
            p = sent["payload"]
            lines.append("    payload: %s" % (p[:300] + "..." if len(p) > 300
                                              else p))
    lines.append("    got: %s" % r.status_code)
    for k, v in r.headers.items():
        lines.append("      %s: %s" % (k, v))
    body = r.text if r.content else ""
    if len(body) > 1200:
        body = body[:1200] + "..."
    for b in body.splitlines():
        lines.append("      | " + b)
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Keys and JWS

def ec_key(curve=None):
    return ec.generate_private_key(curve or ec.SECP256R1())


def jwk_of(key):
    pub = key.public_key()
    if isinstance(pub, ed25519.Ed25519PublicKey):
        raw = pub.public_bytes(serialization.Encoding.Raw,
                               serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64u(raw)}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        nums = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384",
               "secp521r1": "P-521"}[pub.curve.name]
        return {"crv": crv, "kty": "EC", "x": b64u_int(nums.x, size),
                "y": b64u_int(nums.y, size)}
    nums = pub.public_numbers()
    return {"e": b64u_int(nums.e), "kty": "RSA", "n": b64u_int(nums.n)}


def thumbprint(jwk):
    canon = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(canon.encode()).digest())


def alg_of(key):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "ES256", "secp384r1": "ES384",
                "secp521r1": "ES512"}[key.curve.name]
    return "RS256"


def sign(key, data):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        h = {256: hashes.SHA256(), 384: hashes.SHA384(),
             521: hashes.SHA512()}[key.curve.key_size]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def make_jws(key, protected, payload, signer=None):
    """Flattened JWS; payload None is POST-as-GET (""), a dict is JSON,
    a str/bytes is sent as it is (base64url-encoded)."""
    if payload is None:
        p64 = ""
    elif isinstance(payload, (dict, list)):
        p64 = b64u(json.dumps(payload))
    else:
        p64 = b64u(payload)
    h64 = b64u(json.dumps(protected))
    data = (h64 + "." + p64).encode()
    sig = signer(data) if signer else sign(key, data)
    return {"protected": h64, "payload": p64, "signature": b64u(sig)}


# --------------------------------------------------------------------------
# HTTP

class Client:
    def __init__(self):
        self.s = requests.Session()
        self.s.trust_env = False  # loopback only, never a proxy
        self.s.verify = CA_PEM
        self.nonces = []
        self.dir = None

    def http(self, method, url, data=None, ctype=None, sent=None,
             index=True):
        headers = {}
        if ctype is not None:
            headers["Content-Type"] = ctype
        r = self.s.request(method, url, data=data, headers=headers,
                           timeout=TIMEOUT, allow_redirects=False)
        r.sent = sent or {"method": method, "url": url, "ctype": ctype}
        n = r.headers.get("Replay-Nonce")
        if n:
            self.nonces.append(n)
        what = "%s %s -> %d" % (method, url, r.status_code)
        if index and self.dir is not None and \
                ('<%s>;rel="index"' % DIR_URL) not in r.headers.get("Link", ""):
            header_violations.append(("Link index", what, r))
        if method == "POST" and not n:
            header_violations.append(("Replay-Nonce", what, r))
        return r

    def nonce(self):
        if self.nonces:
            return self.nonces.pop()
        r = self.http("HEAD", self.dir["newNonce"])
        if not r.headers.get("Replay-Nonce"):
            raise RuntimeError("newNonce gave no nonce")
        return self.nonces.pop()

    def send_jws(self, url, jws, protected, payload, ctype=JOSE):
        body = json.dumps(jws) if not isinstance(jws, (bytes, str)) else jws
        ptxt = None
        if payload is not None:
            ptxt = payload if isinstance(payload, str) else \
                json.dumps(payload) if isinstance(payload, (dict, list)) \
                else repr(payload)
        sent = {"method": "POST", "url": url, "ctype": ctype,
                "protected": protected, "payload": ptxt}
        return self.http("POST", url, data=body, ctype=ctype, sent=sent)

    def post(self, url, payload, key, kid=None, hdr=None, drop=(),
             hdr_url=None, nonce=None, ctype=JOSE, signer=None,
             tamper=None):
        """A JWS POST: kid-signed when kid is given, else jwk-signed.
        hdr adds/overrides protected members, drop removes some."""
        protected = {"alg": alg_of(key),
                     "nonce": nonce if nonce is not None else self.nonce(),
                     "url": hdr_url or url}
        if kid:
            protected["kid"] = kid
        else:
            protected["jwk"] = jwk_of(key)
        protected.update(hdr or {})
        for k in drop:
            protected.pop(k, None)
        jws = make_jws(key, protected, payload, signer)
        if tamper:
            jws = tamper(jws)
        return self.send_jws(url, jws, protected, payload, ctype)


C = Client()


class Account:
    def __init__(self, key=None):
        self.key = key or ec_key()
        self.kid = None

    def post(self, url, payload=None, **kw):
        return C.post(url, payload, self.key, kid=self.kid, **kw)

    def get(self, url, **kw):
        """POST-as-GET."""
        return self.post(url, None, **kw)

    def register(self, payload=None):
        r = C.post(C.dir["newAccount"], payload or
                   {"termsOfServiceAgreed": True}, self.key)
        if r.status_code in (200, 201):
            self.kid = r.headers.get("Location")
        return r

    def keyauth(self, token):
        return token + "." + thumbprint(jwk_of(self.key))


# --------------------------------------------------------------------------
# Expectations

def ctype_of(r):
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


def problem_errors(r, status, typ, detail_has=None):
    errs = []
    if r.status_code != status:
        errs.append("HTTP %d, wanted %d" % (r.status_code, status))
    if ctype_of(r) != "application/problem+json":
        errs.append("Content-Type %r" % r.headers.get("Content-Type"))
    try:
        doc = r.json()
    except ValueError:
        return errs + ["body is not JSON"]
    if not isinstance(doc, dict):
        return errs + ["body is not an object"]
    if typ is not None and doc.get("type") != ERR + typ:
        errs.append("type %r, wanted %r" % (doc.get("type"), ERR + typ))
    if doc.get("status") != r.status_code:
        errs.append("\"status\" %r differs from HTTP %d" %
                    (doc.get("status"), r.status_code))
    if not isinstance(doc.get("detail"), str) or not doc.get("detail"):
        errs.append("no detail")
    elif detail_has and detail_has not in doc["detail"]:
        errs.append("detail lacks %r" % detail_has)
    if r.request.method == "POST" and not r.headers.get("Replay-Nonce"):
        errs.append("no Replay-Nonce")
    return errs


def expect_problem(r, status, typ, msg, detail_has=None):
    errs = problem_errors(r, status, typ, detail_has)
    if errs:
        fail("%s: %s" % (msg, "; ".join(errs)), r)
        return False
    ok("%s (%d %s)" % (msg, status, typ))
    return True


def expect_json(r, status, msg, need_location=False):
    errs = []
    if r.status_code != status:
        errs.append("HTTP %d, wanted %d" % (r.status_code, status))
    if ctype_of(r) != "application/json":
        errs.append("Content-Type %r" % r.headers.get("Content-Type"))
    doc = None
    try:
        doc = r.json()
    except ValueError:
        errs.append("body is not JSON")
    if need_location and not r.headers.get("Location"):
        errs.append("no Location")
    if errs:
        fail("%s: %s" % (msg, "; ".join(errs)), r)
        return None
    ok(msg)
    return doc


def links(r, rel):
    """The URLs of the Link headers of r with the relation rel."""
    out = []
    raw = r.headers.get("Link", "")
    for part in raw.split(","):
        part = part.strip()
        if not part.startswith("<") or ">" not in part:
            continue
        url, params = part[1:].split(">", 1)
        for p in params.split(";"):
            p = p.strip().replace(" ", "")
            if p in ('rel="%s"' % rel, "rel=%s" % rel):
                out.append(url)
    return out


# --------------------------------------------------------------------------
# The store: a refused request leaves it as it was

STORE_DIR = os.path.join(DATA, "store")
STORE_FILES = ("accounts.db", "orders.db", "authz.db", "challenges.db",
               "certs.db")
DB_DUMP = shutil.which("db5.3_dump")
store_skipped = []


def store_dump(name):
    """The (key, value) pairs of one store file, as db5.3_dump -p prints
    them (printable characters as they are, others as \\xx).

    db5.3_dump -h joins the server's environment (its shared regions, its
    locks): it sees what is committed, not only what reached the file. It
    opens the database file read-only and writes nothing to it. It is never
    killed here: a process that dies inside the library would make the
    server's next opener run recovery. A lost lock wait is retried."""
    out = None
    for _ in range(5):
        p = subprocess.run([DB_DUMP, "-h", STORE_DIR, "-p", name],
                           stdin=subprocess.DEVNULL, capture_output=True)
        if p.returncode == 0:
            out = p.stdout.decode("ascii", "backslashreplace")
            break
        time.sleep(0.2)
    if out is None:
        raise RuntimeError("db5.3_dump %s: %s" % (
            name, p.stderr.decode(errors="replace").strip()))
    lines = out.split("\n")
    body = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    if len(body) % 2 or any(not ln.startswith(" ") for ln in body):
        raise RuntimeError("db5.3_dump %s: unexpected output" % name)
    return {(body[i][1:], body[i + 1][1:]) for i in range(0, len(body), 2)}


def store_snapshot(files=STORE_FILES):
    """{file: set of (key, value)} for the record files (accounts, orders,
    authorizations, challenges, certificates); None without db5.3_dump."""
    if DB_DUMP is None or not os.path.isdir(STORE_DIR):
        return None
    return {f: store_dump(f) for f in files}


def store_diff(before, after):
    """What differs between two snapshots, one line per record."""
    lines = []
    for f in sorted(before):
        old, new = dict(before[f]), dict(after[f])
        for k in sorted(set(old) | set(new)):
            if old.get(k) == new.get(k):
                continue
            if k not in old:
                lines.append("    %s: added %s = %.300s" % (f, k, new[k]))
            elif k not in new:
                lines.append("    %s: removed %s = %.300s" % (f, k, old[k]))
            else:
                lines.append("    %s: changed %s\n      was %.300s\n"
                             "      now %.300s" % (f, k, old[k], new[k]))
    return lines


class store_unchanged:
    """with store_unchanged("what"): ... - every record of the five files
    is byte for byte the same after the block as before it: none added,
    removed or changed in any way (a timestamp or a counter included). A
    record rewritten with the very same bytes cannot be told apart.

    Only used where no validation is under way (every challenge POSTed
    before has been polled to valid or invalid), so nothing else writes to
    the store meanwhile and all five files are compared."""

    def __init__(self, what, files=STORE_FILES):
        self.what = what
        self.files = files

    def __enter__(self):
        try:
            self.before = store_snapshot(self.files)
        except (RuntimeError, ValueError) as e:
            fail("%s: cannot read the store before: %s" % (self.what, e))
            self.before = None
            return self
        if self.before is None and not store_skipped:
            store_skipped.append(1)
            print("SKIP: store checks: db5.3_dump (Debian: db5.3-util) or "
                  "%s missing" % STORE_DIR, flush=True)
        return self

    def __exit__(self, typ, val, tb):
        if typ is not None or self.before is None:
            return False
        try:
            after = store_snapshot(self.files)
        except (RuntimeError, ValueError) as e:
            fail("%s: cannot read the store after: %s" % (self.what, e))
            return False
        diff = store_diff(self.before, after)
        if diff:
            fail("%s: the store changed" % self.what)
            print("\n".join(diff), flush=True)
        else:
            ok("%s: the store is unchanged" % self.what)
        return False


# --------------------------------------------------------------------------
# The http-01 responder: /.well-known/acme-challenge/<token>

CHALLENGES = {}   # token -> (status, body); a 3xx body is the Location
HITS = {}         # token -> number of requests
HITS_LOCK = threading.Lock()


class Http01(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        prefix = "/.well-known/acme-challenge/"
        token = self.path[len(prefix):] if self.path.startswith(prefix) \
            else None
        with HITS_LOCK:
            if token is not None:
                HITS[token] = HITS.get(token, 0) + 1
            status, body = CHALLENGES.get(token, (404, "not here"))
        data = body.encode()
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", body)
            data = b""
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


def start_http01():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", HTTP01_PORT), Http01)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv


# --------------------------------------------------------------------------
# The tls-alpn-01 responder (RFC 8737, RFC 8738): ALPN acme-tls/1, a
# self-signed certificate per SNI name with the acmeIdentifier extension.

ALPN_CERTS = {}   # SNI name -> SSLContext
ALPN_SNI = []     # (SNI, ALPN protocol) of every handshake
ALPN_DIR = tempfile.mkdtemp(prefix="alpn-", dir=DATA if os.path.isdir(DATA)
                            else None)


def alpn_context(certfile=None, keyfile=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_alpn_protocols(["acme-tls/1"])
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    return ctx


def alpn_publish(sni, san, keyauth):
    """Answer the handshake for SNI sni with a certificate for san (a DNS
    name or an ipaddress) proving keyauth."""
    key = ec_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme")])
    now = datetime.datetime.utcnow()
    digest = hashlib.sha256(keyauth.encode()).digest()
    gn = x509.IPAddress(san) if not isinstance(san, str) else \
        x509.DNSName(san)
    cert = x509.CertificateBuilder().subject_name(name).issuer_name(name) \
        .public_key(key.public_key()).serial_number(x509.random_serial_number()) \
        .not_valid_before(now - datetime.timedelta(minutes=5)) \
        .not_valid_after(now + datetime.timedelta(days=1)) \
        .add_extension(x509.SubjectAlternativeName([gn]), critical=False) \
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(
            "1.3.6.1.5.5.7.1.31"), b"\x04\x20" + digest), critical=True) \
        .sign(key, hashes.SHA256())
    base = os.path.join(ALPN_DIR, secrets.token_hex(8))
    with open(base + ".crt", "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(base + ".key", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    ALPN_CERTS[sni] = alpn_context(base + ".crt", base + ".key")


def start_tlsalpn01():
    # The default context carries a throwaway certificate: a handshake for
    # an unknown name fails the checks, not the TLS library.
    alpn_publish("default", "default.invalid", "none")
    ctx = ALPN_CERTS.pop("default")
    seen = {}

    def sni_cb(sock, server_name, _ctx):
        seen[id(sock)] = server_name
        if server_name in ALPN_CERTS:
            sock.context = ALPN_CERTS[server_name]
        return None
    ctx.sni_callback = sni_cb
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", TLSALPN01_PORT))
    lsock.listen(16)
    lsock.settimeout(0.5)
    stop = threading.Event()

    def handle(conn):
        conn.settimeout(5)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                ALPN_SNI.append((seen.pop(id(tls), None),
                                 tls.selected_alpn_protocol()))
                try:
                    tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass
        except (OSError, ssl.SSLError) as e:
            ALPN_SNI.append(("error", str(e)))

    def loop():
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
        lsock.close()
    threading.Thread(target=loop, daemon=True).start()
    return stop


def set_txt(host, value):
    s = requests.Session()
    s.trust_env = False
    s.post("http://127.0.0.1:%d/set-txt" % MGMT_PORT, timeout=TIMEOUT,
           data=json.dumps({"host": host + ".", "value": value}))


# --------------------------------------------------------------------------
# CSRs

def make_csr(key, dns=(), ips=(), cn=None):
    b = x509.CertificateSigningRequestBuilder()
    b = b.subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
    sans = [x509.DNSName(d) for d in dns] + \
        [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    h = hashes.SHA256()
    csr = b.sign(key, h)
    return b64u(csr.public_bytes(serialization.Encoding.DER))


# --------------------------------------------------------------------------
# The checks

def poll(acct, url, until, seconds=20):
    """POST-as-GET url until until(doc) or the deadline; the last doc."""
    deadline = time.monotonic() + seconds
    doc = None
    while True:
        r = acct.get(url)
        try:
            doc = r.json()
        except ValueError:
            doc = None
        if doc is not None and until(doc):
            return doc, r
        if time.monotonic() > deadline:
            return doc, r
        time.sleep(0.25)


def test_directory():
    r = C.http("GET", DIR_URL)
    d = expect_json(r, 200, "directory: 200 application/json")
    if d is None:
        raise SystemExit("no directory, cannot go on")
    C.dir = d
    base = DIR_URL.rsplit("/", 1)[0]
    want = {"newNonce": "/new-nonce", "newAccount": "/new-account",
            "newOrder": "/new-order", "revokeCert": "/revoke-cert",
            "keyChange": "/key-change"}
    bad = [k for k, p in want.items() if d.get(k) != base + p]
    check(not bad, "directory has the five URLs under the base URL%s" %
          (" (wrong: %s)" % bad if bad else ""), r if bad else None)
    check(isinstance(d.get("meta"), dict), "directory has meta", r)
    check('\n  "newNonce": "' in r.text and '\n  "meta": {' in r.text,
          "directory JSON has one member per line, \"key\": value", r)
    r = C.http("HEAD", DIR_URL)
    check(r.status_code == 200, "HEAD directory: 200", r)
    check(('<%s>;rel="index"' % DIR_URL) in r.headers.get("Link", ""),
          "directory reply has Link rel=\"index\"", r)

    r = C.http("GET", d["newNonce"])
    check(r.status_code == 204 and r.headers.get("Replay-Nonce") and
          "no-store" in r.headers.get("Cache-Control", ""),
          "GET newNonce: 204, Replay-Nonce, Cache-Control: no-store", r)
    r = C.http("HEAD", d["newNonce"])
    check(r.status_code == 200 and r.headers.get("Replay-Nonce") and
          "no-store" in r.headers.get("Cache-Control", ""),
          "HEAD newNonce: 200, Replay-Nonce, Cache-Control: no-store", r)
    r = C.http("GET", d["newAccount"])
    expect_problem(r, 405, None, "GET newAccount refused with 405")
    check("POST" in r.headers.get("Allow", ""),
          "405 for GET newAccount: Allow lists POST", r)
    for url in (DIR_URL, d["newNonce"]):
        r = C.http("POST", url, data="{}", ctype=JOSE)
        allow = [m.strip() for m in r.headers.get("Allow", "").split(",")]
        check(r.status_code == 405 and "GET" in allow and "POST" not in allow,
              "405 for POST %s: Allow lists GET, not POST (Allow: %r)" %
              (url.rsplit("/", 1)[1], r.headers.get("Allow")), r)


B64U_ALPHABET = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789-_")
# Each way of spelling base64 that is not base64url without padding (RFC 7515
# section 2): (does it change this text?, the text so spelled). A lenient
# decoder reads the same bytes from each.
B64U_SPOILS = (
    ("'=' padding", lambda x: len(x) % 4 != 0,
     lambda x: x + "=" * (-len(x) % 4)),
    ("'+' for '-'", lambda x: "-" in x, lambda x: x.replace("-", "+")),
    ("'/' for '_'", lambda x: "_" in x, lambda x: x.replace("_", "/")),
    ("non-zero unused bits in the last character",
     lambda x: len(x) % 4 in (2, 3),
     lambda x: x[:-1] + B64U_ALPHABET[B64U_ALPHABET.index(x[-1]) ^ 1]),
)


def test_b64u(na):
    """protected, payload and signature each spelled in every way of
    B64U_SPOILS: malformed. The signature is computed over the text as
    sent, so a lenient decoder would verify it and serve the request. Each
    is a newAccount with a new key: served, it would create an account,
    which the store check would see.

    base64 of ASCII text holds '-' or '_' (62, 63) only where a '~', '>' or
    '?' is the third byte of a group of three: protected and payload carry
    a member the server ignores (RFC 7515 4, RFC 8555 7.3) holding "???~~~"
    and a few more characters, which puts one of each there whatever the
    alignment, and varies the length for the padding."""
    def build(part, applies, spoil, nonce):
        for i in range(200):
            key = ec_key()
            filler = "???~~~" + "." * (i % 3)
            payload = json.dumps({"termsOfServiceAgreed": True,
                                  "x-filler": filler})
            prot = {"alg": "ES256", "nonce": nonce, "url": na,
                    "jwk": jwk_of(key), "x-filler": filler}
            jws = {"protected": b64u(json.dumps(prot)),
                   "payload": b64u(payload)}
            if part != "signature":
                if not applies(jws[part]):
                    continue
                jws[part] = spoil(jws[part])
            s64 = b64u(sign(key, (jws["protected"] + "." +
                                  jws["payload"]).encode()))
            if part == "signature":
                if not applies(s64):
                    continue
                s64 = spoil(s64)
            jws["signature"] = s64
            return prot, payload, jws
        return None, None, None

    for part in ("protected", "payload", "signature"):
        for how, applies, spoil in B64U_SPOILS:
            what = "base64url %s with %s" % (part, how)
            prot, payload, jws = build(part, applies, spoil, C.nonce())
            if jws is None:
                fail("%s: could not make such a text" % what)
                continue
            with store_unchanged("newAccount with " + what):
                r = C.send_jws(na, jws, prot, payload)
                expect_problem(r, 400, "malformed", what + ": malformed")
    # The same construction spelled right is served: what was refused
    # above was the spelling.
    prot, payload, jws = build("protected", lambda x: True, lambda x: x,
                               C.nonce())
    r = C.send_jws(na, jws, prot, payload)
    expect_json(r, 201, "the same newAccount spelled in base64url: 201")


def nonce_mint(key, t):
    """A nonce as the server makes one (nonce.c): base64url(time in
    milliseconds (8 bytes, big-endian) || random (8) || HMAC-SHA256 of
    those 16 bytes under the nonce key, cut to 16)."""
    msg = t.to_bytes(8, "big") + secrets.token_bytes(8)
    return b64u(msg + hmac.new(key, msg, "sha256").digest()[:16])


def test_stale_nonce(A, na):
    """Nonces that are too old, or are not the server's.

    A genuinely expired nonce - one the server handed out more than an hour
    (ACME_NONCE_LIFETIME) ago - cannot be had without waiting an hour.
    Moving the time of a fresh nonce back 61 minutes breaks its MAC, so
    that nonce is refused whichever check sees it first: the test shows a
    stale-looking nonce is not served, not that the lifetime is enforced.
    So is garbage of the right length (32 random bytes), and a nonce with
    the current time and a made-up MAC. What does exercise the lifetime
    check is a nonce minted with the server's own key, which this test can
    read from the throwaway data folder the script made ($DATA/nonce.key):
    one dated now is accepted (so the minting is right), one dated 61
    minutes ago, and one an hour ahead, are badNonce."""
    def refused(nonce, what):
        with store_unchanged("newAccount with " + what):
            r = C.post(na, {"termsOfServiceAgreed": True}, ec_key(),
                       nonce=nonce)
            expect_problem(r, 400, "badNonce", what + ": badNonce",
                           detail_has="JWS has an invalid anti-replay nonce")

    n = C.nonce()
    raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    t = int.from_bytes(raw[:8], "big")
    if not check(len(n) == 43 and len(raw) == 32 and
                 abs(t / 1000 - time.time()) < 120, "a nonce is 32 bytes, "
                 "the first 8 the time it was made (big-endian UNIX "
                 "milliseconds)"):
        return
    refused(b64u((t - 3660000).to_bytes(8, "big") + raw[8:]),
            "a real nonce with its time moved back 61 minutes")
    refused(b64u(secrets.token_bytes(32)), "32 random bytes as a nonce")
    refused(b64u(int(time.time() * 1000).to_bytes(8, "big") +
                 secrets.token_bytes(24)),
            "a nonce with the current time and a made-up MAC")
    r = A.get(A.kid, nonce=n)
    expect_json(r, 200, "the real nonce, unaltered, still works after its "
                "altered copy was refused")

    try:
        with open(os.path.join(DATA, "nonce.key"), "rb") as f:
            key = f.read()
    except OSError as e:
        fail("nonce key %s/nonce.key unreadable: %s" % (DATA, e))
        return
    now = int(time.time() * 1000)
    r = A.get(A.kid, nonce=nonce_mint(key, now))
    if not expect_json(r, 200, "a nonce minted with the server's nonce key "
                       "for now is accepted"):
        return
    refused(nonce_mint(key, now - 3660000), "a nonce made 61 minutes ago "
            "(valid MAC)")
    refused(nonce_mint(key, now + 3600000), "a nonce dated an hour ahead "
            "(valid MAC)")


ALGORITHMS = ["RS256", "ES256", "ES384", "ES512", "EdDSA"]


def expect_algorithms(r, what):
    """RFC 8555 §6.2: the badSignatureAlgorithm problem document "MUST
    include an "algorithms" field with an array of supported "alg"
    values"."""
    try:
        algs = r.json().get("algorithms")
    except ValueError:
        algs = None
    return check(isinstance(algs, list) and sorted(algs) ==
                 sorted(ALGORITHMS), "%s: badSignatureAlgorithm carries "
                 "\"algorithms\" %s" % (what, ALGORITHMS), r)


def test_jws(A):
    d = C.dir
    na = d["newAccount"]

    # Content type.
    prot = {"alg": "ES256", "nonce": C.nonce(), "url": na,
            "jwk": jwk_of(A.key)}
    jws = make_jws(A.key, prot, {"onlyReturnExisting": True})
    r = C.send_jws(na, jws, prot, {}, ctype="application/json")
    expect_problem(r, 415, "malformed",
                   "Content-Type application/json refused")
    r = A.get(A.kid, ctype="application/jose+json; charset=utf-8")
    expect_json(r, 200, "Content-Type application/jose+json; charset=utf-8 "
                "accepted")

    # Body not JSON.
    r = C.http("POST", na, data="this is not json", ctype=JOSE)
    expect_problem(r, 400, "malformed", "body not JSON: malformed")
    r = C.http("POST", na, data="[1, 2]", ctype=JOSE)
    expect_problem(r, 400, "malformed", "body a JSON array: malformed")

    # JWS serialization and members.
    def good_jws(payload=None):
        prot = {"alg": "ES256", "nonce": C.nonce(), "url": A.kid,
                "kid": A.kid}
        return prot, make_jws(A.key, prot, payload)
    prot, jws = good_jws()
    r = C.http("POST", A.kid, data=".".join([jws["protected"],
               jws["payload"], jws["signature"]]), ctype=JOSE)
    expect_problem(r, 400, "malformed", "compact serialization: malformed")
    prot, jws = good_jws()
    r = C.send_jws(A.kid, {"payload": jws["payload"], "signatures": [
        {"protected": jws["protected"], "signature": jws["signature"]}]},
        prot, None)
    expect_problem(r, 400, "malformed", "general JSON serialization: "
                   "malformed")
    prot, jws = good_jws()
    jws["header"] = {"kid": A.kid}
    r = C.send_jws(A.kid, jws, prot, None)
    expect_problem(r, 400, "malformed", "unprotected header: malformed")
    r = C.http("POST", A.kid, data="", ctype=JOSE)
    expect_problem(r, 400, "malformed", "empty body: malformed")
    r = A.get(A.kid, hdr={"nonce": 12345})
    expect_problem(r, 400, "malformed", "nonce not a string: malformed")
    r = A.get(A.kid, hdr={"crit": ["exp"], "exp": 1})
    expect_problem(r, 400, "malformed", "crit header: malformed")
    r = A.get(A.kid, signer=lambda data: A.key.sign(
        data, ec.ECDSA(hashes.SHA256())))
    expect_problem(r, 400, "malformed", "ES256 signature in DER, not r||s: "
                   "malformed")
    # Account updates with a broken payload: nothing may be written.
    with store_unchanged("account update with a JSON array payload"):
        r = A.post(A.kid, "[1, 2]")
        expect_problem(r, 400, "malformed", "payload a JSON array: "
                       "malformed")
    with store_unchanged("account update with a duplicate member"):
        r = A.post(A.kid, '{"contact": [], "contact": []}')
        expect_problem(r, 400, "malformed", "payload with a duplicate "
                       "member: malformed")
    with store_unchanged("account update with a payload not JSON"):
        r = A.post(A.kid, "not json")
        expect_problem(r, 400, "malformed", "payload not JSON: malformed")
    with store_unchanged("newAccount POST-as-GET"):
        r = C.post(na, None, ec_key())
        expect_problem(r, 400, "malformed", "newAccount POST-as-GET (no "
                       "payload): malformed")

    test_b64u(na)

    # Algorithms and keys. A new key each time, so that a request wrongly
    # served would create an account, which the store check would see.
    nkey = ec_key()
    prot = {"alg": "none", "nonce": C.nonce(), "url": na,
            "jwk": jwk_of(nkey)}
    jws = {"protected": b64u(json.dumps(prot)),
           "payload": b64u(json.dumps({"termsOfServiceAgreed": True})),
           "signature": ""}
    with store_unchanged("newAccount with alg none"):
        r = C.send_jws(na, jws, prot, {"termsOfServiceAgreed": True})
        none_ok = expect_problem(r, 400, "badSignatureAlgorithm",
                                 "alg none refused")
    if none_ok:
        det = r.json()["detail"]
        miss = [a for a in ("RS256", "ES256", "ES384", "ES512", "EdDSA")
                if a not in det]
        check(not miss, "badSignatureAlgorithm detail lists the accepted "
              "algorithms%s" % (" (missing %s)" % miss if miss else ""), r)
        expect_algorithms(r, "alg none")
    hkey = secrets.token_bytes(32)
    r = A.get(A.kid, hdr={"alg": "HS256"},
              signer=lambda data: hmac.new(hkey, data, "sha256").digest())
    if expect_problem(r, 400, "badSignatureAlgorithm", "alg HS256 refused"):
        expect_algorithms(r, "alg HS256")
    rsa1024 = rsa.generate_private_key(65537, 1024)
    with store_unchanged("newAccount with an RSA 1024 key"):
        r = C.post(na, {"termsOfServiceAgreed": True}, rsa1024)
        expect_problem(r, 400, "badPublicKey", "RSA 1024 jwk refused")
    r = A.get(A.kid, hdr={"alg": "ES384"})
    if expect_problem(r, 400, "badSignatureAlgorithm",
                      "alg ES384 with a P-256 key refused"):
        expect_algorithms(r, "alg ES384 with a P-256 key")

    # Header members.
    r = A.get(A.kid, hdr={"jwk": jwk_of(A.key)})
    expect_problem(r, 400, "malformed", "both jwk and kid: malformed")
    r = A.get(A.kid, drop=("kid",))
    expect_problem(r, 400, "malformed", "neither jwk nor kid: malformed")
    r = A.get(A.kid, hdr_url=d["newOrder"])
    expect_problem(r, 403, "unauthorized",
                   "url header different from the request URL: unauthorized")
    r = A.get(A.kid, drop=("url",))
    expect_problem(r, 400, "malformed", "no url header: malformed")
    r = A.get(A.kid, drop=("nonce",))
    expect_problem(r, 400, "badNonce", "missing nonce: badNonce")
    fake = b64u(secrets.token_bytes(24))
    r = A.get(A.kid, nonce=fake)
    if expect_problem(r, 400, "badNonce", "made-up nonce: badNonce",
                      detail_has="JWS has an invalid anti-replay nonce"):
        fresh = r.headers.get("Replay-Nonce")
        C.nonces = [n for n in C.nonces if n != fresh]
        r = A.get(A.kid, nonce=fresh)
        expect_json(r, 200, "retry with the nonce of the badNonce reply "
                    "works")
    test_stale_nonce(A, na)
    n = C.nonce()
    r = A.get(A.kid, nonce=n)
    expect_json(r, 200, "a fresh nonce is accepted")
    r = A.get(A.kid, nonce=n)
    expect_problem(r, 400, "badNonce", "the same nonce a second time: "
                   "badNonce", detail_has="JWS has an invalid anti-replay "
                   "nonce")

    # Two copies of one request at the same instant: one is served.
    served = []
    for _ in range(6):
        prot = {"alg": "ES256", "nonce": C.nonce(), "url": A.kid,
                "kid": A.kid}
        body = json.dumps(make_jws(A.key, prot, None))
        codes = []

        def send():
            s2 = requests.Session()
            s2.trust_env = False
            s2.verify = CA_PEM
            try:
                rr = s2.post(A.kid, data=body, timeout=TIMEOUT,
                             headers={"Content-Type": JOSE})
                codes.append(rr.status_code)
            except requests.RequestException as e:
                codes.append(str(e))
        ts = [threading.Thread(target=send) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        served.append(sorted(codes))
    check(all(c == [200, 400] for c in served),
          "the same nonce sent twice at once: exactly one served each time "
          "(%s)" % served)

    def flip(jws):
        sig = bytearray(base64.urlsafe_b64decode(jws["signature"] + "=="))
        sig[5] ^= 0x40
        jws = dict(jws)
        jws["signature"] = b64u(bytes(sig))
        return jws
    n = C.nonce()
    r = A.get(A.kid, nonce=n, tamper=flip)
    expect_problem(r, 400, "malformed", "bad signature: malformed")
    r = A.get(A.kid, nonce=n)
    expect_json(r, 200, "a request refused for its signature does not "
                "spend its nonce")

    other = ec_key()
    r = C.post(A.kid, None, other, kid=DIR_URL.rsplit("/", 1)[0] +
               "/acct/NoSuchAccount0000000")
    expect_problem(r, 400, "accountDoesNotExist",
                   "kid of an unknown account: accountDoesNotExist")
    with store_unchanged("kid-signed newAccount"):
        r = A.post(na, {"termsOfServiceAgreed": True})
        expect_problem(r, 400, "malformed", "kid-signed newAccount: "
                       "malformed")
    with store_unchanged("jwk-signed newOrder"):
        r = C.post(d["newOrder"], {"identifiers": [{"type": "dns",
                   "value": "jwk.example.test"}]}, A.key)
        expect_problem(r, 400, "malformed", "jwk-signed newOrder: "
                       "malformed")

    def padded(total):
        """A newOrder payload whose JWS body is about total bytes."""
        pad = int((total - 600) * 3 / 4)
        return {"identifiers": [{"type": "dns", "value": "pad.example.test"}],
                "padding": "p" * pad}
    r = A.post(d["newOrder"], padded(60000))
    size = len(r.request.body or b"")
    check(r.status_code != 413 and size < 65536,
          "body under 64 KiB (%d bytes) is read (%d)" % (size, r.status_code),
          r)
    with store_unchanged("newOrder with a body over 64 KiB"):
        r = A.post(d["newOrder"], padded(70000))
        size = len(r.request.body or b"")
        expect_problem(r, 413, None, "body over 64 KiB (%d bytes): 413" %
                       size)


def test_accounts(A, B):
    d = C.dir
    na = d["newAccount"]
    X = Account()
    r = X.register({"termsOfServiceAgreed": True,
                    "contact": ["mailto:x@example.org"]})
    doc = expect_json(r, 201, "new account: 201 + Location",
                      need_location=True)
    if doc:
        check(doc.get("status") == "valid" and
              isinstance(doc.get("orders"), str) and
              doc.get("contact") == ["mailto:x@example.org"],
              "new account body: status valid, orders URL, contact", r)
    r = C.post(na, {"termsOfServiceAgreed": True}, X.key)
    if expect_json(r, 200, "same key again: 200 (not 201, not a redirect)",
                   need_location=True) is not None:
        check(r.headers.get("Location") == X.kid,
              "same key again: the same Location", r)
    r = C.post(na, {"onlyReturnExisting": True}, X.key)
    if expect_json(r, 200, "onlyReturnExisting with a known key: 200",
                   need_location=True) is not None:
        check(r.headers.get("Location") == X.kid,
              "onlyReturnExisting: the account's Location", r)
    with store_unchanged("onlyReturnExisting with an unknown key"):
        r = C.post(na, {"onlyReturnExisting": True,
                        "termsOfServiceAgreed": True}, ec_key())
        expect_problem(r, 400, "accountDoesNotExist",
                       "onlyReturnExisting with an unknown key")
    with store_unchanged("newAccount with a tel: contact"):
        r = C.post(na, {"termsOfServiceAgreed": True,
                        "contact": ["tel:+15555550100"]}, ec_key())
        expect_problem(r, 400, "unsupportedContact", "contact tel: refused")
    # The detail quotes 64 bytes of the address: here they end inside a
    # two-byte character. The reply must still be a problem document.
    bad = "mailto:" + "x" * 63 + "\u03d3@@example.org"
    with store_unchanged("newAccount with a contact cut inside a character"):
        r = C.post(na, {"termsOfServiceAgreed": True,
                        "contact": [bad]}, ec_key())
        expect_problem(r, 400, "invalidContact",
                       "contact quoted up to a split character: a problem "
                       "document")
    with store_unchanged("newAccount with contact mailto:a@b@c"):
        r = C.post(na, {"termsOfServiceAgreed": True,
                        "contact": ["mailto:a@b@c"]}, ec_key())
        expect_problem(r, 400, "invalidContact",
                       "contact mailto:a@b@c refused")

    r = X.post(X.kid, {"contact": ["mailto:new@example.org"]})
    doc = expect_json(r, 200, "account update (contact): 200")
    if doc:
        check(doc.get("contact") == ["mailto:new@example.org"],
              "account update returns the new contact", r)
    r = X.get(X.kid)
    doc = expect_json(r, 200, "account POST-as-GET: 200")
    if doc:
        check(doc.get("contact") == ["mailto:new@example.org"],
              "the new contact is stored", r)
    with store_unchanged("account update to a tel: contact"):
        r = X.post(X.kid, {"contact": ["tel:+15555550100"]})
        expect_problem(r, 400, "unsupportedContact",
                       "account update to a tel: contact refused")
    r = B.get(A.kid)
    expect_problem(r, 403, "unauthorized",
                   "POST-as-GET of another account's URL: unauthorized")
    with store_unchanged("deactivating another account"):
        r = B.post(A.kid, {"status": "deactivated"})
        expect_problem(r, 403, "unauthorized",
                       "deactivating another account: unauthorized")
    r = A.get(A.kid)
    check(r.status_code == 200 and r.json().get("status") == "valid",
          "the other account is still valid", r)

    # Deactivation.
    D = Account()
    D.register()
    r = D.post(D.kid, {"status": "deactivated"})
    doc = expect_json(r, 200, "deactivate: 200")
    if doc:
        check(doc.get("status") == "deactivated",
              "deactivate: status deactivated", r)
    r = D.get(D.kid)
    expect_problem(r, 403, "unauthorized",
                   "POST-as-GET by a deactivated account: unauthorized")
    with store_unchanged("newOrder by a deactivated account"):
        r = D.post(d["newOrder"], {"identifiers": [{"type": "dns",
                   "value": "deact.example.test"}]})
        expect_problem(r, 403, "unauthorized",
                       "newOrder by a deactivated account: unauthorized")
    with store_unchanged("reactivating a deactivated account"):
        r = D.post(D.kid, {"status": "valid"})
        expect_problem(r, 403, "unauthorized", "account update by a "
                       "deactivated account (status valid): unauthorized")
    with store_unchanged("newAccount with a deactivated account's key"):
        r = C.post(na, {"termsOfServiceAgreed": True}, D.key)
        expect_problem(r, 403, "unauthorized", "newAccount with a "
                       "deactivated account's key: unauthorized "
                       "(RFC 8555 7.3.6)")
    with store_unchanged("keyChange by a deactivated account"):
        nk = ec_key()
        r = D.post(d["keyChange"], make_jws(nk, {
            "alg": alg_of(nk), "jwk": jwk_of(nk), "url": d["keyChange"]},
            {"account": D.kid, "oldKey": jwk_of(D.key)}))
        expect_problem(r, 403, "unauthorized", "keyChange by a deactivated "
                       "account: unauthorized")

    # Key rollover.
    K = Account()
    K.register()
    old = K.key
    new = ec_key()
    kc = d["keyChange"]

    def inner(newkey, account, oldkey, url=kc):
        prot = {"alg": alg_of(newkey), "jwk": jwk_of(newkey), "url": url}
        return make_jws(newkey, prot, {"account": account,
                                       "oldKey": jwk_of(oldkey)})
    with store_unchanged("keyChange with an inner url that differs"):
        r = K.post(kc, inner(new, K.kid, old, url=d["newOrder"]))
        expect_problem(r, 400, "malformed", "keyChange: inner url differs: "
                       "malformed")
    with store_unchanged("keyChange with the wrong oldKey"):
        r = K.post(kc, inner(new, K.kid, ec_key()))
        expect_problem(r, 403, "unauthorized", "keyChange: oldKey not the "
                       "account's key: unauthorized")
    with store_unchanged("keyChange naming another account"):
        r = K.post(kc, inner(new, A.kid, old))
        check(r.status_code in (400, 403) and not problem_errors(
            r, r.status_code, None), "keyChange: inner account another "
            "account's URL: refused (%d)" % r.status_code, r)
    r = K.post(kc, inner(new, K.kid, old))
    doc = expect_json(r, 200, "keyChange: 200")
    if doc:
        check(doc.get("key") in (None, jwk_of(new)),
              "keyChange: the account shows the new key", r)
    r = K.get(K.kid)
    check(r.status_code >= 400 and ctype_of(r) == "application/problem+json",
          "keyChange: the old key is refused afterwards (%d)" % r.status_code,
          r)
    with store_unchanged("newAccount onlyReturnExisting with the old key"):
        r = C.post(na, {"onlyReturnExisting": True}, old)
        expect_problem(r, 400, "accountDoesNotExist",
                       "keyChange: newAccount with the old key finds "
                       "nothing")
    K.key = new
    r = K.get(K.kid)
    expect_json(r, 200, "keyChange: the new key works")
    r = C.post(na, {"onlyReturnExisting": True}, new)
    check(r.status_code == 200 and r.headers.get("Location") == K.kid,
          "keyChange: newAccount with the new key finds the account", r)
    with store_unchanged("keyChange to an RSA 1024 key"):
        r = K.post(kc, inner(rsa.generate_private_key(65537, 1024), K.kid,
                             new))
        expect_problem(r, 400, "badPublicKey", "keyChange to an RSA 1024 "
                       "key: badPublicKey")
    with store_unchanged("keyChange to another account's key"):
        r = K.post(kc, inner(A.key, K.kid, new))
        expect_problem(r, 409, None, "keyChange to another account's key: "
                       "409")
        check(r.headers.get("Location") == A.kid,
              "keyChange 409 carries the holder's Location", r)
    r = K.get(K.kid)
    expect_json(r, 200, "keyChange refused: the key is unchanged")


def identifiers_order(acct, idents):
    return acct.post(C.dir["newOrder"], {"identifiers": idents})


def test_orders(A, B):
    def dns(v):
        return {"type": "dns", "value": v}
    with store_unchanged("newOrder with identifiers []"):
        r = identifiers_order(A, [])
        expect_problem(r, 400, "malformed", "newOrder identifiers []: "
                       "malformed")
    with store_unchanged("newOrder for an email identifier"):
        r = identifiers_order(A, [{"type": "email",
                                   "value": "a@example.test"}])
        expect_problem(r, 400, "unsupportedIdentifier",
                       "identifier type email: unsupportedIdentifier")
    for v in ("exa mple.test", "example.test.", "bücher.test"):
        with store_unchanged("newOrder for %r" % v):
            r = identifiers_order(A, [dns(v)])
            expect_problem(r, 400, "rejectedIdentifier",
                           "identifier %r: rejectedIdentifier" % v)
    bad = [dns("ok.example.test"), dns("bad_name.example.test"),
           dns("trailing.example.test.")]
    with store_unchanged("newOrder with a good and two bad identifiers"):
        r = identifiers_order(A, bad)
        two_bad = expect_problem(r, 400, "rejectedIdentifier",
                                 "two bad identifiers in one order")
    if two_bad:
        subs = r.json().get("subproblems")
        good = isinstance(subs, list) and len(subs) == 2 and all(
            isinstance(s, dict) and s.get("type") == ERR +
            "rejectedIdentifier" and s.get("detail") and
            s.get("status") == 400 for s in subs)
        check(good, "subproblems: one entry per bad identifier", r)
        got = sorted(json.dumps(s.get("identifier"), sort_keys=True)
                     for s in subs or [] if isinstance(s, dict))
        want = sorted(json.dumps(i, sort_keys=True) for i in bad[1:])
        check(got == want, "each subproblem names its identifier", r)

    r = identifiers_order(A, [{"type": "ip", "value": "127.0.0.1"}])
    o = expect_json(r, 201, "IP identifier order: 201 + Location",
                    need_location=True)
    ip_order = (r.headers.get("Location"), o)
    if o:
        r = A.get(o["authorizations"][0])
        az = expect_json(r, 200, "IP authz: POST-as-GET 200")
        if az:
            types = sorted(c.get("type") for c in az.get("challenges", []))
            check(types == ["http-01", "tls-alpn-01"],
                  "IP authz offers http-01 and tls-alpn-01, no dns-01 (%s)"
                  % types, r)
            check(az.get("identifier") == {"type": "ip",
                                           "value": "127.0.0.1"},
                  "IP authz identifier", r)

    r = identifiers_order(A, [dns("*.x.test")])
    o = expect_json(r, 201, "wildcard order: 201 + Location",
                    need_location=True)
    wild = (r.headers.get("Location"), o)
    if o:
        check(o.get("status") == "pending" and
              o.get("identifiers") == [dns("*.x.test")] and
              isinstance(o.get("finalize"), str) and
              len(o.get("authorizations", [])) == 1,
              "wildcard order body: pending, identifiers, finalize, "
              "authorizations", r)
        r = A.get(o["authorizations"][0])
        az = expect_json(r, 200, "wildcard authz: 200")
        if az:
            types = [c.get("type") for c in az.get("challenges", [])]
            check(az.get("wildcard") is True and
                  az.get("identifier") == dns("x.test") and
                  types == ["dns-01"],
                  "wildcard authz: wildcard true, value x.test, only dns-01",
                  r)
            # Wildcard with http-01 (RFC 8555 8.3, 7.1.3): a client cannot
            # even try it, as there is no such challenge to POST to; nor
            # tls-alpn-01 (RFC 8737 3).
            check(chall_of(az, "http-01") is None and
                  chall_of(az, "tls-alpn-01") is None,
                  "wildcard authz: no http-01 (nor tls-alpn-01) challenge "
                  "to POST to (%s)" % types, r)
    r = identifiers_order(A, [dns("Mixed.Case.Example.TEST")])
    o = expect_json(r, 201, "mixed-case name accepted")
    if o:
        check(o.get("identifiers") == [dns("mixed.case.example.test")],
              "identifier normalised to lower case", r)

    # Another account's order; the account's order list; early finalize.
    r = identifiers_order(A, [dns("list.example.test")])
    o = expect_json(r, 201, "order for the list checks: 201",
                    need_location=True)
    if not o:
        return ip_order, wild
    url = r.headers["Location"]
    r = B.get(url)
    expect_problem(r, 404, None, "order fetched by another account: 404")
    r = A.get(url)
    expect_json(r, 200, "order fetched by its account: 200")
    acct = A.get(A.kid).json()
    r = A.get(acct["orders"])
    lst = expect_json(r, 200, "orders list: 200")
    if lst is not None:
        check(url in lst.get("orders", []), "orders list holds the order", r)
    r = B.get(acct["orders"])
    expect_problem(r, 403, "unauthorized",
                   "another account's orders list: unauthorized")
    r = B.get(B.get(B.kid).json()["orders"])
    check(r.status_code == 200 and url not in r.json().get("orders", []),
          "another account's orders list does not hold the order", r)
    r = A.get(o["authorizations"][0])
    check(r.status_code == 200, "authz fetched by its account: 200", r)
    r = B.get(o["authorizations"][0])
    expect_problem(r, 404, None, "authz fetched by another account: 404")
    r = A.get(url.rsplit("/", 1)[0] + "/NoSuchOrder00000000000")
    expect_problem(r, 404, None, "unknown order: 404")
    with store_unchanged("finalize of a pending order"):
        r = A.post(o["finalize"], {"csr": make_csr(ec_key(),
                   ["list.example.test"])})
        expect_problem(r, 403, "orderNotReady", "finalize before ready: "
                       "orderNotReady")
    with store_unchanged("finalize of another account's order"):
        r = B.post(o["finalize"], {"csr": make_csr(ec_key(),
                   ["list.example.test"])})
        expect_problem(r, 404, None, "finalize of another account's order: "
                       "404")
    return ip_order, wild


def chall_of(az, typ):
    for c in az.get("challenges", []):
        if c.get("type") == typ:
            return c
    return None


def new_order(acct, names, ips=()):
    idents = [{"type": "dns", "value": n} for n in names] + \
        [{"type": "ip", "value": i} for i in ips]
    r = identifiers_order(acct, idents)
    if r.status_code != 201:
        fail("newOrder %s: %d" % (names, r.status_code), r)
        return None, None
    return r.headers.get("Location"), r.json()


def test_challenges(A, B):
    """http-01 on a two-name order; the order it leaves ready, or None."""
    names = ["a.proto.test", "b.proto.test"]
    ourl, o = new_order(A, names)
    if not o:
        return None, None
    azs = []
    for au in o["authorizations"]:
        r = A.get(au)
        az = expect_json(r, 200, "authz POST-as-GET: 200")
        if not az:
            return None, None
        check(az.get("status") == "pending", "new authz is pending", r)
        c = chall_of(az, "http-01")
        check(c is not None and len(base64.urlsafe_b64decode(
            c["token"] + "==")) >= 16 and "=" not in c["token"],
            "http-01 challenge with a base64url token of >= 128 bits", r)
        check(sorted(x.get("type") for x in az["challenges"]) ==
              ["dns-01", "http-01", "tls-alpn-01"],
              "DNS authz offers http-01, dns-01, tls-alpn-01", r)
        azs.append((au, az, c))

    au, az, c = azs[0]
    CHALLENGES[c["token"]] = (200, A.keyauth(c["token"]))
    # Reading never starts a validation.
    r = A.get(c["url"])
    doc = expect_json(r, 200, "challenge POST-as-GET: 200")
    time.sleep(0.5)
    r = A.get(au)
    st = r.json().get("challenges") if r.status_code == 200 else None
    check(HITS.get(c["token"], 0) == 0 and st and
          all(x.get("status") == "pending" for x in st),
          "POST-as-GET of an authz and a challenge starts no validation", r)
    with store_unchanged("POST {} to another account's challenge"):
        r = B.post(c["url"], {})
        expect_problem(r, 404, None, "another account's challenge: 404")

    for au, az, c in azs:
        CHALLENGES[c["token"]] = (200, A.keyauth(c["token"]))
        r = A.post(c["url"], {})
        doc = expect_json(r, 200, "challenge POST {}: 200")
        if doc:
            check(doc.get("status") in ("processing", "valid"),
                  "challenge status %s (processing or valid)" %
                  doc.get("status"), r)
            check(au in links(r, "up"),
                  "challenge reply Link rel=\"up\" to its authz", r)
            if doc.get("status") == "processing":
                check(r.headers.get("Retry-After", "").isdigit(),
                      "processing challenge: Retry-After in seconds (%r)" %
                      r.headers.get("Retry-After"), r)
        r = A.post(c["url"], {})
        doc = expect_json(r, 200, "repeated challenge POST {}: 200, not an "
                          "error")
        if doc:
            check(doc.get("url") == c["url"] and doc.get("type") ==
                  "http-01", "repeated POST {} returns the challenge", r)
    for au, az, c in azs:
        doc, r = poll(A, au, lambda d: d.get("status") != "pending")
        if check(doc and doc.get("status") == "valid",
                 "authz %s valid after http-01" % doc.get("identifier", {})
                 .get("value") if doc else "authz valid", r):
            ch = chall_of(doc, "http-01")
            check(ch and ch.get("status") == "valid" and ch.get("validated"),
                  "http-01 challenge valid with a validated time", r)
            check(HITS.get(c["token"], 0) >= 1,
                  "the validator fetched the token from our server")
    doc, r = poll(A, ourl, lambda d: d.get("status") != "pending", 5)
    check(doc and doc.get("status") == "ready", "order ready once every "
          "authz is valid", r)

    # Wrong answers: wrong content (incorrectResponse) and 404.
    bads = []
    for name, status, body, want in (
            ("wrong.proto.test", 200, "not.the-key-authorization",
             ("incorrectResponse",)),
            ("gone.proto.test", 404, "nothing here",
             ("unauthorized", "incorrectResponse"))):
        u, bo = new_order(A, [name])
        if not bo:
            continue
        bau = bo["authorizations"][0]
        baz = A.get(bau).json()
        bc = chall_of(baz, "http-01")
        CHALLENGES[bc["token"]] = (status, body)
        r = A.post(bc["url"], {})
        check(r.status_code == 200, "challenge POST {} for %s: 200" % name, r)
        bads.append((name, want, u, bau))
    for name, want, u, bau in bads:
        doc, r = poll(A, bau, lambda d: d.get("status") != "pending")
        check(doc and doc.get("status") == "invalid",
              "%s: authz invalid" % name, r)
        ch = chall_of(doc or {}, "http-01") or {}
        err = ch.get("error") or {}
        check(ch.get("status") == "invalid" and
              err.get("type") in [ERR + w for w in want] and
              err.get("detail") and err.get("status"),
              "%s: challenge invalid with error %s" % (name, "/".join(want)),
              r)
        r = A.get(u)
        od = r.json() if r.status_code == 200 else {}
        check(od.get("status") == "invalid", "%s: order invalid" % name, r)
        r = A.post(ch.get("url", bau), {})
        check(r.status_code == 200 and r.json().get("status") == "invalid",
              "%s: POST {} to an invalid challenge returns it, unchanged"
              % name, r)
    return ourl, o


def test_more_orders(A):
    def dns(v):
        return {"type": "dns", "value": v}
    with store_unchanged("newOrder for dns 127.0.0.1"):
        r = identifiers_order(A, [dns("127.0.0.1")])
        expect_problem(r, 400, "rejectedIdentifier", "an IP address as a "
                       "dns identifier: rejectedIdentifier")
    with store_unchanged("newOrder for ip 300.1.2.3"):
        r = identifiers_order(A, [{"type": "ip", "value": "300.1.2.3"}])
        check(r.status_code == 400 and not problem_errors(r, 400, None),
              "ip identifier 300.1.2.3 refused (400)", r)
    with store_unchanged("newOrder with 101 identifiers"):
        r = identifiers_order(A, [dns("n%d.example.test" % i)
                                  for i in range(101)])
        check(r.status_code == 400 and not problem_errors(r, 400, None),
              "101 identifiers refused (400)", r)
    r = identifiers_order(A, [dns("dup.proto.test"), dns("DUP.proto.test")])
    o = expect_json(r, 201, "order with the same name twice: 201")
    if o:
        check(o.get("identifiers") == [dns("dup.proto.test")] and
              len(o.get("authorizations", [])) == 1,
              "the same name twice: one identifier, one authorization", r)

    # Authorization deactivation.
    ourl, o = new_order(A, ["deact-authz.proto.test"])
    if not o:
        return
    au = o["authorizations"][0]
    with store_unchanged("authz update to status valid"):
        r = A.post(au, {"status": "valid"})
        expect_problem(r, 400, "malformed", "authz status other than "
                       "deactivated: malformed")
    r = A.post(au, {"status": "deactivated"})
    doc = expect_json(r, 200, "authz deactivation: 200")
    if doc:
        check(doc.get("status") == "deactivated",
              "authz deactivation: status deactivated", r)
        c = chall_of(doc, "http-01")
        r = A.post(c["url"], {})
        check(r.status_code == 200 and r.json().get("status") == "pending",
              "POST {} to a challenge of a deactivated authz starts "
              "nothing", r)
    r = A.get(ourl)
    check(r.status_code == 200 and r.json().get("status") == "invalid",
          "the order of a deactivated authz is invalid", r)


# --------------------------------------------------------------------------
# Identifiers that would slip past name policy in disguise.

ADMIN = os.path.join(os.environ.get("top_builddir") or ".", "anvil-admin")
ADMIN_CONF = os.path.join(DATA, "anvil.conf")


def audit_policy(op, pattern):
    """anvil-admin policy OP PATTERN on the running server's store (the
    server reads the policy on every newOrder); True when it worked."""
    p = subprocess.run([ADMIN, "--config", ADMIN_CONF, "policy", op,
                        pattern], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        fail("anvil-admin policy %s %s: exit %d: %s" % (
            op, pattern, p.returncode, p.stderr.decode(errors="replace")))
        return False
    return True


def audit_refused(A, ident, detail_has, what):
    """newOrder for one identifier: 400 rejectedIdentifier, the detail and
    the one subproblem naming it, and nothing stored."""
    with store_unchanged("newOrder for %s %s (%s)" % (
            ident["type"], ident["value"], what)):
        r = identifiers_order(A, [ident])
        if expect_problem(r, 400, "rejectedIdentifier", "%s %r: %s" % (
                ident["type"], ident["value"], what), detail_has):
            subs = r.json().get("subproblems") or []
            check(len(subs) == 1 and subs[0].get("identifier") == ident and
                  subs[0].get("type") == ERR + "rejectedIdentifier",
                  "%r: one subproblem naming it" % ident["value"], r)


def test_audit_identifiers(A):
    """Findings 2, 3 and 5: each attack from outside, through the server,
    with the policy set by anvil-admin as an operator would."""
    def dns(v):
        return {"type": "dns", "value": v}

    def ip(v):
        return {"type": "ip", "value": v}

    # Finding 2: IPv4 in IPv6 form past "deny 127.0.0.0/8". The refusal
    # names the IPv4 form to order instead.
    if audit_policy("deny", "127.0.0.0/8"):
        try:
            audit_refused(A, ip("127.0.0.1"), "deny 127.0.0.0/8",
                          "the denied network itself")
            for v, what in (("::ffff:127.0.0.1", "IPv4-mapped"),
                            ("::ffff:7f00:1", "IPv4-mapped, hex"),
                            ("::127.0.0.1", "IPv4-compatible"),
                            ("64:ff9b::7f00:1", "NAT64 well-known prefix")):
                audit_refused(A, ip(v), "127.0.0.1", what)
        finally:
            audit_policy("remove", "127.0.0.0/8")
    # Refused without any policy too: they never name an IPv6 host.
    audit_refused(A, ip("::ffff:192.0.2.1"), "192.0.2.1",
                  "IPv4-mapped, no policy")

    # Finding 3: a wildcard over a denied name one label below its base.
    if audit_policy("deny", "secret.audit.test"):
        try:
            audit_refused(A, dns("*.audit.test"), "secret.audit.test",
                          "wildcard covering a denied name")
            audit_refused(A, dns("*.Audit.TEST"), "secret.audit.test",
                          "the same, mixed case")
            audit_refused(A, dns("*.secret.audit.test"), "secret.audit.test",
                          "wildcard below a denied name")
            r = identifiers_order(A, [dns("*.other.audit.test")])
            expect_json(r, 201, "wildcard beside the denied name: 201")
        finally:
            audit_policy("remove", "secret.audit.test")
    if audit_policy("deny", "a.b.audit.test"):
        try:
            r = identifiers_order(A, [dns("*.audit.test")])
            expect_json(r, 201, "deny two labels below a wildcard's base "
                        "does not refuse it: 201")
            audit_refused(A, dns("*.b.audit.test"), "a.b.audit.test",
                          "deny one label below this wildcard's base")
        finally:
            audit_policy("remove", "a.b.audit.test")

    # Finding 5: names that resolvers and libcurl read as addresses.
    for v, has in (("0x7f000001", "127.0.0.1"), ("0x7f.1", "127.0.0.1"),
                   ("0x7f.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"),
                   ("017700000001", "127.0.0.1"), ("127.1", "127.0.0.1"),
                   ("1.2.3.4", "1.2.3.4"), ("*.0x7f000001", "127.0.0.1"),
                   ("example.123", "last label"),
                   ("example.0x1f", "last label")):
        audit_refused(A, dns(v), has, "a number as a dns name")


def test_key_types():
    """Accounts with every accepted algorithm: each signs, and an http-01
    validation with its key authorization (the server's RFC 7638
    thumbprint of that key) succeeds."""
    keys = [("RS256", rsa.generate_private_key(65537, 2048)),
            ("ES384", ec_key(ec.SECP384R1())),
            ("ES512", ec_key(ec.SECP521R1())),
            ("EdDSA", ed25519.Ed25519PrivateKey.generate())]
    todo = []
    for alg, key in keys:
        acct = Account(key)
        r = acct.register()
        if not expect_json(r, 201, "%s account: 201" % alg,
                           need_location=True):
            continue
        doc = expect_json(acct.get(acct.kid), 200, "%s account signs a "
                          "POST-as-GET" % alg)
        if doc:
            check(doc.get("key") in (None, jwk_of(key)),
                  "%s account shows its key" % alg)
        u, o = new_order(acct, ["%s.keys.proto.test" % alg.lower()])
        if not o:
            continue
        au = o["authorizations"][0]
        c = chall_of(acct.get(au).json(), "http-01")
        CHALLENGES[c["token"]] = (200, acct.keyauth(c["token"]))
        r = acct.post(c["url"], {})
        check(r.status_code == 200, "%s account: challenge POST {}" % alg, r)
        todo.append((alg, acct, au))
    for alg, acct, au in todo:
        doc, r = poll(acct, au, lambda d: d.get("status") != "pending")
        check(doc and doc.get("status") == "valid", "%s account: http-01 "
              "valid (key authorization uses the RFC 7638 thumbprint)" % alg,
              r)


def test_pagination():
    """52 orders: a first page of 50 with Link rel="next", then the rest."""
    P = Account()
    P.register()
    made = set()
    for i in range(52):
        u, o = new_order(P, ["page%d.proto.test" % (i % 3)])
        if u:
            made.add(u)
    lurl = P.get(P.kid).json()["orders"]
    got, pages, nxt = [], 0, lurl
    while nxt and pages < 5:
        r = P.get(nxt)
        if r.status_code != 200:
            fail("orders page %d" % (pages + 1), r)
            return
        got += r.json().get("orders", [])
        pages += 1
        if pages == 1:
            check(len(r.json().get("orders", [])) == 50 and links(r, "next"),
                  "orders list: first page of 50 with Link rel=\"next\"", r)
        nx = links(r, "next")
        nxt = nx[0] if nx else None
    check(pages == 2 and len(got) == 52 and set(got) == made,
          "orders list: two pages hold the 52 orders once each "
          "(%d pages, %d URLs, %d distinct)" % (pages, len(got),
                                                 len(set(got))))


def test_dns01_wildcard(A, wild):
    """The *.x.test order: dns-01 through the DNS answerer, then issue."""
    ourl, o = wild
    if not o:
        return
    au = o["authorizations"][0]
    az = A.get(au).json()
    c = chall_of(az, "dns-01")
    if not check(c is not None, "wildcard authz has a dns-01 challenge"):
        return
    set_txt("_acme-challenge.x.test",
            b64u(hashlib.sha256(A.keyauth(c["token"]).encode()).digest()))
    r = A.post(c["url"], {})
    check(r.status_code == 200, "dns-01 challenge POST {}: 200", r)
    doc, r = poll(A, au, lambda d: d.get("status") != "pending")
    if not check(doc and doc.get("status") == "valid",
                 "wildcard authz valid after dns-01", r):
        return
    doc, r = poll(A, ourl, lambda d: d.get("status") != "pending", 5)
    check(doc and doc.get("status") == "ready", "wildcard order ready", r)
    r = finalize(A, o, make_csr(ec_key(), ["*.x.test"]))
    doc = expect_json(r, 200, "wildcard order finalized: 200")
    if doc and doc.get("certificate"):
        r = A.get(doc["certificate"])
        pems = split_pem(r.text)
        if pems:
            leaf = x509.load_pem_x509_certificate(pems[0].encode())
            san = leaf.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value.get_values_for_type(
                    x509.DNSName)
            check(san == ["*.x.test"], "wildcard certificate SAN *.x.test "
                  "(%s)" % san, r)
    u, o2 = new_order(A, ["x.test"])
    check(o2 and o2.get("status") == "pending",
          "a valid wildcard authz is not reused for the bare name")


def test_tlsalpn(A, B):
    """tls-alpn-01 for a name and for 127.0.0.1 (RFC 8738: SNI the reverse
    name) by account B, whose order must not reuse A's valid authzs."""
    ourl, o = new_order(B, ["alpn.proto.test"], ips=["127.0.0.1"])
    if not o:
        return
    check(o.get("status") == "pending", "another account's valid authz "
          "(127.0.0.1) is not reused: the order is pending")
    pend = []
    for au in o["authorizations"]:
        az = B.get(au).json()
        check(az.get("status") == "pending", "authz %s of account B is "
              "pending" % az.get("identifier", {}).get("value"))
        c = chall_of(az, "tls-alpn-01")
        ident = az["identifier"]
        ka = B.keyauth(c["token"])
        if ident["type"] == "ip":
            alpn_publish("1.0.0.127.in-addr.arpa",
                         ipaddress.ip_address(ident["value"]), ka)
        else:
            alpn_publish(ident["value"], ident["value"], ka)
        pend.append((au, c, ident["value"]))
    for au, c, v in pend:
        r = B.post(c["url"], {})
        check(r.status_code == 200, "tls-alpn-01 POST {} for %s: 200" % v, r)
    for au, c, v in pend:
        doc, r = poll(B, au, lambda d: d.get("status") != "pending")
        check(doc and doc.get("status") == "valid",
              "%s valid after tls-alpn-01" % v, r)
    for sni in ("alpn.proto.test", "1.0.0.127.in-addr.arpa"):
        check((sni, "acme-tls/1") in ALPN_SNI, "tls-alpn-01 handshake with "
              "SNI %s and ALPN acme-tls/1 (%s)" % (sni, ALPN_SNI))
    doc, r = poll(B, ourl, lambda d: d.get("status") != "pending", 5)
    if check(doc and doc.get("status") == "ready",
             "tls-alpn-01 order ready", r):
        r = finalize(B, o, make_csr(ec_key(), ["alpn.proto.test"],
                                    ips=["127.0.0.1"]))
        doc = expect_json(r, 200, "name + IP order finalized: 200")
        check(doc and doc.get("status") == "valid",
              "name + IP order valid", r)


def verify_issued_by(leaf, ca):
    pub = ca.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(leaf.signature, leaf.tbs_certificate_bytes,
                   ec.ECDSA(leaf.signature_hash_algorithm))
    else:
        pub.verify(leaf.signature, leaf.tbs_certificate_bytes,
                   padding.PKCS1v15(), leaf.signature_hash_algorithm)


def split_pem(text):
    out, cur = [], None
    for line in text.splitlines():
        if line == "-----BEGIN CERTIFICATE-----":
            cur = [line]
        elif cur is not None:
            cur.append(line)
            if line == "-----END CERTIFICATE-----":
                out.append("\n".join(cur) + "\n")
                cur = None
    return out


def finalize(acct, o, csr):
    return acct.post(o["finalize"], {"csr": csr})


def test_finalize(A, B, ourl, o):
    names = [i["value"] for i in o["identifiers"]]
    # Every validation started so far has been polled to its end: nothing
    # else writes to the store during the refused requests below.
    with store_unchanged("finalize with a CSR lacking a name"):
        r = finalize(A, o, make_csr(ec_key(), names[:1]))
        expect_problem(r, 400, "badCSR", "CSR lacking a name of the order: "
                       "badCSR", detail_has="CSR check")
    with store_unchanged("finalize with a CSR with an extra name"):
        r = finalize(A, o, make_csr(ec_key(), names + ["c.proto.test"]))
        expect_problem(r, 400, "badCSR", "CSR with a name not in the order: "
                       "badCSR", detail_has="CSR check")
    with store_unchanged("finalize with a CSR for the account key"):
        r = finalize(A, o, make_csr(A.key, names))
        expect_problem(r, 400, "badCSR", "CSR signed with the account key: "
                       "badCSR", detail_has="CSR check")
    with store_unchanged("finalize with a CSR not DER"):
        r = finalize(A, o, "bm90IGEgQ1NS")
        expect_problem(r, 400, "badCSR", "CSR not DER: badCSR")
    r = A.get(ourl)
    check(r.status_code == 200 and r.json().get("status") == "ready",
          "the order stays ready after refused CSRs", r)

    leafkey = ec_key()
    r = finalize(A, o, make_csr(leafkey, list(reversed(names)), cn=names[1]))
    doc = expect_json(r, 200, "finalize with a valid CSR: 200")
    if not doc:
        return None
    check(doc.get("status") == "valid" and isinstance(doc.get("certificate"),
                                                       str),
          "finalize reply: status valid with a certificate URL", r)
    curl = doc.get("certificate")
    with store_unchanged("finalize of a valid order"):
        r = finalize(A, o, make_csr(ec_key(), names))
        expect_problem(r, 403, "orderNotReady", "finalize of a valid order: "
                       "orderNotReady")
    r = A.get(ourl)
    check(r.status_code == 200 and r.json().get("certificate") == curl,
          "the order shows the certificate URL", r)

    r = A.get(curl)
    errs = []
    if r.status_code != 200:
        errs.append("HTTP %d" % r.status_code)
    if r.headers.get("Content-Type") != "application/pem-certificate-chain":
        errs.append("Content-Type %r" % r.headers.get("Content-Type"))
    check(not errs, "certificate download: 200 "
          "application/pem-certificate-chain%s" % ("" if not errs else
                                                    " (%s)" % errs), r)
    pems = split_pem(r.text)
    ca = x509.load_pem_x509_certificate(open(CA_PEM, "rb").read())
    chain_ok = False
    leaf = None
    if len(pems) == 2:
        leaf = x509.load_pem_x509_certificate(pems[0].encode())
        second = x509.load_pem_x509_certificate(pems[1].encode())
        try:
            verify_issued_by(leaf, ca)
            chain_ok = second == ca and leaf.issuer == ca.subject
        except Exception as e:  # noqa: BLE001
            print("    verify: %s" % e)
    check(chain_ok, "chain is the leaf (signed by the CA) then the CA "
          "certificate (%d certificates)" % len(pems), r)
    check(r.text == "".join(pems), "certificate body is clean PEM "
          "(nothing but the certificates)", r)
    if leaf is not None:
        san = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName)
        check(sorted(san) == sorted(names), "leaf SAN holds the order's "
              "names (%s)" % san)
        check(leaf.public_key().public_numbers() ==
              leafkey.public_key().public_numbers(),
              "leaf carries the CSR's key")
    # The chain already ends with the CA certificate: a rel="up" would
    # have a client that completes chains (Apache mod_md) store it twice.
    check(not links(r, "up"), "certificate reply has no Link rel=\"up\" "
          "(the chain holds the CA certificate)", r)
    test_ca_fetch(A, ca)
    test_post_as_get_payload(A, ourl, o, curl)
    r = B.get(curl)
    expect_problem(r, 404, None, "certificate fetched by another account: "
                   "404")
    return {"der": leaf.public_bytes(serialization.Encoding.DER)
            if leaf else None, "key": leafkey, "url": curl}


def ca_url():
    return DIR_URL.rsplit("/", 1)[0] + "/ca"


def test_ca_fetch(A, ca):
    """<base>/ca by GET and by POST-as-GET (RFC 8555 §6.3): Apache mod_md
    fetches a certificate's issuer with POST-as-GET."""
    def is_ca(r):
        pems = split_pem(r.text) if r.status_code == 200 else []
        return len(pems) == 1 and x509.load_pem_x509_certificate(
            pems[0].encode()) == ca
    r = C.http("GET", ca_url())
    check(is_ca(r), "GET of the CA certificate URL: 200 with the PEM", r)
    r = A.get(ca_url())
    check(is_ca(r) and r.headers.get("Content-Type") ==
          "application/pem-certificate-chain", "POST-as-GET of the CA "
          "certificate URL: 200 application/pem-certificate-chain with the "
          "PEM", r)
    r = C.post(ca_url(), None, ec_key())
    expect_problem(r, 400, "malformed", "POST-as-GET of the CA certificate "
                   "URL signed with a jwk: malformed")
    r = A.post(ca_url(), {})
    expect_problem(r, 400, "malformed", "POST {} to the CA certificate URL: "
                   "malformed")


def test_post_as_get_payload(A, ourl, o, curl):
    """RFC 8555 §6.3: a POST-as-GET has an empty payload; "{}" is not a
    fetch where fetching is all a resource does. Challenges ({} starts the
    validation) and accounts ({} updates nothing) are not in this list."""
    lurl = A.get(A.kid).json().get("orders")
    rows = [("order", ourl), ("authorization", o["authorizations"][0]),
            ("certificate", curl), ("orders list", lurl),
            ("orders list page", (lurl or "") + "/" + ourl.rsplit("/", 1)[1])]
    for what, url in rows:
        if not url:
            fail("%s: no URL to test" % what)
            continue
        with store_unchanged("POST {} to the %s" % what):
            r = A.post(url, {})
            expect_problem(r, 400, "malformed", "POST {} to the %s: "
                           "malformed (POST-as-GET has an empty payload)"
                           % what)
        with store_unchanged("POST {\"x\": 1} to the %s" % what):
            r = A.post(url, {"x": 1})
            expect_problem(r, 400, "malformed", "POST {\"x\": 1} to the "
                           "%s: malformed" % what)
        r = A.get(url)
        check(r.status_code == 200, "POST-as-GET of the %s still 200"
              % what, r)


def issue_again(acct, names, label):
    """Authorizations are reused: a new order for the same names is ready
    at once; finalize it. Returns {der, key, url} or None."""
    ourl, o = new_order(acct, names)
    if not o:
        return None
    if not check(o.get("status") == "ready", "%s: valid authorizations "
                 "reused, the new order is ready at once" % label):
        return None
    key = ec_key()
    r = finalize(acct, o, make_csr(key, names))
    if r.status_code != 200 or r.json().get("status") != "valid":
        fail("%s: finalize" % label, r)
        return None
    curl = r.json()["certificate"]
    r = acct.get(curl)
    pems = split_pem(r.text)
    if r.status_code != 200 or not pems:
        fail("%s: certificate download" % label, r)
        return None
    leaf = x509.load_pem_x509_certificate(pems[0].encode())
    return {"der": leaf.public_bytes(serialization.Encoding.DER), "key": key,
            "url": curl}


def test_ip_issue(A, ip_order):
    """The IP order: http-01 to 127.0.0.1, a certificate with an IP SAN."""
    ourl, o = ip_order
    if not o:
        return
    au = o["authorizations"][0]
    az = A.get(au).json()
    c = chall_of(az, "http-01")
    CHALLENGES[c["token"]] = (200, A.keyauth(c["token"]))
    r = A.post(c["url"], {})
    check(r.status_code == 200, "IP http-01 challenge POST {}: 200", r)
    doc, r = poll(A, au, lambda d: d.get("status") != "pending")
    if not check(doc and doc.get("status") == "valid",
                 "IP authz valid after http-01 to 127.0.0.1", r):
        return
    key = ec_key()
    r = finalize(A, o, make_csr(key, (), ips=["127.0.0.1"]))
    doc = expect_json(r, 200, "IP order finalized: 200")
    if not doc or doc.get("status") != "valid":
        return
    r = A.get(doc["certificate"])
    pems = split_pem(r.text)
    if pems:
        leaf = x509.load_pem_x509_certificate(pems[0].encode())
        ips = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(
                x509.IPAddress)
        check(ips == [ipaddress.ip_address("127.0.0.1")],
              "IP certificate has SAN IP 127.0.0.1 (%s)" % ips, r)


def test_revocation(A, B, cert1, names):
    rc = C.dir["revokeCert"]
    cert2 = issue_again(A, names, "second certificate")
    cert3 = issue_again(A, names, "third certificate")
    if cert1 and cert1["der"]:
        r = A.post(rc, {"certificate": b64u(cert1["der"]), "reason": 1})
        check(r.status_code == 200, "revoke by the account (kid), reason 1: "
              "200", r)
        check(r.headers.get("Replay-Nonce"), "revoke reply has Replay-Nonce",
              r)
        with store_unchanged("revoke of a revoked certificate"):
            r = A.post(rc, {"certificate": b64u(cert1["der"]), "reason": 1})
            expect_problem(r, 400, "alreadyRevoked", "revoke again: "
                           "alreadyRevoked")
        with store_unchanged("revoke of a revoked certificate, another "
                             "reason"):
            r = A.post(rc, {"certificate": b64u(cert1["der"]),
                            "reason": 4})
            expect_problem(r, 400, "alreadyRevoked", "revoke again with "
                           "another reason: alreadyRevoked")
    if cert2:
        with store_unchanged("revoke with reason 7"):
            r = A.post(rc, {"certificate": b64u(cert2["der"]), "reason": 7})
            expect_problem(r, 400, "badRevocationReason",
                           "revoke with reason 7: badRevocationReason")
        with store_unchanged("revoke with reason 2"):
            r = A.post(rc, {"certificate": b64u(cert2["der"]), "reason": 2})
            expect_problem(r, 400, "badRevocationReason",
                           "revoke with reason 2 (cACompromise): "
                           "badRevocationReason")
        r = C.post(rc, {"certificate": b64u(cert2["der"]), "reason": 4},
                   cert2["key"])
        check(r.status_code == 200, "revoke by the certificate key (jwk), "
              "another certificate: 200", r)
        with store_unchanged("revoke by the certificate key again"):
            r = C.post(rc, {"certificate": b64u(cert2["der"])},
                       cert2["key"])
            expect_problem(r, 400, "alreadyRevoked", "revoke by the "
                           "certificate key again: alreadyRevoked")
    if cert3:
        with store_unchanged("revoke signed by an unrelated key"):
            r = C.post(rc, {"certificate": b64u(cert3["der"])}, ec_key())
            expect_problem(r, 403, "unauthorized", "revoke signed by an "
                           "unrelated key (jwk): unauthorized")
        with store_unchanged("revoke by another account"):
            r = B.post(rc, {"certificate": b64u(cert3["der"])})
            expect_problem(r, 403, "unauthorized", "revoke by an account "
                           "that does not hold the certificate: "
                           "unauthorized")
        with store_unchanged("revoke of an unreadable certificate"):
            r = A.post(rc, {"certificate": b64u(b"\x30\x03\x02\x01\x01")})
            expect_problem(r, 400, "malformed", "revoke of an unreadable "
                           "certificate: malformed")
        r = A.post(rc, {"certificate": b64u(cert3["der"])})
        check(r.status_code == 200, "revoke by the account without a "
              "reason: 200", r)
    # A certificate this CA never issued.
    k = ec_key()
    nm = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.proto.test")])
    now = datetime.datetime.utcnow()
    foreign = x509.CertificateBuilder().subject_name(nm).issuer_name(nm) \
        .public_key(k.public_key()).serial_number(x509.random_serial_number()) \
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(1)) \
        .sign(k, hashes.SHA256())
    with store_unchanged("revoke of a certificate this CA never issued"):
        r = C.post(rc, {"certificate": b64u(foreign.public_bytes(
            serialization.Encoding.DER))}, k)
        check(400 <= r.status_code < 500 and not problem_errors(
            r, r.status_code, None), "revoke of a certificate this CA never "
            "issued, signed by its key: refused (%d)" % r.status_code, r)


# --------------------------------------------------------------------------
# keyChange's inner JWS and library error text, attacked from outside.

def test_audit_keychange():
    """Every MUST of RFC 8555 7.3.5 on the inner JWS is
    enforced, the nonce one included; a refused keyChange writes nothing
    and leaves the old key working."""
    kc = C.dir["keyChange"]
    K = Account()
    if K.register().status_code != 201:
        fail("keyChange audit: account")
        return
    old, new = K.key, ec_key()

    def inner(extra=None, drop=(), payload=None, key=new, signer=None):
        prot = {"alg": alg_of(key), "jwk": jwk_of(key), "url": kc}
        prot.update(extra or {})
        for k in drop:
            prot.pop(k, None)
        if payload is None:
            payload = {"account": K.kid, "oldKey": jwk_of(old)}
        return make_jws(key, prot, payload,
                        (lambda data: sign(signer, data)) if signer else None)
    rows = [
        ("inner JWS with a fresh nonce (7.3.5: MUST NOT)",
         lambda: inner({"nonce": C.nonce()}), "nonce"),
        ("inner JWS with a nonce that is no nonce",
         lambda: inner({"nonce": "x"}), "nonce"),
        ("inner JWS with a non-string nonce",
         lambda: inner({"nonce": 1}), "nonce"),
        ("inner JWS by kid, no jwk",
         lambda: inner({"kid": K.kid}, drop=("jwk",)), "jwk"),
        ("inner JWS with both jwk and kid",
         lambda: inner({"kid": K.kid}), "jwk"),
        ("inner JWS without url", lambda: inner(drop=("url",)), "url"),
        ("inner JWS not signed by its jwk",
         lambda: inner(signer=ec_key()), None),
        ("inner payload without account",
         lambda: inner(payload={"oldKey": jwk_of(old)}), "account"),
        ("inner payload without oldKey",
         lambda: inner(payload={"account": K.kid}), "oldKey"),
        ("inner payload not JSON", lambda: inner(payload="not json"), None),
        ("new key is the old key", lambda: inner(key=old), None),
    ]
    for what, build, detail in rows:
        with store_unchanged("keyChange audit: " + what):
            r = K.post(kc, build())
            expect_problem(r, 400, "malformed", "keyChange audit: %s" % what,
                           detail_has=detail)
    r = K.get(K.kid)
    expect_json(r, 200, "keyChange audit: the old key still works")
    r = K.post(kc, inner())
    expect_json(r, 200, "keyChange audit: the same change without the "
                "inner nonce: 200")
    K.key = new
    r = K.get(K.kid)
    expect_json(r, 200, "keyChange audit: the new key works")


# What jansson and GnuTLS say: none of it may reach a problem document.
LIB_TEXT = ("expected near", "near '", "end of file expected",
            "premature end of input", "invalid token", "unexpected token",
            "duplicate object key", "string or '}' expected",
            "'[' or '{' expected", "ASN1 parser", "Error in DER",
            "The request is invalid", "verification has failed", "GnuTLS",
            "is invalid.", "is not supported.")


def expect_no_lib_text(r, status, typ, what, detail_has=None):
    if not expect_problem(r, status, typ, what, detail_has):
        return
    detail = r.json().get("detail", "")
    leaked = [m for m in LIB_TEXT if m in detail]
    check(not leaked, "%s: detail is ours, no library text (%r)" %
          (what, detail), r)


def test_audit_error_text(A, o):
    """Library error text goes to the log, never into a reply.
    o: an order whose names A holds valid authorizations for, or None."""
    d = C.dir
    for what, payload in (
            ("payload not JSON", "this is not json"),
            ("payload with bytes after the object", '{"contact": []} x'),
            ("payload cut short", '{"contact": ['),
            ("payload with a duplicate member",
             '{"contact": [], "contact": []}'),
            ("payload with a control character", '{"contact": ["\x01"]}')):
        with store_unchanged("error text: " + what):
            r = A.post(A.kid, payload)
            expect_no_lib_text(r, 400, "malformed", "error text: " + what)
    # Keys the server refuses while importing them.
    k = ec_key()
    for what, jwk, typ in (
            ("EC point not on the curve", {
                "kty": "EC", "crv": "P-256", "x": b64u(b"\x01" * 32),
                "y": b64u(b"\x02" * 32)}, "badPublicKey"),
            ("EC coordinate of the wrong length", {
                "kty": "EC", "crv": "P-256", "x": b64u(b"\x01" * 31),
                "y": b64u(b"\x02" * 32)}, "badPublicKey"),
            ("Ed25519 key of 31 bytes", {
                "kty": "OKP", "crv": "Ed25519", "x": b64u(b"\x01" * 31)},
             "badPublicKey"),
            ("RSA modulus not base64url", {
                "kty": "RSA", "n": "!!", "e": "AQAB"}, "malformed")):
        with store_unchanged("error text: newAccount, " + what):
            r = C.post(d["newAccount"], {"termsOfServiceAgreed": True}, k,
                       hdr={"jwk": jwk})
            expect_no_lib_text(r, 400, typ, "error text: newAccount with "
                               "a jwk whose " + what)
    if not o:
        fail("error text: no order to finalize, CSR rows skipped")
        return
    names = [i["value"] for i in o["identifiers"]]
    ourl, o2 = new_order(A, names)
    if not o2 or not check(o2.get("status") == "ready", "error text: an "
                           "order for %s, ready at once" % names):
        return
    good = base64.urlsafe_b64decode(make_csr(ec_key(), names) + "==")
    tampered = good.replace(names[0].encode(),
                            names[0][:-1].encode() + b"X", 1)
    for what, csr, detail in (
            ("a DER SEQUENCE that is no CSR",
             b64u(bytes.fromhex("3003020100")), "CSR check 1"),
            ("a CSR whose self-signature fails", b64u(tampered),
             "CSR check 3")):
        with store_unchanged("error text: finalize with " + what):
            r = finalize(A, o2, csr)
            expect_no_lib_text(r, 400, "badCSR", "error text: finalize with "
                               + what, detail_has=detail)
    r = A.get(ourl)
    check(r.status_code == 200 and r.json().get("status") == "ready",
          "error text: the order stays ready", r)


# http-01 as an SSRF reader. The server allows 127.0.0.1
# (our responder) and nothing else on loopback (server.sh): a client must not
# make the validator fetch a page on another internal address, in any
# spelling, nor read any fetched body back in the challenge error.

INTERNAL = "127.0.0.2"
SECRET = "SECRET-internal-page-" + secrets.token_hex(8)
INTERNAL_HITS = []


class Internal(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        INTERNAL_HITS.append(self.path)
        data = SECRET.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


def test_audit_ssrf(A):
    try:
        # On http_port, so the redirect's port is one Anvil follows and
        # only the address check stands in the way.
        isrv = http.server.ThreadingHTTPServer((INTERNAL, HTTP01_PORT),
                                               Internal)
    except OSError as e:
        fail("cannot listen on %s:%d for the SSRF check: %s"
             % (INTERNAL, HTTP01_PORT, e))
        return
    isrv.daemon_threads = True
    threading.Thread(target=isrv.serve_forever, daemon=True).start()
    s = requests.Session()
    s.trust_env = False
    s.post("http://127.0.0.1:%d/add-a" % MGMT_PORT, timeout=TIMEOUT,
           data=json.dumps({"host": "internal.proto.test.",
                            "addresses": [INTERNAL]}))
    dec = int(ipaddress.ip_address(INTERNAL))
    cases = [
        ("literal", "http://%s:%d/admin" % (INTERNAL, HTTP01_PORT)),
        ("IPv4-mapped", "http://[::ffff:%s]:%d/admin" % (INTERNAL,
                                                          HTTP01_PORT)),
        ("IPv4-compatible", "http://[::%s]:%d/admin" % (INTERNAL,
                                                        HTTP01_PORT)),
        ("decimal", "http://%d:%d/admin" % (dec, HTTP01_PORT)),
        ("a name", "http://internal.proto.test:%d/admin" % HTTP01_PORT),
    ]
    started = []
    try:
        for i, (what, loc) in enumerate(cases):
            u, o = new_order(A, ["ssrf%d.proto.test" % i])
            if not o:
                continue
            au = o["authorizations"][0]
            c = chall_of(A.get(au).json(), "http-01")
            CHALLENGES[c["token"]] = (302, loc)
            r = A.post(c["url"], {})
            check(r.status_code == 200, "SSRF %s: challenge POST {}: 200"
                  % what, r)
            started.append((what, au))
        # A wrong body: described, never quoted.
        u, o = new_order(A, ["ssrf-body.proto.test"])
        if o:
            au = o["authorizations"][0]
            c = chall_of(A.get(au).json(), "http-01")
            CHALLENGES[c["token"]] = (200, SECRET)
            A.post(c["url"], {})
            started.append(("wrong body", au))
        for what, au in started:
            doc, r = poll(A, au, lambda d: d.get("status") != "pending")
            ch = chall_of(doc or {}, "http-01") or {}
            err = ch.get("error") or {}
            det = err.get("detail") or ""
            want = "incorrectResponse" if what == "wrong body" else \
                "unauthorized"
            check(doc and doc.get("status") == "invalid" and
                  err.get("type") == ERR + want,
                  "SSRF %s: challenge invalid with %s" % (what, want), r)
            check(det and SECRET not in det and "SECRET" not in det,
                  "SSRF %s: the detail quotes nothing fetched (%r)"
                  % (what, det), r)
            if what != "wrong body":
                check(INTERNAL not in det and "internal.proto" not in det
                      and str(dec) not in det,
                      "SSRF %s: the detail does not name the redirect "
                      "target" % what, r)
                check("in a denied network" in det,
                      "SSRF %s: the detail says why (%r)" % (what, det), r)
        check(not INTERNAL_HITS, "SSRF: the internal server was never "
              "contacted (%s)" % INTERNAL_HITS)
    finally:
        isrv.shutdown()
        isrv.server_close()


# --------------------------------------------------------------------------
# ACME Renewal Information (RFC 9773): renewalInfo and newOrder's replaces.

def cert_id(der):
    """certID of a DER certificate (RFC 9773 section 4.1): base64url of the
    AKI keyIdentifier, ".", base64url of the serial's DER content octets
    (with the sign octet DER puts before a high bit)."""
    leaf = x509.load_der_x509_certificate(der)
    aki = leaf.extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier).value.key_identifier
    n = leaf.serial_number
    return b64u(aki) + "." + b64u(n.to_bytes((n.bit_length() + 8) // 8,
                                             "big"))


def rfc3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def ari_window(r, what):
    """Checks a renewalInfo reply; returns (start, end, doc) or None."""
    doc = expect_json(r, 200, what + ": 200 application/json")
    if not doc:
        return None
    w = doc.get("suggestedWindow") or {}
    try:
        start, end = rfc3339(w["start"]), rfc3339(w["end"])
    except (KeyError, TypeError, ValueError):
        fail(what + ": suggestedWindow with RFC 3339 start and end", r)
        return None
    check(start < end, what + ": the window starts before it ends", r)
    ra = r.headers.get("Retry-After", "")
    cc = r.headers.get("Cache-Control", "")
    check(ra.isdigit() and int(ra) > 0 and cc == "public, max-age=" + ra,
          "%s: Retry-After in seconds (%r) and Cache-Control %r to match"
          % (what, ra, cc), r)
    return start, end, doc


def admin_run(*args):
    p = subprocess.run([ADMIN, "--config", ADMIN_CONF] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60)
    if p.returncode != 0:
        fail("anvil-admin %s: exit %d: %s" % (" ".join(args), p.returncode,
             p.stderr.decode(errors="replace")))
        return None
    return p.stdout.decode(errors="replace")


def test_ari(A, B, names):
    d = C.dir
    base = DIR_URL.rsplit("/", 1)[0]
    if not check(d.get("renewalInfo") == base + "/renewal-info",
                 "directory has renewalInfo (%r)" % d.get("renewalInfo")):
        return
    ri = d["renewalInfo"]
    cert = issue_again(A, names, "ARI: a certificate")
    if not cert:
        return
    leaf = x509.load_der_x509_certificate(cert["der"])
    cid = cert_id(cert["der"])
    aki, ser = cid.split(".")
    serial_hex = "%032x" % leaf.serial_number

    r = C.http("GET", ri + "/" + cid)
    got = ari_window(r, "renewalInfo by GET")
    if got:
        start, end, doc = got
        nb = leaf.not_valid_before.replace(tzinfo=datetime.timezone.utc)
        na = leaf.not_valid_after.replace(tzinfo=datetime.timezone.utc)
        check(nb < start < end < na and "explanationURL" not in doc,
              "renewalInfo: the window lies inside the lifetime (%s .. %s)"
              % (start, end), r)
    r = C.http("HEAD", ri + "/" + cid)
    check(r.status_code == 200, "renewalInfo by HEAD: 200", r)
    r = A.get(ri + "/" + cid)
    if ari_window(r, "renewalInfo by POST-as-GET") and got:
        check(r.json() == got[2], "POST-as-GET answers as GET does", r)
    r = A.post(ri + "/" + cid, {})
    expect_problem(r, 400, "malformed", "renewalInfo POST with a payload: "
                   "malformed")
    other = b64u(bytes(20)) + "." + ser
    unknown = aki + "." + b64u(b"\x01" + secrets.token_bytes(15))
    # '=' and '+' are outside the path alphabet the HTTP layer takes
    # (src/http/http.c): the router answers those as malformed too
    # (acme_route_refused); the certID parser's own refusals are in
    # test_ari.c.
    for what, bad, status in (
            ("no dot", aki + ser, 400),
            ("two dots", cid + ".AQ", 400),
            ("padding", aki + "." + ser + "=" * (-len(ser) % 4 or 4), 400),
            ("'+' (base64, not base64url)", aki + "+." + ser, 400),
            ("an empty serial", aki + ".", 400),
            ("a needless leading zero", aki + "." + b64u(b"\x00\x01"), 400),
            ("a negative serial", aki + "." + b64u(b"\x80\x01"), 400),
            ("a huge certID", aki + "." + "A" * 4000, 400)):
        r = C.http("GET", ri + "/" + bad)
        expect_problem(r, status, "malformed", "renewalInfo with %s: %d "
                       "malformed" % (what, status))
    r = C.http("GET", ri + "/" + unknown)
    expect_problem(r, 404, None, "renewalInfo for a serial never issued: 404")
    r = C.http("GET", ri + "/" + other)
    expect_problem(r, 404, None, "renewalInfo for another CA's key: 404")

    no = d["newOrder"]

    def order(acct, nms, rep):
        return acct.post(no, {"identifiers": [{"type": "dns", "value": n}
                                              for n in nms],
                              "replaces": rep})
    for what, acct, nms, rep, typ in (
            ("a certificate never issued", A, names, unknown, "malformed"),
            ("another CA's certificate", A, names, other, "malformed"),
            ("a malformed certID", A, names, aki + ".", "malformed"),
            ("not a string", A, names, 1, "malformed"),
            ("another account's certificate", B, names, cid, "malformed"),
            ("no identifier in common", A, ["ari-other.proto.test"], cid,
             "malformed")):
        with store_unchanged("replaces " + what):
            r = order(acct, nms, rep)
            expect_problem(r, 400, typ, "newOrder replacing %s: %s"
                           % (what, typ))
    r = order(A, names, cid)
    o = expect_json(r, 201, "newOrder replacing the certificate: 201",
                    need_location=True)
    if not o:
        return
    check(o.get("replaces") == cid, "the order echoes replaces", r)
    rep_id = r.headers["Location"].rsplit("/", 1)[-1]
    r = A.get(r.headers["Location"])
    check(r.status_code == 200 and r.json().get("replaces") == cid,
          "the order, fetched, echoes replaces", r)
    with store_unchanged("replaces held by a live order"):
        r = order(A, names, cid)
        expect_problem(r, 409, "alreadyReplaced", "newOrder replacing a "
                       "certificate a pending order replaces: 409 "
                       "alreadyReplaced")
    if o.get("status") != "ready":
        fail("ARI: the replacing order is not ready", r)
        return
    r = finalize(A, o, make_csr(ec_key(), names))
    doc = expect_json(r, 200, "finalize of the replacing order: 200")
    if not doc or doc.get("status") != "valid":
        return
    new = A.get(doc["certificate"])
    pems = split_pem(new.text)
    with store_unchanged("replaces of a replaced certificate"):
        r = order(A, names, cid)
        expect_problem(r, 409, "alreadyReplaced", "newOrder replacing a "
                       "replaced certificate: 409 alreadyReplaced")
    out = admin_run("certs", "show", serial_hex, "--json")
    if out is not None:
        shown = json.loads(out)
        check(shown.get("replaced_by_order") == rep_id,
              "certs show names the replacing order (%r)"
              % shown.get("replaced_by_order"))
    out = admin_run("orders", "show", rep_id, "--json")
    if out is not None:
        check('"replaces"' in out and serial_hex in out,
              "orders show names the serial the order replaces (%s)"
              % serial_hex)
        check(isinstance(shown.get("replaced_by_certificate"), str) and
              doc["certificate"].endswith(shown["replaced_by_certificate"]),
              "certs show names the certificate that replaced it (%r)"
              % shown.get("replaced_by_certificate"))

    # The operator opens the window of the new certificate now.
    if not pems:
        fail("ARI: the new certificate", new)
        return
    der2 = x509.load_pem_x509_certificate(pems[0].encode()).public_bytes(
        serialization.Encoding.DER)
    cid2 = cert_id(der2)
    serial2 = "%x" % x509.load_der_x509_certificate(der2).serial_number
    url = "https://ca.proto.test/why"
    with store_unchanged("renewal advise of a serial never issued"):
        p = subprocess.run([ADMIN, "--config", ADMIN_CONF, "renewal",
                            "advise", "--serial", "01ab"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
        check(p.returncode == 1, "renewal advise of an unknown serial: "
              "exit 1 (%d)" % p.returncode)
    if admin_run("renewal", "advise", "--serial", serial2, "--explanation",
                 url) is None:
        return
    before = datetime.datetime.now(datetime.timezone.utc)
    r = C.http("GET", ri + "/" + cid2)
    got = ari_window(r, "renewalInfo after renewal advise")
    if got:
        start, end, doc = got
        check(end <= before + datetime.timedelta(seconds=5),
              "renewal advise: the window is open now (ends %s)" % end, r)
        check(doc.get("explanationURL") == url,
              "renewal advise: explanationURL %r" % doc.get(
                  "explanationURL"), r)
    out = admin_run("certs", "show", serial2, "--json")
    if out is not None:
        shown = json.loads(out)
        check(shown.get("renewal_advised") and
              shown.get("renewal_explanation") == url,
              "certs show has the advice (%r, %r)" % (
                  shown.get("renewal_advised"),
                  shown.get("renewal_explanation")))
    out = admin_run("renewal", "advise", "--account",
                    A.kid.rsplit("/", 1)[-1], "--json")
    if out is not None:
        n = json.loads(out).get("advised", 0)
        check(n >= 1, "renewal advise --account: %d certificates" % n)


TOS_URL = "https://127.0.0.1/terms-v1"        # set by protocol.sh
WEBSITE_URL = "https://127.0.0.1/about-anvil"  # set by protocol.sh


def profile_issue(acct, name, profile, cn=None):
    """newOrder for name with profile (None: no member), http-01, finalize
    with a CSR asking for CN cn; (order doc at creation, certificate) or
    (doc, None)."""
    payload = {"identifiers": [{"type": "dns", "value": name}]}
    if profile is not None:
        payload["profile"] = profile
    r = acct.post(C.dir["newOrder"], payload)
    profile = profile or "(none asked)"
    o = expect_json(r, 201, "newOrder with profile %s: 201" % profile,
                    need_location=True)
    if not o:
        return None, None
    ourl = r.headers.get("Location")
    au = o["authorizations"][0]
    c = chall_of(acct.get(au).json(), "http-01")
    CHALLENGES[c["token"]] = (200, acct.keyauth(c["token"]))
    acct.post(c["url"], {})
    doc, r = poll(acct, ourl, lambda d: d.get("status") != "pending")
    if not check(doc and doc.get("status") == "ready",
                 "profile %s order ready after http-01" % profile, r):
        return o, None
    r = finalize(acct, o, make_csr(ec_key(), [name], cn=cn))
    fin = expect_json(r, 200, "profile %s order finalized: 200" % profile)
    if not fin or "certificate" not in fin:
        return o, None
    check(fin.get("profile") == o.get("profile"),
          "finalized order still shows profile %s" % o.get("profile"), r)
    r = acct.get(fin["certificate"])
    if not check(r.status_code == 200, "profile %s certificate download" %
                 profile, r):
        return o, None
    return o, x509.load_pem_x509_certificate(r.content)


def cert_lifetime(cert):
    after = getattr(cert, "not_valid_after_utc", None) or \
        cert.not_valid_after
    before = getattr(cert, "not_valid_before_utc", None) or \
        cert.not_valid_before
    return after - before


def cert_ekus(cert):
    try:
        return list(cert.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return []


def test_profiles(A):
    """Directory meta from anvil.conf (RFC 8555 §7.1.1) and certificate
    profiles (draft-ietf-acme-profiles): the built-in three advertised,
    an unknown one refused with invalidProfile leaving nothing behind,
    and each applied at finalize."""
    from cryptography.x509.oid import ExtendedKeyUsageOID
    r = C.http("GET", DIR_URL)
    meta = (expect_json(r, 200, "directory again") or {}).get("meta", {})
    profiles = meta.get("profiles")
    check(isinstance(profiles, dict) and
          set(profiles) == {"classic", "tlsserver", "shortlived"} and
          all(isinstance(v, str) and v for v in profiles.values()),
          "meta.profiles: the built-in three, name -> description", r)
    check(meta.get("website") == WEBSITE_URL, "meta.website from anvil.conf",
          r)
    check(meta.get("termsOfService") == TOS_URL,
          "meta.termsOfService from anvil.conf", r)
    check(meta.get("externalAccountRequired") is False,
          "meta.externalAccountRequired is false", r)
    check(meta.get("caaIdentities") == ["anvil.test", "ca.anvil.test"],
          "meta.caaIdentities from anvil.conf, in order", r)
    check('\n    "profiles": {\n      "' in r.text,
          "meta.profiles is a flat map, one member per line", r)

    # Terms of service set: a new account must agree to them.
    na = C.dir["newAccount"]
    for what, payload in (("without termsOfServiceAgreed",
                           {"contact": ["mailto:t@example.org"]}),
                          ("with termsOfServiceAgreed false",
                           {"termsOfServiceAgreed": False})):
        with store_unchanged("newAccount " + what):
            r = C.post(na, payload, ec_key())
            expect_problem(r, 400, "malformed", "newAccount %s refused "
                           "while terms of service are set" % what,
                           detail_has="terms of service")
    r = C.post(na, {}, A.key)
    check(r.status_code == 200 and r.headers.get("Location") == A.kid,
          "existing account found without termsOfServiceAgreed: 200", r)

    ident = [{"type": "dns", "value": "nope.profiles.proto.test"}]
    for what, prof, status, typ in (
            ("an unknown profile", "nope", 400, "invalidProfile"),
            ("a profile in the wrong case", "Classic", 400,
             "invalidProfile"),
            ("an empty profile", "", 400, "invalidProfile"),
            ("a profile that is a number", 7, 400, "malformed"),
            ("a profile that is null", None, 400, "malformed")):
        with store_unchanged("newOrder with " + what):
            r = A.post(C.dir["newOrder"], {"identifiers": ident,
                                           "profile": prof})
            expect_problem(r, status, typ, "newOrder with %s: %d %s" %
                           (what, status, typ))

    # No profile: the default, shown in the order; CN kept, 90 days.
    o, cert = profile_issue(A, "classic.profiles.proto.test", None,
                            cn="classic.profiles.proto.test")
    if o:
        check(o.get("profile") == "classic",
              "order without a profile shows the default, classic")
    if cert:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        check([a.value for a in cns] == ["classic.profiles.proto.test"],
              "classic: subject CN kept")
        check(cert_ekus(cert) == [ExtendedKeyUsageOID.SERVER_AUTH],
              "classic: EKU serverAuth")
        check(cert_lifetime(cert) == datetime.timedelta(days=90),
              "classic: 90 days (%s)" % cert_lifetime(cert))

    o, cert = profile_issue(A, "tls.profiles.proto.test", "tlsserver",
                            cn="tls.profiles.proto.test")
    if o:
        check(o.get("profile") == "tlsserver", "order echoes tlsserver")
    if cert:
        check(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) ==
              [], "tlsserver: no subject CN although the CSR asked for one")
        check(cert_ekus(cert) == [ExtendedKeyUsageOID.SERVER_AUTH],
              "tlsserver: EKU serverAuth only (%s)" % cert_ekus(cert))
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName)
        check(san.critical and san.value.get_values_for_type(
            x509.DNSName) == ["tls.profiles.proto.test"],
              "tlsserver: SAN critical (empty subject) with the name")

    o, cert = profile_issue(A, "short.profiles.proto.test", "shortlived")
    if o:
        check(o.get("profile") == "shortlived", "order echoes shortlived")
    if cert:
        check(cert_lifetime(cert) == datetime.timedelta(days=7),
              "shortlived: 7 days (%s)" % cert_lifetime(cert))
        check(cert_ekus(cert) == [ExtendedKeyUsageOID.SERVER_AUTH],
              "shortlived: EKU serverAuth")


def main():
    srv = start_http01()
    alpn = start_tlsalpn01()
    try:
        test_directory()
        A = Account()
        r = A.register({"termsOfServiceAgreed": True,
                        "contact": ["mailto:a@example.org"]})
        if not expect_json(r, 201, "account A: 201 + Location",
                           need_location=True):
            raise SystemExit(1)
        B = Account()
        r = B.register()
        if r.status_code != 201:
            fail("account B", r)
            raise SystemExit(1)
        test_jws(A)
        test_accounts(A, B)
        ip_order, wild = test_orders(A, B)
        test_more_orders(A)
        test_pagination()
        test_key_types()
        ourl, o = test_challenges(A, B)
        cert1 = None
        if o:
            cert1 = test_finalize(A, B, ourl, o)
            test_revocation(A, B, cert1,
                            [i["value"] for i in o["identifiers"]])
            test_ari(A, B, [i["value"] for i in o["identifiers"]])
        test_ip_issue(A, ip_order)
        test_dns01_wildcard(A, wild)
        test_tlsalpn(A, B)
        test_audit_identifiers(A)
        test_audit_keychange()
        test_audit_error_text(A, o)
        test_audit_ssrf(A)
        test_profiles(A)
    finally:
        srv.shutdown()
        alpn.set()

    seen = set()
    for what, req, r in header_violations:
        key = (what, req)
        if key in seen:
            continue
        seen.add(key)
        fail("reply lacks %s: %s" % (what, req), r)
    if not header_violations:
        ok("every reply carried Link rel=\"index\", every POST reply "
           "Replay-Nonce")
    print("%.1f s" % (time.monotonic() - START))
    if failures:
        print("%d failure(s)" % failures)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
