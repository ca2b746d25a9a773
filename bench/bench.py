#!/usr/bin/env python3
"""Kiln vs ONNX Runtime on the CPU, side by side in one run.

For every model in ../shared/models: Kiln's cold compile (empty cache folder), its cache load,
its replay latency, and ONNX Runtime's latency (ORT_ENABLE_ALL), both with the same thread
count, each in its own process so peak RSS is per engine. Prints a markdown table.

The machines here are shared and noisy, so latency is measured in --rounds rounds, each a Kiln
process then an ONNX Runtime process of --iterations runs: a slow spell hits both engines of a
round alike. Each engine's latency is the median of its per-round medians; Kiln/ORT is the
median of the per-round ratios.

    .venv/bin/python bench/bench.py [--threads 2] [--iterations 50] [--rounds 3] [--models yolov8n_fp32_recon,...]

--baseline OTHER_KILN adds a second Kiln build (e.g. the previous commit's) to every round, so a
change's before/after latency is measured in the same run: columns "before ms" and "after/before"
(median of the per-round ratios).
"""
import statistics
import argparse
import json
import lzma
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KILN_SHARED", ROOT.parent / "shared")) / "models"
MODELS = ["yolov8n_fp32_recon", "yolov8n-seg_320_fp32_recon", "yolov5n_fp32_cast", "yolov5n_fp16",
          "yolox_nano", "int8/yolov8n_int8_dynamic", "int8/yolov8n_int8_qdq",
          "int8/yolov8n-seg_320_int8_dynamic"]

ORT_SCRIPT = r"""
import json, resource, sys, time
import numpy as np, onnxruntime as ort
path, threads, warmup, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
t0 = time.perf_counter()
s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
load_ms = (time.perf_counter() - t0) * 1e3
feeds = {}
rng = np.random.default_rng(0)
for i in s.get_inputs():
    dt = np.float16 if "float16" in i.type else np.float32
    feeds[i.name] = rng.random(i.shape, dtype=np.float32).astype(dt)
for _ in range(warmup):
    s.run(None, feeds)
times = []
for _ in range(iters):
    t = time.perf_counter(); s.run(None, feeds); times.append((time.perf_counter() - t) * 1e3)
times.sort()
print(json.dumps({"load_ms": load_ms, "median_ms": times[len(times) // 2], "min_ms": times[0],
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def unpack(name, work):
    dst = work / (Path(name).name + ".onnx")
    if not dst.exists():
        dst.write_bytes(lzma.decompress((SHARED / (name + ".onnx.xz")).read_bytes()))
    return dst


def bench_model(kiln, name, work, args):
    model = unpack(name, work)
    row = {"model": Path(name).name}
    with tempfile.TemporaryDirectory() as cache:
        cache_args = ["--cache-dir", cache, "--threads", str(args.threads)]
        # Cold: empty cache folder, so this compiles (and writes the cache file).
        cold = run_json([kiln, "run", model, "--target", "cpu", "--warmup", "0", "--iterations", "1",
                         "--json"] + cache_args)
        row["compile_s"] = cold.get("compile_ms", float("nan")) / 1e3
        if args.baseline:  # its own cache entry: another build has another compiler identity
            run_json([args.baseline, "run", model, "--target", "cpu", "--warmup", "0",
                      "--iterations", "1", "--json"] + cache_args)
        kiln_ms, ort_ms, ratios, base_ms, base_ratios = [], [], [], [], []
        row["kiln_rss"] = row["ort_rss"] = 0
        for _ in range(args.rounds):
            # Warm: a new process finds the cache file; this is the replay latency.
            warm = run_json([kiln, "run", model, "--target", "cpu", "--warmup", str(args.warmup),
                             "--iterations", str(args.iterations), "--json"] + cache_args)
            ort = run_json([sys.executable, "-c", ORT_SCRIPT, model, str(args.threads),
                            str(args.warmup), str(args.iterations)])
            if args.baseline:
                base = run_json([args.baseline, "run", model, "--target", "cpu", "--warmup",
                                 str(args.warmup), "--iterations", str(args.iterations), "--json"]
                                + cache_args)
                base_ms.append(base["median_ms"])
                base_ratios.append(warm["median_ms"] / base["median_ms"])
            kiln_ms.append(warm["median_ms"])
            ort_ms.append(ort["median_ms"])
            ratios.append(warm["median_ms"] / ort["median_ms"])
            row["kiln_rss"] = max(row["kiln_rss"], warm.get("peak_rss_bytes", 0) / 2**20)
            row["ort_rss"] = max(row["ort_rss"], ort["peak_rss_bytes"] / 2**20)
        row["load_ms"] = warm.get("load_ms", float("nan"))
        # What a user waits for before the first run: read + hash the model (+ import when the
        # cache folder has no index for it) + load the schedule.
        row["start_ms"] = row["load_ms"] + warm.get("import_ms", float("nan"))
        row["kernels"] = warm.get("kernels", 0)
    row["kiln_ms"] = statistics.median(kiln_ms)
    row["ort_ms"] = statistics.median(ort_ms)
    row["ratio"] = statistics.median(ratios)
    row["ort_load_ms"] = ort["load_ms"]
    if args.baseline:
        row["base_ms"] = statistics.median(base_ms)
        row["base_ratio"] = statistics.median(base_ratios)
    return row


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=str(ROOT / "build" / "kiln"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--baseline", default="",
                    help="another kiln executable timed in the same rounds (before/after)")
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"bench: {SHARED} not found")
    work = ROOT / "build" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; threads {args.threads}, "
          f"{args.rounds} rounds of {args.iterations} runs after {args.warmup} warm-up per engine",
          flush=True)
    rows = []
    for name in args.models.split(","):
        t = time.time()
        print(f"  {name} ...", end="", file=sys.stderr, flush=True)
        try:
            rows.append(bench_model(args.kiln, name, work, args))
        except (RuntimeError, KeyError) as e:
            rows.append({"model": Path(name).name, "error": str(e).splitlines()[0][:120]})
        print(f" {time.time() - t:.0f} s", file=sys.stderr, flush=True)
    print()
    base_head = " before ms | after/before |" if args.baseline else ""
    print("| model | Kiln ms | ORT ms | Kiln/ORT |" + base_head + " Kiln kernels | Kiln cold compile s "
          "| Kiln cache load ms | Kiln cached start ms | ORT session ms | Kiln peak RSS MiB "
          "| ORT peak RSS MiB |")
    print("|---|---:|---:|---:|" + ("---:|---:|" if args.baseline else "") +
          "---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | error: {r['error']} |")
            continue
        base = f" {r['base_ms']:.1f} | {r['base_ratio']:.2f}x |" if args.baseline else ""
        print(f"| {r['model']} | {r['kiln_ms']:.1f} | {r['ort_ms']:.1f} | {r['ratio']:.2f}x |{base}"
              f" {r['kernels']} | {r['compile_s']:.2f} | {r['load_ms']:.1f} | {r['start_ms']:.1f} "
              f"| {r['ort_load_ms']:.0f} | {r['kiln_rss']:.0f} | {r['ort_rss']:.0f} |")


if __name__ == "__main__":
    main()
