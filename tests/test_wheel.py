"""The built wheel is whole: installed into a fresh venv, cslake runs from any directory with
no source tree (conf/, the jobs/ entry points and the model card are package data).

The wheel is built from a copy of the repository's files (so the build neither touches nor
can lean on the working tree) and installed with ``--no-deps`` into a venv without pip; the
dependencies come from this interpreter's site-packages through one ``.pth`` line, which
adds that folder to ``sys.path`` without running the ``.pth`` files in it (so the editable
install of the checkout stays invisible to the new venv).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "lib", "conf", "jobs"]
JOBS = sorted(p.stem for p in (ROOT / "jobs").glob("*.py") if not p.stem.startswith("_"))


def _run(cmd, *, cwd, env=None, timeout=120):
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, venv, source copy) with the wheel installed into the venv."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "_data")
    for name in BUILD_INPUTS:
        p = ROOT / name
        (shutil.copytree(p, src / name, ignore=ignore) if p.is_dir() else shutil.copy2(p, src / name))
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, "."], cwd=src,
         timeout=180)
    (wheel,) = dist.glob("cslake-*.whl")

    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_cslake_test_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    _run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel], cwd=work)
    return wheel, venv, src


def _env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CSLAKE_", "SPARK_", "PYSPARK_")) and k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    return env


def test_wheel_holds_conf_jobs_and_model_card(installed):
    wheel, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    conf = {str(p.relative_to(ROOT)) for p in (ROOT / "conf").rglob("*") if p.is_file()}
    assert {f"cslake/_data/{c}" for c in conf} <= names, "every conf/ file is package data"
    assert {f"cslake/_data/jobs/{j}.py" for j in [*JOBS, "_bootstrap"]} <= names
    assert "cslake/models/model_card.md" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_installed_cslake_runs_from_another_directory(installed, tmp_path):
    _, venv, src = installed
    env, bin_ = _env(), venv / "bin"

    # The package, its conf and its jobs come from the venv, not from any source tree.
    where = json.loads(_run([bin_ / "python", "-c", (
        "import json, cslake, cslake.config as c, cslake.resources as r;"
        "print(json.dumps({'pkg': cslake.__file__, 'conf': str(c.conf_dir()), 'jobs': str(r.jobs_dir()),"
        " 'card': len(r.read_text('cslake.models', 'model_card.md'))}))")], cwd=tmp_path, env=env).stdout)
    site = str(venv)
    assert where["pkg"].startswith(site) and where["conf"].startswith(site) and where["jobs"].startswith(site), where
    assert where["card"] > 100

    # A real command that needs conf/: generate a small region into tmp.
    _run([bin_ / "cslake", "generate", "--region", "london", "--years", "2025", "--scale", "0.005",
          "--only", "ssda903", "--workers", "1", "--out", "raw"], cwd=tmp_path, env=env, timeout=180)
    la = tmp_path / "raw" / "202" / "ssda903" / "2025"
    assert any(la.glob("*.csv"))

    # A job entry point from the installed package: its --help, then landing one LA's files.
    help_ = _run([bin_ / "cslake", "run", "land", "--", "--help"], cwd=tmp_path, env=env).stdout
    assert "Land the raw drop zone" in help_
    one = tmp_path / "one"
    shutil.copytree(tmp_path / "raw" / "202", one / "202")
    out = _run([bin_ / "cslake", "run", "land", "one", "--lake", "lake"], cwd=tmp_path, env=env, timeout=180).stdout
    assert "landed" in out and (tmp_path / "lake" / "bronze" / "files").is_dir(), out

    unknown = subprocess.run([bin_ / "cslake", "run", "nope"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert unknown.returncode != 0 and "land" in unknown.stderr  # lists the known jobs


def test_installed_files_name_no_source_tree(installed):
    _, venv, src = installed
    site = next(venv.glob("lib/python*/site-packages"))
    files = [p for p in (site / "cslake").rglob("*") if p.is_file() and p.suffix != ".pyc"]
    files += list(next(site.glob("cslake-*.dist-info")).rglob("*")) + [venv / "bin" / "cslake"]
    for f in files:
        text = f.read_bytes()
        for tree in (ROOT, src):
            assert str(tree).encode() not in text, f"{f} names the source tree {tree}"
    assert not list(site.glob("__editable__*")), "an editable finder in the venv"
