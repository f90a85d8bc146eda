#!/usr/bin/python3
"""crash.py - SIGKILL of anvil FastCGI workers during issuance (crash.sh).

K client threads run full flows (account, order, http-01 answered here,
finalize, download) with a client that retries connection errors, 5xx and
badNonce; meanwhile a killer sends SIGKILL to a random anvil process that
lighttpd spawned, at random moments, KILLS times or for at most SECONDS.
An order whose validation died with its worker (the challenge stays
"processing") is given up after STALL seconds and a new one is made.

Then: a final full flow succeeds; every order in the store is consistent
(valid <=> a certificate record naming it, which the order names back; no
certificate without its order); every certificate a client received is in
the store. Then a request whose nonce was spent just before a worker is
killed is replayed once the store has been recovered: badNonce. Prints
"figure: name = value" lines for tests/RELIABILITY.md.

Environment: as races.py, plus LIGHTTPD_PID_FILE; KILLS (25), SECONDS
(60), THREADS (4), STALL (8).
"""
import os
import random
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import races  # noqa: E402
from races import Acme, Responder, STATS, Stalled, Transient, check, \
    fail, figure, ok  # noqa: E402

ANVIL = os.path.realpath(os.environ.get("ANVIL", ""))


def workers():
    """pids of the anvil processes lighttpd spawned."""
    try:
        lpid = int(open(os.environ["LIGHTTPD_PID_FILE"]).read().strip())
    except (OSError, ValueError):
        return []
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open("/proc/%s/stat" % d).read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == lpid and os.path.realpath("/proc/%s/exe" % d) == ANVIL:
                out.append(int(d))
        except (OSError, ValueError, IndexError):
            continue
    return out


def region_id():
    """Identity of the store's primary region file: a recovery makes it
    anew (src/store/bdb_env.c)."""
    try:
        st = os.stat(os.path.join(races.STORE_DIR, "__db.001"))
        return (st.st_ino, st.st_ctime_ns)
    except OSError:
        return None


def replay_after_recovery():
    """A nonce spent just before a worker is killed is not accepted again
    once the store has been recovered: spends commit without a flush, the
    recovery drops what was not on disk, and Anvil refuses every nonce
    issued before it (store.h store_nonce_floor; RFC 8555 section 6.5)."""
    cl = Acme(retries=40)
    cl.register()
    cl.retries = 0
    body = cl.jws(cl.kid, None)
    r = cl._req("POST", cl.kid, data=body, headers={"Content-Type":
                                                    races.JOSE})
    check(r.status_code == 200, "POST-as-GET of the account spends a "
          "nonce (HTTP %d)" % r.status_code)
    before = region_id()
    pids = workers()
    if not pids:
        fail("no worker to kill for the replay check")
        return
    os.kill(pids[0], signal.SIGKILL)
    # The next store open (lighttpd's new worker) claims the death and
    # recovers; requests bring it up. Bounded: 20 s.
    other = Acme(retries=40)
    end = time.monotonic() + 20
    while region_id() == before and time.monotonic() < end:
        other.directory()
        time.sleep(0.2)
    if region_id() == before:
        fail("no store recovery within 20 s of killing worker %d" % pids[0])
        return
    time.sleep(1.1)     # a nonce of the recovery's second is refused too
    for _ in range(10):  # every worker, not only the recovered one
        other.directory()
    r = cl._req("POST", cl.kid, data=body, headers={"Content-Type":
                                                    races.JOSE})
    check(r.status_code == 400 and races.problem_type(r) == "badNonce",
          "the same request replayed after the recovery is badNonce "
          "(HTTP %d %s)" % (r.status_code, races.problem_type(r)))
    cl.nonces = []
    r = cl._req("POST", cl.kid, data=cl.jws(cl.kid, None),
                headers={"Content-Type": races.JOSE})
    check(r.status_code == 200, "a fresh nonce after the recovery is "
          "accepted (HTTP %d %s)" % (r.status_code, races.problem_type(r)))


