#!/usr/bin/python3
"""profile.py - sorts `perf script -F comm,pid,period,ip,sym,dso` samples
(with call chains) of Anvil's server tree into the rows of issue 22's cost
table and prints microseconds of CPU per flow. Used by bench/profile.sh.

A sample goes to the first rule that matches: lighttpd's samples by
process name; a sample in the kernel by the kernel functions of its chain
(fdatasync, flock/fcntl/timers, unix/udp/tcp sockets, page faults), else
by its user-space caller; a user-space sample by the library of its
innermost frame that names one (libc and unknown frames are skipped, so
malloc called from jansson counts as jansson when the chain shows it).
Debian's libraries have no frame pointers, so a chain may stop early: what
cannot be placed stays in "libc / unresolved"."""
import argparse
import re
import sys

ROWS = [
    ("crypto", "ECDSA P-256 verify/sign, SHA (nettle, gmp, OpenSSL)"),
    ("bdb", "Berkeley DB work (libdb, store glue)"),
    ("sync", "durable commits (fsync/fdatasync, journal)"),
    ("fcgi", "FastCGI per request (libfcgi, unix socket)"),
    ("json", "jansson"),
    ("jose", "JWS/JWK parsing (anvil jose, base64url)"),
    ("x509", "CSR parse, cert build, DER/PEM (GnuTLS x509, libtasn1)"),
    ("http01", "http-01 fetch (libcurl, TCP)"),
    ("dns", "DNS (libunbound, libevent, UDP)"),
    ("fence", "recovery fence / watchdog (flock, fcntl, timers)"),
    ("mem", "memory (page faults, mmap, brk)"),
    ("anvil", "anvil's own code (router, handlers, records)"),
    ("ld", "dynamic loader"),
    ("kernel", "kernel: other (scheduling, other system calls)"),
    ("libc", "libc / unresolved caller"),
    ("lt_tls", "lighttpd: TLS crypto (GnuTLS, nettle, gmp)"),
    ("lt", "lighttpd: rest (HTTP, proxying, kernel)"),
]

KERNEL_RULES = [
    ("sync", re.compile(r"fsync|fdatasync|jbd2|ext4_sync|file_write_and_wait"
                        r"|blkdev_issue_flush|submit_bio|writeback")),
    ("fence", re.compile(r"flock|fcntl|locks_|posix_lock|timer_settime"
                         r"|posix_timer|do_timer_settime|itimer")),
    ("fcgi", re.compile(r"^unix_")),
    ("dns", re.compile(r"^udp")),
    ("http01", re.compile(r"^tcp_|^inet_|__sys_connect")),
    ("mem", re.compile(r"page_fault|do_anonymous_page|handle_mm_fault"
                       r"|do_mmap|__vm_munmap|__do_sys_brk|do_brk")),
]

LIB_RULES = [
    ("bdb", re.compile(r"libdb-")),
    ("crypto", re.compile(r"libhogweed|libnettle|libgmp|libcrypto\.")),
    ("gnutls", re.compile(r"libgnutls")),
    ("x509", re.compile(r"libtasn1")),
    ("json", re.compile(r"libjansson")),
    ("fcgi", re.compile(r"libfcgi")),
    ("http01", re.compile(r"libcurl|libnghttp2|libpsl|libidn2|libssh|librtmp"
                          r"|libbrotli|libzstd|libz\.|libldap|liblber"
                          r"|libgssapi|libkrb|libsasl")),
    ("dns", re.compile(r"libunbound|libevent")),
    ("ld", re.compile(r"ld-linux")),
]

ANVIL_RULES = [
    ("bdb", re.compile(r"^bdb_|^store_")),
    ("fence", re.compile(r"guard|fence|watchdog")),
    ("jose", re.compile(r"^jose_|^b64u_|^jws_|^jwk_")),
    ("x509", re.compile(r"^ca_|csr|issue")),
    ("fcgi", re.compile(r"^http_|FCGX|^FCGI")),
    ("http01", re.compile(r"http01|curl")),
    ("dns", re.compile(r"dns|unbound|caa")),
]

