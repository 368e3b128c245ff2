"""CSV returns (SSDA903 tables, school census extract, RIIA template, context files).

The table is recognised by its header row, never by the file name. Real files
arrive with BOMs, cp1252 bytes, odd header case and spacing, blank lines, extra
and misspelt columns: all are tolerated and reported as findings.
"""

from __future__ import annotations

import csv
import functools
import difflib
import io
import json
import re
from typing import Any

from cslake.io import (
    COLUMN_EXTRA,
    COLUMN_MISSING,
    COLUMN_MISSPELT,
    FILE_YEAR_MISMATCH,
    FILE_EMPTY,
    FILE_ENCODING,
    FILE_UNRECOGNISED,
    FileFault,
    Finding,
    Parsed,
    frame,
)
from cslake.schemas import TableSchema, base_year, collection_schema, collections, diff_years

CSV_COLLECTIONS_FIRST = ("ssda903", "school_census", "riia_quarterly")
MISSPELLING_CUTOFF = 0.8


def decode(data: bytes) -> tuple[str, str, bool]:
    """(text, encoding, had_bom). utf-8 first; cp1252 then latin-1 for files saved by Excel on Windows."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8", True
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16", True
    for enc in ("utf-8", "cp1252", "latin-1"):
        try:
            return data.decode(enc), enc, False
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def norm_header(text: str) -> str:
    """'  Place provider ' → 'PLACE_PROVIDER': the comparison form of a header cell."""
    return re.sub(r"[\s\-_.]+", "_", text.replace("\ufeff", "").strip()).strip("_").upper()


def _candidate_schemas(collection: str | None, year: int | None) -> list[tuple[str, int]]:
    """(collection, year) pairs to recognise a header against: the claimed ones first."""
    names = [collection] if collection else [c for c in CSV_COLLECTIONS_FIRST] + [
        c for c in collections() if c not in CSV_COLLECTIONS_FIRST
    ]
    out = []
    for c in names:
        s0 = collection_schema(c, base_year(c))
        if s0.format != "csv":
            continue
        ys = [base_year(c)] + diff_years(c)
        latest = ys[-1]
        first = year if (year and year >= base_year(c)) else latest
        out.append((c, first))
        out += [(c, y) for y in reversed(ys) if y != first]
    return out


@functools.lru_cache(maxsize=None)
def _wanted_headers(collection: str, year: int, table: str) -> frozenset[str]:
    t = collection_schema(collection, year).tables[table]
    return frozenset(norm_header(col.path or col.name) for col in t.columns.values())


def _match_header(header: list[str], t: TableSchema) -> tuple[dict[int, str], dict[int, str], list[int]]:
    """Map header positions to columns: (exact, misspelt, unmatched positions)."""
    want = {norm_header(c.path or c.name): c.name for c in t.columns.values()}
    exact: dict[int, str] = {}
    for i, h in enumerate(header):
        n = norm_header(h)
        if n in want and want[n] not in exact.values():
            exact[i] = want[n]
    left = {k: v for k, v in want.items() if v not in exact.values()}
    misspelt: dict[int, str] = {}
    unmatched = []
    for i, h in enumerate(header):
        if i in exact:
            continue
        n = norm_header(h)
        close = difflib.get_close_matches(n, list(left), n=1, cutoff=MISSPELLING_CUTOFF) if n else []
        if close:
            misspelt[i] = left.pop(close[0])
        else:
            unmatched.append(i)
    # A header that is a missing column's name with a word added (UPN_NO for UPN, DUC_DATE
    # for DUC) is that column, when exactly one missing column fits and no other header does.
    for i in list(unmatched):
        words = set(norm_header(header[i]).split("_"))
        fits = [k for k in left if set(k.split("_")) < words]
        rivals = [j for j in unmatched if j != i and any(set(k.split("_")) < set(norm_header(header[j]).split("_"))
                                                         for k in fits)]
        if len(fits) == 1 and not rivals:
            misspelt[i] = left.pop(fits[0])
            unmatched.remove(i)
    return exact, misspelt, unmatched


def _first_record(text: str) -> tuple[list[str], int]:
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        if any(cell.strip() for cell in row):
            return row, reader.line_num
    return [], 0


def recognise_csv(
    data: bytes | str, collection: str | None = None, year: int | None = None, *, source: str | None = None
) -> tuple[str, str, int]:
    """(collection, table, schema year) whose columns best match the header row."""
    text = decode(data)[0] if isinstance(data, (bytes, bytearray)) else data
    header, _ = _first_record(text[:65536] if len(text) > 65536 else text)
    if not header:
        raise FileFault(FILE_EMPTY, "the file has no header row", file=source)
    best: tuple[float, int, str, str, int] | None = None
    normed = {norm_header(h) for h in header}
    # Exact overlap first (cheap set arithmetic); close-match scoring (difflib) only for the
    # few tables that overlap best: a misspelt column moves a table's score a little, not a lot.
    overlap = []
    for c, y in _candidate_schemas(collection, year) or _candidate_schemas(None, year):
        for t in collection_schema(c, y).tables.values():
            overlap.append((len(normed & _wanted_headers(c, y, t.name)), c, y, t))
    # Stable sort: among equal overlaps the candidate order (the claimed collection and
    # year first) decides, as it did when every table was scored.
    ranked = sorted(range(len(overlap)), key=lambda i: -overlap[i][0])[:6]
    for _, c, y, t in (overlap[i] for i in sorted(ranked)):
        exact, misspelt, _ = _match_header(header, t)
        hits = len(exact) + len(misspelt)
        union = len(t.columns) + len(header) - hits
        score = (len(exact) + 0.8 * len(misspelt)) / union if union else 0.0
        if best is None or score > best[0] + 1e-9:
            best = (score, hits, c, t.name, y)
    if best is None or best[0] < 0.5 or best[1] < 2:
        if collection is not None:  # the path may be wrong: try every collection before giving up
            return recognise_csv(text, None, year, source=source)
        raise FileFault(FILE_UNRECOGNISED, f"CSV header {header[:12]} matches no known table", file=source, line=1)
    return best[2], best[3], best[4]


def parse_csv(
    data: bytes,
    collection: str | None = None,
    year: int | None = None,
    *,
    table: str | None = None,
    source: str | None = None,
) -> Parsed:
    """Parse one CSV file into its single table (recognised from the header unless ``table`` is given)."""
    if not data or not data.strip():
        raise FileFault(FILE_EMPTY, "the file is empty", file=source)
    text, encoding, bom = decode(data)
    findings: list[Finding] = []
    if bom or encoding != "utf-8":
        findings.append(Finding(FILE_ENCODING, "info", None, None, None, encoding,
                                f"decoded as {encoding}" + (" (byte-order mark removed)" if bom else "")))
    if table is None or collection is None or year is None:
        c, table_found, y = recognise_csv(text, collection, year, source=source)
        collection, table = collection or c, table or table_found
        if year is None or year < base_year(collection):
            year = y
    schema = collection_schema(collection, year)
    if table not in schema.tables:
        # A table that only exists in other years (e.g. 903 social_worker, from 2024, in a
        # 2023 folder) says the claimed year is wrong: read it with the nearest schema that
        # has it, and report the disagreement rather than refusing the file.
        years_with = [y for y in [base_year(collection)] + diff_years(collection)
                      if table in collection_schema(collection, y).tables]
        if not years_with:
            raise FileFault(FILE_UNRECOGNISED, f"{collection} has no table {table!r}", file=source)
        nearest = min(years_with, key=lambda y: abs(y - year))
        findings.append(Finding(FILE_YEAR_MISMATCH, "warning", table, None, None, str(year),
                                f"{collection} {table} does not exist in {year} (it does from {min(years_with)}): "
                                f"the file's year looks wrong; read with the {nearest} specification"))
        schema = collection_schema(collection, nearest)
    t = schema.tables[table]

    reader = csv.reader(io.StringIO(text))
    header: list[str] = []
    header_line = 0
    for row in reader:
        if any(cell.strip() for cell in row):
            header, header_line = row, reader.line_num
            break
    exact, misspelt, unmatched = _match_header(header, t)
    by_pos = {**exact, **misspelt}
    for i, name in misspelt.items():
        findings.append(Finding(COLUMN_MISSPELT, "warning", table, header_line, name, header[i],
                                f"{table}: header {header[i]!r} is not a {collection} {year} column; "
                                f"read as {name!r} (closest match)"))
    extra_names = {i: (header[i] if header[i].strip() else f"_col{i + 1}") for i in unmatched}
    for i, name in extra_names.items():
        findings.append(Finding(COLUMN_EXTRA, "warning", table, header_line, name, None,
                                f"{table}: column {name!r} is not in the {collection} {year} specification "
                                f"(kept in _extra)"))
    for name in t.columns:
        if name not in by_pos.values():
            findings.append(Finding(COLUMN_MISSING, "warning", table, header_line, name, None,
                                    f"{table}: column {name!r} is missing from the file"))

    rows: list[dict[str, Any]] = []
    blank_lines: list[int] = []
    start_line = reader.line_num + 1
    for row in reader:
        line = start_line
        start_line = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            blank_lines.append(line)
            continue
        rec: dict[str, Any] = {"_row": line}
        for name in t.columns:
            rec[name] = None
        extra: dict[str, str] = {}
        for i, cell in enumerate(row):
            if i in by_pos:
                rec[by_pos[i]] = cell
            else:
                key = extra_names.get(i, f"_col{i + 1}")
                if cell != "" or i in extra_names:
                    extra[key] = cell
        rec["_extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
        rows.append(rec)
    if blank_lines:
        findings.append(Finding("CSV_BLANK_LINE", "info", table, blank_lines[0], None, None,
                                f"{table}: {len(blank_lines)} blank line(s) skipped (first at line {blank_lines[0]})"))
    df = frame(list(t.columns), rows)
    meta = {"encoding": encoding, "bom": bom, "header": header, "header_line": header_line}
    evidence_cols = (schema.meta.get("year_evidence") or {}).get(table)
    if evidence_cols:
        meta["year_evidence"] = year_evidence(rows, evidence_cols, schema.date_format or "%Y-%m-%d")
    return Parsed(collection=collection, year=year, tables={table: df}, findings=findings, meta=meta)


def year_evidence(rows: list[dict[str, Any]], columns: list[str], date_format: str) -> dict[int, int]:
    """How many of the rows' event dates (``columns``, readable in ``date_format``) fall in
    each collection year (1 April - 31 March, named by the year it ends)."""
    from datetime import datetime

    out: dict[int, int] = {}
    for rec in rows:
        for c in columns:
            v = rec.get(c)
            if not v or not str(v).strip():
                continue
            try:
                d = datetime.strptime(str(v).strip(), date_format).date()
            except ValueError:
                continue
            cy = d.year + 1 if d.month >= 4 else d.year
            out[cy] = out.get(cy, 0) + 1
    return out
