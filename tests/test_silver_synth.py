"""Silver on the generated dirty region: nothing lost, faults caught by the rule the
generator names, clean rows not quarantined, no raw identifier in silver."""

from __future__ import annotations

import csv

import pytest

from cslake import pseudo
from cslake.lake import Lake
from cslake.land import land_raw

KEY = "synth-silver-key-0123456789abcdef"


@pytest.fixture(scope="module")
def region(spark, synth_raw, tmp_path_factory):
    from cslake.silver import build_silver
    from cslake.silver.measure import measure_against_manifest

    mp = pytest.MonkeyPatch()
    mp.setenv(pseudo.KEY_ENV, KEY)
    lake = Lake(tmp_path_factory.mktemp("silver_synth") / "lake", spark=spark)
    land_raw(lake, synth_raw)
    report = build_silver(lake)
    measure = measure_against_manifest(lake, synth_raw)
    print(report.summary())
    print(measure.summary())
    print(measure.by_rule.to_string())
    yield lake, report, measure
    mp.undo()


def test_every_current_file_rows_in_equal_rows_out(region):
    from pyspark.sql import functions as F

    lake, report, _ = region
    counts = lake.read_table("silver.file_counts").toPandas()
    assert len(counts) and (counts.bronze_rows == counts.silver_rows + counts.quarantined_rows).all()
    # And against bronze itself, independently of the build's own counts.
    landed = lake.read_table("bronze.files").filter(F.col("outcome") == "landed").select(F.col("sha256").alias("_file_sha256"))
    for table in sorted(set(counts.table)):
        bronze = lake.read_table(table.replace("silver.", "bronze.")).join(landed, "_file_sha256").count()
        silver = lake.read_table(table).count()
        quarantined = (lake.read_table("quarantine.rows").filter(F.col("table") == table)
                       .select("source_file_sha256", "row_number").distinct().count())
        assert bronze == silver + quarantined, table


def test_faults_caught_by_their_rule(region):
    _, _, m = region
    assert m.faults > 50
    assert m.recall >= 0.95, m.missed.groupby("rule").size().to_dict()


def test_clean_rows_are_not_quarantined(region):
    _, _, m = region
    assert m.rows > 1000
    assert m.false_quarantine_rate < 0.001, m.false_examples.to_string()


def test_no_raw_identifiers_in_silver(region, synth_raw):
    from pyspark.sql import types as T

    lake, *_ = region
    raw_ids: set[str] = set()
    for path in synth_raw.rglob("*.csv"):
        if "_truth" in path.parts or "context" in path.parts:
            continue
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
        rows = list(csv.reader(text.splitlines()))
        if not rows:
            continue
        header = [h.strip().upper() for h in rows[0]]
        for col in ("CHILD", "UPN", "UPN_NO", "HOME_POST", "PL_POST", "SW_ID"):
            if col in header:
                i = header.index(col)
                raw_ids |= {r[i].strip() for r in rows[1:] if len(r) > i and len(r[i].strip()) >= 4}
    assert len(raw_ids) > 100
    for name in lake.tables():
        if not name.startswith("silver."):
            continue
        df = lake.read_table(name)
        cols = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)]
        for row in df.select(*cols).collect():
            assert not raw_ids & {v.strip() for v in row if v}, name


def test_second_build_commits_nothing(region):
    from cslake.silver import build_silver

    lake, *_ = region
    versions = {t: lake.version(t) for t in lake.tables()}
    again = build_silver(lake)
    assert not again.tables
    assert {t: lake.version(t) for t in lake.tables()} == versions
