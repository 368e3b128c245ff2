"""Issue 12's two figures on a generated region: what cell-level quarantine keeps, and how far the
two views of DfE's measures (as submitted, as corrected) are apart per year.

    .venv/bin/python bench/bench_dfe_views.py [--las 201,202,203,204,205] [--years 2021-2025]
                                             [--scale 0.05] [--work /tmp/cslake-dfe-views]

Generates the LAs' CIN and SSDA903 returns with the generator's default faults (cells, rows and
files), lands them, builds silver and gold's ``dfe_measures`` on the embedded engine, then prints:

- rows kept by cell-level quarantine: silver rows with at least one value nulled (a bad value in a
  column that is neither key, mandatory nor identifier; ``quarantine.row_flags`` outcome ``nulled``),
  against the rows still rejected whole (``quarantine.rows``). Before cell-level quarantine every
  one of these rows was rejected whole, so the share kept is kept / (kept + rejected);
- per collection year and measure, summed over the LAs: as submitted, as corrected, the
  difference, and how many LA rows differ by more than conf/gold.yaml's threshold.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-dfe-views-key-0123456789abcdef"


def kept_and_rejected(lake) -> dict:
    """Distinct rows (table, file, row) nulled-and-kept and rejected whole, per collection."""
    flags = lake.read_table("quarantine.row_flags").toPandas()
    rejected = lake.read_table("quarantine.rows").toPandas()
    row = ["table", "source_file_sha256", "row_number"]
    kept = flags[flags.outcome == "nulled"].dropna(subset=["row_number"]).drop_duplicates(row)
    gone = rejected[rejected.table.str.startswith("silver.")].dropna(subset=["row_number"]).drop_duplicates(row)
    out = {}
    for coll in sorted(set(kept.collection) | set(gone.collection)):
        k, r = int((kept.collection == coll).sum()), int((gone.collection == coll).sum())
        out[coll] = {"kept_nulled": k, "rejected_whole": r, "share_kept": k / (k + r) if k + r else None,
                     "nulled_cells_by_rule": kept[kept.collection == coll].rule_code.value_counts().to_dict()}
    return out


def views_by_year(lake):
    """gold_restricted.dfe_measures' LA rows summed per year and measure (findings left out)."""
    m = lake.read_table("gold_restricted.dfe_measures").toPandas()
    m = m[(m.geog_level == "la") & ~m.measure.str.startswith("finding_")]
    return (m.groupby(["collection_year", "measure"])
             .agg(as_submitted=("as_submitted", "sum"), as_corrected=("as_corrected", "sum"),
                  las_differing=("differs", "sum"), las=("geog_code", "nunique"))
             .assign(difference=lambda d: d.as_corrected - d.as_submitted)
             .reset_index())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--las", default="201,202,203,204,205")
    ap.add_argument("--years", default="2021-2025")
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", default="/tmp/cslake-dfe-views")
    args = ap.parse_args()
    os.environ.setdefault("CSLAKE_HASH_KEY", KEY)
    sys.path.insert(0, str(ROOT / "lib"))

    from cslake.config import parse_years, region
    from cslake.engine import get_spark
    from cslake.gold.build import build_gold
    from cslake.lake import Lake
    from cslake.land import land_raw
    from cslake.silver import build_silver
    from cslake.synth.generate import generate_region

    work = Path(args.work)
    wanted = set(args.las.split(","))
    reg = region("london")
    reg = dataclasses.replace(reg, las=tuple(la for la in reg.las if la.dfe_code in wanted))
    generate_region(reg, parse_years(args.years), scale=args.scale, seed=args.seed, out=work / "raw",
                    workers=2, collections=["cin", "ssda903"], progress=False)
    lake = Lake(work / "lake", spark=get_spark())
    land_raw(lake, work / "raw")
    build_silver(lake)
    build_gold(lake, ["dfe_measures"])

    print(f"LAs {args.las}, years {args.years}, scale {args.scale}, seed {args.seed}, default faults")
    for coll, f in kept_and_rejected(lake).items():
        share = "n/a" if f["share_kept"] is None else f"{f['share_kept']:.1%}"
        print(f"{coll}: {f['kept_nulled']:,} rows kept with a nulled cell, {f['rejected_whole']:,} rejected whole: "
              f"{share} of the rows row-level quarantine dropped are now kept; nulled by rule {f['nulled_cells_by_rule']}")
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(views_by_year(lake).to_string(index=False))


if __name__ == "__main__":
    main()
