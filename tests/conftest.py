"""Shared fixtures for Kiln's Python test suites (ops, cli, models).

The Kiln binary comes from the environment variable KILN (default: <repo>/build/kiln); tests
that need it skip with a clear message when it is missing. Every helper is deterministic: the
tests build tiny ONNX graphs in memory, run them through ONNX Runtime (CPU, no graph
optimisation) and through `kiln run --backend reference`, and compare.

Helpers (importable as `from conftest import ...`, also exposed as fixtures):
  make_model(nodes, inputs, outputs, initializers=(), opset=17, extra_opsets=None)
  run_ort(model, inputs) -> {output name: array}
  run_kiln(model_bytes_or_path, inputs, tmp_path, extra_args=()) -> {output name: array}
  assert_outputs_match(got, expected, rtol=1e-4, atol=1e-5)
  kiln_cli(kiln, *args, env_extra=None, timeout=600) -> CompletedProcess (no KILN_CACHE_DIR)
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parent.parent
DEFAULT_KILN = REPO / "build" / "kiln"
KILN_TIMEOUT_S = 120


def kiln_path() -> Path:
    return Path(os.environ.get("KILN", str(DEFAULT_KILN)))


def kiln_cli(kiln, *args, env_extra=None, timeout=600):
    """Runs the kiln command line (text output captured) without the caller's KILN_CACHE_DIR,
    plus `env_extra`."""
    env = dict(os.environ)
    env.pop("KILN_CACHE_DIR", None)
    env.update(env_extra or {})
    return subprocess.run([str(kiln), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def require_kiln() -> Path:
    """The kiln binary, or skip the calling test with a message saying how to provide it."""
    p = kiln_path()
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.skip(f"kiln binary not found at {p} (build it, or set KILN=/path/to/kiln)")
    return p


# ---------------------------------------------------------------------------------------------
# Model construction


def _np_to_onnx_dtype(dt) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dt))


def vi(name: str, dtype, shape) -> onnx.ValueInfoProto:
    """A ValueInfo from a numpy dtype (or TensorProto enum) and a shape (ints, strings, None)."""
    elem = dtype if isinstance(dtype, int) else _np_to_onnx_dtype(dtype)
    return helper.make_tensor_value_info(name, elem, shape)


def init(name: str, array) -> onnx.TensorProto:
    """An initializer from a numpy array (keeps its dtype)."""
    return numpy_helper.from_array(np.asarray(array), name)


def ir_version_for(opset: int) -> int:
    """The smallest IR version that carries `opset` (what ORT and the checker accept)."""
    try:
        return helper.find_min_ir_version_for([helper.make_opsetid("", opset)], ignore_unknown=True)
    except Exception:  # pragma: no cover - very old/new onnx
        return 8 if opset <= 17 else 9 if opset <= 20 else 10


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17,
               extra_opsets: dict | None = None, name: str = "test",
               check: bool = True) -> onnx.ModelProto:
    """A ModelProto around onnx.helper.make_graph.

    inputs/outputs: ValueInfoProtos or (name, dtype, shape) triples. Nodes without a name get
    one ("n0", "n1", ...) so error messages can name them. check=False skips the ONNX checker
    (for deliberately invalid models)."""

    def as_vi(v):
        return v if isinstance(v, onnx.ValueInfoProto) else vi(*v)

    for i, n in enumerate(nodes):
        if not n.name:
            n.name = f"n{i}"
    graph = helper.make_graph(list(nodes), name, [as_vi(v) for v in inputs],
                              [as_vi(v) for v in outputs], initializer=list(initializers))
    opsets = [helper.make_opsetid("", opset)]
    for domain, version in (extra_opsets or {}).items():
        opsets.append(helper.make_opsetid(domain, version))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="kiln-tests")
    model.ir_version = ir_version_for(opset)
    if check:
        onnx.checker.check_model(model)
    return model


def model_bytes(model) -> bytes:
    if isinstance(model, onnx.ModelProto):
        return model.SerializeToString()
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    return Path(model).read_bytes()


def output_names(model) -> list[str]:
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load_from_string(model_bytes(model))
    return [o.name for o in model.graph.output]


def sanitize(name: str) -> str:
    """The file stem kiln uses for an output name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


# ---------------------------------------------------------------------------------------------
# Running


