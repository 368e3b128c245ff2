"""Is anything lost between the drop zone and silver? The completeness check a data
engineer runs after a load, and on generated data how well the faults were caught.

    rep = silver_report(lake, raw_dir)          # raw_dir optional
    print(render_silver_report(rep))

- files: every file under the drop zone has a row in ``bronze.files`` (matched by
  path relative to the drop zone, as land records it); outcomes counted;
- rows: for every landed file and table, bronze rows = silver rows + quarantined rows,
  recounted from the tables themselves (not from the build's own ``silver.file_counts``);
- on a generated region (``<raw>/_truth/faults.csv`` present): recall of the injected
  faults by the rule each names, and the false-quarantine rate (``cslake.silver.measure``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, functions as F

from cslake import catalog
from cslake.lake import Lake
from cslake.land import SKIP_DIRS, list_raw
from cslake.silver.measure import measure_against_manifest


RETURN = ["_file_sha256", "_la", "_year"]  # a return: (file bytes, the LA and year it landed as)


def ledger_check(files: pd.DataFrame, listing: pd.DataFrame | None) -> dict[str, Any]:
    """Outcomes of ``bronze.files`` rows (path, outcome) and, given the drop zone's listing (relpath),
    the files under it that have no ledger row."""
    out: dict[str, Any] = {"bronze_files": len(files),
                           "outcomes": {k: int(v) for k, v in files.outcome.value_counts().sort_index().items()}}
    if listing is not None:
        listing = listing[~listing.relpath.str.split("/").map(lambda parts: bool(set(parts) & SKIP_DIRS))]
        missing = sorted(set(listing.relpath) - set(files.path))
        out.update(raw_files=len(listing), raw_files_without_ledger_row=len(missing), missing_examples=missing[:10])
    return out


def row_balance(bronze: DataFrame, silver: DataFrame, landed: DataFrame, quarantined: DataFrame | None) -> DataFrame:
    """Per return of a landed file: bronze rows (``count``), silver rows and quarantined rows.

    ``landed``: _file_sha256 of landed files; ``quarantined``: quarantine rows of this table
    (source_file_sha256, la, year, row_number), distinct."""
    b = bronze.join(landed, "_file_sha256").groupBy(*RETURN).count()
    s = (silver.groupBy(*[F.col(c).alias(f"_s{c}") for c in RETURN]).count().withColumnRenamed("count", "silver"))
    on = F.lit(True)
    for c in RETURN:
        on = on & F.col(c).eqNullSafe(F.col(f"_s{c}"))
    per = b.join(s, on, "left").drop(*[f"_s{c}" for c in RETURN])
    if quarantined is None:
        return per.withColumn("quarantined", F.lit(0))
    qq = (quarantined.groupBy(F.col("source_file_sha256").alias("_q_sha"), F.col("la").alias("_q_la"),
                              F.col("year").alias("_q_year"))
          .count().withColumnRenamed("count", "quarantined"))
    return (per.join(qq, per["_file_sha256"].eqNullSafe(qq["_q_sha"]) & per["_la"].eqNullSafe(qq["_q_la"])
                     & per["_year"].eqNullSafe(qq["_q_year"]), "left")
            .drop("_q_sha", "_q_la", "_q_year"))


def balance_summary(name: str, pdf: pd.DataFrame) -> tuple[dict[str, Any], list[str]]:
    """One table's line of the report from its ``row_balance`` (nulls as 0), and its unbalanced files."""
    bad = pdf[pdf["count"] != pdf["silver"] + pdf["quarantined"]]
    line = {"table": name, "files": len(pdf), "bronze_rows": int(pdf["count"].sum()),
            "silver_rows": int(pdf["silver"].sum()), "quarantined_rows": int(pdf["quarantined"].sum()),
            "files_unbalanced": len(bad)}
    return line, [f"{name} {sha[:12]}" for sha in bad["_file_sha256"]]


