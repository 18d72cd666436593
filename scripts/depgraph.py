#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""depgraph.py -- the engine's file-level dependency graph, and the layout
rules that keep it readable (docs/ARCHITECTURE.md, "Layout").

A module is a .c (or .cu) file together with the .h of the same name in
the same folder (engine/segment.c + engine/segment.h = "segment"); a
header without a .c (internal.h, layout.h) is a module of its own.
Module A depends on module B when a file of A includes B's header, or
when code of A names a function or object that B defines (found in the
sources, and, with --objects or --objects-dir, in the compiled objects'
symbol tables too).  A call through a function pointer that B registered (a listener,
a backend table) is no edge: that is how a lower layer calls back up.

Checks (each failure is printed with the files involved; exit status 1):
  cycles      no two modules depend on each other, directly or not
  prototypes  no prototype of a non-static function inside a .c file
  declared    every non-static function of the engine (daxkv_* aside:
              include/daxkv.h declares those) is declared in exactly one
              engine header
  one name    no two files define a function of the same name (build
              alternatives such as query/cuda.cu and query/nocuda.c aside)

Usage:
  scripts/depgraph.py [--root DIR] [--objects-dir BUILD/engine |
                      --objects FILE.o...] [--print] [--dot]
--print writes each module's dependencies, --dot the graph for graphviz.
"""
import argparse
import os
import re
import subprocess
import sys

# Files the build chooses between: they define the same names on purpose.
ALTERNATIVES = [{"query/cuda", "query/nocuda"}]

C_KEYWORDS = {
    "if", "for", "while", "switch", "return", "sizeof", "void", "int",
    "char", "unsigned", "signed", "long", "short", "const", "volatile",
    "struct", "union", "enum", "static", "inline", "extern", "typedef",
    "_Alignof", "_Static_assert", "__attribute__", "__typeof__",
    "defined", "do", "else", "case", "default", "goto", "break",
    "continue", "bool", "float", "double",
}
SKIP_CALLEES = {"__attribute__", "__declspec", "__launch_bounds__",
                "__builtin_expect", "_Static_assert", "static_assert"}


def strip_c(text):
    """Comments, string and character literals and preprocessor lines
    removed; line breaks kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                if text[j] == "\\":
                    j += 1
                j += 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    lines, res, cont = "".join(out).split("\n"), [], False
    for line in lines:
        if cont or line.lstrip().startswith("#"):
            cont = line.rstrip().endswith("\\")
            res.append("")
        else:
            res.append(line)
    return "\n".join(res)


TOKEN = re.compile(r"[A-Za-z_]\w*|\S")


def declarator_name(stmt):
    """The name declared by a top-level statement that has a parameter
    list: the identifier before the first '(' at parenthesis depth 0
    (attributes skipped), or None."""
    depth = 0
    i = 0
    while i < len(stmt):
        t = stmt[i]
        if t == "(":
            if depth == 0 and i > 0:
                name = stmt[i - 1]
                if name in SKIP_CALLEES:
                    # skip the attribute's parentheses
                    d = 0
                    while i < len(stmt):
                        if stmt[i] == "(":
                            d += 1
                        elif stmt[i] == ")":
                            d -= 1
                            if d == 0:
                                break
                        i += 1
                    i += 1
                    continue
                if re.match(r"[A-Za-z_]\w*$", name) and \
                        name not in C_KEYWORDS:
                    return name
                return None
            depth += 1
        elif t == ")":
            depth -= 1
        elif t == "=" and depth == 0:
            return None
        i += 1
    return None


def referenced(body):
    """Identifiers a body names, less struct tags and member names."""
    for k, x in enumerate(body):
        if not re.match(r"[A-Za-z_]\w*$", x):
            continue
        prev = body[k - 1] if k else ""
        if prev in ("struct", "union", "enum", ".") or \
                (prev == ">" and k > 1 and body[k - 2] == "-"):
            continue
        yield x


