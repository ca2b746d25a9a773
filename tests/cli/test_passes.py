"""Pass pipelines from the command line: every O level and every single disabled pass still
matches the reference interpreter (`kiln run --target cpu --check`) on a small graph built for
the passes and on the bundled YOLOX-nano; -O3 launches fewer kernels than -O0; a typo in a pass
name is an error listing the valid names; --time-passes, --print-after-change and --json.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import helper

from conftest import REPO, init, kiln_cli, make_model

YOLOX = REPO / "models" / "yolox_nano.onnx"
# Passes that rewrite the IR (they report a time and whether they changed it), and every pass
# of O3 in order (tile and memplan set how lowering and memory planning work).
# What changes the small graph (it has no QDQ convs for qconv, and --precision is f32).
PASSES = ["fold", "dce", "cse", "bnfold", "fuse", "ewfuse", "layout", "concat"]
O3 = ["qconv", "fold", "dce", "cse", "bnfold", "fuse", "ewfuse", "layout", "tile", "memplan",
      "concat"]
CONFIGS = ["O0", "O1", "O2", "O3"] + [f"O3,-{p}" for p in O3] + ["O3,tile=oc4,px32"]


def pass_model():
    """Something for every pass: a DequantizeLinear of constant weights (fold), a duplicated
    Neg (cse), Conv -> BatchNormalization (bnfold), Conv -> Sigmoid * Mul + residual Add and
    Conv -> LeakyRelu (fuse), a Concat of two conv outputs (concat), Add -> Tanh (ewfuse), an
    unused branch (dce); 16-channel convs (layout: blocked between the convs)."""
    rng = np.random.default_rng(0)
    f = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)  # noqa: E731
    wq = rng.integers(-100, 100, (16, 4, 3, 3)).astype(np.int8)
    nodes = [
        helper.make_node("DequantizeLinear", ["wq", "wscale", "wzero"], ["w0"]),
        helper.make_node("Neg", ["images"], ["neg_a"]),
        helper.make_node("Neg", ["images"], ["neg_b"]),
        helper.make_node("Add", ["neg_a", "neg_b"], ["x2"]),
        helper.make_node("Conv", ["x2", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c0", "bn_s", "bn_b", "bn_m", "bn_v"], ["n0"]),
        helper.make_node("Sigmoid", ["n0"], ["s0"]),
        helper.make_node("Mul", ["n0", "s0"], ["a0"]),
        helper.make_node("Conv", ["a0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c1"], ["s1"]),
        helper.make_node("Mul", ["c1", "s1"], ["a1"]),
        helper.make_node("Add", ["a0", "a1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"]),
        helper.make_node("LeakyRelu", ["c2"], ["l2"], alpha=0.1),
        helper.make_node("Concat", ["l2", "r1"], ["cat"], axis=1),
        helper.make_node("Add", ["cat", "bias2"], ["sum"]),
        helper.make_node("Tanh", ["sum"], ["output0"]),
        helper.make_node("Exp", ["images"], ["unused"]),
    ]
    inits = [init("wq", wq), init("wscale", np.array(0.01, np.float32)),
             init("wzero", np.array(0, np.int8)), init("b0", f(16)),
             init("bn_s", f(16) + 1), init("bn_b", f(16)), init("bn_m", f(16)),
             init("bn_v", np.abs(f(16)) + 0.5), init("w1", f(16, 16, 3, 3) * 0.5),
             init("b1", f(16)), init("w2", f(16, 16, 1, 1)), init("bias2", f(1, 32, 1, 1))]
    return make_model(nodes, [("images", np.float32, [1, 4, 12, 12])],
                      [("output0", np.float32, [1, 32, 12, 12])], inits, opset=17)



def run_json(kiln, model, *args):
    proc = kiln_cli(kiln, "run", model, "--target", "cpu", "--no-cache", "--warmup", "0",
                    "--iterations", "1", "--json", *args)
    assert proc.returncode == 0, f"kiln run {' '.join(map(str, args))} failed:\n{proc.stderr}"
    return json.loads(proc.stdout), proc.stderr


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    p = tmp_path_factory.mktemp("passes") / "passes.onnx"
    p.write_bytes(pass_model().SerializeToString())
    return p


@pytest.mark.parametrize("passes", CONFIGS)
def test_small_graph_matches_reference(kiln, small, passes):
    j, _ = run_json(kiln, small, "--check", "--passes", passes)
    assert j["max_abs_err"] <= 1e-3


@pytest.mark.parametrize("passes", CONFIGS)
def test_yolox_matches_reference(kiln, passes):
    j, _ = run_json(kiln, YOLOX, "--check", "--passes", passes)
    assert j["max_abs_err"] <= 1e-2 * max(1.0, max(abs(o["max"]) for o in j["outputs"]))


def test_every_pass_changes_the_small_graph(kiln, small):
    j, _ = run_json(kiln, small, "--passes", "O3")
    assert j["passes"] == O3
    changed = {p["name"]: p["changed"] for p in j["pass_ms"]}
    assert changed == {"qconv": False, **{p: True for p in PASSES}}, changed


@pytest.mark.parametrize("model", ["small", "yolox"])
def test_o3_launches_fewer_kernels(kiln, small, model):
    m = small if model == "small" else YOLOX
    o0, _ = run_json(kiln, m, "-O0")
    o3, _ = run_json(kiln, m, "-O3")
    assert o0["passes"] == [] and o0["pass_ms"] == []
    assert o3["kernels"] < o0["kernels"], (o3["kernels"], o0["kernels"])


def test_disable_flag_is_the_minus_form(kiln, small):
    a, _ = run_json(kiln, small, "--disable", "fuse", "--disable", "cse")
    b, _ = run_json(kiln, small, "--passes", "O3,-fuse,-cse")
    assert a["passes"] == b["passes"] == ["qconv", "fold", "dce", "bnfold", "ewfuse", "layout",
                                          "tile", "memplan", "concat"]
    assert a["kernels"] == b["kernels"]


def test_unknown_pass_lists_valid_names(kiln, small):
    proc = kiln_cli(kiln, "run", small, "--target", "cpu", "--no-cache", "--passes", "O3,fusee")
    assert proc.returncode == 1
    assert ("unknown pass 'fusee' (valid: qconv, fold, dce, cse, bnfold, precision, fuse, ewfuse, "
            "layout, concat, tile, memplan;" in proc.stderr)
    assert proc.stderr.count("\n") == 1, proc.stderr
    proc = kiln_cli(kiln, "compile", small, "-o", small.with_suffix(".kiln"), "--disable", "fusee")
    assert proc.returncode == 1 and "unknown pass 'fusee'" in proc.stderr


def test_time_and_print_passes(kiln, small):
    proc = kiln_cli(kiln, "run", small, "--target", "cpu", "--no-cache", "--iterations", "1",
                    "--time-passes", "--print-after-change")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "// ---- IR after fuse ----" in err and 'activation="silu"' in err
    assert "// ---- program after concat ----" in err
    for p in PASSES:
        assert any(line.split()[:1] == [p] for line in err.splitlines()), p
    assert "total" in err


def test_passes_are_part_of_the_cache_key(kiln, small, tmp_path):
    cache = tmp_path / "cache"
    a, _ = run_json(kiln, small, "--passes", "O3")
    run = lambda *x: kiln_cli(kiln, "run", small, "--target", "cpu", "--iterations", "1",  # noqa
                              "--json", "--cache-dir", cache, *x)
    first = json.loads(run("--passes", "O3").stdout)
    same = json.loads(run("--passes", "qconv,fold,dce,cse,bnfold,fuse,ewfuse,layout,tile,memplan,concat").stdout)
    other = json.loads(run("--passes", "O0").stdout)
    assert first["cache"] == "miss" and same["cache"] == "hit" and other["cache"] == "miss"
    assert first["kernels"] == same["kernels"] == a["kernels"]


def test_tile_and_memplan_change_speed_and_memory(kiln):
    """Without `tile` every conv computes one channel x one vector at a time; without `memplan`
    every intermediate has its own bytes. Both stay correct (the CONFIGS tests) and show up."""
    o3, _ = run_json(kiln, YOLOX, "--passes", "O3")
    no_mem, _ = run_json(kiln, YOLOX, "--passes", "O3,-memplan")
    assert no_mem["arena_bytes"] >= no_mem["arena_naive_bytes"] > 2 * o3["arena_bytes"]
    given, _ = run_json(kiln, YOLOX, "--passes", "O3,tile=oc8,px16")
    assert given["passes"] == [p for p in O3 if p != "tile"] + ["tile"]
    assert given["kernels"] == o3["kernels"]
