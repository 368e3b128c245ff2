"""Workbooks: Ofsted Annex A (sheets "List 1" .. "List 11") and the RIIA quarterly template.

Headers differ between LAs, so each column is found by the regex in its
schema ``path``; the header row is the first row (of the first 15) where most
columns match. Dates are rendered in the collection's date format so silver
reads typed and text dates alike; ``_row`` is the Excel row number.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
from datetime import date, datetime, time
from typing import Any, Iterator

import pandas as pd

from cslake.io.parsed import COLUMN_EXTRA, COLUMN_MISSING, COLUMN_MISSPELT, FILE_UNRECOGNISED, FileFault, Finding, Parsed, frame
from cslake.io.workbook import Workbook
from cslake.schemas import TableSchema, base_year, collection_schema, diff_years

HEADER_SEARCH_ROWS = 15


def _latest(collection: str) -> int:
    ys = diff_years(collection)
    return ys[-1] if ys else base_year(collection)


def match_sheets(sheet_names: list[str], collection: str, year: int | None = None) -> dict[str, str]:
    """Sheet name → table name, by exact sheet name first, then the table's sheet_pattern."""
    schema = collection_schema(collection, year or _latest(collection))
    out: dict[str, str] = {}
    for t in schema.tables.values():
        for name in sheet_names:
            if name in out:
                continue
            if t.sheet and name.strip().casefold() == t.sheet.casefold():
                out[name] = t.name
                break
        else:
            if t.sheet_pattern:
                for name in sheet_names:
                    if name not in out and re.search(t.sheet_pattern, name, re.I):
                        out[name] = t.name
                        break
    return out