class Unit:
    """What one file defines, declares and names."""

    def __init__(self, path, module):
        self.path = path
        self.module = module
        self.funcs = {}        # name -> static?
        self.objects = set()   # non-static objects with an initializer
        self.protos = {}       # name -> static?
        self.names = set()     # identifiers used in bodies and initializers
        self.includes = []


def scan(path, module):
    unit = Unit(path, module)
    with open(path, encoding="utf-8", errors="replace") as f:
        raw = f.read()
    for m in re.finditer(r'^\s*#\s*include\s+"([^"]+)"', raw, re.M):
        unit.includes.append(m.group(1))
    toks = TOKEN.findall(strip_c(raw))
    stmt = []
    transparent = 0   # extern "C" { ... } blocks
    i = 0
    while i < len(toks):
        t = toks[i]
        if t == ";":
            name = declarator_name(stmt)
            if name and stmt[0] != "typedef":
                unit.protos[name] = "static" in stmt[:stmt.index(name)]
            stmt = []
        elif t == "{":
            if stmt == ["extern", '"', '"']:
                transparent += 1
                stmt = []
                i += 1
                continue
            # a body: a function's, a struct's or an initializer's
            depth, j = 1, i + 1
            while j < len(toks) and depth:
                if toks[j] == "{":
                    depth += 1
                elif toks[j] == "}":
                    depth -= 1
                j += 1
            body = toks[i + 1:j - 1]
            name = declarator_name(stmt)
            if name and "=" not in stmt:
                unit.funcs[name] = "static" in stmt[:stmt.index(name)]
            elif "=" in stmt and "static" not in stmt:
                k = stmt.index("=") - 1
                while k > 0 and stmt[k] == "]":
                    while k > 0 and stmt[k] != "[":
                        k -= 1
                    k -= 1
                if k >= 0:
                    unit.objects.add(stmt[k])
            unit.names.update(referenced(body))
            stmt = []
            i = j
            continue
        elif t == "}":
            if transparent:
                transparent -= 1
            stmt = []
        else:
            stmt.append(t)
        i += 1
    return unit


def module_of(rel):
    return os.path.splitext(rel)[0]


