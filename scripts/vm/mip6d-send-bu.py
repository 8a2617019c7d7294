#!/usr/bin/env python3
"""Sends one home Binding Update (RFC 6275 §6.1.7) as a whole IPv6 packet from
an arbitrary source, for the home agent's status-code tests:

    mip6d-send-bu.py IFNAME HOA HA COA SEQ LIFETIME_UNITS

The packet goes out of IFNAME from HOA (which need not be assigned: IPPROTO_RAW)
to HA, flags A|H, with an Alternate CoA option carrying COA. The HA answers to
HOA through a Type 2 routing header to COA; the tests read the HA's log."""
import ipaddress
import socket
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main() -> None:
    ifname, hoa, ha, coa = sys.argv[1:5]
    seq, units = int(sys.argv[5]), int(sys.argv[6])
    src = ipaddress.IPv6Address(hoa).packed
    dst = ipaddress.IPv6Address(ha).packed
    # BU body: sequence, flags A|H (0xC000), lifetime; then PadN(2) and the
    # Alternate CoA option (type 3, length 16) at 8n+6.
    body = struct.pack("!HHH", seq, 0xC000, units)
    opts = bytes([1, 0]) + bytes([3, 16]) + ipaddress.IPv6Address(coa).packed
    mh_len = 6 + len(body) + len(opts)
    assert mh_len % 8 == 0, mh_len
    # Payload proto 59, header length in 8-octet units minus 1, MH type 5.
    mh = struct.pack("!BBBBH", 59, mh_len // 8 - 1, 5, 0, 0) + body + opts
    pseudo = src + dst + struct.pack("!I3xB", len(mh), 135)
    mh = mh[:4] + struct.pack("!H", checksum(pseudo + mh)) + mh[6:]
    ip6 = struct.pack("!IHBB", 0x60000000, len(mh), 135, 64) + src + dst
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    s.sendto(ip6 + mh, (ha, 0, 0, socket.if_nametoindex(ifname)))
    print(f"BU {hoa} -> {ha} coa {coa} seq {seq} lifetime {units * 4}s sent on {ifname}")


if __name__ == "__main__":
    main()
