"""Linkage quality: match rates, conflicts, and — on generated data — precision and recall.

    report = linkage_report(lake, raw / "_truth")     # dict; json.dumps(report) for --format json
    print(render_linkage_report(report))

Match rates are read from the lake (silver.person_spine, silver.linkage_conflicts).
Against ground truth (the generator's ``_truth/records.csv``) every truth record is
mapped to its spine record by hashing its id with the lake's key and class, then
linkage is scored pairwise: a pair of records is a true pair when the generator
says they are one person, a predicted pair when they share a person_id.

- ``precision`` / ``recall`` (top level): pairs of records that both carry a valid UPN.
- ``truth.overall``: every mapped record.
- ``truth.no_upn_by_age_band``: pairs with at least one record without a valid
  UPN in the band (children under school age mostly have none).
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F
from pyspark.sql import types as T

from cslake import catalog
from cslake.lake import Lake
from cslake.linkage.components import Stage
from cslake.linkage.records import linkage_conf, sources
from cslake.pseudo import hash_column
from cslake.vocab import year_end_col

log = logging.getLogger(__name__)

TRUTH_RECORDS = "records.csv"


def _age_band_column(conf: dict):
    age = F.floor(F.months_between(year_end_col("year"), F.col("dob_month")) / 12)
    bands = conf.get("age_bands") or []
    expr = None
    for b in bands:
        cond = age <= int(b["max"])
        expr = F.when(cond, F.lit(b["band"])) if expr is None else expr.when(cond, F.lit(b["band"]))
    if expr is None:
        return F.lit("all")
    return F.when(F.col("dob_month").isNull() | F.col("year").isNull(), F.lit("unknown")).otherwise(
        expr.otherwise(F.lit("unknown")))


def _rates(df, by: str) -> dict[str, dict[str, Any]]:
    pdf = (df.groupBy(by).agg(F.count(F.lit(1)).alias("records"),
                              F.sum(F.col("_linked").cast("int")).alias("linked"),
                              F.sum(F.col("_cross").cast("int")).alias("cross_collection"))
           .orderBy(by).toPandas())
    out = {}
    for r in pdf.itertuples(index=False):
        n = int(r.records)
        out[str(getattr(r, by))] = {"records": n, "linked": int(r.linked), "cross_collection": int(r.cross_collection),
                                    "match_rate": round(int(r.linked) / n, 4) if n else None,
                                    "cross_collection_rate": round(int(r.cross_collection) / n, 4) if n else None}
    return out


def match_rates(spine, conf: dict) -> dict[str, Any]:
    """Record-level: linked (to any other record) and cross-collection rates; person-level pair table."""
    # Distinct (person, collection) rows counted, not countDistinct per person: the latter
    # took Sail past 23 GB on London scale 1 (3.2M records), as it did in linkage.
    n_coll = spine.select("person_id", "collection").distinct().groupBy("person_id").agg(
        F.count(F.lit(1)).alias("_nc"))
    per_person = spine.groupBy("person_id").agg(F.count(F.lit(1)).alias("_n")).join(n_coll, "person_id")
    df = (spine.join(per_person, "person_id")
          .withColumn("_linked", F.col("_n") > 1).withColumn("_cross", F.col("_nc") > 1)
          .withColumn("age_band", _age_band_column(conf)))
    out = {k: _rates(df, col) for k, col in (("by_collection", "collection"), ("by_year", "year"),
                                            ("by_la", "la"), ("by_age_band", "age_band"), ("by_rule", "rule"))}
    pc = spine.select("person_id", "collection").distinct()
    n_in = {r["collection"]: int(r["count"]) for r in pc.groupBy("collection").count().collect()}
    pairs = (pc.alias("a").join(pc.alias("b"), "person_id")
             .groupBy(F.col("a.collection").alias("a"), F.col("b.collection").alias("b")).count().collect())
    pair_table: dict[str, dict[str, Any]] = {}
    for r in pairs:
        if r["a"] == r["b"]:
            continue
        pair_table.setdefault(r["a"], {})[r["b"]] = {
            "persons_in_both": int(r["count"]),
            "share_of_first": round(int(r["count"]) / n_in[r["a"]], 4) if n_in.get(r["a"]) else None}
    out["by_collection_pair"] = pair_table
    out["persons_by_collection"] = n_in
    return out


# ---------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------

def truth_records(spark, truth_dir: Path):
    schema = T.StructType([T.StructField(c, T.StringType()) for c in
                           ("collection", "year", "la", "table", "record_key", "person_id")])
    return spark.read.csv(str(Path(truth_dir) / TRUTH_RECORDS), header=True, schema=schema)


def map_truth_to_spine(truth, spine, conf: dict):
    """Truth rows → spine records with their true person (pure but for the key in hashing).

    Returns (evaluation frame: one row per spine record found in truth, with
    ``true_person`` and ``truth_persons`` (distinct true persons mapped to it),
    truth rows not found in the spine by collection).
    """
    srcs = sources(conf)
    kinds = {(s.collection, s.table): s.truth_key for s in srcs}
    t = truth.select("collection", "table", "la", F.col("year").cast("int").alias("year"),
                     F.trim("record_key").alias("_key"), F.col("person_id").alias("true_person"))
    spine_k = spine.select("collection", "table", "la", "year", "record_key", "_row", "person_id",
                           "has_valid_upn", "dob_month")
    mapped = []
    for kind in sorted(set(kinds.values())):
        pairs = [k for k, v in kinds.items() if v == kind]
        cond = None
        for c, tb in pairs:
            e = (F.col("collection") == c) & (F.col("table") == tb)
            cond = e if cond is None else cond | e
        part = t.filter(cond)
        if kind == "row":
            part = part.withColumn("_row", F.col("_key").cast("bigint"))
            m = part.join(spine_k.filter(F.col("record_key").startswith("row:")),
                          ["collection", "table", "la", "year", "_row"], "left")
        else:
            part = part.withColumn("record_key", hash_column(F.col("_key"), kind, F.col("la")))
            m = part.join(spine_k.drop("_row"), ["collection", "table", "la", "year", "record_key"], "left")
        mapped.append(m.select("collection", "table", "la", "year", "_key", "true_person", "record_key",
                               "person_id", "has_valid_upn", "dob_month"))
    allm = mapped[0]
    for m in mapped[1:]:
        allm = allm.unionByName(m)
    unmatched = allm.filter(F.col("person_id").isNull()).groupBy("collection").count()
    keys = ["collection", "table", "la", "year", "record_key"]
    hit = allm.filter(F.col("person_id").isNotNull())
    # A spine record is one person_id; distinct true persons are counted from distinct
    # rows (countDistinct per group is what takes Sail's memory at scale).
    n_true = hit.select(*keys, "true_person").dropDuplicates().groupBy(*keys).agg(
        F.count(F.lit(1)).alias("truth_persons"))
    found = (hit.groupBy(*keys)
             .agg(F.min("true_person").alias("true_person"), F.min("person_id").alias("person_id"),
                  F.max("has_valid_upn").alias("has_valid_upn"), F.max("dob_month").alias("dob_month"))
             .join(n_true, keys))
    return found, unmatched


def pair_counts(df, in_subset=None, both: bool = True) -> dict[str, Any]:
    """Pairwise counts over records (pred = person_id, true = true_person).

    ``in_subset``: boolean column; pairs with both ends in it (``both``) or at least
    one end in it (not ``both``). None: all records.
    """
    s = F.lit(1) if in_subset is None else F.when(in_subset, 1).otherwise(0)
    d = df.withColumn("_s", s)
    if both or in_subset is None:
        d = d.filter(F.col("_s") == 1)

    def pairs(*keys):
        g = d.groupBy(*keys).agg(F.count(F.lit(1)).alias("n"), F.sum("_s").alias("s"))
        if both or in_subset is None:
            expr = F.col("n") * (F.col("n") - 1) / 2
        else:
            expr = F.col("n") * (F.col("n") - 1) / 2 - (F.col("n") - F.col("s")) * (F.col("n") - F.col("s") - 1) / 2
        v = g.agg(F.sum(expr).alias("p")).collect()[0]["p"]
        return int(v or 0)

    tp, pred, true = pairs("person_id", "true_person"), pairs("person_id"), pairs("true_person")
    records = d.filter(F.col("_s") == 1).count()
    return {"records": records, "true_pairs": true, "predicted_pairs": pred, "correct_pairs": tp,
            "precision": round(tp / pred, 6) if pred else None, "recall": round(tp / true, 6) if true else None}


def spine_for_report(lake: Lake):
    """The spine with each record's month of birth filled from its person where the
    record has none (SSDA903 episodes carry no DOB), so every record has an age band."""
    spine = lake.read_table(catalog.silver.person_spine)
    if not lake.exists(catalog.silver.person):
        return spine
    dob = lake.read_table(catalog.silver.person).select("person_id", F.col("dob_month").alias("_pdob"))
    return (spine.join(dob, "person_id", "left")
            .withColumn("dob_month", F.coalesce(F.col("dob_month"), F.col("_pdob"))).drop("_pdob"))


def truth_scores(lake: Lake, truth_dir: Path, conf: dict) -> dict[str, Any]:
    spine = spine_for_report(lake)
    truth = truth_records(lake.spark, truth_dir)
    found, unmatched = map_truth_to_spine(truth, spine, conf)
    stage = Stage(lake.spark, lake.staging_dir("silver", f"linkage-report-{uuid.uuid4().hex[:8]}"))
    try:
        ev = stage.put(found.withColumn("age_band", _age_band_column(conf)), "evaluation")
        out: dict[str, Any] = {
            "truth_records": truth.count(),
            "spine_records_scored": ev.count(),
            "spine_records_with_two_true_persons": ev.filter(F.col("truth_persons") > 1).count(),
            "truth_records_not_in_spine": {r["collection"]: int(r["count"]) for r in unmatched.collect()},
            "valid_upn": pair_counts(ev, F.col("has_valid_upn"), both=True),
            "overall": pair_counts(ev),
            "no_upn_by_age_band": {},
        }
        bands = [r["age_band"] for r in ev.select("age_band").distinct().orderBy("age_band").collect()]
        for b in bands:
            subset = ~F.col("has_valid_upn") & (F.col("age_band") == b)
            res = pair_counts(ev, subset, both=False)
            if res["records"]:
                out["no_upn_by_age_band"][b] = res
        out["no_upn"] = pair_counts(ev, ~F.col("has_valid_upn"), both=False)
    finally:
        stage.close()
    return out


def linkage_report(lake: Lake, raw_truth_dir: Path | str | None = None) -> dict[str, Any]:
    """The linkage quality report as a dict (JSON-ready); ``precision``/``recall`` are
    None unless ground truth is given (a generated region's ``_truth`` folder, or the
    raw folder holding it)."""
    conf = linkage_conf()
    spine = spine_for_report(lake)
    report: dict[str, Any] = {"precision": None, "recall": None}
    report["records"] = spine.count()
    report["persons"] = spine.select("person_id").distinct().count()
    report["records_with_valid_upn"] = spine.filter(F.col("has_valid_upn")).count()
    t0 = time.perf_counter()
    report["match_rates"] = match_rates(spine, conf)
    log.info("report linkage: %d records, match rates (%.1f s)", report["records"], time.perf_counter() - t0)
    conflicts = lake.read_table(catalog.silver.linkage_conflicts) if lake.exists(catalog.silver.linkage_conflicts) else None
    report["conflicts"] = ({r["conflict"]: int(r["count"]) for r in conflicts.groupBy("conflict").count().collect()}
                           if conflicts is not None else {})
    report["conflicts_total"] = int(sum(report["conflicts"].values()))
    report["truth"] = None
    if raw_truth_dir is not None:
        tdir = Path(raw_truth_dir)
        if not (tdir / TRUTH_RECORDS).is_file() and (tdir / "_truth" / TRUTH_RECORDS).is_file():
            tdir = tdir / "_truth"
        if not (tdir / TRUTH_RECORDS).is_file():
            raise FileNotFoundError(f"no {TRUTH_RECORDS} under {raw_truth_dir} (the generator's _truth folder)")
        scores = truth_scores(lake, tdir, conf)
        log.info("report linkage: scored against %s (%.1f s)", tdir, time.perf_counter() - t0)
        report["truth"] = scores
        report["precision"] = scores["valid_upn"]["precision"]
        report["recall"] = scores["valid_upn"]["recall"]
    return report


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def render_linkage_report(report: dict[str, Any]) -> str:
    """Plain-text rendering for ``cslake report linkage``."""
    lines = [f"Linkage: {report['records']} records -> {report['persons']} persons "
             f"({report['records_with_valid_upn']} records with a valid UPN)"]
    if report.get("truth"):
        t = report["truth"]
        lines.append(f"Against ground truth (pairwise): valid-UPN precision {_pct(report['precision'])}, "
                     f"recall {_pct(report['recall'])}; all records precision {_pct(t['overall']['precision'])}, "
                     f"recall {_pct(t['overall']['recall'])}")
        for band, r in t["no_upn_by_age_band"].items():
            lines.append(f"  without a valid UPN, age {band}: {r['records']} records, precision {_pct(r['precision'])}, "
                         f"recall {_pct(r['recall'])}")
        if t["truth_records_not_in_spine"]:
            lines.append("  truth records not found in the spine: " +
                         ", ".join(f"{k} {v}" for k, v in sorted(t["truth_records_not_in_spine"].items())))
    else:
        lines.append("No ground truth given: precision and recall not measured.")
    lines.append(f"Conflicts: {report['conflicts_total']} " +
                 ("(" + ", ".join(f"{k} {v}" for k, v in sorted(report["conflicts"].items())) + ")" if report["conflicts"] else ""))
    mr = report["match_rates"]
    for title, key in (("collection", "by_collection"), ("year", "by_year"), ("LA", "by_la"),
                       ("age band", "by_age_band"), ("rule", "by_rule")):
        lines.append(f"Match rate by {title} (linked to another record / seen in another collection):")
        for k, v in mr[key].items():
            lines.append(f"  {k:>14}: {v['records']:>8} records  {_pct(v['match_rate']):>8}  {_pct(v['cross_collection_rate']):>8}")
    lines.append("Persons in collection A also in B (share of A):")
    for a, row in sorted(mr["by_collection_pair"].items()):
        lines.append(f"  {a:>14}: " + ", ".join(f"{b} {_pct(v['share_of_first'])}" for b, v in sorted(row.items())))
    return "\n".join(lines)
