"""Incremental silver (issue 14): a sequence of arrivals built incrementally equals a full rebuild.

A tiny region (2 LAs, 2 years, CIN + SSDA903 episodes and header, scale 0.02, 5% field dirt: rows are
quarantined and flagged) arrives in four steps, each landed and built with the default (incremental)
``build_silver``:

1. LA 202 both years, LA 203 2024: the first build, every table whole;
2. LA 203's 2025 SSDA903 (a new LA-year) and a broken 2025 CIN file of 203 (rejected);
3. LA 202 resubmits its 2024 CIN return with one child born in 1066 (supersedes the live file);
4. LA 203 sends its 2025 CIN file again, fixed.

After each step only the (collection, LA) whose live files changed is rebuilt (the report, the
untouched tables' Delta versions, the untouched LA's quarantine rows and state keeping their
run); at the end silver and quarantine equal, cell for cell (run columns aside), a full
rebuild (``full=True``) from a copy of the same bronze. Linkage, built after steps 1, 3 and 4 (the
last two incremental: the changed LAs' records of the changed tables), equals a full linkage of
that rebuild, person ids, conflicts and CIN and care journeys included. Gold, built after steps 1 to 4
and once more with nothing new, builds only the tables whose inputs moved (``cslake.gold.incremental``):
after step 2 the table that reads CIN only is left, after steps 3 and 4 the two that read SSDA903 only,
each equal to a build of it then; at the end every gold and restricted table (and gold's state) equals
a full build. The first build writes the tables as a lake from before issue 14 has them, unpartitioned; the
later builds partition each in place by LA.

The replay (``test_random_orders_of_arrivals_equal_a_full_rebuild``): SSDA903 episodes and header of
the same region, six arrivals in seeded random orders cut at random into builds; every order ends
equal to a full rebuild, and every write of a partitioned table touches only the rebuilt LAs'
partitions (read from the Delta log). Linkage, built incrementally after each build, ends equal to a
full linkage (tests/test_incremental_linkage.py tests the closure on hand-made records).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest

from cslake import pseudo
from cslake.lake import Lake

KEY = "incremental-test-key-0123456789abcdef"
LAS = ("202", "203")
YEARS = [2024, 2025]
CIN_TABLES = {"silver.cin_child", "silver.cin_episode"}


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory) -> Path:
    from cslake.config import region
    from cslake.synth.generate import generate_region

    r = region("london")
    r = dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code in LAS))
    out = tmp_path_factory.mktemp("incremental") / "raw"
    generate_region(r, YEARS, scale=0.02, seed=11, out=out, workers=1, collections=["cin", "ssda903"],
                    dirt_rate=0.05, file_dirt_rate=0.0, progress=False)
    # Of the SSDA903 set, the episodes (care history) and the header, recognised by their columns as
    # the pipeline does: every silver table costs about the same at this size, whatever its rows.
    for csv in out.glob("*/ssda903/*/*.csv"):
        if not {"DECOM", "ETHNIC"} & set(csv.read_text(encoding="utf-8-sig").split("\n", 1)[0].strip().split(",")):
            csv.unlink()
    return out


def _arrive(src: Path, drop: Path, rel: str) -> None:
    shutil.copytree(src / rel, drop / rel, dirs_exist_ok=True)


def _later(path: Path, seconds: int = 3600) -> None:
    t = path.stat().st_mtime + seconds
    os.utime(path, (t, t))


def _versions(lake: Lake) -> dict[str, int]:
    return {n: lake.version(n) for n in lake.tables() if n.startswith("silver.") or n.startswith("quarantine.")}


def _runs_by_la(lake: Lake, name: str) -> dict[str, set[str]]:
    df = lake._delta(name).to_pandas()
    return {la: set(g["run_id"]) for la, g in df.groupby("la")}


@pytest.fixture
def unpartitioned():
    """Every table declared without its partition columns (as before issue 14) until called."""
    from cslake import catalog

    declared = [s for s in catalog.all_table_specs() if s.partition_by]
    for s in declared:
        catalog.register_table_spec(dataclasses.replace(s, partition_by=()), replace=True)
    def restore():  # back to conf's own declarations: nothing of this test stays registered
        catalog.unregister([s.name for s in declared])
        catalog.load(reload=True)

    yield restore
    restore()


def test_arrivals_built_incrementally_equal_a_full_rebuild(tiny_raw, spark, tmp_path, monkeypatch, unpartitioned):
    from cslake.catalog import table_spec
    from cslake.gold.build import build_gold
    from cslake.land import land_raw
    from cslake.linkage import build_linkage
    from cslake.reports.parity import compare_lakes
    from cslake.silver import build_silver

    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    drop = tmp_path / "raw"
    lake = Lake(tmp_path / "lake", spark=spark)

    # 1. LA 202 both years, 203's 2024: the first build rebuilds every table whole.
    for rel in ("202/cin", "202/ssda903", "203/cin/2024", "203/ssda903/2024"):
        _arrive(tiny_raw, drop, rel)
    land_raw(lake, drop)
    r1 = build_silver(lake)
    assert r1.tables and all(v["las"] is None for v in r1.tables.values()), r1.tables
    assert "silver.care_history" in r1.tables
    assert build_linkage(lake).mode == "full"
    g1 = build_gold(lake)
    built = {r.table for r in g1.results}
    assert {"riia_indicators", "annual_characteristics", "cla_outcomes"} <= built and not g1.unchanged
    assert all(g1.why[t] == "no build state" for t in built), g1.why
    flags_202 = _runs_by_la(lake, "quarantine.row_flags").get("202")
    assert flags_202 == {r1.run_id}, "the dirty region flags rows of LA 202 (needed below)"
    # That first build wrote the tables unpartitioned, as a lake from before issue 14 has them; from
    # here on they are declared partitioned by LA, and each is partitioned in place when next written.
    assert _layout(lake, "silver.cin_child") == [] and _layout(lake, "quarantine.rows") == []
    unpartitioned()

    # 2. A new LA-year (203's 2025 SSDA903) and 203's 2025 CIN file, broken: rejected.
    _arrive(tiny_raw, drop, "203/ssda903/2025")
    cin_203 = tiny_raw / "203/cin/2025/CIN_203_2025.xml"
    broken = drop / "203/cin/2025/CIN_203_2025.xml"
    broken.parent.mkdir(parents=True)
    text = cin_203.read_text(encoding="utf-8")
    broken.write_text(text[: len(text) // 2], encoding="utf-8")
    before = _versions(lake)
    land = land_raw(lake, drop)
    assert land.outcomes.get("rejected") == 1, land.outcomes
    r2 = build_silver(lake)
    ssda903 = {n for n in r2.tables if n.startswith("silver.ssda903_")}
    assert ssda903 and set(r2.tables) == ssda903 | {"silver.care_history"}, sorted(r2.tables)
    assert all(v["las"] == ["203"] for v in r2.tables.values()), r2.tables
    after = _versions(lake)
    assert CIN_TABLES <= set(r2.skipped)
    assert all(after[n] == before[n] for n in after if n.startswith("silver.cin_")), "CIN tables were written"
    # LA 202's side rows were not rebuilt: still the first run's.
    assert _runs_by_la(lake, "quarantine.row_flags")["202"] == {r1.run_id}
    state = lake._delta("silver.build_partitions").to_pandas()
    ep = state[state.table == "silver.ssda903_episodes"].set_index("la")
    assert ep.loc["202", "run_id"] == r1.run_id and ep.loc["203", "run_id"] == r2.run_id
    # A new LA-year of SSDA903: every table reading SSDA903 or its returns is built; assessment_factors
    # reads CIN only (and CIN's returns: 203's 2025 CIN file was refused), and is left as it was.
    g2 = build_gold(lake)
    assert g2.unchanged == ["assessment_factors"], g2.summary()
    assert {r.table for r in g2.results} == built - {"assessment_factors"}, g2.summary()
    assert g2.why["cla_outcomes"] == "bronze.files#ssda903 changed", g2.why
    _left_as_a_build_would_make_them(lake, g2, tmp_path / "gold_2", spark)

    # 3. LA 202 resubmits its 2024 CIN return: one child now born in 1066, a later file.
    old = drop / "202/cin/2024/CIN_202_2024.xml"
    text = old.read_text(encoding="utf-8")
    born = re.search(r"<PersonBirthDate>(\d{4}-\d{2}-\d{2})</PersonBirthDate>", text)
    resub = old.with_name("CIN_202_2024_resubmitted.xml")
    resub.write_text(text.replace(born.group(0), "<PersonBirthDate>1066-04-13</PersonBirthDate>", 1),
                     encoding="utf-8")
    _later(resub)
    before = _versions(lake)
    land = land_raw(lake, drop)
    assert land.outcomes == {"landed": 1}, land.outcomes
    r3 = build_silver(lake)
    assert set(r3.tables) == {n for n in before if n.startswith("silver.cin_") and n != "silver.cin_journey"}, sorted(
        r3.tables)
    assert all(v["las"] == ["202"] for v in r3.tables.values()), r3.tables
    after = _versions(lake)
    assert all(after[n] == before[n] for n in after if n.startswith("silver.ssda903_") or n == "silver.care_history")
    q = lake._delta("quarantine.rows").to_pandas()
    assert ((q.la == "202") & (q.rule_code == "DATE_IMPLAUSIBLE") & (q.value == "1066-04-13")).sum() == 1
    linked = build_linkage(lake)  # steps 2 and 3 together: 203's SSDA903 and 202's CIN
    assert linked.mode == "incremental" and linked.units == {
        **{n: ["203"] for n in r2.tables if n in linked.units}, "silver.cin_child": ["202"]}, linked.units
    # 202's CIN return again, for the same year: the tables that read SSDA903 and its returns only
    # (cla_outcomes, dataset2_measures) are left as they were.
    g3 = build_gold(lake)
    assert set(g3.unchanged) == {"cla_outcomes", "dataset2_measures"}, g3.summary()
    assert {r.table for r in g3.results} == built - set(g3.unchanged), g3.summary()
    _left_as_a_build_would_make_them(lake, g3, tmp_path / "gold_3", spark)

    # 4. LA 203's 2025 CIN file again, fixed (a later, whole file).
    fixed = drop / "203/cin/2025/CIN_203_2025_v2.xml"
    shutil.copyfile(cin_203, fixed)
    _later(fixed, 7200)
    land = land_raw(lake, drop)
    assert land.outcomes == {"landed": 1}, land.outcomes
    r4 = build_silver(lake)
    assert set(r4.tables) == set(r3.tables) and all(v["las"] == ["203"] for v in r4.tables.values()), r4.tables
    assert _runs_by_la(lake, "quarantine.row_flags")["202"] == {r1.run_id, r3.run_id}
    linked = build_linkage(lake)
    assert linked.mode == "incremental" and linked.units == {"silver.cin_child": ["203"]}, linked.units
    # 203's 2025 CIN return, refused in step 2, is now sent: CIN's returns change, SSDA903's do not.
    g4 = build_gold(lake)
    assert set(g4.unchanged) == {"cla_outcomes", "dataset2_measures"}, g4.summary()
    assert g4.why["assessment_factors"] == "bronze.files#cin changed", g4.why
    _left_as_a_build_would_make_them(lake, g4, tmp_path / "gold_4", spark)
    # Nothing new: every gold table left as it was, nothing committed.
    before = _versions(lake)
    g5 = build_gold(lake)
    assert not g5.results and set(g5.unchanged) == built and _versions(lake) == before, g5.summary()

    # Nothing new: nothing rebuilt, nothing committed.
    before = _versions(lake)
    r5 = build_silver(lake)
    assert not r5.tables and _versions(lake) == before
    # Every table written since is partitioned as declared (the incremental build rewrote each in place).
    assert all(_layout(lake, n) == list(table_spec(n).partition_by) for n in before if table_spec_partitioned(n))

    # The oracle: a full rebuild from a copy of the same bronze.
    full = Lake(tmp_path / "full", spark=spark)
    shutil.copytree(Path(lake.root) / "bronze", Path(full.root) / "bronze")
    full.register_all()
    rf = build_silver(full, full=True)
    assert all("las" not in v for v in rf.tables.values())
    build_linkage(full, full=True)
    build_gold(full, full=True)
    parity = compare_lakes(lake, full, layers=("silver", "quarantine", "gold_restricted", "gold"))
    compared = {t.table for t in parity.tables}
    assert {"silver.cin_child", "silver.ssda903_episodes", "silver.care_history", "quarantine.rows",
            "quarantine.row_flags", "silver.file_counts", "silver.person_spine", "silver.person",
            "silver.cin_journey", "silver.care_journey", "silver.linkage_conflicts",
            # gold's state included: its fingerprints are of content, the same however a table got there
            "gold_restricted.build_state"} | {f"gold.{t}" for t in built} | {f"gold_restricted.{t}" for t in built
                                                                                  } <= compared
    differing = [t for t in parity.differing if t.table not in ("silver.build_log", "silver.build_partitions")]
    assert not differing, parity.summary()
    # The state a full build records is the incremental one's (who built each LA aside).
    a = lake._delta("silver.build_partitions").to_pandas().drop(columns=["run_id", "built_at"])
    b = full._delta("silver.build_partitions").to_pandas().drop(columns=["run_id", "built_at"])
    key = ["table", "la"]
    assert a.sort_values(key).reset_index(drop=True).equals(b.sort_values(key).reset_index(drop=True))


def _left_as_a_build_would_make_them(lake: Lake, report, copy: Path, spark) -> None:
    """The gold tables an incremental build left equal, cell for cell, a build of them now (on a copy)."""
    from cslake.gold.build import build_gold
    from cslake.reports.parity import compare_lakes

    now = Lake(copy, spark=spark)
    shutil.copytree(lake.root, now.root)
    now.register_all()
    build_gold(now, report.unchanged, full=True)
    same = compare_lakes(lake, now, layers=("gold_restricted", "gold"))
    assert {f"gold.{t}" for t in report.unchanged} <= {t.table for t in same.tables}, same.summary()
    assert not same.differing, same.summary()


def test_replace_where_refuses_a_row_outside_it(lake):
    """Sail 0.7 writes a row outside replaceWhere silently (Spark + Delta refuses it): the lake's
    one write path refuses it on both."""
    import pandas as pd

    from cslake.lake import SchemaMismatchError

    rows = lambda las: pd.DataFrame({"table": ["silver.x"] * len(las), "la": las, "fingerprint": ["f"] * len(las),
                                     "files": [1] * len(las), "run_id": ["r"] * len(las),
                                     "built_at": [pd.Timestamp("2026-01-01")] * len(las)})
    lake.write_pandas(rows(["201", "202", "203"]), "silver.build_partitions", mode="overwrite")
    lake.write_table(lake.spark.createDataFrame(rows(["202", "202"])), "silver.build_partitions", mode="overwrite",
                     replace_where="la IN ('202')")
    got = lake._delta("silver.build_partitions").to_pandas()
    assert sorted(got.la) == ["201", "202", "202", "203"]
    with pytest.raises(SchemaMismatchError, match="outside the rows it replaces"):
        lake.write_table(lake.spark.createDataFrame(rows(["202", "201"])), "silver.build_partitions",
                         mode="overwrite", replace_where="la IN ('202')")
    assert sorted(lake._delta("silver.build_partitions").to_pandas().la) == ["201", "202", "202", "203"]


def test_plan_rebuilds_only_changed_las_and_whole_when_it_must():
    import pandas as pd

    from cslake.silver.build import SilverTable
    from cslake.silver.incremental import REGION_WIDE, TABLE_WIDE, la_fingerprints, plan_collection

    a = SilverTable("cin", "child", "bronze.cin_child", "silver.cin_child")
    b = SilverTable("cin", "episode", "bronze.cin_episode", "silver.cin_episode")
    ledger = pd.DataFrame({"sha256": ["s1", "s2", "s3", "s4"], "la": ["201", "202", "202", None],
                           "collection": ["cin"] * 4, "year": [2024, 2024, 2025, 2024], "period": [None] * 4,
                           "outcome": ["landed", "landed", "rejected", "landed"]})
    wide = {a.silver: "wa", b.silver: "wb"}
    exists = {a.silver: True, b.silver: True}

    def state_of(led):
        st = {}
        for t in (a, b):
            st[(t.silver, TABLE_WIDE)] = wide[t.silver]
            st.update({(t.silver, la): fp for la, fp in la_fingerprints(led, "cin", wide[t.silver]).items()})
        return st

    state = state_of(ledger)
    assert plan_collection([a, b], ledger, state, wide, exists) == []  # a rejected file changes nothing
    fixed = ledger.assign(outcome=["landed", "superseded", "landed", "landed"])
    plans = plan_collection([a, b], fixed, state, wide, exists)
    assert [(p.table, p.scope) for p in plans] == [(a, ["202"]), (b, ["202"])]
    gone = ledger[ledger.la != "201"]  # every file of 201 gone: its rows go
    assert [p.scope for p in plan_collection([a, b], gone, state, wide, exists)] == [["201"], ["201"]]
    context = ledger.assign(sha256=["s1", "s2", "s3", "s5"])  # a region-wide file changed
    assert [p.scope for p in plan_collection([a, b], context, state, wide, exists)] == [None, None]
    assert REGION_WIDE in la_fingerprints(ledger, "cin", "w")
    changed_conf = dict(wide, **{b.silver: "wb2"})
    assert [p.scope for p in plan_collection([a, b], ledger, state, changed_conf, exists)] == [None, None]
    assert [p.scope for p in plan_collection([a, b], ledger, state, wide, {a.silver: True, b.silver: False})] == [None, None]


# ---------------------------------------------------------------------------
# Replay: random orders of arrivals (issue 14's "same result either way")
# ---------------------------------------------------------------------------

def _ssda903_file(src: Path, la: str, year: int, table: str) -> Path:
    """The LA-year's SSDA903 episodes or header file of the tiny region (names differ by LA; the
    columns tell, as the pipeline tells)."""
    cols = {"episodes": "DECOM", "header": "ETHNIC"}[table]
    return next(p for p in sorted((src / la / "ssda903" / str(year)).glob("*.csv"))
                if cols in p.read_text(encoding="utf-8-sig").split("\n", 1)[0].split(","))


def _episodes_changed(text: str, how: str) -> str:
    """An SSDA903 episodes file as a later submission of it: ``resubmit`` drops the last episode and
    changes a placement; ``correct`` moves the first closed episode's end a week earlier."""
    head, *rows = text.strip("\n").split("\n")
    cols = head.split(",")
    rows = [r.split(",") for r in rows]
    if how == "resubmit":
        rows = rows[:-1]
        p = cols.index("PLACE")
        rows[0][p] = "K2" if rows[0][p] != "K2" else "U1"
    else:
        dec = cols.index("DEC")
        r = next(r for r in rows if r[dec])
        d, m, y = (int(x) for x in r[dec].split("/"))
        import datetime as _dt

        r[dec] = (_dt.date(y, m, d) - _dt.timedelta(days=7)).strftime("%d/%m/%Y")
    return "\n".join([head] + [",".join(r) for r in rows]) + "\n"


