#!/usr/bin/env python3
"""cgi.py - CPU per CGI request of the anvil program, by request kind,
against /bin/true and "anvil --version" of the same run (bench/cgi.sh
sets it up; see bench/README.md, "cgi.sh").

    cgi.py ANVIL ANVIL_CONFIG BASE_URL HTTP01_PORT ROUNDS [CALLGRIND_OUT]

Runs the program directly, as a web server's CGI module would: the CGI
environment (REQUEST_METHOD, REQUEST_URI, CONTENT_LENGTH, CONTENT_TYPE,
HTTPS, SERVER_NAME, SERVER_PORT, GATEWAY_INTERFACE) and the body on
stdin. It makes an account and, through one real http-01 validation of
127.0.0.1 answered by a responder on HTTP01_PORT, a valid authorization
that every later order reuses; then it signs, with fresh nonces, ROUNDS
requests of each kind, and runs them interleaved round by round, so that
load from elsewhere on the machine falls on every kind alike. The CPU of
one request is the child's user + system time (wait4), so the signing and
the checks here are not counted. Every reply must have the status its
kind expects; any other is an error (exit status 1).

Prints one line per kind: "CGI KIND cpu_ms=... ratio_true=...
ratio_version=... n=...", the median of the ROUNDS figures. With
CALLGRIND_OUT, also runs each kind once under valgrind --tool=callgrind
and prints "CALLGRIND KIND ir=... loader=... main=..." (instructions in
all, before main(), and under main()).
"""
import base64
import hashlib
import http.server
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature
from cryptography.x509.oid import NameOID
import ipaddress

