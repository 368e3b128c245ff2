"""The published gold tables as plain files, for BI tools that cannot read Delta.

    report = export_gold(lake, Path("out/export"))                 # Parquet and CSV
    report = export_gold(lake, Path("out/export"), formats=("csv",))

Only the ``gold`` schema (after disclosure control) is exported, never
``gold_restricted``: ``<out_dir>/parquet/<table>.parquet`` (one file, the Delta
table's column types) and ``<out_dir>/csv/<table>.csv`` (UTF-8, header row, empty
for null; suppressed cells stay ``x`` and ``.``). Each file is written to a temporary
name and renamed, so a reader never sees half a file, and a re-export replaces the last.
Tables are small aggregates, collected to pandas.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from cslake.outputs import neutralise_frame
from cslake.publish.disclosure import check_frame, spec_for

if TYPE_CHECKING:
    from cslake.lake import Lake

FORMATS = ("parquet", "csv")
PUBLISHED = "gold"


@dataclass
class ExportReport:
    out_dir: Path
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"export: {len(self.tables)} published gold table(s) -> {self.out_dir}"]
        lines += [f"  {t}: {n} rows" for t, n in sorted(self.tables.items())]
        return "\n".join(lines)


def published_tables(lake: "Lake") -> list[str]:
    """Short names of the published gold tables present in the lake."""
    return sorted(n.split(".", 1)[1] for n in lake.tables() if n.startswith(PUBLISHED + "."))


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


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
        pdf = frames[t]
        if "parquet" in formats:
            path = out_dir / "parquet" / f"{t}.parquet"
            _atomic(path, lambda p: pdf.to_parquet(p, index=False))
            report.files.append(path)
        if "csv" in formats:
            path = out_dir / "csv" / f"{t}.csv"
            _atomic(path, lambda p: neutralise_frame(pdf).to_csv(p, index=False, encoding="utf-8"))
            report.files.append(path)
        report.tables[t] = len(pdf)
    return report
