"""User errors: `kiln` exits 1 with exactly one stderr line "kiln: error: ..." that names what
and where, and writes nothing to the output folder.

The asserted substrings are the facts a user needs (file, node, op type, input name, the bad
value), not the wording around them.
"""

from __future__ import annotations

import lzma
import os
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import REPO, init, make_model, run_ort, vi

SHARED_MODELS = Path(os.environ.get("KILN_SHARED", REPO.parent / "shared")) / "models"


# ---------------------------------------------------------------------------------------------
# Helpers


def run_cli(kiln, *args, timeout=60):
    return subprocess.run([str(kiln), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def assert_user_error(proc, *substrings, out_dir: Path | None = None) -> str:
    """Exit 1, one stderr line starting 'kiln: error: ' containing every substring, and no files
    under out_dir. Returns the line."""
    detail = f"exit {proc.returncode}\nstderr: {proc.stderr!r}\nstdout: {proc.stdout[-1000:]!r}"
    assert proc.returncode == 1, f"expected exit 1 (user error), got {detail}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one stderr line, got {len(lines)}: {detail}"
    line = lines[0]
    assert line.startswith("kiln: error: "), f"bad prefix: {line!r}"
    for s in substrings:
        assert s in line, f"{s!r} not in error message {line!r}"
    if out_dir is not None and out_dir.exists():
        left = sorted(p.name for p in out_dir.rglob("*"))
        assert not left, f"output dir not empty after an error: {left}"
    print(line)
    return line


def save(model, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString() if isinstance(model, onnx.ModelProto) else model)
    return path


def run_model(kiln, model_path: Path, tmp_path: Path, *extra):
    """`kiln run MODEL --backend reference --output-dir tmp/out ...`; returns (proc, out_dir)."""
    out_dir = tmp_path / "out"
    proc = run_cli(kiln, "run", model_path, "--backend", "reference", *extra,
                   "--output-dir", out_dir)
    return proc, out_dir


def relu_model(x_shape=(1, 3, 4, 4), opset=17):
    return make_model([helper.make_node("Relu", ["images"], ["output0"], name="relu0")],
                      [("images", np.float32, list(x_shape))],
                      [("output0", np.float32, list(x_shape))], opset=opset)


def real_model_bytes(n_bytes: int) -> bytes:
    """The first n bytes of a real ONNX model (shared YOLOX-Nano if present, else a generated
    model with a large initializer)."""
    xz = SHARED_MODELS / "yolox_nano.onnx.xz"
    if xz.is_file():
        with lzma.open(xz) as f:
            data = f.read(n_bytes)
        if len(data) == n_bytes:
            return data
    w = np.random.default_rng(0).standard_normal((16, 3, 3, 3)).astype(np.float32)
    m = make_model([helper.make_node("Conv", ["images", "w"], ["output0"], name="conv0")],
                   [("images", np.float32, [1, 3, 8, 8])], [("output0", np.float32, None)],
                   [init("w", w)], check=False)
    return m.SerializeToString()[:n_bytes]


# ---------------------------------------------------------------------------------------------
# Files that are not (whole) ONNX models


@pytest.mark.parametrize("command", ["run", "inspect"])
def test_truncated_model(kiln, tmp_path, command):
    path = save(real_model_bytes(100), tmp_path / "truncated.onnx")
    if command == "run":
        proc, out_dir = run_model(kiln, path, tmp_path)
    else:
        proc, out_dir = run_cli(kiln, "inspect", path), None
    assert_user_error(proc, "truncated.onnx", out_dir=out_dir)


def test_truncated_generated_model(kiln, tmp_path):
    """A model cut in the middle of a big initializer."""
    w = np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32)
    m = make_model([helper.make_node("Conv", ["images", "w"], ["output0"], name="conv0")],
                   [("images", np.float32, [1, 3, 8, 8])],
                   [("output0", np.float32, [1, 8, 6, 6])], [init("w", w)])
    data = m.SerializeToString()
    path = save(data[: len(data) * 2 // 3], tmp_path / "cut.onnx")
    proc, out_dir = run_model(kiln, path, tmp_path)
    assert_user_error(proc, "cut.onnx", out_dir=out_dir)


@pytest.mark.parametrize("command", ["run", "inspect"])
def test_text_file_is_not_onnx(kiln, tmp_path, command):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not an ONNX model\njust some text\n")
    if command == "run":
        proc, out_dir = run_model(kiln, path, tmp_path)
    else:
        proc, out_dir = run_cli(kiln, "inspect", path), None
    assert_user_error(proc, "notes.onnx", out_dir=out_dir)


def test_missing_model_file(kiln, tmp_path):
    proc, out_dir = run_model(kiln, tmp_path / "nope.onnx", tmp_path)
    assert_user_error(proc, "nope.onnx", out_dir=out_dir)


# ---------------------------------------------------------------------------------------------
# Unsupported ops and attribute values


def test_unsupported_op_nonmaxsuppression(kiln, tmp_path):
    nodes = [helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["selected"],
                              name="nms_node_7")]
    m = make_model(nodes, [("boxes", np.float32, [1, 10, 4]), ("scores", np.float32, [1, 1, 10])],
                   [("selected", np.int64, [None, 3])], opset=17)
    proc, out_dir = run_model(kiln, save(m, tmp_path / "nms.onnx"), tmp_path)
    line = assert_user_error(proc, "nms_node_7", "NonMaxSuppression", "supported",
                             out_dir=out_dir)
    assert "opset" in line.lower() and "17" in line, f"opset 17 not named: {line!r}"


def test_unsupported_custom_domain_op(kiln, tmp_path):
    nodes = [helper.make_node("Foo", ["images"], ["output0"], name="custom_foo",
                              domain="com.example")]
    m = make_model(nodes, [("images", np.float32, [1, 3, 4, 4])],
                   [("output0", np.float32, [1, 3, 4, 4])], opset=17,
                   extra_opsets={"com.example": 3}, check=False)
    proc, out_dir = run_model(kiln, save(m, tmp_path / "custom.onnx"), tmp_path)
    line = assert_user_error(proc, "custom_foo", "Foo", "com.example", "supported",
                             out_dir=out_dir)
    assert "opset" in line.lower() and "3" in line, f"domain opset 3 not named: {line!r}"


def _qlinear_add(scale_as_input=False, n_inputs=8):
    """A com.microsoft QLinearAdd; its A_scale a graph input, or fewer inputs than it needs."""
    names = ["a", "as", "az", "b", "bs", "bz", "cs", "cz"][:n_inputs]
    inits = [init("as", np.float32(0.1)), init("az", np.uint8(3)), init("bs", np.float32(0.2)),
             init("bz", np.uint8(5)), init("cs", np.float32(0.3)), init("cz", np.uint8(7))]
    inputs = [("a", np.uint8, [1, 4]), ("b", np.uint8, [1, 4])]
    if scale_as_input:
        inits = inits[1:]
        inputs.append(("as", np.float32, []))
    nodes = [helper.make_node("QLinearAdd", names, ["y"], name="qadd_7", domain="com.microsoft")]
    return make_model(nodes, inputs, [("y", np.uint8, [1, 4])], inits, opset=17,
                      extra_opsets={"com.microsoft": 1}, check=False)


def test_qlinear_scale_not_constant(kiln, tmp_path):
    proc, out_dir = run_model(kiln, save(_qlinear_add(scale_as_input=True), tmp_path / "q.onnx"),
                              tmp_path)
    assert_user_error(proc, "qadd_7", "QLinearAdd", "A_scale", "constant", out_dir=out_dir)


def test_qlinear_wrong_input_count(kiln, tmp_path):
    proc, out_dir = run_model(kiln, save(_qlinear_add(n_inputs=6), tmp_path / "q.onnx"),
                              tmp_path)
    assert_user_error(proc, "qadd_7", "QLinearAdd", "expects 7 or 8 inputs, got 6",
                      out_dir=out_dir)


def test_qlinear_conv_wrong_input_count(kiln, tmp_path):
    nodes = [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys"], ["y"],
                              name="qconv_3")]
    inits = [init("xs", np.float32(0.1)), init("xz", np.uint8(3)),
             init("w", np.ones((2, 1, 1, 1), np.int8)), init("ws", np.float32(0.2)),
             init("wz", np.int8(0)), init("ys", np.float32(0.3))]
    m = make_model(nodes, [("x", np.uint8, [1, 1, 2, 2])], [("y", np.uint8, [1, 2, 2, 2])],
                   inits, opset=17, check=False)
    proc, out_dir = run_model(kiln, save(m, tmp_path / "q.onnx"), tmp_path)
    assert_user_error(proc, "qconv_3", "QLinearConv", "expects 8 or 9 inputs, got 7",
                      out_dir=out_dir)


def test_opset_below_supported_range(kiln, tmp_path):
    """Clip-6 with attribute bounds (opset 10): ORT runs it; kiln supports opsets 11 and up."""
    nodes = [helper.make_node("Clip", ["images"], ["output0"], name="clip6", min=-1.0, max=1.0)]
    m = make_model(nodes, [("images", np.float32, [1, 3, 4, 4])],
                   [("output0", np.float32, [1, 3, 4, 4])], opset=10)
    run_ort(m, {"images": np.zeros((1, 3, 4, 4), np.float32)})
    proc, out_dir = run_model(kiln, save(m, tmp_path / "clip6.onnx"), tmp_path)
    line = assert_user_error(proc, "opset", "10", out_dir=out_dir)
    assert "supported" in line, line


def test_unsupported_resize_mode_cubic(kiln, tmp_path):
    nodes = [helper.make_node("Resize", ["images", "", "scales"], ["output0"],
                              name="upsample_cubic", mode="cubic")]
    m = make_model(nodes, [("images", np.float32, [1, 3, 4, 4])],
                   [("output0", np.float32, [1, 3, 8, 8])],
                   [init("scales", np.float32([1, 1, 2, 2]))], opset=13)
    run_ort(m, {"images": np.zeros((1, 3, 4, 4), np.float32)})  # the model itself is valid
    proc, out_dir = run_model(kiln, save(m, tmp_path / "cubic.onnx"), tmp_path)
    assert_user_error(proc, "upsample_cubic", "cubic", out_dir=out_dir)


# ---------------------------------------------------------------------------------------------
# Bad inputs


@pytest.mark.parametrize("form", ["wrong_shape", "wrong_rank", "wrong_dtype_f64", "wrong_dtype_i64"])
def test_bad_input_npy(kiln, tmp_path, form):
    model = save(relu_model(), tmp_path / "relu.onnx")
    arr = {"wrong_shape": np.zeros((1, 3, 4, 5), np.float32),
           "wrong_rank": np.zeros((3, 4, 4), np.float32),
           "wrong_dtype_f64": np.zeros((1, 3, 4, 4), np.float64),
           "wrong_dtype_i64": np.zeros((1, 3, 4, 4), np.int64)}[form]
    np.save(tmp_path / "in.npy", arr)
    proc, out_dir = run_model(kiln, model, tmp_path, "--input", f"images={tmp_path / 'in.npy'}")
    assert_user_error(proc, "images", out_dir=out_dir)


def test_input_npy_not_a_npy(kiln, tmp_path):
    model = save(relu_model(), tmp_path / "relu.onnx")
    (tmp_path / "in.npy").write_text("garbage")
    proc, out_dir = run_model(kiln, model, tmp_path, "--input", f"images={tmp_path / 'in.npy'}")
    assert_user_error(proc, "in.npy", out_dir=out_dir)


def test_input_unknown_name(kiln, tmp_path):
    model = save(relu_model(), tmp_path / "relu.onnx")
    np.save(tmp_path / "in.npy", np.zeros((1, 3, 4, 4), np.float32))
    proc, out_dir = run_model(kiln, model, tmp_path, "--input", f"imagez={tmp_path / 'in.npy'}")
    assert_user_error(proc, "imagez", out_dir=out_dir)


def test_input_file_missing(kiln, tmp_path):
    model = save(relu_model(), tmp_path / "relu.onnx")
    proc, out_dir = run_model(kiln, model, tmp_path, "--input",
                              f"images={tmp_path / 'missing_input.npy'}")
    assert_user_error(proc, "missing_input.npy", out_dir=out_dir)


def test_bad_input_shape_syntax(kiln, tmp_path):
    model = save(relu_model(), tmp_path / "relu.onnx")
    proc, out_dir = run_model(kiln, model, tmp_path, "--input-shape", "images=1x3xfoo")
    assert_user_error(proc, "foo", out_dir=out_dir)


# ---------------------------------------------------------------------------------------------
# Inconsistent or absurd graphs


def test_inconsistent_shapes_in_graph(kiln, tmp_path):
    nodes = [helper.make_node("Add", ["a", "b"], ["y"], name="add_mismatch")]
    m = make_model(nodes, [("a", np.float32, [1, 3]), ("b", np.float32, [1, 4])],
                   [("y", np.float32, [1, 4])])
    proc, out_dir = run_model(kiln, save(m, tmp_path / "mismatch.onnx"), tmp_path)
    assert_user_error(proc, "add_mismatch", out_dir=out_dir)


def test_conv_weight_channel_mismatch(kiln, tmp_path):
    w = np.zeros((4, 5, 3, 3), np.float32)  # 5 input channels, the input has 3
    nodes = [helper.make_node("Conv", ["images", "w"], ["y"], name="conv_bad_channels")]
    m = make_model(nodes, [("images", np.float32, [1, 3, 8, 8])], [("y", np.float32, None)],
                   [init("w", w)], check=False)
    proc, out_dir = run_model(kiln, save(m, tmp_path / "conv.onnx"), tmp_path)
    assert_user_error(proc, "conv_bad_channels", out_dir=out_dir)


def test_absurd_input_dimension(kiln, tmp_path):
    big = 4_000_000_000
    m = make_model([helper.make_node("Relu", ["images"], ["y"], name="relu_big")],
                   [("images", np.float32, [1, 3, big, big])],
                   [("y", np.float32, [1, 3, big, big])])
    proc, out_dir = run_model(kiln, save(m, tmp_path / "big.onnx"), tmp_path)
    assert_user_error(proc, out_dir=out_dir)


def test_absurd_input_shape_override(kiln, tmp_path):
    model = save(relu_model(), tmp_path / "relu.onnx")
    proc, out_dir = run_model(kiln, model, tmp_path, "--input-shape",
                              "images=1x3x4000000000x4000000000")
    assert_user_error(proc, out_dir=out_dir)


@pytest.mark.parametrize("dims", [[4_000_000_000, 4_000_000_000, 3], [1_000_000, 1_000_000, 3]],
                         ids=["int64_overflow", "12TB"])
@pytest.mark.parametrize("op", ["Reshape", "Expand", "ConstantOfShape"])
def test_absurd_shape_inside_graph(kiln, tmp_path, op, dims):
    # Broadcast-compatible with x, so only the size is wrong: 4e9 * 4e9 * 3 > 2**63, and
    # 1e6 * 1e6 * 3 floats fit in int64 but not in any memory.
    big = np.int64(dims)
    x = ("x", np.float32, [1, 3])
    if op == "ConstantOfShape":
        nodes = [helper.make_node("ConstantOfShape", ["s"], ["k"], name="huge_node"),
                 helper.make_node("Add", ["k", "x"], ["y"], name="add0")]
    else:
        nodes = [helper.make_node(op, ["x", "s"], ["y"], name="huge_node")]
    m = make_model(nodes, [x], [("y", np.float32, None)], [init("s", big)], check=False)
    proc, out_dir = run_model(kiln, save(m, tmp_path / "huge.onnx"), tmp_path)
    assert_user_error(proc, "huge_node", out_dir=out_dir)


# ---------------------------------------------------------------------------------------------
# External data


def _external_model(location: str):
    t = TensorProto()
    t.name = "w"
    t.data_type = TensorProto.FLOAT
    t.dims.extend([3])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "12")):
        e = t.external_data.add()
        e.key, e.value = k, v
    nodes = [helper.make_node("Add", ["x", "w"], ["y"], name="add_w")]
    return make_model(nodes, [("x", np.float32, [3])], [("y", np.float32, [3])], [t],
                      check=False)


