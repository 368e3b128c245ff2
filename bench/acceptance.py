"""The issues' acceptance figures on a generated region (default London, 2021-2025, scale 0.1).

    .venv/bin/python bench/acceptance.py [--raw RAW] [--scale 0.1] [--years 2021-2025] [--region london]
                                         [--work /tmp/cslake-acceptance] [--clean]

Runs land → silver → linkage → gold → research extract on the region (generated under
--work unless --raw is given; the default dirt rates, or none with --clean), then prints
and writes to ``bench/results/acceptance_<region>_<scale>[_clean].json``:

- issue 3: drop-zone files without a ``bronze.files`` row, per file and table bronze =
  silver + quarantined (``cslake report silver``), fault recall and false quarantine
  against the generator's manifest, and whether a second land + silver commits nothing;
- issue 4: pairwise precision/recall for valid-UPN records, overall, and recall by age
  band for records without one (``cslake report linkage``);
- issue 5: ``gold.riia_indicators`` against the independent pandas computation of
  tests/test_gold_riia.py, straight from the raw files, for every LA and quarter (run
  it on a --clean region: on dirty files the computation counts rows silver rightly
  quarantines), and a scan of every published table for counts 1-5;
- the research extract's k-anonymity report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "acceptance-key-0123456789abcdef"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", default=None)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--years", default="2021-2025")
    ap.add_argument("--region", default="london")
    ap.add_argument("--work", default=None)
    ap.add_argument("--clean", action="store_true", help="generate without injected faults")
    args = ap.parse_args()
    os.environ.setdefault("CSLAKE_HASH_KEY", KEY)
    label = f"{args.region}_{args.scale:g}" + ("_clean" if args.clean else "")
    work = Path(args.work or f"/tmp/cslake-acceptance-{label}")
    raw = Path(args.raw) if args.raw else work / "raw"
    lake_root = work / "lake"

    from cslake.config import parse_years, region
    from cslake.engine import get_spark
    from cslake.lake import Lake

    fig: dict = {"region": args.region, "scale": args.scale, "years": args.years, "raw": str(raw),
                 "clean": args.clean, "seconds": {}}

    def timed(name, fn, *a, **kw):
        t = time.perf_counter()
        out = fn(*a, **kw)
        fig["seconds"][name] = round(time.perf_counter() - t, 1)
        print(f"{name}: {fig['seconds'][name]} s", flush=True)
        return out

    if not (raw / "_truth" / "records.csv").is_file():
        from cslake.synth.generate import generate_region

        rates = {"dirt_rate": 0.0, "file_dirt_rate": 0.0} if args.clean else {}
        timed("generate", generate_region, region(args.region), parse_years(args.years), scale=args.scale, seed=42,
              out=raw, workers=os.cpu_count() or 2, progress=False, **rates)

    from cslake.land import land_raw
    from cslake.linkage import build_linkage
    from cslake.silver import build_silver

    lake = Lake(lake_root, spark=get_spark())
    timed("land", land_raw, lake, raw)
    timed("silver", build_silver, lake)
    versions = {t: lake.version(t) for t in lake.tables()}
    again = timed("land_again", land_raw, lake, raw)
    again_s = timed("silver_again", build_silver, lake)
    fig["issue3_second_run_commits_nothing"] = (
        {t: lake.version(t) for t in lake.tables()} == versions and not again_s.tables and not again.outcomes)
    print(f"second land + silver commits nothing: {fig['issue3_second_run_commits_nothing']}", flush=True)

    from cslake.reports.silver import render_silver_report, silver_report

    rep = timed("report_silver", silver_report, lake, raw)
    print(render_silver_report(rep), flush=True)
    fig["issue3"] = {k: rep[k] for k in ("bronze_files", "outcomes", "raw_files", "raw_files_without_ledger_row",
                                          "bronze_rows", "silver_rows", "quarantined_rows")}
    fig["issue3"]["file_table_pairs_unbalanced"] = len(rep["files_unbalanced"])
    fig["issue3"]["truth"] = rep.get("truth")

    timed("linkage", build_linkage, lake)
    from cslake.reports.linkage import linkage_report

    lk = timed("report_linkage", linkage_report, lake, raw / "_truth")
    fig["issue4"] = {"precision": lk["precision"], "recall": lk["recall"],
                     "overall": lk["truth"]["overall"], "no_upn_by_age_band": lk["truth"].get("no_upn_by_age_band")}
    print(f"linkage: valid-UPN precision {lk['precision']:.5f}, recall {lk['recall']:.5f}; "
          f"all records {lk['truth']['overall']}", flush=True)

    from cslake.gold.build import build_gold

    timed("gold", build_gold, lake, region=args.region)
    fig["issue5"] = {"published_counts_1_to_5": published_small_counts(lake)}
    try:
        sys.path.insert(0, str(ROOT))
        from tests.test_gold_riia import CHECKED, expected_indicators, truth_persons

        persons = truth_persons(raw)
        # "The same child" two ways: the generator's true person (checks linkage too), and
        # the spine's person of each raw CIN record (checks the indicator code given the spine).
        expected = timed("independent_indicators", expected_indicators, raw, persons)
        fig["issue5"]["same_child_is_true_person"] = compare_indicators(lake, expected, CHECKED)
        from cslake import pseudo

        spine = (lake.read_table("silver.person_spine").where("collection = 'cin'")
                 .select("la", "record_key", "person_id").toPandas())
        by_hash = {(la, h): p for la, h, p in spine.itertuples(index=False)}
        key = pseudo._read_key()
        spine_persons = {(la, child): by_hash.get((la, pseudo.hash_value("la_child_id", child, la, key=key)),
                                                  f"unlinked {la}:{child}") for la, child in persons}
        expected_spine = timed("independent_indicators_spine", expected_indicators, raw, spine_persons)
        fig["issue5"]["same_child_is_spine_person"] = compare_indicators(lake, expected_spine, CHECKED)
        for how in ("same_child_is_true_person", "same_child_is_spine_person"):
            r = fig["issue5"][how]
            print(f"indicators ({how}): {r['cells_compared']} cells compared over {r['las']} LAs x {r['quarters']} "
                  f"quarters, {r['cells_differing']} differ {r['differing_by_indicator_breakdown']} "
                  f"(gold below: {r['gold_below']}, above: {r['gold_above']}), "
                  f"{r['cells_one_side_only']} on one side only", flush=True)
    except Exception as exc:  # sanity checks, or a file a plain parser cannot read (use --clean)
        fig["issue5"]["independent_computation_error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
        print(f"independent indicator computation not possible on this region: {exc}", flush=True)

    from cslake.publish.research import publish_research

    research = timed("research_extract", publish_research, lake, work / "research")
    fig["research"] = {k: research.get(k) for k in ("k", "smallest_group_before", "smallest_group", "passes")}
    print(f"research extract: {fig['research']}", flush=True)

    out = ROOT / "bench" / "results" / f"acceptance_{label}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(fig, indent=2, default=str))
    print(f"written {out}")


def published_small_counts(lake) -> dict:
    """Per published gold table, how many shown counts (columns the suppression spec in
    conf/gold.yaml calls count or numerator) are between 1 and 5; all should be 0."""
    from cslake.gold.build import gold_conf
    from cslake.gold.suppression import published_counts, specs_from_conf

    specs = specs_from_conf(gold_conf())
    out = {}
    for table, spec in sorted(specs.items()):
        if not lake.exists(f"gold.{table}"):
            continue
        cols = [m.column for m in spec.measures if m.kind in ("count", "numerator")]
        pdf = lake.read_table(f"gold.{table}").toPandas()
        out[table] = sum(1 for v in published_counts(pdf, [c for c in cols if c in pdf.columns]) if 1 <= v <= 5)
    return out


def compare_indicators(lake, expected, checked) -> dict:
    got = lake.read_table("gold_restricted.riia_indicators").toPandas()
    got = got[(got.geog_level == "la") & got.indicator_id.isin(checked) & got.number.notna()]
    key = ["geog_code", "period", "indicator_id", "breakdown"]
    m = expected[expected.indicator_id.isin(checked)].merge(
        got[key + ["number", "denominator"]], on=key, how="outer", suffixes=("_expected", "_gold"), indicator=True)
    both = m[m["_merge"] == "both"]
    diff = both[both.number_expected != both.number_gold]
    return {"cells_compared": int(len(both)), "cells_one_side_only": int((m["_merge"] != "both").sum()),
            "cells_differing": int(len(diff)),
            "gold_below": int((diff.number_gold < diff.number_expected).sum()),
            "gold_above": int((diff.number_gold > diff.number_expected).sum()),
            "cells_by_indicator": {int(k): int(v) for k, v in both.groupby("indicator_id").size().items()},
            "differing_by_indicator": {int(k): int(v) for k, v in diff.groupby("indicator_id").size().items()},
            "differing_by_indicator_breakdown": {f"{int(i)} / {b}": int(v) for (i, b), v in
                                                 diff.groupby(["indicator_id", "breakdown"]).size().items()},
            "las": int(both.geog_code.nunique()), "quarters": int(both.period.nunique())}


if __name__ == "__main__":
    main()
