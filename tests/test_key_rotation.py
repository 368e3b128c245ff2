"""Key rotation (issue 16: "one key per lake ... key rotation is an explicit command that rebuilds
silver, the spine, gold, the extract and re-scores the models in one go").

A copy of the shared clean gold lake is rotated to a new key, the first attempt killed before it
builds anything. Checked against computations that do not use the code under test:
- each hashed identifier in silver equals the HMAC under the new key of the raw value in bronze
  (the Python twin ``pseudo.hash_value``, not the Spark UDF silver uses), and no value hashed under
  the old key is left in any silver column;
- the spine groups exactly the same source records into persons (only the ids change);
- every published gold cell is what it was (aggregates do not depend on the key);
- the lake records the new key, refuses the old one, and refuses both while a rotation is unfinished.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cslake import pipeline, pseudo
from cslake.reports.parity import compare_lakes
from cslake.stages import StageError
from tests.fixtures_lake import GOLD_KEY, copy_lake

NEW_KEY = "rotated-gold-test-key-fedcba9876543210"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def hashed_values(lake) -> dict[tuple[str, str], set[str]]:
    """(silver table, column) -> the distinct hex digests in it, for every ``*_hash`` column."""
    out = {}
    for t in lake.tables():
        if not t.startswith("silver."):
            continue
        df = lake.read_table(t)
        for c in df.columns:
            if c.endswith("_hash"):
                out[(t, c)] = {r[0] for r in df.select(c).distinct().collect() if r[0] is not None}
    return out


def persons(lake) -> set[frozenset]:
    """The spine's grouping of source records into persons, without the person ids."""
    rows = lake.read_table("silver.person_spine").select(
        "person_id", "collection", "table", "la", "year", "_file_sha256", "_row").collect()
    groups: dict[str, set] = {}
    for r in rows:
        groups.setdefault(r.person_id, set()).add((r.collection, r.table, r.la, r.year, r._file_sha256, r._row))
    return {frozenset(g) for g in groups.values()}


def raw_and_hashed(lake, table: str, raw_col: str, hash_col: str) -> list[tuple[str, str, str]]:
    """(LA, raw value in bronze, its hash in silver) for each silver row with that hash."""
    bronze = lake.read_table(f"bronze.{table}").select("_file_sha256", "_row", raw_col)
    silver = lake.read_table(f"silver.{table}").select("_file_sha256", "_row", "_la", hash_col)
    joined = silver.join(bronze, ["_file_sha256", "_row"]).where(silver[hash_col].isNotNull()).collect()
    return [(r._la, r[raw_col], r[hash_col]) for r in joined]


