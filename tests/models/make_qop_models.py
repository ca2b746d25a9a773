#!/usr/bin/env python3
"""Quantized test models made from the shared fp32 models with ONNX Runtime's quantizer.

    make_qop_models.py --kiln KILN --shared SHARED_DIR --work DIR [NAME ...]

Writes DIR/qop/NAME.onnx for each model below (all by default), calibrated on the four coco8
train images letterboxed in each model's own convention by `kiln detect --save-input` (so no
image library is needed). The models are remade only when missing or older than this script or
their fp32 source; the shared models are Ultralytics/Megvii exports, so they are made here at
test time and never committed. Exit 77 (ctest's skip) when SHARED_DIR/models is absent.

QOperator models (QuantFormat.QOperator) hold QLinearConv and ONNX Runtime's com.microsoft
QLinear* ops; a QDQ twin made from the same calibration has the same scales, so ORT on it is
the float form of the same graph (check_model.py --floor-model).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from check_model import unpack  # noqa: E402

# name -> (fp32 source in SHARED/models, QuantFormat, per_channel)
MODELS = {
    "yolov8n_qop": ("yolov8n_fp32_recon", "QOperator", False),
    "yolov8n_qop_perchannel": ("yolov8n_fp32_recon", "QOperator", True),
    "yolov8n_qdq_perchannel": ("yolov8n_fp32_recon", "QDQ", True),
    "yolov8n-seg_320_qop": ("yolov8n-seg_320_fp32_recon", "QOperator", False),
    "yolox_nano_qop": ("yolox_nano", "QOperator", False),
    "yolox_nano_qdq": ("yolox_nano", "QDQ", False),
}
CALIBRATION = "images/coco8/images/train"


def stand_in(model: Path, dest: Path) -> Path:
    """A three-node model with `model`'s input, output shape and metadata: `kiln detect` picks
    the letterbox from these, and compiles this in a moment instead of the whole network."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(model), load_external_data=False)
    inp, out = m.graph.input[0], m.graph.output[0]
    in_shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_shape = [d.dim_value for d in out.type.tensor_type.shape.dim]
    n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
    assert n_out <= n_in, f"{model.name}: output {out_shape} larger than input {in_shape}"
    consts = {"flat": [1, n_in], "starts": [0], "ends": [n_out], "axes": [1], "shape": out_shape}
    nodes = [helper.make_node("Reshape", [inp.name, "flat"], ["f"]),
             helper.make_node("Slice", ["f", "starts", "ends", "axes"], ["s"]),
             helper.make_node("Reshape", ["s", "shape"], [out.name])]
    g = helper.make_graph(nodes, "stand_in", [inp], [out],
                          [numpy_helper.from_array(np.array(v, np.int64), k)
                           for k, v in consts.items()])
    sm = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    sm.ir_version = 8
    for kv in m.metadata_props:
        sm.metadata_props.add(key=kv.key, value=kv.value)
    onnx.save(sm, str(dest))
    return dest


def calibration_inputs(kiln: Path, model: Path, images: Path, dest: Path) -> list[Path]:
    """The letterboxed inputs of the calibration images for `model` (made once)."""
    files = sorted(dest.glob("*.npy"))
    if files:
        return files
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    subprocess.run([str(kiln), "detect", str(stand_in(model, tmp / "stand_in.onnx")),
                    str(images), "--no-save", "--no-cache", "--save-input", str(tmp / "in")],
                   check=True, capture_output=True, text=True)
    (tmp / "in").replace(dest)
    shutil.rmtree(tmp)
    return sorted(dest.glob("*.npy"))


def make(name: str, kiln: Path, shared: Path, work: Path) -> Path:
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    src_name, fmt, per_channel = MODELS[name]
    src = unpack(shared / "models" / f"{src_name}.onnx.xz", work)
    dest = work / "qop" / f"{name}.onnx"
    newest = max(src.stat().st_mtime, Path(__file__).stat().st_mtime)
    if dest.is_file() and dest.stat().st_mtime >= newest:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    cal = calibration_inputs(kiln, src, shared / CALIBRATION, work / "qop" / f"{src_name}.cal")

    import onnx

    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{input_name: np.load(f)} for f in cal])

        def get_next(self):
            return next(self.feeds, None)

    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
    quantize_static(str(src), str(tmp), Reader(), quant_format=getattr(QuantFormat, fmt),
                    per_channel=per_channel, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    tmp.replace(dest)
    return dest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", default=list(MODELS), help="models to make (all)")
    ap.add_argument("--kiln", type=Path, required=True)
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args(argv)
    if not (args.shared / "models").is_dir():
        print(f"SKIP: {args.shared / 'models'} not found (the shared models live outside the "
              "repository)")
        return 77
    for name in args.names:
        if name not in MODELS:
            ap.error(f"unknown model {name!r} (known: {', '.join(MODELS)})")
        print(make(name, args.kiln, args.shared, args.work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