def _replay_events(src: Path) -> dict[str, tuple[list[str], list]]:
    """Each arrival: (what must have arrived before it, [(relative path, bytes, mtime shift)])."""
    ep = {(la, y): _ssda903_file(src, la, y, "episodes") for la in LAS for y in YEARS}
    hd = {(la, y): _ssda903_file(src, la, y, "header") for la in LAS for y in YEARS}
    rel = lambda p, suffix="": str(p.relative_to(src)).replace(".csv", f"{suffix}.csv")
    text = lambda p: p.read_text(encoding="utf-8-sig")
    return {
        # a new LA-year
        "new 202 2025": ([], [(rel(ep["202", 2025]), text(ep["202", 2025]), 0),
                              (rel(hd["202", 2025]), text(hd["202", 2025]), 0)]),
        "new 203 2025 header": ([], [(rel(hd["203", 2025]), text(hd["203", 2025]), 0)]),
        # a resubmission superseding the live file of the same LA-year
        "resubmit 203 2024": ([], [(rel(ep["203", 2024], "_v2"), _episodes_changed(text(ep["203", 2024]), "resubmit"),
                                    3600)]),
        # a late correction of an earlier year, after the later year arrived
        "correct 202 2024": (["new 202 2025"], [(rel(ep["202", 2024], "_v2"),
                                                 _episodes_changed(text(ep["202", 2024]), "correct"), 3600)]),
        # a file rejected (no SSDA903 table has its columns), then the right one
        "reject 203 2025": ([], [(rel(ep["203", 2025], "_v0"), "NOT,AN,SSDA903,TABLE\n1,2,3,4\n", 0)]),
        "fix 203 2025": (["reject 203 2025"], [(rel(ep["203", 2025]), text(ep["203", 2025]), 1800)]),
    }


