"""Land → silver → linkage → gold on the embedded engine for growing numbers of English LAs (issue 14).

    .venv/bin/python bench/bench_england.py [--las 10,33,76,153] [--scale 0.005] [--years 2024]
                                            [--work /tmp/cslake-bench-england] [--workers 2]

For each count N, N LAs are taken from ``--region england`` (conf/regions.yaml: all 153 of
conf/la_codes.csv), evenly spaced in DfE-code order so that every count spans the regions rather
than being London's first N. A region of those LAs is generated (``cslake generate --region england
--las ...``) into a fresh ``<work>/<N>/raw`` and built into a fresh lake by bench_pipeline.py's
one-stage mode, each stage a new process (its engine starts cold: the wall time includes the
interpreter and engine start, ``inner`` is the stage's own). Every process of a stage is sampled
with bench_land_memory.py's Sampler (psutil, every 0.1 s, and the kernel's high-water mark): the
figures are the largest single process and the sum of every process's peak, an upper bound of the
process tree's (the processes need not peak at once).

Prints a table per N (seconds per stage, seconds per LA, peak RSS); JSON in
``bench/results/england_<scale>.json`` (git-ignored). Keep --scale tiny: the point is how the cost
grows with the number of LAs, not with volume.

Measured (session 15, HEAD 06b8eae, 2 cores, one year 2024, nothing else running; "largest" is the
largest single process of the run, land's parse helpers counted apart):

    scale  LAs  raw MB  land   silver  linkage  gold   land -> gold  per LA   largest
    0.005   10     2.8   9.9    37.7     4.1     9.0     60.7 s      6.07 s   632 MB
    0.005   33    10.5  17.3    43.5     6.5    20.9     88.2 s      2.67 s   765 MB
    0.005   76    24.0  33.4    67.9     8.4    31.2    140.9 s      1.85 s   911 MB
    0.005  153    50.7  62.0    64.1     8.2    49.9    184.2 s      1.20 s  1,136 MB
    0.05    33    22.2  18.8    48.1     9.1    15.5     91.5 s      2.77 s  1,708 MB
    0.05   153   110.1  74.5    67.3    20.0    45.7    207.5 s      1.36 s  2,374 MB
    0.2     33    62.3  23.9    53.4    14.6    22.5    114.4 s      3.47 s  1,731 MB
    0.2    153   306.8 113.8   148.5    60.9    94.4    417.6 s      2.73 s  2,439 MB

Time per LA at 153 LAs against 33: 0.45x (0.005), 0.49x (0.05), 0.79x (0.2), against issue 14's
1.2x limit: silver's cost is mostly per table, not per LA, and is shared out. The largest process
is linkage's at every scale from 0.05 (2.4 GB at 153 LAs, scale 0.2), under the 12 GB limit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import bench_pipeline  # noqa: E402  (one stage in a fresh process: its --stage mode)
from bench_land_memory import Sampler  # noqa: E402

REGION = "england"


def spread(codes: list[str], n: int) -> list[str]:
    """n of ``codes``, evenly spaced (all of them when n is their number)."""
    if not 0 < n <= len(codes):
        raise SystemExit(f"--las: {n} is not between 1 and {len(codes)}, the LAs of {REGION}")
    return [codes[(i * len(codes)) // n] for i in range(n)]


def measured(cmd: list[str], env: dict, log: Path) -> dict:
    """Run ``cmd``; wall seconds, peaks (MB) of its processes, and the RESULT line it printed, if any."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(proc.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    sampler.stop()
    log.write_text(out + "\n--- stderr ---\n" + err)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed (exit {proc.returncode}); see {log}\n{err[-2000:]}")
    peaks = sampler.peak.values()
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    return {"wall_s": round(wall, 1), "largest_process_mb": round(max(peaks, default=0) / 2**20),
            "processes": len(sampler.peak), "tree_upper_bound_mb": round(sum(peaks) / 2**20),
            "result": json.loads(line[len("RESULT "):]) if line else None}


def one_count(n: int, las: list[str], args, env: dict) -> dict:
    work = Path(args.work) / str(n)
    if work.exists():
        shutil.rmtree(work)  # a fresh raw zone and lake: no run reuses another's
    work.mkdir(parents=True)
    raw = work / "raw"
    gen = [sys.executable, "-m", "cslake.cli", "generate", "--region", REGION, "--las", ",".join(las),
           "--scale", str(args.scale), "--years", args.years, "--out", str(raw), "--workers", str(args.workers)]
    fig = {"las": n, "codes": las, "stages": {"generate": measured(gen, env, work / "generate.log")}}
    files = [p for p in raw.rglob("*") if p.is_file() and "_truth" not in p.parts]
    fig["raw_files"], fig["raw_mb"] = len(files), round(sum(p.stat().st_size for p in files) / 1e6, 1)
    for stage in bench_pipeline.STAGES:
        cmd = [sys.executable, bench_pipeline.__file__, "--stage", stage, "--work", str(work), "--raw", str(raw),
               "--region", REGION]
        fig["stages"][stage] = measured(cmd, env, work / f"{stage}.log")
    fig["land_to_gold_s"] = round(sum(fig["stages"][s]["wall_s"] for s in bench_pipeline.STAGES), 1)
    return fig


def print_count(fig: dict) -> None:
    n = fig["las"]
    print(f"\n{n} LAs ({fig['raw_files']} files, {fig['raw_mb']} MB raw)", flush=True)
    print(f"  {'stage':<9}{'wall s':>8}{'inner s':>9}{'s / LA':>8}{'largest MB':>12}{'tree <= MB':>12}{'procs':>7}")
    for stage, s in fig["stages"].items():
        inner = (s["result"] or {}).get("seconds")
        print(f"  {stage:<9}{s['wall_s']:>8.1f}{inner if inner is not None else '':>9}{s['wall_s'] / n:>8.2f}"
              f"{s['largest_process_mb']:>12}{s['tree_upper_bound_mb']:>12}{s['processes']:>7}")
    print(f"  land → gold: {fig['land_to_gold_s']} s, {fig['land_to_gold_s'] / n:.2f} s per LA", flush=True)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--las", default="10,33,76,153", help="comma-separated LA counts, each a run")
    ap.add_argument("--scale", type=float, default=0.005)
    ap.add_argument("--years", default="2024")
    ap.add_argument("--work", default="/tmp/cslake-bench-england")
    ap.add_argument("--workers", type=int, default=2, help="the generator's worker processes")
    args = ap.parse_args(argv)
    env = {**os.environ, "CSLAKE_HASH_KEY": os.environ.get("CSLAKE_HASH_KEY", bench_pipeline.BENCH_KEY)}

    from cslake.config import region

    codes = region(REGION).la_codes
    counts = sorted({int(x) for x in args.las.split(",") if x.strip()})
    figures = {"region": REGION, "scale": args.scale, "years": args.years, "cpus": os.cpu_count(), "runs": []}
    for n in counts:
        figures["runs"].append(one_count(n, spread(codes, n), args, env))
        print_count(figures["runs"][-1])
    out = BENCH / "results" / f"england_{args.scale:g}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str))
    print(f"\nwritten {out}")
    return figures


if __name__ == "__main__":
    main()
