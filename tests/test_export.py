"""Export of the published gold tables in DfE's Explore Education Statistics (EES) open-data layout,
read back and checked: the standard columns first and in order on every file, numbers as numbers,
suppressed cells marked the EES way (``c`` in the CSV, a status column in Parquet), a metadata file
per data file, UTF-8 with a byte-order mark, microsecond timestamps Spark reads back."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cslake import catalog
from cslake.lake import Lake
from cslake.publish.ees import STANDARD
from tests.test_packs import build_small_gold

EES_SYMBOLS = {"c", "z", "x", "low", "u", ":"}
META_COLUMNS = ["col_name", "col_type", "label", "indicator_grouping", "indicator_unit", "indicator_dp",
                "filter_hint", "filter_grouping_column"]


def _fire_risk_rows() -> pd.DataFrame:
    """A published table with a timestamp (fire_risk_area: model output, no disclosure control)."""
    return pd.DataFrame({
        "area_type": ["LSOA", "LSOA"], "area_code": ["E01000001", "E01000002"], "area_name": ["a", "b"],
        "la_code": ["201", "202"], "year": [2025, 2025], "households": [500, 700],
        "predicted_rate_per_10k": [1.5, 2.25], "predicted_fires": [0.075, 0.1575], "band": ["low", "high"],
        "band_order": [1, 3], "model_name": ["m", "m"], "model_version": [2, 2], "model_run_id": ["r", "r"],
        "source_table_version": [4, 4], "scored_at": [dt.datetime(2025, 5, 1, 9, 30, 15, 123456)] * 2})


@pytest.fixture(scope="module")
def exported(spark, tmp_path_factory):
    from cslake.publish.export import export_gold

    root = tmp_path_factory.mktemp("export")
    lake = Lake(root / "lake", spark=spark)
    restricted = build_small_gold(lake)
    lake.write_pandas(_fire_risk_rows(), catalog.gold.fire_risk_area, mode="overwrite")
    report = export_gold(lake, root / "out")
    return lake, restricted, report, root / "out"


def _csv(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _meta(folder, table) -> pd.DataFrame:
    return _csv(folder / f"{table}.meta.csv")


def test_only_published_tables_exported_each_with_its_metadata(exported):
    lake, restricted, report, out = exported
    tables = set(restricted) | {"fire_risk_area"}
    assert set(report.tables) == tables
    for fmt in ("parquet", "csv"):
        names = sorted(p.name for p in (out / fmt).iterdir())
        assert names == sorted([f"{t}.{fmt}" for t in tables] + [f"{t}.meta.csv" for t in tables])
    for t, n in restricted.items():
        assert report.tables[t] == len(n) > 0
    assert report.summary().startswith("exported 4 published gold table(s) in the EES open-data layout")


def test_every_file_has_the_ees_columns_first_in_order_and_snake_case_names(exported):
    *_, out = exported
    for path in [*(out / "csv").glob("*.csv"), *(out / "parquet").glob("*.parquet")]:
        if path.name.endswith(".meta.csv"):
            continue
        cols = list(_csv(path).columns) if path.suffix == ".csv" else pq.read_schema(path).names
        assert cols[:len(STANDARD)] == STANDARD, path.name
        assert all(c == c.lower() and " " not in c for c in cols), path.name
        table = path.stem
        meta = _meta(path.parent, table)
        assert list(meta.columns) == META_COLUMNS
        described = set(meta.col_name)
        data_cols = [c for c in cols[len(STANDARD):] if not c.endswith("_status")]
        assert set(data_cols) == described, (path.name, set(data_cols) ^ described)
        assert set(meta.col_type) <= {"Filter", "Indicator"} and (meta.label.str.len() <= 80).all()


def test_every_file_has_the_ees_types(exported):
    *_, out = exported
    for path in (out / "parquet").glob("*.parquet"):
        table = pq.read_table(path)
        schema = {f.name: str(f.type) for f in table.schema}
        assert all(schema[c] == "string" for c in STANDARD), path.name
        meta = _meta(out / "parquet", path.stem)
        for c in meta[meta.col_type == "Indicator"].col_name:
            assert schema[c] in ("double", "int64", "int32"), (path.name, c, schema[c])
            if f"{c}_status" in schema:
                assert set(table.column(f"{c}_status").to_pylist()) <= {None, "c", "z", "x"}
        assert not [t for t in schema.values() if "timestamp[ns" in t], path.name  # microseconds at most
    for path in (out / "csv").glob("*.csv"):
        if path.name.endswith(".meta.csv"):
            continue
        assert path.read_bytes()[:3] == b"\xef\xbb\xbf", path.name  # UTF-8 with BOM
        df = _csv(path)
        assert df.time_period.str.fullmatch(r"\d{4}|\d{6}").all(), path.name
        assert df.geographic_level.isin(["National", "Regional", "Local authority"]).all()
        assert (df.country_code == "E92000001").all()
        la = df[df.geographic_level == "Local authority"]
        assert la.new_la_code.str.fullmatch(r"E0[6-9]\d{6}|E10\d{6}").all() and la.old_la_code.str.fullmatch(r"\d{3}").all()
        meta = _meta(out / "csv", path.stem)
        for c in meta[meta.col_type == "Indicator"].col_name:
            assert (df[c] != "").all(), (path.name, c)  # EES allows no empty indicator cell
            cells = df[c]
            numeric = pd.to_numeric(cells, errors="coerce")
            assert cells[numeric.isna()].isin(EES_SYMBOLS).all(), (path.name, c, set(cells[numeric.isna()]))


def test_geography_and_time_of_the_riia_indicators(exported):
    *_, out = exported
    df = _csv(out / "csv" / "riia_indicators.csv")
    camden = df[df.old_la_code == "202"]
    assert set(camden.new_la_code) == {"E09000007"} and set(camden.la_name) == {"Camden"}
    assert set(camden.region_code) == {"E12000007"} and set(camden.region_name) == {"London"}
    region = df[df.geographic_level == "Regional"]
    assert len(region) and set(region.region_code) == {"E12000007"} and set(region.new_la_code) == {""}
    q1 = df[df.time_identifier == "Financial year Q1"]
    assert "202324" in set(q1.time_period)


def test_suppressed_cells_are_marked_and_the_rest_are_numbers(exported):
    _, restricted, _, out = exported
    csv = _csv(out / "csv" / "riia_indicators.csv")
    cell = csv[(csv.old_la_code == "201") & (csv.time_period == "202324")
               & (csv.time_identifier == "Financial year Q1") & (csv.indicator_id == "2")]
    assert list(cell["number"]) == ["c"]
    r = restricted["riia_indicators"]
    assert r[(r.geog_code == "201") & (r.period == "2023-24 Q1") & (r.indicator_id == 2)]["number"].iloc[0] == 3
    shown = pd.to_numeric(csv["number"], errors="coerce").dropna()
    assert len(shown) and not shown.between(1, 5).any()
    parquet = pd.read_parquet(out / "parquet" / "riia_indicators.parquet")
    p = parquet[(parquet.old_la_code == "201") & (parquet.time_period == "202324")
                & (parquet.time_identifier == "Financial year Q1") & (parquet.indicator_id == 2)]
    assert p["number"].isna().all() and list(p["number_status"]) == ["c"]
    assert parquet["number"].dtype == "float64"


def test_numbers_equal_the_published_delta_table(exported):
    lake, _, _, out = exported
    delta = lake.read_table(catalog.gold.riia_indicators).toPandas()
    parquet = pd.read_parquet(out / "parquet" / "riia_indicators.parquet")
    assert len(parquet) == len(delta)
    want = pd.to_numeric(delta["number"].where(~delta["number"].isin(["x", "."])), errors="coerce")
    got = parquet["number"]
    assert sorted(got.dropna().round(9)) == sorted(want.dropna().round(9))
    assert got.isna().sum() == want.isna().sum()


def test_timestamps_are_microseconds_that_spark_reads(exported, spark):
    *_, out = exported
    path = out / "parquet" / "fire_risk_area.parquet"
    assert str(pq.read_schema(path).field("scored_at").type) == "timestamp[us]"
    back = spark.read.parquet(str(path)).select("scored_at").collect()
    assert back[0].scored_at == dt.datetime(2025, 5, 1, 9, 30, 15, 123456)
    csv = _csv(out / "csv" / "fire_risk_area.csv")
    assert set(csv.scored_at) == {"2025-05-01 09:30:15.123456"}
    assert set(csv.time_period) == {"2025"} and set(csv.time_identifier) == {"Reporting year"}


def test_metadata_describes_filters_and_indicators(exported):
    *_, out = exported
    meta = _meta(out / "csv", "riia_indicators").set_index("col_name")
    assert meta.loc["indicator_id", "col_type"] == "Filter" and meta.loc["number", "col_type"] == "Indicator"
    assert meta.loc["percentage", "indicator_unit"] == "%"
    assert "Financial quarter" not in meta.index  # period became time_period
