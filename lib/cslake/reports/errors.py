"""The error report an LA analyst can act on: every problem with their files, down to the cell.

    write_error_report(lake, la="202", out_dir=Path("reports/errors"))

One CSV (file, row, column, value, rule, message) and one HTML page (a summary per
file, a chart of problems by rule, and the same table) per LA. It reads three tables:
``bronze.files`` (rejected, duplicate and superseded files), ``bronze.findings``
(file- and table-level findings), ``quarantine.rows`` (cell- and row-level) and
``quarantine.row_flags`` (values nulled in kept rows, flags, repairs). The
values shown are the LA's own raw values: the report goes back to that LA only. A DfE
validation rule (conf/rules.yaml ``dfe_code``) shows DfE's code, its severity (error or
query), the fields it reads and DfE's message, whether it quarantined the row or flagged it.
A rule that judges the return as a whole (``level: return``, DfE's CIN 2883, 2886Q-2888Q) has no
row: it is listed under its file with level ``return`` and an empty row, first among the file's
problems, and the page gives such findings a section of their own.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cslake import catalog
from cslake.config import ConfigError, LocalAuthority, la_of, load_yaml
from cslake.lake import Lake
from cslake.outputs import neutralise_frame

REPORT_COLUMNS = ["file", "collection", "year", "level", "table", "row", "column", "value", "rule", "dfe_code",
                  "severity", "fields", "outcome", "message"]
RETURN_LEVEL = "return"  # conf/rules.yaml level of a rule judging a whole return (no row)
RETURN_COLUMNS = ["file", "collection", "year", "table", "rule", "dfe_code", "severity", "fields", "message"]


@dataclass
class ErrorReport:
    la: str
    csv_path: Path
    html_path: Path
    problems: int
    files: int


def _rules() -> dict:
    return load_yaml("rules.yaml")["rules"]


def collect_problems(lake: Lake, la: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(problems, files) for one LA: problems in REPORT_COLUMNS order, files = its ledger rows."""
    rules = _rules()
    frames = []
    files = pd.DataFrame()
    if lake.exists(catalog.bronze.files):
        files = lake.read_table(catalog.bronze.files).filter(f"la = '{la}'").toPandas()
        bad = files[files.outcome.isin(["rejected", "duplicate", "superseded"])]
        if len(bad):
            rule = bad["reason"].fillna("").str.extract(r"^([A-Z0-9_]+):", expand=False)
            frames.append(pd.DataFrame({
                "file": bad["path"], "collection": bad["collection"], "year": bad["year"], "level": "file",
                "table": None, "row": None, "column": None, "value": None, "rule": rule,
                "message": bad["reason"].fillna("").str.replace(r"^[A-Z0-9_]+:\s*", "", regex=True),
            }))
    if lake.exists(catalog.bronze.findings):
        f = lake.read_table(catalog.bronze.findings).filter(f"la = '{la}'").toPandas()
        f = f[~f.rule.isin(["FILE_ENCODING"])]  # decoded without loss: nothing to act on
        if len(f):
            frames.append(pd.DataFrame({
                "file": f["path"], "collection": f["collection"], "year": f["year"],
                "level": f["rule"].map(lambda r: rules.get(r, {}).get("level", "table")),
                "table": f["tbl"], "row": f["row"], "column": f["col"], "value": f["value"],
                "rule": f["rule"], "message": f["message"],
            }))
    if lake.exists(catalog.quarantine.rows):
        q = lake.read_table(catalog.quarantine.rows).filter(f"la = '{la}'").toPandas()
        if len(q):
            frames.append(pd.DataFrame({
                "file": q["source_path"], "collection": q["collection"], "year": q["year"],
                "level": q["rule_code"].map(lambda r: rules.get(r, {}).get("level", "cell")),
                "table": q["table"], "row": q["row_number"], "column": q["column"], "value": q["value"],
                "rule": q["rule_code"], "message": q["message"],
            }))
    frames.append(_row_flags(lake, la, rules))
    frames = [f.astype(object) for f in frames if not f.empty]
    problems = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=REPORT_COLUMNS)
    problems["dfe_code"] = problems["rule"].map(lambda r: rules.get(r, {}).get("dfe_code"))
    # DfE's rules (issue 13): error or query, and every field the rule reads (the row's other
    # values the LA should look at beside `column`)
    problems["severity"] = problems["rule"].map(lambda r: rules.get(r, {}).get("severity"))
    problems["fields"] = problems["rule"].map(lambda r: " ".join(rules.get(r, {}).get("fields") or []) or None)
    by_rule = problems["rule"].map(lambda r: rules.get(r, {}).get("outcome"))
    # a row flag says what was done to that row (nulled, repair, flag); other problems: the rule's outcome
    problems["outcome"] = problems["outcome"].where(problems["outcome"].notna(), by_rule) if "outcome" in problems else by_rule
    problems["row"] = pd.to_numeric(problems["row"], errors="coerce").astype("Int64")
    problems["year"] = pd.to_numeric(problems["year"], errors="coerce").astype("Int64")
    problems = problems[REPORT_COLUMNS].sort_values(["file", "row", "column", "rule"], na_position="first")
    return problems.reset_index(drop=True), files


