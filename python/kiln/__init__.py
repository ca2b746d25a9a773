"""Kiln: a tensor compiler and runtime for YOLO ONNX models, from Python.

    import kiln, numpy as np
    s = kiln.Session("yolov8n.onnx", target="cpu", threads=2, input_shapes={"images": (1, 3, 640, 640)})
    outs = s.run({"images": x})        # dict output name -> np.ndarray (or s.run([x]))
    s.inputs, s.outputs                # [TensorInfo(name, dtype, shape)]
    s.stats, s.profile()               # cache hit/miss, compile/load ms, kernels, arena; per-launch ms
    kiln.compile("m.onnx", "m.kiln", target="cpu")

The first run() compiles the model for its input shapes (or loads it from the cache folder) and
later runs replay the captured kernels. A Session serves one thread at a time; for several
threads, compile once with kiln.CompiledModel and give each thread its own create_request().
The GIL is released while a model compiles or runs. Every error raises kiln.KilnError (a
RuntimeError) with a one-line message.

Arrays cross without copies where the layout allows: a C-contiguous input of the model's dtype
is read in place, any other array is copied once into that layout (its dtype must still be the
model's; lists and scalars take it); each output array owns the memory Kiln wrote it into.
"""

from __future__ import annotations

import os

from . import _kiln
from ._kiln import InferRequest, KilnError, SessionOptions, TensorInfo

__all__ = ["Session", "CompiledModel", "InferRequest", "SessionOptions", "TensorInfo",
           "KilnError", "compile", "version", "__version__"]


def version() -> str:
    """The compiler identity, e.g. "kiln 0.1.0 (LLVM 15.0.6)" (part of every cache key)."""
    return _kiln.version()


__version__ = _kiln.version().split()[1]


def _options(target="cpu", threads=0, passes="O3", precision="f32", cache_dir=None,
             input_shapes=None, profile=False, device="", use_cache=True, tuning_db=None,
             use_tuning=True) -> SessionOptions:
    o = SessionOptions()
    o.target = target
    o.device = str(device)
    o.threads = int(threads)
    o.pipeline = passes
    o.precision = precision
    o.cache_dir = "" if cache_dir is None else os.fspath(cache_dir)
    o.use_cache = bool(use_cache)
    o.tuning_db = "" if tuning_db is None else os.fspath(tuning_db)
    o.use_tuning = bool(use_tuning)
    o.input_shapes = {str(k): [int(d) for d in v] for k, v in (input_shapes or {}).items()}
    o.profile = bool(profile)
    return o


_OPTIONS_DOC = """
    target: "cpu" (LLVM code for this CPU) or "opencl" (device: index or name substring).
    threads: worker threads per run, 0 = all cores. passes: "O0".."O3", pass names, "-name".
    precision: "f32", "f16" or "bf16" for the convs. cache_dir: None = $KILN_CACHE_DIR or
    ~/.cache/kiln; use_cache=False never reads or writes it. tuning_db: None = tuning.json in
    the cache folder; use_tuning=False ignores it. input_shapes: {name: shape} to compile for
    (needed for symbolic dimensions). profile: time every kernel launch (profile())."""


def _checked_options(options: dict) -> SessionOptions:
    known = _options.__code__.co_varnames[:_options.__code__.co_argcount]
    for k in options:
        if k not in known:
            raise KilnError(f"unknown option '{k}' (options: {', '.join(known)})")
    return _options(**options)


class Session(_kiln.Session):
    __doc__ = """Session(path, *, target="cpu", threads=0, passes="O3", precision="f32",
    cache_dir=None, input_shapes=None, profile=False, device="", use_cache=True,
    tuning_db=None, use_tuning=True)

    Opens MODEL.onnx (compiled on the first run, or loaded from the cache folder) or a .kiln
    file (loaded now). run(inputs) takes a dict name -> array or a list in input order and
    returns a dict name -> np.ndarray. A run with other input shapes compiles another schedule.
    compile() compiles the default schedule now; save(path) writes it as a .kiln file.
    """ + _OPTIONS_DOC

    def __init__(self, path, **options):
        super().__init__(os.fspath(path), _checked_options(options))


class CompiledModel(_kiln.CompiledModel):
    __doc__ = """CompiledModel(path, **options): the model compiled now (or loaded) for one
    set of input shapes, shared by threads: each thread runs it through its own
    create_request() (an InferRequest: run(inputs), profile()). Target "cpu" only.
    Options as for Session.""" + _OPTIONS_DOC

    def __init__(self, path, **options):
        super().__init__(os.fspath(path), _checked_options(options))


def compile(model, output, **options) -> dict:
    """Compiles MODEL.onnx into a .kiln file at `output` (as `kiln compile` does; options as
    for Session) and returns the session's stats."""
    s = Session(model, **options)
    s.save(os.fspath(output))
    return s.stats
