#!/usr/bin/python3
"""validators.py - slow challenges must not stall the server.

Against a running Anvil (validators.sh starts it behind lighttpd with
FastCGI, four processes) whose http-01 target is a black hole: a socket
that listens with a backlog of one and never accepts, so every connection
past the first hangs in the kernel until the validation's timeout.

- 4 x N challenges (N = WORKERS) are asked for at once; each answer comes
  back at once (the validation is queued, not run in the worker).
- Meanwhile GET directory is timed; its p99 must stay under a quarter of
  the validation timeout: a worker held by a hung validation delays the
  GETs behind it by the whole timeout.
- No more than VALIDATORS validation processes run at any moment.
- One more challenge when QUEUE_MAX wait already: rateLimited, 429,
  Retry-After, and the challenge stays pending.
- Every queued challenge ends invalid, within its bound, with a
  "connection" problem that says what happened.
- With every validator slot held, a queued challenge waits; anvil-admin
  sweep then starts a runner that settles it.

Environment: as protocol.py, plus WORKERS, VALIDATORS, QUEUE_MAX, VTIMEOUT
(the [validation] timeout), CONF (to find this server's processes) and
ADMIN (anvil-admin).
"""
import fcntl
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocol as P  # noqa: E402

WORKERS = int(os.environ["WORKERS"])
VALIDATORS = int(os.environ["VALIDATORS"])
QUEUE_MAX = int(os.environ["QUEUE_MAX"])
VTIMEOUT = int(os.environ["VTIMEOUT"])
CONF = os.environ["CONF"]
ADMIN = os.environ["ADMIN"]
N_CHALL = 4 * WORKERS


def black_hole():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", P.HTTP01_PORT))
    s.listen(1)
    return s


def our_validators():
    """How many checks of this server run now: the child processes in
    which runners validate (a runner is briefly one more process while it
    leaves, having given its slot back)."""
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                comm = f.read().strip()
            if comm != "anvil-check":
                continue
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if ("ANVIL_CONFIG=" + CONF).encode() in env:
            n += 1
    return n


