#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""segtool.py -- test helper: read and damage daxkv segment files by the
layout in engine/layout.h (records from 4096, 32-byte headers, 8-aligned).

  segtool.py records FILE        one line per record: offset klen vlen seq
  segtool.py end FILE            offset where the log ends (first seq == 0)
  segtool.py sealed FILE         the sealed tail (header offset 56)
  segtool.py tear FILE           write a torn record at the end of the log
  segtool.py flip FILE OFFSET    invert one byte
"""
import struct
import sys

HDR = 4096


def walk(data):
    off = HDR
    while off + 32 <= len(data):
        crc, klen, flags, vlen, batch, seq, sup = struct.unpack_from(
            "<IHHIIQQ", data, off)
        if seq == 0 or klen == 0:
            break
        yield off, klen, vlen, seq
        off += (32 + klen + vlen + 7) & ~7


def end_of_log(data):
    end = HDR
    for off, klen, vlen, _ in walk(data):
        end = off + ((32 + klen + vlen + 7) & ~7)
    return end


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if cmd == "records":
            for rec in walk(data):
                print(*rec)
        elif cmd == "end":
            print(end_of_log(data))
        elif cmd == "sealed":
            print(struct.unpack_from("<Q", data, 56)[0])
        elif cmd == "tear":
            off = end_of_log(data)
            # a header whose crc cannot match, and half of its key
            rec = struct.pack("<IHHIIQQ", 0xdeadbeef, 8, 1, 64, 1, 1 << 40, 0)
            f.seek(off)
            f.write(rec + b"torn")
            print(off)
        elif cmd == "flip":
            off = int(sys.argv[3])
            f.seek(off)
            f.write(bytes([data[off] ^ 0xff]))
        else:
            sys.exit("unknown command " + cmd)


main()
