"""The CLI's -v/-q and compile progress: the library never prints; the CLI prints its messages
as "kiln: ..." at the level asked for, and shows compile progress only on a terminal.
"""

from __future__ import annotations

import os
import pty
import subprocess

import numpy as np
from onnx import helper

from conftest import init, kiln_cli, make_model


def conv_relu():
    w = (np.random.default_rng(2).standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
    return make_model(
        [helper.make_node("Conv", ["images", "w"], ["y"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Relu", ["y"], ["output0"])],
        [("images", np.float32, [1, 3, 16, 16])], [("output0", np.float32, [1, 4, 16, 16])],
        [init("w", w)])


def test_verbose_says_what_compiles_and_loads_did_and_quiet_hides_warnings(kiln, tmp_path):
    model, cache = tmp_path / "m.onnx", tmp_path / "cache"
    model.write_bytes(conv_relu().SerializeToString())
    run = lambda *a: kiln_cli(kiln, "run", model, "--iterations", "1", "--cache-dir", cache, *a)
    first = run("-v")
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith(f"kiln: compiled {model} for images f32[1x3x16x16] ("), first.stderr
    second = run("-v")
    lines = second.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kiln: loaded {cache}/"), lines
    assert run().stderr == "", "a plain cached run says nothing"

    kiln_file = next(cache.glob("*.kiln"))
    kiln_file.write_bytes(kiln_file.read_bytes()[:-100])
    warned = run()
    assert warned.stderr.startswith(f"kiln: cache file {kiln_file} is corrupt"), warned.stderr
    kiln_file.write_bytes(kiln_file.read_bytes()[:-100])
    quiet = run("-q")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_compile_progress_shows_on_a_terminal_only(kiln, tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(conv_relu().SerializeToString())
    args = [str(kiln), "run", str(model), "--iterations", "1", "--no-cache"]
    piped = subprocess.run(args, capture_output=True, text=True)
    assert piped.returncode == 0 and "compiling" not in piped.stderr

    # stderr on a pseudo-terminal: the progress line is rewritten in place, then cleared.
    main, sub = pty.openpty()
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=sub, timeout=300)
    os.close(sub)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.returncode == 0
    text = out.decode()
    steps = [s for s in text.split("\r\x1b[K") if s]
    assert steps[0] == "kiln: compiling: passes 0/1", steps
    assert any(s.startswith("kiln: compiling: codegen") for s in steps), steps
    assert "kiln: compiling: capture 1/1" in steps and text.endswith("\r\x1b[K"), steps
    assert not any("\n" in s for s in steps), "one line, rewritten in place"
