"""Reading LA files into tables of raw strings (pure Python: runs inside Spark tasks).

Every parser returns a :class:`Parsed`: ``tables`` maps a table name of the
collection schema (``cslake.schemas``) to a pandas DataFrame whose schema
columns hold the values exactly as found (strings, untrimmed; None when the
element/column is absent), plus lineage columns:

- ``_row``: where the row is in the file. XML: 1-based ordinal of the row
  element within the file, per table; CSV: the 1-based line number of the
  record (header = line 1, blank lines counted); xlsx: the Excel row number.
- ``_parent_row`` (XML only): the ``_row`` of the enclosing table's row.
- ``_extra``: JSON object of what the file had beyond the schema (unknown
  elements, extra columns), or None.

Whole-file problems raise :class:`FileFault`; tolerated oddities come back as
:class:`Finding` objects. Rule ids are those of ``conf/rules.yaml``.
"""

from __future__ import annotations

from cslake.io.detect import Detected, detect_file
from cslake.io.parse_csv import CsvStream, parse_csv
from cslake.io.parse_xlsx import XlsxStream, parse_xlsx
from cslake.io.parse_xml import XmlStream, parse_xml
from cslake.io.parsed import (
    COLUMN_EXTRA,
    COLUMN_MISSING,
    COLUMN_MISSPELT,
    FILE_EMPTY,
    FILE_ENCODING,
    FILE_NO_SPEC,
    FILE_NO_YEAR,
    FILE_NOT_WELLFORMED,
    FILE_PATH_MISMATCH,
    FILE_UNRECOGNISED,
    FILE_YEAR_MISMATCH,
    LINEAGE_COLUMNS,
    FileFault,
    Finding,
    Parsed,
    frame,
)
from cslake.io.source import Source
from cslake.schemas import spec_year


def open_parse(src: Source, filename: str = "", path_hint: str = "") -> tuple[Detected, CsvStream | XmlStream | XlsxStream]:
    """Detect what a file is, then open it with the right parser: (Detected, stream). The stream's
    ``chunks(n)`` yields (table, DataFrame) of at most about n rows as the file is read (an xlsx
    workbook a sheet at a time); its ``findings`` (detection's first) and
    ``meta`` are complete once the chunks are."""
    det = detect_file(src, filename, path_hint)
    source = path_hint or filename
    # A year no specification describes is read with the nearest earlier year's (FILE_NO_SPEC)
    year, why = (det.year, None) if det.year is None else spec_year(det.collection, det.year)
    if det.format == "xml":
        stream = XmlStream(src, det.collection, year, source=source)
    elif det.format == "xlsx":
        stream = XlsxStream(src.read_all(), det.collection, year, source=source)
    else:
        stream = CsvStream(src, det.collection, year, source=source)
    stream.year = det.year if det.year is not None else stream.year
    no_spec = [] if why is None else [Finding(FILE_NO_SPEC, "warning", None, None, None, str(det.year), why)]
    stream.lead = det.findings + no_spec
    return det, stream


def parse_file(data: bytes, filename: str = "", path_hint: str = "") -> tuple[Detected, Parsed]:
    """Detect what a file is, then parse it with the right parser. Returns (Detected, Parsed)."""
    det, stream = open_parse(Source.of_bytes(data), filename, path_hint)
    return det, stream.parsed()


__all__ = [
    "COLUMN_EXTRA", "COLUMN_MISSING", "COLUMN_MISSPELT", "FILE_EMPTY", "FILE_ENCODING", "FILE_NO_SPEC", "FILE_NO_YEAR",
    "FILE_NOT_WELLFORMED", "FILE_PATH_MISMATCH", "FILE_UNRECOGNISED", "FILE_YEAR_MISMATCH", "LINEAGE_COLUMNS",
    "Detected", "FileFault", "Finding", "Parsed", "Source", "detect_file", "frame", "open_parse", "parse_csv",
    "parse_file", "parse_xml",
]
