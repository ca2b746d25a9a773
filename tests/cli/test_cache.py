"""The .kiln cache from the command line: ahead-of-time `kiln compile`, a second process that
loads the file without running LLVM, the automatic cache folder (KILN_CACHE_DIR), and damaged
cache files that are reported in one line and recompiled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from conftest import REPO, init, kiln_cli, make_model

YOLOX = REPO / "models" / "yolox_nano.onnx"


def small_model():
    """Conv (weights packed once at capture) -> Relu -> Add -> Sigmoid."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
    b = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    c = np.array([0.5, -0.5, 0.25, 1.0], np.float32).reshape(1, 4, 1, 1)
    return make_model(
        [helper.make_node("Conv", ["images", "w", "b"], ["y"], pads=[1, 1, 1, 1],
                          kernel_shape=[3, 3]),
         helper.make_node("Relu", ["y"], ["r"]),
         helper.make_node("Add", ["r", "c"], ["s"]),
         helper.make_node("Sigmoid", ["s"], ["output0"])],
        [("images", np.float32, [1, 3, 16, 16])], [("output0", np.float32, [1, 4, 16, 16])],
        [init("w", w), init("b", b), init("c", c)])



def run_json(kiln, *args, env_extra=None):
    proc = kiln_cli(kiln, "run", *args, "--json", "--iterations", "2", env_extra=env_extra)
    assert proc.returncode == 0, f"kiln run failed: {proc.stderr}\n{proc.stdout[-2000:]}"
    return json.loads(proc.stdout), proc.stderr


def outputs_in(out_dir: Path) -> dict:
    return {p.stem: np.load(p) for p in sorted(out_dir.glob("*.npy"))}


def assert_same_outputs(a: dict, b: dict):
    assert a.keys() == b.keys() and a
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k]), f"output {k} differs"


@pytest.fixture
def model_file(tmp_path) -> Path:
    p = tmp_path / "small.onnx"
    p.write_bytes(small_model().SerializeToString())
    return p


@pytest.fixture
def input_file(tmp_path) -> Path:
    p = tmp_path / "images.npy"
    np.save(p, np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32))
    return p


def test_compiled_file_loads_in_a_second_process_without_llvm(kiln, tmp_path, model_file,
                                                              input_file):
    out_kiln = tmp_path / "small.kiln"
    proc = kiln_cli(kiln, "compile", model_file, "-o", out_kiln, "--no-cache", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["llvm_codegen_runs"] == 1 and info["cache"] == "off"
    assert out_kiln.read_bytes()[:8] == b"\x89KILN\r\n\x1a"

    first, _ = run_json(kiln, model_file, "--no-cache", "--check", "--input",
                        f"images={input_file}", "--output-dir", tmp_path / "a")
    assert first["cache"] == "off" and first["llvm_codegen_runs"] == 1
    assert first["max_abs_err"] <= 1e-3

    # The .kiln file alone (the .onnx is gone): loaded, no LLVM work, identical outputs.
    model_file.unlink()
    second, _ = run_json(kiln, out_kiln, "--input", f"images={input_file}", "--output-dir",
                         tmp_path / "b")
    assert second["cache"] == "file"
    assert second["llvm_codegen_runs"] == 0
    assert "load_ms" in second and "compile_ms" not in second
    assert second["kernels"] == first["kernels"]
    assert_same_outputs(outputs_in(tmp_path / "a"), outputs_in(tmp_path / "b"))


def test_json_report_fields(kiln, tmp_path, model_file):
    rep, _ = run_json(kiln, model_file, "--no-cache", "--check", "--threads", "2", "--warmup",
                      "2")
    for key in ("compile_ms", "median_ms", "p90_ms", "min_ms", "kernels", "arena_bytes",
                "peak_rss_bytes", "threads", "llvm_codegen_runs", "cache", "max_abs_err",
                "max_rel_err", "outputs"):
        assert key in rep, key
    assert rep["threads"] == 2 and rep["iterations"] == 2
    assert rep["min_ms"] <= rep["median_ms"] <= rep["p90_ms"]
    assert rep["kernels"] >= 1 and rep["peak_rss_bytes"] > 0


def test_cache_dir_miss_then_hit(kiln, tmp_path, model_file, input_file):
    env = {"KILN_CACHE_DIR": str(tmp_path / "cache")}
    a, err_a = run_json(kiln, model_file, "--input", f"images={input_file}", "--output-dir",
                        tmp_path / "a", env_extra=env)
    assert a["cache"] == "miss" and a["llvm_codegen_runs"] == 1 and "compile_ms" in a
    files = list((tmp_path / "cache").glob("*.kiln"))
    assert len(files) == 1, files
    assert not list((tmp_path / "cache").glob("*tmp*")), "temporary file left behind"
    b, err_b = run_json(kiln, model_file, "--input", f"images={input_file}", "--output-dir",
                        tmp_path / "b", env_extra=env)
    assert b["cache"] == "hit" and b["llvm_codegen_runs"] == 0 and "load_ms" in b
    assert err_a == "" and err_b == ""
    assert_same_outputs(outputs_in(tmp_path / "a"), outputs_in(tmp_path / "b"))


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x5A])


