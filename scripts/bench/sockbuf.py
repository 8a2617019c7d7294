#!/usr/bin/env python3
"""Set the socket buffers of a running daemon's IPv4 UDP sockets from outside.

Usage: sockbuf.py PID BYTES

Takes a duplicate of each socket descriptor of PID with pidfd_getfd(2) (Linux 5.6+,
needs ptrace rights over PID: root) and sets SO_RCVBUFFORCE and SO_SNDBUFFORCE to BYTES
on it, which changes the daemon's own socket (the kernel doubles the value, as for a
setsockopt(SO_RCVBUF) in the daemon). Used by the benchmarks to try buffer sizes on
Debian's miredo and ours alike, without rebuilding either. Prints one line per socket
changed: "PID FD rcvbuf OLD -> NEW sndbuf OLD -> NEW".
"""

import ctypes
import os
import socket
import sys

SYS_PIDFD_GETFD = 438  # x86_64 and aarch64 alike (the unified syscall table)
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33


def main() -> int:
    if len(sys.argv) != 3 or not sys.argv[1].isdigit() or not sys.argv[2].isdigit():
        print("usage: sockbuf.py PID BYTES", file=sys.stderr)
        return 2
    pid, size = int(sys.argv[1]), int(sys.argv[2])
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as e:
        print(f"sockbuf.py: pid {pid}: {e.strerror}", file=sys.stderr)
        return 1
    changed = 0
    try:
        fd_dir = f"/proc/{pid}/fd"
        for name in os.listdir(fd_dir):
            try:
                if not os.readlink(f"{fd_dir}/{name}").startswith("socket:"):
                    continue
            except OSError:
                continue  # closed meanwhile
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
            if fd < 0:
                err = ctypes.get_errno()
                print(f"sockbuf.py: pid {pid} fd {name}: {os.strerror(err)}", file=sys.stderr)
                return 1
            sock = socket.socket(fileno=fd)
            try:
                if sock.family != socket.AF_INET or sock.type != socket.SOCK_DGRAM:
                    continue
                old_r = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                old_s = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
                sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, size)
                new_r = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                new_s = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
                print(f"{pid} {name} rcvbuf {old_r} -> {new_r} sndbuf {old_s} -> {new_s}")
                changed += 1
            finally:
                sock.close()
    finally:
        os.close(pidfd)
    print(f"{pid}: {changed} IPv4 UDP socket(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