GNUTLS_X509 = re.compile(r"x509|crq|asn1|pem|der|crl|ocsp|_dn_|base64"
                         r"|extension|san|oid")


def classify_user(sym, dso):
    """The row of one user-space frame, or None to look further out."""
    base = dso.rsplit("/", 1)[-1]
    if base == "anvil" or base.startswith("anvil"):
        for row, rx in ANVIL_RULES:
            if rx.search(sym):
                return row
        return "anvil"
    for row, rx in LIB_RULES:
        if rx.search(base):
            if row == "gnutls":
                return "x509" if GNUTLS_X509.search(sym.lower()) else "crypto"
            return row
    return None


def classify(comm, frames):
    if comm.startswith("lighttpd"):
        if frames and re.search(r"libgnutls|libnettle|libhogweed|libgmp",
                                frames[0][1]):
            return "lt_tls"
        return "lt"
    kernel = [s for s, d in frames if d.startswith("[kernel")]
    user = [(s, d) for s, d in frames if not d.startswith("[kernel")]
    if frames and frames[0][1].startswith("[kernel"):
        for row, rx in KERNEL_RULES:
            if any(rx.search(s) for s in kernel):
                return row
    for sym, dso in user:
        row = classify_user(sym, dso)
        if row is not None:
            return row
    if frames and frames[0][1].startswith("[kernel"):
        return "kernel"
    return "libc"


def samples(f):
    head = None
    frames = []
    for line in f:
        line = line.rstrip("\n")
        if not line.strip():
            if head is not None:
                yield head[0], head[1], frames
            head, frames = None, []
            continue
        if not line[0].isspace():
            if head is not None:
                yield head[0], head[1], frames
            parts = line.split()
            # comm may hold spaces: pid and period are the last two.
            try:
                period = int(parts[-1])
            except ValueError:
                period = 0
            head, frames = (" ".join(parts[:-2]), period), []
            continue
        m = re.match(r"\s*[0-9a-f]+\s+(.*)\s+\((.*)\)\s*$", line)
        if m:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
            frames.append((sym, m.group(2)))
    if head is not None:
        yield head[0], head[1], frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, required=True)
    ap.add_argument("--stat", help="perf stat -x, output")
    a = ap.parse_args()
    tot = {k: 0 for k, _ in ROWS}
    by_comm = {}
    n = 0
    for comm, period, frames in samples(sys.stdin):
        tot[classify(comm, frames)] += period
        by_comm[comm] = by_comm.get(comm, 0) + period
        n += 1
    flows = max(a.flows, 1)
    total = sum(tot.values())
    print("sampled: %d samples (cpu-clock, call chains)" % n)
    print("%-58s %8s %6s" % ("cost per flow", "us/flow", "%"))
    for key, label in ROWS:
        us = tot[key] / 1000.0 / flows
        print("%-58s %8.0f %6.1f" % (label, us,
                                     100.0 * tot[key] / total if total else 0))
    anv = total - tot["lt_tls"] - tot["lt"]
    print("%-58s %8.0f %6.1f" % ("total sampled (anvil processes)",
                                 anv / 1000.0 / flows,
                                 100.0 * anv / total if total else 0))
    print("%-58s %8.0f %6.1f" % ("total sampled (server tree)",
                                 total / 1000.0 / flows, 100.0))
    # Process names: anvil (requests), anvil-validate (runner.c),
    # anvil-check (its checker, validation.c), lighttpd.
    print("by process name, us/flow: " + ", ".join(
        "%s %.0f" % (c, v / 1000.0 / flows)
        for c, v in sorted(by_comm.items(), key=lambda kv: -kv[1])))
    if a.stat:
        counts = []
        try:
            with open(a.stat) as f:
                for line in f:
                    p = line.strip().split(",")
                    if len(p) >= 3 and p[2].startswith("syscalls:"):
                        try:
                            c = float(p[0])
                        except ValueError:
                            continue
                        counts.append((p[2].split("sys_enter_")[-1], c))
        except OSError:
            pass
        if counts:
            print("system calls per flow (server tree): " + ", ".join(
                "%s %.1f" % (name, c / flows) for name, c in counts))


if __name__ == "__main__":
    main()
