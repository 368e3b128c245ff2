"""Synthetic-region fixtures: small generated regions every area's tests can share.

Generated once per test session into a temporary folder (a few seconds each).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from cslake.config import region
from tests.shared_build import build_once

# Three London LAs (City of London is tiny: an edge case for every count and rate),
# three years spanning SEN2's start, the 903 social-worker table and the 2025 sex codes.
SMALL_LAS = ("201", "202", "203")
SMALL_YEARS = [2023, 2024, 2025]
SMALL_SCALE = 0.02
SMALL_SEED = 7


def small_region():
    r = region("london")
    return dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code in SMALL_LAS))


def generate_small(out: Path, *, dirt_rate=None, file_dirt_rate=None, seed=SMALL_SEED, years=None,
                   scale=SMALL_SCALE, workers=1, collections=None):
    from cslake.synth.generate import generate_region

    return generate_region(small_region(), years or SMALL_YEARS, scale=scale, seed=seed, out=out,
                           dirt_rate=dirt_rate, file_dirt_rate=file_dirt_rate, workers=workers,
                           collections=collections, progress=False)


def _generated(folder: Path, **kwargs) -> Path:
    generate_small(folder / "raw", workers=2, **kwargs)
    return folder / "raw"


@pytest.fixture(scope="session")
def synth_raw(tmp_path_factory) -> Path:
    """A small dirty region (default dirt rates): the raw drop zone path, with _truth/ inside.
    Generated once per test run (tests/shared_build.py); read-only."""
    return build_once(tmp_path_factory, "synth_raw", _generated)


@pytest.fixture(scope="session")
def synth_clean_raw(tmp_path_factory) -> Path:
    """The same small region with no injected faults. Generated once per test run; read-only."""
    return build_once(tmp_path_factory, "synth_clean_raw",
                      lambda folder: _generated(folder, dirt_rate=0.0, file_dirt_rate=0.0))


def truth_meta(raw: Path) -> dict:
    return json.loads((raw / "_truth" / "generation.json").read_text())


def copy_raw_subset(src: Path, dst: Path, collections, context=(), keep_903_columns=None) -> Path:
    """Copy part of a generated drop zone: the named collections of every LA, the named
    context folders, and (if given) only the SSDA903 CSVs whose header has one of
    `keep_903_columns` (recognised by header, as the pipeline does). Tests that need a few
    tables land this instead of the whole region."""
    def unneeded_903(folder, names):
        if keep_903_columns is None or "ssda903" not in str(folder):
            return []
        skip = []
        for n in names:
            if n.endswith(".csv"):
                first = (Path(folder) / n).read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
                if not set(keep_903_columns) & set(first.strip().split(",")):
                    skip.append(n)
        return skip

    for la_dir in src.iterdir():
        if la_dir.name.isdigit():
            for c in collections:
                if (la_dir / c).is_dir():
                    shutil.copytree(la_dir / c, dst / la_dir.name / c, ignore=unneeded_903)
    for c in context:
        shutil.copytree(src / "context" / c, dst / "context" / c)
    return dst
