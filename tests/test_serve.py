"""The serving database, proved from the outside: a throwaway PostgreSQL cluster on loopback
(cslake serve start's own code: initdb + pg_ctl in a temporary folder), gold loaded by
`serve_publish`, then a login per role connecting over TCP with psycopg exactly as a BI tool
would, each trying to read what it may and what it may not."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from cslake import catalog
from cslake.lake import Lake
from cslake.stages import StageError
from tests.absent import oracle_absent
from tests.test_packs import build_small_gold

psycopg = pytest.importorskip("psycopg", reason="psycopg is a dependency of cslake (pyproject.toml)")

ROLES = {"public_user": "cslake_public", "la202_user": "cslake_la_202", "la203_user": "cslake_la_203",
         "research_user": "cslake_research", "loader_user": "cslake_admin"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pg():
    """A PostgreSQL server of its own for this module, stopped and deleted afterwards. The folder is
    outside pytest's (root-only) temp tree: under root the server runs as the postgres user."""
    from cslake.serve import start_local, stop_local
    from cslake.serve.local import pg_bin

    try:
        pg_bin("initdb")
    except StageError as exc:  # the outside oracle is absent; .ci/run installs it (apt-get install postgresql)
        oracle_absent(f"PostgreSQL server not installed: {exc}")
    folder = Path(tempfile.mkdtemp(prefix="cslake-pg-test-"))
    os.chmod(folder, 0o755)
    server = start_local(folder / "data", port=_free_port())
    try:
        yield server
    finally:
        stop_local(folder / "data")
        shutil.rmtree(folder, ignore_errors=True)


def _early_warning_rows() -> pd.DataFrame:
    n = 5
    return pd.DataFrame({
        "task": ["rereferral"] * n, "person_id": [f"p{i}" for i in range(n)],
        "la": ["202", "203", "202", "203", "203"], "referral_date": [dt.date(2024, 1, 1)] * n,
        "prediction_date": [dt.date(2024, 6, 1)] * n, "probability": [0.1, 0.5, 0.9, 0.3, 0.7],
        "flagged": [False, True, True, False, True], "threshold": [0.4] * n, "rank_in_la": [2, 3, 1, 2, 1],
        "model_name": ["m"] * n, "model_version": [1] * n, "scored_at": [dt.datetime(2025, 1, 1, 9, 30)] * n})


def _research_extract(folder: Path) -> Path:
    """A hand-made research extract (its production is tested in test_research_extract.py)."""
    (folder / "person").mkdir(parents=True)
    pd.DataFrame({"research_id": ["r1", "r2", "r3"], "sex": ["1", "2", "1"], "birth_year": [2010, 2011, 2010],
                  "collections": [["cin", "sen2"], ["cin"], []]}
                 ).to_parquet(folder / "person" / "part-0.parquet", index=False)
    (folder / "k_anonymity.json").write_text(json.dumps({"k": 5, "passes": True}))
    return folder


@pytest.fixture(scope="module")
def served(pg, spark, tmp_path_factory):
    """Small gold (LAs 201 and 202 + the region; early-warning scores for 202 and 203) served with
    the restricted tables and a research extract; one login per role."""
    from cslake.serve import serve_publish

    root = tmp_path_factory.mktemp("serve")
    lake = Lake(root / "lake", spark=spark)
    restricted = build_small_gold(lake)
    lake.write_pandas(_early_warning_rows(), catalog.gold_restricted.early_warning_scores, mode="overwrite")
    research = _research_extract(root / "research")
    report = serve_publish(lake, pg.dsn, restricted=True, research=research, la_codes=["201", "202", "203"])
    passwords = {u: secrets.token_hex(12) for u in ROLES}
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        for user, role in ROLES.items():
            conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{passwords[user]}' IN ROLE {role}")
    return lake, restricted, report, research, {u: pg.tcp_dsn(u, p) for u, p in passwords.items()}


