"""Export of the published gold tables as Parquet and CSV, read back and compared with the Delta tables."""

from __future__ import annotations

import pandas as pd
import pytest

from cslake.lake import Lake
from tests.test_packs import build_small_gold


@pytest.fixture(scope="module")
def exported(spark, tmp_path_factory):
    from cslake.publish.export import export_gold

    root = tmp_path_factory.mktemp("export")
    lake = Lake(root / "lake", spark=spark)
    restricted = build_small_gold(lake)
    report = export_gold(lake, root / "out")
    return lake, restricted, report, root / "out"


def _delta(lake, table):
    return lake.read_table(f"gold.{table}").toPandas()


def test_only_published_tables_exported(exported):
    lake, restricted, report, out = exported
    assert set(report.tables) == set(restricted)
    assert sorted(p.name for p in (out / "parquet").iterdir()) == sorted(f"{t}.parquet" for t in restricted)
    assert sorted(p.name for p in (out / "csv").iterdir()) == sorted(f"{t}.csv" for t in restricted)
    for t, n in report.tables.items():
        assert n == len(restricted[t]) > 0


def test_parquet_equals_delta(exported):
    lake, restricted, _, out = exported
    for t in restricted:
        back = pd.read_parquet(out / "parquet" / f"{t}.parquet")
        delta = _delta(lake, t)
        assert list(back.columns) == list(delta.columns)
        pd.testing.assert_frame_equal(back.reset_index(drop=True), delta.reset_index(drop=True), check_dtype=False)


def test_csv_equals_delta(exported):
    lake, restricted, _, out = exported
    for t in restricted:
        back = pd.read_csv(out / "csv" / f"{t}.csv", dtype=str, keep_default_na=False)
        delta = _delta(lake, t)
        assert list(back.columns) == list(delta.columns) and len(back) == len(delta)
        for c in delta.columns:
            d = delta[c]
            if pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d):
                got = pd.to_numeric(back[c].replace("", None))
                assert ((got - d).abs() < 1e-9).where(d.notna(), got.isna()).all(), (t, c)
            else:
                want = d.map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else str(v))
                assert (back[c] == want).all(), (t, c)


def test_suppressed_cells_stay_suppressed(exported):
    _, restricted, _, out = exported
    csv = pd.read_csv(out / "csv" / "riia_indicators.csv", dtype=str, keep_default_na=False)
    cell = csv[(csv.geog_code == "201") & (csv.period == "2023-24 Q1") & (csv.indicator_id == "2")]
    assert list(cell["number"]) == ["x"]
    r = restricted["riia_indicators"]
    assert r[(r.geog_code == "201") & (r.period == "2023-24 Q1") & (r.indicator_id == 2)]["number"].iloc[0] == 3
    shown = pd.to_numeric(csv["number"], errors="coerce").dropna()
    assert not shown.between(1, 5).any()
