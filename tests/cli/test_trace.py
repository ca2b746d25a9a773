"""`kiln run --profile` and `--trace FILE.json`: every launch timed, and the run's timeline as
a Chrome trace (chrome://tracing, Perfetto) with one complete event per launch.
"""

from __future__ import annotations

import json

import numpy as np
from onnx import helper

from conftest import init, kiln_cli, make_model


def two_convs():
    rng = np.random.default_rng(1)
    w1 = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((8, 8, 3, 3)) * 0.3).astype(np.float32)
    return make_model(
        [helper.make_node("Conv", ["images", "w1"], ["a"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Relu", ["a"], ["r"]),
         helper.make_node("Conv", ["r", "w2"], ["b"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Softmax", ["b"], ["output0"], axis=1)],
        [("images", np.float32, [1, 3, 32, 32])], [("output0", np.float32, [1, 8, 32, 32])],
        [init("w1", w1), init("w2", w2)])


def test_trace_has_one_event_per_launch_in_timeline_order(kiln, tmp_path):
    model, trace = tmp_path / "m.onnx", tmp_path / "trace.json"
    model.write_bytes(two_convs().SerializeToString())
    proc = kiln_cli(kiln, "run", model, "--json", "--iterations", "5", "--no-cache", "--trace",
                    trace)
    assert proc.returncode == 0, proc.stderr
    ran = json.loads(proc.stdout)
    t = json.loads(trace.read_text())
    events = [e for e in t["traceEvents"] if e["ph"] == "X"]
    assert len(events) == ran["kernels"] == len(ran["profile"]) >= 2
    assert [e["name"] for e in events] == [p["kernel"] for p in ran["profile"]]
    assert [e["args"]["node"] for e in events] == [p["node"] for p in ran["profile"]]
    assert any(e["name"].startswith("conv2d") for e in events)
    assert events[0]["ts"] == 0 and all(e["dur"] > 0 for e in events)
    # Each launch starts after the one before it has ended (means of per-run timelines).
    for a, b in zip(events, events[1:]):
        assert b["ts"] >= a["ts"] + a["dur"] - 1e-3, (a, b)
    for e, p in zip(events, ran["profile"]):
        assert abs(e["ts"] - 1e3 * p["start_ms"]) < 1e-3 and abs(e["dur"] - 1e3 * p["ms"]) < 1e-3
    meta = {e["name"] for e in t["traceEvents"] if e["ph"] == "M"}
    assert meta == {"process_name", "thread_name"}
    assert t["otherData"]["runs"] == 6  # --warmup 1 + --iterations 5


def test_trace_to_an_unwritable_path_is_one_line(kiln, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(two_convs().SerializeToString())
    bad = tmp_path / "no" / "such" / "dir" / "t.json"
    proc = kiln_cli(kiln, "run", model, "--iterations", "1", "--no-cache", "--trace", bad)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert str(bad) in proc.stderr and not bad.exists()
