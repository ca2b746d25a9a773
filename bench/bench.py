#!/usr/bin/env python3
"""Kiln vs ONNX Runtime and OpenVINO on the CPU, side by side in one run.

For every model (../shared/models, and the larger yolov8s, yolov8m, yolo11s, yolo11m, generated
once into build/bench/scale by ../shared/models/scale/make_scale_models.py): Kiln's cold compile
(empty cache folder), its cache load, its replay latency, ONNX Runtime's latency
(ORT_ENABLE_ALL) and OpenVINO's (CPU plugin, PERFORMANCE_HINT LATENCY, NUM_STREAMS 1) in f32
(INFERENCE_PRECISION_HINT f32) and in its default precision (bf16 on CPUs with AVX512_BF16 or
AMX), all with the same thread count, each in its own process so peak RSS is per engine.
Prints one markdown table per thread count.

The machines here are shared and noisy, so latency is measured in --rounds rounds, each a Kiln
process then one per peer engine, of --iterations runs: a slow spell hits every engine of a
round alike. Each engine's latency is the median of its per-round medians; Kiln/ORT and
Kiln/OV-f32 are medians of the per-round ratios.

Each table also gives this CPU's fp32 FMA peak for its thread count (build/tests/conv_bench
--peak: a kernel Kiln generates; `ninja -C build conv_bench` first) and Kiln's conv throughput
per model as a fraction of it: the model's conv FLOPs (`kiln inspect --json`, 2 x the MACs of
its Conv/ConvInteger/ConvTranspose nodes) over the time of its conv kernels (`kiln run --profile
--json`, launches whose kernel name starts with "conv").

    .venv/bin/python bench/bench.py [--threads 2,1] [--iterations 50] [--rounds 3] [--models yolov8n_fp32_recon,yolov8s,...]

--precision f32,f16 also times Kiln computing in f16 (or bf16) in the same rounds: a second table
gives its latency and its ratios to ORT f32, OpenVINO f32 and OpenVINO's faster setting.

--baseline OTHER_KILN adds a second Kiln build (e.g. the previous commit's) to every round, so a
change's before/after latency is measured in the same run: columns "before ms" and "after/before"
(median of the per-round ratios).
"""
import statistics
import argparse
import json
import lzma
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KILN_SHARED", ROOT.parent / "shared")) / "models"
SCALE_MODELS = ["yolov8s", "yolov8m", "yolo11s", "yolo11m"]
MODELS = ["yolov8n_fp32_recon", "yolov8n-seg_320_fp32_recon", "yolov5n_fp32_cast", "yolov5n_fp16",
          "yolox_nano", "int8/yolov8n_int8_dynamic", "int8/yolov8n_int8_qdq",
          "int8/yolov8n-seg_320_int8_dynamic"] + SCALE_MODELS

# The peers' timing loop, shared: FEEDS (one deterministic input per graph input), then RUN().
TIMING = r"""
for _ in range(warmup):
    RUN()
times = []
for _ in range(iters):
    t = time.perf_counter(); RUN(); times.append((time.perf_counter() - t) * 1e3)
times.sort()
print(json.dumps({"load_ms": load_ms, "median_ms": times[len(times) // 2], "min_ms": times[0],
                  "precision": precision,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

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
precision = ""
RUN = lambda: s.run(None, feeds)
""" + TIMING

# argv[5]: "f32" forces fp32 inference; "" leaves OpenVINO's default (bf16 where the CPU has it).
OV_SCRIPT = r"""
import json, resource, sys, time
import numpy as np, openvino as ov
path, threads, warmup, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
core = ov.Core()
cfg = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
if sys.argv[5]:
    cfg["INFERENCE_PRECISION_HINT"] = sys.argv[5]
t0 = time.perf_counter()
c = core.compile_model(core.read_model(path), "CPU", cfg)
load_ms = (time.perf_counter() - t0) * 1e3
precision = c.get_property("INFERENCE_PRECISION_HINT").get_type_name()
req = c.create_infer_request()
feeds = {}
rng = np.random.default_rng(0)
for i, p in enumerate(c.inputs):
    dt = np.float16 if p.get_element_type() == ov.Type.f16 else np.float32
    feeds[i] = rng.random(list(p.get_shape()), dtype=np.float32).astype(dt)
RUN = lambda: req.infer(feeds)
""" + TIMING


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        lines = p.stderr.strip().splitlines() or [f"exit code {p.returncode}"]
        raise RuntimeError(f"{Path(str(cmd[0])).name}: {lines[-1]}")
    return json.loads(p.stdout)