@pytest.mark.parametrize("location", ["../secret.bin", "sub/../../secret.bin"])
def test_external_data_outside_model_folder(kiln, tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(np.float32([1, 2, 3]).tobytes())
    path = save(_external_model(location), tmp_path / "model" / "ext.onnx")
    proc, out_dir = run_model(kiln, path, tmp_path)
    assert_user_error(proc, location, out_dir=out_dir)


def test_external_data_absolute_path(kiln, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.float32([1, 2, 3]).tobytes())
    path = save(_external_model(str(secret)), tmp_path / "model" / "ext.onnx")
    proc, out_dir = run_model(kiln, path, tmp_path)
    assert_user_error(proc, str(secret), out_dir=out_dir)


def test_external_data_missing_file(kiln, tmp_path):
    path = save(_external_model("weights.bin"), tmp_path / "model" / "ext.onnx")
    proc, out_dir = run_model(kiln, path, tmp_path)
    assert_user_error(proc, "weights.bin", out_dir=out_dir)


def test_external_data_inside_folder_works(kiln, tmp_path):
    """The allowed case, so the tests above fail for the right reason."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(np.float32([1, 2, 3]).tobytes())
    path = save(_external_model("weights.bin"), tmp_path / "model" / "ext.onnx")
    x = np.float32([10, 20, 30])
    np.save(tmp_path / "x.npy", x)
    proc, out_dir = run_model(kiln, path, tmp_path, "--input", f"x={tmp_path / 'x.npy'}")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out_dir / "y.npy"), np.float32([11, 22, 33]))


# ---------------------------------------------------------------------------------------------
# Dynamic dimensions


def _dynamic_model():
    nodes = [helper.make_node("Mul", ["images", "k"], ["output0"], name="mul0")]
    return make_model(nodes, [("images", np.float32, ["batch", 3, "height", 4])],
                      [("output0", np.float32, ["batch", 3, "height", 4])],
                      [init("k", np.float32([1.0, -2.0, 0.5, 3.0]))])


def test_symbolic_dim_needs_input_shape(kiln, tmp_path):
    path = save(_dynamic_model(), tmp_path / "dyn.onnx")
    proc, out_dir = run_model(kiln, path, tmp_path)
    assert_user_error(proc, "images", "--input-shape", out_dir=out_dir)


def test_input_shape_override_on_dynamic_dim(kiln, tmp_path):
    path = save(_dynamic_model(), tmp_path / "dyn.onnx")
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    proc, out_dir = run_model(kiln, path, tmp_path, "--input-shape", "images=2x3x5x4",
                              "--input", f"images={tmp_path / 'x.npy'}")
    assert proc.returncode == 0, proc.stderr
    got = np.load(out_dir / "output0.npy")
    np.testing.assert_allclose(got, run_ort(_dynamic_model(), {"images": x})["output0"],
                               rtol=1e-6)


def test_input_shape_override_random_input(kiln, tmp_path):
    path = save(_dynamic_model(), tmp_path / "dyn.onnx")
    proc, out_dir = run_model(kiln, path, tmp_path, "--input-shape", "images=1x3x2x4")
    assert proc.returncode == 0, proc.stderr
    assert np.load(out_dir / "output0.npy").shape == (1, 3, 2, 4)


def test_input_shape_override_wrong_rank(kiln, tmp_path):
    model = save(relu_model(), tmp_path / "relu.onnx")
    proc, out_dir = run_model(kiln, model, tmp_path, "--input-shape", "images=1x3x4")
    assert_user_error(proc, "images", out_dir=out_dir)


def test_output_name_sanitised(kiln, tmp_path):
    nodes = [helper.make_node("Relu", ["images"], ["out/put:0"], name="relu0")]
    m = make_model(nodes, [("images", np.float32, [2, 3])], [("out/put:0", np.float32, [2, 3])])
    x = np.float32([[-1, 2, -3], [4, -5, 6]])
    np.save(tmp_path / "x.npy", x)
    proc, out_dir = run_model(kiln, save(m, tmp_path / "m.onnx"), tmp_path, "--input",
                              f"images={tmp_path / 'x.npy'}")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(out_dir / "out_put_0.npy"), np.maximum(x, 0))
