"""The same stages on each engine, timed in one run: embedded Sail, classic local Spark + Delta,
and a two-worker standalone cluster on loopback (spark-submit), each stage its own process.

    .venv/bin/python bench/bench_engines.py [--raw RAW | --scale 0.02 --years 2023-2025 --las 201,202,203]
                                            [--engines sail,classic,cluster] [--repeat 1]

No target: an honest figure. Every stage runs exactly as a user runs it — ``python jobs/<job>.py``
(Sail, the default), ``CSLAKE_ENGINE=classic python jobs/<job>.py`` (local[2] with Delta) and
``deploy/spark-submit/submit.sh <job>`` against ``deploy/local-cluster/cluster.sh`` (one core
per worker) — so process start (a JVM for Spark) is part of each figure, as it is for a user.
Wall seconds per stage, the median over --repeat fresh builds, and the ratio to Sail are
printed and written to ``bench/results/engines_<las>_<scale>.json``. The two lakes' tables
are compared too (``cslake.reports.parity``): a fast engine that gives other tables is no win.

Measured 2026-12-07 (HEAD 7dcb58b..94bff6d: staged conform plans; 2 cores, load 1-2 for Sail, 4-9
for classic and the cluster while a helper ran the DfE validator tests), LAs 201-203, 2023-2025,
scale 0.02, 48 files, one build each:

    stage      sail           classic            cluster (2 workers, spark-submit per stage)
    land       7.4 s (1x)     66.7 s ( 9.1x)     187.3 s (25.5x)
    silver    32.8 s (1x)    374.9 s (11.4x)     809.0 s (24.6x)
    linkage    3.9 s (1x)     94.3 s (24.3x)     181.3 s (46.7x)
    gold       7.1 s (1x)    148.3 s (20.9x)     237.4 s (33.5x)
    total     51.2 s (1x)    684.2 s (13.4x)    1415.0 s (27.7x)

The session before (3155621, load 6-9): Sail silver 198.9 s, classic land 147.5 s, classic silver
597.7 s. The parity lines of this run differ on the rules only (row_flags, the build log's
fingerprints): conf/silver.yaml gained DfE rules in the working tree between the Sail build and
the others; the suite's cluster parity test compares a frozen tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))
STAGES = [("land", ["{raw}"]), ("silver", []), ("linkage", []), ("gold", [])]
KEY = "bench-engines-key-0123456789abcdef"


def command(engine: str, job: str) -> tuple[list[str], dict[str, str]]:
    if engine == "sail":
        return [sys.executable, str(REPO / "jobs" / f"{job}.py")], {}
    if engine == "classic":
        return [sys.executable, str(REPO / "jobs" / f"{job}.py")], {"CSLAKE_ENGINE": "classic"}
    return ["bash", str(REPO / "deploy" / "spark-submit" / "submit.sh"), job], {}


def build(engine: str, raw: Path, work: Path, master: str | None) -> dict[str, float]:
    lake = work / "lake"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    key = work / "hash.key"
    key.write_text(KEY)
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "CSLAKE_ENGINE", "CSLAKE_HASH_KEY")}
    env.update(CSLAKE_HASH_KEY_FILE=str(key), PYTHON=sys.executable)
    if master:
        env["MASTER"] = master
    seconds = {}
    for job, args in STAGES:
        argv, extra = command(engine, job)
        argv = argv + [a.format(raw=raw) for a in args] + ["--lake", str(lake)]
        t = time.perf_counter()
        done = subprocess.run(argv, cwd=work, env={**env, **extra}, capture_output=True, text=True)
        seconds[job] = time.perf_counter() - t
        if done.returncode != 0:
            raise SystemExit(f"{engine} {job} failed:\n{done.stderr[-4000:]}")
        print(f"  {engine:8s} {job:8s} {seconds[job]:7.1f} s", flush=True)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", type=Path, default=None, help="an existing drop zone (default: generate one)")
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--years", default="2023-2025")
    ap.add_argument("--las", default="201,202,203", help="DfE codes of London LAs to generate")
    ap.add_argument("--engines", default="sail,classic,cluster")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cslake-bench-engines"))
    args = ap.parse_args()

    import dataclasses

    from cslake.config import parse_years, region
    from cslake.reports.parity import compare_lakes
    from cslake.synth.generate import generate_region

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    raw = args.raw
    if raw is None:
        raw = args.work / "raw"
        las = set(args.las.split(","))
        r = region("london")
        r = dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code in las))
        generate_region(r, parse_years(args.years), scale=args.scale, seed=5, out=raw, progress=False)
    files = sum(1 for p in raw.rglob("*") if p.is_file() and "_truth" not in p.parts)
    print(f"drop zone {raw}: {files} files; engines {', '.join(engines)}; {args.repeat} build(s) each")

    cluster = REPO / "deploy" / "local-cluster" / "cluster.sh"
    master = None
    started = False
    if "cluster" in engines:
        env = {**os.environ, "PYTHON": sys.executable}
        subprocess.run(["bash", str(cluster), "start"], check=True, env=env)
        master = subprocess.run(["bash", str(cluster), "url"], capture_output=True, text=True, env=env).stdout.strip()
        started = True
    runs: dict[str, list[dict[str, float]]] = {e: [] for e in engines}
    try:
        for i in range(args.repeat):
            for e in engines:
                runs[e].append(build(e, raw, args.work / e, master if e == "cluster" else None))
    finally:
        if started:
            subprocess.run(["bash", str(cluster), "stop"], env={**os.environ, "PYTHON": sys.executable})

    med = {e: {job: statistics.median(r[job] for r in runs[e]) for job, _ in STAGES} for e in engines}
    for e in engines:
        med[e]["total"] = sum(med[e][job] for job, _ in STAGES)
    base = engines[0]
    print(f"\nmedian wall seconds (ratio to {base}):")
    print(f"  {'stage':8s}" + "".join(f"{e:>20s}" for e in engines))
    for job in [j for j, _ in STAGES] + ["total"]:
        cells = "".join(f"{med[e][job]:9.1f} s ({med[e][job] / med[base][job]:4.1f}x)" for e in engines)
        print(f"  {job:8s}{cells}")
    parity = {e: compare_lakes(args.work / base / "lake", args.work / e / "lake").summary().splitlines()[0]
              for e in engines[1:]}
    for e, line in parity.items():
        print(f"  {e}: {line}")
    out = REPO / "bench" / "results" / f"engines_{args.las.replace(',', '-')}_{args.scale}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"files": files, "runs": runs, "median": med, "parity": parity,
                               "cores": os.cpu_count()}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