def model_file(name, work):
    """The .onnx of a model name: unpacked from SHARED, or generated (a scale model)."""
    if name in SCALE_MODELS:
        dst = work / "scale" / (name + ".onnx")
        if not dst.exists():
            subprocess.run([sys.executable, str(SHARED / "scale" / "make_scale_models.py"),
                            str(dst.parent), name], check=True, capture_output=True)
        return dst
    dst = work / (Path(name).name + ".onnx")
    if not dst.exists():
        dst.write_bytes(lzma.decompress((SHARED / (name + ".onnx.xz")).read_bytes()))
    return dst


def has_openvino():
    return subprocess.run([sys.executable, "-c", "import openvino"], capture_output=True).returncode == 0


def peer(script, model, threads, args, *extra):
    """One peer process's timing, or None (and the error kept) when the engine cannot run it."""
    try:
        return run_json([sys.executable, "-c", script, model, str(threads), str(args.warmup),
                         str(args.iterations), *extra])
    except RuntimeError as e:
        return {"error": str(e)}


def conv_stats(kiln, model, cache_args):
    """(conv GFLOP of the model, ms per run in its conv kernels) from inspect and a profile."""
    layers = run_json([kiln, "inspect", model, "--json"])["layers"]
    gflop = 2e-9 * sum(l["macs"] for l in layers if l["op"].startswith("Conv"))
    prof = run_json([kiln, "run", model, "--target", "cpu", "--warmup", "2", "--iterations", "10",
                     "--profile", "--json"] + cache_args)["profile"]
    return gflop, sum(p["ms"] for p in prof if p["kernel"].startswith("conv"))


