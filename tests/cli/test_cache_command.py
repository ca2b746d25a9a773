"""`kiln cache list|prune|clear`: what the cache folder holds, and deleting exactly what this
Kiln can never load again (a re-exported or deleted model, another Kiln build, damaged files,
temporaries of interrupted writes) while what it can still load survives.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from onnx import helper

from conftest import init, kiln_cli, make_model


def model_with_bias(bias: float):
    """Conv 3x3 3->4 + Relu; `bias` stands for a retrained model's new weights."""
    w = (np.random.default_rng(0).standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
    return make_model(
        [helper.make_node("Conv", ["images", "w", "b"], ["y"], pads=[1, 1, 1, 1],
                          kernel_shape=[3, 3]),
         helper.make_node("Relu", ["y"], ["output0"])],
        [("images", np.float32, [1, 3, 16, 16])], [("output0", np.float32, [1, 4, 16, 16])],
        [init("w", w), init("b", np.full(4, bias, np.float32))])


def run(kiln, model, cache):
    proc = kiln_cli(kiln, "run", model, "--json", "--iterations", "1", "--cache-dir", cache)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cache_json(kiln, action, cache, *args):
    proc = kiln_cli(kiln, "cache", action, "--cache-dir", cache, "--json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def by_state(entries):
    return sorted((e["kind"], e["reachable"], e.get("why", "")) for e in entries)


def test_list_and_prune_keep_what_this_kiln_can_load(kiln, tmp_path):
    cache, model = tmp_path / "cache", tmp_path / "m.onnx"
    model.write_bytes(model_with_bias(0.1).SerializeToString())
    assert run(kiln, model, cache)["cache"] == "miss"
    listed = cache_json(kiln, "list", cache)
    assert by_state(listed) == [("index", True, ""), ("schedule", True, "")], listed
    sched = next(e for e in listed if e["kind"] == "schedule")
    assert sched["model"] == str(model) and sched["inputs"] == "images=f32[1x3x16x16]"
    assert sched["precision"] == "f32" and sched["bytes"] > 0

    # The model is exported again with new weights: its old entries are unreachable.
    model.write_bytes(model_with_bias(0.2).SerializeToString())
    assert run(kiln, model, cache)["cache"] == "miss"
    stale = [e for e in cache_json(kiln, "list", cache) if not e["reachable"]]
    assert by_state(stale) == [("index", False, "model changed"),
                               ("schedule", False, "model changed")], stale
    # Damage and leftovers: a garbled schedule, an old temporary and a fresh one (a compile
    # that may still be writing it), a file Kiln does not know.
    good = next(e for e in cache_json(kiln, "list", cache) if e["kind"] == "schedule" and
                e["reachable"])
    (cache / ("0" * 32 + ".kiln")).write_bytes((cache / good["file"]).read_bytes()[:-100])
    old_tmp, new_tmp = cache / "x.kiln.tmpAAAAAA", cache / "y.kiln.tmpBBBBBB"
    old_tmp.write_bytes(b"half")
    new_tmp.write_bytes(b"half")
    os.utime(old_tmp, (time.time() - 3600, time.time() - 3600))
    (cache / "notes.txt").write_text("mine")

    dry = cache_json(kiln, "prune", cache, "--dry-run")
    assert dry["files"] == 4 and dry["dry_run"], dry
    assert len(list(cache.iterdir())) == 8, "a dry run deletes nothing"
    done = cache_json(kiln, "prune", cache)
    assert sorted(e["file"] for e in done["deleted"]) == sorted(e["file"] for e in dry["deleted"])
    assert any(e["why"].startswith("corrupt (truncated") for e in done["deleted"]), done
    assert any(e["why"] == "left by an interrupted write" for e in done["deleted"]), done
    left = sorted(p.name for p in cache.iterdir())
    assert len(left) == 4 and "notes.txt" in left and new_tmp.name in left, left
    # What is left still loads: a cache hit without importing the model.
    again = run(kiln, model, cache)
    assert again["cache"] == "hit" and not again["imported"], again


def test_prune_other_builds_unless_kept_and_clear(kiln, tmp_path):
    cache, model = tmp_path / "cache", tmp_path / "m.onnx"
    model.write_bytes(model_with_bias(0.1).SerializeToString())
    run(kiln, model, cache)
    index = next(cache.glob("*.model.json"))
    j = json.loads(index.read_text())
    j["compiler"] = "kiln 0.0.1 (LLVM 15.0.6) build 1234"
    index.write_text(json.dumps(j))
    (cache / "tuning.json").write_text("{}")
    kept = cache_json(kiln, "prune", cache, "--keep-other-builds")
    assert kept["files"] == 0, kept
    pruned = cache_json(kiln, "prune", cache)
    assert [e["why"] for e in pruned["deleted"]] == [
        "another Kiln build (kiln 0.0.1 (LLVM 15.0.6) build 1234)"], pruned

    # A deleted model leaves its schedule unreachable.
    model.unlink()
    assert by_state(e for e in cache_json(kiln, "list", cache) if e["kind"] == "schedule") == [
        ("schedule", False, "model deleted")]
    cleared = cache_json(kiln, "clear", cache)
    assert [e["kind"] for e in cleared["deleted"]] == ["schedule"], cleared
    assert sorted(p.name for p in cache.iterdir()) == ["tuning.json"]
    assert cache_json(kiln, "clear", cache, "--all")["files"] == 1
    assert list(cache.iterdir()) == []


def test_list_prints_a_table_and_handles_a_missing_folder(kiln, tmp_path):
    cache, model = tmp_path / "cache", tmp_path / "m.onnx"
    proc = kiln_cli(kiln, "cache", "list", "--cache-dir", cache)
    assert proc.returncode == 0 and "no cache folder yet" in proc.stdout, proc.stdout
    model.write_bytes(model_with_bias(0.1).SerializeToString())
    run(kiln, model, cache)
    proc = kiln_cli(kiln, "cache", "list", "--cache-dir", cache)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{cache}: 2 files") and "0.0 MiB unreachable" in lines[0], lines
    assert lines[1].split() == ["kind", "MiB", "modified", "model", "inputs", "precision", "state"]
    assert {ln.split()[0] for ln in lines[2:]} == {"schedule", "index"}
    assert all(ln.rstrip().endswith("ok") for ln in lines[2:]), lines
    notdir = tmp_path / "file"
    notdir.write_text("x")
    bad = kiln_cli(kiln, "cache", "list", "--cache-dir", notdir)
    assert bad.returncode == 1 and bad.stderr.strip() == f"kiln: error: --cache-dir {notdir}: not a folder"


def test_inspect_shows_a_compiled_files_manifest(kiln, tmp_path):
    model, out = tmp_path / "m.onnx", tmp_path / "m.kiln"
    model.write_bytes(model_with_bias(0.1).SerializeToString())
    proc = kiln_cli(kiln, "compile", model, "-o", out, "--precision", "bf16", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    ran = json.loads(kiln_cli(kiln, "run", out, "--json", "--iterations", "1").stdout)
    j = json.loads(kiln_cli(kiln, "inspect", out, "--json").stdout)
    assert j["format"] == "kiln-schedule" and j["precision"] == "bf16"
    assert j["model"]["path"] == str(model)
    assert [i["shape"] for i in j["inputs"]] == [[1, 3, 16, 16]]
    assert len(j["schedule"]["launches"]) == ran["kernels"]
    assert j["file"]["weights_bytes"] > 0 and j["file"]["object_bytes"] > 0
    assert j["file"]["manifest_bytes"] + j["file"]["object_bytes"] < out.stat().st_size

    text = kiln_cli(kiln, "inspect", out).stdout.splitlines()
    fields = {ln.split()[0]: ln.split(None, 1)[1] for ln in text[1:] if ln.startswith("  ") and
              not ln.strip()[0].isdigit() and ln.split()[0] != "#"}
    assert fields["precision"] == "bf16" and fields["inputs"] == "images f32[1x3x16x16]", fields
    assert fields["kernels"].split()[2] == str(ran["kernels"]), fields  # "N compiled, M launches"
    launches = [ln for ln in text if ln.strip()[:1].isdigit()]
    assert len(launches) == ran["kernels"] and "conv2d_3x3s1_relu_bf16" in " ".join(launches)

    out.write_bytes(out.read_bytes()[:-64])
    bad = kiln_cli(kiln, "inspect", out)
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1, bad.stderr
    assert f"{out}: cache file is corrupt (truncated" in bad.stderr