def _flip_object_byte(data: bytes) -> bytes:
    off = int.from_bytes(data[72 + 40 + 16: 72 + 40 + 24], "little")  # section 1: object
    b = bytearray(data)
    b[off + 100] ^= 0x01
    return bytes(b)


def _wrong_version(data: bytes) -> bytes:
    return data[:8] + (9).to_bytes(4, "little") + data[12:]


@pytest.mark.parametrize("damage,notice", [
    (_truncate, "is corrupt (truncated"),
    (_flip_last_byte, "is corrupt (checksum mismatch"),
    (_flip_object_byte, "is corrupt (checksum mismatch in section 'object')"),
    (_wrong_version, "is stale (format version 9"),
    (lambda d: b"not a kiln file at all", "is foreign (not a .kiln file"),
])
def test_damaged_cache_file_is_reported_and_recompiled(kiln, tmp_path, model_file, input_file,
                                                        damage, notice):
    cache = tmp_path / "cache"
    run_json(kiln, model_file, "--cache-dir", cache, "--input", f"images={input_file}",
             "--output-dir", tmp_path / "good")
    (f,) = cache.glob("*.kiln")
    f.write_bytes(damage(f.read_bytes()))

    rep, err = run_json(kiln, model_file, "--cache-dir", cache, "--check", "--input",
                        f"images={input_file}", "--output-dir", tmp_path / "again")
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"kiln: cache file {f} ") and notice in lines[0], lines[0]
    assert lines[0].endswith("; recompiling")
    assert rep["cache"] == "miss" and rep["llvm_codegen_runs"] == 1
    assert_same_outputs(outputs_in(tmp_path / "good"), outputs_in(tmp_path / "again"))
    # Rewritten: the next run is a silent hit.
    rep, err = run_json(kiln, model_file, "--cache-dir", cache)
    assert rep["cache"] == "hit" and err == ""


def test_damaged_kiln_file_given_by_name_is_an_error(kiln, tmp_path, model_file):
    out_kiln = tmp_path / "small.kiln"
    assert kiln_cli(kiln, "compile", model_file, "-o", out_kiln, "--no-cache").returncode == 0
    out_kiln.write_bytes(_flip_object_byte(out_kiln.read_bytes()))
    proc = kiln_cli(kiln, "run", out_kiln, "--output-dir", tmp_path / "out")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiln: error: cache file "), proc.stderr
    assert "checksum mismatch in section 'object'" in lines[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_yolox_nano_compile_then_load(kiln, tmp_path):
    if not YOLOX.is_file():
        pytest.skip(f"{YOLOX} not found")
    cache = tmp_path / "cache"
    out_kiln = tmp_path / "yolox.kiln"
    proc = kiln_cli(kiln, "compile", YOLOX, "-o", out_kiln, "--cache-dir", cache)
    assert proc.returncode == 0, proc.stderr
    # The cache folder has it too: a check run against the reference interpreter is a hit.
    chk, _ = run_json(kiln, YOLOX, "--cache-dir", cache, "--check", "--output-dir", tmp_path / "a")
    assert chk["cache"] == "hit" and chk["llvm_codegen_runs"] == 0
    assert chk["max_abs_err"] <= 1e-3
    rep, _ = run_json(kiln, out_kiln, "--output-dir", tmp_path / "b")
    assert rep["cache"] == "file" and rep["llvm_codegen_runs"] == 0
    assert_same_outputs(outputs_in(tmp_path / "a"), outputs_in(tmp_path / "b"))