def bench_model(kiln, name, work, threads, args):
    model = model_file(name, work)
    row = {"model": Path(name).name}
    with tempfile.TemporaryDirectory() as cache:
        cache_args = ["--cache-dir", cache, "--threads", str(threads)]
        kiln_run = ["run", model, "--target", "cpu", "--json"] + cache_args
        if args.main_precision != "f32":
            kiln_run += ["--precision", args.main_precision]
        # Cold: empty cache folder, so this compiles (and writes the cache file).
        cold = run_json([kiln] + kiln_run + ["--warmup", "0", "--iterations", "1"])
        row["compile_s"] = cold.get("compile_ms", float("nan")) / 1e3
        if args.baseline:  # its own cache entry: another build has another compiler identity
            run_json([args.baseline] + kiln_run + ["--warmup", "0", "--iterations", "1"])
        for p in args.extra_precisions:  # compiled once here, timed warm in the rounds
            run_json([kiln] + kiln_run + ["--precision", p, "--warmup", "0", "--iterations", "1"])
        low = ["kiln_" + p for p in args.extra_precisions]
        times = {k: [] for k in ["kiln", "ort", "ovf32", "ovdef", "base"] + low}
        ratios = {k: [] for k in ("ort", "ovf32", "base")}
        low_ratios = {(k, peer_k): [] for k in low for peer_k in ("ort", "ovf32", "ovbest")}
        rss = {"kiln": 0, "ort": 0, "ovf32": 0}
        row["errors"] = {}
        timed = ["--warmup", str(args.warmup), "--iterations", str(args.iterations)]
        for _ in range(args.rounds):
            # Warm: a new process finds the cache file; this is the replay latency.
            res = {"kiln": run_json([kiln] + kiln_run + timed),
                   "ort": peer(ORT_SCRIPT, model, threads, args)}
            if args.openvino:
                res["ovf32"] = peer(OV_SCRIPT, model, threads, args, "f32")
                res["ovdef"] = peer(OV_SCRIPT, model, threads, args, "")
            if args.baseline:
                res["base"] = run_json([args.baseline] + kiln_run + timed)
            for p, k in zip(args.extra_precisions, low):
                res[k] = run_json([kiln] + kiln_run + ["--precision", p] + timed)
            for k in low:  # a low-precision Kiln against ORT f32, OV f32 and OV's faster setting
                if "error" in res[k]:
                    continue
                for peer_k in ("ort", "ovf32"):
                    if peer_k in res and "error" not in res[peer_k]:
                        low_ratios[(k, peer_k)].append(res[k]["median_ms"] / res[peer_k]["median_ms"])
                ov = [res[q]["median_ms"] for q in ("ovf32", "ovdef") if q in res and "error" not in res[q]]
                if ov:
                    low_ratios[(k, "ovbest")].append(res[k]["median_ms"] / min(ov))
            for k, r in res.items():
                if "error" in r:
                    row["errors"][k] = r["error"]
                    continue
                times[k].append(r["median_ms"])
                if k in ratios:
                    ratios[k].append(res["kiln"]["median_ms"] / r["median_ms"])
                if k in rss:
                    rss[k] = max(rss[k], r["peak_rss_bytes"] / 2**20)
                if k == "ovdef":
                    row["ov_precision"] = r["precision"]
                if k == "ort":
                    row["ort_load_ms"] = r["load_ms"]
        warm = res["kiln"]
        row["load_ms"] = warm.get("load_ms", float("nan"))
        # What a user waits for before the first run: read + hash the model (+ import when the
        # cache folder has no index for it) + load the schedule.
        row["start_ms"] = row["load_ms"] + warm.get("import_ms", float("nan"))
        row["kernels"] = warm.get("kernels", 0)
        row["conv_gflop"], row["conv_ms"] = conv_stats(kiln, model, cache_args)
    med = lambda v: statistics.median(v) if v else float("nan")
    for k, v in times.items():
        row[k + "_ms"] = med(v)
    for k, v in ratios.items():
        row[k + "_ratio"] = med(v)
    for (k, peer_k), v in low_ratios.items():
        row[f"{k}_{peer_k}_ratio"] = med(v)
    row.update({k + "_rss": v for k, v in rss.items()})
    return row


def fmt(v, spec):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def peak_gflops(kiln, threads):
    conv_bench = Path(kiln).resolve().parent / "tests" / "conv_bench"
    if not conv_bench.exists():
        print(f"(no {conv_bench}: `ninja -C build conv_bench` for the FMA peak)", file=sys.stderr)
        return float("nan")
    return run_json([conv_bench, "--peak", "--json", "--threads", str(threads)])["peak_gflops"]


