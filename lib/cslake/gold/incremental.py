"""Incremental gold: a gold table is built again only when something it reads has changed.

A gold table is a function of the lake tables its builder reads, of gold's conf and of gold's
code. A build hands each builder a :class:`Reads` view of the lake, which notes every table the
builder read or looked for, and records in ``gold_restricted.build_state`` a fingerprint of each
of them per gold table, plus the table-wide part (``*``: conf, code, ``--region``):

- a silver table: silver's own fingerprints of it (``silver.build_partitions``, every LA), which
  move exactly when its rows can (an LA's live files, the conf, the key);
- a linkage table (spine, persons, conflicts, journeys, records): linkage's state
  (``silver.linkage_state``), which moves when linkage read changed silver;
- a gold table another reads (lead_herd reads riia_indicators): that table's own fingerprint;
- ``bronze.files``: a hash of what gold reads of it, the returns each LA sent (LA, collection, year),
  per collection (``bronze.files#cin``) where the builder says which it used (``Reads.narrow``),
  so a CIN census does not rebuild a table that reads only SSDA903's returns;
- an absent table: ``absent`` (a table that appears is a change);
- anything else, or a table no state vouches for: no fingerprint, and the gold table is built.

The next build computes the fingerprints of the same inputs again; a table whose inputs and
table-wide part all match, and whose restricted and published copies are both in the lake, is left
as it is. Fingerprints are of content, never Delta versions, so the state is the same whichever
engine built the lake (Apache Spark commits constraints and comments as versions of their own).

The grain is the table: one LA's new CIN census rebuilds every table that reads CIN, for every
LA. Rebuilding only the LAs it touches needs each builder split into per-LA facts and a regional
assembly (categories, factor rankings and repeat referrals reach across LAs): not yet done.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import pandas as pd

from cslake import catalog
from cslake.config import conf_dir
from cslake.gold.common import returns_presence
from cslake.silver.incremental import TABLE_WIDE, content_hash, read_state

if TYPE_CHECKING:
    from cslake.lake import Lake

__all__ = ["ABSENT", "GOLD_VERSION", "Fingerprints", "GoldState", "Reads", "inputs_unchanged", "read_gold_state",
           "table_wide", "write_gold_state"]

#: Bumped when gold's content changes for the same inputs in a way the code hash cannot see.
GOLD_VERSION = 1
ABSENT = "absent"
PART = "#"  # bronze.files#cin: the part of a table a builder read
STATE = catalog.gold_restricted.build_state
# Tables whose content linkage's state vouches for.
LINKAGE_TABLES = frozenset({catalog.silver.person_spine, catalog.silver.person, catalog.silver.linkage_conflicts,
                            catalog.silver.linkage_records, catalog.silver.cin_journey, catalog.silver.care_journey,
                            catalog.silver.send_journey})
# The conf files every gold table reads, beside its own code.
CONF_FILES = ("gold.yaml", "regions.yaml", "la_codes.csv")
GOLD_CODE = Path(__file__).parent
VOCAB_CODE = Path(__file__).parent.parent / "vocab.py"


class Reads:
    """A read-only view of a Lake that notes each table asked for (read, or looked for)."""

    def __init__(self, lake: "Lake"):
        self._lake = lake
        self.names: set[str] = set()
        self._reads: dict[str, int] = {}
        self._narrowed: dict[str, int] = {}
        self._parts: dict[str, set[str]] = {}

    @property
    def spark(self):
        return self._lake.spark

    def exists(self, name: str) -> bool:
        self.names.add(name)
        return self._lake.exists(name)

    def read_table(self, name: str, version: int | None = None):
        self.names.add(name)
        self._reads[name] = self._reads.get(name, 0) + 1
        return self._lake.read_table(name, version=version)

    def narrow(self, name: str, parts: Iterable[str]) -> None:
        """The last read of ``name`` used only ``parts`` of it (bronze.files: the returns of some
        collections, cslake.gold.common.returns_presence)."""
        self._narrowed[name] = self._narrowed.get(name, 0) + 1
        self._parts.setdefault(name, set()).update(parts)

    def inputs(self) -> set[str]:
        """What the builder read: table names, or ``table#part`` where every read of it was narrowed."""
        out = set()
        for name in self.names:
            if name in self._parts and self._narrowed[name] == self._reads.get(name, 0):
                out |= {f"{name}{PART}{p}" for p in self._parts[name]}
            else:
                out.add(name)
        return out


