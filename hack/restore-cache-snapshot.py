#!/usr/bin/env python3
"""Restores a CacheFlush snapshot kept after a restore the manager gave up (Recovered condition
RestoreFailed), by hand, into a Redis server. Python 3 standard library only.

    kubectl -n NS get secret -l chaos.firedrill.dev/snapshot-of=UID -o json \
      | hack/restore-cache-snapshot.py HOST:PORT [--db N] [--user U] [--password-env VAR] [--tls]

It does what the manager's restore does: RESTORE without REPLACE (a key written again meanwhile
keeps its value and is counted as present), with the key's absolute expiry (ABSTTL), and a key
whose expiry has passed is skipped. It does not give back the original TTL of keys an
ExpirePattern left present. It reads every chunk of the snapshot (chunk 0 names how many) and
refuses an incomplete one. Delete the Secrets afterwards.
"""
import argparse, base64, json, os, socket, ssl, sys, time


def uvarint(b, i):
    x = s = 0
    while True:
        c = b[i]; i += 1
        x |= (c & 0x7F) << s
        if c < 0x80:
            return x, i
        s += 7


def records(b):
    """Decodes (uvarint len key, key, zigzag varint expireAt ms, uvarint len dump, dump)*."""
    i = 0
    while i < len(b):
        n, i = uvarint(b, i); key = b[i:i + n]; i += n
        z, i = uvarint(b, i); at = (z >> 1) ^ -(z & 1)
        n, i = uvarint(b, i); dump = b[i:i + n]; i += n
        yield key, at, dump


class Redis:
    def __init__(self, addr, use_tls):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=10)
        if use_tls:
            self.s = ssl.create_default_context().wrap_socket(self.s, server_hostname=host)
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        line = self.f.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise RuntimeError(rest.decode(errors="replace"))
        if kind == b"$" and int(rest) >= 0:
            data = self.f.read(int(rest) + 2)
            return data[:-2]
        return rest


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("addr")
    p.add_argument("--db", type=int, default=0)
    p.add_argument("--user")
    p.add_argument("--password-env", help="environment variable holding the password")
    p.add_argument("--tls", action="store_true")
    a = p.parse_args()

    chunks = {}
    for item in json.load(sys.stdin).get("items", []):
        name = item["metadata"]["name"]
        chunks[int(name.rsplit("-", 1)[1])] = item
    if 0 not in chunks:
        sys.exit("no chunk 0: the snapshot is incomplete")
    want = int(chunks[0]["metadata"]["annotations"]["chaos.firedrill.dev/snapshot-chunks"])
    if sorted(chunks) != list(range(want)):
        sys.exit("chunks %s found, want 0..%d" % (sorted(chunks), want - 1))

    r = Redis(a.addr, a.tls)
    try:
        if a.password_env:
            pw = os.environ[a.password_env]
            r.call(*(["AUTH", a.user, pw] if a.user else ["AUTH", pw]))
        if a.db:
            r.call("SELECT", a.db)
    except RuntimeError as e:
        sys.exit("%s: %s" % (a.addr, e))
    restored = present = expired = failed = 0
    for i in range(want):
        for key, at, dump in records(base64.b64decode(chunks[i]["data"].get("records", ""))):
            if at > 0 and at <= int(time.time() * 1000) + 1:
                expired += 1
                continue
            args = ["RESTORE", key, at, dump, "ABSTTL"] if at > 0 else ["RESTORE", key, 0, dump]
            try:
                r.call(*args)
                restored += 1
            except RuntimeError as e:
                if str(e).startswith("BUSYKEY"):
                    present += 1
                else:
                    failed += 1
                    print("key %r: %s" % (key, e), file=sys.stderr)
    print("restored %d, present %d, expired %d, failed %d" % (restored, present, expired, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
