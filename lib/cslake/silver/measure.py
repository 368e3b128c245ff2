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
from pyspark.sql import functions as F

from cslake import catalog
from cslake.config import load_yaml
from cslake.lake import Lake

# Everything here runs on the driver in pandas: the fault manifest, the file ledger and the
# quarantine's (file, table, row, rule) hits are report-sized, small by nature.

LEDGER_RULES = {"duplicate": "FILE_DUPLICATE", "superseded": "FILE_RESUBMISSION"}
HIT_COLUMNS = ["table", "rule_code", "source_path", "source_file_sha256", "row_number"]


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
    """Recall of the injected faults (each caught by its own rule at its place) and the
    false-quarantine rate, for a lake landed and built from a generated drop zone."""
    faults = _read_faults(Path(raw_dir))
    files = lake.read_table(catalog.bronze.files).select("sha256", "path", "outcome", "reason", "format").toPandas()
    raised, care_hits = raised_rules(files, _findings(lake), _quarantine_hits(lake))
    faults["row"] = faults["row"].replace("", None)
    row_faults = faults[faults.row.notna()]
    rows = BronzeRows(files, _row_maps(lake, files, row_faults))
    faults["status"] = fault_status(faults, rows, raised, care_hits, _file_level_rules())
    q = _quarantined(lake)
    false_q = false_quarantine(q, faults, fault_rows(row_faults, rows))
    total_rows = 0
    if lake.exists(catalog.silver.file_counts):
        total_rows = int(lake.read_table(catalog.silver.file_counts).agg(F.sum("bronze_rows")).collect()[0][0] or 0)
    applicable = faults[faults.status != "not_applicable"]
    caught = int((applicable.status == "caught").sum())
    n_app = len(applicable)
    return Measure(
        faults=len(faults), caught=caught, not_applicable=int((faults.status == "not_applicable").sum()),
        recall=caught / n_app if n_app else 1.0, quarantined_rows=len(q), false_quarantined_rows=len(false_q),
        rows=total_rows, false_quarantine_rate=len(false_q) / total_rows if total_rows else 0.0,
        by_rule=faults.groupby(["rule", "status"]).size().unstack(fill_value=0).reset_index(),
        missed=applicable[applicable.status == "missed"], false_examples=false_q.head(50))


# -- reads (the edge) ---------------------------------------------------------

def _findings(lake: Lake) -> pd.DataFrame | None:
    if not lake.exists(catalog.bronze.findings):
        return None
    return lake.read_table(catalog.bronze.findings).select("path", "rule").distinct().toPandas()


def _quarantine_hits(lake: Lake) -> pd.DataFrame:
    hits = [lake.read_table(name).select(*HIT_COLUMNS).toPandas()
            for name in (catalog.quarantine.rows, catalog.quarantine.row_flags) if lake.exists(name)]
    return pd.concat(hits, ignore_index=True) if hits else pd.DataFrame(columns=HIT_COLUMNS)


def _quarantined(lake: Lake) -> pd.DataFrame:
    """Quarantined rows: distinct (table, file, row)."""
    cols = ["table", "source_path", "source_file_sha256", "row_number"]
    if not lake.exists(catalog.quarantine.rows):
        return pd.DataFrame(columns=cols)
    return lake.read_table(catalog.quarantine.rows).select(*cols).distinct().toPandas()


def _row_maps(lake: Lake, files: pd.DataFrame, row_faults: pd.DataFrame) -> dict[tuple[str, str], list[int]]:
    """(file sha256, bronze table) → the bronze ``_row`` of each data row, in order, for the
    CSV files the manifest has row faults in."""
    by_path = files.drop_duplicates("path").set_index("path")
    csv_shas = set(files.loc[files.format == "csv", "sha256"])
    row_maps: dict[tuple[str, str], list[int]] = {}
    for (coll, table), grp in row_faults.groupby(["collection", "table"]):
        bname = catalog.bronze_name(coll, table)
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
    return row_maps


def _file_level_rules() -> set[str]:
    levels = {k: v.get("level") for k, v in load_yaml("rules.yaml")["rules"].items()}
    # Raised once per file or table by land (a blank line, a column), whatever row the manifest names.
    return {k for k, lv in levels.items() if lv in ("file", "table")} | {"CSV_BLANK_LINE"}


