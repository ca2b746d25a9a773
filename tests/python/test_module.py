"""The Python module `kiln` (python/): every shared model through kiln.Session against ONNX
Runtime, one CompiledModel run from several Python threads, the error messages, and that
arrays cross without copies. Imports the module from the build tree (PYTHONPATH=build/python,
set by ctest's py_module)."""

from __future__ import annotations

import gc
import os
import threading
from pathlib import Path

import numpy as np
import pytest

import shared_models

kiln = pytest.importorskip("kiln", reason="the Python module is not built (build/python/kiln)")
from kiln import _kiln  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
YOLOX = REPO / "models" / "yolox_nano.onnx"
SMALL = {"images": (1, 3, 64, 64)}  # a small YOLOX-Nano: compiles in seconds
CACHE = Path(os.environ.get("KILN_PY_CACHE", REPO / "build" / "python" / "cache"))


def image(seed: int, shape=SMALL["images"]) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) * 255).astype(np.float32)


@pytest.fixture(scope="module")
def session():
    return kiln.Session(YOLOX, threads=2, input_shapes=SMALL, cache_dir=CACHE)


@pytest.fixture(scope="module")
def compiled():
    return kiln.CompiledModel(YOLOX, threads=2, input_shapes=SMALL, cache_dir=CACHE)


@pytest.mark.parametrize("xz", shared_models.models(), ids=shared_models.model_id)
def test_shared_model_matches_onnxruntime(xz):
    path, kind, feeds, expected, floors = shared_models.reference(xz)
    s = kiln.Session(path, threads=2, cache_dir=CACHE)
    got = s.run(feeds)
    assert shared_models.mismatches(got, expected, kind, floors) == []
    st = s.stats
    assert st["cache"] in ("miss", "hit") and st["kernels"] > 0 and st["arena_bytes"] > 0


def test_shared_models_present():
    if not shared_models.models():
        pytest.skip(f"no shared models in {shared_models.SHARED / 'models'}")


def test_version():
    assert kiln.version().startswith(f"kiln {kiln.__version__} (LLVM ")
    assert kiln.__version__ == "0.1.0"


def test_inputs_outputs(session):
    (i,) = session.inputs
    assert (i.name, i.dtype, i.shape) == ("images", np.dtype(np.float32), (1, 3, 64, 64))
    assert repr(i) == "TensorInfo(name='images', dtype=float32, shape=(1, 3, 64, 64))"
    (o,) = session.outputs
    assert (o.name, o.dtype, o.shape) == ("output", np.dtype(np.float32), (1, 84, 85))


def test_dict_list_and_converted_inputs_agree(session):
    x = image(1)
    ref = session.run({"images": x})["output"]
    assert np.array_equal(session.run([x])["output"], ref)
    assert np.array_equal(session.run({"images": np.asfortranarray(x)})["output"], ref)
    assert np.array_equal(session.run({"images": x.tolist()})["output"], ref)


def test_inputs_are_viewed_not_copied(session):
    x = image(2)
    assert _kiln._input_data_ptr(x, session.inputs) == x.ctypes.data
    x.setflags(write=False)
    assert _kiln._input_data_ptr(x, session.inputs) == x.ctypes.data
    # Another layout is copied once into C order.
    f = np.asfortranarray(image(2))
    assert _kiln._input_data_ptr(f, session.inputs) != f.ctypes.data


def test_outputs_own_kiln_memory(session):
    x1, x2 = image(3), image(4)
    out1 = session.run({"images": x1})["output"]
    keep = out1.copy()
    assert not out1.flags.owndata and out1.base is not None  # a view of Kiln's HostTensor
    assert out1.ctypes.data % 64 == 0 and out1.flags.c_contiguous and out1.flags.writeable
    out2 = session.run({"images": x2})["output"]
    assert out2.ctypes.data != out1.ctypes.data
    assert np.array_equal(out1, keep)  # a later run does not write into earlier outputs
    # The arrays keep their memory alive after the session is gone.
    s = kiln.Session(YOLOX, threads=2, input_shapes=SMALL, cache_dir=CACHE)
    out3 = s.run({"images": x1})["output"]
    del s
    gc.collect()
    assert np.array_equal(out3, keep)


def test_threads_share_one_compiled_model(compiled):
    inputs = [image(10 + i) for i in range(8)]
    serial = compiled.create_request()
    expected = [serial.run({"images": x})["output"] for x in inputs]
    results, errors = {}, []

    def work(t: int):
        try:
            req = compiled.create_request()
            for k in range(t, len(inputs), 4):
                results[k] = req.run({"images": inputs[k]})["output"]
        except Exception as e:  # reported below: an exception in a thread does not fail a test
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for k, e in enumerate(expected):
        assert np.array_equal(results[k], e), f"input {k}"
    assert compiled.inputs[0].shape == (1, 3, 64, 64)