def nm_symbols(obj):
    """(defined, undefined) global symbol names of an object file."""
    out = subprocess.run(["nm", "-P", obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind == "U":
            undefined.add(name)
        elif kind in "TDRBVWG" or kind in "tdrb":
            if kind.isupper():
                defined.add(name)
    return defined, undefined


def sccs(nodes, edges):
    """Tarjan's strongly connected components."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--objects", nargs="*", default=[],
                    help="the engine's object files: their symbol tables "
                    "add the calls the compiler saw")
    ap.add_argument("--objects-dir",
                    help="or a build directory to find them in (every "
                    "*.o under a CMake target's .dir)")
    ap.add_argument("--print", action="store_true", dest="show")
    ap.add_argument("--dot", action="store_true")
    args = ap.parse_args()

    engine = os.path.join(os.path.abspath(args.root), "engine")
    include = os.path.join(os.path.abspath(args.root), "include")

    def rel(path):
        return os.path.relpath(path, os.path.abspath(args.root))
    units, by_name, problems = [], {}, []
    for dirpath, _, files in os.walk(engine):
        for fn in sorted(files):
            if not fn.endswith((".c", ".h", ".cu")):
                continue
            path = os.path.join(dirpath, fn)
            rel = os.path.relpath(path, engine)
            unit = scan(path, module_of(rel))
            units.append(unit)
            if fn in by_name:
                problems.append("two engine files are named %s: %s, %s" % (
                    fn, rel(by_name[fn].path), rel(path)))
            by_name[fn] = unit
    modules = {u.module for u in units}

    def alternative(a, b):
        return any(a in s and b in s for s in ALTERNATIVES)

    # who defines what (non-static: what another file can name)
    definer = {}
    all_defs = {}
    for u in units:
        for name, static in u.funcs.items():
            all_defs.setdefault(name, set()).add(u)
            if not static:
                definer.setdefault(name, set()).add(u.module)
        for name in u.objects:
            definer.setdefault(name, set()).add(u.module)

    edges = {m: set() for m in modules}
    why = {}

    def add_edge(a, b, reason):
        if a == b or alternative(a, b):
            return
        edges[a].add(b)
        why.setdefault((a, b), reason)

    for u in units:
        for inc in u.includes:
            cand = os.path.normpath(os.path.join(os.path.dirname(u.path), inc))
            if not os.path.exists(cand):
                cand = os.path.join(engine, inc)
            if os.path.exists(cand) and cand.startswith(engine + os.sep):
                add_edge(u.module, module_of(os.path.relpath(cand, engine)),
                         "%s includes %s" % (os.path.relpath(u.path, engine),
                                             inc))
            elif not os.path.exists(os.path.join(include, inc)):
                problems.append("%s includes \"%s\", found neither in "
                                "engine/ nor include/" % (rel(u.path), inc))
        for name in u.names:
            for m in definer.get(name, ()):
                add_edge(u.module, m, "%s names %s" % (
                    os.path.relpath(u.path, engine), name))

    objs = list(args.objects)
    if args.objects_dir:
        for dirpath, _, files in os.walk(args.objects_dir):
            objs += [os.path.join(dirpath, f) for f in files
                     if f.endswith(".o") and ".dir" in dirpath]
        if not objs:
            problems.append("no object files under %s" % args.objects_dir)
    if objs:
        syms = {}
        for obj in objs:
            src = os.path.basename(obj)[:-2]
            if src not in by_name:
                continue
            syms[obj] = (by_name[src].module,) + nm_symbols(obj)
        sym_def = {}
        for mod, defined, _ in syms.values():
            for s in defined:
                sym_def.setdefault(s, set()).add(mod)
        for mod, _, undefined in syms.values():
            for s in undefined:
                for m in sym_def.get(s, ()):
                    add_edge(mod, m, "object of %s calls %s" % (mod, s))

    # cycles
    for comp in sccs(modules, edges):
        if len(comp) < 2:
            continue
        lines = []
        for a in comp:
            for b in sorted(edges[a]):
                if b in comp:
                    lines.append("    %s -> %s (%s)" % (a, b, why[(a, b)]))
        problems.append("dependency cycle among %s:\n%s" % (
            ", ".join(comp), "\n".join(lines)))

    # prototypes in .c files, declarations in headers
    declared = {}
    for u in units:
        if u.path.endswith(".h"):
            for name, static in u.protos.items():
                if not static:
                    declared.setdefault(name, []).append(u.path)
        else:
            for name, static in u.protos.items():
                if not static:
                    problems.append("%s declares %s(): cross-file "
                                    "functions are declared in a header"
                                    % (rel(u.path), name))
    for u in units:
        if u.path.endswith(".h"):
            continue
        for name, static in sorted(u.funcs.items()):
            if static or name.startswith("daxkv_"):
                continue
            where = declared.get(name, [])
            if len(where) != 1:
                problems.append("%s defines %s(), declared in %s" % (
                    rel(u.path), name,
                    "no engine header" if not where else
                    "%d headers: %s" % (len(where),
                                        ", ".join(map(rel, where)))))

    # one name, one definition
    for name, us in sorted(all_defs.items()):
        mods = sorted({x.module for x in us})
        if len(mods) > 1 and not all(alternative(a, b) for a in mods
                                     for b in mods if a != b):
            problems.append("%s() is defined in %s" % (
                name, ", ".join(sorted(rel(x.path) for x in us))))

    if args.show:
        for m in sorted(modules):
            print("%-20s -> %s" % (m, " ".join(sorted(edges[m])) or "-"))
    if args.dot:
        print("digraph engine {\n\trankdir=BT;")
        for m in sorted(modules):
            for b in sorted(edges[m]):
                print('\t"%s" -> "%s";' % (m, b))
        print("}")
    for p in problems:
        print("depgraph: " + p, file=sys.stderr)
    if problems:
        print("depgraph: %d problem(s)" % len(problems), file=sys.stderr)
        return 1
    if not args.show and not args.dot:
        print("depgraph: %d modules, %d dependencies, no cycle" % (
            len(modules), sum(len(e) for e in edges.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
