"""The README's ways to read a gold Delta table from BI tools and notebooks, run as written: Spark,
delta-rs (``deltalake``), DuckDB with its Delta extension (the ``duckdb-extension-delta`` package,
no download). And the warning beside them, shown true: a table's folder read as plain Parquet after
a rewrite counts the old files' rows too."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cslake import catalog
from cslake.lake import Lake
from tests.test_packs import build_small_gold


@pytest.fixture(scope="module")
def rewritten(spark, tmp_path_factory):
    """A small gold lake whose riia_indicators was written twice (two Delta versions, old files kept)."""
    lake = Lake(tmp_path_factory.mktemp("readers") / "lake", spark=spark)
    build_small_gold(lake)
    pdf = lake.read_table(catalog.gold.riia_indicators).toPandas()
    lake.write_pandas(pdf, catalog.gold.riia_indicators, mode="overwrite")
    return lake, Path(lake.path(catalog.gold.riia_indicators)), len(pdf)


def test_spark_reads_the_current_version(rewritten, spark):
    _, path, rows = rewritten
    assert spark.read.format("delta").load(str(path)).count() == rows


def test_delta_rs_reads_the_current_version(rewritten):
    from deltalake import DeltaTable

    _, path, rows = rewritten
    table = DeltaTable(str(path))
    assert len(table.to_pandas()) == rows and table.version() >= 1


def test_duckdb_with_its_delta_extension_reads_the_current_version(rewritten):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is a dev dependency (pyproject.toml)")
    ext = pytest.importorskip("duckdb_extension_delta", reason="a dev dependency (pyproject.toml)")

    _, path, rows = rewritten
    con = duckdb.connect()
    con.load_extension(str(next(Path(ext.__file__).parent.glob("extensions/*/delta.duckdb_extension"))))
    got = con.sql(f"select count(*), count(distinct geog_code) from delta_scan('{path}')").fetchone()
    assert got[0] == rows and got[1] >= 2


def test_reading_the_folder_as_plain_parquet_counts_old_files_too(rewritten):
    _, path, rows = rewritten
    naive = pd.read_parquet(path)  # what the README warns against
    assert len(naive) == 2 * rows
