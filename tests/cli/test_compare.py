"""Integer-exact dynamic quantization against ONNX Runtime, and `kiln compare`.

A small dynamically quantized conv block (DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul by
the scale product -> Add bias -> SiLU -> DynamicQuantizeLinear, what onnxruntime's
quantize_dynamic emits) must give ONNX Runtime's integers exactly: the input is chosen so that
x / scale lands on rounding ties (0.5, 1.5, 2.5 -> 0, 2, 2) and the zero point is itself a tie
(-min / scale = 2.5 -> 2). Sigmoid must be ONNX Runtime's own (bit for bit), and a * b + c must
not become one FMA, or the SiLU output moves by an ulp and a later rounding flips.
"""

import json

import numpy as np
import pytest

from conftest import helper, init, kiln_cli, make_model, output_names, run_ort, sanitize

TARGETS = ["reference", "cpu"]


def run_target(kiln, model, inputs, tmp_path, target):
    """`kiln run --target TARGET` on the model; returns {output name: array}."""
    f = tmp_path / "model.onnx"
    f.write_bytes(model.SerializeToString())
    args = []
    for i, (name, a) in enumerate(inputs.items()):
        np.save(tmp_path / f"in{i}.npy", a)
        args += ["--input", f"{name}={tmp_path / f'in{i}.npy'}"]
    out = tmp_path / "out"
    p = kiln_cli(kiln, "run", f, "--target", target, "--no-cache", "--output-dir", out, *args)
    assert p.returncode == 0, p.stderr
    return {n: np.load(out / (sanitize(n) + ".npy")) for n in output_names(model)}


def _dq_block():
    rng = np.random.default_rng(3)
    w = rng.integers(0, 256, (4, 2, 3, 3)).astype(np.uint8)
    bias = (rng.standard_normal((1, 4, 1, 1)) * 0.5).astype(np.float32)
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        helper.make_node("Mul", ["xs", "ws"], ["s"]),
        helper.make_node("ConvInteger", ["xq", "w", "xz", "wz"], ["acc"], pads=[1, 1, 1, 1]),
        helper.make_node("Cast", ["acc"], ["accf"], to=1),
        helper.make_node("Mul", ["accf", "s"], ["scaled"]),
        helper.make_node("Add", ["scaled", "b"], ["conv"]),
        helper.make_node("Sigmoid", ["conv"], ["sig"]),
        helper.make_node("Mul", ["conv", "sig"], ["silu"]),
        helper.make_node("DynamicQuantizeLinear", ["silu"], ["yq", "ys", "yz"]),
    ]
    inits = [init("w", w), init("wz", np.uint8(131)), init("ws", np.float32(0.0123)),
             init("b", bias)]
    model = make_model(nodes, [("x", np.float32, [1, 2, 6, 6])],
                       [("yq", np.uint8, [1, 4, 6, 6]), ("ys", np.float32, []),
                        ("yz", np.uint8, []), ("silu", np.float32, [1, 4, 6, 6]),
                        ("xq", np.uint8, [1, 2, 6, 6]), ("xz", np.uint8, [])],
                       inits, opset=13)
    # min -0.15625, max 15.78125: scale = 15.9375 / 255 = 0.0625 exactly, zero point round(2.5)
    # = 2; 0.03125, 0.09375, 0.15625 are 0.5, 1.5, 2.5 steps: ties to even.
    x = rng.uniform(-0.15, 15.7, (1, 2, 6, 6)).astype(np.float32)
    x.flat[:5] = [-0.15625, 15.78125, 0.03125, 0.09375, 0.15625]
    return model, {"x": x}


@pytest.mark.parametrize("target", TARGETS)
def test_dynamic_quant_block_is_exact(kiln, tmp_path, target):
    model, inputs = _dq_block()
    want = run_ort(model, inputs)
    assert want["xz"] == 2 and list(want["xq"].flat[2:5]) == [2, 4, 4]
    got = run_target(kiln, model, inputs, tmp_path, target)
    for name, w in want.items():
        np.testing.assert_array_equal(got[name], w, err_msg=f"{target}: {name}")


@pytest.mark.parametrize("target", TARGETS)
def test_sigmoid_is_onnxruntimes(kiln, tmp_path, target):
    x = np.concatenate([np.linspace(-30, 30, 4001, dtype=np.float32),
                        np.float32([0, -0.0, 18, -18, 1e-8, -87, 100])]).reshape(1, -1)
    model = make_model([helper.make_node("Sigmoid", ["x"], ["y"])],
                       [("x", np.float32, list(x.shape))], [("y", np.float32, list(x.shape))])
    want = run_ort(model, {"x": x})["y"]
    got = run_target(kiln, model, {"x": x}, tmp_path, target)["y"]
    np.testing.assert_array_equal(got, want)


def _compare_json(kiln, tmp_path, *extra):
    model, inputs = _dq_block()
    f = tmp_path / "block.onnx"
    f.write_bytes(model.SerializeToString())
    np.save(tmp_path / "x.npy", inputs["x"])
    p = kiln_cli(kiln, "compare", f, "--input", f"x={tmp_path / 'x.npy'}", "--json", "--no-cache",
                 *extra)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_compare_lists_every_value_in_graph_order(kiln, tmp_path):
    j = _compare_json(kiln, tmp_path)
    assert j["against"] == "reference" and j["first_over_threshold"] is None
    names = [v["name"] for v in j["values"]]
    assert names == ["xq", "xs", "xz", "s", "acc", "accf", "scaled", "conv", "sig", "silu",
                     "yq", "ys", "yz"]
    by = {v["name"]: v for v in j["values"]}
    assert by["acc"]["op"] == "ConvInteger" and by["acc"]["shape"] == [1, 4, 6, 6]
    for v in j["values"]:
        assert v["max_abs"] == 0 and v["cosine"] == pytest.approx(1.0), v


def test_compare_with_onnxruntime(kiln, tmp_path):
    j = _compare_json(kiln, tmp_path, "--onnxruntime")
    assert j["against"] == "onnxruntime" and j["onnxruntime_version"].startswith("onnxruntime")
    assert len(j["values"]) == 13
    for v in j["values"]:
        assert v["max_abs"] == 0, v


def test_compare_marks_the_first_value_past_the_threshold(kiln, tmp_path):
    # A negative-free threshold of 0 with a random input still passes (exact); the text table
    # names the values and says none is past it.
    model, inputs = _dq_block()
    f = tmp_path / "block.onnx"
    f.write_bytes(model.SerializeToString())
    p = kiln_cli(kiln, "compare", f, "--threshold", "0", "--no-cache")
    assert p.returncode == 0, p.stderr
    assert "ConvInteger" in p.stdout and "every value within 0" in p.stdout


@pytest.mark.parametrize("args, message", [
    (["--threshold", "-1"], "--threshold must be a number >= 0"),
    (["--target", "reference"], "use --target cpu or opencl"),
    (["--image", "nope.jpg", "--input", "x=nope.npy"], "give --input or --image, not both"),
])
def test_compare_errors(kiln, tmp_path, args, message):
    model, _ = _dq_block()
    f = tmp_path / "block.onnx"
    f.write_bytes(model.SerializeToString())
    p = kiln_cli(kiln, "compare", f, *args)
    assert p.returncode == 1 and message in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_compare_needs_an_onnx_model(kiln, tmp_path):
    f = tmp_path / "m.kiln"
    f.write_bytes(b"x")
    p = kiln_cli(kiln, "compare", f)
    assert p.returncode == 1 and "needs an .onnx model" in p.stderr
