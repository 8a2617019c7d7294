"""Crafted ip6ip6 packets (RFC 2473) to a home agent, and a UDP sink that counts them.

    python3 -S tunnel-probe.py send OUTER_SRC OUTER_DST INNER_SRC INNER_DST PORT TAG COUNT
    python3 -S tunnel-probe.py sink PORT OUT

`send` writes COUNT packets whose outer IPv6 header (next header 41) goes from
OUTER_SRC to OUTER_DST and whose inner packet is UDP from INNER_SRC to
INNER_DST:PORT with payload TAG, through a raw socket that takes the outer
header as given (the outer source need not be an address of the sender).
`sink` receives UDP on [::]:PORT and appends each payload, one per line, to
OUT (flushed at once, so a test can count them). Runs until killed.
"""

import ipaddress
import socket
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total & 0xFFFF) or 0xFFFF


def ipv6_header(src: bytes, dst: bytes, next_header: int, payload_len: int) -> bytes:
    return struct.pack("!IHBB", 6 << 28, payload_len, next_header, 64) + src + dst


def packet(outer_src, outer_dst, inner_src, inner_dst, port, tag) -> bytes:
    a = [ipaddress.IPv6Address(x).packed for x in (outer_src, outer_dst, inner_src, inner_dst)]
    payload = tag.encode()
    length = 8 + len(payload)
    pseudo = a[2] + a[3] + struct.pack("!I3xB", length, 17)
    udp = struct.pack("!HHHH", 40000, port, length, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp)) + udp[8:]
    inner = ipv6_header(a[2], a[3], 17, length) + udp
    return ipv6_header(a[0], a[1], 41, len(inner)) + inner


def main() -> int:
    if len(sys.argv) == 9 and sys.argv[1] == "send":
        _, _, osrc, odst, isrc, idst, port, tag, count = sys.argv
        data = packet(osrc, odst, isrc, idst, int(port), tag)
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        for _ in range(int(count)):
            sock.sendto(data, (odst, 0))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "sink":
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.bind(("::", int(sys.argv[2])))
        with open(sys.argv[3], "ab", buffering=0) as f:
            while True:
                f.write(sock.recv(65536) + b"\n")
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
