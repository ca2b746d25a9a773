"""`--precision f32|f16|bf16`: the conv network of an fp32 model in a 16-bit type (the
`precision` pass), part of the cache key, checked against the reference of the same 16-bit
graph; unknown names and CPUs without AVX512-FP16 get one-line errors.
"""

from __future__ import annotations

import csv
import json

import numpy as np
from onnx import helper

from conftest import init, kiln_cli, make_model


def conv_net():
    """Conv 3x3 3->32 + SiLU -> Conv 3x3 32->64 + SiLU -> Concat -> Conv 1x1 96->16 ->
    Reshape -> Softmax: a backbone that goes f16 and a decode-like tail that stays f32."""
    rng = np.random.default_rng(0)

    def w(m, c, k):
        return (rng.standard_normal((m, c, k, k)) * np.sqrt(1.0 / (c * k * k))).astype(np.float32)

    nodes = [
        helper.make_node("Conv", ["images", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Sigmoid", ["c1"], ["s1"]),
        helper.make_node("Mul", ["c1", "s1"], ["a1"]),
        helper.make_node("Conv", ["a1", "w2"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Sigmoid", ["c2"], ["s2"]),
        helper.make_node("Mul", ["c2", "s2"], ["a2"]),
        helper.make_node("Concat", ["a1", "a2"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat", "w3"], ["head"], kernel_shape=[1, 1]),
        helper.make_node("Reshape", ["head", "shape"], ["flat"]),
        helper.make_node("Softmax", ["flat"], ["output0"], axis=2),
    ]
    return make_model(
        nodes, [("images", np.float32, [1, 3, 32, 32])], [("output0", np.float32, [1, 16, 1024])],
        [init("w1", w(32, 3, 3)), init("b1", (rng.standard_normal(32) * 0.1).astype(np.float32)),
         init("w2", w(64, 32, 3)), init("w3", w(16, 96, 1)),
         init("shape", np.array([1, 16, 1024], dtype=np.int64))])


def has_avx512fp16():
    with open("/proc/cpuinfo") as f:
        return "avx512_fp16" in f.read()


def run_json(kiln, model, cache, *args):
    proc = kiln_cli(kiln, "run", model, "--json", "--iterations", "1", "--threads", "1",
                    "--cache-dir", cache, "--check", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_low_precisions_run_close_to_the_reference_with_their_own_cache_entries(kiln, tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net().SerializeToString())
    cache = tmp_path / "cache"
    f32 = run_json(kiln, model, cache)
    assert f32["precision"] == "f32" and f32["cache"] == "miss"
    assert f32["max_abs_err"] < 1e-4
    precisions = ["bf16"] + (["f16"] if has_avx512fp16() else [])
    for p in precisions:
        low = run_json(kiln, model, cache, "--precision", p)
        # Its own cache entry: a miss after the f32 compile, then a hit.
        assert low["cache"] == "miss", p
        assert run_json(kiln, model, cache, "--precision", p)["cache"] == "hit", p
        assert low["precision"] == p
        passes = [r["name"] for r in low["pass_ms"] if r["changed"]]
        assert "precision" in passes, (p, passes)
        # --check: against the reference of the same 16-bit graph; softmax probabilities.
        assert low["max_abs_err"] < 5e-3, (p, low["max_abs_err"])
        out = low["outputs"][0]
        assert out["dtype"] == "f32" and out["shape"] == [1, 16, 1024]


def test_f16_and_bf16_outputs_stay_near_f32(kiln, tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net().SerializeToString())
    x = np.random.default_rng(1).random((1, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    outs = {}
    precisions = ["f32", "bf16"] + (["f16"] if has_avx512fp16() else [])
    for p in precisions:
        d = tmp_path / p
        proc = kiln_cli(kiln, "run", model, "--no-cache", "--iterations", "1", "--precision", p,
                        "--input", f"images={tmp_path / 'x.npy'}", "--output-dir", d)
        assert proc.returncode == 0, proc.stderr
        outs[p] = np.load(d / "output0.npy")
    for p in precisions[1:]:
        err = np.abs(outs[p] - outs["f32"]).max()
        # probabilities over 1024 positions (~1e-3 each): relative to their size
        assert err < 0.05 * np.abs(outs["f32"]).max(), (p, err)


def test_bad_precisions_are_one_line_errors(kiln, tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net().SerializeToString())
    proc = kiln_cli(kiln, "run", model, "--no-cache", "--precision", "f12")
    assert proc.returncode != 0
    assert proc.stderr.strip() == "kiln: error: unknown precision 'f12' (valid: f32, f16, bf16)"
    # An AVX2 CPU (the floor; KILN_LLVM_CPU makes the backend target one) has no f16 arithmetic.
    proc = kiln_cli(kiln, "run", model, "--no-cache", "--precision", "f16",
                    env_extra={"KILN_LLVM_CPU": "haswell"})
    assert proc.returncode != 0
    assert "precision f16 needs a CPU with AVX512-FP16" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_sweep_compares_precisions_against_the_f32_reference(kiln, tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net().SerializeToString())
    precisions = ["f32", "bf16"] + (["f16"] if has_avx512fp16() else [])
    csv_file = tmp_path / "sweep.csv"
    proc = kiln_cli(kiln, "sweep", model, "--precision", ",".join(precisions), "--iterations", "2",
                    "--threads", "1", "--json", "--csv", csv_file)
    assert proc.returncode == 0, proc.stderr
    configs = json.loads(proc.stdout)["configs"]
    assert [c["precision"] for c in configs] == precisions
    err = {c["precision"]: c["max_abs_err"] for c in configs}
    # Softmax probabilities over 1024 pixels (~1e-3 each): f32 matches the reference to float
    # rounding, the 16-bit networks are off by their own rounding (errors ~3e-6 here) and no more.
    assert err["f32"] < 1e-7, err
    assert 1e-7 < err["bf16"] < 1e-4, err
    if "f16" in err:
        assert 1e-7 < err["f16"] < 1e-4, err
    assert [r["precision"] for r in csv.DictReader(csv_file.open())] == precisions

    table = kiln_cli(kiln, "sweep", model, "--precision", "f32,bf16", "--iterations", "1",
                     "--threads", "1", "--no-check")
    assert table.returncode == 0, table.stderr
    head = table.stdout.splitlines()[0]
    assert head.startswith("| pipeline | precision | input shape"), head


def test_sweep_rejects_an_unknown_precision_before_any_work(kiln, tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(conv_net().SerializeToString())
    proc = kiln_cli(kiln, "sweep", model, "--precision", "f32,f8")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "f8" in lines[0], proc.stderr
    assert "compiling" not in proc.stderr
