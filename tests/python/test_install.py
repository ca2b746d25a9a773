"""Issue 14's done criterion: in a fresh virtual environment `pip install <repo>` builds and
installs the module, and kiln.Session(...).run(...) there matches ONNX Runtime on every shared
model. ctest's py_install runs it after py_module, whose compiles it finds in the cache folder.

Cheap enough for CI: the venv is made afresh each time under build/python/install, but pip's
build folder (scikit-build-core's build-dir, KILN_PY_BUILD: build-pip next to build/) is kept
and compiles go through ccache, so a rebuild is incremental. build-pip sits as deep under the
repository as build/ does, so its compile commands are the same (ccache's base_dir makes paths
relative) and the first build takes the libraries from ccache too; pip takes scikit-build-core, nanobind and numpy from its cache after the
first time. ONNX Runtime's outputs come from this (the project's) venv; the fresh one only needs
numpy, which `pip install` brings as the module's dependency."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import shared_models

REPO = Path(__file__).resolve().parents[2]
WORK = Path(os.environ.get("KILN_PY_INSTALL", REPO / "build" / "python" / "install"))
CACHE = Path(os.environ.get("KILN_PY_CACHE", REPO / "build" / "python" / "cache"))
BUILD = Path(os.environ.get("KILN_PY_BUILD", REPO / "build-pip"))


def run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}" \
                                 f"\n{proc.stderr[-3000:]}"
    return proc


def test_pip_install_in_fresh_venv_matches_onnxruntime():
    xzs = shared_models.models()
    if not xzs:
        pytest.skip(f"no shared models in {shared_models.SHARED / 'models'}")
    venv = WORK / "venv"
    run([sys.executable, "-m", "venv", "--clear", venv])
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    cmd = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", REPO,
           f"--config-settings=build-dir={BUILD}"]
    if shutil.which("ccache"):
        cmd.append("--config-settings=cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache")
    run(cmd, env=env, cwd=WORK)

    args, refs = [py, REPO / "tests" / "python" / "run_installed.py", CACHE], {}
    for xz in xzs:
        path, kind, feeds, expected, floors = shared_models.reference(xz)
        ins, outs = WORK / f"{shared_models.model_id(xz)}.in.npz", \
            WORK / f"{shared_models.model_id(xz)}.out.npz"
        np.savez(ins, **feeds)
        args += [path, ins, outs]
        refs[xz] = (outs, kind, expected, floors)
    proc = run(args, env=env, cwd=WORK)
    assert Path(proc.stdout.splitlines()[0]).is_relative_to(venv), proc.stdout

    failed = []
    for xz, (outs, kind, expected, floors) in refs.items():
        with np.load(outs) as z:
            got = {n: z[f"o{i}"] for i, n in enumerate(z["names"])}
        failed += [f"{shared_models.model_id(xz)}: {m}"
                   for m in shared_models.mismatches(got, expected, kind, floors)]
    assert failed == []