def _rows(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def _denied(dsn: str, query: str) -> bool:
    try:
        _rows(dsn, query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_publish_loads_every_gold_table_typed_with_keys_indexes_and_comments(served, pg):
    lake, restricted, report, _, _ = served
    assert set(report.loaded) == {f"gold.{t}" for t in restricted} | {f"gold_restricted.{t}" for t in restricted} \
        | {"gold_restricted.early_warning_scores", "research.person"}
    for t, df in restricted.items():
        assert report.loaded[f"gold.{t}"] == len(df) == _rows(pg.dsn, f"select count(*) from gold.{t}")[0][0]
    types = dict(_rows(pg.dsn, "select column_name, data_type from information_schema.columns "
                               "where table_schema = 'gold' and table_name = 'riia_indicators'"))
    assert types["number"] == "double precision" and types["number_status"] == "text"
    assert types["indicator_id"] == "integer" and types["quarter_start"] == "date"
    indexes = {r[0] for r in _rows(pg.dsn, "select indexdef from pg_indexes where schemaname = 'gold' "
                                           "and tablename = 'riia_indicators'")}
    assert any("PRIMARY KEY" in i or "riia_indicators_pkey" in i for i in indexes)
    assert any("(geog_code)" in i for i in indexes) and any("(period)" in i for i in indexes)
    comment = _rows(pg.dsn, "select obj_description('gold.riia_indicators'::regclass)")[0][0]
    assert comment == catalog.table_spec(catalog.gold.riia_indicators).description
    col = _rows(pg.dsn, "select col_description('gold.riia_indicators'::regclass, ordinal_position) from "
                        "information_schema.columns where table_schema='gold' and table_name='riia_indicators' "
                        "and column_name='period'")[0][0]
    assert col == "Financial quarter, e.g. 2024-25 Q1"


def test_a_suppressed_cell_is_null_with_its_status_and_shown_ones_are_numbers(served, pg):
    _, restricted, _, _, _ = served
    number, status = _rows(pg.dsn, "select number, number_status from gold.riia_indicators where geog_code = '201' "
                                   "and period = '2023-24 Q1' and indicator_id = 2")[0]
    assert number is None and status == "c"
    r = restricted["riia_indicators"]
    assert r[(r.geog_code == "201") & (r.period == "2023-24 Q1") & (r.indicator_id == 2)]["number"].iloc[0] == 3
    shown = _rows(pg.dsn, "select number from gold.riia_indicators where number_status is null and number is not null")
    assert shown and all(isinstance(v, float) and not 1 <= v <= 5 for (v,) in shown)


def test_public_reads_published_gold_only(served):
    *_, dsn = served
    assert _rows(dsn["public_user"], "select count(*) from gold.riia_indicators")[0][0] > 0
    assert _denied(dsn["public_user"], "select * from gold_restricted.riia_indicators")
    assert _denied(dsn["public_user"], "select * from gold_restricted.early_warning_scores")
    assert _denied(dsn["public_user"], "select * from research.person")
    assert _denied(dsn["public_user"], "select * from cslake_meta.loaded")


def test_an_la_role_sees_its_own_restricted_rows_and_no_other_las(served):
    _, restricted, *_, dsn = served
    la202, la203 = dsn["la202_user"], dsn["la203_user"]
    assert _rows(la202, "select distinct la from gold_restricted.early_warning_scores") == [("202",)]
    assert _rows(la202, "select count(*) from gold_restricted.early_warning_scores")[0][0] == 2
    assert _rows(la202, "select * from gold_restricted.early_warning_scores where la = '203'") == []
    assert {r[0] for r in _rows(la203, "select la from gold_restricted.early_warning_scores")} == {"203"}
    assert {r[0] for r in _rows(la202, "select geog_code from gold_restricted.riia_indicators")} == {"202"}
    assert _rows(la203, "select count(*) from gold_restricted.riia_indicators")[0][0] == 0  # 203 has no rows there
    # ... and every LA reads all of published gold, region rows included
    assert {r[0] for r in _rows(la202, "select distinct geog_code from gold.riia_indicators")} == \
        set(restricted["riia_indicators"].geog_code)
    assert _denied(la202, "select * from research.person")


def test_friendly_views_read_like_their_tables_and_keep_row_level_security(served, pg):
    _, restricted, *_, dsn = served
    n = len(restricted["riia_indicators"])
    assert _rows(dsn["public_user"], 'select count(*) from gold."RIIA indicators"')[0][0] == n
    assert _rows(dsn["la202_user"], 'select distinct la from gold_restricted."Early warning scores"') == [("202",)]
    assert _denied(dsn["public_user"], 'select * from gold_restricted."Early warning scores"')
    comment = _rows(pg.dsn, """select obj_description('gold."RIIA indicators"'::regclass)""")[0][0]
    assert comment == catalog.table_spec(catalog.gold.riia_indicators).description


def test_research_reads_only_the_k_anonymous_extract(served):
    *_, dsn = served
    assert _rows(dsn["research_user"], "select count(*) from research.person")[0][0] == 3
    assert _rows(dsn["research_user"], "select collections from research.person order by research_id") == [
        (["cin", "sen2"],), (["cin"],), ([],)]  # a Parquet list column is a PostgreSQL array
    for table in ("gold.riia_indicators", "gold_restricted.riia_indicators", "gold_restricted.early_warning_scores"):
        assert _denied(dsn["research_user"], f"select * from {table}"), table


def test_admin_reads_everything(served):
    *_, dsn = served
    assert _rows(dsn["loader_user"], "select count(*) from gold_restricted.early_warning_scores")[0][0] == 5


def test_reload_is_incremental(served, pg):
    from cslake.serve import serve_publish

    lake, restricted, *_ = served
    again = serve_publish(lake, pg.dsn, restricted=True, la_codes=["201", "202", "203"])
    assert again.loaded == {} and len(again.unchanged) == 2 * len(restricted) + 1
    changed = restricted["ofsted"].copy()
    lake.write_pandas(changed, catalog.gold_restricted.ofsted, mode="overwrite")  # a new Delta version
    third = serve_publish(lake, pg.dsn, restricted=True, la_codes=["201", "202", "203"])
    assert set(third.loaded) == {"gold_restricted.ofsted"}
    assert "served 1 table(s)" in third.summary()


def test_a_failed_reload_leaves_the_served_tables_as_they_were(served, pg, monkeypatch):
    from cslake.serve import load, serve_publish

    lake, *_, dsn = served
    before = _rows(pg.dsn, "select schema_name, table_name, source_version, rows from cslake_meta.loaded order by 1, 2")
    counts = _rows(dsn["public_user"], "select count(*) from gold.riia_indicators")
    calls = []
    real = load.create_staging

    def fails_on_the_second(cur, src, pdf):
        calls.append(src.table.name)
        if len(calls) == 2:
            raise RuntimeError("disk full half-way")
        return real(cur, src, pdf)

    monkeypatch.setattr(load, "create_staging", fails_on_the_second)
    with pytest.raises(RuntimeError):
        serve_publish(lake, pg.dsn, force=True, la_codes=["201", "202", "203"])
    assert _rows(pg.dsn, "select schema_name, table_name, source_version, rows from cslake_meta.loaded "
                         "order by 1, 2") == before
    assert _rows(dsn["public_user"], "select count(*) from gold.riia_indicators") == counts
    # the table staged before the failure is invisible to readers
    staged = _rows(pg.dsn, "select table_name from information_schema.tables where table_name like '\\_load\\_%'")
    for (name,) in staged:
        assert _denied(dsn["public_user"], f"select * from gold.{name}")
    monkeypatch.undo()
    serve_publish(lake, pg.dsn, force=True, la_codes=["201", "202", "203"])  # and a retry succeeds
    assert _rows(dsn["public_user"], "select count(*) from gold.riia_indicators") == counts


def test_serve_publish_command_reads_the_connection_from_the_environment(served, pg, tmp_path):
    lake, *_ = served
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSLAKE_")}
    done = subprocess.run([sys.executable, "-m", "cslake.cli", "serve", "publish", "--lake", str(lake.root)],
                          env={**env, "CSLAKE_PG_DSN": pg.dsn}, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("served 0 table(s)") and "unchanged since the last load" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "cslake.cli", "serve", "publish", "--lake", str(lake.root)],
                             env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert missing.returncode == 3
    assert missing.stderr.strip().splitlines() == [
        "cslake serve publish: no serving database configured: set CSLAKE_PG_DSN (e.g. \"host=127.0.0.1 port=5433 "
        "dbname=postgres user=postgres\") or CSLAKE_PG_DSN_FILE; `cslake serve start` runs a local one"]
