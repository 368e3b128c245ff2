"""One new LA file into a lake: incremental silver against a full silver build (issue 14).

    .venv/bin/python bench/bench_incremental.py [--las 202,203,204,205] [--years 2023-2025] [--scale 0.1]
                                                [--repeats 3] [--work /tmp/cslake-bench-incremental]

A region of a few LAs × years (CIN + SSDA903, generated clean) is landed and built, all but
one file: the CIN census of the first LA for the last year. That file then lands, and the lake
as it is then (bronze holds the new file, silver does not) is copied once per run, and on each
copy one silver build is timed:

- ``incremental``: the default build (cslake.silver.incremental): CIN rebuilt for that LA only;
- ``full``: ``build_silver(full=True)``, the build before issue 14: every table whose inputs
  changed rebuilt whole (the 9 CIN tables, every LA and year);
- ``force``: ``build_silver(force=True)``: every table whole.

Medians of ``--repeats`` runs each, in one process (one warm engine session), the runs
interleaved so a load spike from another process on the machine hits all three alike.
Prints the figures and the ratios; JSON in ``bench/results/incremental_<...>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

BENCH_KEY = "bench-incremental-key-0123456789abcdef"


def _years(text: str) -> list[int]:
    a, _, b = text.partition("-")
    return list(range(int(a), int(b or a) + 1))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--las", default="202,203,204,205")
    ap.add_argument("--years", default="2023-2025")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", default="/tmp/cslake-bench-incremental")
    ap.add_argument("--kinds", default="incremental,full,force", help="Which builds to time (comma-separated).")
    args = ap.parse_args(argv)
    os.environ.setdefault("CSLAKE_HASH_KEY", BENCH_KEY)

    from cslake.config import region
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.land import land_raw
    from cslake.silver import build_silver
    from cslake.synth.generate import generate_region

    las, years = args.las.split(","), _years(args.years)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    src, drop = work / "generated", work / "raw"
    r = region("london")
    r = dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code in las))
    t = time.perf_counter()
    generate_region(r, years, scale=args.scale, seed=42, out=src, workers=2, collections=["cin", "ssda903"],
                    dirt_rate=0.0, file_dirt_rate=0.0, progress=False)
    print(f"generated {len(las)} LAs x {len(years)} years at scale {args.scale} in {time.perf_counter() - t:.1f}s")

    new_file = sorted((src / las[0] / "cin" / str(years[-1])).glob("*.xml"))[0]
    for la in las:
        shutil.copytree(src / la, drop / la, ignore=lambda d, names: [n for n in names if Path(d, n) == new_file])
    spark = get_spark()
    base = Lake(work / "base", spark=spark)
    t = time.perf_counter()
    land_raw(base, drop)
    t_land = time.perf_counter() - t
    t = time.perf_counter()
    build_silver(base)
    t_first = time.perf_counter() - t
    print(f"base lake: land {t_land:.1f}s, first silver build {t_first:.1f}s")
    rel = new_file.relative_to(src)
    (drop / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(new_file, drop / rel)
    t = time.perf_counter()
    land_raw(base, drop)
    t_land_one = time.perf_counter() - t
    print(f"landed the new file {rel} in {t_land_one:.1f}s")

    times: dict[str, list[float]] = {k: [] for k in args.kinds.split(",")}
    rebuilt: dict[str, int] = {}
    for i in range(args.repeats):
        for kind in times:
            root = work / f"{kind}_{i}"
            shutil.copytree(base.root, root)
            lake = Lake(root, spark=spark)
            lake.register_all()
            t = time.perf_counter()
            rep = build_silver(lake, full=kind == "full", force=kind == "force")
            times[kind].append(time.perf_counter() - t)
            rebuilt[kind] = len(rep.tables)
            shutil.rmtree(root)
            print(f"  run {i + 1} {kind}: {times[kind][-1]:.1f}s ({len(rep.tables)} tables rebuilt)", flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    out = {"las": las, "years": years, "scale": args.scale, "repeats": args.repeats, "new_file": str(rel),
           "land_new_file_s": round(t_land_one, 2), "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
           "median_s": {k: round(v, 2) for k, v in med.items()}, "tables_rebuilt": rebuilt,
           "ratios_over_incremental": {k: round(med[k] / med["incremental"], 2) for k in med if k != "incremental"},
           "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(f"silver after one new CIN file ({len(las)} LAs x {len(years)} years, scale {args.scale}), "
          f"medians of {args.repeats}:")
    for k in times:
        print(f"  {k:12s} {med[k]:7.1f}s  ({rebuilt[k]} tables rebuilt)  runs: "
              + ", ".join(f"{x:.1f}" for x in times[k]))
    print("  " + "; ".join(f"{k} / incremental = {v}x" for k, v in out["ratios_over_incremental"].items())
          + f" (load average {out['load_avg_1m']})")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    name = f"incremental_{len(las)}la_{len(years)}y_{args.scale}.json"
    shutil.rmtree(work, ignore_errors=True)
    (results / name).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
