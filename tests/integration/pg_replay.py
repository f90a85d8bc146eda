#!/usr/bin/python3
"""pg_replay.py - nonces across a crash of a PostgreSQL backend (pg.sh).

Spent nonces are written with synchronous_commit off, so a crash of the
server, or of one backend (PostgreSQL then restarts the others without a
new postmaster), can lose the last spends. Anvil refuses every nonce
issued before the crash (store.h store_nonce_floor). Here: a request is
served; a nonce is fetched and kept unspent; CRASH_CMD kills a backend with
SIGKILL and waits for the server to take connections again; then the
served request replayed is badNonce, so is the kept nonce (issued
before the crash), and a fresh nonce is served.

Environment: DIR_URL, CA_PEM (races.py), CRASH_CMD (a shell command).
"""
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import races  # noqa: E402
from races import Acme, check, fail  # noqa: E402


def send(cl, body):
    """POST body to the account URL. Each FastCGI worker's connection died
    with the crash, and its first request meets it broken (503, before
    the nonce is looked at); the worker reconnects for the next. So a 503
    is sent again, a bounded number of times."""
    r = None
    for _ in range(10):
        r = cl._req("POST", cl.kid, data=body,
                    headers={"Content-Type": races.JOSE})
        if r.status_code != 503:
            break
    return r


def main():
    cl = Acme(retries=40)
    cl.register()
    cl.retries = 0
    body = cl.jws(cl.kid, None)
    hdrs = {"Content-Type": races.JOSE}
    r = cl._req("POST", cl.kid, data=body, headers=hdrs)
    check(r.status_code == 200, "POST-as-GET of the account is served "
          "(HTTP %d)" % r.status_code)
    cl.nonces = []
    kept = cl.nonce()
    rc = subprocess.call(["sh", "-c", os.environ["CRASH_CMD"]])
    if rc != 0:
        fail("CRASH_CMD exited %d" % rc)
        return 1
    r = send(cl, body)
    check(r.status_code == 400 and races.problem_type(r) == "badNonce",
          "the served request replayed after the crash is badNonce "
          "(HTTP %d %s)" % (r.status_code, races.problem_type(r)))
    r = send(cl, cl.jws(cl.kid, None, nonce=kept))
    check(r.status_code == 400 and races.problem_type(r) == "badNonce",
          "a nonce issued before the crash and never spent is badNonce "
          "(HTTP %d %s)" % (r.status_code, r.text[:200]))
    cl.nonces = []
    r = send(cl, cl.jws(cl.kid, None))
    check(r.status_code == 200, "a fresh nonce after the crash is served "
          "(HTTP %d %s)" % (r.status_code, races.problem_type(r)))
    return 1 if races.failures else 0


if __name__ == "__main__":
    sys.exit(main())
