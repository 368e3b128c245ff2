"""What every collection writer is handed: the population, the simulated events, where to
write, how dirty to be, and where to record faults and the truth behind each record."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cslake.config import LocalAuthority
from cslake.synth.core import FaultLog, rng_for, write_resend
from cslake.synth.population import Population


@dataclass
class Dirt:
    """How often LAs' mistakes are injected. `rate` applies per field/row opportunity
    (times a per-fault weight), `file_rate` per file. Zero rates give clean files."""

    rate: float = 0.01
    file_rate: float = 0.03

    def hit(self, rng: np.random.Generator, weight: float = 1.0) -> bool:
        return self.rate > 0 and rng.random() < self.rate * weight

    def file_hit(self, rng: np.random.Generator, weight: float = 1.0) -> bool:
        return self.file_rate > 0 and rng.random() < self.file_rate * weight

    # --- the usual mistakes, as value transforms (the caller records the fault) ---
    @staticmethod
    def lower_or_pad(value: str, rng: np.random.Generator) -> str:
        """A code typed in lower case or padded with spaces (tolerated: rule CODE_CASE)."""
        return [value.lower(), f" {value} ", f"{value.lower()} "][int(rng.integers(0, 3))]

    @staticmethod
    def float_id(value: str) -> str:
        """An id exported through a spreadsheet: 12345 → 12345.0 (tolerated: rule ID_FLOAT)."""
        return f"{value}.0"

    @staticmethod
    def wrong_date_format(d: date, rng: np.random.Generator, expected: str) -> str:
        """A date in a format the collection doesn't use (rule TYPE_DATE)."""
        options = ["%Y/%m/%d", "%d-%m-%Y", "%d.%m.%y", "%m/%d/%Y %H:%M"]
        if expected == "%Y-%m-%d":
            options = ["%d/%m/%Y", "%Y/%m/%d", "%d-%b-%Y", "%Y%m%d"]
        fmt = options[int(rng.integers(0, len(options)))]
        text = d.strftime(fmt)
        # A month/day swap that still parses would be undetectable; force an impossible one.
        if fmt == "%m/%d/%Y %H:%M" and d.day <= 12:
            text = (d.replace(day=13)).strftime(fmt)
        return text

    @staticmethod
    def invalid_code(valid: list[str], rng: np.random.Generator, spec: Any = None) -> str:
        """A code not in the year's list: a retired code, a typo, or a free-text label.

        Silver reads codes case-blind and through the column's aliases and labels, so a
        candidate is invalid only if no case or spacing of it is in ``valid`` and (given the
        column's ``spec``, a schemas.ColumnSpec) silver would not read it as a code either:
        "Other" is a valid OTHER, not an invalid code."""
        folded = {str(v).strip().casefold() for v in valid}
        candidates = ["XX", "99", "N/A", "Other", "Z9", "ZZ1"]
        for c in rng.permutation(candidates):
            c = str(c)
            if c.casefold() not in folded and (spec is None or spec.canonical(c) is None):
                return c
        return "INVALID"


@dataclass
class TruthLog:
    """Which true person is behind each record: `_truth/records.csv`, for measuring linkage."""

    rows: list[tuple] = field(default_factory=list)

    def add(self, collection: str, year: int, la: str, table: str, record_key: str, person_id: int) -> None:
        self.rows.append((collection, int(year), la, table, str(record_key), int(person_id)))

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["collection", "year", "la", "table", "record_key", "person_id"])
            w.writerows(sorted(set(self.rows)))


@dataclass
class GenContext:
    """Handed to every writer. Writers must take randomness only from `ctx.rng(...)` with
    keys naming what they are doing, so outputs do not depend on the order of work."""

    pop: Population
    out: Path
    seed: int
    years: list[int]
    dirt: Dirt
    events: Any = None          # cslake.synth.events.SocialCareEvents, once simulated
    sen: Any = None             # SEND journeys, once simulated
    faults: FaultLog = field(default_factory=FaultLog)
    truth: TruthLog = field(default_factory=TruthLog)

    def rng(self, *keys: Any) -> np.random.Generator:
        return rng_for(self.seed, *keys)

    def la_dir(self, la: LocalAuthority | str, collection: str, year: int) -> Path:
        """The drop-zone folder convention: raw/<LA code>/<collection>/<year>/."""
        code = la.dfe_code if isinstance(la, LocalAuthority) else la
        return self.out / code / collection / str(year)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    def truncate(self, data: bytes, rng: np.random.Generator, *, la: str, collection: str, year: int,
                 path: Path) -> bytes:
        """Cut a file short somewhere in its middle, as a failed upload does (FILE_NOT_WELLFORMED)."""
        cut = int(len(data) * (0.3 + 0.6 * rng.random()))
        self.faults.add(la=la, collection=collection, year=year, path=self.rel(path), rule="FILE_NOT_WELLFORMED",
                        note=f"truncated at byte {cut}")
        return data[:cut]

    def write_return(self, path: Path, data: bytes, rng: np.random.Generator, *, la: str, collection: str,
                     year: int, resend_name: str, table: str = "") -> list[Path]:
        """Write a return file and, now and then, the byte-identical copy an LA sends again
        under another name (FILE_DUPLICATE). Returns the paths written."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths = [path]
        if self.dirt.file_hit(rng, 0.5):
            copy = path.with_name(resend_name)
            write_resend(path, copy, data)
            self.faults.add(la=la, collection=collection, year=year, path=self.rel(copy), table=table,
                            rule="FILE_DUPLICATE", note=f"byte-identical copy of {self.rel(path)}")
            paths.append(copy)
        return paths


def working_days_after(start: date, n: int, holidays: set[date]) -> date:
    """The date n working days after `start` (weekends and bank holidays skipped)."""
    d = start
    left = n
    while left > 0:
        d += timedelta(days=1)
        if d.weekday() < 5 and d not in holidays:
            left -= 1
    return d
