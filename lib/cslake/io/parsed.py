"""What every parser returns and raises (pure Python: runs inside Spark tasks).

Kept apart from the package so the parsers and ``cslake.io`` itself import it
without importing one another: see :mod:`cslake.io` for the contract.
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
FILE_NO_SPEC = "FILE_NO_SPEC"
FILE_PATH_MISMATCH = "FILE_PATH_MISMATCH"
FILE_LA_MISMATCH = "FILE_LA_MISMATCH"
FILE_UNKNOWN_LA = "FILE_UNKNOWN_LA"
FILE_SERIAL_REPEATED = "FILE_SERIAL_REPEATED"
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
    la: str | None = None  # whose error report it goes to, when not the file's LA (the folder's LA)

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
