"""Reading xlsx workbooks: sheet names and cell values, nothing else.

calamine (Rust, via ``python-calamine``, also a pandas ``read_excel`` engine) reads
a sheet ~10x faster than openpyxl's read-only mode, which spends most of its time
building cell objects and, for sheets written without a ``<dimension>``, scans
each sheet twice. At scale (33 LAs x 5 years of Annex A) that was most of the land
job's parsing time. Values come back as Python types: str, float, bool,
date/datetime, time/timedelta; empty cells as None (calamine says "").
"""

from __future__ import annotations

import io
import zipfile
from typing import Any, Iterator

from python_calamine import CalamineWorkbook

from cslake.io.parsed import FILE_NOT_WELLFORMED, FileFault


class Workbook:
    def __init__(self, data: bytes, source: str | None = None) -> None:
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise FileFault(FILE_NOT_WELLFORMED, "not a readable xlsx workbook: not a zip archive", file=source)
        try:
            self._wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
            self.sheetnames: list[str] = list(self._wb.sheet_names)
        except Exception as exc:  # calamine raises its own error types for each kind of damage
            raise FileFault(FILE_NOT_WELLFORMED, f"not a readable xlsx workbook: {exc}", file=source) from None
        self._source = source

    def rows(self, sheet: str) -> Iterator[tuple[Any, ...]]:
        """Every row from A1 down (row i is Excel row i + 1), empty cells None."""
        try:
            values = self._wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except Exception as exc:
            raise FileFault(FILE_NOT_WELLFORMED, f"sheet {sheet!r} cannot be read: {exc}", file=self._source) from None
        for row in values:
            yield tuple(None if v == "" else v for v in row)

    def close(self) -> None:
        self._wb.close()
