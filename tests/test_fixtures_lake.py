"""The shared lakes' read-only check (tests/fixtures_lake.py) sees a write, and a copy is a
lake of its own: the session's shared lakes are only as read-only as this check is sharp."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from deltalake import write_deltalake

from cslake.lake import Lake
from tests.fixtures_lake import BuiltLake, _files, copy_lake


def _tiny_built(spark, root: Path) -> BuiltLake:
    # A made-up table (no declared spec), so written with delta-rs rather than Lake.write_table.
    write_deltalake(f"{root}/gold/fixture_check", pd.DataFrame({"la": ["201"], "rows": [1]}))
    return BuiltLake(Lake(root, spark=spark), root / "raw", "k", {}, {}, {}, {}, _files(root))


def test_a_write_to_a_shared_lake_is_seen_and_a_copy_is_not(spark, tmp_path):
    built = _tiny_built(spark, tmp_path / "shared")
    assert built.changed_files() == []
    # A copy is written to: the shared lake is untouched.
    copy = copy_lake(built, tmp_path / "copy")
    assert copy.tables() == ["gold.fixture_check"]
    write_deltalake(f"{copy.root}/gold/fixture_check", pd.DataFrame({"la": ["202"], "rows": [2]}), mode="append")
    assert copy.version("gold.fixture_check") == 1 and built.lake.version("gold.fixture_check") == 0
    assert built.changed_files() == []
    # The shared lake itself is written to: a new Delta commit is seen.
    write_deltalake(f"{built.lake.root}/gold/fixture_check", pd.DataFrame({"la": ["203"], "rows": [3]}),
                    mode="append")
    changed = built.changed_files()
    assert "gold/fixture_check/_delta_log/00000000000000000001.json" in changed
