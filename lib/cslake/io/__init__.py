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

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

LINEAGE_COLUMNS = ("_row", "_parent_row", "_extra")

# Rule ids used by the parsers (defined in conf/rules.yaml).
FILE_NOT_WELLFORMED = "FILE_NOT_WELLFORMED"
FILE_UNRECOGNISED = "FILE_UNRECOGNISED"
FILE_EMPTY = "FILE_EMPTY"
FILE_NO_YEAR = "FILE_NO_YEAR"
FILE_PATH_MISMATCH = "FILE_PATH_MISMATCH"
FILE_YEAR_MISMATCH = "FILE_YEAR_MISMATCH"
FILE_ENCODING = "FILE_ENCODING"
COLUMN_EXTRA = "COLUMN_EXTRA"
COLUMN_MISSPELT = "COLUMN_MISSPELT"
COLUMN_MISSING = "COLUMN_MISSING"


class FileFault(Exception):
    """The whole file cannot be read. ``location`` holds file, line, column, table, … where known."""

    def __init__(self, rule: str, message: str, **location: Any) -> None:
        self.rule = rule
        self.message = message
        self.location = {k: v for k, v in location.items() if v is not None}
        where = ", ".join(f"{k} {v}" for k, v in self.location.items())
        super().__init__(f"[{rule}] {message}" + (f" ({where})" if where else ""))

    def __getattr__(self, name: str) -> Any:  # fault.line, fault.file, ...
        loc = self.__dict__.get("location", {})
        if name in loc:
            return loc[name]
        raise AttributeError(name)


@dataclass(frozen=True)
class Finding:
    """A tolerated oddity: reported, not fatal. severity: info | warning."""

    rule: str
    severity: str
    table: str | None
    row: int | None
    column: str | None
    value: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Parsed:
    collection: str
    year: int | None
    tables: dict[str, pd.DataFrame]
    findings: list[Finding] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. XML header values, encoding

    @property
    def table_name(self) -> str:
        """The single table of a one-table file (a 903 CSV)."""
        if len(self.tables) != 1:
            raise ValueError(f"{len(self.tables)} tables, not one: {list(self.tables)}")
        return next(iter(self.tables))


def frame(columns: list[str], rows: list[dict[str, Any]], *, parent: bool = False) -> pd.DataFrame:
    """A DataFrame of object columns in a fixed order: _row, [_parent_row], schema columns, _extra.

    Built column by column from the records (missing keys → None): parsers call this for
    every table of every file, so it must not do per-column pandas conversions.
    """
    order = ["_row"] + (["_parent_row"] if parent else []) + list(columns) + ["_extra"]
    data: dict[str, Any] = {}
    for c in order:
        values = [r.get(c) for r in rows]
        if c in ("_row", "_parent_row"):
            data[c] = pd.array(values, dtype="Int64")
        else:
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            data[c] = arr
    return pd.DataFrame(data, columns=order)


def parse_file(data: bytes, filename: str = "", path_hint: str = "") -> tuple[Any, Parsed]:
    """Detect what a file is, then parse it with the right parser. Returns (Detected, Parsed)."""
    from cslake.io.detect import detect_file
    from cslake.io.parse_csv import parse_csv
    from cslake.io.parse_xlsx import parse_xlsx
    from cslake.io.parse_xml import parse_xml

    det = detect_file(data, filename, path_hint)
    source = path_hint or filename
    if det.format == "xml":
        parsed = parse_xml(data, det.collection, det.year, source=source)
    elif det.format == "xlsx":
        parsed = parse_xlsx(data, det.collection, det.year, source=source)
    else:
        parsed = parse_csv(data, det.collection, det.year, source=source)
    parsed.findings[:0] = det.findings
    return det, parsed


__all__ = ["FileFault", "Finding", "Parsed", "parse_file", "LINEAGE_COLUMNS"]
