"""`kiln detect` and `kiln validate` take the session flags of `kiln run` (tools/SessionFlags.h):
-O/--passes/--disable reach the compile (a different pipeline is a different cache entry, the
--time-passes table lists its passes) without changing the detections; a misspelt pass is one
error line and exit 1; --input-shape sets the size the model runs at.

The bundled YOLOX-Nano; images from ../shared/images (skipped with a message when absent). One
compile cache serves this file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, require_kiln

SHARED = Path(os.environ.get("KILN_SHARED", REPO.parent / "shared"))
BUNDLED = REPO / "models" / "yolox_nano.onnx"
ASSETS = REPO / "assets"
TIMEOUT_S = 600


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("flags_cache")


def bus() -> Path:
    p = SHARED / "images" / "bus.jpg"
    if not p.is_file():
        pytest.skip(f"{p} not found (the shared test images live outside the repository)")
    return p


def coco8() -> Path:
    p = SHARED / "images" / "coco8"
    if not p.is_dir():
        pytest.skip(f"{p} not found (the shared test images live outside the repository)")
    return p


def kiln(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(require_kiln()), *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=env)


def kiln_json(*args, env=None) -> tuple[dict, str]:
    """(stdout as JSON, stderr) of a command that must succeed."""
    p = kiln(*args, "--json", env=env)
    assert p.returncode == 0, f"kiln {' '.join(map(str, args))} failed:\n{p.stderr}"
    return json.loads(p.stdout), p.stderr


def fails_in_one_line(*args) -> str:
    p = kiln(*args)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert len(p.stderr.splitlines()) == 1 and p.stderr.startswith("kiln: error: "), p.stderr
    return p.stderr


def passes_listed(stderr: str) -> list[str]:
    """The pass names of a --time-passes table (between its header and its total line)."""
    names, table = [], False
    for line in stderr.splitlines():
        words = line.split()
        if words[:3] == ["pass", "ms", "changed"]:
            table = True
        elif table and words and words[0] == "total":
            break
        elif table and words:
            names.append(words[0])
    return names


def assert_same_detections(a: list, b: list):
    assert [d["class"] for d in a] == [d["class"] for d in b], (a, b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x["box"], y["box"], atol=0.5)
        assert abs(x["score"] - y["score"]) < 1e-3, (x, y)


def test_detect_honours_passes(cache):
    """-O0 and --passes O0 compile another schedule than the default O3 (their own cache entry,
    no pass in the --time-passes table) and find the same boxes."""
    img = bus()
    o3, err3 = kiln_json("detect", BUNDLED, img, "--no-save", "--cache-dir", cache,
                         "--time-passes")
    o0, err0 = kiln_json("detect", BUNDLED, img, "--no-save", "--cache-dir", cache,
                         "--passes", "O0", "--time-passes")
    again, _ = kiln_json("detect", BUNDLED, img, "--no-save", "--cache-dir", cache, "-O0")
    assert o3["cache"] == "miss" and o0["cache"] == "miss" and again["cache"] == "hit"
    assert "fuse" in passes_listed(err3) and "concat" in passes_listed(err3), err3
    assert passes_listed(err0) == [], err0
    assert any(d["class"] == "bus" and d["score"] > 0.8 for d in o3["detections"])
    assert_same_detections(o0["detections"], o3["detections"])
    assert_same_detections(again["detections"], o3["detections"])


def test_unknown_pass_is_one_error_line(tmp_path):
    img = ASSETS / sorted(p.name for p in ASSETS.glob("*.jpg"))[0]
    msg = fails_in_one_line("detect", BUNDLED, img, "--no-save", "--no-cache", "--passes",
                            "O3,fusee")
    assert "unknown pass 'fusee' (valid: qconv, fold, dce, cse, bnfold, precision, fuse," in msg, msg
    msg = fails_in_one_line("detect", BUNDLED, img, "--no-save", "--no-cache", "--disable", "fsue")
    assert "unknown pass 'fsue'" in msg, msg
    dataset = tmp_path / "data"
    (dataset / "images").mkdir(parents=True)
    (dataset / "labels").mkdir()
    shutil.copy(img, dataset / "images" / img.name)
    msg = fails_in_one_line("validate", BUNDLED, "--dataset", dataset, "--no-ort", "--no-cache",
                            "--passes", "O2,-fusee")
    assert "unknown pass 'fusee'" in msg, msg


def test_detect_honours_input_shape(cache, tmp_path):
    """--input-shape runs the model at 320x320: the letterboxed tensor has that size, and the
    bus is still found."""
    j, _ = kiln_json("detect", BUNDLED, bus(), "--no-save", "--cache-dir", cache,
                     "--input-shape", "images=1x3x320x320", "--save-input", tmp_path)
    assert j["input"] == ["images", [1, 3, 320, 320]], j["input"]
    assert np.load(tmp_path / "bus.npy").shape == (1, 3, 320, 320)
    assert any(d["class"] == "bus" and d["score"] > 0.5 for d in j["detections"]), j["detections"]
    msg = fails_in_one_line("detect", BUNDLED, bus(), "--no-save", "--no-cache", "--input-shape",
                            "images=1x3xfoo")
    assert "--input-shape 'images=1x3xfoo': dimension 'foo' is not a positive integer" in msg


def test_validate_honours_passes_and_input_shape(cache, tmp_path):
    """validate: -O0 gives the default's mAP; --input-shape the size it runs at. Its ONNX
    Runtime scratch folder (under $TMPDIR) is gone afterwards."""
    data = coco8()
    env = dict(os.environ, TMPDIR=str(tmp_path))
    o3, _ = kiln_json("validate", BUNDLED, "--dataset", data, "--cache-dir", cache,
                      "--ort-python", sys.executable, env=env)
    assert o3["onnxruntime"] is not None, o3
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith("kiln-validate-")]
    assert left == [], "validate left its scratch folder behind"
    o0, _ = kiln_json("validate", BUNDLED, "--dataset", data, "--cache-dir", cache, "-O0",
                      "--no-ort")
    assert o3["input"] == o0["input"] == ["images", [1, 3, 416, 416]]
    assert abs(o0["kiln"]["map50_95"] - o3["kiln"]["map50_95"]) < 1e-3, (o0["kiln"], o3["kiln"])
    assert abs(o0["kiln"]["map50"] - o3["kiln"]["map50"]) < 1e-3, (o0["kiln"], o3["kiln"])
    small, _ = kiln_json("validate", BUNDLED, "--dataset", data, "--cache-dir", cache,
                         "--input-shape", "images=1x3x320x320", "--no-ort")
    assert small["input"] == ["images", [1, 3, 320, 320]], small["input"]
    assert small["images"] == 8 and 0 < small["kiln"]["map50_95"] < 1, small
