#!/usr/bin/env python3
"""ONNX Runtime's outputs for the C API and consumer tests (tests/c, tests/consumer).

    ort_expected.py MODEL.onnx 1x3x64x64 OUT_PREFIX

Runs MODEL's single f32 input filled with the pattern those tests make in C/C++
(x[i] = (i * 37 % 255) / 255) at the given shape, and writes each output o as OUT_PREFIX.o.bin:
raw little-endian float32, row-major. Prints the output names and shapes.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main() -> int:
    model, shape, prefix = sys.argv[1], [int(d) for d in sys.argv[2].split("x")], sys.argv[3]
    n = int(np.prod(shape))
    x = ((np.arange(n, dtype=np.int64) * 37 % 255) / np.float32(255)).astype(np.float32)
    # The model's input may be declared at another fixed size (yolox_nano: 416): re-declare it.
    m = onnx.load(model)
    for d, v in zip(m.graph.input[0].type.tensor_type.shape.dim, shape):
        d.dim_value = v
    for o in m.graph.output:
        o.type.tensor_type.ClearField("shape")
    del m.graph.value_info[:]
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    (inp,) = s.get_inputs()
    for o, v in zip(s.get_outputs(), s.run(None, {inp.name: x.reshape(shape)})):
        v.astype("<f4").tofile(f"{prefix}.{o.name}.bin")
        print(o.name, "x".join(map(str, v.shape)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