def test_stats_profile_save_and_load(tmp_path, session):
    s = kiln.Session(YOLOX, threads=2, input_shapes=SMALL, use_cache=False, profile=True)
    x = image(5)
    ref = s.run({"images": x})["output"]
    st = s.stats
    assert st["cache"] == "off" and st["compile_ms"] > 0 and st["load_ms"] == 0
    assert st["threads"] == 2 and st["schedules"] == 1 and st["passes"]
    prof = s.profile()
    assert len(prof) == st["kernels"] > 0
    assert all(p["kernel"] and p["ms"] >= 0 for p in prof)
    s.save(tmp_path / "yolox_64.kiln")
    loaded = kiln.Session(tmp_path / "yolox_64.kiln", threads=2)
    assert np.array_equal(loaded.run({"images": x})["output"], ref)
    assert loaded.stats["cache"] == "file"
    assert np.array_equal(session.run({"images": x})["output"], ref)


def test_metadata_without_reparsing_the_model(tmp_path):
    import onnx
    m = onnx.load(YOLOX)
    want = {"names": "{0: 'person', 1: 'bicycle'}", "stride": "32", "author": "test"}
    for k, v in want.items():
        m.metadata_props.add(key=k, value=v)
    path = tmp_path / "with_meta.onnx"
    onnx.save(m, path)
    cache = tmp_path / "cache"
    first = kiln.Session(path, threads=2, input_shapes=SMALL, cache_dir=cache)
    assert first.metadata == want
    first.compile()
    first.save(tmp_path / "m.kiln")
    # A cache hit (no import) and a .kiln file keep them; so does a CompiledModel.
    hit = kiln.Session(path, threads=2, input_shapes=SMALL, cache_dir=cache)
    hit.compile()
    assert hit.stats["cache"] == "hit" and not hit.stats["imported"]
    assert hit.metadata == want
    assert kiln.Session(tmp_path / "m.kiln").metadata == want
    assert kiln.CompiledModel(path, threads=2, input_shapes=SMALL, cache_dir=cache).metadata == want
    assert kiln.Session(YOLOX, threads=2, input_shapes=SMALL, cache_dir=CACHE).metadata == {}


def test_compile_function(tmp_path):
    out = tmp_path / "m.kiln"
    st = kiln.compile(YOLOX, out, input_shapes=SMALL, cache_dir=CACHE, threads=2)
    assert out.is_file() and st["cache"] in ("hit", "miss")
    s = kiln.Session(YOLOX, threads=2, input_shapes=SMALL, cache_dir=CACHE)
    s.compile()
    assert s.stats["kernels"] > 0


def one_line_error(fn, match: str) -> str:
    with pytest.raises(kiln.KilnError, match=match) as e:
        fn()
    msg = str(e.value)
    assert isinstance(e.value, RuntimeError) and "\n" not in msg
    return msg


def test_error_missing_model(tmp_path):
    one_line_error(lambda: kiln.Session(tmp_path / "nope.onnx"), "nope.onnx")


def test_error_unknown_option():
    one_line_error(lambda: kiln.Session(YOLOX, thread=2), "unknown option 'thread'")


def test_error_bad_target_and_passes():
    one_line_error(lambda: kiln.Session(YOLOX, target="tpu").compile(), "tpu")
    one_line_error(lambda: kiln.Session(YOLOX, passes="O3,-nosuch", input_shapes=SMALL,
                                        use_cache=False).compile(), "nosuch")


def test_error_wrong_input_name(session):
    one_line_error(lambda: session.run({"imgs": image(7)}),
                   "the model has no input named 'imgs' \\(inputs: images\\)")


def test_error_wrong_dtype(session):
    one_line_error(lambda: session.run({"images": image(7).astype(np.float64)}),
                   "input 'images' is float64 but the model takes float32")
    one_line_error(lambda: session.run({"images": image(7).astype(np.complex64)}),
                   "input 'images' has a dtype Kiln does not support")


def test_error_wrong_shape(compiled, session):
    req = compiled.create_request()
    one_line_error(lambda: req.run({"images": image(7, (1, 3, 32, 32))}),
                   r"input 'images' is f32\[1x3x32x32\] but the model was compiled for "
                   r"f32\[1x3x64x64\]")
    one_line_error(lambda: session.run({"images": image(7, (1, 3, 64))}), "images")


def test_error_input_containers(session):
    one_line_error(lambda: session.run([image(7), image(8)]), "got 2 inputs, the model takes 1")
    one_line_error(lambda: session.run(image(7)), "inputs must be a dict")
    one_line_error(lambda: session.run({"images": "cat.jpg"}), "input 'images'")
