#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""queryref.py -- the reference answers for kvctl_test.sh's query cases.

Written from kvctl(1) and daxkv.h, independent of tools/kvctl/where.c and
the engine, so that a bug shared by both still shows.

  queryref.py gen DIR SEED N     write DIR/load1.jsonl, DIR/load2.jsonl
                                 (kvctl dumps: the second replaces some
                                 keys), DIR/deletes (keys to delete, one
                                 a line) and DIR/model.json (the live
                                 keys and values after all three)
  queryref.py eval MODEL ARGS... print what `kvctl query DB ARGS...` must
                                 print (text output; ARGS as kvctl takes
                                 them, well-formed)
  queryref.py check KVCTL DB MODEL
                                 run `kvctl query DB LINE` for each line
                                 of standard input (shell quoting) and
                                 compare with eval; exit 1 at the first
                                 difference
  queryref.py random KVCTL DB MODEL COUNT SEED
                                 run COUNT random queries through kvctl
                                 and compare each with eval; exit 1 at
                                 the first difference

Value layout of the generated records (little-endian):
  0 u32 a   4 i32 b   8 u64 c   16 i8 d   17 bytes4 tag   21.. padding
Some values are shorter (8 bytes, or empty) so that fields past their
end do not match.
"""
import base64
import json
import random
import re
import shlex
import struct
import subprocess
import sys

TAGS = [b"red_", b"blue", b"grn_", b"\x00\xff\x01\x02"]
GROUPS = ["apple", "banana", "cherry", "date"]


def make_value(rng):
    kind = rng.random()
    if kind < 0.05:
        return b""
    a = rng.choice([rng.randrange(1000), rng.randrange(1 << 32)])
    b = rng.randrange(-500, 501)
    if kind < 0.15:
        return struct.pack("<Ii", a, b)
    c = rng.choice([rng.randrange(1 << 40), rng.randrange(1 << 64)])
    d = rng.randrange(-128, 128)
    pad = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
    return struct.pack("<Iiqb", a, b, c - (1 << 64) if c >= 1 << 63 else c,
                       d) + rng.choice(TAGS) + pad


def dump_lines(pairs):
    yield json.dumps({"daxkv_dump": 1})
    for k, v in pairs:
        yield json.dumps({"k": k, "v64": base64.b64encode(v).decode()})
    yield json.dumps({"end": True, "count": len(pairs)})


def gen(outdir, seed, n):
    rng = random.Random(seed)
    model = {}
    first = []
    for i in range(n):
        key = "%s/%05d" % (GROUPS[i % len(GROUPS)], i)
        first.append((key, make_value(rng)))
    second = [(k, make_value(rng)) for k, _ in rng.sample(first, n // 10)]
    # few: kvctl deletes one key a process
    deletes = [k for k, _ in rng.sample(first, min(10, n // 20))]
    for k, v in first + second:
        model[k] = v
    for k in deletes:
        model.pop(k, None)
    for name, pairs in (("load1.jsonl", first), ("load2.jsonl", second)):
        with open("%s/%s" % (outdir, name), "w") as f:
            f.write("\n".join(dump_lines(pairs)) + "\n")
    with open(outdir + "/deletes", "w") as f:
        f.write("".join(k + "\n" for k in deletes))
    with open(outdir + "/model.json", "w") as f:
        json.dump({k: v.hex() for k, v in model.items()}, f)


# ---- the reference evaluator ----

WHERE_RE = re.compile(
    r"^\s*(u8|u16|u32|u64|i8|i16|i32|i64|bytes(\d+))\s*@\s*(0x[0-9a-fA-F]+|\d+)"
    r"\s*(==|!=|<=|>=|<|>)\s*(.*?)\s*$")


def field_of(typ, offset):
    if typ.startswith("bytes"):
        return ("bytes", int(typ[5:]), offset)
    return (typ[0], int(typ[1:]) // 8, offset)


def parse_field(spec):
    m = re.match(r"^\s*([ui](?:8|16|32|64))\s*@\s*(0x[0-9a-fA-F]+|\d+)\s*$",
                 spec)
    return field_of(m.group(1), int(m.group(2), 0))


def parse_where(expr):
    m = WHERE_RE.match(expr)
    if not m:
        raise ValueError("reference cannot parse " + expr)
    kind, width, offset = field_of(m.group(1), int(m.group(3), 0))
    op, text = m.group(4), m.group(5)
    if kind == "bytes":
        if text[:2] in ("0x", "0X"):
            operand = bytes.fromhex(text[2:])
        else:
            operand = text[1:-1].encode()  # tests quote plain text only
    else:
        operand = int(text, 0) if not text.startswith("-") else \
            -int(text[1:], 0)
    return (kind, width, offset, op, operand)


def read_field(kind, width, offset, val):
    if offset + width > len(val):
        return None
    raw = val[offset:offset + width]
    if kind == "bytes":
        return raw
    return int.from_bytes(raw, "little", signed=(kind == "i"))


def compare(a, op, b):
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b,
            ">": a > b, ">=": a >= b}[op]


def encode(enc, data):
    if enc == "hex":
        return data.hex()
    if enc == "base64":
        return base64.b64encode(data).decode()
    return data.decode("latin-1")


def decode(enc, text):
    if enc == "hex":
        return bytes.fromhex(text)
    if enc == "base64":
        return base64.b64decode(text)
    return text.encode()


def evaluate(model, args):
    """Returns (lines, unordered): what kvctl prints on stdout."""
    wheres, output, field = [], "count", None
    lo = hi = prefix = None
    limit, ordered, enc = 0, False, "text"
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--where":
            wheres.append(parse_where(args[i + 1]))
            i += 1
        elif a in ("--sum", "--min", "--max"):
            output, field = a[2:], parse_field(args[i + 1])
            i += 1
        elif a in ("--count", "--rows"):
            output = a[2:]
        elif a in ("--from", "--to", "--prefix", "--limit", "--backend",
                   "--threads"):
            val = args[i + 1]
            if a == "--from":
                lo = val
            elif a == "--to":
                hi = val
            elif a == "--prefix":
                prefix = val
            elif a == "--limit":
                limit = int(val, 0)
            i += 1
        elif a == "--ordered":
            ordered = True
        elif a in ("--hex", "--base64"):
            enc = a[2:]
        elif a == "--stats":
            pass
        else:
            raise ValueError("reference does not know " + a)
        i += 1
    lo = decode(enc, lo) if lo is not None else None
    hi = decode(enc, hi) if hi is not None else None
    prefix = decode(enc, prefix) if prefix is not None else None
    matches = []
    for key in sorted(k.encode() for k in model):
        val = bytes.fromhex(model[key.decode()])
        if lo and key < lo or hi and key >= hi:
            continue
        if prefix and not key.startswith(prefix):
            continue
        ok = True
        for kind, width, offset, op, operand in wheres:
            v = read_field(kind, width, offset, val)
            if v is None or not compare(v, op, operand):
                ok = False
                break
        if ok and field is not None and read_field(*field, val) is None:
            ok = False  # too short for the aggregated field
        if ok:
            matches.append((key, val))
    if output == "count":
        return [str(len(matches))], False
    if output == "rows":
        lines = [encode(enc, k) + "\t" + encode(enc, v) for k, v in matches]
        if limit and ordered:
            lines = lines[:limit]
        return lines, not ordered
    values = [read_field(*field, v) for _, v in matches]
    if output == "sum":
        exact = sum(values)
        total = exact % (1 << 64)
        if field[0] == "i" and total >= 1 << 63:
            total -= 1 << 64
        # kvctl says so, and exits 1, when the exact sum does not fit
        overflow = exact != total
        return [str(total)], False, overflow
    if not values:
        return [], False
    return [str(min(values) if output == "min" else max(values))], False


# ---- random differential runs ----

FIELDS = [("u32", 0), ("i32", 4), ("u64", 8), ("i8", 16), ("u8", 0),
          ("u16", 2), ("i16", 4), ("i64", 8), ("u8", 20), ("u32", 17)]


def random_operand(rng, typ):
    if typ.startswith("bytes"):
        n = int(typ[5:])
        if n == 4 and rng.random() < 0.7:
            return "0x" + rng.choice(TAGS).hex()
        return "0x" + bytes(rng.randrange(256) for _ in range(n)).hex()
    bits = int(typ[1:])
    if typ[0] == "u":
        v = rng.choice([rng.randrange(min(1000, 1 << bits)),
                        rng.randrange(1 << bits),
                        0, (1 << bits) - 1])
        return rng.choice([str(v), hex(v)])
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return str(rng.choice([rng.randint(max(lo, -500), min(hi, 500)),
                           rng.randint(lo, hi),
                           lo, hi, 0]))


def random_query(rng):
    args = []
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        if rng.random() < 0.2:
            typ, off = "bytes%d" % rng.choice([1, 2, 4]), 17
        else:
            typ, off = rng.choice(FIELDS)
        op = rng.choice(["==", "!=", "<", "<=", ">", ">="])
        args += ["--where", "%s@%d %s %s" % (typ, off, op,
                                              random_operand(rng, typ))]
    out = rng.choice(["count", "sum", "min", "max", "rows"])
    if out in ("sum", "min", "max"):
        typ, off = rng.choice(FIELDS)
        args += ["--" + out, "%s@%d" % (typ, off)]
    elif out == "rows":
        args += ["--rows", "--hex"]
        if rng.random() < 0.5:
            args.append("--ordered")
        if rng.random() < 0.5:
            args += ["--limit", str(rng.randrange(1, 50))]
    else:
        args.append("--count")
    r = rng.random()
    if r < 0.2:
        args += ["--prefix", rng.choice(GROUPS)]
    elif r < 0.4:
        a, b = sorted(rng.sample(range(9000), 2))
        g = rng.choice(GROUPS)
        args += ["--from", "%s/%05d" % (g, a), "--to", "%s/%05d" % (g, b)]
    if out == "rows" and "--hex" in args:
        # --hex applies to the key bounds too
        for i, a in enumerate(args):
            if a in ("--prefix", "--from", "--to"):
                args[i + 1] = args[i + 1].encode().hex()
    args += ["--backend", "cpu", "--threads", str(rng.choice([0, 1, 2, 4]))]
    return args


def run_one(kvctl, db, model, args):
    """Run kvctl query with @args; None if it agrees with the reference,
    else the reason."""
    proc = subprocess.run([kvctl, "query", db] + args, capture_output=True)
    want, unordered, *overflow = evaluate(model, args)
    overflow = bool(overflow and overflow[0])
    got = proc.stdout.decode("latin-1").splitlines()
    limit = int(args[args.index("--limit") + 1], 0) \
        if "--limit" in args else 0
    if proc.returncode != (1 if overflow else 0):
        ok = False
    elif overflow and b"the sum overflowed" not in proc.stderr:
        ok = False
    elif unordered and limit:
        ok = len(got) == min(limit, len(want)) and set(got) <= set(want)
    elif unordered:
        ok = sorted(got) == sorted(want)
    else:
        ok = got == want
    if ok:
        return None
    return ("kvctl query DB %s\nexit %d, stderr: %s\n"
            "expected (%d lines): %s\ngot (%d lines): %s" %
            (" ".join(shlex.quote(a) for a in args), proc.returncode,
             proc.stderr.decode()[:2000], len(want), want[:10], len(got),
             got[:10]))


def run_check(kvctl, db, model_path, lines):
    model = json.load(open(model_path))
    n = 0
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        why = run_one(kvctl, db, model, shlex.split(line))
        if why:
            print("differs from the reference: " + why, file=sys.stderr)
            return 1
        n += 1
    print("%d queries agree" % n)
    return 0


def run_random(kvctl, db, model_path, count, seed):
    model = json.load(open(model_path))
    rng = random.Random(seed)
    for n in range(count):
        why = run_one(kvctl, db, model, random_query(rng))
        if why:
            print("random query %d differs: %s" % (n, why), file=sys.stderr)
            return 1
    print("%d random queries agree" % count)
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    if cmd == "eval":
        model = json.load(open(sys.argv[2]))
        lines, unordered, *_ = evaluate(model, sys.argv[3:])
        if unordered:
            lines.sort()
        sys.stdout.write("".join(line + "\n" for line in lines))
        return 0
    if cmd == "check":
        return run_check(sys.argv[2], sys.argv[3], sys.argv[4], sys.stdin)
    if cmd == "random":
        return run_random(sys.argv[2], sys.argv[3], sys.argv[4],
                          int(sys.argv[5]), int(sys.argv[6]))
    print("queryref.py: unknown command " + cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