# -- pure steps (pandas) ------------------------------------------------------

def raised_rules(files: pd.DataFrame, findings: pd.DataFrame | None, hits: pd.DataFrame) -> tuple[set, set]:
    """What the lake raised: {(path, rule)} and {(path, silver table, row, rule)} (table ``""``
    for care-history hits) in one set; care-history hits also as {(path, row, rule)}."""
    raised: set[tuple] = set()
    for _, f in files.iterrows():
        rule = LEDGER_RULES.get(f.outcome)
        if f.outcome == "rejected" and isinstance(f.reason, str):
            rule = f.reason.split(":", 1)[0]
        if rule:
            raised.add((f.path, rule))
    if findings is not None:
        raised |= {(p, r) for p, r in zip(findings.path, findings.rule)}
    raised |= {(p, r) for p, r in zip(hits.source_path, hits.rule_code)}
    raised |= {(p, "" if t == catalog.silver.care_history else t, int(n), r)
               for p, t, n, r in zip(hits.source_path, hits.table, hits.row_number, hits.rule_code) if pd.notna(n)}
    care_hits = {(p, int(n), r) for p, t, n, r in zip(hits.source_path, hits.table, hits.row_number, hits.rule_code)
                 if t == catalog.silver.care_history and pd.notna(n)}
    return raised, care_hits


class BronzeRows:
    """Where a manifest row lands in bronze. The manifest counts CSV rows after the header,
    bronze keeps the line number: the k-th data row of a CSV file is its k-th bronze row."""

    def __init__(self, files: pd.DataFrame, row_maps: dict[tuple[str, str], list[int]]):
        self.by_path = files.drop_duplicates("path").set_index("path")
        self.csv_shas = set(files.loc[files.format == "csv", "sha256"])
        self.row_maps = row_maps

    def landed(self, path: str) -> bool:
        return path in self.by_path.index and self.by_path.loc[path, "outcome"] == "landed"

    def row(self, f) -> int | None:
        sha = self.by_path.loc[f.path, "sha256"]
        k = int(f.row)
        if sha in self.csv_shas:
            rows = self.row_maps.get((sha, catalog.bronze_name(f.collection, f.table)))
            return rows[k - 1] if rows and 0 < k <= len(rows) else None
        return k


def _silver_table(collection: str, table: str) -> str:
    return catalog.silver_name(collection, table)


def fault_status(faults: pd.DataFrame, rows: BronzeRows, raised: set, care_hits: set, file_level: set) -> list[str]:
    """Per fault: caught | missed | not_applicable (a row fault in a file that is not current)."""
    status = []
    for f in faults.itertuples(index=False):
        if f.row is None or f.row == "" or f.rule in file_level:
            status.append("caught" if (f.path, f.rule) in raised else "missed")
        elif not rows.landed(f.path):
            # The rule may still have been raised at file level (e.g. a rejected file).
            status.append("caught" if (f.path, f.rule) in raised else "not_applicable")
        else:
            r = rows.row(f)
            silver = _silver_table(f.collection, f.table)
            ok = r is not None and ((f.path, silver, r, f.rule) in raised or (f.path, r, f.rule) in care_hits)
            status.append("caught" if ok else "missed")
    return status


def fault_rows(row_faults: pd.DataFrame, rows: BronzeRows) -> set[tuple[str, str, int]]:
    """(path, silver table, bronze row) of every row fault in a current file."""
    out = set()
    for f in row_faults.itertuples(index=False):
        if rows.landed(f.path):
            r = rows.row(f)
            if r is not None:
                out.add((f.path, _silver_table(f.collection, f.table), r))
    return out


def false_quarantine(q: pd.DataFrame, faults: pd.DataFrame, faulty_rows: set) -> pd.DataFrame:
    """Quarantined rows where the manifest has no fault on that row (``file_fault``: the file
    has a file-level fault, which puts every row at risk, e.g. a misspelt column)."""
    file_wide = set(faults.loc[faults.row.isna(), "path"])
    q["explained"] = [((p, t, int(n)) in faulty_rows) for p, t, n in zip(q.source_path, q.table, q.row_number)]
    q["file_fault"] = q.source_path.isin(file_wide)
    return q[~q.explained]
