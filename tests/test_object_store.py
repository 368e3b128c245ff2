"""The drop zone and the lake on an object store: land from s3a:// into s3a://.

A real S3-compatible server on loopback (moto's server mode, tests/fixtures_s3.py);
a small generated region (three LAs, one year, CIN and SSDA903, with its injected
faults) is uploaded to it and landed from ``s3a://`` into a lake at ``s3a://``, on
classic Apache Spark with Delta and hadoop-aws (S3A), and on the embedded Sail engine
(its own object store). Each is compared with landing the same files from local disk
into a local lake: the same files in bronze.files with the same bytes and outcomes,
the same rows per bronze table, every file's archive copy on S3 with its sha256, and
a second land that lands nothing.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pandas as pd
import pytest

from cslake import catalog, engine, storage
from cslake.lake import Lake
from cslake.land import list_raw, land_raw
from tests.fixtures_s3 import apply_s3a


@pytest.fixture(scope="module")
def region_raw(tmp_path_factory) -> Path:
    from tests.fixtures_synth import generate_small

    out = tmp_path_factory.mktemp("s3_region") / "raw"
    generate_small(out, years=[2025], scale=0.01, seed=3, collections=["cin", "ssda903"])
    return out


@pytest.fixture(scope="module")
def local_lake(region_raw, tmp_path_factory, spark) -> Lake:
    """The reference: the same drop zone landed from local disk into a local lake (Sail)."""
    lake = Lake(tmp_path_factory.mktemp("s3_ref") / "lake", spark=spark)
    land_raw(lake, region_raw)
    return lake


@pytest.fixture(scope="module")
def local_landed(local_lake) -> dict:
    return _summary(local_lake)


@pytest.fixture(scope="module")
def sail_s3_lake(s3_server, spark, region_raw, local_landed):
    raw_uri = _upload(s3_server, region_raw, "cslake-raw", "sail")
    lake = Lake("s3a://cslake-lake/sail", spark=spark)
    _land_twice(lake, raw_uri)
    return lake, raw_uri


def _upload(server, local: Path, bucket: str, prefix: str) -> str:
    """Copy a local drop zone (including _truth/, which land must skip) to s3a://bucket/prefix."""
    fs = storage.filesystem(f"s3a://{bucket}")
    for p in sorted(local.rglob("*")):
        if p.is_file():
            fs.pipe_file(f"{bucket}/{prefix}/{p.relative_to(local).as_posix()}", p.read_bytes())
    # A hidden file and a directory marker, which a listing must not take for raw files.
    fs.pipe_file(f"{bucket}/{prefix}/.DS_Store", b"x")
    server.client().put_object(Bucket=bucket, Key=f"{prefix}/empty-folder/", Body=b"")
    return f"s3a://{bucket}/{prefix}"


def _summary(lake: Lake) -> dict:
    files = lake.read_table("bronze.files").toPandas()
    rows = {t: lake.read_table(t).count() for t in lake.tables() if t not in ("bronze.files", "bronze.findings")}
    return {"files": files.sort_values("path").reset_index(drop=True), "rows": rows,
            "findings": lake.read_table("bronze.findings").count() if lake.exists("bronze.findings") else 0}


