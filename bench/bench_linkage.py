"""Time linkage (build_linkage) on a generated region: wall time and peak memory.

    .venv/bin/python bench/bench_linkage.py [--scale 1] [--years 2021-2025] [--region london]
                                            [--las 201,202] [--work /tmp/cslake-bench-linkage] [--report]

Generates the region, lands it and builds silver (timed, but not the figure of
interest), then runs linkage in a fresh process so its peak memory (ru_maxrss of
that process, which holds the embedded Sail engine) is linkage's own. Re-running
with the same --work reuses the lake. With --report, also times the quality report
against the generator's truth and prints precision/recall. Target (issue 4): London,
5 years, scale 1, under 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH_KEY = "bench-linkage-key-0123456789abcdef"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(args, raw: Path, lake_root: Path) -> None:
    import dataclasses

    from cslake.config import parse_years, region
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.land import land_raw
    from cslake.silver import build_silver
    from cslake.synth.generate import generate_region

    if not (raw / "_truth" / "records.csv").is_file():
        r = region(args.region)
        if args.las:
            r = dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code in args.las.split(",")))
        t = time.perf_counter()
        generate_region(r, parse_years(args.years), scale=args.scale, seed=42, out=raw, workers=2, progress=False)
        print(f"generate: {time.perf_counter() - t:.1f}s")
    lake = Lake(lake_root, spark=get_spark())
    t = time.perf_counter()
    print(land_raw(lake, raw).summary())
    print(f"land: {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    print(build_silver(lake, collections=["cin", "ssda903", "annex_a", "sen2", "school_census"]).summary())
    print(f"silver: {time.perf_counter() - t:.1f}s")


def link_only(lake_root: Path, raw: Path, with_report: bool) -> None:
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.linkage import build_linkage

    lake = Lake(lake_root, spark=get_spark())
    t = time.perf_counter()
    report = build_linkage(lake)
    wall = time.perf_counter() - t
    out = {"linkage_seconds": round(wall, 2), "peak_rss_mb": round(_peak_mb(), 1),
           "records": report.records, "persons": report.persons, "rounds": report.rounds}
    if with_report:
        from cslake.reports.linkage import linkage_report

        t = time.perf_counter()
        q = linkage_report(lake, raw / "_truth")
        out.update({"report_seconds": round(time.perf_counter() - t, 2), "precision": q["precision"],
                    "recall": q["recall"], "overall": q["truth"]["overall"],
                    "peak_rss_mb_with_report": round(_peak_mb(), 1)})
    print("RESULT " + json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--years", default="2021-2025")
    ap.add_argument("--region", default="london")
    ap.add_argument("--las", default=None, help="comma-separated DfE codes (default: the whole region)")
    ap.add_argument("--work", default=None)
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--link-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("CSLAKE_HASH_KEY", BENCH_KEY)
    work = Path(args.work or f"/tmp/cslake-bench-linkage-{args.region}-{args.scale}")
    raw, lake_root = work / "raw", work / "lake"
    if args.link_only:
        link_only(lake_root, raw, args.report)
        return
    print(f"region={args.region} las={args.las or 'all'} years={args.years} scale={args.scale} work={work}")
    if not (lake_root / "silver" / "person_spine").exists() and not (lake_root / "silver" / "build_log").exists():
        prepare(args, raw, lake_root)
    cmd = [sys.executable, __file__, "--link-only", "--work", str(work), "--scale", str(args.scale),
           "--region", args.region] + (["--report"] if args.report else [])
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"linkage run failed (exit {proc.returncode})")
    res = json.loads(line[len("RESULT "):])
    print(f"linkage: {res['records']} records -> {res['persons']} persons in {res['linkage_seconds']}s "
          f"(process incl. engine start {time.perf_counter() - t:.1f}s), peak RSS {res['peak_rss_mb']} MB, "
          f"rounds {res['rounds']}")
    if args.report:
        print(f"report: {res['report_seconds']}s, valid-UPN precision {res['precision']}, recall {res['recall']}, "
              f"all records {res['overall']['precision']}/{res['overall']['recall']}, "
              f"peak RSS {res['peak_rss_mb_with_report']} MB")


if __name__ == "__main__":
    main()
