"""CSV returns (SSDA903 tables, school census extract, RIIA template, context files).

The table is recognised by its header row, never by the file name. Real files
arrive with BOMs, cp1252 bytes, odd header case and spacing, blank lines, extra
and misspelt columns: all are tolerated and reported as findings.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import json
import re
from datetime import datetime
from typing import Any, Iterator

from cslake.io.parsed import (
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
from cslake.io.recognition import csv_recognition_order
from cslake.io.source import Source
from cslake.schemas import CollectionSchema, TableSchema, base_year, collection_schema, diff_years
from cslake.vocab import collection_year

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
    """(collection, year) pairs to recognise a header against: the claimed ones first, then
    every collection in conf's ``csv_recognition_rank`` order."""
    names = [collection] if collection else list(csv_recognition_order())
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


def _next_record(reader) -> tuple[list[str], int]:
    """The next non-blank record of a csv reader and its line number ([], 0 at the end)."""
    for row in reader:
        if any(cell.strip() for cell in row):
            return row, reader.line_num
    return [], 0


def _first_record(text: str) -> tuple[list[str], int]:
    return _next_record(csv.reader(io.StringIO(text)))


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
        # The header is not echoed: a "CSV" that is really another file would carry its first line along.
        raise FileFault(FILE_UNRECOGNISED, f"the CSV header ({len(header)} columns) matches no known table",
                        file=source, line=1)
    return best[2], best[3], best[4]


def encoding_findings(encoding: str, bom: bool) -> list[Finding]:
    """A FILE_ENCODING finding for anything but plain UTF-8."""
    if not bom and encoding == "utf-8":
        return []
    return [Finding(FILE_ENCODING, "info", None, None, None, encoding,
                    f"decoded as {encoding}" + (" (byte-order mark removed)" if bom else ""))]


def resolve_table(text: str, collection: str | None, year: int | None, table: str | None,
                  source: str | None) -> tuple[str, str, int | None]:
    """(collection, table, year) of a CSV: what the caller says, the rest from its header row."""
    if table is None or collection is None or year is None:
        c, table_found, y = recognise_csv(text, collection, year, source=source)
        collection, table = collection or c, table or table_found
        if year is None or year < base_year(collection):
            year = y
    return collection, table, year


def schema_with_table(collection: str, year: int, table: str,
                      source: str | None) -> tuple[CollectionSchema, list[Finding]]:
    """The year's schema, or, when the table only exists in other years (e.g. 903 social_worker,
    from 2024, in a 2023 folder), the nearest year's that has it and a FILE_YEAR_MISMATCH finding
    (the claimed year looks wrong: report it rather than refuse the file)."""
    schema = collection_schema(collection, year)
    if table in schema.tables:
        return schema, []
    years_with = [y for y in [base_year(collection)] + diff_years(collection)
                  if table in collection_schema(collection, y).tables]
    if not years_with:
        raise FileFault(FILE_UNRECOGNISED, f"{collection} has no table {table!r}", file=source)
    nearest = min(years_with, key=lambda y: abs(y - year))
    finding = Finding(FILE_YEAR_MISMATCH, "warning", table, None, None, str(year),
                      f"{collection} {table} does not exist in {year} (it does from {min(years_with)}): "
                      f"the file's year looks wrong; read with the {nearest} specification")
    return collection_schema(collection, nearest), [finding]


def header_findings(header: list[str], header_line: int, t: TableSchema, collection: str, year: int,
                    ) -> tuple[dict[int, str], dict[int, str], list[Finding]]:
    """Header positions read as columns, header positions kept in ``_extra`` (by name), and the
    misspelt, extra and missing columns as findings."""
    table = t.name
    exact, misspelt, unmatched = _match_header(header, t)
    by_pos = {**exact, **misspelt}
    findings = [Finding(COLUMN_MISSPELT, "warning", table, header_line, name, header[i],
                        f"{table}: header {header[i]!r} is not a {collection} {year} column; "
                        f"read as {name!r} (closest match)") for i, name in misspelt.items()]
    extra_names = {i: (header[i] if header[i].strip() else f"_col{i + 1}") for i in unmatched}
    findings += [Finding(COLUMN_EXTRA, "warning", table, header_line, name, None,
                         f"{table}: column {name!r} is not in the {collection} {year} specification "
                         f"(kept in _extra)") for name in extra_names.values()]
    findings += [Finding(COLUMN_MISSING, "warning", table, header_line, name, None,
                         f"{table}: column {name!r} is missing from the file")
                 for name in t.columns if name not in by_pos.values()]
    return by_pos, extra_names, findings


def record_of(row: list[str], line: int, columns, by_pos: dict[int, str],
              extra_names: dict[int, str]) -> dict[str, Any]:
    """One CSV record: its line, each column's cell (None when absent), and the rest as ``_extra`` JSON."""
    rec: dict[str, Any] = {"_row": line}
    for name in columns:
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
    return rec


class RaggedCount:
    """How many records of a CSV body have a field count other than its header's. A body most
    of whose records are ragged is not the table its header names (another export pasted under
    a valid header, issue 16): land holds such a resubmission rather than let it replace the
    live file. A count, not line numbers: a body can have millions of lines."""

    def __init__(self, width: int) -> None:
        self.width, self.n = width, 0

    def see(self, row: list[str]) -> None:
        if len(row) != self.width:
            self.n += 1