def table_wide(table: str, region: str | None) -> str:
    """A gold table's own part: gold's code (every module of the package, and the vocabulary), its
    conf and ``--region``."""
    code = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(GOLD_CODE.glob("*.py"))}
    code["vocab.py"] = hashlib.sha256(VOCAB_CODE.read_bytes()).hexdigest()
    confs = {f: hashlib.sha256((conf_dir() / f).read_bytes()).hexdigest() for f in CONF_FILES
             if (conf_dir() / f).exists()}
    # Not the key: gold hashes nothing, and a new key moves every silver fingerprint it reads.
    return content_hash([GOLD_VERSION, table, code, confs, region])


@dataclass
class GoldState:
    """gold_restricted.build_state on the driver: gold table -> {input (or '*'): fingerprint}."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)

    def fingerprint(self, table: str) -> str | None:
        inputs = self.tables.get(table)
        return content_hash(sorted(inputs.items())) if inputs else None


@dataclass
class Fingerprints:
    """Content fingerprints of lake tables, each source read once per build (all small)."""

    lake: "Lake"
    state: GoldState  # gold's own, as this build leaves it so far: a gold table's fingerprint is its inputs'
    _silver: dict[str, str] | None = None
    _linkage: str | None = None
    _sent: pd.DataFrame | None = None

    def of(self, name: str) -> str | None:
        name, _, part = name.partition(PART)
        if not self.lake.exists(name):
            return ABSENT
        if name in LINKAGE_TABLES:
            return self._linkage_fp()
        if name == catalog.bronze.files:
            return self._sent_fp(part or None)
        layer, short = name.split(".", 1)
        if layer == "gold_restricted":
            return self.state.fingerprint(short)
        if layer == "silver":
            return self._silver_fps().get(name)
        return None

    def _silver_fps(self) -> dict[str, str]:
        if self._silver is None:
            by_table: dict[str, list] = {}
            for (table, la), fp in sorted(read_state(self.lake).items()):
                by_table.setdefault(table, []).append((la, fp))
            self._silver = {t: content_hash(rows) for t, rows in by_table.items()}
        return self._silver

    def _linkage_fp(self) -> str | None:
        if self._linkage is None:
            state = read_state(self.lake, catalog.silver.linkage_state)
            self._linkage = content_hash(sorted((t, la, fp) for (t, la), fp in state.items())) if state else ""
        return self._linkage or None

    def _sent_fp(self, collection: str | None) -> str:
        """What gold reads of bronze.files, the returns each LA sent: returns_presence's own rows (of
        one collection, when the builder said which it used)."""
        if self._sent is None:
            self._sent = returns_presence(self.lake)
        sent = self._sent if collection is None else self._sent[self._sent["collection"] == collection]
        return content_hash(sorted({(str(c), str(la), str(y)) for c, la, y in
                                    zip(sent["collection"], sent["_la"], sent["_year"])}))


def read_gold_state(lake: "Lake") -> GoldState:
    if not lake.exists(STATE):
        return GoldState()
    rows = lake._delta(STATE).to_pandas(columns=["table", "input", "fingerprint"])
    out: dict[str, dict[str, str]] = {}
    for t, i, fp in zip(rows["table"], rows["input"], rows["fingerprint"]):
        out.setdefault(t, {})[i] = fp
    return GoldState(out)


def inputs_unchanged(recorded: dict[str, str] | None, wide: str, fps: Fingerprints) -> str | None:
    """Why ``recorded`` (a table's inputs at its last build) no longer holds, or None when every
    fingerprint still matches (pure but for the fingerprints it reads)."""
    if not recorded:
        return "no build state"
    if recorded.get(TABLE_WIDE) != wide:
        return "gold's conf, code or region changed"
    for name, fp in sorted(recorded.items()):
        if name == TABLE_WIDE:
            continue
        now = fps.of(name)
        if now is None:
            return f"nothing vouches for {name}"
        if now != fp:
            return f"{name} changed"
    return None


def recorded_inputs(names: Iterable[str], wide: str, fps: Fingerprints) -> dict[str, str] | None:
    """The inputs to record for a table just built; None when one cannot be fingerprinted (the
    table is then built every time)."""
    out = {TABLE_WIDE: wide}
    for name in sorted(names):
        fp = fps.of(name)
        if fp is None:
            return None
        out[name] = fp
    return out


def write_gold_state(lake: "Lake", state: GoldState, run_id: str) -> None:
    """The whole state, one overwrite (written after every table it describes: a build killed before
    it leaves the last state, and a table whose inputs moved since is built again)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [{"table": t, "input": i, "fingerprint": fp, "run_id": run_id, "built_at": now}
            for t, inputs in sorted(state.tables.items()) for i, fp in sorted(inputs.items())]
    cols = ["table", "input", "fingerprint", "run_id", "built_at"]
    lake.write_pandas(pd.DataFrame(rows, columns=cols), STATE, mode="overwrite")
