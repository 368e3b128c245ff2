"""Delta as Delta (issue 11): comments, CHECK constraints, history, time travel and
maintenance, and tables written by one engine read by the other and by delta-rs.

Unmarked tests run on Sail only; ``classic`` tests also start classic Spark + Delta.
"""

from __future__ import annotations

import pytest

from cslake import engine
from cslake.delta import constraints_on_disk, history, maintain
from cslake.lake import ConstraintViolationError, Lake
from cslake.catalog import register_table_spec, unregister
from cslake.tables import TableSpec

NAME = "silver.test_delta_engines"
SPEC = {
    "description": "A test table: one row per child and year.",
    "keys": ["child", "year"],
    "constraints": {
        "la_code": "la IS NULL OR la RLIKE '^[0-9]{3}$'",
        "year_range": "year BETWEEN 2000 AND 2100",
    },
    "columns": [
        {"name": "child", "type": "string", "nullable": False, "description": "Child id (keyed hash)"},
        {"name": "la", "type": "string", "description": "3-digit DfE code of the LA"},
        {"name": "year", "type": "int", "nullable": False, "description": "Collection year ending 31 March"},
        {"name": "n", "type": "bigint"},
    ],
}
SCHEMA = "child string, la string, year int, n bigint"


@pytest.fixture
def spec():
    s = register_table_spec(TableSpec.from_dict(NAME, SPEC, origin="tests"), replace=True)
    yield s
    unregister([NAME])