def _replay_order(events: dict, seed: int) -> list[list[str]]:
    """A random order of the events (each after what it needs), cut at random into builds."""
    import random

    rnd = random.Random(seed)
    left, order = dict(events), []
    while left:
        ready = sorted(e for e, (needs, _) in left.items() if all(n in order for n in needs))
        order.append(rnd.choice(ready))
        del left[order[-1]]
    cuts = sorted(rnd.sample(range(1, len(order)), 2))
    return [order[a:b] for a, b in zip([0] + cuts, cuts + [len(order)])]


def _write_arrivals(drop: Path, files: list) -> None:
    base = 1_700_000_000
    for relpath, body, later in files:
        p = drop / relpath
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(body, encoding="utf-8")
        os.utime(p, (base + later, base + later))


def _partitions_written(lake: Lake, name: str, since: int) -> set:
    """The partition values (of the table's one partition column) of every file added or removed
    by the table's commits after version ``since``, from the Delta log itself."""
    import json

    from cslake.catalog import table_spec

    (col,) = table_spec(name).partition_by
    seen = set()
    log_dir = Path(lake.path(name)) / "_delta_log"
    for v in range(since + 1, lake.version(name) + 1):
        for line in (log_dir / f"{v:020d}.json").read_text().splitlines():
            action = json.loads(line)
            for kind in ("add", "remove"):
                if kind in action:
                    seen.add(action[kind]["partitionValues"].get(col))
    return seen


