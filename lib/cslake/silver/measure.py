"""How well silver catches the generator's injected faults.

    m = measure_against_manifest(lake, raw_dir)
    m.recall, m.false_quarantine_rate, m.missed  # missed: the faults not caught, as a DataFrame

A fault (a row of ``<raw>/_truth/faults.csv``) is caught when the rule it names was
raised at its place:

- file-level faults (no row): the file's ledger outcome says so (rejected with that
  rule, duplicate, superseded), or ``bronze.findings`` / ``quarantine.rows`` /
  ``quarantine.row_flags`` hold that rule for that file;
- row-level faults: ``quarantine.rows`` or ``quarantine.row_flags`` hold that rule for
  that file, table and row. The manifest counts CSV rows after the header, bronze
  keeps the line number: the k-th data row of a file is its k-th bronze row.

Row-level faults in files that are not current (superseded, duplicate, rejected)
never reach validation; they are counted apart (``not_applicable``), not as misses.

False quarantine: quarantined rows (distinct file + table + row) with no injected
fault anywhere on that row, over all bronze rows of current files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cslake.lake import Lake

LEDGER_RULES = {"duplicate": "FILE_DUPLICATE", "superseded": "FILE_RESUBMISSION"}


@dataclass
class Measure:
    faults: int
    caught: int
    not_applicable: int
    recall: float
    quarantined_rows: int
    false_quarantined_rows: int
    rows: int
    false_quarantine_rate: float
    by_rule: pd.DataFrame = field(repr=False, default=None)
    missed: pd.DataFrame = field(repr=False, default=None)
    false_examples: pd.DataFrame = field(repr=False, default=None)

    def summary(self) -> str:
        return (f"recall {self.recall:.4f} ({self.caught}/{self.faults - self.not_applicable} faults caught by their rule, "
                f"{self.not_applicable} in non-current files); false quarantine {self.false_quarantine_rate:.5f} "
                f"({self.false_quarantined_rows} of {self.rows} rows)")


def _read_faults(raw: Path) -> pd.DataFrame:
    with (Path(raw) / "_truth" / "faults.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    # A clean region's manifest has a header and no rows: keep its columns.
    return pd.DataFrame(rows, columns=reader.fieldnames or ["file", "table", "row", "column", "rule"])


def measure_against_manifest(lake: Lake, raw_dir: Path | str) -> Measure:
    from pyspark.sql import functions as F

    from cslake.land import bronze_table_name

    faults = _read_faults(Path(raw_dir))
    files = lake.read_table("bronze.files").select("sha256", "path", "outcome", "reason", "format").toPandas()
    by_path = files.drop_duplicates("path").set_index("path")

    raised: set[tuple] = set()   # (path, rule) and (path, table, row, rule)
    for _, f in files.iterrows():
        rule = LEDGER_RULES.get(f.outcome)
        if f.outcome == "rejected" and isinstance(f.reason, str):
            rule = f.reason.split(":", 1)[0]
        if rule:
            raised.add((f.path, rule))
    if lake.exists("bronze.findings"):
        fd = lake.read_table("bronze.findings").select("path", "rule").distinct().toPandas()
        raised |= {(p, r) for p, r in zip(fd.path, fd.rule)}
    hits = []
    for name in ("quarantine.rows", "quarantine.row_flags"):
        if lake.exists(name):
            hits.append(lake.read_table(name).select("table", "rule_code", "source_path", "source_file_sha256",
                                                      "row_number").toPandas())
    hits = pd.concat(hits, ignore_index=True) if hits else pd.DataFrame(
        columns=["table", "rule_code", "source_path", "source_file_sha256", "row_number"])
    raised |= {(p, r) for p, r in zip(hits.source_path, hits.rule_code)}
    raised |= {(p, "" if t == "silver.care_history" else t, int(n), r)
               for p, t, n, r in zip(hits.source_path, hits.table, hits.row_number, hits.rule_code) if pd.notna(n)}
    care_hits = {(p, int(n), r) for p, t, n, r in zip(hits.source_path, hits.table, hits.row_number, hits.rule_code)
                 if t == "silver.care_history" and pd.notna(n)}

    # k-th data row of a CSV file -> its bronze _row (line number).
    row_maps: dict[tuple[str, str], list[int]] = {}
    faults["row"] = faults["row"].replace("", None)
    row_faults = faults[faults.row.notna()]
    csv_shas = set(files.loc[files.format == "csv", "sha256"])
    for (coll, table), grp in row_faults.groupby(["collection", "table"]):
        bname = bronze_table_name(coll, table)
        if not lake.exists(bname):
            continue
        shas = [by_path.loc[p, "sha256"] for p in grp.path.unique() if p in by_path.index]
        shas = [s for s in shas if s in csv_shas]
        if not shas:
            continue
        pdf = (lake.read_table(bname).filter(F.col("_file_sha256").isin(shas))
               .select("_file_sha256", "_row").toPandas().sort_values(["_file_sha256", "_row"]))
        for sha, g in pdf.groupby("_file_sha256"):
            row_maps[(sha, bname)] = g["_row"].astype(int).tolist()

    def bronze_row(f) -> int | None:
        sha = by_path.loc[f.path, "sha256"]
        bname = bronze_table_name(f.collection, f.table)
        k = int(f.row)
        if sha in csv_shas:
            rows = row_maps.get((sha, bname))
            return rows[k - 1] if rows and 0 < k <= len(rows) else None
        return k

    from cslake.config import load_yaml

    levels = {k: v.get("level") for k, v in load_yaml("rules.yaml")["rules"].items()}
    # Raised once per file or table by land (a blank line, a column), whatever row the manifest names.
    file_level = {k for k, lv in levels.items() if lv in ("file", "table")} | {"CSV_BLANK_LINE"}
    status = []
    for f in faults.itertuples(index=False):
        if f.row is None or f.row == "" or f.rule in file_level:
            status.append("caught" if (f.path, f.rule) in raised else "missed")
            continue
        if f.path not in by_path.index or by_path.loc[f.path, "outcome"] != "landed":
            # The rule may still have been raised at file level (e.g. a rejected file).
            status.append("caught" if (f.path, f.rule) in raised else "not_applicable")
            continue
        r = bronze_row(f)
        silver = "silver." + bronze_table_name(f.collection, f.table).split(".", 1)[1]
        ok = r is not None and ((f.path, silver, r, f.rule) in raised or (f.path, r, f.rule) in care_hits)
        status.append("caught" if ok else "missed")
    faults["status"] = status
    applicable = faults[faults.status != "not_applicable"]
    caught = int((applicable.status == "caught").sum())
    by_rule = (faults.groupby(["rule", "status"]).size().unstack(fill_value=0).reset_index())

    # False quarantine: quarantined rows where the manifest has no fault on that row.
    q = (lake.read_table("quarantine.rows").select("table", "source_path", "source_file_sha256", "row_number")
         .distinct().toPandas()) if lake.exists("quarantine.rows") else pd.DataFrame(
        columns=["table", "source_path", "source_file_sha256", "row_number"])
    fault_rows = set()
    for f in row_faults.itertuples(index=False):
        if f.path in by_path.index and by_path.loc[f.path, "outcome"] == "landed":
            r = bronze_row(f)
            if r is not None:
                fault_rows.add((f.path, "silver." + bronze_table_name(f.collection, f.table).split(".", 1)[1], r))
    # A file-level fault that puts every row at risk (e.g. a misspelt column) explains its rows too.
    file_wide = set(faults.loc[faults.row.isna(), "path"])
    explained = [((p, t, int(n)) in fault_rows) for p, t, n in zip(q.source_path, q.table, q.row_number)]
    q["explained"] = explained
    q["file_fault"] = q.source_path.isin(file_wide)
    false_q = q[~q.explained]
    total_rows = 0
    if lake.exists("silver.file_counts"):
        total_rows = int(lake.read_table("silver.file_counts").agg(F.sum("bronze_rows")).collect()[0][0] or 0)
    n_app = len(applicable)
    return Measure(
        faults=len(faults), caught=caught, not_applicable=int((faults.status == "not_applicable").sum()),
        recall=caught / n_app if n_app else 1.0, quarantined_rows=len(q), false_quarantined_rows=len(false_q),
        rows=total_rows, false_quarantine_rate=len(false_q) / total_rows if total_rows else 0.0,
        by_rule=by_rule, missed=applicable[applicable.status == "missed"], false_examples=false_q.head(50))
