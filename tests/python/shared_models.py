"""The shared models (../shared/models/*.onnx.xz and int8/*.onnx.xz) for the Python module's
tests: unpacked, fed and compared with ONNX Runtime as tests/models/check_model.py does.

    models() -> [Path of MODEL.onnx.xz]            (empty without the shared folder)
    reference(xz) -> (model path, kind, feeds, expected, floors)
    mismatches(got, expected, kind, floors) -> [one line per output that fails]

check_model.py's rules, by kind (its docstring has the measurements behind them): fp32
allclose(rtol = atol = 1e-3); fp16 per element |d| <= max(1e-3, 2**-7 x the channel's max |ort|)
+ 1e-2 |ort|; int8 mismatch fraction, p99.9 and mean of |d| / (one 8-bit step of the channel)
within max(1%, 4, 0.1) and twice ONNX Runtime's own spread with the input nudged by 1e-7.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "models"))
import check_model  # noqa: E402  (unpack, model_kind, ort_session, make_inputs, int8_stats)

SHARED = Path(os.environ.get("KILN_SHARED", REPO.parent / "shared"))
WORK = Path(os.environ.get("KILN_WORK", REPO / "build" / "models"))


def models() -> list[Path]:
    d = SHARED / "models"
    return sorted(d.glob("*.onnx.xz")) + sorted((d / "int8").glob("*.onnx.xz"))


def model_id(xz: Path) -> str:
    return xz.name.removesuffix(".onnx.xz")


def reference(xz: Path):
    """The unpacked model, its kind, check_model's input, ORT's outputs and (int8) ORT's outputs
    on the nudged input."""
    path = check_model.unpack(xz, WORK)
    kind = check_model.model_kind(path)
    sess = check_model.ort_session(path)
    feeds = check_model.make_inputs(sess, 1.0)
    names = [o.name for o in sess.get_outputs()]
    expected = dict(zip(names, sess.run(None, feeds)))
    floors = {}
    if kind == "int8":
        nudged = {k: (v + np.random.default_rng(1).normal(0, 1e-7, v.shape)).astype(v.dtype)
                  if v.dtype.kind == "f" else v for k, v in feeds.items()}
        floors = dict(zip(names, sess.run(None, nudged)))
    return path, kind, feeds, expected, floors


def mismatches(got: dict, expected: dict, kind: str, floors: dict) -> list[str]:
    bad = []
    if list(got) != list(expected):
        return [f"output names {list(got)} != ORT's {list(expected)}"]
    for name, ref in expected.items():
        g = got[name]
        if g.shape != ref.shape or g.dtype != ref.dtype:
            bad.append(f"{name}: {g.dtype}{list(g.shape)} != ORT's {ref.dtype}{list(ref.shape)}")
            continue
        if ref.dtype.kind not in "f":
            if not np.array_equal(g, ref):
                bad.append(f"{name}: integer values differ")
            continue
        g64, r64 = g.astype(np.float64), ref.astype(np.float64)
        d = np.abs(g64 - r64)
        if kind == "fp32":
            if not np.allclose(g64, r64, rtol=1e-3, atol=1e-3):
                bad.append(f"{name}: max abs error {d.max():.4g} (fp32 rule)")
        elif kind == "fp16":
            atol_c = np.maximum(1e-3, 2.0**-7 * check_model.per_channel(np.max, np.abs(r64)))
            out = int((d > atol_c + 1e-2 * np.abs(r64)).sum())
            if out:
                bad.append(f"{name}: {out} elements outside the fp16 rule")
        else:
            s = check_model.int8_stats(g, ref, 1e-3)
            f = check_model.int8_stats(floors[name], ref, 1e-3)
            lim = {"frac": max(0.01, 2 * f["frac"]), "p999": max(4.0, 2 * f["p999"]),
                   "mean": max(0.1, 2 * f["mean"])}
            over = [f"{k} {s[k]:.4g} > {lim[k]:.4g}" for k in lim if s[k] > lim[k]]
            if over:
                bad.append(f"{name}: int8 rule: {', '.join(over)}")
    return bad
