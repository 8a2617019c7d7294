#!/usr/bin/env python3
"""Sends home Binding Updates (RFC 6275 §6.1.7) for many simulated mobile nodes, for
the home agent benchmark (scripts/vm/mip6d-bench-ha.sh):

    mip6d-bulk-bu.py IFNAME HA COUNT SEQ LIFETIME_UNITS [RATE]

Mobile node i (0 <= i < COUNT) has home address 2001:db8:1::1:<i> and care-of address
2001:db8:a::1:<i> (in an Alternate CoA option); each BU leaves IFNAME from the home
address (IPPROTO_RAW, so it need not be assigned), flags A|H, sequence SEQ. RATE caps
the BUs per second (0 = as fast as possible). Prints the count sent and the seconds."""
import ipaddress
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def bu(hoa: bytes, ha: bytes, coa: bytes, seq: int, units: int) -> bytes:
    body = struct.pack("!HHH", seq, 0xC000, units)
    opts = bytes([1, 0]) + bytes([3, 16]) + coa
    mh_len = 6 + len(body) + len(opts)
    mh = struct.pack("!BBBBH", 59, mh_len // 8 - 1, 5, 0, 0) + body + opts
    pseudo = hoa + ha + struct.pack("!I3xB", len(mh), 135)
    mh = mh[:4] + struct.pack("!H", checksum(pseudo + mh)) + mh[6:]
    return struct.pack("!IHBB", 0x60000000, len(mh), 135, 64) + hoa + ha + mh


def main() -> None:
    ifname, ha = sys.argv[1], sys.argv[2]
    count, seq, units = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rate = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    ha_b = ipaddress.IPv6Address(ha).packed
    home = int(ipaddress.IPv6Address("2001:db8:1::1:0"))
    care = int(ipaddress.IPv6Address("2001:db8:a::1:0"))
    packets = [
        bu(
            ipaddress.IPv6Address(home + i).packed,
            ha_b,
            ipaddress.IPv6Address(care + i).packed,
            seq,
            units,
        )
        for i in range(count)
    ]
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    dst = (ha, 0, 0, socket.if_nametoindex(ifname))
    start = time.monotonic()
    for i, p in enumerate(packets):
        if rate > 0:
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        s.sendto(p, dst)
    print(f"{count} {time.monotonic() - start:.3f}")


if __name__ == "__main__":
    main()