def _row_flags(lake: Lake, la: str, rules: dict) -> pd.DataFrame:
    """The LA's ``quarantine.row_flags`` it can act on: values nulled in a kept row (cell-level
    quarantine), flags (an invalid UPN, an episode missing from the next return) and repairs (an
    episode end the pipeline set); silently tolerated normalisations (case, '123.0') left out."""
    if not lake.exists(catalog.quarantine.row_flags):
        return pd.DataFrame()
    f = lake.read_table(catalog.quarantine.row_flags).filter(f"la = '{la}'").toPandas()
    f = f[f.outcome.isin(["nulled", "flag", "repair"])]
    if not len(f):
        return pd.DataFrame()
    repaired = f["repaired_to"].where(f["repaired_to"].notna(), None)
    message = [m if pd.isna(r) else f"{m} (now {r})" for m, r in zip(f["message"], repaired)]
    message = [m + " (value removed, row kept)" if o == "nulled" else m for m, o in zip(message, f["outcome"])]
    return pd.DataFrame({
        "file": f["source_path"], "collection": f["collection"], "year": f["year"],
        "level": f["rule_code"].map(lambda r: rules.get(r, {}).get("level", "cell")),
        "table": f["table"], "row": f["row_number"], "column": f["column"], "value": f["value"],
        "rule": f["rule_code"], "message": message, "outcome": f["outcome"],
    })


def report_authority(lake: Lake, la: str) -> LocalAuthority:
    """The LA a report is for: one of conf/la_codes.csv, or a 3-digit code that is not but that
    files were recorded under (sent in a folder of that name: refused FILE_UNKNOWN_LA), so that
    whoever sent them can be shown why."""
    try:
        return la_of(la)
    except ConfigError:
        code = str(la).strip()
        if (re.fullmatch(r"\d{3}", code) and lake.exists(catalog.bronze.files)
                and lake.read_table(catalog.bronze.files).filter(f"la = '{code}'").limit(1).count()):
            return LocalAuthority(code, f"LA code {code} (not in conf/la_codes.csv)", "", "", "")
        raise


def write_error_report(lake: Lake, la: str, out_dir: Path | str = "reports/errors") -> ErrorReport:
    authority = report_authority(lake, la)
    problems, files = collect_problems(lake, authority.dfe_code)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"errors_{authority.dfe_code}"
    csv_path, html_path = out / f"{stem}.csv", out / f"{stem}.html"
    # The LA opens it in a spreadsheet: a value like =cmd|'/c calc'!A1 must be text, not a formula.
    neutralise_frame(problems).to_csv(csv_path, index=False)
    html_path.write_text(_html(authority, problems, files), encoding="utf-8")
    return ErrorReport(authority.dfe_code, csv_path, html_path, len(problems), len(files))