def _check_against_local(lake: Lake, raw_uri: str, region_raw: Path, reference: dict) -> None:
    got = _summary(lake)
    files, ref = got["files"], reference["files"]
    # Every drop-zone file is in the ledger (and nothing else: not _truth/, not hidden files).
    listed = list_raw(raw_uri)
    assert sorted(listed["relpath"]) == sorted(list_raw(region_raw)["relpath"])
    assert sorted(files["path"]) == sorted(listed["relpath"])
    pd.testing.assert_frame_equal(
        files[["path", "sha256", "size_bytes", "outcome", "la", "collection", "year", "row_count"]],
        ref[["path", "sha256", "size_bytes", "outcome", "la", "collection", "year", "row_count"]])
    assert got["rows"] == reference["rows"] and sum(got["rows"].values()) > 0
    assert got["findings"] == reference["findings"]
    # The archive on S3 holds every file byte for byte, under its sha256.
    for rel, sha, stored in zip(files["path"], files["sha256"], files["stored_path"]):
        data = storage.read_bytes(storage.join(lake.root, stored))
        assert hashlib.sha256(data).hexdigest() == sha
        assert data == (region_raw / rel).read_bytes()
    # The lake's own questions, answered on S3 by delta-rs and fsspec.
    status = lake.status()
    assert set(status["table"]) == set(lake.tables()) >= {"bronze.files", "bronze.findings"}
    assert status.loc[status.table == "bronze.files", "rows"].item() == len(files)
    assert lake.history("bronze.files")[0]["operation"]
    # Scratch is gone.
    assert not storage.list_dirs(storage.join(lake.root, "bronze", "_staging"))


def _land_twice(lake: Lake, raw_uri: str):
    t0 = time.perf_counter()
    first = land_raw(lake, raw_uri)
    t1 = time.perf_counter()
    versions = {t: lake.version(t) for t in lake.tables()}
    second = land_raw(lake, raw_uri)
    print(f"\n{lake.root}: first land {t1 - t0:.1f} s, second {time.perf_counter() - t1:.1f} s")
    assert first.files_seen == first.files_read > 0
    assert second.files_seen == second.files_skipped == first.files_seen
    assert second.outcomes == {} and second.files_read == 0
    assert {t: lake.version(t) for t in lake.tables()} == versions
    return first


def test_storage_uri_helpers():
    assert storage.join("s3a://b/lake", "bronze", "_archive") == "s3a://b/lake/bronze/_archive"
    assert storage.delta_uri("s3a://b/lake/bronze/files") == "s3://b/lake/bronze/files"
    assert storage.fs_path("s3a://b/lake/") == "b/lake"
    assert storage.location("s3a://b/lake/") == "s3a://b/lake"
    assert not storage.is_uri("/tmp/x") and not storage.is_uri("file:///tmp/x") and storage.is_s3("s3://b")
    settings = storage.S3Settings(endpoint="http://127.0.0.1:9", access_key="AKIDX", secret_key="s3cr3t-value", region="eu-west-2")
    conf = storage.spark_s3a_conf(settings)
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith("SimpleAWSCredentialsProvider")
    assert storage.delta_storage_options("s3a://b", settings)["AWS_ALLOW_HTTP"] == "true"
    assert storage.delta_storage_options("/local/path", settings) is None
    assert "s3cr3t" not in repr(settings) and "AKIDX" not in repr(settings)
    assert storage.spark_s3a_conf(storage.S3Settings()) == {}


def test_land_on_sail_from_s3a_into_s3a(sail_s3_lake, region_raw, local_landed):
    lake, raw_uri = sail_s3_lake
    _check_against_local(lake, raw_uri, region_raw, local_landed)


def test_silver_on_sail_in_an_s3a_lake(sail_s3_lake, local_lake, local_landed, monkeypatch):
    """Silver and quarantine built in the s3a:// lake hold what they hold in the local one."""
    from cslake import pseudo
    from cslake.silver import build_silver

    monkeypatch.setenv(pseudo.KEY_ENV, "object-store-test-key-0123456789abcdef")
    lake, _ = sail_s3_lake
    t0 = time.perf_counter()
    # One collection keeps it short: the other's tables go through the same code.
    got = build_silver(lake, collections=["cin"])
    print(f"\nsilver on s3a:// (Sail): {time.perf_counter() - t0:.1f} s")
    ref = build_silver(local_lake, collections=["cin"])
    assert got.tables and {t: (v["bronze_rows"], v["silver_rows"], v["quarantined_rows"]) for t, v in got.tables.items()} \
        == {t: (v["bronze_rows"], v["silver_rows"], v["quarantined_rows"]) for t, v in ref.tables.items()}
    layers = ("silver.", "quarantine.")
    counts = {t: lake.read_table(t).count() for t in lake.tables() if t.startswith(layers)}
    assert counts == {t: local_lake.read_table(t).count() for t in local_lake.tables() if t.startswith(layers)}
    assert not storage.list_dirs(storage.join(lake.root, "quarantine", "_staging"))


