#!/usr/bin/env python3
"""Kiln OpenCL vs PyTorch eager on one GPU, side by side in one run.

    gpu_bench.py MODEL.onnx[.xz] --kiln KILN [--device SPEC] [--iterations 100] [--json OUT]

* Kiln: `kiln run MODEL --target opencl --warmup 10 --iterations N --json`; its median is one
  Session::run: input upload, every kernel enqueued on an in-order queue, output read back, one
  clFinish (docs/OPENCL.md).
* PyTorch eager: the same ONNX graph executed op by op with torch functions on the GPU (a small
  interpreter below: no tracing, no torch.compile, no CUDA graphs; constants folded nowhere,
  so it launches what the graph says). Timed two ways: host tensor in -> host tensor out (what
  Kiln's number includes) and device-resident (input already on the GPU, output left there).
  Its outputs are compared with Kiln's so a wrong runner cannot win.

Medians over N runs after 10 warm-ups. Prints one line per runner and, with --json, writes all
numbers to a file.
"""

from __future__ import annotations

import argparse
import json
import lzma
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

    def ints(self, t):
        return [int(v) for v in t.detach().cpu().flatten().tolist()]

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
                sizes = self.ints(x[1]) if len(x) > 1 and x[1] is not None else at.get("split")
                if sizes is None:
                    sizes = x[0].shape[at.get("axis", 0)] // len(n.output)
                y = list(torch.split(x[0], sizes, dim=at.get("axis", 0)))
            elif op == "MaxPool":
                p = at.get("pads", [0, 0, 0, 0])
                y = [F.max_pool2d(x[0], at["kernel_shape"], at.get("strides", 1), p[:2],
                                  at.get("dilations", 1), bool(at.get("ceil_mode", 0)))]
            elif op == "Resize":
                scales = x[2].detach().cpu().tolist() if len(x) > 2 and x[2] is not None and \
                    x[2].numel() else None
                assert at.get("mode", b"nearest") == b"nearest" and scales, "Resize form"
                y = [F.interpolate(x[0], scale_factor=scales[2:], mode="nearest")]
            elif op == "Reshape":
                shape = self.ints(x[1])
                shape = [x[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
                y = [x[0].reshape(shape)]
            elif op == "Transpose":
                y = [x[0].permute(*at["perm"])]
            elif op == "Softmax":
                y = [torch.softmax(x[0], dim=at.get("axis", -1))]
            elif op == "Slice":
                starts, ends, axes = self.ints(x[1]), self.ints(x[2]), self.ints(x[3])
                steps = self.ints(x[4]) if len(x) > 4 else [1] * len(starts)
                idx = [slice(None)] * x[0].dim()
                for s, e, a, st in zip(starts, ends, axes, steps):
                    idx[a] = slice(s, min(e, x[0].shape[a]), st)
                y = [x[0][tuple(idx)]]
            elif op == "Constant":
                y = [torch.from_numpy(numpy_helper.to_array(at["value"]).copy()).to(self.dev)]
            else:
                raise NotImplementedError(f"PyTorch runner: op {op}")
            for name, v in zip(n.output, y):
                env[name] = v
        return [env[o.name] for o in self.graph.output]


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
        for label, fn in (("host", host_to_host), ("resident", resident)):
            for _ in range(10):
                fn()
            ts = []
            for _ in range(iters):
                t0 = time.perf_counter()
                fn()
                ts.append((time.perf_counter() - t0) * 1e3)
            res[label] = statistics.median(ts)
        out = [o.numpy() for o in host_to_host()]
    return res, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--kiln", type=Path, required=True)
    ap.add_argument("--device", default="", help="kiln --device (default: the first GPU)")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gpu_bench_"))
    model_file = unpack(args.model, work)
    model = onnx.load(str(model_file))
    inp = model.graph.input[0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    np.save(work / "x.npy", x)

    cmd = [str(args.kiln), "run", str(model_file), "--target", "opencl", "--warmup", "10",
           "--iterations", str(args.iterations), "--json", "--no-cache",
           "--input", f"{inp.name}={work / 'x.npy'}", "--output-dir", str(work / "out")]
    if args.device:
        cmd += ["--device", args.device]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"kiln failed: {proc.stderr.strip()}", file=sys.stderr)
        return 2
    k = json.loads(proc.stdout)
    kiln_out = [np.load(o["file"]) for o in k["outputs"]]

    import torch
    runner = TorchRunner(model, "cuda")
    t, torch_out = time_torch(runner, x, inp.name, args.iterations)
    err = max(float(np.max(np.abs(a - b))) for a, b in zip(kiln_out, torch_out))

    gpu = torch.cuda.get_device_name(0)
    print(f"{model_file.name} batch {shape[0]} on {gpu} ({k['host_target']})")
    print(f"  kiln opencl replay      median {k['median_ms']:.3f} ms (p90 {k['p90_ms']:.3f}, "
          f"{k['kernels']} kernels, host in -> host out)")
    print(f"  pytorch eager           median {t['host']:.3f} ms (host in -> host out)")
    print(f"  pytorch eager resident  median {t['resident']:.3f} ms (input on the GPU)")
    print(f"  max |kiln - pytorch| = {err:.3g}")
    if args.json:
        args.json.write_text(json.dumps({"model": model_file.name, "gpu": gpu,
                                         "kiln_ms": k["median_ms"], "kiln_p90_ms": k["p90_ms"],
                                         "torch_eager_ms": t["host"],
                                         "torch_eager_resident_ms": t["resident"],
                                         "max_abs_diff": err, "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