def main():
    kills_max = int(os.environ.get("KILLS", "25"))
    seconds = float(os.environ.get("SECONDS", "60"))
    k = int(os.environ.get("THREADS", "4"))
    stall = float(os.environ.get("STALL", "8"))
    seed = int(os.environ.get("SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    print("seed %d (SEED=%d reproduces the kill times)" % (seed, seed))
    responder = Responder()
    stop = threading.Event()
    received = {}          # serial -> order id
    lock = threading.Lock()
    errors = []
    kills = []

    def flows(t):
        cl = None
        n = 0
        while not stop.is_set():
            n += 1
            names = ["c%d-%d-%d.crash.test" % (t, n, os.getpid())]
            try:
                if cl is None:
                    cl = Acme(retries=40)
                    cl.register()
                ourl, o = races.ready_order(cl, names, responder, stall)
                curl, serial, pem = races.finish_order(cl, ourl, o, names,
                                                       stall * 2)
                with lock:
                    received[serial] = ourl.rsplit("/", 1)[1]
                STATS.add("flows")
            except Stalled as e:
                STATS.add("stalled")
                print("note: thread %d: %s; a new order" % (t, e),
                      flush=True)
            except Transient as e:
                STATS.add("gave_up")
                errors.append("thread %d: %s" % (t, e))
            except Exception as e:  # noqa: BLE001
                errors.append("thread %d: %s: %s" % (t, type(e).__name__, e))
                cl = None   # start over with a fresh client

    def killer():
        end = time.monotonic() + seconds
        while len(kills) < kills_max and time.monotonic() < end:
            time.sleep(rnd.uniform(0.05, 2.0))
            # Any worker, including one still starting (registering with
            # the Berkeley DB environment): the next opener recovers and
            # the watchdog ends workers stuck in the old environment.
            pids = workers()
            if not pids:
                continue
            pid = rnd.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
                kills.append((round(time.monotonic(), 2), pid))
            except ProcessLookupError:
                pass

    t0 = time.monotonic()
    ts = [threading.Thread(target=flows, args=(t,)) for t in range(k)]
    for t in ts:
        t.start()
    kt = threading.Thread(target=killer)
    kt.start()
    kt.join()
    stop.set()
    for t in ts:
        t.join(300)
    check(not any(t.is_alive() for t in ts), "client threads finished")
    elapsed = time.monotonic() - t0
    figure("kills", len(kills))
    figure("crash_seconds", round(elapsed, 1))
    figure("flows_completed", STATS.get("flows"))
    figure("retries", STATS.get("retries"))
    figure("http_5xx_seen", STATS.get("http_5xx"))
    figure("orders_abandoned_stalled", STATS.get("stalled"))
    figure("client_gave_up", STATS.get("gave_up"))
    check(len(kills) >= min(kills_max, 5), "%d workers killed with SIGKILL "
          "during the flows" % len(kills))
    for e in errors[:20]:
        print("    " + e)
    check(not errors, "no client gave up or hit an unexpected reply "
          "(%d)" % len(errors))
    check(STATS.get("flows") > 0, "flows completed during the kills")

    # A final full flow, after the last kill.
    try:
        cl = Acme(retries=40)
        f = races.full_flow(cl, ["final-%d.crash.test" % os.getpid()],
                            responder)
        received[f["serial"]] = f["order"].rsplit("/", 1)[1]
        ok("a final full flow succeeds")
    except Exception as e:  # noqa: BLE001
        fail("final full flow: %s: %s" % (type(e).__name__, e))

    replay_after_recovery()

    certs = races.certs_by_serial()
    orders = races.store_records("orders.db")
    chall = races.store_records("challenges.db")
    missing = [s for s in received if s not in certs]
    check(not missing, "every one of %d certificates received is in the "
          "store (%d missing)" % (len(received), len(missing)))
    check(all(certs[s].get("order") == o for s, o in received.items()
              if s in certs), "each received certificate's record names its "
          "order")
    bad = []
    per_order = {}
    for s, c in certs.items():
        oid = c.get("order")
        per_order.setdefault(oid, []).append(s)
        o = orders.get(oid)
        if not isinstance(o, dict):
            bad.append("certificate %x: order %s missing" % (s, oid))
        elif o.get("status") != "valid" or \
                int(o.get("certificate", "0"), 16) != s:
            bad.append("certificate %x: order %s is %s / %s" % (
                s, oid, o.get("status"), o.get("certificate")))
    statuses = {}
    for oid, o in orders.items():
        st = o.get("status") if isinstance(o, dict) else None
        statuses[st] = statuses.get(st, 0) + 1
        if st not in ("pending", "ready", "processing", "valid", "invalid"):
            bad.append("order %s: status %r" % (oid, st))
        elif st == "valid":
            sn = o.get("certificate")
            if not sn or int(sn, 16) not in certs:
                bad.append("order %s: valid without its certificate" % oid)
        elif o.get("certificate") or oid in per_order:
            bad.append("order %s: %s with a certificate" % (oid, st))
    for b in bad[:20]:
        print("    " + b)
    check(not bad, "%d orders and %d certificates consistent (%s)" % (
        len(orders), len(certs), ", ".join("%s %d" % (k, v) for k, v in
                                           sorted(statuses.items()))))
    processing = sum(1 for c in chall.values() if isinstance(c, dict) and
                     c.get("status") == "processing")
    figure("orders_in_store", len(orders))
    figure("certificates_in_store", len(certs))
    figure("challenges_left_processing", processing)
    return 1 if races.failures else 0


if __name__ == "__main__":
    sys.exit(main())