JOSE = "application/jose+json"
POLL_MAX = 200          # authorization polls, 50 ms apart


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Bench:
    def __init__(self, anvil, config, base, port):
        self.anvil = anvil
        self.base = base.rstrip("/")
        m = re.match(r"https://([^/:]+)(?::(\d+))?(/.*)?$", self.base)
        if not m:
            sys.exit("cgi.py: base_url must be https://HOST[:PORT]/PATH")
        self.host, self.sport = m.group(1), m.group(2) or "443"
        self.prefix = m.group(3) or ""
        self.config = config
        self.port = port
        self.key = ec.generate_private_key(ec.SECP256R1())
        pub = self.key.public_key().public_numbers()
        self.jwk = {"crv": "P-256", "kty": "EC",
                    "x": b64u(pub.x.to_bytes(32, "big")),
                    "y": b64u(pub.y.to_bytes(32, "big"))}
        self.kid = None
        self.tmp = tempfile.mkdtemp(prefix="anvil-cgi-py.")
        self.errors = 0

    def env(self, method, url, body, ctype):
        path = url[len(self.base) - len(self.prefix):] \
            if url.startswith(self.base) else url
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "ANVIL_CONFIG": self.config,
             "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method,
             "REQUEST_URI": path, "SCRIPT_NAME": self.prefix,
             "PATH_INFO": path[len(self.prefix):], "HTTPS": "on",
             "SERVER_NAME": self.host, "SERVER_PORT": self.sport,
             "SERVER_PROTOCOL": "HTTP/1.1",
             "CONTENT_LENGTH": str(len(body))}
        if ctype:
            e["CONTENT_TYPE"] = ctype
        return e

    def spawn(self, argv, env, body, out):
        """Runs argv with body on stdin and stdout to out; CPU seconds
        of the child (user + system) and its exit status."""
        inp = os.path.join(self.tmp, "in")
        with open(inp, "wb") as f:
            f.write(body)
        fi = os.open(inp, os.O_RDONLY)
        fo = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        fe = os.open(os.path.join(self.tmp, "err"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, fi, 0), (os.POSIX_SPAWN_DUP2, fo, 1),
                (os.POSIX_SPAWN_DUP2, fe, 2)])
        finally:
            os.close(fi)
            os.close(fo)
            os.close(fe)
        _, status, ru = os.wait4(pid, 0)
        return ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status)

    def cgi(self, method, url, body=b"", ctype=None, argv=None):
        """One request: (status, headers, body, cpu seconds)."""
        out = os.path.join(self.tmp, "out")
        cpu, _ = self.spawn(argv or [self.anvil],
                            self.env(method, url, body, ctype), body, out)
        with open(out, "rb") as f:
            raw = f.read()
        head, _, rbody = raw.partition(b"\r\n\r\n")
        if not _:
            head, _, rbody = raw.partition(b"\n\n")
        status, hdrs = 0, {}
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status" or k.startswith("HTTP/"):
                status = int((v if k.lower() == "status" else
                              line.split()[1]).split()[0])
            elif _:
                hdrs[k.strip().lower()] = v.strip()
        return status, hdrs, rbody, cpu

    def nonce(self):
        st, h, _, _ = self.cgi("HEAD", self.base + "/new-nonce")
        if st not in (200, 204) or "replay-nonce" not in h:
            sys.exit("cgi.py: newNonce answered %d" % st)
        return h["replay-nonce"]

    def jws(self, url, payload, nonce):
        prot = {"alg": "ES256", "nonce": nonce, "url": url}
        if self.kid:
            prot["kid"] = self.kid
        else:
            prot["jwk"] = self.jwk
        p = b64u(json.dumps(prot))
        pl = "" if payload is None else b64u(json.dumps(payload))
        der = self.key.sign((p + "." + pl).encode(),
                            ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return json.dumps({"protected": p, "payload": pl,
                           "signature": b64u(sig)}).encode()

    def post(self, url, payload, want):
        st, h, b, _ = self.cgi("POST", url, self.jws(url, payload,
                               self.nonce()), JOSE)
        if st != want:
            sys.exit("cgi.py: POST %s answered %d, wanted %d: %s" %
                     (url, st, want, b[:300].decode("latin-1")))
        return h, json.loads(b) if b else None

    def setup(self):
        st, _, b, _ = self.cgi("GET", self.base + "/directory")
        if st != 200:
            sys.exit("cgi.py: directory answered %d" % st)
        self.dir = json.loads(b)
        h, _ = self.post(self.dir["newAccount"],
                         {"termsOfServiceAgreed": True}, 201)
        self.kid = h["location"]
        h, order = self.new_order(201)
        self.order_url = h["location"]
        self.validate(order)

    def new_order(self, want):
        return self.post(self.dir["newOrder"], {"identifiers": [
            {"type": "ip", "value": "127.0.0.1"}]}, want)

    def validate(self, order):
        """One real http-01 validation of 127.0.0.1, so that every later
        order reuses the authorization and is ready at once."""
        _, az = self.post(order["authorizations"][0], None, 200)
        ch = [c for c in az["challenges"] if c["type"] == "http-01"][0]
        thumb = b64u(hashlib.sha256(json.dumps(
            self.jwk, sort_keys=True, separators=(",", ":")).encode())
            .digest())
        keyauth = (ch["token"] + "." + thumb).encode()

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.path == "/.well-known/acme-challenge/" + \
                    ch["token"]
                self.send_response(200 if ok else 404)
                self.end_headers()
                if ok:
                    self.wfile.write(keyauth)

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            self.post(ch["url"], {}, 200)
            for _ in range(POLL_MAX):
                _, az = self.post(order["authorizations"][0], None, 200)
                if az["status"] != "pending":
                    break
                time.sleep(0.05)
        finally:
            srv.shutdown()
            srv.server_close()
        if az["status"] != "valid":
            sys.exit("cgi.py: the http-01 validation ended %s: %s" %
                     (az["status"], json.dumps(az)[:400]))

    def csr(self):
        k = ec.generate_private_key(ec.SECP256R1())
        req = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([])).add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False).sign(k, hashes.SHA256())
        return b64u(req.public_bytes(serialization.Encoding.DER))

    def prepare(self, rounds):
        """Each round's requests, signed with fresh nonces:
        [(kind, method, url, body, ctype, argv, want)]."""
        out = []
        for _ in range(rounds):
            r = [("true", "GET", "/", b"", None, ["/bin/true"], None),
                 ("version", "GET", "/", b"", None,
                  [self.anvil, "--version"], None),
                 ("head-nonce", "HEAD", self.base + "/new-nonce", b"",
                  None, None, 200),
                 ("directory", "GET", self.base + "/directory", b"", None,
                  None, 200)]
            u = self.order_url
            r.append(("order", "POST", u, self.jws(u, None, self.nonce()),
                      JOSE, None, 200))
            u = self.dir["newOrder"]
            r.append(("new-order", "POST", u, self.jws(u, {"identifiers": [
                {"type": "ip", "value": "127.0.0.1"}]}, self.nonce()),
                JOSE, None, 201))
            _, order = self.new_order(201)
            if order["status"] != "ready":
                sys.exit("cgi.py: an order is %s, not ready (no reuse?)"
                         % order["status"])
            u = order["finalize"]
            r.append(("finalize", "POST", u, self.jws(u, {"csr":
                      self.csr()}, self.nonce()), JOSE, None, 200))
            out.append(r)
        return out

    def run(self, rounds):
        cpu = {}
        order = []
        for r in self.prepare(rounds):
            for kind, m, u, body, ct, argv, want in r:
                if kind not in cpu:
                    cpu[kind] = []
                    order.append(kind)
                if want is None:
                    c, rc = self.spawn(argv, self.env(m, u, body, ct),
                                       body, os.devnull)
                    if rc != 0:
                        self.error("%s exited %d" % (kind, rc))
                else:
                    st, _, b, c = self.cgi(m, u, body, ct)
                    if st != want:
                        self.error("%s answered %d, wanted %d: %s" % (
                            kind, st, want, b[:200].decode("latin-1")))
                cpu[kind].append(c)
        med = {k: statistics.median(v) for k, v in cpu.items()}
        for k in order:
            print("CGI %-10s cpu_ms=%.3f ratio_true=%.2f ratio_version=%.2f"
                  " n=%d" % (k, med[k] * 1e3, med[k] / med["true"],
                             med[k] / med["version"], len(cpu[k])))
        return self.prepare(1)[0]

    def error(self, msg):
        self.errors += 1
        if self.errors <= 5:
            print("cgi.py: " + msg, file=sys.stderr)

    def callgrind(self, reqs, outdir):
        for kind, m, u, body, ct, argv, want in reqs:
            f = os.path.join(outdir, "callgrind.%s" % kind)
            vg = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" +
                  f] + (argv or [self.anvil])
            vg[0] = "/usr/bin/valgrind" if os.path.exists(
                "/usr/bin/valgrind") else vg[0]
            self.spawn(vg, self.env(m, u, body, ct), body, os.devnull)
            ann = subprocess.run(["callgrind_annotate", "--inclusive=yes",
                                  "--threshold=100",
                                  f], capture_output=True, text=True).stdout
            total = loader = main = 0
            for line in ann.splitlines():
                mm = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$", line)
                if not mm:
                    continue
                n = int(mm.group(1).replace(",", ""))
                what = mm.group(2)
                if "PROGRAM TOTALS" in what:
                    total = n
                elif what.endswith(":_dl_start [" + what.split("[")[-1]) \
                        and "rtld.c:_dl_start" in what:
                    loader = max(loader, n)
                elif re.search(r":main \[", what) and not main:
                    main = n
            print("CALLGRIND %-10s ir=%d loader=%d main=%d" %
                  (kind, total, loader, main))


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__.split("\n\n")[1])
    anvil, config, base, port, rounds = sys.argv[1:6]
    b = Bench(os.path.abspath(anvil), config, base, int(port))
    try:
        b.setup()
        one = b.run(max(1, min(int(rounds), 100000)))
        if len(sys.argv) == 7:
            b.callgrind(one, sys.argv[6])
    finally:
        subprocess.run(["rm", "-rf", b.tmp])
    if b.errors:
        print("cgi.py: %d requests failed" % b.errors, file=sys.stderr)
        sys.exit(1)


main()
