#!/usr/bin/env python3
"""Writes the uncompressed ELF kernel held in an xz-compressed bzImage (Debian's).

usage: extract-vmlinux.py BZIMAGE OUT

QEMU boots such an ELF directly through its PVH entry point; the bzImage would first
run its own decompressor, which is slow under software emulation.
"""
import lzma
import sys

XZ_MAGIC = b"\xfd7zXZ\x00"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        image = f.read()
    start = image.find(XZ_MAGIC)
    while start >= 0:
        try:
            elf = lzma.LZMADecompressor().decompress(image[start:])
        except lzma.LZMAError:
            elf = b""
        if elf.startswith(b"\x7fELF"):
            with open(dst, "wb") as f:
                f.write(elf)
            return 0
        start = image.find(XZ_MAGIC, start + 1)
    print(f"extract-vmlinux: no xz-compressed ELF in {src}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
