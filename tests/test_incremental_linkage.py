"""Incremental linkage (issue 14): relinking what a change reaches equals linking everything.

Hand-made records in four silver source tables of two LAs, changed four times, each change made in
one (collection, LA) as a resubmitted return would make it. After each change the lake that has
followed every change incrementally is compared, cell for cell (run columns aside), person ids
included, with a lake linked in full from scratch on the same records. The changes hit what a
closure that stopped short would get wrong:

1. A record leaves and a demographic signature that it made ambiguous (two UPN-bearing children
   sharing it) becomes unique: three components in three *unchanged* returns now merge.
2. A new record carries a UPN and an LA child id that until then were two persons: they join.
3. That record goes again (the persons split) and another child's date of birth changes in one
   return: a UPN with two dates of birth, a new conflict.
4. The date is put right: the conflict goes.

Silver's state is simulated as silver records it (``silver.build_partitions``: a fingerprint per
table and LA, moving when that LA's rows move); the records come in through ``extract_records``,
as test_linkage's hand-made records do. Journeys are left to the region tests
(tests/test_incremental.py), which build them from real silver.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd

from cslake import catalog, pseudo
from cslake.lake import Lake

KEY = "incremental-linkage-key-0123456789abcdef"
SOURCES = {"cin": "cin_child", "ssda903": "header", "school_census": "pupils", "sen2": "sen2_person"}
LAS = ("201", "202")
D_SHARED = dt.date(2014, 6, 9)  # B, C, D and a SEN2 record agree on it in LA 202


def _rec(collection, la, year, key, upn=None, la_id=None, dob=dt.date(2015, 3, 1), sex="M", eth="WBRI", pc=None,
         row=1, file="f1"):
    from tests.test_linkage import HAND_KEY

    h = pseudo.date_hash_value(dob, key=HAND_KEY) if dob else None
    return (collection, SOURCES[collection], la, year, key, upn, None, la_id, None, dob.replace(day=1) if dob else None,
            h, sex, eth, pc, f"{file}:{collection}:{la}", row)


def _base() -> list[tuple]:
    return [
        # A: CIN and the school census by UPN, SEN2 by demographics alone.
        _rec("cin", "201", 2024, "A1", upn="UA", la_id="A1", dob=dt.date(2013, 1, 5)),
        _rec("school_census", "201", 2024, "UA", upn="UA", dob=dt.date(2013, 1, 5)),
        _rec("sen2", "201", 2025, "row:a", dob=dt.date(2013, 1, 5), row=3),
        # B (UPN), C (an LA id) and a SEN2 record agree in LA 202; D (another UPN) makes it ambiguous.
        _rec("school_census", "202", 2024, "UB", upn="UB", dob=D_SHARED, sex="F", eth="BAFR"),
        _rec("ssda903", "202", 2024, "C1", la_id="C1", dob=D_SHARED, sex="F", eth="BAFR"),
        _rec("sen2", "202", 2024, "row:b", dob=D_SHARED, sex="F", eth="BAFR", row=7),
        _rec("cin", "202", 2025, "D1", upn="UD", la_id="D1", dob=D_SHARED, sex="F", eth="BAFR"),
        # E twice, unlinked: a UPN in the school census, an LA id (and another ethnicity) in SSDA903.
        _rec("school_census", "201", 2025, "UE", upn="UE", dob=dt.date(2011, 9, 30), eth="WBRI"),
        _rec("ssda903", "201", 2025, "E9", la_id="E9", dob=dt.date(2011, 9, 30), eth="AOTH"),
        # Children no change reaches.
        *[_rec("cin", la, y, f"N{la}{y}{i}", upn=f"UN{la}{i}", la_id=f"N{la}{y}{i}", dob=dt.date(2008 + i, 2, i + 1))
          for la in LAS for y in (2024, 2025) for i in range(3)],
        *[_rec("school_census", la, 2025, f"UN{la}{i}", upn=f"UN{la}{i}", dob=dt.date(2008 + i, 2, i + 1))
          for la in LAS for i in range(3)],
    ]


def _changes() -> list[tuple[str, callable]]:
    def drop_d(rows):  # 1. CIN 202 resubmitted without D
        return [r for r in rows if r[4] != "D1"]

    def bridge_e(rows):  # 2. CIN 201 2025 arrives holding E's UPN and E's LA id
        return rows + [_rec("cin", "201", 2025, "E9", upn="UE", la_id="E9", dob=dt.date(2011, 9, 30), file="f2")]

    def split_e_and_redate_a(rows):  # 3. CIN 201 resubmitted: no bridge, A born on another day
        out = [r for r in rows if not (r[0] == "cin" and r[4] == "E9")]
        return [_rec("cin", "201", 2024, "A1", upn="UA", la_id="A1", dob=dt.date(2013, 1, 6), file="f3")
                if r[0] == "cin" and r[4] == "A1" else r for r in out]

    def undate_a(rows):  # 4. CIN 201 resubmitted again: A's date put right, the conflict gone
        return [_rec("cin", "201", 2024, "A1", upn="UA", la_id="A1", dob=dt.date(2013, 1, 5), file="f4")
                if r[0] == "cin" and r[4] == "A1" else r for r in rows]

    return [("drop D", drop_d), ("bridge E", bridge_e), ("split E, redate A", split_e_and_redate_a),
            ("A's date put right", undate_a)]


def _state(rows) -> pd.DataFrame:
    """silver.build_partitions as silver would record these records: per table and LA, a
    fingerprint of its rows; '*' the table-wide part."""
    now = dt.datetime(2026, 1, 1)
    out = []
    for collection, table in SOURCES.items():
        name = catalog.silver_name(collection, table)
        out.append({"table": name, "la": "*", "fingerprint": "wide", "files": None, "run_id": "r", "built_at": now})
        for la in LAS:
            mine = sorted(json.dumps(r, default=str) for r in rows if r[0] == collection and r[2] == la)
            fp = hashlib.sha256("\n".join(mine).encode()).hexdigest()
            out.append({"table": name, "la": la, "fingerprint": fp, "files": 1, "run_id": "r", "built_at": now})
    return pd.DataFrame(out)


def _link(spark, root, rows, monkeypatch, full=False):
    """One linkage build of ``rows`` in the lake at ``root`` (its silver source tables created empty
    the first time: the records come through extract_records)."""
    from cslake.catalog import table_spec
    from cslake.linkage import build as B
    from tests.test_linkage import RECORD_SCHEMA

    lake = Lake(root, spark=spark)
    for collection, table in SOURCES.items():
        name = catalog.silver_name(collection, table)
        if not lake.exists(name):
            lake.write_table(spark.createDataFrame([], table_spec(name).spark_schema()), name)
    lake.write_pandas(_state(rows), catalog.silver.build_partitions, mode="overwrite")

    def records(_lake, _conf, units=None):
        from cslake.linkage.records import aggregate_records

        keep = [r for r in rows if units is None or (catalog.silver_name(r[0], r[1]) in units and (
            units[catalog.silver_name(r[0], r[1])] is None or r[2] in units[catalog.silver_name(r[0], r[1])]))]
        return aggregate_records(spark.createDataFrame(keep, RECORD_SCHEMA)), ["hand-made"]

    monkeypatch.setattr(B, "extract_records", records)
    monkeypatch.setattr("cslake.linkage.journeys.journey_frames", lambda read, spine: {})
    return lake, B.build_linkage(lake, full=full)


def _persons(lake) -> dict[str, str]:
    pdf = lake._delta("silver.person_spine").to_pandas()
    return dict(zip(pdf.record_key + "@" + pdf.collection, pdf.person_id))


def test_incremental_linkage_equals_a_full_build_after_each_change(spark, tmp_path, monkeypatch):
    from cslake.reports.parity import compare_lakes

    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    rows = _base()
    lake, first = _link(spark, tmp_path / "lake", rows, monkeypatch)
    assert first.mode == "full" and first.persons > 0
    again = _link(spark, tmp_path / "lake", rows, monkeypatch)[1]
    assert again.mode == "unchanged", again.summary()

    expected_units = [{"silver.cin_child": ["202"]}] + [{"silver.cin_child": ["201"]}] * 3
    for step, ((what, change), units) in enumerate(zip(_changes(), expected_units), start=1):
        rows = change(rows)
        before = _persons(lake)
        lake, inc = _link(spark, tmp_path / "lake", rows, monkeypatch)
        assert inc.mode == "incremental" and inc.units == units, (what, inc.summary())
        full, _ = _link(spark, tmp_path / f"full_{step}", rows, monkeypatch, full=True)
        parity = compare_lakes(lake, full, layers=("silver",))
        linked = {"silver.person_spine", "silver.person", "silver.linkage_records", "silver.linkage_state"}
        assert linked <= {t.table for t in parity.tables}
        assert not parity.differing, (what, parity.summary())
        after = _persons(lake)
        # Only what the change reaches was linked again; the untouched children kept their ids.
        assert 0 < inc.affected < inc.records, (what, inc.affected, inc.records)
        untouched = [k for k in after if k.startswith("N")]
        assert untouched and all(after[k] == before[k] for k in untouched), what
        if what == "drop D":
            assert after["UB@school_census"] == after["C1@ssda903"] == after["row:b@sen2"]
            assert before["UB@school_census"] != before["C1@ssda903"]
        if what == "bridge E":
            assert after["UE@school_census"] == after["E9@ssda903"] != before["E9@ssda903"]
        if what.startswith("split"):
            assert after["UE@school_census"] != after["E9@ssda903"]
            conflicts = lake._delta("silver.linkage_conflicts").to_pandas()
            assert (conflicts.key_hash == "UA").any() and set(conflicts.conflict) == {"upn_dob"}, conflicts
        if what.startswith("A's date"):
            assert lake._delta("silver.linkage_conflicts").to_pandas().empty


def test_a_change_reaching_most_records_links_them_all(spark, tmp_path, monkeypatch):
    """Above RELINK_ALL_SHARE of the records affected, every record is linked again: the same result."""
    from cslake.linkage import incremental
    from cslake.reports.parity import compare_lakes

    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    rows = _base()
    lake, _ = _link(spark, tmp_path / "lake", rows, monkeypatch)
    monkeypatch.setattr(incremental, "RELINK_ALL_SHARE", 0.0)
    rows = _changes()[0][1](rows)
    lake, inc = _link(spark, tmp_path / "lake", rows, monkeypatch)
    assert inc.mode == "incremental" and inc.affected == inc.records
    full, _ = _link(spark, tmp_path / "full", rows, monkeypatch, full=True)
    assert not compare_lakes(lake, full, layers=("silver",)).differing


def test_plan_links_all_when_it_must_and_nothing_when_nothing_moved():
    from cslake.linkage.incremental import OWN, plan_linkage

    silver = {("silver.cin_child", "*"): "w", ("silver.cin_child", "201"): "a", ("silver.cin_child", "202"): "b",
              ("silver.ssda903_header", "*"): "w", ("silver.ssda903_header", "201"): "c"}
    tables = ["silver.cin_child", "silver.ssda903_header"]
    done = plan_linkage(silver, {}, "own", tables).state
    assert done[OWN] == "own" and len(done) == 6
    assert plan_linkage(silver, {}, "own", tables).mode == "full"
    assert plan_linkage(silver, done, "own", tables).mode == "unchanged"
    assert plan_linkage(silver, done, "own", tables, full=True).mode == "full"
    assert plan_linkage(silver, done, "another key", tables).mode == "full"
    moved = {**silver, ("silver.cin_child", "202"): "b2", ("silver.cin_child", "203"): "new"}
    p = plan_linkage(moved, done, "own", tables)
    assert p.mode == "incremental" and p.units == {"silver.cin_child": ["202", "203"]}
    # An LA gone from silver, a table-wide change, a source table gone: each its own way.
    assert plan_linkage({k: v for k, v in silver.items() if k[1] != "201" or k[0] != "silver.cin_child"}, done,
                        "own", tables).units == {"silver.cin_child": ["201"]}
    assert plan_linkage({**silver, ("silver.ssda903_header", "*"): "w2"}, done, "own", tables).units == {
        "silver.ssda903_header": None}
    assert plan_linkage(silver, done, "own", tables[:1]).units == {"silver.ssda903_header": None}
    assert plan_linkage({k: v for k, v in silver.items() if k[0] != "silver.ssda903_header"}, done, "own",
                        tables).mode == "full"  # a source table silver has no state for