@pytest.fixture(scope="module")
def subset_raw(region_raw, tmp_path_factory) -> Path:
    """Classic Spark pays seconds per Delta commit: the SSDA903 header and episodes of each LA."""
    from tests.fixtures_synth import copy_raw_subset

    return copy_raw_subset(region_raw, tmp_path_factory.mktemp("s3_subset") / "raw", ["ssda903"],
                           keep_903_columns=["DECOM", "ETHNIC"])


@pytest.mark.classic
def test_land_on_classic_spark_from_s3a_into_s3a(s3_server, classic_spark, spark, subset_raw, tmp_path):
    reference = Lake(tmp_path / "lake", spark=spark)
    land_raw(reference, subset_raw)
    local = _summary(reference)
    # The session may have started before the server's variables were set (another test).
    apply_s3a(classic_spark)
    raw_uri = _upload(s3_server, subset_raw, "cslake-raw", "classic")
    lake = Lake("s3a://cslake-lake/classic", spark=classic_spark)
    with engine.using(classic_spark):  # the reference ran on Sail in this test
        _land_twice(lake, raw_uri)
        _check_against_local(lake, raw_uri, subset_raw, local)


def test_missing_drop_zone_on_s3_says_so(s3_server, spark):
    with pytest.raises(FileNotFoundError, match="s3a://cslake-raw/nothing-here"):
        land_raw(Lake("s3a://cslake-lake/missing", spark=spark), "s3a://cslake-raw/nothing-here")


def test_an_object_over_the_size_limit_is_refused_before_it_is_read(s3_bucket, spark, monkeypatch):
    """An object in an s3a:// drop zone was read whole, then measured (issue 16: no single file
    may take a process past 2 GB, and a 5 GB object would have been held whole first). Now its
    size comes from the store (a HEAD), and one over conf/limits.yaml max_file_bytes is refused
    unread, as a local file is."""
    from cslake import land

    rel = "203/ssda903/2024/episodes.csv"
    body = b"CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\n"
    body += b"1,01/05/2023,S,C2,N1,U1,PR1,,,,,,\n" * 40  # 1,454 bytes
    storage.write_bytes_once(f"{s3_bucket}/raw/{rel}", body)
    storage.write_bytes_once(f"{s3_bucket}/small/{rel}", body[:500])
    limits = {**land.land_limits(), "max_file_bytes": 1000}

    def read_whole(*_a, **_k):
        raise AssertionError("the object was read")

    with monkeypatch.context() as m:
        m.setattr(storage, "read_bytes", read_whole)
        refused = land.refusal_before_reading(f"{s3_bucket}/raw/{rel}", rel, limits)
        assert refused is not None and refused[0] == "FILE_TOO_LARGE" and refused[2] == len(body), refused
        assert "not read" in refused[1]
        assert land.refusal_before_reading(f"{s3_bucket}/small/{rel}", rel, limits) is None
    # the whole land, parse helpers and all: the object is recorded refused, and not archived
    lake = Lake(f"{s3_bucket}/lake", spark=spark)
    report = land_raw(lake, f"{s3_bucket}/raw", limits=limits)
    assert report.outcomes == {"rejected": 1}, report.outcomes
    files = lake.read_table(catalog.bronze.files).toPandas()
    assert files.outcome.tolist() == ["rejected"] and files.reason.iloc[0].startswith("FILE_TOO_LARGE:")
    assert "not read" in files.reason.iloc[0]
    assert int(files.size_bytes.iloc[0]) == len(body)
    archive = storage.join(lake.root, "bronze", "_archive")
    assert not storage.exists(archive) or not list(storage.walk_files(archive, ()))
