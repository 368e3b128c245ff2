"""Shared machinery of the generator: deterministic randomness, collection years, the fault manifest."""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from cslake.config import load_yaml, local_authorities


def rng_for(seed: int, *keys: Any) -> np.random.Generator:
    """An independent random stream for (seed, keys...): stable across runs, processes and
    the order in which LAs or collections are generated, so outputs are byte-identical."""
    digest = hashlib.sha256(repr((int(seed),) + tuple(str(k) for k in keys)).encode()).digest()
    return np.random.default_rng(np.random.SeedSequence(list(np.frombuffer(digest[:16], dtype=np.uint32))))


def year_start(year: int) -> date:
    """First day of collection year `year` (the year ending 31 March `year`)."""
    return date(year - 1, 4, 1)


def year_end(year: int) -> date:
    return date(year, 3, 31)


def quarters(year: int) -> list[tuple[str, date, date]]:
    """Financial quarters of a collection year: (label, first day, last day)."""
    y0 = year - 1
    return [
        (f"{y0}-{year % 100:02d} Q1", date(y0, 4, 1), date(y0, 6, 30)),
        (f"{y0}-{year % 100:02d} Q2", date(y0, 7, 1), date(y0, 9, 30)),
        (f"{y0}-{year % 100:02d} Q3", date(y0, 10, 1), date(y0, 12, 31)),
        (f"{y0}-{year % 100:02d} Q4", date(year, 1, 1), date(year, 3, 31)),
    ]


def age_on(dob: date, on: date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


@functools.lru_cache(maxsize=1)
def synth_conf() -> dict:
    """conf/synth.yaml, its ``las`` holding every LA of conf/la_codes.csv: an LA without a line of its
    own takes ``la_defaults`` of its kind (the first three characters of its ONS code), so a region
    of any LAs generates without a line per LA."""
    conf = dict(load_yaml("synth.yaml"))
    defaults = conf.get("la_defaults") or {}
    conf["las"] = {**{code: defaults[la.gss_code[:3]] for code, la in local_authorities().items()
                      if la.gss_code[:3] in defaults}, **conf["las"]}
    return conf


def fixed_timestamp(year: int) -> datetime:
    """Files carry generation timestamps; a fixed one per year keeps re-generation byte-identical."""
    return datetime(year, 5, 15, 9, 30, 0)


# ---------------------------------------------------------------------------
# The fault manifest (ground truth of every injected mistake)
# ---------------------------------------------------------------------------

FAULT_FIELDS = [
    "fault_id", "la", "collection", "year", "path", "table", "row", "locator",
    "column", "original", "injected", "rule", "outcome", "note",
]


@dataclass
class FaultLog:
    """Every injected fault, with where it is and which rule (conf/rules.yaml) must catch it.

    `path` is relative to the generator's output directory; `row` is the 1-based data-row
    number in a CSV (after the header) or the Excel row number in a workbook, and for XML
    the 1-based ordinal of the row element of `table` within the file; `locator` adds what
    a person needs to find it (e.g. LAchildID).
    """

    rows: list[dict] = field(default_factory=list)

    def add(self, *, la: str, collection: str, year: int, path: str, rule: str, table: str = "",
            row: int | None = None, locator: str = "", column: str = "", original: Any = "",
            injected: Any = "", outcome: str | None = None, note: str = "") -> None:
        self.rows.append({
            "la": la, "collection": collection, "year": int(year), "path": path, "table": table,
            "row": "" if row is None else int(row), "locator": locator, "column": column,
            "original": "" if original is None else str(original),
            "injected": "" if injected is None else str(injected),
            "rule": rule, "outcome": outcome or rule_outcome(rule), "note": note,
        })

    def extend(self, other: "FaultLog") -> None:
        self.rows.extend(other.rows)

    def write(self, path: Path) -> None:
        ordered = sorted(self.rows, key=lambda r: (r["path"], r["table"], str(r["row"]).zfill(9), r["column"], r["rule"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=FAULT_FIELDS, lineterminator="\n")
            w.writeheader()
            for i, r in enumerate(ordered, 1):
                w.writerow({"fault_id": i, **r})


def rule_outcome(rule: str) -> str:
    rules = load_yaml("rules.yaml")["rules"]
    if rule not in rules:
        raise KeyError(f"fault rule {rule!r} is not in conf/rules.yaml")
    return rules[rule]["outcome"]


def fault_outcome(rule: str, collection: str, injected: Any) -> str:
    """The outcome silver gives this fault: the rule's, or quarantine where conf/rules.yaml's
    ``rejected`` lists the collection and the kind of case-only difference (CODE_CASE: ``padding``
    when the value carries spaces around it, ``case`` otherwise)."""
    rejected = (load_yaml("rules.yaml")["rules"].get(rule) or {}).get("rejected") or {}
    text = "" if injected is None else str(injected)
    kind = "padding" if text != text.strip() else "case"
    return "quarantine" if kind in (rejected.get(collection) or ()) else rule_outcome(rule)


# ---------------------------------------------------------------------------
# Deterministic file writing
# ---------------------------------------------------------------------------

_ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_resend(original: Path, copy: Path, data: bytes) -> None:
    """Write the byte-identical copy of ``original`` an LA sends again (FILE_DUPLICATE) as
    the later arrival it is: its modification time an hour after the original's, so that
    which of the two is the duplicate does not hang on the file system's clock resolution
    or on how the names sort."""
    import os

    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(data)
    st = original.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 3600 * 10**9))


def normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip container (xlsx) with fixed member timestamps and order, so that the
    same content gives the same bytes (openpyxl stamps the wall clock into each member)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            dst.writestr(info, src.read(name))
    return out.getvalue()


def dates_between(rng: np.random.Generator, start: date, end: date, n: int) -> list[date]:
    """n uniformly random dates in [start, end]."""
    span = (end - start).days
    if span < 0:
        raise ValueError(f"empty date range {start}..{end}")
    offs = rng.integers(0, span + 1, size=n)
    return [start + timedelta(days=int(o)) for o in offs]


def choice_weighted(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return rng.choice(np.array(keys, dtype=object), size=n, p=p / p.sum())


def chunks(seq: list, size: int) -> Iterable[list]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
