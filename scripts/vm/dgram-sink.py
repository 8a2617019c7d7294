"""Receives AF_UNIX datagrams on SOCKET and appends each, one per line, to OUT.

    python3 -S dgram-sink.py SOCKET OUT

Stands in for syslog (/dev/log) and for systemd's NOTIFY_SOCKET in the package test
(scripts/vm/pkg-mip6d.sh). OUT is flushed after every datagram so the test can grep
it at once. Runs until killed.
"""

import os
import socket
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: dgram-sink.py SOCKET OUT", file=sys.stderr)
        return 2
    path, out = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    with open(out, "ab", buffering=0) as f:
        while True:
            data = sock.recv(65536)
            f.write(data.rstrip(b"\n").replace(b"\n", b" | ") + b"\n")


if __name__ == "__main__":
    sys.exit(main())
