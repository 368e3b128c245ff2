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
            # its type, not its message (which may quote the archive's member names)
            raise FileFault(FILE_NOT_WELLFORMED, f"not a readable xlsx workbook ({type(exc).__name__})",
                            file=source) from None
        self._source = source

    def rows(self, sheet: str) -> Iterator[tuple[Any, ...]]:
        """Every row from A1 down (row i is Excel row i + 1), column A first, empty cells None.

        One row at a time (``iter_rows``), not the whole sheet as Python lists (``to_python``):
        a sheet of 3 M cells (160 MB of XML) peaked at 406 MB through ``to_python``, 313 MB
        this way (the rest is calamine's own copy of the sheet). ``iter_rows`` starts at row 1
        but at the sheet's first used column, so the columns before it are put back."""
        try:
            sh = self._wb.get_sheet_by_name(sheet)
            pad = (None,) * (sh.start[1] if sh.start is not None else 0)
            values = sh.iter_rows()
        except Exception as exc:
            raise FileFault(FILE_NOT_WELLFORMED, f"a sheet cannot be read ({type(exc).__name__})",
                            file=self._source) from None
        for row in values:
            yield pad + tuple(None if v == "" else v for v in row)

    def close(self) -> None:
        self._wb.close()


def zip_bomb(data: bytes, max_bytes: int, max_ratio: float) -> str | None:
    """Why a zip archive (an xlsx workbook) must not be opened, from its central directory alone
    (no member is decompressed): its members would expand past ``max_bytes``, or past
    ``max_ratio`` times the archive's size. None for an archive within both, or not a zip."""
    if not data.startswith(b"PK"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            expanded = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # not a readable archive: the parser says so (FILE_NOT_WELLFORMED)
    if expanded > max_bytes:
        return f"expands to {expanded:,} bytes, more than the limit of {max_bytes:,} (conf/limits.yaml): not opened"
    if expanded > max_ratio * max(len(data), 1):
        return (f"expands {expanded / max(len(data), 1):,.0f} times its size, more than the limit of "
                f"{max_ratio:g} (conf/limits.yaml): not opened")
    return None