def run_ort(model, inputs: dict) -> dict:
    """Runs `model` (ModelProto, bytes or path) with ONNX Runtime CPU, no graph optimisation."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    src = model_bytes(model) if not isinstance(model, (str, Path)) else str(model)
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    res = sess.run(names, {k: np.asarray(v) for k, v in inputs.items()})
    return dict(zip(names, res))


def kiln_cmd(kiln: Path, model_file: Path, input_files: dict, out_dir: Path,
             extra_args=()) -> list[str]:
    cmd = [str(kiln), "run", str(model_file), "--backend", "reference"]
    for name, f in input_files.items():
        cmd += ["--input", f"{name}={f}"]
    cmd += ["--output-dir", str(out_dir), *map(str, extra_args)]
    return cmd


def run_kiln_raw(model, inputs: dict, tmp_path: Path, extra_args=(), kiln: Path | None = None):
    """Saves model + inputs under tmp_path, runs `kiln run`; returns (CompletedProcess, out_dir)."""
    kiln = kiln or require_kiln()
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    if isinstance(model, (str, Path)):
        model_file = Path(model)
    else:
        model_file = tmp_path / "model.onnx"
        model_file.write_bytes(model_bytes(model))
    input_files = {}
    for i, (name, arr) in enumerate(inputs.items()):
        f = tmp_path / f"input{i}.npy"
        np.save(f, np.asarray(arr))
        input_files[name] = f
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    proc = subprocess.run(kiln_cmd(kiln, model_file, input_files, out_dir, extra_args),
                          capture_output=True, text=True, timeout=KILN_TIMEOUT_S)
    return proc, out_dir


def run_kiln(model, inputs: dict, tmp_path: Path, extra_args=(), kiln: Path | None = None) -> dict:
    """Runs the model through `kiln run --backend reference`; returns {output name: array}."""
    proc, out_dir = run_kiln_raw(model, inputs, tmp_path, extra_args, kiln)
    if proc.returncode != 0:
        raise AssertionError(f"kiln run failed (exit {proc.returncode}):\n"
                             f"cmd: {' '.join(proc.args)}\nstderr: {proc.stderr}\n"
                             f"stdout: {proc.stdout[-2000:]}")
    result = {}
    for name in output_names(model):
        f = out_dir / (sanitize(name) + ".npy")
        assert f.is_file(), f"kiln wrote no {f.name} for output {name!r}; dir has {sorted(p.name for p in out_dir.iterdir())}"
        result[name] = np.load(f)
    return result


def assert_outputs_match(got: dict, expected: dict, rtol: float = 1e-4, atol: float = 1e-5,
                         context: str = ""):
    """Same names, shapes and dtypes; floats within tolerance, integers and bools exact.

    float16 outputs compare in float32 with rtol 1e-3 (one f16 ulp is ~4.9e-4 relative)."""
    assert set(got) == set(expected), f"{context}: output names {sorted(got)} != {sorted(expected)}"
    for name, exp in expected.items():
        g = got[name]
        what = f"{context}: output {name!r}"
        assert g.dtype == exp.dtype, f"{what}: dtype {g.dtype} != ORT's {exp.dtype}"
        assert g.shape == exp.shape, f"{what}: shape {g.shape} != ORT's {exp.shape}"
        if exp.dtype.kind in "fc":
            r, a = (max(rtol, 1e-3), max(atol, 1e-3)) if exp.dtype == np.float16 else (rtol, atol)
            np.testing.assert_allclose(g.astype(np.float32) if exp.dtype == np.float16 else g,
                                       exp.astype(np.float32) if exp.dtype == np.float16 else exp,
                                       rtol=r, atol=a, err_msg=what)
        else:
            np.testing.assert_array_equal(g, exp, err_msg=what)


def check_model_vs_ort(model, inputs: dict, tmp_path: Path, rtol: float = 1e-4,
                       atol: float = 1e-5, extra_args=(), exact: bool = False):
    """Runs ORT then kiln on the model and asserts every output matches; returns both results."""
    expected = run_ort(model, inputs)
    got = run_kiln(model, inputs, tmp_path, extra_args)
    if exact:
        rtol = atol = 0.0
    assert_outputs_match(got, expected, rtol, atol)
    return got, expected


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def kiln() -> Path:
    return require_kiln()


@pytest.fixture
def kiln_run(kiln, tmp_path):
    """kiln_run(model, inputs, extra_args=()) -> outputs, in this test's tmp_path."""

    def _run(model, inputs, extra_args=()):
        return run_kiln(model, inputs, tmp_path, extra_args, kiln)

    return _run


@pytest.fixture
def check(kiln, tmp_path):
    """check(model, inputs, rtol=1e-4, atol=1e-5) runs ORT and kiln and compares outputs."""

    def _check(model, inputs, **kw):
        return check_model_vs_ort(model, inputs, tmp_path, **kw)

    return _check


@pytest.fixture
def rng():
    return np.random.default_rng(0)


__all__ = ["TensorProto", "helper", "numpy_helper", "make_model", "vi", "init", "run_ort",
           "run_kiln", "run_kiln_raw", "assert_outputs_match", "check_model_vs_ort",
           "require_kiln", "kiln_path", "sanitize", "output_names", "ir_version_for"]