def _chart(problems: pd.DataFrame) -> str:
    """A horizontal bar chart of problems by rule, as an inline PNG (one file to send)."""
    if problems.empty:
        return ""
    # lazy: matplotlib only when a chart is drawn, its backend chosen first
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after the backend is chosen

    counts = problems["rule"].fillna("?").value_counts().sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(counts) + 1.2))
    ax.barh(counts.index, counts.values, color="#1d70b8")
    ax.set_xlabel("problems")
    ax.set_title("Problems by rule")
    for i, v in enumerate(counts.values):
        ax.text(v, i, f" {v}", va="center", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return f'<img alt="problems by rule" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _html(authority, problems: pd.DataFrame, files: pd.DataFrame) -> str:
    esc = lambda v: "" if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA else html.escape(str(v))  # noqa: E731
    per_file = problems.groupby("file", dropna=False).size().rename("problems")
    file_rows = []
    if not files.empty:
        for _, f in files.sort_values(["collection", "year", "path"]).iterrows():
            file_rows.append(
                f"<tr class='{esc(f.outcome)}'><td>{esc(f.path)}</td><td>{esc(f.collection)}</td><td>{esc(f.year)}</td>"
                f"<td>{esc(f.outcome)}</td><td class='n'>{esc(f.row_count)}</td>"
                f"<td class='n'>{int(per_file.get(f.path, 0))}</td><td>{esc(f.reason)}</td></tr>")
    whole = problems[problems["level"] == RETURN_LEVEL]
    return_rows = "".join(
        "<tr>" + "".join(f"<td>{esc(r[c])}</td>" for c in RETURN_COLUMNS) + "</tr>" for r in whole.to_dict("records"))
    return_section = "" if whole.empty else (
        "<h2>Findings on a whole return</h2><p>Rules that judge a return as a whole (one year's file): no row to "
        "point at; check the return's figures the message names.</p>"
        f"<table><tr>{''.join(f'<th>{c}</th>' for c in RETURN_COLUMNS)}</tr>{return_rows}</table>")
    body_rows = "".join(
        "<tr>" + "".join(f"<td>{esc(r[c])}</td>" for c in REPORT_COLUMNS) + "</tr>"
        for r in problems.head(5000).to_dict("records"))
    more = "" if len(problems) <= 5000 else f"<p>Showing 5,000 of {len(problems):,}; the CSV has them all.</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cslake error report: {esc(authority.name)} ({authority.dfe_code})</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #0b0c0c; }}
table {{ border-collapse: collapse; font-size: 0.85rem; margin-bottom: 2rem; }}
th, td {{ border: 1px solid #b1b4b6; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f3f2f1; position: sticky; top: 0; }}
td.n {{ text-align: right; }}
tr.rejected td {{ background: #fbe4e4; }} tr.superseded td, tr.duplicate td {{ color: #505a5f; }}
</style></head><body>
<h1>Error report: {esc(authority.name)} ({authority.dfe_code})</h1>
<p>{len(files)} files received, {int((files.outcome == 'rejected').sum()) if not files.empty else 0} rejected;
{len(problems):,} problems listed. Each row says which file, row and column, the value as sent, the rule it broke
and what to do about it. Rows marked <em>quarantine</em> did not reach the lake: correct them and resubmit.</p>
{_chart(problems)}
<h2>Files</h2>
<table><tr><th>file</th><th>collection</th><th>year</th><th>outcome</th><th>rows</th><th>problems</th><th>reason</th></tr>
{''.join(file_rows)}</table>
{return_section}
<h2>Problems</h2>{more}
<table><tr>{''.join(f'<th>{c}</th>' for c in REPORT_COLUMNS)}</tr>{body_rows}</table>
</body></html>
"""
