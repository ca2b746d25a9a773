"""The `qconv` pass and its int8 kernels against ONNX Runtime's own int8 path.

Small QDQ graphs (QuantizeLinear -> DequantizeLinear -> Conv with DequantizeLinear'd int8
weights and int32 bias -> QuantizeLinear -> DequantizeLinear) as ONNX Runtime's quantizer writes
them. With graph optimisation ORT fuses each such group into QLinearConv, and Kiln's `qconv`
makes the same integer computation (exact int32 sums, requantised as ORT does), so the
outputs must agree exactly; with `-qconv` Kiln runs the float path (within a step).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper

from conftest import init, make_model, require_kiln, vi


def qdq_conv_model(rng, c, m, k, stride, pad, per_channel, signed_x, h=13, w=22, silu=False):
    """Two QDQ convs in a row (with silu, a quantised x * Sigmoid(x) after the first, as
    Ultralytics' int8 exports have); returns (model, feeds)."""
    xt = np.int8 if signed_x else np.uint8
    nodes, inits = [], []
    sx, zx = np.float32(0.03), xt(-5 if signed_x else 121)
    inits += [init("sx", sx), init("zx", zx)]
    nodes.append(helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]))
    src, ch = "xq", c
    for i, (cin, cout) in enumerate([(c, m), (m, m)]):
        nodes.append(helper.make_node("DequantizeLinear", [src, "sx" if i == 0 else f"sy{i-1}",
                                                           "zx" if i == 0 else f"zy{i-1}"],
                                      [f"xd{i}"]))
        wq = rng.integers(-127, 128, size=(cout, cin, k, k)).astype(np.int8)
        sw = (rng.uniform(0.5, 1.5, size=cout if per_channel else ()) * 0.01).astype(np.float32)
        s_in = sx if i == 0 else np.float32(0.05)
        bq = rng.integers(-3000, 3000, size=cout).astype(np.int32)
        sb = (np.float32(s_in) * sw).astype(np.float32)
        inits += [init(f"wq{i}", wq), init(f"sw{i}", sw),
                  init(f"zw{i}", np.zeros(sw.shape, np.int8)),
                  init(f"bq{i}", bq), init(f"sb{i}", sb), init(f"zb{i}", np.zeros(sb.shape, np.int32)),
                  init(f"sy{i}", np.float32(0.05)), init(f"zy{i}", xt(3 if signed_x else 128))]
        nodes.append(helper.make_node("DequantizeLinear", [f"wq{i}", f"sw{i}", f"zw{i}"], [f"w{i}"],
                                      axis=0))
        nodes.append(helper.make_node("DequantizeLinear", [f"bq{i}", f"sb{i}", f"zb{i}"], [f"b{i}"],
                                      axis=0))
        nodes.append(helper.make_node("Conv", [f"xd{i}", f"w{i}", f"b{i}"], [f"c{i}"],
                                      kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[pad] * 4))
        nodes.append(helper.make_node("QuantizeLinear", [f"c{i}", f"sy{i}", f"zy{i}"], [f"q{i}"]))
        src = f"q{i}"
        if silu and i == 0:
            nodes += [helper.make_node("DequantizeLinear", ["q0", "sy0", "zy0"], ["a0"]),
                      helper.make_node("Sigmoid", ["a0"], ["s0"]),
                      helper.make_node("Mul", ["a0", "s0"], ["m0"]),
                      helper.make_node("QuantizeLinear", ["m0", "sy0", "zy0"], ["q0s"])]
            src = "q0s"
    nodes.append(helper.make_node("DequantizeLinear", ["q1", "sy1", "zy1"], ["y"]))
    model = make_model(nodes, [vi("x", np.float32, [1, c, h, w])],
                       [helper.make_empty_tensor_value_info("y")], inits, opset=13, check=False)
    feeds = {"x": rng.uniform(-3, 3, size=(1, c, h, w)).astype(np.float32)}
    return model, feeds


def run_ort_optimised(model, feeds):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def run_kiln_cpu(model, feeds, tmp_path, passes):
    kiln = require_kiln()
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    np.save(tmp_path / "x.npy", feeds["x"])
    out = tmp_path / f"out_{passes.replace(',', '_')}"
    out.mkdir()
    proc = subprocess.run([str(kiln), "run", str(tmp_path / "m.onnx"), "--target", "cpu",
                           "--no-cache", "--passes", passes, "--input", f"x={tmp_path / 'x.npy'}",
                           "--output-dir", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return np.load(out / "y.npy")


def run_kiln_passes(model, tmp_path):
    kiln = require_kiln()
    (tmp_path / "p.onnx").write_bytes(model.SerializeToString())
    proc = subprocess.run([str(kiln), "run", str(tmp_path / "p.onnx"), "--no-cache", "--passes",
                           "O3", "--print-after-change", "--iterations", "1"],
                          capture_output=True, text=True, timeout=300)
    return proc.stdout + proc.stderr


CASES = {
    "3x3s1_per_tensor_u8": dict(c=5, m=12, k=3, stride=1, pad=1, per_channel=False, signed_x=False),
    "3x3s2_per_channel_u8": dict(c=16, m=20, k=3, stride=2, pad=1, per_channel=True, signed_x=False),
    "1x1_per_channel_i8": dict(c=8, m=8, k=1, stride=1, pad=0, per_channel=True, signed_x=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_qconv_matches_ort_int8_exactly(name, tmp_path):
    rng = np.random.default_rng(len(name))
    model, feeds = qdq_conv_model(rng, **CASES[name])
    want = run_ort_optimised(model, feeds)
    got = run_kiln_cpu(model, feeds, tmp_path, "O3")
    np.testing.assert_array_equal(got, want)
    # The float path (DequantizeLinear, f32 Conv, QuantizeLinear) agrees within one step.
    flt = run_kiln_cpu(model, feeds, tmp_path, "O3,-qconv")
    assert np.max(np.abs(flt - want)) <= 0.05 * 1.0001


def test_qconv_rewrites_both_convs(tmp_path):
    model, _ = qdq_conv_model(np.random.default_rng(0), **CASES["3x3s1_per_tensor_u8"])
    text = run_kiln_passes(model, tmp_path)
    after = text.split("after qconv")[-1] if "after qconv" in text else text
    assert after.count("QLinearConv(") >= 2, text[-3000:]


def test_qconv_with_fused_silu_within_a_step_of_ort(tmp_path):
    """The SiLU's sigmoid is Kiln's own (ORT's exp differs in the last bits), so a value may round
    to the neighbouring step; the fused and unfused Kiln paths agree exactly."""
    model, feeds = qdq_conv_model(np.random.default_rng(5), silu=True,
                                  **CASES["3x3s1_per_tensor_u8"])
    text = run_kiln_passes(model, tmp_path)
    assert 'activation="silu"' in text, text[-3000:]
    want = run_ort_optimised(model, feeds)
    got = run_kiln_cpu(model, feeds, tmp_path, "O3")
    assert np.max(np.abs(got - want)) <= 0.05 * 1.0001
    assert np.mean(got != want) < 0.02
