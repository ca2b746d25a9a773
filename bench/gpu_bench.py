#!/usr/bin/env python3
"""Kiln OpenCL vs PyTorch (eager and CUDA graphs) on one GPU, side by side in one run.

    gpu_bench.py MODEL.onnx[.xz]... --kiln KILN [--device SPEC] [--iterations 100] [--json OUT]

For every model, batch 1, medians of N runs after 10 warm-ups:
* Kiln: `kiln run MODEL --target opencl --warmup 10 --iterations N --json` in a fresh cache
  folder (a cold compile: `compile_ms`), then once more in that folder (a cache hit: the start
  is `import_ms + load_ms`: reading and hashing the model, loading the .kiln file, building
  nothing but binding the cached program). Two latencies: one Session::run (input upload, every
  kernel enqueued on an in-order queue, output read back, one clFinish: "host") and
  Session::run_on_device (the same launches with the input already on the device and the output
  left there: "resident").
* PyTorch: the same ONNX graph executed op by op with torch functions on the GPU (a small
  interpreter below; no torch.compile), fp32 with TF32 off (Kiln computes in fp32; TF32 would
  also compare worse against ONNX Runtime). Eager host-in/host-out, eager resident, and the
  resident run captured once as a CUDA graph and replayed.
Kiln's outputs are compared with PyTorch's so a wrong runner cannot win. Prints a markdown
table; --json writes every number.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def unpack(model: Path, work: Path) -> Path:
    if model.suffix != ".xz":
        return model
    dest = work / model.name[:-3]
    with lzma.open(model) as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return dest


# ---- PyTorch eager runner: one torch call per ONNX node ----

class TorchRunner:
    def __init__(self, model: onnx.ModelProto, device: str):
        import torch
        self.torch = torch
        self.dev = device
        self.graph = model.graph
        self.consts = {}
        for t in self.graph.initializer:
            self.consts[t.name] = torch.from_numpy(numpy_helper.to_array(t).copy()).to(device)
        self.attrs = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
                      for n in self.graph.node]

        # Host-side values (shapes, axes, scales) are read once and remembered by tensor name,
        # so a run makes no device-to-host copy and can be captured as a CUDA graph.
        self.host_ints = {}
        self.constant_out = {}
        for n, at in zip(self.graph.node, self.attrs):
            if n.op_type == "Constant":
                self.constant_out[n.output[0]] = torch.from_numpy(
                    numpy_helper.to_array(at["value"]).copy()).to(device)

    def ints(self, name, t):
        if name not in self.host_ints:
            self.host_ints[name] = [int(v) for v in t.detach().cpu().flatten().tolist()]
        return self.host_ints[name]

    def floats(self, name, t):
        if name not in self.host_ints:
            self.host_ints[name] = [float(v) for v in t.detach().cpu().flatten().tolist()]
        return self.host_ints[name]

    def run(self, feeds: dict):
        torch, F = self.torch, self.torch.nn.functional
        env = dict(self.consts)
        env.update(feeds)
        for n, at in zip(self.graph.node, self.attrs):
            x = [env[i] if i else None for i in n.input]
            op = n.op_type
            if op == "Conv":
                pads = at.get("pads", [0, 0, 0, 0])
                assert pads[0] == pads[2] and pads[1] == pads[3], "asymmetric conv padding"
                y = [F.conv2d(x[0], x[1], x[2] if len(x) > 2 else None, at.get("strides", 1),
                              pads[:2], at.get("dilations", 1), at.get("group", 1))]
            elif op == "Sigmoid":
                y = [torch.sigmoid(x[0])]
            elif op in ("Mul", "Add", "Sub", "Div", "Pow"):
                f = {"Mul": torch.mul, "Add": torch.add, "Sub": torch.sub, "Div": torch.div,
                     "Pow": torch.pow}[op]
                y = [f(x[0], x[1])]
            elif op == "Concat":
                y = [torch.cat(x, dim=at["axis"])]
            elif op == "Split":
                sizes = self.ints(n.input[1], x[1]) if len(x) > 1 and x[1] is not None \
                    else at.get("split")
                if sizes is None:
                    sizes = x[0].shape[at.get("axis", 0)] // len(n.output)
                y = list(torch.split(x[0], sizes, dim=at.get("axis", 0)))
            elif op == "MaxPool":
                p = at.get("pads", [0, 0, 0, 0])
                y = [F.max_pool2d(x[0], at["kernel_shape"], at.get("strides", 1), p[:2],
                                  at.get("dilations", 1), bool(at.get("ceil_mode", 0)))]
            elif op == "Resize":
                scales = self.floats(n.input[2], x[2]) if len(x) > 2 and x[2] is not None \
                    and x[2].numel() else None
                assert at.get("mode", b"nearest") == b"nearest" and scales, "Resize form"
                y = [F.interpolate(x[0], scale_factor=scales[2:], mode="nearest")]
            elif op == "Reshape":
                shape = self.ints(n.input[1], x[1])
                shape = [x[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
                y = [x[0].reshape(shape)]
            elif op == "Transpose":
                y = [x[0].permute(*at["perm"])]
            elif op == "Softmax":
                y = [torch.softmax(x[0], dim=at.get("axis", -1))]
            elif op == "Slice":
                starts, ends = self.ints(n.input[1], x[1]), self.ints(n.input[2], x[2])
                axes = self.ints(n.input[3], x[3])
                steps = self.ints(n.input[4], x[4]) if len(x) > 4 else [1] * len(starts)
                idx = [slice(None)] * x[0].dim()
                for s, e, a, st in zip(starts, ends, axes, steps):
                    idx[a] = slice(s, min(e, x[0].shape[a]), st)
                y = [x[0][tuple(idx)]]
            elif op == "Constant":
                y = [self.constant_out[n.output[0]]]
            else:
                raise NotImplementedError(f"PyTorch runner: op {op}")
            for name, v in zip(n.output, y):
                env[name] = v
        return [env[o.name] for o in self.graph.output]


def median_ms(fn, iters: int) -> float:
    for _ in range(10):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def time_torch(runner, x: np.ndarray, name: str, iters: int):
    torch = runner.torch
    xd = torch.from_numpy(x).to(runner.dev)
    host = x.copy()

    def host_to_host():
        outs = runner.run({name: torch.from_numpy(host).to(runner.dev)})
        return [o.cpu() for o in outs]

    def resident():
        outs = runner.run({name: xd})
        torch.cuda.synchronize()
        return outs

    res = {}
    with torch.inference_mode():
        res["host"] = median_ms(host_to_host, iters)
        res["resident"] = median_ms(resident, iters)
        out = [o.numpy() for o in host_to_host()]
        res["graph"], res["graph_vs_eager"] = float("nan"), float("nan")
        try:
            res.update(time_cuda_graph(runner, xd, name, iters, out))
        except Exception as e:  # noqa: BLE001 - reported, the eager numbers still stand
            print(f"  CUDA graph capture failed: {type(e).__name__}: {e}", file=sys.stderr)
    return res, out


def time_cuda_graph(runner, xd, name: str, iters: int, eager_out) -> dict:
    """The resident run captured once as a CUDA graph (static input and outputs), replayed."""
    torch = runner.torch
    res = {}
    with torch.inference_mode():
        static_x = xd.clone()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                runner.run({name: static_x})
        torch.cuda.current_stream().wait_stream(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = runner.run({name: static_x})

        def replay():
            graph.replay()
            torch.cuda.synchronize()

        res["graph"] = median_ms(replay, iters)
        graph_out = [o.cpu().numpy() for o in static_out]
        res["graph_vs_eager"] = max(float(np.max(np.abs(a - b)))
                                    for a, b in zip(graph_out, eager_out))
    return res


def run_kiln(args, model_file: Path, x_file: Path, in_name: str, cache: Path, out_dir: Path,
             iters: int) -> dict:
    cmd = [str(args.kiln), "run", str(model_file), "--target", "opencl", "--warmup", "10",
           "--iterations", str(iters), "--json", "--input", f"{in_name}={x_file}",
           "--output-dir", str(out_dir)]
    if args.device:
        cmd += ["--device", args.device]
    env = dict(os.environ, KILN_CACHE_DIR=str(cache))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"kiln failed on {model_file.name}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def bench_model(args, model_path: Path, work: Path) -> dict:
    import torch
    model_file = unpack(model_path, work)
    model = onnx.load(str(model_file))
    inp = model.graph.input[0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    x_file = work / f"{model_file.stem}.x.npy"
    np.save(x_file, x)
    cache = work / f"{model_file.stem}.cache"
    out_dir = work / f"{model_file.stem}.out"
    cold = run_kiln(args, model_file, x_file, inp.name, cache, out_dir, args.iterations)
    hit = run_kiln(args, model_file, x_file, inp.name, cache, out_dir, 10)
    if cold["cache"] != "miss" or hit["cache"] != "hit":
        raise RuntimeError(f"{model_file.name}: expected a cache miss then a hit, got "
                           f"{cold['cache']} then {hit['cache']}")
    kiln_out = [np.load(o["file"]) for o in cold["outputs"]]

    runner = TorchRunner(model, "cuda")
    t, torch_out = time_torch(runner, x, inp.name, args.iterations)
    err = max(float(np.max(np.abs(a - b))) for a, b in zip(kiln_out, torch_out))
    scale = max(float(np.max(np.abs(b))) for b in torch_out)
    return {"model": model_file.name, "input": shape, "kiln_host_ms": cold["median_ms"],
            "kiln_host_p90_ms": cold["p90_ms"], "kiln_resident_ms": cold["resident_median_ms"],
            "kiln_kernels": cold["kernels"], "kiln_compile_s": cold["compile_ms"] / 1e3,
            "kiln_cached_start_ms": hit["import_ms"] + hit["load_ms"],
            "kiln_load_ms": hit["load_ms"], "torch_eager_host_ms": t["host"],
            "torch_eager_resident_ms": t["resident"], "torch_cuda_graph_ms": t["graph"],
            "torch_graph_vs_eager": t["graph_vs_eager"], "max_abs_diff": err,
            "output_scale": scale, "target": cold["host_target"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--kiln", type=Path, required=True)
    ap.add_argument("--device", default="", help="kiln --device (default: the first GPU)")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    work = Path(tempfile.mkdtemp(prefix="gpu_bench_"))
    rows = []
    for i, m in enumerate(args.models):
        print(f"[{i + 1}/{len(args.models)}] {m.name} ...", file=sys.stderr, flush=True)
        rows.append(bench_model(args, m, work))

    gpu = torch.cuda.get_device_name(0)
    print(f"GPU: {gpu}; Kiln: {rows[0]['target']}; PyTorch {torch.__version__} "
          f"(fp32, TF32 off); batch 1, median of {args.iterations} runs\n")
    print("| model | Kiln host ms | Kiln resident ms | PyTorch eager host ms | PyTorch eager "
          "resident ms | PyTorch CUDA graph ms | Kiln kernels | Kiln cold compile s | Kiln "
          "cached start ms | max abs diff (output scale) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model'].removesuffix('.onnx')} {r['input'][2]}x{r['input'][3]} "
              f"| {r['kiln_host_ms']:.2f} | {r['kiln_resident_ms']:.2f} "
              f"| {r['torch_eager_host_ms']:.2f} | {r['torch_eager_resident_ms']:.2f} "
              f"| {r['torch_cuda_graph_ms']:.2f} | {r['kiln_kernels']} "
              f"| {r['kiln_compile_s']:.1f} | {r['kiln_cached_start_ms']:.0f} "
              f"| {r['max_abs_diff']:.2g} ({r['output_scale']:.3g}) |")
    if args.json:
        args.json.write_text(json.dumps({"gpu": gpu, "torch": torch.__version__, "rows": rows},
                                        indent=1))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