def print_table(rows, threads, peak, args):
    print(f"\n### {threads} thread{'s' if threads > 1 else ''}: fp32 FMA peak {fmt(peak, '.0f')} "
          f"GFLOP/s (Kiln-generated, conv_bench --peak)\n")
    base_head = " before ms | after/before |" if args.baseline else ""
    ov_prec = next((r["ov_precision"] for r in rows if r.get("ov_precision")), "default")
    print(f"| model | Kiln ms | ORT ms | OV f32 ms | OV {ov_prec} ms | Kiln/ORT | Kiln/OV-f32 |"
          + base_head + " Kiln conv GFLOP/s | conv % of peak | Kiln kernels | Kiln cold compile s "
          "| Kiln cache load ms | Kiln cached start ms | ORT session ms | Kiln peak RSS MiB "
          "| ORT peak RSS MiB | OV f32 peak RSS MiB |")
    print("|---|" + "---:|" * (6 + (2 if args.baseline else 0) + 10))
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | error: {r['error']} |")
            continue
        conv = r["conv_gflop"] / r["conv_ms"] * 1e3 if r["conv_ms"] > 0 else float("nan")
        base = f" {fmt(r['base_ms'], '.1f')} | {fmt(r['base_ratio'], '.2f')}x |" if args.baseline else ""
        print(f"| {r['model']} | {r['kiln_ms']:.1f} | {fmt(r['ort_ms'], '.1f')} "
              f"| {fmt(r['ovf32_ms'], '.1f')} | {fmt(r['ovdef_ms'], '.1f')} "
              f"| {fmt(r['ort_ratio'], '.2f')}x | {fmt(r['ovf32_ratio'], '.2f')}x |{base}"
              f" {fmt(conv, '.1f')} | {fmt(100 * conv / peak, '.0f')}% "
              f"| {r['kernels']} | {r['compile_s']:.2f} | {r['load_ms']:.1f} | {r['start_ms']:.1f} "
              f"| {fmt(r.get('ort_load_ms'), '.0f')} | {r['kiln_rss']:.0f} | {r['ort_rss']:.0f} "
              f"| {r['ovf32_rss']:.0f} |")
    if args.extra_precisions:
        print("\nKiln in lower precisions (`--precision`), against the f32 peers and OpenVINO's "
              "faster setting, medians of the per-round ratios:\n")
        print("| model | precision | Kiln ms | vs Kiln f32 | /ORT f32 | /OV f32 | /OV best |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for r in rows:
            if "error" in r:
                continue
            for p in args.extra_precisions:
                k = "kiln_" + p
                print(f"| {r['model']} | {p} | {fmt(r[k + '_ms'], '.1f')} "
                      f"| {fmt(r[k + '_ms'] / r['kiln_ms'], '.2f')}x "
                      f"| {fmt(r[k + '_ort_ratio'], '.2f')}x | {fmt(r[k + '_ovf32_ratio'], '.2f')}x "
                      f"| {fmt(r[k + '_ovbest_ratio'], '.2f')}x |")
    for r in rows:
        for engine, e in sorted(r.get("errors", {}).items()):
            print(f"\n{r['model']}: {engine} failed: {e[:200]}")


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=str(ROOT / "build" / "kiln"))
    ap.add_argument("--threads", default="2", help="thread counts, e.g. 2,1: one table each")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--precision", default="f32",
                    help="Kiln precisions, e.g. f32,f16: the first fills the main table, the "
                         "others get a table of their own against the same peer rounds")
    ap.add_argument("--baseline", default="",
                    help="another kiln executable timed in the same rounds (before/after)")
    args = ap.parse_args()
    precisions = [p for p in args.precision.split(",") if p]
    args.main_precision, args.extra_precisions = precisions[0], precisions[1:]
    try:
        thread_counts = [int(t) for t in args.threads.split(",")]
    except ValueError:
        sys.exit(f"bench: --threads wants a list of numbers such as 2,1, not '{args.threads}'")
    if not SHARED.exists():
        sys.exit(f"bench: {SHARED} not found")
    args.openvino = has_openvino()
    if not args.openvino:
        print("bench: openvino is not installed (scripts/setup.sh installs it): no OV columns",
              file=sys.stderr)
    work = ROOT / "build" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; threads {args.threads}, "
          f"{args.rounds} rounds of {args.iterations} runs after {args.warmup} warm-up per engine",
          flush=True)
    for threads in thread_counts:
        peak = peak_gflops(args.kiln, threads)
        rows = []
        for name in args.models.split(","):
            t = time.time()
            print(f"  {threads} thread(s): {name} ...", end="", file=sys.stderr, flush=True)
            try:
                rows.append(bench_model(args.kiln, name, work, threads, args))
            except (RuntimeError, KeyError, subprocess.CalledProcessError) as e:
                rows.append({"model": Path(name).name, "error": str(e).splitlines()[0][:120]})
            print(f" {time.time() - t:.0f} s", file=sys.stderr, flush=True)
        print_table(rows, threads, peak, args)


if __name__ == "__main__":
    main()