def _cell_text(v: Any, date_format: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.strftime(date_format) if v.time() == time(0) else v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.strftime(date_format)
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        # Excel keeps every number as a double: 12345 is an id, not 12345.0.
        return str(int(v))
    return str(v)


def _map_header(cells: list[Any], t: TableSchema, regex: bool = True) -> dict[int, str]:
    """Header position → column. ``regex``: paths are patterns (Annex A); else exact names, any case/spacing
    (a CSV-described template such as RIIA arriving as xlsx)."""
    texts = [("" if c is None else str(c)).strip() for c in cells]
    if not regex:
        texts = [re.sub(r"[\s_\-]+", "", x) for x in texts]
    # Every (header, column) whose pattern matches, longest match first: "Number of S47
    # enquiries" is the count column ('number of s47'), not the enquiry start ('s47'),
    # even when the start column's own header is misspelt and matches nothing.
    pairs = []
    for order, col in enumerate(t.columns.values()):
        if regex:
            rx = re.compile(col.path or re.escape(col.name), re.I)
        else:
            name = re.sub(r"[\s_\-]+", "", col.path or col.name)
            rx = re.compile(rf"^{re.escape(name)}$", re.I)
        for i, h in enumerate(texts):
            m = rx.search(h) if h else None
            if m:
                pairs.append((-(m.end() - m.start()), order, i, col.name))
    pos: dict[int, str] = {}
    for _, _, i, name in sorted(pairs):
        if i not in pos and name not in pos.values():
            pos[i] = name
    return pos


def _pattern_words(col) -> list[str]:
    """Plain-text forms of a column for close matching: its name, and each alternative of its
    header pattern with the regex syntax taken out (``child\\s*seen`` → ``child seen``)."""
    forms = [col.name.replace("_", " ")]
    for alt in (col.path or "").split("|"):
        text = re.sub(r"\\s[*+?]?", " ", alt)
        text = re.sub(r"[\\^$.*+?()\[\]{}]", "", text)
        if text.strip():
            forms.append(text.strip())
    return [" ".join(f.lower().split()) for f in forms]


def _close_headers(cells, header_map: dict[int, str], t: TableSchema) -> dict[int, str]:
    """Header cells that match no column's pattern but are a close misspelling of one
    still-unmatched column (``Ethnicty`` → ethnicity): position → column."""
    left = {name: _pattern_words(col) for name, col in t.columns.items() if name not in header_map.values()}
    found: dict[int, str] = {}
    for i, h in enumerate(cells):
        text = " ".join(str(h).lower().split()) if h is not None else ""
        if i in header_map or not text:
            continue
        best = max(((difflib.SequenceMatcher(None, text, f).ratio(), n) for n, forms in left.items() for f in forms),
                   default=(0.0, None))
        if best[0] >= 0.85:
            found[i] = best[1]
            left.pop(best[1])
    # Word by word: a header holding every word of one of a column's forms, each the same or
    # a close misspelling ("CP Plan Strat Date" for plan start, "Date enquirey received" for
    # enquiry), is that column when exactly one still-unmatched column fits.
    for i, h in enumerate(cells):
        words = re.findall(r"[a-z0-9]+", str(h).lower()) if h is not None else []
        if i in header_map or i in found or not words:
            continue
        fits = [n for n, forms in left.items() if any(_words_close(f.split(), words) for f in forms)]
        if len(fits) == 1:
            found[i] = fits[0]
            left.pop(fits[0])
    return found


def _words_close(want: list[str], have: list[str], cutoff: float = 0.8) -> bool:
    """Every word of ``want`` matches a distinct word of ``have``, exactly or as a close
    misspelling (difflib ratio >= cutoff; words of 3 letters or fewer only exactly)."""
    free = list(have)
    for w in want:
        best = None
        for k, x in enumerate(free):
            r = 1.0 if x == w else (difflib.SequenceMatcher(None, w, x).ratio() if min(len(w), len(x)) > 3 else 0.0)
            if r >= cutoff and (best is None or r > best[0]):
                best = (r, k)
        if best is None:
            return False
        free.pop(best[1])
    return bool(want)


def find_header(rows: Iterator[tuple], t: TableSchema, regex: bool) -> tuple[list[tuple[int, tuple]], int | None, dict[int, str]]:
    """(rows read, header row number, header position → column): the first of the first
    HEADER_SEARCH_ROWS rows that matches most columns. The rows after those stay in ``rows``."""
    buffered: list[tuple[int, tuple]] = []
    header_at, header_map = None, {}
    for r, values in enumerate(rows, start=1):
        buffered.append((r, values))
        m = _map_header(list(values), t, regex=regex)
        if len(m) > len(header_map):
            header_at, header_map = r, m
        if r >= HEADER_SEARCH_ROWS:
            break
    return buffered, header_at, header_map


def sheet_columns(header_cells: tuple, header_map: dict[int, str], t: TableSchema, sheet_name: str,
                  header_at: int) -> tuple[dict[int, str], dict[int, str], list[Finding]]:
    """(position → column, with close misspellings added; position → header kept in ``_extra``;
    findings for misspelt, extra and missing columns)."""
    table = t.name
    header_map = dict(header_map)
    findings: list[Finding] = []
    for i, name in _close_headers(header_cells, header_map, t).items():
        header_map[i] = name
        cell = str(header_cells[i]).strip()
        findings.append(Finding(COLUMN_MISSPELT, "warning", table, header_at, name, cell,
                                f"{table} ({sheet_name}): column {cell!r} read as {name!r} (close misspelling)"))
    extra_cols = {i: str(h).strip() for i, h in enumerate(header_cells)
                  if i not in header_map and h is not None and str(h).strip()}
    findings += [Finding(COLUMN_EXTRA, "warning", table, header_at, h, None,
                         f"{table} ({sheet_name}): column {h!r} matches no specified column")
                 for h in extra_cols.values()]
    findings += [Finding(COLUMN_MISSING, "warning", table, header_at, name, None,
                         f"{table} ({sheet_name}): no column matches {name!r}")
                 for name in t.columns if name not in header_map.values()]
    return header_map, extra_cols, findings


def sheet_record(r: int, values: tuple, columns, header_map: dict[int, str], extra_cols: dict[int, str],
                 date_format: str) -> dict[str, Any] | None:
    """One row below the header as a record (None for an empty row): cells as text, the
    unmatched ones as ``_extra`` JSON."""
    if not any(v is not None and str(v).strip() for v in values):
        return None
    rec: dict[str, Any] = {"_row": r, **{n: None for n in columns}}
    extra = {}
    for i, v in enumerate(values):
        if i in header_map:
            rec[header_map[i]] = _cell_text(v, date_format)
        elif v is not None:
            extra[extra_cols.get(i, f"_col{i + 1}")] = _cell_text(v, date_format)
    rec["_extra"] = json.dumps(extra, ensure_ascii=False) if extra else None
    return rec


def sheet_records(wb: Workbook, sheet_name: str, t: TableSchema, regex: bool,
                  date_format: str) -> tuple[Iterator[dict[str, Any]] | None, list[Finding]]:
    """One sheet's records below its header, read as they are asked for (None when no header
    row matches), and the findings (complete before the first record)."""
    rows = wb.rows(sheet_name)
    buffered, header_at, header_map = find_header(rows, t, regex)
    if header_at is None or len(header_map) < min(2, len(t.columns)):
        return None, [Finding(COLUMN_MISSING, "warning", t.name, None, None, sheet_name,
                              f"sheet {sheet_name!r}: no header row matching {t.name} found")]
    header_map, extra_cols, findings = sheet_columns(dict(buffered)[header_at], header_map, t, sheet_name, header_at)
    numbered = itertools.chain(buffered, enumerate(rows, start=len(buffered) + 1))  # streamed, not held
    records = (sheet_record(r, values, t.columns, header_map, extra_cols, date_format)
               for r, values in numbered if r > header_at)
    return (rec for rec in records if rec is not None), findings


class XlsxStream:
    """A workbook read a sheet at a time and each sheet a chunk of records at a time, behind the
    interface of the CSV and XML streams: a sheet's records were held whole as Python dicts,
    then as a DataFrame (a 300,000-row sheet took the parse to 533 MB; at the zip-bomb guard's
    512 MiB of XML that is past 2 GB, issue 16). The workbook's bytes are held (a file is at most
    conf/limits.yaml max_file_bytes), and calamine holds one sheet's cells at a time."""

    def __init__(self, data: bytes, collection: str = "annex_a", year: int | None = None, *,
                 source: str | None = None) -> None:
        self.data, self.source, self.lead = data, source, []
        self.collection, self.year = collection, year or _latest(collection)
        self.schema = collection_schema(collection, self.year)
        self.tables = list(self.schema.tables)
        self.own: list[Finding] = []
        self.meta: dict[str, Any] = {}

    @property
    def findings(self) -> list[Finding]:
        return self.lead + self.own

    def chunks(self, chunk_rows: int | None = None) -> Iterator[tuple[str, pd.DataFrame]]:
        """(table, DataFrame) of at most ``chunk_rows`` records of one sheet (None: each sheet's
        every record in one frame); every table of the schema no sheet gave rows to comes last,
        empty, as it did when a workbook was read whole."""
        wb = Workbook(self.data, self.source)
        date_format = self.schema.date_format or "%Y-%m-%d"
        self.own, given = [], set()
        try:
            sheets = match_sheets(list(wb.sheetnames), self.collection, self.year)
            self.meta = {"sheets": sheets}
            if not sheets:
                raise FileFault(FILE_UNRECOGNISED, f"none of the workbook's {len(wb.sheetnames)} sheet(s) is a "
                                                   f"{self.collection} table", file=self.source)
            for sheet_name, table in sheets.items():
                t = self.schema.tables[table]
                records, sheet_findings = sheet_records(wb, sheet_name, t, self.schema.format == "xlsx", date_format)
                self.own += sheet_findings
                if records is None:
                    continue
                for batch in _batches(records, chunk_rows):
                    given.add(table)
                    yield table, frame(list(t.columns), batch)
        finally:
            wb.close()
        yield from ((name, frame(list(t.columns), [])) for name, t in self.schema.tables.items() if name not in given)

    def parsed(self) -> Parsed:
        tables: dict[str, pd.DataFrame] = {}
        for name, df in self.chunks(None):
            tables[name] = df  # chunks(None): one frame per sheet; a later sheet of a table replaces it
        return Parsed(collection=self.collection, year=self.year, tables=tables, findings=self.findings,
                      meta=self.meta)


def _batches(records: Iterator[dict[str, Any]], size: int | None) -> Iterator[list[dict[str, Any]]]:
    """``records`` in lists of ``size`` (None: one list of all); a sheet with no record gives one
    empty list, so that its table is given (an empty frame)."""
    batch: list[dict[str, Any]] = []
    for rec in records:
        batch.append(rec)
        if size and len(batch) >= size:
            yield batch
            batch = []
    if batch or not size:
        yield batch


def parse_xlsx(data: bytes, collection: str = "annex_a", year: int | None = None, *, source: str | None = None) -> Parsed:
    """One workbook, every sheet read whole (``XlsxStream`` reads it a chunk at a time)."""
    return XlsxStream(data, collection, year, source=source).parsed()
