"""Run DfE's own validators (data-to-insight's `cin_validator` and `lac_validator`, from PyPI's
csc-validator-be-cin and csc-validator-be-903) on one LA-year's generated files, and print every
issue they raise as JSON lines on stdout.

This script runs inside the validators' own virtual environment (`.venv-dfe`, made by
setup_dfe_validators.sh): they pin pandas<2 and numpy<1.25, which cslake's environment cannot
hold. cslake's side talks to it only through `tests/oracle/dfe.py` (a subprocess and JSON).

    .venv-dfe/bin/python tests/oracle/dfe_run.py cin FILE.xml --year 2024
    .venv-dfe/bin/python tests/oracle/dfe_run.py ssda903 DIR --year 2024 --la E09000007 [--prev DIR] [--rules 365 575]

Each issue line: "@@dfe " + {"rule", "severity", "table", "row", "child", "fields"}; `row` is the 0-based row of the
validator's table (for SSDA903 the CSV's data row; for CIN the row of the flattened XML table),
null for return-level issues. A CIN rule that judges the whole return (DfE's push_la_level: 2883,
2886Q, 2887Q, 2888Q) also carries "level": "return" (header issues, also without a row, do not).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)

# The earliest and latest rulesets each validator ships; years outside are run with the nearest
# (SSDA903 with the return's own collection start and end; CIN reads them from the file's header).
CIN_YEARS = (2023, 2027)
LAC_YEARS = (2023, 2027)


def _clamp(year: int, bounds: tuple[int, int]) -> int:
    return min(max(year, bounds[0]), bounds[1])


def _ruleset(prefix: str, year: int) -> str:
    return f"{prefix}{year - 1}_{str(year)[2:]}"


_TAG: dict = {}
MARK = "@@dfe "  # the validators print too: issue lines carry this prefix


def _out(rule, severity, table, row, child, fields, file=None, level=None) -> None:
    print(MARK + json.dumps({**_TAG, "rule": str(rule), "severity": severity, "table": table,
                      "row": None if row is None else int(row),
                      "child": None if child is None or child != child else str(child),
                      "fields": fields, **({"file": file} if file else {}), **({"level": level} if level else {})}))


def run_cin(path: Path, year: int) -> None:
    import importlib

    from cin_validator import cin_validator

    year = _clamp(year, CIN_YEARS)
    registry = importlib.import_module(f"cin_validator.rules.{_ruleset('cin', year)}").registry
    severity = {str(r.code): r.rule_type.value.lower() for r in registry.values()}
    root = ET.parse(path).getroot()
    data = cin_validator.process_data(cin_validator.convert_data(root))
    printed = io.StringIO()
    stdout, sys.stdout = sys.stdout, printed  # the validator prints the rules that crash
    try:
        v = cin_validator.CinValidator(data, registry)
    finally:
        sys.stdout = stdout
    for code in re.findall(r"Error with rule (\S+):", printed.getvalue()):
        _out(code, "crashed", None, None, None, [])
    df = v.full_issue_df
    seen = set()
    for rec in df.to_dict("records"):
        key = (rec["rule_code"], rec["tables_affected"], rec["row_id"])
        if key in seen:
            continue
        seen.add(key)
        fields = sorted({str(r["columns_affected"]) for r in df.to_dict("records")
                         if (r["rule_code"], r["tables_affected"], r["row_id"]) == key})
        _out(rec["rule_code"], severity.get(str(rec["rule_code"]), "error"),
             rec["tables_affected"], rec["row_id"], rec.get("child_id"), fields)
    # multichild_issues: the header's issues and the return-level ones (la_rule_issues: one row per
    # rule that called push_la_level)
    la = v.la_rule_issues
    return_level = {str(c) for c in la["rule_code"]} if len(la) and "rule_code" in la.columns else set()
    for rec in v.multichild_issues.to_dict("records"):
        code = str(rec["rule_code"])
        _out(code, severity.get(code, "error"), None, None, None, [],
             level="return" if code in return_level else None)


def run_ssda903(folder: Path, year: int, la: str, prev: Path | None, rules: list[str] | None = None) -> None:
    from lac_validator import lac_validator
    from lac_validator.rules.ruleset_utils import get_year_ruleset
    from lac_validator.utils import process_uploaded_files

    # the nearest ruleset's rules, but the return's own collection year (its start and end dates):
    # a 2021-22 return judged as a 2022-23 one would have every date before April 2022 outside it
    ruleset_year = _clamp(year, LAC_YEARS)
    import pandas as pd
    from lac_validator.config import column_names

    files = {"This year": sorted(str(p) for p in folder.glob("*.csv"))}
    table_file = {}
    for p in files["This year"]:
        cols = set(pd.read_csv(p, nrows=0).columns)
        table_file.update({t: Path(p).name for t, c in column_names.items() if set(c) == cols})
    if prev is not None and prev.is_dir():
        files["Prev year"] = sorted(str(p) for p in prev.glob("*.csv"))
    registry = get_year_ruleset(str(ruleset_year))
    v = lac_validator.LacValidator(metadata={"collectionYear": str(year), "localAuthority": la},
                                   files=process_uploaded_files(files), registry=registry,
                                   selected_rules=rules)
    for table, df in v.ds_results.items():
        if table == "metadata" or table.endswith("_last") or not hasattr(df, "columns"):
            continue
        for col in [c for c in df.columns if str(c).startswith("ERR_")]:
            code = col[4:]
            fields = list(registry[code].affected_fields or []) if code in registry else []
            for idx in df.index[df[col] == True]:  # noqa: E712 (object column of True/NaN)
                _out(code, "query" if code.endswith("Q") else "error", table, idx,
                     df.at[idx, "CHILD"] if "CHILD" in df.columns else None, fields,
                     table_file.get(table))
    for code in v.fails:
        _out(code, "crashed", None, None, None, [])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("collection", choices=["cin", "ssda903", "jobs"])
    ap.add_argument("path", type=Path, help="XML file, CSV folder, or a JSON list of jobs")
    ap.add_argument("--year", type=int)
    ap.add_argument("--la", default="E09000007")
    ap.add_argument("--prev", type=Path)
    ap.add_argument("--rules", nargs="+", help="SSDA903: run only these rules (in the ruleset's order)")
    a = ap.parse_args()
    if a.collection == "jobs":
        # [{"collection", "path", "year", "la", "prev", "tag": {...}}, ...]: one process, the
        # validators imported once; each job's tag is copied into its issues.
        global _TAG
        for job in json.loads(a.path.read_text()):
            _TAG = dict(job.get("tag") or {})
            try:
                if job["collection"] == "cin":
                    run_cin(Path(job["path"]), int(job["year"]))
                else:
                    run_ssda903(Path(job["path"]), int(job["year"]), job["la"],
                                Path(job["prev"]) if job.get("prev") else None, job.get("rules"))
            except Exception as e:  # a file the validator cannot read at all
                _out("UPLOAD", "rejected", None, None, None, [f"{type(e).__name__}: {e}"])
            sys.stdout.flush()
        return
    if a.collection == "cin":
        run_cin(a.path, a.year)
    else:
        run_ssda903(a.path, a.year, a.la, a.prev, a.rules)


if __name__ == "__main__":
    main()