def records(reader, columns, by_pos: dict[int, str], extra_names: dict[int, str],
            blank_lines: list[int], ragged: RaggedCount | None = None) -> Iterator[dict[str, Any]]:
    """The records of the rest of a csv reader positioned after the header, one at a time; the
    line numbers of blank lines are appended to ``blank_lines`` on the way, and each record is
    shown to ``ragged``."""
    start_line = reader.line_num + 1
    for row in reader:
        line = start_line
        start_line = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            blank_lines.append(line)
            continue
        if ragged is not None:
            ragged.see(row)
        yield record_of(row, line, columns, by_pos, extra_names)


def read_records(reader, columns, by_pos: dict[int, str],
                 extra_names: dict[int, str]) -> tuple[list[dict[str, Any]], list[int]]:
    """(records, blank line numbers) of the rest of a csv reader positioned after the header."""
    blank_lines: list[int] = []
    rows = list(records(reader, columns, by_pos, extra_names, blank_lines))
    return rows, blank_lines


def blank_line_findings(table: str, blank_lines: list[int]) -> list[Finding]:
    if not blank_lines:
        return []
    return [Finding("CSV_BLANK_LINE", "info", table, blank_lines[0], None, None,
                    f"{table}: {len(blank_lines)} blank line(s) skipped (first at line {blank_lines[0]})")]


#: Characters of a CSV file's text read to find its header row (see :func:`recognise_csv`).
HEAD_CHARS = 65536


class CsvStream:
    """One CSV file read in chunks of records (its single table, recognised from the header unless
    ``table`` is given), never held whole: ``chunks(n)`` yields (table, DataFrame of at most n
    records); ``findings`` and ``meta`` are complete once it is exhausted (``meta["ragged_records"]``:
    records whose field count is not the header's, see :class:`RaggedCount`). ``lead``: findings
    that come before the file's own (detection's)."""

    def __init__(self, src: Source, collection: str | None = None, year: int | None = None, *,
                 table: str | None = None, source: str | None = None) -> None:
        if src.is_blank():
            raise FileFault(FILE_EMPTY, "the file is empty", file=source)
        enc = src.text_encoding()
        self.src, self.lead = src, []
        self.own = encoding_findings(enc.encoding, enc.bom)
        collection, table, year = resolve_table(src.head_text(HEAD_CHARS), collection, year, table, source)
        self.schema, year_findings = schema_with_table(collection, year, table, source)
        self.own += year_findings
        self.collection, self.year, self.table = collection, year, table
        self.tables = [table]
        self.meta: dict[str, Any] = {"encoding": enc.encoding, "bom": enc.bom}

    @property
    def findings(self) -> list[Finding]:
        return self.lead + self.own

    def chunks(self, chunk_rows: int | None = None) -> Iterator[tuple[str, Any]]:
        """(table, DataFrame) per ``chunk_rows`` records (None: one frame of every record)."""
        t = self.schema.tables[self.table]
        evidence_cols = (self.schema.meta.get("year_evidence") or {}).get(self.table)
        date_format = self.schema.date_format or "%Y-%m-%d"
        evidence: dict[int, int] = {}
        with self.src.text() as fh:
            reader = csv.reader(fh)
            header, header_line = _next_record(reader)
            by_pos, extra_names, column_findings = header_findings(header, header_line, t, self.collection,
                                                                   self.year)
            self.own += column_findings
            self.meta.update(header=header, header_line=header_line)
            blank_lines: list[int] = []
            ragged = RaggedCount(len(header))
            rows: list[dict[str, Any]] = []
            for rec in records(reader, t.columns, by_pos, extra_names, blank_lines, ragged):
                rows.append(rec)
                if chunk_rows and len(rows) >= chunk_rows:
                    add_counts(evidence, year_evidence(rows, evidence_cols, date_format) if evidence_cols else {})
                    yield self.table, frame(list(t.columns), rows)
                    rows = []
            if evidence_cols:
                add_counts(evidence, year_evidence(rows, evidence_cols, date_format))
                self.meta["year_evidence"] = evidence
            self.own += blank_line_findings(self.table, blank_lines)
            self.meta["ragged_records"] = ragged.n
            yield self.table, frame(list(t.columns), rows)

    def parsed(self) -> Parsed:
        """Every record at once (the file read in one chunk)."""
        tables = dict(self.chunks(None))
        return Parsed(collection=self.collection, year=self.year, tables=tables, findings=self.findings,
                      meta=self.meta)


def add_counts(total: dict[int, int], more: dict[int, int]) -> None:
    for k, n in more.items():
        total[k] = total.get(k, 0) + n


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
    return CsvStream(Source.of_bytes(data), collection, year, table=table, source=source).parsed()


def year_evidence(rows: list[dict[str, Any]], columns: list[str], date_format: str) -> dict[int, int]:
    """How many of the rows' event dates (``columns``, readable in ``date_format``) fall in
    each collection year (1 April - 31 March, named by the year it ends)."""
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
            cy = collection_year(d)
            out[cy] = out.get(cy, 0) + 1
    return out
