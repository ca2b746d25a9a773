"""Real YOLO models: `kiln run --backend reference` against ONNX Runtime via check_model.py
(tolerance rules in its docstring). Skips when ../shared/models or the kiln binary is absent.
Slow (a reference-interpreter run per model): select with `-k` or run check_model.py directly.
The larger scale models (Conv weights generated from ../shared/models/scale/*.skel.onnx) are
compiled for the CPU instead; all but yolov8s only with KILN_SCALE_MODELS=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, require_kiln

SHARED_MODELS = Path(os.environ.get("KILN_SHARED", REPO.parent / "shared")) / "models"
CHECK = Path(__file__).with_name("check_model.py")
MODELS = [
    "yolov8n_fp32_recon.onnx.xz",
    "yolov8n-seg_320_fp32_recon.onnx.xz",
    "yolov5n_fp32_cast.onnx.xz",
    "yolov5n_fp16.onnx.xz",
    "yolox_nano.onnx.xz",
    "int8/yolov8n_int8_dynamic.onnx.xz",
    "int8/yolov8n_int8_qdq.onnx.xz",
    "int8/yolov8n-seg_320_int8_dynamic.onnx.xz",
]
SCALE_MODELS = ["yolov8s", "yolov8m", "yolo11s", "yolo11m"]


@pytest.mark.parametrize("model", MODELS)
def test_model_matches_ort(model):
    path = SHARED_MODELS / model
    if not path.is_file():
        pytest.skip(f"{path} not found (the shared test models live outside the repository)")
    check(path)


@pytest.mark.parametrize("model", SCALE_MODELS)
def test_scale_model_matches_ort(model):
    path = SHARED_MODELS / "scale" / f"{model}.skel.onnx"
    if not path.is_file():
        pytest.skip(f"{path} not found (the shared test models live outside the repository)")
    if model != "yolov8s" and os.environ.get("KILN_SCALE_MODELS") != "1":
        pytest.skip("slow: runs with KILN_SCALE_MODELS=1")
    check(path, "--target", "cpu")


def check(path, *extra):
    kiln = require_kiln()
    work = REPO / "build" / "models"
    proc = subprocess.run([sys.executable, str(CHECK), str(path), "--kiln", str(kiln),
                           "--work", str(work), *extra], capture_output=True, text=True,
                          timeout=1800)
    print(proc.stdout)
    assert proc.returncode == 0, f"check_model.py failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
