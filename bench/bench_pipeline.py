"""Time the lake's stages on a generated region, each stage in a fresh process.

    .venv/bin/python bench/bench_pipeline.py [--raw RAW | --scale 1 --years 2021-2025 --region london]
                                             [--work /tmp/cslake-bench-pipeline] [--stages land,silver,linkage,gold]

Targets on 2 cores, London, 5 years, scale 1: land + silver under 15 minutes
(issue 3), linkage under 5 minutes (issue 4), gold under 5 minutes (issue 5).

Each stage runs as ``bench_pipeline.py --stage NAME`` in a new interpreter, so
its engine starts cold and its peak memory is its own: the figure printed is the
largest resident set of the stage's process and of any helper process it
started (embedded Sail parses in helper processes). Stages reuse the lake left
by earlier ones under --work; ``--fresh`` deletes it first. Results are printed
and written as JSON to ``bench/results/pipeline_<region>_<scale>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH_KEY = "bench-pipeline-key-0123456789abcdef"
STAGES = ("land", "silver", "linkage", "gold")


def _peak_mb() -> dict:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(max(own, helpers), 1), "peak_rss_mb_main": round(own, 1),
            "peak_rss_mb_helpers": round(helpers, 1)}


def run_stage(name: str, raw: Path, lake_root: Path, region: str) -> dict:
    """One stage, in this process; returns its figures."""
    from cslake.engine import get_spark
    from cslake.lake import Lake

    lake = Lake(lake_root, spark=get_spark())
    t = time.perf_counter()
    if name == "land":
        from cslake.land import land_raw

        from cslake.land import shutdown_parse_pool

        rep = land_raw(lake, raw)
        shutdown_parse_pool()  # reaped helpers count in RUSAGE_CHILDREN
        out = {"files": rep.files_seen, "outcomes": rep.outcomes, "rows_in": sum(rep.rows.values()),
               "rows_out": sum(rep.rows.values()), "summary": rep.summary()}
    elif name == "silver":
        from cslake.silver import build_silver

        rep = build_silver(lake)
        s = sum(v["silver_rows"] for v in rep.tables.values() if v["bronze_rows"])  # not derived tables
        q = sum(v["quarantined_rows"] for v in rep.tables.values())
        out = {"rows_in": rep.bronze_rows, "rows_out": s, "quarantined": q, "tables": len(rep.tables),
               "summary": rep.summary()}
    elif name == "linkage":
        from cslake.linkage import build_linkage

        rep = build_linkage(lake)
        out = {"rows_in": rep.records, "rows_out": rep.persons, "rounds": rep.rounds}
    elif name == "gold":
        from cslake.gold.build import build_gold

        rep = build_gold(lake, region=region)
        out = {"rows_in": None, "rows_out": sum(r.rows for r in rep.results), "tables": len(rep.results),
               "skipped": rep.skipped,
               "per_table_seconds": {r.table: round(r.seconds, 1) for r in rep.results}}
    else:
        raise SystemExit(f"unknown stage {name}")
    out["seconds"] = round(time.perf_counter() - t, 1)
    out.update(_peak_mb())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", default=None, help="a generated region (default: generate one under --work)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--years", default="2021-2025")
    ap.add_argument("--region", default="london")
    ap.add_argument("--work", default=None)
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--fresh", action="store_true", help="delete the lake under --work first")
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("CSLAKE_HASH_KEY", BENCH_KEY)
    work = Path(args.work or f"/tmp/cslake-bench-pipeline-{args.region}-{args.scale:g}")
    raw = Path(args.raw) if args.raw else work / "raw"
    lake_root = work / "lake"
    if args.stage:
        print("RESULT " + json.dumps(run_stage(args.stage, raw, lake_root, args.region)), flush=True)
        return

    work.mkdir(parents=True, exist_ok=True)
    if args.fresh and lake_root.exists():
        shutil.rmtree(lake_root)
    figures: dict = {"region": args.region, "scale": args.scale, "years": args.years, "raw": str(raw),
                     "cpus": os.cpu_count(), "stages": {}}
    out = Path(__file__).parent / "results" / f"pipeline_{args.region}_{args.scale:g}.json"
    if not args.fresh and out.is_file():
        # stages timed in an earlier run on the same raw zone stay in the results (a run of one stage
        # must not erase the others' figures)
        earlier = json.loads(out.read_text())
        if earlier.get("raw") == str(raw):
            figures["stages"] = earlier.get("stages", {})
    if not (raw / "_truth" / "records.csv").is_file():
        from cslake.config import parse_years, region
        from cslake.synth.generate import generate_region

        t = time.perf_counter()
        generate_region(region(args.region), parse_years(args.years), scale=args.scale, seed=42, out=raw,
                        workers=os.cpu_count() or 2, progress=False)
        figures["generate_seconds"] = round(time.perf_counter() - t, 1)
        print(f"generate: {figures['generate_seconds']} s", flush=True)
    files = [p for p in raw.rglob("*") if p.is_file() and "_truth" not in p.parts]
    figures["raw_files"], figures["raw_mb"] = len(files), round(sum(p.stat().st_size for p in files) / 1e6, 1)
    print(f"raw: {raw} ({figures['raw_files']} files, {figures['raw_mb']} MB)", flush=True)

    for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
        cmd = [sys.executable, __file__, "--stage", stage, "--work", str(work), "--raw", str(raw),
               "--region", args.region]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        (work / f"{stage}.log").write_text(proc.stderr)  # the stage's own log lines (timings inside it)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
            raise SystemExit(f"stage {stage} failed (exit {proc.returncode})")
        res = json.loads(line[len("RESULT "):])
        res["process_seconds"] = round(wall, 1)
        figures["stages"][stage] = res
        rate = (f", {res['rows_in'] / res['seconds']:,.0f} rows/s" if res.get("rows_in") and res["seconds"] else "")
        print(f"{stage}: {res['seconds']} s (process incl. start {res['process_seconds']} s){rate}; "
              f"rows in {res.get('rows_in')}, out {res.get('rows_out')}; peak RSS {res['peak_rss_mb']} MB "
              f"(main {res['peak_rss_mb_main']}, helpers {res['peak_rss_mb_helpers']})", flush=True)
        if res.get("summary"):
            print("   " + res["summary"][:600], flush=True)
    st = figures["stages"]
    if "land" in st and "silver" in st:
        total = st["land"]["process_seconds"] + st["silver"]["process_seconds"]
        figures["land_plus_silver_seconds"] = round(total, 1)
        print(f"land + silver: {total / 60:.1f} min (target < 15 min)", flush=True)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str))
    print(f"written {out}")


if __name__ == "__main__":
    main()
