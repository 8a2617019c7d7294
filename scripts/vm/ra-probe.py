#!/usr/bin/env python3
"""Sends one Router Solicitation on an interface and prints the first Router
Advertisement that comes back, decoded (RFC 4861 §4.2, RFC 6275 §7.1-7.4):

    ra from fe80::1 flags M=0 O=0 H=1 lifetime 30
    prefix 2001:db8:1::2/64 L=1 A=1 R=1 valid 300 preferred 120
    adv-interval 1500
    ha-info preference 10 lifetime 1800

usage: ra-probe.py IFNAME [TIMEOUT-SECONDS]   (exit 1 if no RA arrives in time)
"""
import errno
import ipaddress
import socket
import struct
import sys
import time

ICMPV6_RS = 133
ICMPV6_RA = 134
OPT_PREFIX_INFO = 3
OPT_ADV_INTERVAL = 7
OPT_HA_INFO = 8
ALL_ROUTERS = "ff02::2"


def decode_ra(src: str, msg: bytes) -> list:
    # Type, code, checksum, cur hop limit, flags (M=0x80 O=0x40 H=0x20), router lifetime,
    # reachable time, retrans timer; options follow at byte 16.
    if len(msg) < 16:
        return [f"short ra from {src} ({len(msg)} bytes)"]
    flags, lifetime = msg[5], struct.unpack_from("!H", msg, 6)[0]
    lines = [
        f"ra from {src} flags M={flags >> 7 & 1} O={flags >> 6 & 1} "
        f"H={flags >> 5 & 1} lifetime {lifetime}"
    ]
    off = 16
    while off + 2 <= len(msg):
        kind, units = msg[off], msg[off + 1]
        if units == 0 or off + 8 * units > len(msg):
            lines.append(f"malformed option at {off}")
            break
        body = msg[off : off + 8 * units]
        if kind == OPT_PREFIX_INFO and len(body) == 32:
            plen, pflags = body[2], body[3]
            valid, preferred = struct.unpack_from("!II", body, 4)
            prefix = ipaddress.IPv6Address(body[16:32])
            lines.append(
                f"prefix {prefix}/{plen} L={pflags >> 7 & 1} A={pflags >> 6 & 1} "
                f"R={pflags >> 5 & 1} valid {valid} preferred {preferred}"
            )
        elif kind == OPT_ADV_INTERVAL and len(body) == 8:
            lines.append(f"adv-interval {struct.unpack_from('!I', body, 4)[0]}")
        elif kind == OPT_HA_INFO and len(body) == 8:
            pref, life = struct.unpack_from("!hH", body, 4)
            lines.append(f"ha-info preference {pref} lifetime {life}")
        off += 8 * units
    return lines


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    ifname = sys.argv[1]
    timeout = float(sys.argv[2]) if len(sys.argv) == 3 else 5.0
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    index = socket.if_nametoindex(ifname)
    deadline = time.monotonic() + timeout
    solicited = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"ra-probe: no router advertisement on {ifname} within {timeout}s", file=sys.stderr)
            return 1
        if not solicited:
            # The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets. Until the
            # link-local address has passed DAD there is no source to send from: retry.
            try:
                sock.sendto(struct.pack("!BBHI", ICMPV6_RS, 0, 0, 0), (ALL_ROUTERS, 0, 0, index))
                solicited = True
            except OSError as e:
                if e.errno != errno.EADDRNOTAVAIL:
                    raise
        sock.settimeout(min(left, 0.2) if not solicited else left)
        try:
            msg, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        if msg and msg[0] == ICMPV6_RA:
            print("\n".join(decode_ra(addr[0].split("%")[0], msg)))
            return 0


if __name__ == "__main__":
    sys.exit(main())