def truth_check(lake: Lake, raw_dir: Path | str) -> dict[str, Any]:
    """Recall of the generator's injected faults and the false-quarantine rate."""
    m = measure_against_manifest(lake, raw_dir)
    return {"faults": m.faults, "caught": m.caught, "not_applicable": m.not_applicable,
            "recall": m.recall, "rows": m.rows, "false_quarantined_rows": m.false_quarantined_rows,
            "false_quarantine_rate": m.false_quarantine_rate,
            "missed_by_rule": (m.missed.groupby("rule").size().to_dict()
                               if m.missed is not None and len(m.missed) else {})}


def silver_report(lake: Lake, raw_dir: Path | str | None = None) -> dict[str, Any]:
    files = lake.read_table(catalog.bronze.files).select("path", "outcome", "sha256").toPandas()
    listing = list_raw(Path(raw_dir)) if raw_dir is not None else None
    out: dict[str, Any] = {"lake": lake.root, **ledger_check(files, listing)}
    landed = (lake.read_table(catalog.bronze.files).filter(F.col("outcome") == "landed")
              .select(F.col("sha256").alias("_file_sha256")).distinct())
    # A row is (file bytes, the return it landed as, row): the same bytes can be two years' returns.
    q = (lake.read_table(catalog.quarantine.rows).select("table", "source_file_sha256", "la", "year", "row_number").distinct()
         if lake.exists(catalog.quarantine.rows) else None)
    tables, unbalanced = [], []
    for name in sorted(t for t in lake.tables() if t.startswith("silver.")):
        bronze = name.replace("silver.", "bronze.")
        if not lake.exists(bronze):
            continue  # derived tables (care_history, person_spine, journeys)
        quarantined = q.filter(F.col("table") == name) if q is not None else None
        per = row_balance(lake.read_table(bronze), lake.read_table(name), landed, quarantined)
        per = per.fillna(0, subset=["silver", "quarantined"]).toPandas()
        line, bad = balance_summary(name, per)
        tables.append(line)
        unbalanced += bad
    out["tables"] = tables
    for k in ("bronze_rows", "silver_rows", "quarantined_rows"):
        out[k] = sum(t[k] for t in tables)
    out["files_unbalanced"] = unbalanced
    if raw_dir is not None and (Path(raw_dir) / "_truth" / "faults.csv").is_file():
        out["truth"] = truth_check(lake, raw_dir)
    return out


def render_silver_report(rep: dict[str, Any]) -> str:
    lines = [f"lake {rep['lake']}",
             f"bronze.files: {rep['bronze_files']} files ({', '.join(f'{k} {v}' for k, v in rep['outcomes'].items())})"]
    if "raw_files" in rep:
        lines.append(f"drop zone: {rep['raw_files']} files, {rep['raw_files_without_ledger_row']} without a bronze.files row"
                     + (f" (e.g. {', '.join(rep['missing_examples'])})" if rep["missing_examples"] else ""))
    lines.append(f"rows: {rep['bronze_rows']:,} bronze rows of landed files = {rep['silver_rows']:,} silver + "
                 f"{rep['quarantined_rows']:,} quarantined; {len(rep['files_unbalanced'])} file/table pairs unbalanced")
    width = max((len(t["table"]) for t in rep["tables"]), default=10)
    for t in rep["tables"]:
        lines.append(f"  {t['table']:<{width}}  {t['files']:>5} files  {t['bronze_rows']:>10,} = {t['silver_rows']:>10,}"
                     f" + {t['quarantined_rows']:>8,}" + (f"  UNBALANCED in {t['files_unbalanced']} files"
                                                          if t["files_unbalanced"] else ""))
    if "truth" in rep:
        tr = rep["truth"]
        lines.append(f"against the generator's manifest: recall {tr['recall']:.4f} ({tr['caught']}/"
                     f"{tr['faults'] - tr['not_applicable']} faults caught by the rule they name; "
                     f"{tr['not_applicable']} in files that are not current); false quarantine "
                     f"{tr['false_quarantine_rate']:.5f} ({tr['false_quarantined_rows']} of {tr['rows']:,} rows)")
        if tr["missed_by_rule"]:
            lines.append("  missed by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(tr["missed_by_rule"].items())))
    return "\n".join(lines)
