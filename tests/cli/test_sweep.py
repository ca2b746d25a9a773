"""`kiln sweep`: every pipeline x input shape x target compiled, timed and checked in one run,
with CSV, JSON and an SVG plot; a typo in a pass name is one error line that lists the valid
names, before any work.
"""

from __future__ import annotations

import csv
import json
import subprocess
import xml.etree.ElementTree as ET

from conftest import REPO

YOLOX = REPO / "models" / "yolox_nano.onnx"
PIPELINES = ["O0", "O3"]


def sweep(kiln, *args, timeout=900):
    return subprocess.run([str(kiln), "sweep", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_sweep_writes_table_csv_json_and_plot(kiln, tmp_path):
    csv_file, svg_file = tmp_path / "sweep.csv", tmp_path / "sweep.svg"
    proc = sweep(kiln, YOLOX, "--passes", ";".join(PIPELINES), "--iterations", "2", "--threads",
                 "2", "--csv", csv_file, "--plot", svg_file, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # A progress line per configuration on stderr.
    assert "[1/2]" in proc.stderr and "[2/2]" in proc.stderr, proc.stderr

    result = json.loads(proc.stdout)
    configs = result["configs"]
    assert [c["pipeline"] for c in configs] == PIPELINES
    for c in configs:
        assert "error" not in c, c
        assert c["target"] == "cpu" and c["input_shape"] == "1x3x416x416"
        assert c["kernels"] > 0 and c["compile_s"] > 0
        assert 0 < c["median_ms"] <= c["p90_ms"]
        assert c["arena_bytes"] >= c["arena_lower_bound_bytes"] > 0
        assert c["max_abs_err"] < 1e-3, c

    rows = list(csv.DictReader(csv_file.open()))
    assert [r["pipeline"] for r in rows] == PIPELINES
    assert all(float(r["median_ms"]) > 0 and float(r["arena_mb"]) > 0 for r in rows)

    svg = ET.parse(svg_file).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    labels = [t.text for t in svg.iter(ns + "text")]
    assert sum(1 for t in labels if t and t.startswith("O0 1x3x416x416 cpu")) == 1
    assert sum(1 for t in labels if t and t.startswith("O3 1x3x416x416 cpu")) == 1
    assert any(t == "arena (MB)" for t in labels)
    # One point per configuration, plus one legend marker per pipeline.
    assert len(list(svg.iter(ns + "circle"))) == 2 * len(PIPELINES)


def test_sweep_prints_an_aligned_table(kiln):
    proc = sweep(kiln, YOLOX, "--passes", "O3", "--iterations", "1", "--threads", "2",
                 "--no-check")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("| pipeline") and "median ms" in lines[0] and "arena MB" in lines[0]
    assert len(lines) == 3 and lines[2].startswith("| O3 ")
    assert len({len(line) for line in lines}) == 1, "columns are aligned"


def test_sweep_rejects_a_pass_typo_in_one_line(kiln, tmp_path):
    csv_file = tmp_path / "sweep.csv"
    proc = sweep(kiln, YOLOX, "--passes", "O1;O3,-fsue", "--csv", csv_file, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kiln: error: ") and "fsue" in lines[0]
    assert "fuse" in lines[0] and "concat" in lines[0], "the valid names are listed"
    assert not csv_file.exists()