SEEDS = (1, 2, 3)


def test_random_orders_of_arrivals_equal_a_full_rebuild(tiny_raw, spark, tmp_path, monkeypatch):
    """Seeded random orders of six arrivals (new LA-years, a resubmission, a late correction of an
    earlier year, a file rejected then fixed), each cut into builds at random, from the same first
    build: after every build only the LAs whose live files changed are rebuilt, each write touching
    only those LAs' partitions (the Delta log's add and remove actions), and at the end every order's
    silver and quarantine equal, cell for cell (run columns aside), a full rebuild of the bronze. Linkage
    follows each build incrementally (only the changed LAs' records and what they reach linked again)
    and ends equal to a full linkage of that full rebuild, person ids and care journeys included."""
    from cslake.land import land_raw
    from cslake.linkage import build_linkage
    from cslake.reports.parity import compare_lakes
    from cslake.silver import build_silver

    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    events = _replay_events(tiny_raw)
    start = Lake(tmp_path / "start", spark=spark)
    first = [(str(p.relative_to(tiny_raw)), p.read_text(encoding="utf-8-sig"), 0) for la in LAS
             for p in (_ssda903_file(tiny_raw, la, YEARS[0], t) for t in ("episodes", "header"))]
    _write_arrivals(tmp_path / "raw_start", first)
    land_raw(start, tmp_path / "raw_start")
    assert all(v["las"] is None for v in build_silver(start, collections=["ssda903"]).tables.values())
    assert build_linkage(start).mode == "full"

    live, shares = {}, []
    for seed in SEEDS:
        batches = _replay_order(events, seed)
        drop, lake = tmp_path / f"raw_{seed}", Lake(tmp_path / f"lake_{seed}", spark=spark)
        shutil.copytree(tmp_path / "raw_start", drop)
        shutil.copytree(start.root, lake.root)
        lake.register_all()
        for batch in batches:
            _write_arrivals(drop, [f for e in batch for f in events[e][1]])
            before = _versions(lake)
            land = land_raw(lake, drop)
            assert land.outcomes.get("rejected", 0) == ("reject 203 2025" in batch), (batch, land.outcomes)
            report = build_silver(lake, collections=["ssda903"])
            touched = {e.split()[1] for e in batch if not e.startswith("reject")}
            assert {la for v in report.tables.values() for la in v["las"] or ["whole"]} == touched, (batch, report.tables)
            for name, v in _versions(lake).items():
                if v > before.get(name, v) and table_spec_partitioned(name):
                    assert _partitions_written(lake, name, before[name]) <= touched, (seed, name, batch)
            linked = build_linkage(lake)
            assert linked.mode == "incremental", (seed, batch, linked.summary())
            assert {la for las in linked.units.values() for la in las or ["whole"]} == touched, (batch, linked.units)
            shares.append(linked.affected / linked.records)
        files = lake._delta("bronze.files").to_pandas()
        # The resubmission and the late correction superseded the files they replace.
        assert files.outcome.value_counts().to_dict() == {"landed": 8, "superseded": 2, "rejected": 1}, seed
        live[seed] = sorted(files.sha256[files.outcome == "landed"])
        assert live[seed] == live[SEEDS[0]], seed
    assert min(shares) < 1, ("some build must have linked a part of the records only", shares)

    # The oracle: a full rebuild of the bronze of one order (every order's live files are the same).
    full = Lake(tmp_path / "full", spark=spark)
    shutil.copytree(Path(tmp_path / f"lake_{SEEDS[0]}") / "bronze", Path(full.root) / "bronze")
    full.register_all()
    build_silver(full, collections=["ssda903"], full=True)
    build_linkage(full, full=True)
    for seed in SEEDS:
        parity = compare_lakes(Lake(tmp_path / f"lake_{seed}", spark=spark), full, layers=("silver", "quarantine"))
        assert {"silver.ssda903_episodes", "silver.ssda903_header", "silver.care_history", "quarantine.rows",
                "silver.file_counts", "silver.person_spine", "silver.person", "silver.care_journey",
                "silver.linkage_records", "silver.linkage_state"} <= {t.table for t in parity.tables}
        differing = [t for t in parity.differing if t.table not in ("silver.build_log", "silver.build_partitions")]
        assert not differing, (seed, _replay_order(events, seed), parity.summary())


def table_spec_partitioned(name: str) -> bool:
    from cslake.catalog import has_table_spec, table_spec

    return has_table_spec(name) and bool(table_spec(name).partition_by)


def _layout(lake: Lake, name: str) -> list[str]:
    return list(lake._delta(name).metadata().partition_columns)
