#!/usr/bin/env python3
"""The include rules of docs/DESIGN.md, checked on every source file.

1. Layers: a folder includes only its own files and the layers below it
   (ir < ir/reference < frontend, passes < codegen < runtime < tools).
2. No circles: a module (X.h and X.cpp together) never reaches itself through includes,
   directly or through a chain of other modules.

    scripts/check_layers.py [ROOT]      exit 1 and one line per violation when broken
"""
import re
import sys
from pathlib import Path

# The layers, lowest first, and what each may include (besides itself).
LAYERS = {
    "ir": [],
    "ir/reference": ["ir"],
    "ir/shape": ["ir"],
    "frontend": ["ir", "ir/reference"],
    "passes": ["ir", "ir/reference"],
    "codegen": ["ir"],
    "codegen/llvm": ["ir", "codegen"],
    "codegen/opencl": ["ir", "codegen"],
    "runtime": ["ir", "ir/reference", "frontend", "passes", "codegen", "codegen/llvm",
                "codegen/opencl", "runtime/include/kiln"],
    "runtime/include/kiln": [],
    "tools": ["ir", "ir/reference", "frontend", "passes", "codegen", "runtime",
              "runtime/include/kiln"],
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel: str) -> str:
    folder = str(Path(rel).parent)
    return folder


def resolve(root: Path, src: Path, name: str):
    """The repository-relative path a quoted include names, or None (a system header)."""
    for base in (root, root / "runtime" / "include", src.parent):
        p = base / name
        if p.is_file():
            return p.resolve().relative_to(root).as_posix()
    return None


def module(rel: str) -> str:
    return rel.rsplit(".", 1)[0]


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]).resolve()
    files = [p for layer in LAYERS for p in sorted((root / layer).glob("*"))
             if p.suffix in (".h", ".cpp", ".def")]
    problems = []
    edges = {}  # module -> {module: (file, include) that makes the edge}
    for p in files:
        rel = p.relative_to(root).as_posix()
        here = layer_of(rel)
        for name in INCLUDE.findall(p.read_text(errors="replace")):
            target = resolve(root, p, name)
            if target is None:
                continue
            there = layer_of(target)
            if there != here and there not in LAYERS.get(here, []):
                problems.append(f"{rel}: includes {target}: layer '{here}' may not include '{there}'")
            a, b = module(rel), module(target)
            if a != b:
                edges.setdefault(a, {}).setdefault(b, (rel, target))
    # Circles: Tarjan's strongly connected components over modules.
    index, low, on_stack, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    for comp in sccs:
        members = set(comp)
        links = [f"{f} -> {t}" for a in comp for b, (f, t) in sorted(edges.get(a, {}).items())
                 if b in members]
        problems.append(f"include circle among {', '.join(comp)}: {'; '.join(links)}")
    for line in problems:
        print(f"check_layers: {line}")
    if not problems:
        print(f"check_layers: {len(files)} files, {sum(len(e) for e in edges.values())} module "
              f"includes: layered, no circles")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
