"""The suite's built lakes: each built once per test session, shared, read-only.

Building a lake (land → silver → linkage → gold) is most of what a test run costs, so the
silver, linkage, gold, research and land tests share two lakes built here, and the model
tests a third, instead of each module building its own:

- ``built_lake``: the small *dirty* region (``synth_raw``: faults injected) landed, every
  collection to silver, linked. The silver tests need the faults (each must be caught by
  the rule the generator names) and linkage is measured on dirty identifiers.
- ``gold_built``: the same small region generated *clean* (``synth_clean_raw``), only what
  the gold tables read, landed → silver → riia_indicators (before linkage: the build's
  fallback without a person spine) → linkage → gold. The gold tests compare every cell
  with an independent computation straight from the raw files, which is exact only when
  no row was quarantined: they cannot share the dirty lake, nor the silver tests a clean one.

- ``models_built``: the early-warning models' region (``MODELS_YEARS``, four years, at
  ``MODELS_SCALE``: the models need children with history to learn from), generated clean
  and, like ``gold_built``, landed with only what the models read: CIN, and of the SSDA903
  set the episodes (care history) and the header (identifiers for linkage). The other
  SSDA903 tables change nothing the models see (measured: the same units, test sets and
  metrics) but cost 40% of the silver build, which costs the same per table at any scale.
  Landed → silver → linked. The model tests train on a copy.

Each is built once per test *run*: under the README's two xdist workers, the first worker to ask
builds it and the other gets the same folder, its tables registered on its own session
(``tests/shared_build.py``).

Read-only is checked, not hoped for: when the session ends each lake's files (every path,
size and mtime, so every Delta version) must be as the build left them, or the session fails
with the paths that changed. A test that writes (idempotence, rebuilds, resubmissions) works
on ``copy_lake(built, tmp_path)``, a copy with its tables registered under their names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from cslake import pseudo
from cslake.lake import Lake
from tests.shared_build import build_once

# The keys the lakes were built with: tests that hash an identifier as silver did use them.
KEY = "shared-lake-test-key-0123456789abcdef"
GOLD_KEY = "shared-gold-test-key-0123456789abcdef"

# What the gold tests read (tests/test_gold_riia.py, tests/test_gold_tables.py): the
# collections, the context folders and, of the SSDA903 set, the episodes (DECOM), header
# (ETHNIC), UASC (DUC), OC2 (SDQ_SCORE) and missing (MIS_START) files.
GOLD_COLLECTIONS = ("cin", "ssda903", "sen2", "riia_quarterly", "csww")
GOLD_CONTEXT = ("population", "ofsted")
GOLD_903_COLUMNS = ("DECOM", "ETHNIC", "DUC", "SDQ_SCORE", "MIS_START")
# The early-warning models' region (tests/test_models_early_warning.py, models_built): three
# LAs over four years (the last year's outcomes are not yet known, so three years of labelled
# history), at five times the small regions' scale; what the models read of it (see above).
MODELS_KEY = "models-ew-test-key-0123456789abcdef"
MODELS_YEARS = [2022, 2023, 2024, 2025]
MODELS_SCALE = 0.1
MODELS_COLLECTIONS = ("cin", "ssda903")
MODELS_903_COLUMNS = ("DECOM", "ETHNIC")

GOLD_TABLES = ["riia_indicators", "annual_characteristics", "assessment_factors", "workforce", "ofsted",
               "adolescent_cohort", "cla_outcomes", "lead_herd"]


@dataclasses.dataclass(frozen=True)
class BuiltLake:
    """A lake built once for the session. ``reports`` holds each stage's report by name
    (``land``, ``silver``, ``linkage``, ``gold``, …); ``tables_after`` the lake's tables
    after each stage; ``versions`` the Delta version of each table after each stage (for
    time travel to an earlier stage's table); ``logs`` the log records of a stage, where kept."""

    lake: Lake
    raw: Path
    key: str
    reports: dict[str, Any]
    tables_after: dict[str, list[str]]
    versions: dict[str, dict[str, int]]
    logs: dict[str, list[logging.LogRecord]]
    files: dict[str, tuple[int, int]]

    def changed_files(self) -> list[str]:
        """Paths under the lake root added, removed or rewritten since the build."""
        now = _files(Path(self.lake.root))
        return sorted(p for p in set(now) | set(self.files) if now.get(p) != self.files.get(p))


def _files(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            st = p.stat()
            out[p.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def _versions(lake: Lake) -> dict[str, int]:
    return {t: lake.version(t) for t in lake.tables()}


def copy_lake(built: BuiltLake, dst: Path) -> Lake:
    """A writable copy of a shared lake at ``dst`` (a new folder), its tables registered
    in the session's catalog under their names (they pointed at another lake before)."""
    shutil.copytree(built.lake.root, dst)
    lake = Lake(dst, spark=built.lake.spark)
    lake.register_all()
    return lake


@contextlib.contextmanager
def _key(key: str):
    """The lake's hashing key set in the environment for a build, as a user sets it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(pseudo.KEY_ENV, key)
        yield


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


class _Build:
    """Runs stages on one lake with the key set, keeping each stage's report, tables and versions."""

    def __init__(self, lake: Lake, raw: Path, key: str):
        self.lake, self.raw, self.key = lake, raw, key
        self.reports: dict[str, Any] = {}
        self.tables_after: dict[str, list[str]] = {}
        self.versions: dict[str, dict[str, int]] = {}
        self.logs: dict[str, list[logging.LogRecord]] = {}

    def stage(self, name: str, fn, *args, log: str | None = None, **kwargs):
        records = _Records()
        logger = logging.getLogger(log) if log else None
        if logger is not None:
            logger.addHandler(records)
        try:
            self.reports[name] = fn(self.lake, *args, **kwargs)
        finally:
            if logger is not None:
                logger.removeHandler(records)
                self.logs[name] = records.records
        self.versions[name] = _versions(self.lake)
        self.tables_after[name] = sorted(self.versions[name])
        return self.reports[name]

    def done(self) -> dict[str, Any]:
        """What the build leaves for every worker (see tests/shared_build.py): all but the session."""
        return dict(root=str(self.lake.root), raw=self.raw, key=self.key, reports=self.reports,
                    tables_after=self.tables_after, versions=self.versions,
                    logs={k: [_portable(r) for r in v] for k, v in self.logs.items()},
                    files=_files(Path(self.lake.root)))


def _portable(record: logging.LogRecord) -> logging.LogRecord:
    """A log record that pickles: its message formatted, its exception as text."""
    d = dict(record.__dict__)
    if d.get("exc_info") and not d.get("exc_text"):
        d["exc_text"] = logging.Formatter().formatException(d["exc_info"])
    d.update(msg=record.getMessage(), args=None, exc_info=None)
    return logging.makeLogRecord(d)


def _on_this_worker(spark, built: dict[str, Any]) -> BuiltLake:
    """The shared build's lake on this worker's session, its tables registered by name."""
    built = dict(built)
    lake = Lake(built.pop("root"), spark=spark)
    lake.register_all()
    return BuiltLake(lake, **built)


def _shared(built: BuiltLake):
    yield built
    changed = built.changed_files()
    assert not changed, (f"a test wrote to the shared read-only lake {built.lake.root} "
                         f"(use tests.fixtures_lake.copy_lake): {changed[:20]}")


@pytest.fixture(scope="session")
def built_lake(spark, synth_raw, tmp_path_factory):
    """The small dirty region landed, every collection built to silver, then linked.
    Stages: ``land``, ``silver``, ``linkage``. Read-only (see the module docstring)."""
    from cslake.land import land_raw
    from cslake.linkage import build_linkage
    from cslake.silver import build_silver

    def build(root: Path) -> dict[str, Any]:
        with _key(KEY):
            b = _Build(Lake(root / "lake", spark=spark), synth_raw, KEY)
            b.stage("land", land_raw, synth_raw)
            b.stage("silver", build_silver)
            b.stage("linkage", build_linkage)
        return b.done()

    yield from _shared(_on_this_worker(spark, build_once(tmp_path_factory, "built_lake", build)))


@pytest.fixture(scope="session")
def gold_built(spark, synth_clean_raw, tmp_path_factory):
    """The small clean region, what gold reads, built as the pipeline does plus one gold
    build before linkage. Stages: ``land``, ``silver``, ``gold_unlinked`` (riia_indicators
    only, without a person spine; its ``cslake.gold.riia`` log records kept), ``linkage``,
    ``gold`` (GOLD_TABLES). Read-only (see the module docstring)."""
    from cslake.gold.build import build_gold
    from cslake.land import land_raw
    from cslake.linkage import build_linkage
    from cslake.silver import build_silver
    from tests.fixtures_synth import copy_raw_subset

    def build(root: Path) -> dict[str, Any]:
        raw = copy_raw_subset(synth_clean_raw, root / "raw", GOLD_COLLECTIONS, context=GOLD_CONTEXT,
                              keep_903_columns=GOLD_903_COLUMNS)
        with _key(GOLD_KEY):
            b = _Build(Lake(root / "lake", spark=spark), raw, GOLD_KEY)
            b.stage("land", land_raw, raw)
            b.stage("silver", build_silver)
            b.stage("gold_unlinked", build_gold, ["riia_indicators"], region="london", log="cslake.gold.riia")
            b.stage("linkage", build_linkage)
            b.stage("gold", build_gold, GOLD_TABLES, region="london")
        return b.done()

    yield from _shared(_on_this_worker(spark, build_once(tmp_path_factory, "gold_built", build)))


@pytest.fixture(scope="session")
def models_built(spark, tmp_path_factory):
    """The early-warning models' clean region (MODELS_YEARS at MODELS_SCALE; CIN, SSDA903
    episodes and header), landed, built to silver and linked. Stages: ``land``, ``silver``,
    ``linkage``. Read-only (see the module docstring): the model tests train on a copy."""
    from cslake.land import land_raw
    from cslake.linkage import build_linkage
    from cslake.silver import build_silver
    from tests.fixtures_synth import copy_raw_subset, generate_small

    def build(root: Path) -> dict[str, Any]:
        generated = root / "generated"
        generate_small(generated, dirt_rate=0.0, file_dirt_rate=0.0, years=MODELS_YEARS, scale=MODELS_SCALE,
                       collections=list(MODELS_COLLECTIONS), workers=2)
        raw = copy_raw_subset(generated, root / "raw", MODELS_COLLECTIONS, keep_903_columns=MODELS_903_COLUMNS)
        with _key(MODELS_KEY):
            b = _Build(Lake(root / "lake", spark=spark), raw, MODELS_KEY)
            b.stage("land", land_raw, raw)
            b.stage("silver", build_silver, collections=list(MODELS_COLLECTIONS))
            b.stage("linkage", build_linkage)
        return b.done()

    yield from _shared(_on_this_worker(spark, build_once(tmp_path_factory, "models_built", build)))
