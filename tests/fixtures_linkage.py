"""The linked lake of the linkage and research tests: the session's shared dirty lake
(``tests.fixtures_lake.built_lake``: the small dirty generated region landed, built to
silver and linked once per session), read-only; ``linked_copy`` for a test that rebuilds."""

from __future__ import annotations

import pytest

from cslake import pseudo
from tests.fixtures_lake import KEY, copy_lake

__all__ = ["KEY", "linked", "linked_copy", "lake_key"]


@pytest.fixture(scope="session")
def linked(built_lake):
    """(lake, linkage build report, raw folder), read-only. The key was set only while
    building, so other areas' tests see their own environment; tests that hash ask for lake_key."""
    return built_lake.lake, built_lake.reports["linkage"], built_lake.raw


@pytest.fixture
def linked_copy(built_lake, tmp_path):
    """The same, on a copy of the lake this test may write to."""
    return copy_lake(built_lake, tmp_path / "lake"), built_lake.reports["linkage"], built_lake.raw


@pytest.fixture
def lake_key(monkeypatch):
    """The linked lake's key, for the duration of one test."""
    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    return KEY
