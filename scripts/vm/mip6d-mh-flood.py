#!/usr/bin/env python3
"""Floods a correspondent node with unauthenticated Mobility Header messages
from this namespace's own address, for the CN's log-limit test:

    mip6d-mh-flood.py CN COUNT

Sends COUNT Home Test Inits (RFC 6275 §6.1.3) and COUNT messages of the
unknown MH type 200, then reads answers for 2 s and prints how many Home
Tests (type 3) and Binding Errors (type 7) came back. The kernel fills in
the MH checksum (IPV6_CHECKSUM at offset 4)."""
import socket
import struct
import sys
import time

IPPROTO_MH = 135
IPV6_CHECKSUM = 7


def mh(mh_type: int, body: bytes) -> bytes:
    length = 6 + len(body)
    assert length % 8 == 0, length
    # Payload proto 59, header length in 8-octet units minus 1, checksum 0.
    return struct.pack("!BBBBH", 59, length // 8 - 1, mh_type, 0, 0) + body


def main() -> None:
    cn, count = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_MH)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, 4)
    for i in range(count):
        # HoTI: reserved, 8-octet cookie.
        s.sendto(mh(1, struct.pack("!H", 0) + struct.pack("!Q", i)), (cn, 0))
        s.sendto(mh(200, bytes(10)), (cn, 0))
    got = {3: 0, 7: 0}
    s.settimeout(0.2)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        if len(data) >= 3 and data[2] in got:
            got[data[2]] += 1
    print(f"sent {count} HoTI and {count} MH type 200; got {got[3]} HoT, {got[7]} BE")


if __name__ == "__main__":
    main()
