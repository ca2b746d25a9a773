#!/usr/bin/env python3
"""What a run costs through the Python module compared with the C++ API, per call.

    .venv/bin/python bench/python_overhead.py [--kiln build/kiln] [--rounds 3] [MODEL.onnx ...]

For each model (default: a one-op Relu model, where the run is nearly all overhead, and the
bundled YOLOX-Nano), in interleaved rounds: the median of `kiln.Session.run({...})` in this
interpreter (a dict in, a dict of new NumPy arrays out) and the median of `kiln run --json`
(the C++ API's Session::run into reused outputs), both on 1 thread with the cache off. The
difference is the Python call: argument conversion, the GIL released and taken back, the
output arrays.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "build" / "python"))
import kiln  # noqa: E402


def relu_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x],
                                            [y]), opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def python_median_us(model: Path, iterations: int) -> float:
    s = kiln.Session(str(model), threads=1, use_cache=False)
    feeds = {i.name: np.random.default_rng(0).random(i.shape, dtype=np.float32) for i in s.inputs}
    for _ in range(max(5, iterations // 20)):
        s.run(feeds)
    ts = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        s.run(feeds)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e6


def cpp_median_us(kiln_bin: str, model: Path, iterations: int) -> float:
    proc = subprocess.run([kiln_bin, "run", str(model), "--json", "--threads", "1", "--no-cache",
                           "--warmup", str(max(5, iterations // 20)), "--iterations",
                           str(iterations)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)["median_ms"] * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--kiln", default=str(REPO / "build" / "kiln"))
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = [Path(m) for m in a.models] or [relu_model(Path(tmp) / "relu.onnx"),
                                                 REPO / "models" / "yolox_nano.onnx"]
        res = {m: ([], []) for m in models}
        for r in range(a.rounds):
            for m in models:
                n = 5000 if m.stat().st_size < 100_000 else 30
                res[m][0].append(python_median_us(m, n))
                res[m][1].append(cpp_median_us(a.kiln, m, n))
            print(f"round {r + 1}/{a.rounds}", file=sys.stderr, flush=True)
    print("| model | Python Session.run us | C++ Session::run us | Python overhead us |")
    print("|---|---:|---:|---:|")
    for m, (py, cpp) in res.items():
        p, c = statistics.median(py), statistics.median(cpp)
        print(f"| {m.name} | {p:.1f} | {c:.1f} | {p - c:+.1f} |")


if __name__ == "__main__":
    main()
