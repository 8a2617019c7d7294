#!/usr/bin/env python3
"""Finds import cycles between the modules of each crate in the workspace.

A module `a` depends on a module `b` when a `use` path in `a`, or a path
written in its code, names an item of `b` (`crate::b::…`, `super::b::…`,
`self::b::…`, or a child declared by `a`).
A module's imports from its own ancestors (`super::Thing`, `crate::Thing`
defined in lib.rs) are not counted: a parent module is its children's
context, as Rust's module tree makes it. Every other edge counts, so siblings
importing each other, or a subtree importing from one that imports it back,
is a cycle. `pub use` re-exports are followed to the module that defines the
item.
Prints each cycle and exits 1 if there is one; run by scripts/lint.sh.

    scripts/import-cycles.py            # every crate under crates/, miredo/, mip6d/
    scripts/import-cycles.py mip6d      # one crate
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
USE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.M)
PUB_USE = re.compile(r"^\s*pub(?:\([^)]*\))?\s+use\s+([^;]+);", re.M)
MOD = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
INLINE = re.compile(r"\b((?:crate|super|self)(?:::\w+)+)")
CFG_TEST = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def module_files(src):
    """Maps module paths (tuples) to files, following `mod x;` from lib.rs/main.rs."""
    mods = {}
    roots = [p for p in (src / "lib.rs", src / "main.rs") if p.exists()]
    todo = [((), roots[0])] if roots else []
    while todo:
        path, file = todo.pop()
        if path in mods:
            continue
        mods[path] = file
        text = file.read_text()
        tests = set(CFG_TEST.findall(text))
        here = file.parent if file.name in ("lib.rs", "main.rs", "mod.rs") else file.with_suffix("")
        for name in MOD.findall(text):
            if name in tests:
                continue  # unit tests may import anything they test
            for cand in (here / f"{name}.rs", here / name / "mod.rs"):
                if cand.exists():
                    todo.append((path + (name,), cand))
                    break
    return mods


def expand(tree):
    """`a::{b, c::d as e}` → ["a::b", "a::c::d@e"] (no nesting depth limit)."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", tree))
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.groups()
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [p for part in parts if part for p in expand(prefix + part)]


def resolve(path, segments, mods, reexports=None, depth=0):
    """The module that defines what a use path (relative to module `path`)
    names: the deepest module on the path, followed through that module's own
    `pub use` of the item (a facade re-exporting a child's type is not where
    the type lives)."""
    if not segments:
        return None
    head, rest = segments[0], segments[1:]
    if head == "crate":
        base = ()
    elif head == "self":
        base = path
    elif head == "super":
        base = path
        while segments and segments[0] == "super":
            base = base[:-1]
            segments = segments[1:]
        rest = segments
    elif path + (head,) in mods:
        base, rest = path + (head,), rest
    else:
        return None  # an external crate or a std path
    best = base
    left = list(rest)
    while left and best + (left[0],) in mods:
        best = best + (left.pop(0),)
    if reexports and left and depth < 8:
        via = reexports.get(best, {}).get(left[0])
        if via is not None:
            owner, segs = via
            found = resolve(owner, segs, mods, reexports, depth + 1)
            if found is not None:
                return found
    return best


def cycles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def crate_cycles(crate):
    src = crate / "src"
    mods = module_files(src)
    reexports = {}
    for path, file in mods.items():
        names = {}
        for tree in PUB_USE.findall(file.read_text()):
            for full in expand(tree):
                target, _, alias = full.partition("@")
                segs = target.split("::")
                names[alias or segs[-1]] = (path, segs)
        reexports[path] = names
    graph = {}
    for path, file in mods.items():
        deps = set()
        text = file.read_text()
        code = "\n".join(line.split("//")[0] for line in text.splitlines())
        paths = [full for tree in USE.findall(code) for full in expand(tree)]
        paths += INLINE.findall(code)
        for full in paths:
            target = resolve(path, full.partition("@")[0].split("::"), mods, reexports)
            if target is not None and target != path[: len(target)]:
                deps.add(target)
        graph[path] = deps
    return [[str(mods[m].relative_to(ROOT)) for m in comp] for comp in cycles(graph)]


def main():
    names = sys.argv[1:]
    crates = [ROOT / n for n in names] or sorted(
        [p for p in (ROOT / "crates").iterdir() if (p / "src").is_dir()]
        + [ROOT / "miredo", ROOT / "mip6d"]
    )
    found = 0
    for crate in crates:
        for comp in crate_cycles(crate):
            found += 1
            print("import cycle: " + " <-> ".join(comp))
    if found:
        sys.exit(1)
    print(f"import-cycles: none in {len(crates)} crates")


if __name__ == "__main__":
    main()
