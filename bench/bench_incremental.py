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

``--layouts partitioned,unpartitioned`` times the same builds on a second base lake whose tables
are declared without ``partition_by`` (silver, care_history and the side tables as they were
before issue 14 partitioned them by LA), the catalog switched in-process before each run. For
each run it also counts, from the Delta log (delta-rs), the files the build removed and added
in every table it wrote, and the files the tables hold: what one LA's rebuild rewrites.
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
    ap.add_argument("--layouts", default="partitioned",
                    help="partitioned (as declared) and/or unpartitioned (partition_by dropped), comma-separated")
    args = ap.parse_args(argv)
    os.environ.setdefault("CSLAKE_HASH_KEY", BENCH_KEY)

    from cslake import catalog
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
    layouts = args.layouts.split(",")
    declared = {sp.name: sp for sp in catalog.all_table_specs()}
    bases: dict[str, Lake] = {}
    t_land_one = 0.0
    rel = new_file.relative_to(src)
    for layout in layouts:
        use_layout(layout, declared)
        base = bases[layout] = Lake(work / f"base_{layout}", spark=spark)
        drop_l = work / f"raw_{layout}"
        shutil.copytree(drop, drop_l)
        t = time.perf_counter()
        land_raw(base, drop_l)
        t_land = time.perf_counter() - t
        t = time.perf_counter()
        build_silver(base)
        t_first = time.perf_counter() - t
        print(f"base lake ({layout}): land {t_land:.1f}s, first silver build {t_first:.1f}s")
        (drop_l / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(new_file, drop_l / rel)
        t = time.perf_counter()
        land_raw(base, drop_l)
        t_land_one = time.perf_counter() - t
        print(f"landed the new file {rel} in {t_land_one:.1f}s")

    runs = [(layout, kind) for layout in layouts for kind in args.kinds.split(",")]
    label = {(lo, k): k if len(layouts) == 1 else f"{k}/{lo}" for lo, k in runs}
    times: dict[str, list[float]] = {label[r]: [] for r in runs}
    rebuilt: dict[str, int] = {}
    files: dict[str, dict] = {}
    log_files = open(work.parent / f"{work.name}_files.log", "w")  # per table, every run
    for i in range(args.repeats):
        for layout, kind in runs:
            use_layout(layout, declared)
            name = label[(layout, kind)]
            root = work / f"{kind}_{layout}_{i}"
            shutil.copytree(bases[layout].root, root)
            lake = Lake(root, spark=spark)
            lake.register_all()
            before = {n: lake.version(n) for n in lake.tables()}
            t = time.perf_counter()
            rep = build_silver(lake, full=kind == "full", force=kind == "force")
            times[name].append(time.perf_counter() - t)
            rebuilt[name] = len(rep.tables)
            files[name] = files_rewritten(lake, before)
            shutil.rmtree(root)
            f = files[name]["total"]
            per_table = ", ".join(f"{n} -{v['removed']}+{v['added']}/{v['held']}" for n, v in files[name].items()
                                  if n != "total")
            log_files.write(f"run {i + 1} {name}: {per_table}\n")
            print(f"  run {i + 1} {name}: {times[name][-1]:.1f}s ({len(rep.tables)} tables rebuilt; "
                  f"files removed {f['removed']}, added {f['added']}, held {f['held']})", flush=True)
    use_layout("partitioned", declared)

    med = {k: statistics.median(v) for k, v in times.items()}
    runs_first = label[runs[0]]
    out = {"las": las, "years": years, "scale": args.scale, "repeats": args.repeats, "new_file": str(rel),
           "land_new_file_s": round(t_land_one, 2), "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
           "median_s": {k: round(v, 2) for k, v in med.items()}, "tables_rebuilt": rebuilt,
           # Every build over the first one timed (incremental, as declared, by default).
           "ratios": {f"{k} / {runs_first}": round(med[k] / med[runs_first], 2) for k in med if k != runs_first},
           "files": files, "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(f"silver after one new CIN file ({len(las)} LAs x {len(years)} years, scale {args.scale}), "
          f"medians of {args.repeats}:")
    for k in times:
        f = files[k]["total"]
        print(f"  {k:26s} {med[k]:7.1f}s  ({rebuilt[k]} tables rebuilt; files removed {f['removed']}, "
              f"added {f['added']} of {f['held']} held)  runs: " + ", ".join(f"{x:.1f}" for x in times[k]))
    print("  " + "; ".join(f"{k} = {v}x" for k, v in out["ratios"].items())
          + f" (load average {out['load_avg_1m']})")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    name = f"incremental_{len(las)}la_{len(years)}y_{args.scale}_{'_'.join(layouts)}.json"
    shutil.rmtree(work, ignore_errors=True)
    (results / name).write_text(json.dumps(out, indent=2))
    return out


def use_layout(layout: str, declared: dict) -> None:
    """Declare every table as conf does (``partitioned``) or without its partition columns."""
    from cslake import catalog

    if layout not in ("partitioned", "unpartitioned"):
        raise SystemExit(f"unknown layout {layout!r}")
    for spec in declared.values():
        if spec.partition_by:
            keep = layout == "partitioned"
            catalog.register_table_spec(spec if keep else dataclasses.replace(spec, partition_by=()), replace=True)


def files_rewritten(lake, before: dict[str, int]) -> dict:
    """Per table written since ``before`` (name -> version): data files removed and added by its
    commits (Delta log, delta-rs) and the files it holds now; "total" sums them."""
    import pyarrow as pa
    from deltalake import DeltaTable

    out: dict[str, dict] = {}
    for name in lake.tables():
        dt = DeltaTable(lake.path(name))
        v0 = before.get(name, -1)
        if dt.version() == v0:
            continue
        removed = added = 0
        for c in dt.history(dt.version() - v0):
            m = c.get("operationMetrics") or {}
            removed += int(m.get("numRemovedFiles", m.get("num_removed_files", 0)) or 0)
            added += int(m.get("numAddedFiles", m.get("numFiles", m.get("num_added_files", 0))) or 0)
        out[name] = {"removed": removed, "added": added, "held": pa.table(dt.get_add_actions()).num_rows}
    out["total"] = {k: sum(v[k] for v in out.values()) for k in ("removed", "added", "held")}
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
