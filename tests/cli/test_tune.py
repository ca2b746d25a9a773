"""`kiln tune`: conv tiles timed per layer shape, stored in a tuning database that compiles
read (by shape, dtype, target and CPU); the database's tiles are the ones compiled, change the
cache key, and still match the reference interpreter; a corrupt database is one error line;
`kiln sweep --tuning` compares tuned and untuned.
"""

from __future__ import annotations

import json

import numpy as np
from onnx import helper

from conftest import init, kiln_cli, make_model


def two_conv_model():
    """Conv 3x3 16->20 (20 channels: the channel block changes the packed weights' size) ->
    Relu -> Conv 1x1 20->12."""
    rng = np.random.default_rng(0)
    w3 = (rng.standard_normal((20, 16, 3, 3)) * 0.2).astype(np.float32)
    b3 = (rng.standard_normal(20) * 0.1).astype(np.float32)
    w1 = (rng.standard_normal((12, 20, 1, 1)) * 0.2).astype(np.float32)
    return make_model(
        [helper.make_node("Conv", ["images", "w3", "b3"], ["y"], pads=[1, 1, 1, 1],
                          kernel_shape=[3, 3]),
         helper.make_node("Relu", ["y"], ["r"]),
         helper.make_node("Conv", ["r", "w1"], ["output0"], kernel_shape=[1, 1])],
        [("images", np.float32, [1, 16, 24, 24])], [("output0", np.float32, [1, 12, 24, 24])],
        [init("w3", w3), init("b3", b3), init("w1", w1)])



def run_json(kiln, model, *args):
    proc = kiln_cli(kiln, "run", model, "--json", "--iterations", "1", "--threads", "1",
                    "--check", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def the_section(db_file):
    db = json.loads(db_file.read_text())
    assert db["format"] == "kiln-conv-tuning" and db["version"] == 1
    assert len(db["sections"]) == 1, "one machine"
    return db, db["sections"][0]


def test_tune_writes_an_entry_per_distinct_conv_and_skips_them_next_time(kiln, tmp_path):
    model = tmp_path / "two.onnx"
    model.write_bytes(two_conv_model().SerializeToString())
    db_file = tmp_path / "db" / "tuning.json"
    proc = kiln_cli(kiln, "tune", model, "--db", db_file, "--budget", "4", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    assert "tuning conv 3x3 16->20 @24x24" in proc.stderr, proc.stderr
    assert "tuning conv 1x1 20->12 @24x24" in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["layer", "uses", "default", "ms", "tuned", "ms", "speed-up",
                                "tiles"]
    assert "2 conv shapes tuned" in lines[-1] and "0 already in" in lines[-1], lines[-1]

    _, section = the_section(db_file)
    assert section["target"] and section["cpu"]
    convs = section["convs"]
    assert sorted(convs) == [
        "f32 n=1 c=16 h=24 w=24 m=20 oh=24 ow=24 kh=3 kw=3 group=1 cg=16 mg=20 sh=1 sw=1 dh=1 "
        "dw=1 pt=1 pl=1 x_block=0 y_block=0",
        "f32 n=1 c=20 h=24 w=24 m=12 oh=24 ow=24 kh=1 kw=1 group=1 cg=20 mg=12 sh=1 sw=1 dh=1 "
        "dw=1 pt=0 pl=0 x_block=0 y_block=0"]
    for rec in convs.values():
        assert 0 < rec["ms"] <= rec["default_ms"], rec
        assert rec["tiles"].startswith("ocb="), rec

    again = kiln_cli(kiln, "tune", model, "--db", db_file, "--budget", "4", "--threads", "1")
    assert again.returncode == 0, again.stderr
    assert "0 conv shapes tuned" in again.stdout and "2 already in" in again.stdout, again.stdout
    assert again.stdout.count("(in db)") == 2


def test_compiles_use_the_databases_tiles_and_key_the_cache_on_them(kiln, tmp_path):
    model = tmp_path / "two.onnx"
    model.write_bytes(two_conv_model().SerializeToString())
    db_file, cache = tmp_path / "tuning.json", tmp_path / "cache"
    proc = kiln_cli(kiln, "tune", model, "--db", db_file, "--budget", "2", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    db, section = the_section(db_file)
    key3 = next(k for k in section["convs"] if "kh=3" in k)

    def with_ocb(ocb):  # the 3x3 conv's entry with a deliberate channel block, one vector
        tiles = dict(f.split("=") for f in section["convs"][key3]["tiles"].split())
        tiles.update(ocb=str(ocb), nv="1")
        section["convs"][key3]["tiles"] = " ".join(f"{k}={v}" for k, v in tiles.items())
        db_file.write_text(json.dumps(db))

    untuned = run_json(kiln, model, "--cache-dir", cache, "--no-tuning")
    with_ocb(4)
    tuned4 = run_json(kiln, model, "--cache-dir", cache, "--tuning-db", db_file)
    tuned4_again = run_json(kiln, model, "--cache-dir", cache, "--tuning-db", db_file)
    with_ocb(16)
    tuned16 = run_json(kiln, model, "--cache-dir", cache, "--tuning-db", db_file)
    assert [r["cache"] for r in (untuned, tuned4, tuned4_again, tuned16)] == [
        "miss", "miss", "hit", "miss"], "the tiles used are part of the cache key"
    for r in (untuned, tuned4, tuned16):
        assert r["max_abs_err"] < 1e-4, r
    # The packed 3x3 weights hold 20 channels in blocks of 4, 32 in blocks of 16: 12 more
    # channels of 16 x 3 x 3 floats.
    assert tuned16["weights_bytes"] - tuned4["weights_bytes"] == 12 * 16 * 9 * 4

    sweep = kiln_cli(kiln, "sweep", model, "--tuning", "untuned;tuned", "--tuning-db", db_file,
                     "--iterations", "1", "--threads", "1", "--json")
    assert sweep.returncode == 0, sweep.stderr
    configs = json.loads(sweep.stdout)["configs"]
    assert [c["tuning"] for c in configs] == ["untuned", "tuned"]
    assert all(c["max_abs_err"] < 1e-4 for c in configs), configs


def test_a_corrupt_database_is_one_error_line(kiln, tmp_path):
    model = tmp_path / "two.onnx"
    model.write_bytes(two_conv_model().SerializeToString())
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "kiln-conv-tuning", "version": 1, "sections": [')
    for args in (["run", model, "--tuning-db", bad, "--no-cache"], ["tune", model, "--db", bad]):
        proc = kiln_cli(kiln, *args)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"kiln: error: tuning database {bad} is corrupt ("), lines[0]


def test_tune_refuses_a_pipeline_with_fixed_tiles(kiln, tmp_path):
    model = tmp_path / "two.onnx"
    model.write_bytes(two_conv_model().SerializeToString())
    proc = kiln_cli(kiln, "tune", model, "--db", tmp_path / "db.json", "--passes", "O3,tile=oc8")
    assert proc.returncode == 1
    assert "nothing to tune" in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not (tmp_path / "db.json").exists()
