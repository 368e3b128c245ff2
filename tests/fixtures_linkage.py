"""A linked lake on the small dirty generated region, shared by the linkage test files
(land + silver cost most of a minute; they run once per session)."""

from __future__ import annotations

import pytest

from cslake import pseudo

KEY = "linkage-test-key-0123456789abcdef"
# Only what linkage reads: the other collections' silver tables are not needed.
LINKED_COLLECTIONS = ["cin", "ssda903", "annex_a", "sen2", "school_census"]


@pytest.fixture(scope="session")
def linked(spark, synth_raw, tmp_path_factory):
    """(lake, build report, raw folder). The key is set only while building, so other
    areas' tests in the session see their own environment; tests that hash ask for lake_key."""
    from cslake.lake import Lake
    from cslake.land import land_raw
    from cslake.linkage import build_linkage
    from cslake.silver import build_silver

    mp = pytest.MonkeyPatch()
    mp.setenv(pseudo.KEY_ENV, KEY)
    try:
        lake = Lake(tmp_path_factory.mktemp("linkage") / "lake", spark=spark)
        land_raw(lake, synth_raw)
        build_silver(lake, collections=LINKED_COLLECTIONS)
        report = build_linkage(lake)
    finally:
        mp.undo()
    print(report.summary())
    return lake, report, synth_raw


@pytest.fixture
def lake_key(monkeypatch):
    """The linked lake's key, for the duration of one test."""
    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    return KEY
