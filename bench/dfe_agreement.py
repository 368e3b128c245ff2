"""cslake's DfE rules against DfE's own validators, row by row, on generated regions (issue 13).

    .venv/bin/python bench/dfe_agreement.py                       # 4 LAs x 2023-2024, clean + dirty
    .venv/bin/python bench/dfe_agreement.py --cost 3              # + silver's cost with / without the DfE rules

For each region (``clean``: no injected faults; ``dirty``: the generator's default faults plus
tests/oracle/dfe_faults.py's faults for the DfE rules): generate CIN and SSDA903 returns, land them,
build silver (Sail), run data-to-insight's validators (csc-validator-be-cin / -903, in their own
environment .venv-dfe made by tests/oracle/setup_dfe_validators.sh), and print per cslake rule
with a DfE code the (LA, year, file, row) pairs raised by both, only by DfE (and of those, rows
cslake caught under another rule), only by cslake, then the agreement per collection
(both / either) over both regions. ``--cost N`` rebuilds the dirty region's CIN and SSDA903
silver N times with the shipped rules and N times with every DfE rule (DFE_*) and join left
out, and prints the medians and their ratio. ``--json PATH`` writes everything.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.oracle

from cslake import catalog, engine, pseudo  # noqa: E402
from cslake.config import region  # noqa: E402
from cslake.lake import Lake  # noqa: E402
from cslake.land import land_raw  # noqa: E402
from cslake.silver import build as silver_build  # noqa: E402
from cslake.synth.generate import generate_region  # noqa: E402
from tests.oracle import dfe, dfe_defects, dfe_faults  # noqa: E402
from tests.oracle.agreement import VALIDATOR_ROW_DEFECTS, agreement, cslake_findings, per_collection  # noqa: E402

COLLECTIONS = ["cin", "ssda903"]


def make_region(out: Path, las: list[str], years: list[int], scale: float, dirty: bool, seed: int) -> list[dict]:
    r = region("london")
    r = dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code in las))
    generate_region(r, years, scale=scale, seed=seed, out=out, dirt_rate=None if dirty else 0.0,
                    file_dirt_rate=0.0, workers=2, collections=COLLECTIONS, progress=False)
    return dfe_faults.inject(out) if dirty else []


def without_dfe_rules(conf: dict) -> dict:
    """The silver conf with every DfE rule as data (DFE_*) and every join left out: silver before issue 13."""
    out = dict(conf)
    out["rules"] = [r for r in conf.get("rules") or [] if not r["rule"].startswith("DFE_")]
    out.pop("joins", None)
    return out


def silver_seconds(lake: Lake, conf_of) -> float:
    real = silver_build.silver_conf
    silver_build.silver_conf = conf_of
    try:
        t0 = time.perf_counter()
        silver_build.build_silver(lake, collections=COLLECTIONS, force=True)
        return time.perf_counter() - t0
    finally:
        silver_build.silver_conf = real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # City of London (201) has no looked-after child at small scales (its SSDA903 files are empty, which
    # DfE's validator refuses whole): four LAs with data besides it
    ap.add_argument("--las", default="201,202,203,204,205")
    ap.add_argument("--years", type=int, nargs="+", default=[2023, 2024])
    ap.add_argument("--scale", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=Path("/tmp/cslake_dfe_agreement"))
    ap.add_argument("--regions", nargs="+", default=["clean", "dirty"], choices=["clean", "dirty"])
    ap.add_argument("--cost", type=int, default=0, help="silver rebuilds per variant for the cost ratio")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-dfe", action="store_true", help="cost only: do not run DfE's validators")
    a = ap.parse_args()
    os.environ.setdefault(pseudo.KEY_ENV, "dfe-agreement-bench-key-0123456789abcdef")
    las = a.las.split(",")
    spark = engine.get_spark(engine="sail")
    catalog.load()
    tables, result = [], {"las": las, "years": a.years, "scale": a.scale, "regions": {}}
    for name in a.regions:
        root = a.out / name
        t0 = time.perf_counter()
        injected = make_region(root / "raw", las, a.years, a.scale, name == "dirty", a.seed)
        shutil.rmtree(root / "lake", ignore_errors=True)  # a fresh lake: an earlier run's files would stay live
        lake = Lake(root / "lake", spark=spark)
        land_raw(lake, root / "raw")
        t1 = time.perf_counter()
        silver_build.build_silver(lake, collections=COLLECTIONS, force=True)
        silver_s = time.perf_counter() - t1
        issues = [] if a.no_dfe else dfe.run_region(root / "raw")
        table = agreement(cslake_findings(lake), issues)
        table.insert(0, "region", name)
        tables.append(table)
        errors = collections.Counter((i["collection"], i["rule"]) for i in issues if i["severity"] == "error")
        print(f"\n== {name}: {len(las)} LAs x {a.years}, scale {a.scale}; {len(injected)} DfE-rule faults injected; "
              f"silver {silver_s:.1f}s; {time.perf_counter() - t0:.0f}s in all")
        print(f"DfE errors raised: {sum(errors.values())} over {len(errors)} rules")
        left, explained = dfe_defects.split(issues, root / "raw")
        print(f"of which validator defects / DfE rule conflicts / history limits (tests/oracle/dfe_defects.py): "
              f"{dict(explained)}; left: {dict(collections.Counter((i['collection'], i['rule']) for i in left))}")
        broken = collections.Counter((i["collection"], i["rule"], i["severity"]) for i in issues
                                     if i["severity"] in ("crashed", "rejected"))
        for (coll, rule, sev), n in sorted(broken.items()):
            why = next((i["fields"] for i in issues if i["rule"] == rule and i["severity"] == sev), [])
            print(f"DfE validator {sev}: {coll} {rule} on {n} return(s) {why[:1]}")
        shown = table[(table[["both", "only_dfe", "only_cslake"]].sum(axis=1) > 0)]
        print(shown.drop(columns=["examples_only_dfe", "examples_only_cslake"]).to_string(index=False))
        result["regions"][name] = {"dfe_errors_left": len(left), "silver_seconds": silver_s, "broken": {f"{c}:{r}:{v}": n for (c, r, v), n in broken.items()}, "dfe_errors": {f"{c}:{r}": n for (c, r), n in errors.items()},
                                   "table": table.to_dict("records")}
        if a.cost and name == "dirty":
            # interleaved, so load from other work on the machine falls on both alike
            full, before = [], []
            for _ in range(a.cost):
                before.append(silver_seconds(lake, lambda: without_dfe_rules(catalog.silver_conf())))
                full.append(silver_seconds(lake, catalog.silver_conf))
            ratio = statistics.median(full) / statistics.median(before)
            print(f"\nsilver cost (CIN + SSDA903, dirty region, force rebuild, medians of {a.cost}): "
                  f"with the DfE rules {statistics.median(full):.1f}s, without {statistics.median(before):.1f}s, "
                  f"ratio {ratio:.2f}x  (runs: {[round(x, 1) for x in full]} vs {[round(x, 1) for x in before]})")
            result["cost"] = {"with": full, "without": before, "ratio": ratio}
    if a.no_dfe:
        if a.json:
            a.json.write_text(json.dumps(result, default=str, indent=1))
        return
    both = pd.concat(tables, ignore_index=True)
    print("\n== agreement per collection, (rule, row) pairs over " + " + ".join(a.regions))
    shares = per_collection(both)
    every = per_collection(both, leave_out={})
    for coll, (n, total, share) in sorted(shares.items()):
        n_all, total_all, share_all = every[coll]
        print(f"{coll}: {n} of {total} flagged by both = {share:.1%}  (every rule, with DfE's row defects "
              f"{sorted(VALIDATOR_ROW_DEFECTS)} too: {n_all} of {total_all} = {share_all:.1%})")
    result["per_collection"] = shares
    result["per_collection_every_rule"] = every
    if a.json:
        a.json.write_text(json.dumps(result, default=str, indent=1))
    engine.stop_spark("sail")


if __name__ == "__main__":
    main()
