"""The published gold tables as plain files in DfE's Explore Education Statistics (EES) open-data
layout (cslake.publish.ees), for BI tools and spreadsheets that cannot read Delta.

    report = export_gold(lake, Path("out/export"))                 # Parquet and CSV
    report = export_gold(lake, Path("out/export"), formats=("csv",))

Only the ``gold`` schema (after disclosure control) is exported, never ``gold_restricted``:

- ``<out_dir>/csv/<table>.csv``: UTF-8 with a byte-order mark (Excel reads accents right), the EES
  columns first, numbers as numbers, a suppressed cell ``c`` and a not-applicable one ``z``;
- ``<out_dir>/parquet/<table>.parquet``: the same columns typed (indicators as doubles, NULL where
  suppressed, ``<indicator>_status`` beside), timestamps in microseconds (Spark 4 refuses
  Parquet's nanoseconds);
- ``<table>.meta.csv`` beside each: EES's metadata file (every filter and indicator, its label, unit).

Each file is written to a temporary name and renamed, so a reader never sees half a file, and a
re-export replaces the last. Tables are small aggregates, collected to pandas.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import pandas as pd

from cslake.outputs import neutralise_frame
from cslake.publish.disclosure import check_frame, spec_for
from cslake.publish.ees import EesTable, csv_frame, ees_table, metadata

if TYPE_CHECKING:
    from cslake.lake import Lake

FORMATS = ("parquet", "csv")
PUBLISHED = "gold"
CSV_ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark: Excel then reads it as UTF-8
CSV_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"  # microseconds, as in the Parquet files


@dataclass
class ExportReport:
    out_dir: Path
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        kinds = sorted({p.parent.name for p in self.files})
        lines = [f"exported {len(self.tables)} published gold table(s) in the EES open-data layout "
                 f"({', '.join(kinds) or 'nothing'}, each with its .meta.csv) to {self.out_dir}"]
        lines += [f"  {t}: {n:,} rows" for t, n in sorted(self.tables.items())]
        return "\n".join(lines)


def published_tables(lake: "Lake") -> list[str]:
    """Short names of the published gold tables present in the lake."""
    return sorted(n.split(".", 1)[1] for n in lake.tables() if n.startswith(PUBLISHED + "."))


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def parquet_frame(ees: EesTable) -> "pd.DataFrame":
    """The Parquet frame: timestamps cut to microseconds (pandas holds nanoseconds)."""
    out = ees.frame.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].astype("datetime64[us]")
    return out


def write_table(ees: EesTable, folder: Path, fmt: str) -> list[Path]:
    """One table's data file and its EES metadata file in ``folder``; returns both paths."""
    data = folder / f"{ees.name}.{fmt}"
    if fmt == "parquet":
        _atomic(data, lambda p: parquet_frame(ees).to_parquet(p, index=False, coerce_timestamps="us",
                                                               allow_truncated_timestamps=True))
    else:
        _atomic(data, lambda p: neutralise_frame(csv_frame(ees)).to_csv(p, index=False, encoding=CSV_ENCODING,
                                                                        date_format=CSV_TIMESTAMP))
    meta = folder / f"{ees.name}.meta.csv"
    _atomic(meta, lambda p: neutralise_frame(metadata(ees)).to_csv(p, index=False, encoding=CSV_ENCODING))
    return [data, meta]


def export_gold(lake: "Lake", out_dir: Path | str, formats: Sequence[str] = FORMATS,
                tables: Sequence[str] | None = None) -> ExportReport:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {', '.join(unknown)}; known: {', '.join(FORMATS)}")
    out_dir = Path(out_dir)
    report = ExportReport(out_dir)
    names = list(tables) if tables else published_tables(lake)
    # Every table is checked before any is written: one failing table ships nothing (issue 16).
    frames = {t: lake.read_table(f"{PUBLISHED}.{t}").toPandas() for t in names}
    for t, pdf in frames.items():
        check_frame(t, pdf, spec_for(t))
    for fmt in formats:
        (out_dir / fmt).mkdir(parents=True, exist_ok=True)
    for t in names:
        ees = ees_table(frames[t], t)
        for fmt in formats:
            report.files += write_table(ees, out_dir / fmt, fmt)
        report.tables[t] = len(ees.frame)
    return report