def test_rotating_the_key_rehashes_every_identifier_and_changes_no_figure(gold_built, tmp_path, monkeypatch):
    lake = copy_lake(gold_built, tmp_path / "lake")
    root = str(lake.root)
    old_file, new_file = tmp_path / "old.key", tmp_path / "new.key"
    old_file.write_text(GOLD_KEY)
    new_file.write_text(NEW_KEY)
    monkeypatch.delenv(pseudo.KEY_ENV, raising=False)
    monkeypatch.setenv(pseudo.KEY_FILE_ENV, str(old_file))
    old_fp = pseudo.check_lake_key(root)  # the lake as built records its key
    before_hashes, before_persons = hashed_values(lake), persons(lake)
    assert sum(len(v) for v in before_hashes.values()) > 1000 and len(before_persons) > 100

    monkeypatch.setenv(pseudo.KEY_FILE_ENV, str(new_file))
    # Without proof of the present key, nothing starts.
    with pytest.raises(pseudo.KeyMismatchError, match="--old-key-file"):
        pipeline.rotate_key(lake=root, old_key_file=None, research=None)
    with pytest.raises(pseudo.KeyMismatchError, match="--old-key-file"):
        pipeline.rotate_key(lake=root, old_key_file=str(new_file), research=None)
    assert json.loads((Path(root) / pseudo.LAKE_KEY_FILE).read_text()).get("rotating_to") is None

    # Killed after the rotation began, before silver was rebuilt.
    def killed(*a, **k):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(pipeline, "build_silver", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.rotate_key(lake=root, old_key_file=str(old_file), research=None)
    monkeypatch.undo()
    monkeypatch.delenv(pseudo.KEY_ENV, raising=False)
    # Half-rotated: every other run refuses, under either key, in one line.
    for key_file in (old_file, new_file):
        monkeypatch.setenv(pseudo.KEY_FILE_ENV, str(key_file))
        with pytest.raises(pseudo.KeyMismatchError, match="unfinished") as exc:
            pipeline.silver(lake=root, force=False)
        assert "\n" not in str(exc.value) and exc.value.exit_code == 3

    # Resumed with the new key alone.
    monkeypatch.setenv(pseudo.KEY_FILE_ENV, str(new_file))
    out = pipeline.rotate_key(lake=root, old_key_file=None, research=None)
    assert out["gold"] is not None and out["scores"] == {}  # no score tables in this lake

    record = json.loads((Path(root) / pseudo.LAKE_KEY_FILE).read_text())
    new_fp = pseudo.key_fingerprint(NEW_KEY.encode())
    assert record["fingerprint"] == new_fp and record["previous"] == old_fp and "rotating_to" not in record
    assert GOLD_KEY not in json.dumps(record) and NEW_KEY not in json.dumps(record)
    monkeypatch.setenv(pseudo.KEY_FILE_ENV, str(old_file))
    with pytest.raises(pseudo.KeyMismatchError, match="not this lake's key"):
        pseudo.check_lake_key(root)
    monkeypatch.setenv(pseudo.KEY_FILE_ENV, str(new_file))
    assert pseudo.check_lake_key(root) == new_fp

    # Every hashed column: as many distinct values as before, none of them an old one.
    after_hashes = hashed_values(lake)
    assert after_hashes.keys() == before_hashes.keys()
    for col, values in after_hashes.items():
        assert len(values) == len(before_hashes[col]), col
        assert not values & before_hashes[col], f"{col} still holds values hashed under the old key"
        assert all(HEX64.match(v) for v in values), col
    # ...each the new key's HMAC of the raw value in bronze, computed here without Spark.
    new_key = NEW_KEY.encode()
    checked = 0
    for table, raw_col, hash_col, cls in [("cin_child", "UPN", "UPN_hash", "upn"),
                                          ("cin_child", "LAchildID", "LAchildID_hash", "la_child_id")]:
        rows = raw_and_hashed(lake, table, raw_col, hash_col)
        assert rows, (table, hash_col)
        for la, raw, hashed in rows:
            assert hashed == pseudo.hash_value(cls, raw, la, key=new_key), (table, raw_col, la)
        checked += len(rows)
    assert checked > 100

    # The same records make the same persons; every published figure is unchanged.
    assert persons(lake) == before_persons
    diff = compare_lakes(gold_built.lake.root, lake.root, layers=["gold"])
    assert not diff.differing, diff.summary()

    # A second rotation back needs the (now present) new key as proof; the same key twice is a usage error.
    with pytest.raises(StageError, match="already this lake's key"):
        pipeline.rotate_key(lake=root, old_key_file=str(new_file), research=None)


def _one_row(name: str) -> "pd.DataFrame":
    """One made-up row of table ``name``: every column filled with a value of its declared type."""
    import datetime as dt

    import pandas as pd

    from cslake.catalog import table_spec

    value = {"string": "x", "int": 1, "bigint": 1, "double": 0.5, "boolean": True,
             "date": dt.date(2025, 3, 31), "timestamp": dt.datetime(2025, 3, 31, 12)}
    return pd.DataFrame([{c.name: value[c.type] for c in table_spec(name).columns}])


def test_keyed_scores_no_champion_can_rescore_are_emptied(spark, tmp_path, monkeypatch):
    """Rows of person ids under the old key must not outlive it: each score table holding keyed ids
    (early-warning scores, the fire-prevention referral list) is emptied when its model has no champion."""
    from cslake import catalog
    from cslake.lake import Lake

    from cslake.models import early_warning, tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")  # no model registered
    # Early warning reads the linked journeys before its champions; this lake has none, so its scoring
    # is cut to the champion lookup it would fail on after a rotation (fire risk's runs as it is).
    monkeypatch.setattr(pipeline, "score_early_warning",
                        lambda lk: tracking.load_champion(early_warning.MODEL_NAMES["rereferral"]))
    lake = Lake(tmp_path / "lake", spark=spark)
    tables = [catalog.gold_restricted.early_warning_scores, catalog.gold_restricted.fire_prevention_referrals]
    for t in tables:
        lake.write_pandas(_one_row(t), t, mode="overwrite")
        assert lake.read_table(t).count() == 1
    out = pipeline.rescore_after_rotation(lake)
    assert set(out) == set(tables)
    for t in tables:
        assert out[t].startswith("emptied (no ") and "train one first" in out[t], out[t]
        assert lake.read_table(t).count() == 0
    assert pipeline.rescore_after_rotation(Lake(tmp_path / "empty", spark=spark)) == {}