def poll_final(acct, url, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        c = acct.get(url).json()
        if c.get("status") in ("valid", "invalid"):
            return c
        time.sleep(0.5)
    return c


def sweep_drains(A):
    """Every slot held (as by runners that were killed with their slot
    still locked by a stuck child): a queued validation waits; once the
    slots are free, anvil-admin sweep starts a runner that drains it."""
    held = []
    for i in range(VALIDATORS):
        f = open(os.path.join(P.DATA, "validators", str(i)), "a")
        fcntl.flock(f, fcntl.LOCK_EX)
        held.append(f)
    ourl, o = P.new_order(A, ["queued.blackhole.example.test"])
    if o is None:
        return
    az = A.get(o["authorizations"][0]).json()
    u = P.chall_of(az, "http-01")["url"]
    r = A.post(u, {})
    P.check(r.status_code == 200 and r.json().get("status") ==
            "processing", "challenge queued while every slot is held", r)
    time.sleep(VTIMEOUT + 1)
    c = A.get(u).json()
    P.check(c.get("status") == "processing", "it waits: no runner "
            "beyond the slots (%s)" % c.get("status"))
    for f in held:
        f.close()
    out = subprocess.run([ADMIN, "--config", CONF, "sweep"],
                         capture_output=True, text=True, timeout=60)
    P.check(out.returncode == 0 and "1 queued validation(s) waiting, 1 "
            "runner(s) set to work" in out.stdout, "sweep starts a runner for "
            "the waiting validation: %r" % out.stdout.strip())
    c = poll_final(A, u, 3 * VTIMEOUT + 10)
    P.check(c.get("status") == "invalid" and c.get("error", {}).get(
        "type") == P.ERR + "connection", "the runner the sweep started "
        "settled it (%s)" % c.get("status"))


def main():
    hole = black_hole()
    P.C.dir = P.C.s.get(P.DIR_URL, timeout=P.TIMEOUT).json()
    A = P.Account()
    r = A.register()
    if r.status_code != 201:
        P.fail("account", r)
        return 1
    names = ["slow%d.blackhole.example.test" % i for i in range(N_CHALL + 1)]
    challs = []
    for i in range(0, len(names), 20):
        ourl, o = P.new_order(A, names[i:i + 20])
        if o is None:
            return 1
        for az_url in o["authorizations"]:
            az = A.get(az_url).json()
            challs.append(P.chall_of(az, "http-01")["url"])
    if len(challs) != N_CHALL + 1:
        P.fail("expected %d challenges, got %d" % (N_CHALL + 1, len(challs)))
        return 1

    # Directory latency, sampled while the validations hang.
    lat = []
    peak = [0]
    stop = threading.Event()

    def sampler():
        # One GET every 20 ms by the clock, latency counted from when it
        # was due: a GET held up for 2 s also delays the 100 that should
        # have followed it, and they count (no coordinated omission).
        s = P.requests.Session()
        s.trust_env = False
        s.verify = P.CA_PEM
        t_start = time.monotonic()
        end = t_start + 4 * VTIMEOUT * 3
        k = 0
        while not stop.is_set() and time.monotonic() < end:
            due = t_start + k * 0.02
            k += 1
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            g = s.get(P.DIR_URL, timeout=P.TIMEOUT)
            done = time.monotonic()
            n = 1 + int((done - due) // 0.02)  # samples this one covered
            for j in range(n):
                lat.append(max(done - due - j * 0.02, 0.0) if
                           g.status_code == 200 else 99.0)
            k += n - 1
            peak[0] = max(peak[0], our_validators())

    th = threading.Thread(target=sampler)
    th.start()

    # All at once, as a burst of clients would: one thread each.
    post_lat = []
    nonces = [P.C.nonce() for _ in range(N_CHALL)]

    def post_one(u, nonce):
        t0 = time.monotonic()
        r = A.post(u, {}, nonce=nonce)
        post_lat.append(time.monotonic() - t0)
        if r.status_code != 200 or r.json().get("status") != "processing":
            P.fail("challenge POST: 200 processing", r)

    posters = [threading.Thread(target=post_one, args=(u, n))
               for u, n in zip(challs[:N_CHALL], nonces)]
    for t in posters:
        t.start()
    for t in posters:
        t.join()
    P.check(max(post_lat) < 1.0, "%d challenge POSTs answered at once "
            "(slowest %.0f ms)" % (N_CHALL, max(post_lat) * 1000))

    r = A.post(challs[N_CHALL], {})
    if QUEUE_MAX <= N_CHALL:
        P.expect_problem(r, 429, "rateLimited",
                         "a challenge beyond queue_max is rateLimited")
        P.check(r.headers.get("Retry-After", "").isdigit(),
                "rateLimited carries Retry-After", r)
        c = A.get(challs[N_CHALL]).json()
        P.check(c.get("status") == "pending",
                "the refused challenge is still pending", r)

    # Every queued one ends invalid: N_CHALL / VALIDATORS rounds of at
    # most 3 x timeout each, and a margin.
    bound = (N_CHALL // VALIDATORS + 1) * 3 * VTIMEOUT + 10
    deadline = time.monotonic() + bound
    final = {}
    while time.monotonic() < deadline and len(final) < N_CHALL:
        for u in challs[:N_CHALL]:
            if u in final:
                continue
            c = A.get(u).json()
            if c.get("status") in ("valid", "invalid"):
                final[u] = c
        time.sleep(0.5)
    stop.set()
    th.join()
    sweep_drains(A)
    hole.close()

    P.check(len(final) == N_CHALL, "all %d challenges finished within "
            "%d s (%d did)" % (N_CHALL, bound, len(final)))
    bad = [c for c in final.values() if c.get("status") != "invalid" or
           c.get("error", {}).get("type") != P.ERR + "connection" or
           not c.get("error", {}).get("detail")]
    P.check(not bad, "every one invalid with a connection problem%s" %
            (": " + repr(bad[0]) if bad else ""))
    details = sorted({c["error"]["detail"] for c in final.values()
                      if "error" in c})
    print("details: %s" % details[:3])
    lat.sort()
    p99 = lat[int(len(lat) * 0.99) - 1] if lat else 99
    P.check(len(lat) >= 50, "%d directory GETs sampled" % len(lat))
    P.check(p99 < VTIMEOUT / 4, "directory p99 %.1f ms (< %d ms) while "
            "%d validations hung; max %.1f ms" % (p99 * 1000, VTIMEOUT * 250,
                                                N_CHALL, lat[-1] * 1000))
    P.check(0 < peak[0] <= VALIDATORS, "at most %d validations at "
            "once (peak seen %d)" % (VALIDATORS, peak[0]))
    return 1 if P.failures else 0


if __name__ == "__main__":
    sys.exit(main())