def _rows(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def _delta_rs_rows(path: str, version: int | None = None) -> list[tuple]:
    from deltalake import DeltaTable

    dt = DeltaTable(path, version=version)
    pdf = dt.to_pandas()[["child", "la", "year", "n"]]
    return sorted(tuple(None if v != v else v for v in r) for r in pdf.itertuples(index=False))


def _comments(path: str) -> tuple[str, dict[str, str]]:
    from deltalake import DeltaTable

    dt = DeltaTable(path)
    return dt.metadata().description, {f.name: (f.metadata or {}).get("comment", "") for f in dt.schema().fields}


# ---------------------------------------------------------------------------
# Sail only


def test_sail_creates_comments_and_enforces_constraints(lake, spark, spec):
    lake.write_table(spark.createDataFrame([("a", "201", 2021, 1)], SCHEMA), NAME)
    path = lake.path(NAME)
    desc, cols = _comments(path)
    assert desc == SPEC["description"]
    assert cols["child"] == "Child id (keyed hash)" and cols["n"] == ""
    assert constraints_on_disk(path) == dict(spec.constraints)
    with pytest.raises(ConstraintViolationError, match="la_code"):
        lake.write_table(spark.createDataFrame([("b", "2x1", 2021, 1)], SCHEMA), NAME)
    with pytest.raises(ConstraintViolationError, match="year_range"):
        lake.write_table(spark.createDataFrame([("b", "201", 1999, 1)], SCHEMA), NAME, mode="merge")
    lake.write_table(spark.createDataFrame([("b", None, 2022, 2)], SCHEMA), NAME)  # NULL LA declared fine
    assert _rows(lake.read_table(NAME)) == [("a", "201", 2021, 1), ("b", None, 2022, 2)]


def test_declaration_changes_reach_an_existing_table(lake, spark, spec):
    """A comment or constraint declared after the table was created is applied on the next write
    (Sail: through delta-rs and Spark SQL), and nothing is committed once it is in line."""
    plain = TableSpec.from_dict(NAME, {**SPEC, "constraints": {}, "description": "old"}, origin="tests")
    register_table_spec(plain, replace=True)
    lake.write_table(spark.createDataFrame([("a", "201", 2021, 1)], SCHEMA), NAME)
    assert constraints_on_disk(lake.path(NAME)) == {}
    register_table_spec(spec, replace=True)
    v = lake.write_table(spark.createDataFrame([("b", "202", 2021, 1)], SCHEMA), NAME)
    assert _comments(lake.path(NAME))[0] == SPEC["description"]
    assert constraints_on_disk(lake.path(NAME)) == dict(spec.constraints)
    again = lake.write_table(spark.createDataFrame([("c", "203", 2021, 1)], SCHEMA), NAME)
    assert again == v + 1  # only the append


def test_overwrite_with_a_new_constraint_the_old_rows_break(lake, spark, spec):
    plain = TableSpec.from_dict(NAME, {**SPEC, "constraints": {}}, origin="tests")
    register_table_spec(plain, replace=True)
    lake.write_table(spark.createDataFrame([("a", "bad", 2021, 1)], SCHEMA), NAME)
    register_table_spec(spec, replace=True)
    lake.write_table(spark.createDataFrame([("a", "201", 2021, 1)], SCHEMA), NAME, mode="overwrite")
    assert constraints_on_disk(lake.path(NAME)) == dict(spec.constraints)


def test_maintain_and_history_on_sail_use_delta_rs(lake, spark, spec):
    for i in range(3):
        lake.write_table(spark.createDataFrame([(f"c{i}", "201", 2021, i)], SCHEMA), NAME)
    before = _rows(lake.read_table(NAME))
    (res,) = maintain(lake, [NAME], optimize=True, vacuum=True, retain_hours=0)
    assert res.via == "delta-rs"
    assert (res.files_added, res.files_removed, res.files_vacuumed) == (1, 3, 3)
    assert _rows(lake.read_table(NAME)) == before
    commits = history(lake, NAME)
    assert [c.version for c in commits] == list(range(res.version, -1, -1))
    assert commits[0].operation == "VACUUM END" and commits[-1].operation == "CREATE TABLE"


def test_cli_status_history_time_travel_and_maintain(lake, spark, spec):
    from typer.testing import CliRunner

    from cslake.cli import app

    lake.write_table(spark.createDataFrame([("a", "201", 2021, 1)], SCHEMA), NAME)
    lake.write_table(spark.createDataFrame([("b", "202", 2022, 2)], SCHEMA), NAME)
    runner = CliRunner(env={"COLUMNS": "200"})
    # Versions: 0 CREATE TABLE (with its CHECK constraints), 1 and 2 the appends.
    out = runner.invoke(app, ["status", "--lake", lake.root, "--history", NAME, "--as-of-version", "1"])
    assert out.exit_code == 0, out.output
    assert "history (delta-rs)" in out.output and "CREATE TABLE" in out.output and "WRITE" in out.output
    assert f"{NAME} at version 1: 1 rows" in out.output
    out = runner.invoke(app, ["sql", "--lake", lake.root, f"select count(*) as n from {NAME} VERSION AS OF 1"])
    assert out.exit_code == 0, out.output
    assert out.output.split()[-1] == "1"
    out = runner.invoke(app, ["maintain", "--lake", lake.root, "--optimize", "--vacuum", "--retain-hours", "0"])
    assert out.exit_code == 0, out.output
    assert "maintenance (delta-rs)" in out.output and NAME in out.output
    assert _rows(lake.read_table(NAME)) == [("a", "201", 2021, 1), ("b", "202", 2022, 2)]


# ---------------------------------------------------------------------------
# Both engines


@pytest.mark.classic
def test_sail_table_read_by_classic_and_delta_rs(tmp_path, spark, classic_spark, spec):
    sail = Lake(tmp_path / "lake", spark=spark)
    before_merge = sail.write_table(spark.createDataFrame([("a", "201", 2021, 1), ("b", None, 2022, 2)], SCHEMA), NAME)
    sail.write_table(spark.createDataFrame([("a", "201", 2021, 5), ("c", "203", 2023, 3)], SCHEMA), NAME, mode="merge")
    expected = [("a", "201", 2021, 5), ("b", None, 2022, 2), ("c", "203", 2023, 3)]
    assert _rows(sail.read_table(NAME)) == expected
    assert _delta_rs_rows(sail.path(NAME)) == expected
    classic = Lake(tmp_path / "lake", spark=classic_spark)
    with engine.using(classic_spark):
        assert _rows(classic.read_table(NAME)) == expected
        # Time travel: the version before the MERGE, the same on every reader.
        v1 = _rows(classic.read_table(NAME, version=before_merge))
    assert v1 == _rows(sail.read_table(NAME, version=before_merge)) == _delta_rs_rows(sail.path(NAME), version=before_merge)
    assert v1 == [("a", "201", 2021, 1), ("b", None, 2022, 2)]
    # Classic Spark + Delta enforces the constraints Sail declared.
    with engine.using(classic_spark), pytest.raises(ConstraintViolationError, match="year_range"):
        classic.write_table(classic_spark.createDataFrame([("d", "201", 1990, 1)], SCHEMA), NAME)


@pytest.mark.classic
def test_classic_table_read_by_sail_and_delta_rs_then_sail_appends(tmp_path, spark, classic_spark, spec):
    classic = Lake(tmp_path / "lake", spark=classic_spark)
    with engine.using(classic_spark):
        classic.write_table(classic_spark.createDataFrame([("a", "201", 2021, 1), ("b", None, 2022, 2)], SCHEMA), NAME)
        classic.write_table(classic_spark.createDataFrame([("a", "201", 2021, 5), ("c", "203", 2023, 3)], SCHEMA),
                            NAME, mode="merge")
        classic_rows = _rows(classic.read_table(NAME))
        # A violating write is refused by Delta itself on Spark + Delta, with a clear error.
        with pytest.raises(ConstraintViolationError, match=r"la_code.*\n?.*la : 2x1|la_code"):
            classic.write_table(classic_spark.createDataFrame([("d", "2x1", 2021, 1)], SCHEMA), NAME)
        v_merge = classic.version(NAME)
    path = classic.path(NAME)
    desc, cols = _comments(path)
    assert desc == SPEC["description"] and cols["year"] == "Collection year ending 31 March"
    assert constraints_on_disk(path) == dict(spec.constraints)
    expected = [("a", "201", 2021, 5), ("b", None, 2022, 2), ("c", "203", 2023, 3)]
    sail = Lake(tmp_path / "lake", spark=spark)
    assert classic_rows == expected == _rows(sail.read_table(NAME)) == _delta_rs_rows(path)
    # Sail appends to the table classic Spark created (writer version 3, CHECK constraints) ...
    v = sail.write_table(spark.createDataFrame([("d", "204", 2024, 4)], SCHEMA), NAME)
    assert v == v_merge + 1
    # ... and enforces classic's constraints.
    with pytest.raises(ConstraintViolationError, match="year_range"):
        sail.write_table(spark.createDataFrame([("e", "204", 1800, 4)], SCHEMA), NAME)
    with engine.using(classic_spark):
        assert _rows(classic.read_table(NAME)) == expected + [("d", "204", 2024, 4)]
        # Time travel on both engines: the merge version.
        at_merge = _rows(classic.read_table(NAME, version=v_merge))
    assert at_merge == _rows(sail.read_table(NAME, version=v_merge)) == expected


@pytest.mark.classic
def test_history_and_maintenance_on_classic_use_delta_sql(tmp_path, spark, classic_spark, spec):
    classic = Lake(tmp_path / "lake", spark=classic_spark)
    with engine.using(classic_spark):
        for i in range(3):
            classic.write_table(classic_spark.createDataFrame([(f"c{i}", "201", 2021, i)], SCHEMA), NAME)
        sql_history = history(classic, NAME, spark=classic_spark)
        rs_history = history(classic, NAME)
        assert [(c.version, c.operation) for c in sql_history] == [(c.version, c.operation) for c in rs_history]
        # DESCRIBE HISTORY gives the commit file's modification time, delta-rs the commitInfo
        # timestamp written just before it: milliseconds apart, not equal.
        assert all(abs((a.timestamp - b.timestamp).total_seconds()) < 5 for a, b in zip(sql_history, rs_history))
        assert sql_history[-1].engine.startswith("Apache-Spark/")
        before = _rows(classic.read_table(NAME))
        (res,) = maintain(classic, [NAME], optimize=True, vacuum=True, retain_hours=0)
        assert res.via == "spark-sql"
        assert res.files_added == 1 and res.files_removed >= 3 and res.files_vacuumed >= 3
        assert _rows(classic.read_table(NAME)) == before
        ops = [c.operation for c in history(classic, NAME, limit=3, spark=classic_spark)]
    assert ops[0] == "VACUUM END" and "OPTIMIZE" in ops
    assert _delta_rs_rows(classic.path(NAME)) == before
    assert _rows(Lake(tmp_path / "lake", spark=spark).read_table(NAME)) == before


# ---------------------------------------------------------------------------
# Partitioning declared after the table was written (issue 14: silver by LA)


def _partition_layout_migrates(lake: Lake, spark, spec) -> None:
    """An unpartitioned table on disk, then its declaration gains ``partition_by: [la]``: the next
    write (a replaceWhere on the LA) first rewrites it in place partitioned, in one commit, keeping
    its rows, comments, NOT NULL and CHECK constraints, then replaces that LA's partition only."""
    import json
    from pathlib import Path

    from deltalake import DeltaTable

    rows = [("a", "201", 2021, 1), ("b", "202", 2021, 2), ("c", "202", 2022, 3), ("d", None, 2022, 4)]
    lake.write_table(spark.createDataFrame(rows, SCHEMA), NAME, mode="overwrite")
    v0 = lake.version(NAME)
    assert DeltaTable(lake.path(NAME)).metadata().partition_columns == []
    register_table_spec(TableSpec.from_dict(NAME, {**SPEC, "partition_by": ["la"]}, origin="tests"), replace=True)
    lake.write_table(spark.createDataFrame([("e", "202", 2023, 5)], SCHEMA), NAME, mode="overwrite",
                     replace_where="`la` IN ('202')")
    dt = DeltaTable(lake.path(NAME))
    assert dt.metadata().partition_columns == ["la"]
    # Before the replace: the rewrite (delta-rs; its CHECK constraints dropped before it and added
    # back after, as delta-rs cannot read RLIKE), every version with the same rows.
    last = dt.version()
    assert [c["operation"] for c in dt.history(last - v0)][0] == "WRITE"
    assert all(_rows(lake.read_table(NAME, version=v)) == sorted(rows) for v in range(v0 + 1, last))
    assert _rows(lake.read_table(NAME)) == [("a", "201", 2021, 1), ("d", None, 2022, 4), ("e", "202", 2023, 5)]
    desc, cols = _comments(lake.path(NAME))
    assert desc == SPEC["description"] and cols["year"] == "Collection year ending 31 March"
    assert constraints_on_disk(lake.path(NAME)) == dict(spec.constraints)
    assert {f.name: f.nullable for f in dt.schema().fields} == {"child": False, "la": True, "year": False, "n": True}
    # The replace touched LA 202's partition alone (the Delta log's add and remove actions).
    touched = set()
    for line in (Path(lake.path(NAME)) / "_delta_log" / f"{last:020d}.json").read_text().splitlines():
        action = json.loads(line)
        for kind in ("add", "remove"):
            if kind in action:
                touched.add(action[kind]["partitionValues"]["la"])
    assert touched == {"202"}
    with pytest.raises(ConstraintViolationError, match="year_range"):
        lake.write_table(spark.createDataFrame([("f", "203", 1800, 1)], SCHEMA), NAME)


def test_sail_partitions_a_table_declared_partitioned_after_it_was_written(lake, spark, spec):
    _partition_layout_migrates(lake, spark, spec)


@pytest.mark.classic
def test_classic_partitions_a_table_declared_partitioned_after_it_was_written(tmp_path, classic_spark, spec):
    with engine.using(classic_spark):
        _partition_layout_migrates(Lake(tmp_path / "lake", spark=classic_spark), classic_spark, spec)
