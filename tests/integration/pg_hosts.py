#!/usr/bin/python3
"""pg_hosts.py - nonce replays across the hosts of one CA (pg_hosts.sh).

One nonce, byte for byte the same JWS, sent by NONCE_CLIENTS clients
released at one instant through the load balancer, so that the copies land
on both hosts: exactly one is accepted each round, the rest are badNonce
(races.py's race_nonce and client, against DIR_URL).
"""
import os
import sys

import races


def main():
    rounds = int(os.environ.get("ROUNDS", "3"))
    m = int(os.environ.get("NONCE_CLIENTS", "16"))
    races.race_nonce(rounds, m)
    return 1 if races.failures else 0


if __name__ == "__main__":
    sys.exit(main())
