#!/usr/bin/python3
"""eab_client.py DIR_URL CA_PEM CASE KID HMAC_KEY_B64 ALG: one newAccount
with an externalAccountBinding made of KID/HMAC_KEY/ALG. CASE is
"good" (expect 201, then onlyReturnExisting finds it), "badmac" (the MAC of
another key: expect 403 unauthorized and no account), "refused" (expect
403 unauthorized and no account), "none" (no binding: expect 400
externalAccountRequired). Prints ok:/FAIL: lines; exit 1 on failure."""
import base64
import hashlib
import hmac
import json
import sys

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


dir_url, ca, case, kid, hkey, alg = sys.argv[1:7]
s = requests.Session()
s.verify = ca
s.trust_env = False
d = s.get(dir_url, timeout=10).json()
key = ec.generate_private_key(ec.SECP256R1())
n = key.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")),
       "y": b64(n.y.to_bytes(32, "big"))}
nonce = s.head(d["newNonce"], timeout=10).headers["Replay-Nonce"]
failed = 0


def check(cond, what):
    global failed
    print(("ok: " if cond else "FAIL: ") + what)
    failed += 0 if cond else 1


def post(payload):
    global nonce
    prot = b64(json.dumps({"alg": "ES256", "jwk": jwk, "nonce": nonce,
                           "url": d["newAccount"]}).encode())
    pay = b64(json.dumps(payload).encode())
    r, s_ = decode_dss_signature(key.sign((prot + "." + pay).encode(),
                                          ec.ECDSA(hashes.SHA256())))
    resp = s.post(d["newAccount"], data=json.dumps(
        {"protected": prot, "payload": pay,
         "signature": b64(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))}),
        headers={"Content-Type": "application/jose+json"}, timeout=10)
    nonce = resp.headers.get("Replay-Nonce", nonce)
    return resp


payload = {"termsOfServiceAgreed": True}
if case != "none":
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}[alg]
    eprot = b64(json.dumps({"alg": alg, "kid": kid,
                            "url": d["newAccount"]}).encode())
    epay = b64(json.dumps(jwk).encode())
    mkey = unb64(hkey)
    if case == "badmac":
        mkey = bytes(x ^ 0x55 for x in mkey)
    mac = hmac.new(mkey, (eprot + "." + epay).encode(), digest).digest()
    payload["externalAccountBinding"] = {"protected": eprot, "payload": epay,
                                         "signature": b64(mac)}
r = post(payload)
ptype = ""
try:
    ptype = r.json().get("type", "")
except ValueError:
    pass
if case == "good":
    check(r.status_code == 201, "%s %s: account created (%d %s)" % (case, alg, r.status_code, r.text[:200]))
elif case == "none":
    check(r.status_code == 400 and ptype.endswith(":externalAccountRequired"),
          "no binding: externalAccountRequired (%d %s)" % (r.status_code, ptype))
else:
    check(r.status_code == 403 and ptype.endswith(":unauthorized"),
          "%s: unauthorized (%d %s)" % (case, r.status_code, ptype))
r2 = post({"onlyReturnExisting": True})
if case == "good":
    check(r2.status_code == 200, "the account exists afterwards")
else:
    check(r2.status_code == 400 and r2.json().get("type", "").endswith(":accountDoesNotExist"),
          "%s: nothing was stored" % case)
sys.exit(1 if failed else 0)
