#!/usr/bin/env python3
"""Cached start of two or more kiln binaries side by side: what a user waits for before the
first inference when the cache folder already holds the model's schedule.

    bench/start_bench.py --kiln before=/path/to/old/kiln --kiln after=build/kiln \
        MODEL.onnx [MODEL.onnx ...] [--rounds 7] [--threads 2]

Each binary gets its own warmed cache folder (cache formats differ between versions); then in
every round each binary runs each model once (`kiln run --json --iterations 1`), interleaved,
so a slow spell of a shared machine hits all of them alike. Reported per model and binary, the
medians over rounds of: "open ms" (reading and hashing the model file and the tuning database: run --json's
import_ms when the cache folder's index spares the import), "load ms" (mapping, checking and
linking the .kiln file), their sum "cached start ms", and the whole process's wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def run(kiln: str, model: str, cache: Path, threads: int) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([kiln, "run", model, "--json", "--iterations", "1", "--threads",
                           str(threads), "--cache-dir", str(cache)], capture_output=True, text=True)
    wall = (time.perf_counter() - t0) * 1e3
    if proc.returncode != 0:
        raise SystemExit(f"{kiln} run {model}: {proc.stderr.strip()}")
    j = json.loads(proc.stdout)
    j["wall_ms"] = wall
    return j


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--kiln", action="append", required=True, help="NAME=PATH, repeatable")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    bins = [k.split("=", 1) for k in a.kiln]
    with tempfile.TemporaryDirectory(prefix="kiln-start-") as tmp:
        caches = {name: Path(tmp) / name for name, _ in bins}
        for model in a.models:
            for name, path in bins:
                first = run(path, model, caches[name], a.threads)
                print(f"warm-up {name} {Path(model).name}: cache {first['cache']}", flush=True)
        res = {(m, n): [] for m in a.models for n, _ in bins}
        for r in range(a.rounds):
            for model in a.models:
                for name, path in bins:
                    j = run(path, model, caches[name], a.threads)
                    if j["cache"] != "hit" or j.get("imported"):
                        raise SystemExit(f"{name} {model}: expected a cache hit without import, "
                                         f"got cache {j['cache']}, imported {j.get('imported')}")
                    res[(model, name)].append(j)
            print(f"round {r + 1}/{a.rounds}", flush=True)
    med = lambda v: statistics.median(v)
    print("\n| model | kiln | open ms | load ms | cached start ms | process wall ms |")
    print("|---|---|---:|---:|---:|---:|")
    for model in a.models:
        for name, _ in bins:
            v = res[(model, name)]
            h, ld = med([j["import_ms"] for j in v]), med([j["load_ms"] for j in v])
            print(f"| {Path(model).name} | {name} | {h:.2f} | {ld:.2f} | "
                  f"{med([j['import_ms'] + j['load_ms'] for j in v]):.2f} | "
                  f"{med([j['wall_ms'] for j in v]):.0f} |")


if __name__ == "__main__":
    main()
