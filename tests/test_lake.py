"""The lake: every write cast to the declared schema, Delta semantics, status."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from rich.console import Console

from cslake import lake as lake_module
from cslake import catalog
from cslake.delta import constraints_on_disk
from cslake.lake import Lake, SchemaMismatchError, TableNotFoundError, print_status, scratch_copy
from cslake.tables import Column, TableSpec, TableSpecError

PEOPLE = "silver.test_people"
PEOPLE_DDL = "id bigint, la string, name string, score double, tags array<string>"


@pytest.fixture(scope="module", autouse=True)
def _test_specs():
    catalog.register_table_spec(
        TableSpec(
            PEOPLE,
            (
                Column("id", "bigint", False, "person id"),
                Column("la", "string", False),
                Column("name", "string"),
                Column("score", "decimal(5,2)"),
                Column("tags", "array<string>"),
            ),
            keys=("id",),
            # Partitioned on purpose: Delta stores partition columns last, the
            # case where positional writes would scramble columns.
            partition_by=("la",),
        ),
        replace=True,
    )
    yield
    catalog.unregister([PEOPLE, "silver.test_evolve"])


def people(spark, rows, ddl=PEOPLE_DDL):
    return spark.createDataFrame(rows, ddl)


def rows_of(df, order="id"):
    return [tuple(r) for r in df.orderBy(order).collect()]


def test_path_layout_and_root_resolution(tmp_path, monkeypatch):
    lk = Lake(tmp_path)
    assert lk.path("bronze.files") == f"{tmp_path}/bronze/files"
    assert lk.path("gold_restricted.x") == f"{tmp_path}/gold_restricted/x"
    with pytest.raises(TableSpecError):
        lk.path("platinum.x")
    monkeypatch.setenv("CSLAKE_LAKE", str(tmp_path / "env"))
    assert Lake().root == str(tmp_path / "env")
    monkeypatch.delenv("CSLAKE_LAKE")
    monkeypatch.chdir(tmp_path)
    assert Lake().root == str(tmp_path / "lake")


def test_empty_write_creates_every_declared_table_with_its_schema(lake, spark):
    # Every table declared in conf/tables, and one collection's derived tables (the other
    # collections' are derived by the same code: tests/test_catalog.py checks them all).
    specs = [s for s in catalog.all_table_specs()
             if not s.origin.startswith("conf/collections/") or s.origin == "conf/collections/cin"]
    assert any(s.name == "silver.cin_child" for s in specs) and len(specs) > 40
    for spec in specs:
        empty = spark.createDataFrame([], spec.spark_schema())
        version = lake.write_table(empty, spec.name)
        # One commit creates the table with its CHECK constraints; the empty append adds none.
        assert version == lake.version(spec.name) == 0, spec.name
        assert constraints_on_disk(lake.path(spec.name)) == dict(spec.constraints), spec.name
        assert lake.read_table(spec.name).count() == 0
        got = {f.name: (f.dataType.simpleString(), f.nullable) for f in lake.read_table(spec.name).schema.fields}
        want = {c.name: (c.data_type.simpleString(), c.nullable) for c in spec.columns}
        assert got == want, spec.name
        assert lake.read_table(spec.name).columns == spec.column_names
        assert DeltaTable(lake.path(spec.name)).metadata().partition_columns == list(spec.partition_by)


def test_write_casts_and_normalises_column_order(lake, spark):
    # Columns shuffled, ids as strings, score as double: all castable.
    df = spark.createDataFrame(
        [(["a"], 1.5, "ann", "202", "1"), (None, None, None, "203", "2")],
        "tags array<string>, score double, name string, la string, id string",
    )
    assert lake.write_table(df, PEOPLE) == 1  # version 0 is the CREATE TABLE
    assert rows_of(lake.read_table(PEOPLE)) == [(1, "202", "ann", Decimal("1.50"), ["a"]), (2, "203", None, None, None)]


@pytest.mark.parametrize(
    "rows, ddl, column, value",
    [
        # The Sail pitfall: a string into a bigint column silently became NULL.
        ([("x1", "202", "a", None, None)], "id string, la string, name string, score double, tags array<string>", "id", "x1"),
        ([(1, "202", "a", 1234.5, None)], "id bigint, la string, name string, score double, tags array<string>", "score", "1234.5"),
        ([(1.5, "202", "a", None, None)], "id double, la string, name string, score double, tags array<string>", "id", "1.5"),
        ([(1, "202", "a", None, ["1", "x"])], "id bigint, la string, name string, score double, tags array<string>", None, None),
    ],
    ids=["string-into-bigint", "decimal-overflow", "fraction-into-bigint", "castable-array"],
)
def test_values_that_do_not_cast_are_refused(lake, spark, rows, ddl, column, value):
    lake.write_table(people(spark, [(9, "202", "z", None, None)]), PEOPLE)
    before = lake.version(PEOPLE)
    df = people(spark, rows, ddl)
    if column is None:  # control case: proves the check is not just always failing
        assert lake.write_table(df, PEOPLE) == before + 1
        return
    with pytest.raises(SchemaMismatchError) as err:
        lake.write_table(df, PEOPLE)
    msg = str(err.value)
    assert PEOPLE in msg and f"column {column}" in msg and f"'{value}'" in msg
    assert lake.version(PEOPLE) == before  # nothing committed
    assert lake.read_table(PEOPLE).count() == 1


def test_array_element_that_does_not_cast_is_refused(lake, spark):
    catalog.register_table_spec(
        TableSpec("silver.test_evolve", (Column("id", "bigint", False), Column("codes", "array<bigint>"))), replace=True
    )
    with pytest.raises(SchemaMismatchError, match=r"column codes: value '\[1, x\]'"):
        lake.write_table(spark.createDataFrame([(1, ["1", "x"])], "id bigint, codes array<string>"), "silver.test_evolve")


def test_extra_column_refused(lake, spark):
    df = spark.createDataFrame([(1, "202", "a", None, None, "boom")], PEOPLE_DDL + ", surprise string")
    with pytest.raises(SchemaMismatchError, match=r"silver.test_people: extra column\(s\) surprise \(string\)"):
        lake.write_table(df, PEOPLE)
    assert not lake.exists(PEOPLE)  # refused before anything was created


def test_missing_column_refused_with_case_hint(lake, spark):
    df = spark.createDataFrame([(1, "202", "a", None)], "ID bigint, la string, name string, score double")
    with pytest.raises(SchemaMismatchError) as err:
        lake.write_table(df, PEOPLE)
    msg = str(err.value)
    assert "missing column(s) id (bigint), tags (array<string>)" in msg and "differ only by case" in msg


def test_null_in_not_null_column_refused(lake, spark):
    with pytest.raises(SchemaMismatchError, match="column la: null in a NOT NULL column"):
        lake.write_table(people(spark, [(1, None, "a", None, None)]), PEOPLE)
    with pytest.raises(SchemaMismatchError, match="column id: null in a NOT NULL column"):
        lake.write_table(people(spark, [(None, "202", "a", None, None)], PEOPLE_DDL.replace("id bigint", "id string")), PEOPLE)


def test_type_with_no_safe_cast_refused(lake, spark):
    df = spark.createDataFrame([(dt.date(2024, 1, 1), "202", "a", None, None)], PEOPLE_DDL.replace("id bigint", "id date"))
    with pytest.raises(SchemaMismatchError, match="column id is date, declared bigint"):
        lake.write_table(df, PEOPLE)


def test_merge_upserts_on_keys(lake, spark):
    lake.write_table(people(spark, [(1, "202", "ann", 1.0, None), (2, "202", "bob", 2.0, None)]), PEOPLE)
    v_before = lake.version(PEOPLE)
    v = lake.write_table(
        people(spark, [(2, "203", "bob moved", 2.5, ["m"]), (3, "204", "cat", None, None)]), PEOPLE, mode="merge"
    )
    assert v == v_before + 1
    assert rows_of(lake.read_table(PEOPLE)) == [
        (1, "202", "ann", Decimal("1.00"), None),
        (2, "203", "bob moved", Decimal("2.50"), ["m"]),
        (3, "204", "cat", None, None),
    ]
    last = lake.history(PEOPLE, 1)[0]
    assert last["operation"] == "MERGE"
    assert last["operationMetrics"]["numTargetRowsInserted"] == 1
    assert last["operationMetrics"]["numTargetRowsUpdated"] == 1

    # Re-running the same merge changes nothing (on Sail: not even a commit).
    again = people(spark, [(2, "203", "bob moved", 2.5, ["m"]), (3, "204", "cat", None, None)])
    assert lake.write_table(again, PEOPLE, mode="merge") == v
    assert lake.read_table(PEOPLE).count() == 3


def test_merge_creates_missing_table_and_refuses_duplicate_keys(lake, spark):
    assert lake.write_table(people(spark, [(1, "202", "a", None, None)]), PEOPLE, mode="merge") == 1
    with pytest.raises(ValueError, match=r"source has 2 rows for key \{'id': 5\}"):
        lake.write_table(people(spark, [(5, "202", "a", None, None), (5, "203", "b", None, None)]), PEOPLE, mode="merge")
    with pytest.raises(ValueError, match="not columns"):
        lake.write_table(people(spark, [(6, "202", "a", None, None)]), PEOPLE, mode="merge", keys=["nope"])
    assert lake.version(PEOPLE) == 1


def test_merge_matches_null_keys_null_safely(lake, spark):
    spec = catalog.table_spec("quarantine.rows")
    now = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)

    def q(message):
        # row_number and column are null: a file-level failure.
        rec = {c: None for c in spec.column_names}
        rec.update(table="silver.cin", rule_code="FILE_UNREADABLE", message=message, source_file_sha256="ab", run_id="r1", quarantined_at=now)
        return spark.createDataFrame([tuple(rec[c] for c in spec.column_names)], spec.spark_schema())

    lake.write_table(q("first"), "quarantine.rows", mode="merge")
    lake.write_table(q("second"), "quarantine.rows", mode="merge")
    assert [r.message for r in lake.read_table("quarantine.rows").collect()] == ["second"]


def test_overwrite_is_one_commit_and_old_versions_stay_readable(lake, spark):
    v1 = lake.write_table(people(spark, [(1, "202", "a", None, None), (2, "202", "b", None, None)]), PEOPLE)
    v2 = lake.write_table(people(spark, [(7, "209", "z", None, None)]), PEOPLE, mode="overwrite")
    assert v2 == v1 + 1
    hist = lake.history(PEOPLE)
    assert [h["version"] for h in hist] == [v2, v1, 0]
    assert hist[0]["operation"] == "WRITE" and hist[0]["operationParameters"]["mode"] == "Overwrite"
    assert rows_of(lake.read_table(PEOPLE)) == [(7, "209", "z", None, None)]
    assert [r.id for r in lake.read_table(PEOPLE, version=v1).orderBy("id").collect()] == [1, 2]
    assert lake.read_table(PEOPLE, version=0).count() == 0


def test_read_missing_table_is_a_clear_error(lake):
    with pytest.raises(TableNotFoundError, match="bronze.files does not exist"):
        lake.read_table("bronze.files")
    with pytest.raises(TableNotFoundError):
        lake.version("bronze.files")


def test_status_lists_tables_with_counts_and_versions(lake, spark):
    assert list(lake.status().columns) == ["table", "path", "rows", "version", "last_operation", "last_modified"]
    assert lake.status().empty
    lake.write_table(people(spark, [(1, "202", "a", None, None), (2, "203", "b", None, None)]), PEOPLE)
    lake.write_table(people(spark, [(2, "203", "b2", None, None), (3, "203", "c", None, None)]), PEOPLE, mode="merge")
    files = catalog.table_spec("bronze.files")
    lake.write_table(spark.createDataFrame([], files.spark_schema()), "bronze.files")
    st = lake.status().set_index("table")
    assert list(st.index) == ["bronze.files", PEOPLE]
    assert st.loc[PEOPLE, "rows"] == 3 and st.loc[PEOPLE, "version"] == 2
    assert st.loc[PEOPLE, "last_operation"] == "MERGE"
    assert st.loc["bronze.files", "rows"] == 0 and st.loc["bronze.files", "last_operation"] == "CREATE TABLE"
    assert st.loc[PEOPLE, "last_modified"].tzinfo is not None

    console = Console(record=True, width=120)
    print_status(lake, console=console)
    text = console.export_text()
    assert PEOPLE in text and "MERGE" in text


def test_register_all_is_idempotent_and_repoints_names(lake, spark, tmp_path):
    lake.write_table(people(spark, [(1, "202", "a", None, None)]), PEOPLE)
    assert lake.register_all() == [PEOPLE]
    assert lake.register_all() == [PEOPLE]
    assert spark.sql(f"SELECT count(*) AS n FROM {PEOPLE}").collect()[0].n == 1
    assert "silver" in {r.name for r in spark.sql("SHOW DATABASES").collect()}

    other = Lake(tmp_path / "other", spark=spark)
    other.write_table(people(spark, [(5, "202", "x", None, None), (6, "202", "y", None, None)]), PEOPLE)
    other.register_all()
    assert spark.sql(f"SELECT count(*) AS n FROM {PEOPLE}").collect()[0].n == 2
    lake.register_all()
    assert spark.sql(f"SELECT count(*) AS n FROM {PEOPLE}").collect()[0].n == 1


def test_spec_evolution_adds_nullable_column_and_refuses_incompatible_drift(lake, spark):
    name = "silver.test_evolve"
    base = (Column("id", "bigint", False), Column("v", "string"))
    catalog.register_table_spec(TableSpec(name, base, keys=("id",)), replace=True)
    lake.write_table(spark.createDataFrame([(1, "a")], "id bigint, v string"), name)

    catalog.register_table_spec(TableSpec(name, base + (Column("added", "int"),), keys=("id",)), replace=True)
    lake.write_table(spark.createDataFrame([(2, "b", 7)], "id bigint, v string, added int"), name)
    assert rows_of(lake.read_table(name)) == [(1, "a", None), (2, "b", 7)]

    catalog.register_table_spec(TableSpec(name, (Column("id", "string", False), Column("v", "string"), Column("added", "int")), keys=("id",)), replace=True)
    with pytest.raises(SchemaMismatchError, match="column id is bigint on disk, declared string"):
        lake.write_table(spark.createDataFrame([("3", "c", 1)], "id string, v string, added int"), name)


def test_optimize_and_vacuum_via_delta_rs(lake, spark):
    for i in range(3):
        lake.write_table(people(spark, [(i, "202", str(i), None, None)]), PEOPLE)
    v = lake.version(PEOPLE)
    metrics = lake.optimize(PEOPLE)
    assert metrics["numFilesRemoved"] == 3 and metrics["numFilesAdded"] == 1
    assert lake.vacuum(PEOPLE, retention_hours=0, dry_run=True)  # the 3 compacted files
    deleted = lake.vacuum(PEOPLE, retention_hours=0)
    assert len(deleted) == 3
    assert lake.version(PEOPLE) > v
    # Spark (Sail) sees delta-rs's commits.
    assert [r.id for r in lake.read_table(PEOPLE).orderBy("id").collect()] == [0, 1, 2]


def test_module_level_helpers_use_default_lake(tmp_path, monkeypatch, spark):
    monkeypatch.setenv("CSLAKE_LAKE", str(tmp_path / "dl"))
    monkeypatch.setattr(lake_module, "_default", None)
    assert lake_module.write_table(people(spark, [(1, "202", "a", None, None)]), PEOPLE) == 1
    assert lake_module.read_table(PEOPLE).count() == 1
    assert lake_module.default_lake().root == str(tmp_path / "dl")


def test_merge_with_map_column_updates_matches(lake, spark):
    name = "silver.test_evolve"
    catalog.register_table_spec(
        TableSpec(name, (Column("id", "bigint", False), Column("attrs", "map<string,string>")), keys=("id",)), replace=True
    )
    lake.write_table(spark.createDataFrame([(1, {"a": "1"})], "id bigint, attrs map<string,string>"), name, mode="merge")
    lake.write_table(spark.createDataFrame([(1, {"a": "2"}), (2, None)], "id bigint, attrs map<string,string>"), name, mode="merge")
    assert rows_of(lake.read_table(name)) == [(1, {"a": "2"}), (2, None)]


# -- pandas → Spark, the same on every engine (an engine difference found by issue 11) ---------

def _frame_cases():
    import numpy as np
    import pandas as pd
    from pyspark.sql import types as T

    pdf = pd.DataFrame({
        "year": [2024.0, np.nan],                       # float with NaN: an int column's null
        "n": pd.array([3, None], dtype="Int64"),
        "d": pd.to_datetime(["2024-03-31", None]),      # datetime64 → date
        "ts": pd.to_datetime(["2024-01-02 03:04:05.123456789", None]),  # ns → µs
        "s": ["a", None],
    })
    schema = T.StructType([T.StructField("year", T.IntegerType()), T.StructField("n", T.LongType()),
                           T.StructField("d", T.DateType()), T.StructField("ts", T.TimestampType()),
                           T.StructField("s", T.StringType())])
    want = [(2024, 3, dt.date(2024, 3, 31), dt.datetime(2024, 1, 2, 3, 4, 5, 123456), "a"),
            (None, None, None, None, None)]
    return pdf, schema, want


def test_frame_to_spark_nulls_nan_and_keeps_declared_types_on_sail(spark):
    pdf, schema, want = _frame_cases()
    got = lake_module.frame_to_spark(spark, pdf, schema).collect()
    assert sorted(map(tuple, got), key=repr) == sorted(want, key=repr)


@pytest.mark.classic
def test_frame_to_spark_gives_classic_spark_the_same_rows(classic_spark):
    # Classic Spark's own pandas conversion turned the NaN into a NaN double, which the int
    # column then refused (bronze.files' year): the first difference the cluster build found.
    pdf, schema, want = _frame_cases()
    got = lake_module.frame_to_spark(classic_spark, pdf, schema).collect()
    assert sorted(map(tuple, got), key=repr) == sorted(want, key=repr)


def test_frame_to_spark_refuses_a_fraction_in_an_int_column(spark):
    import pandas as pd
    from pyspark.sql import types as T

    with pytest.raises(SchemaMismatchError, match="column year"):
        lake_module.frame_to_spark(spark, pd.DataFrame({"year": [2024.5]}),
                                   T.StructType([T.StructField("year", T.IntegerType())]))


def test_frame_to_spark_writes_mixed_text_as_text(spark):
    # Published counts beside suppression symbols ("x") arrive as one object column.
    import numpy as np
    import pandas as pd
    from pyspark.sql import types as T

    pdf = pd.DataFrame({"v": [12, "x", None, np.nan, 1.5], "never": [np.nan] * 5})
    schema = T.StructType([T.StructField("v", T.StringType()), T.StructField("never", T.DateType())])
    got = lake_module.frame_to_spark(spark, pdf, schema).collect()
    assert [r.v for r in got] == ["12", "x", None, None, "1.5"]
    assert [r.never for r in got] == [None] * 5  # an all-NaN (float) column into a date column


def test_scratch_copy_reads_back_the_rows_and_an_empty_frame_keeps_its_columns(spark, tmp_path):
    """Silver's and linkage's scratch (cslake.lake.scratch_copy). An empty frame writes no file, and
    Sail then reads the path as a frame with no column at all: linkage's next step failed
    ("attribute member is missing") until the frame's own schema was used for it."""
    df = spark.range(4).select(F.col("id").cast("string").alias("member"), (F.col("id") * 2).alias("label"))
    back = scratch_copy(spark, df, str(tmp_path / "full"))
    assert sorted((r.member, r.label) for r in back.collect()) == [("0", 0), ("1", 2), ("2", 4), ("3", 6)]
    empty = scratch_copy(spark, df.filter(F.col("label") < 0), str(tmp_path / "empty"))
    assert empty.columns == ["member", "label"]
    assert empty.filter(F.col("member").isNotNull()).count() == 0
