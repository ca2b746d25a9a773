"""Runs models through an installed `kiln` (test_install.py starts it in the fresh venv):

    run_installed.py CACHE_DIR MODEL.onnx INPUTS.npz OUTPUTS.npz [MODEL INPUTS OUTPUTS ...]

Prints where the module was imported from; writes each model's outputs (kiln.Session(...).run)
into OUTPUTS.npz, in output order."""

import sys

import numpy as np

import kiln

print(kiln.__file__)
cache = sys.argv[1]
for model, ins, outs in zip(*[iter(sys.argv[2:])] * 3):
    feeds = dict(np.load(ins))
    got = kiln.Session(model, threads=2, cache_dir=cache).run(feeds)
    np.savez(outs, **{f"o{i}": v for i, v in enumerate(got.values())}, names=list(got))
