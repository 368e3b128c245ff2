"""DfE's own validators as an oracle for cslake's tests: run data-to-insight's CIN and SSDA903
validators (in their own virtual environment, see setup_dfe_validators.sh) on a generated region
and return every issue they raise, per LA, year, file, table and row.

    issues = run_region(Path("raw"))          # list of dicts, one per (rule, table, row)
    errors = [i for i in issues if i["severity"] == "error"]

The raw layout is the generator's: ``<la>/cin/<year>/*.xml`` and ``<la>/ssda903/<year>/*.csv``.
SSDA903 is validated with the previous year's files of the same LA when they exist (the validator's
"Prev year" upload), as an LA would.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from cslake.config import la_of

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("DFE_VENV", ROOT / ".venv-dfe"))
SETUP = Path(__file__).with_name("setup_dfe_validators.sh")
RUNNER = Path(__file__).with_name("dfe_run.py")
MARK = "@@dfe "  # dfe_run.py's prefix on each issue line


class OracleUnavailable(RuntimeError):
    """The validators' environment could not be made (no Python 3.9-3.11, no registry...)."""


def dfe_python() -> Path:
    """The validators' interpreter, making their environment first if it is missing."""
    py = VENV / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "import cin_validator, lac_validator"],
                                        capture_output=True).returncode == 0
    if not ok:
        proc = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True,
                              env={**os.environ, "DFE_VENV": str(VENV)})
        if proc.returncode != 0:
            raise OracleUnavailable(f"{SETUP.name} failed: {(proc.stderr or proc.stdout)[-800:]}")
    return py


def region_jobs(raw: Path, collections=("cin", "ssda903")) -> list[dict]:
    """One validator job per LA-year-collection found under `raw`."""
    jobs = []
    for la_dir in sorted(p for p in raw.iterdir() if p.is_dir() and p.name.isdigit()):
        gss = la_of(la_dir.name).gss_code
        if "cin" in collections:
            for xml in sorted(la_dir.glob("cin/*/*.xml")):
                year = int(xml.parent.name)
                jobs.append({"collection": "cin", "path": str(xml), "year": year,
                             "tag": {"la": la_dir.name, "year": year, "collection": "cin",
                                     "file": xml.name}})
        if "ssda903" in collections:
            for folder in sorted(p for p in la_dir.glob("ssda903/*") if p.is_dir()):
                year = int(folder.name)
                prev = folder.parent / str(year - 1)
                jobs.append({"collection": "ssda903", "path": str(folder), "year": year, "la": gss,
                             "prev": str(prev) if prev.is_dir() else None,
                             "tag": {"la": la_dir.name, "year": year, "collection": "ssda903"}})
    return jobs


def run_jobs(jobs: list[dict], workers: int = 2) -> list[dict]:
    """Run validator jobs (split over `workers` processes) and return their issues."""
    py = dfe_python()
    if not jobs:
        return []
    chunks = [jobs[i::workers] for i in range(min(workers, len(jobs)))]
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for n, chunk in enumerate(chunks):
            spec = Path(tmp) / f"jobs{n}.json"
            spec.write_text(json.dumps(chunk))
            procs.append(subprocess.Popen([str(py), str(RUNNER), "jobs", str(spec)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        issues = []
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"DfE validator run failed: {err[-2000:]}")
            issues += [json.loads(line[len(MARK):]) for line in out.splitlines() if line.startswith(MARK)]
    return issues


def run_ssda903_folder(folder: Path, year: int, la: str = "E09000011", prev: Path | None = None,
                       rules: list[str] | None = None) -> list[dict]:
    """DfE's SSDA903 validator on one folder of CSVs (hand-made files), all rules or only `rules`."""
    return run_jobs([{"collection": "ssda903", "path": str(folder), "year": year, "la": la,
                      "prev": str(prev) if prev else None, "rules": rules, "tag": {"year": year}}], workers=1)


def run_region(raw: Path, collections=("cin", "ssda903"), workers: int = 2) -> list[dict]:
    return run_jobs(region_jobs(Path(raw), collections), workers)
