#!/usr/bin/python3
"""existing_account.py DIR_URL CA_PEM: newAccount twice with one key. The
second reply must be 200 with the same Location and no redirect, through
whatever web server shape is in front (Apache turns a CGI's 200 + Location
into a 302 unless the shipped config prevents it). Prints ok:/FAIL: lines;
exit 1 on failure."""
import base64
import json
import sys

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


dir_url, ca = sys.argv[1], sys.argv[2]
s = requests.Session()
s.verify = ca
s.trust_env = False
d = s.get(dir_url, timeout=10, allow_redirects=False).json()
key = ec.generate_private_key(ec.SECP256R1())
nums = key.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "x": b64(nums.x.to_bytes(32, "big")),
       "y": b64(nums.y.to_bytes(32, "big"))}
nonce = s.head(d["newNonce"], timeout=10).headers["Replay-Nonce"]
failed = 0


def check(cond, what):
    global failed
    print(("ok: " if cond else "FAIL: ") + what)
    failed += 0 if cond else 1


def new_account():
    global nonce
    prot = b64(json.dumps({"alg": "ES256", "jwk": jwk, "nonce": nonce,
                           "url": d["newAccount"]}).encode())
    pay = b64(json.dumps({"termsOfServiceAgreed": True,
                          "contact": ["mailto:ops@example.org"]}).encode())
    der = key.sign((prot + "." + pay).encode(), ec.ECDSA(hashes.SHA256()))
    r, s_ = decode_dss_signature(der)
    sig = b64(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))
    resp = s.post(d["newAccount"], data=json.dumps(
        {"protected": prot, "payload": pay, "signature": sig}),
        headers={"Content-Type": "application/jose+json"}, timeout=10,
        allow_redirects=False)
    nonce = resp.headers.get("Replay-Nonce", nonce)
    return resp


r1 = new_account()
check(r1.status_code == 201, "new account: 201 (got %d)" % r1.status_code)
loc = r1.headers.get("Location", "")
check(loc.startswith(dir_url.rsplit("/", 1)[0] + "/acct/"), "Location is an account URL: %s" % loc)
r2 = new_account()
check(r2.status_code == 200, "same key again: 200, not a redirect (got %d)" % r2.status_code)
check(r2.headers.get("Location") == loc, "same Location (%s)" % r2.headers.get("Location"))
check("X-Anvil-Location" not in r2.headers, "no private header leaks")
ctype = r2.headers.get("Content-Type", "")
check(ctype.startswith("application/json"), "account JSON body (%s)" % ctype)
try:
    check(r2.json().get("status") == "valid", "body is the account")
except ValueError:
    check(False, "body is JSON: %r" % r2.text[:200])
sys.exit(1 if failed else 0)
