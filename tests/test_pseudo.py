"""Pseudonymisation: keyed, stable, domain-separated hashes; the key never leaves the process env."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

import pytest

from cslake import pseudo
from cslake.upn import is_valid_upn, make_upn

KEY = "pseudo-test-key-0123456789abcdef"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    monkeypatch.delenv(pseudo.KEY_FILE_ENV, raising=False)
    return KEY


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(pseudo.KEY_ENV, raising=False)
    monkeypatch.delenv(pseudo.KEY_FILE_ENV, raising=False)
    with pytest.raises(pseudo.MissingHashKey, match="CSLAKE_HASH_KEY"):
        pseudo.key_status()
    monkeypatch.setenv(pseudo.KEY_FILE_ENV, "/nonexistent/key")
    with pytest.raises(pseudo.MissingHashKey, match="no such file"):
        pseudo.key_status()


def test_key_file_is_read(monkeypatch, tmp_path):
    monkeypatch.delenv(pseudo.KEY_ENV, raising=False)
    f = tmp_path / "k"
    f.write_text(KEY + "\n")
    monkeypatch.setenv(pseudo.KEY_FILE_ENV, str(f))
    assert pseudo.hash_value("upn", make_upn("202", 15, 1)) == hmac.new(
        KEY.encode(), ("upn\x1f" + make_upn("202", 15, 1)).encode(), hashlib.sha256).hexdigest()


def test_normalisers(key):
    upn = make_upn("202", 15, 42)
    assert pseudo.normalise("upn", f" {upn.lower()} ") == upn
    assert pseudo.normalise("upn", "A" + upn[1:] if upn[0] != "A" else "B" + upn[1:]) is None  # bad check letter
    assert pseudo.normalise("la_child_id", " 12345.0 ", la="202") == "202:12345"
    assert pseudo.normalise("la_child_id", "12345", la=None) is None
    assert pseudo.normalise("swe_no", "sw1234567890") == "SW1234567890"
    assert pseudo.normalise("uln", "12 3456 7890") == "1234567890"


def test_same_text_in_two_classes_never_collides(key):
    assert pseudo.hash_value("la_child_id", "12345", la="202") != pseudo.hash_value("sw_id", "12345", la="202")
    assert pseudo.hash_value("uln", "1234567890") != pseudo.hash_value("la_child_id", "1234567890", la="202")
    upn = make_upn("202", 15, 7)
    # A former UPN links to the same child's UPN elsewhere.
    assert pseudo.hash_value("former_upn", upn) == pseudo.hash_value("upn", upn)


def test_child_ids_are_scoped_by_la(key):
    assert pseudo.hash_value("la_child_id", "12345", la="202") != pseudo.hash_value("la_child_id", "12345", la="203")


def test_spark_hash_matches_python_and_depends_on_key(spark, monkeypatch):
    from pyspark.sql import functions as F

    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    upn = make_upn("203", 18, 99)
    rows = [(upn, "202", "12345.0"), (upn.lower() + " ", "203", " 12345"), ("X" + upn[1:], "202", None)]
    df = spark.createDataFrame(rows, "upn string, la string, child string")
    out = df.select(pseudo.hash_column(F.col("upn"), "upn").alias("u"),
                    pseudo.hash_column(F.col("child"), "la_child_id", F.col("la")).alias("c")).collect()
    assert out[0].u == out[1].u == pseudo.hash_value("upn", upn)
    assert out[2].u is None or not is_valid_upn("X" + upn[1:])  # only a valid UPN is hashed
    if not is_valid_upn("X" + upn[1:]):
        assert out[2].u is None
    assert out[0].c == pseudo.hash_value("la_child_id", "12345", la="202")
    assert out[1].c == pseudo.hash_value("la_child_id", "12345", la="203") != out[0].c
    assert out[2].c is None
    # The key is read when the query runs: another key, other hashes.
    monkeypatch.setenv(pseudo.KEY_ENV, "another-key-0123456789abcdef")
    again = df.select(pseudo.hash_column(F.col("upn"), "upn").alias("u")).collect()
    assert again[0].u != out[0].u


def test_key_is_not_in_the_query_plan(spark, key):
    from pyspark.sql import functions as F

    df = spark.createDataFrame([("x",)], "v string").select(pseudo.hash_column(F.col("v"), "swe_no"))
    plan = str(df._plan.to_proto(df.sparkSession.client)) if hasattr(df, "_plan") else ""
    assert KEY not in plan
    assert KEY not in df.schema.simpleString()


def test_date_of_birth_hash_python_twin(key):
    import datetime as dt

    import pandas as pd

    expected = hmac.new(KEY.encode(), "dob\x1f2015-06-23".encode(), hashlib.sha256).hexdigest()
    # The exact date, however it is held, in its own hash domain.
    for v in (dt.date(2015, 6, 23), "2015-06-23", " 2015-06-23 ", dt.datetime(2015, 6, 23, 14, 5),
              pd.Timestamp("2015-06-23")):
        assert pseudo.date_hash_value(v) == expected, v
    assert pseudo.date_hash_value(None) is None and pseudo.date_hash_value("") is None
    assert pseudo.date_hash_value(pd.NaT) is None
    # Same month, another day: another hash (the month alone is what silver shows).
    assert pseudo.date_hash_value(dt.date(2015, 6, 24)) != expected
    # Another domain with the same text never collides.
    assert pseudo.hash_value("swe_no", "2015-06-23") != expected
    assert pseudo.date_hash_value("2015-06-23", key=b"another-key-0123456789abcdef") != expected
    with pytest.raises(ValueError, match="not hashed"):
        pseudo.date_hash_value("2015-06-23", cls="death_date")


def test_spark_date_hash_matches_python_and_depends_on_key(spark, monkeypatch):
    import datetime as dt

    from pyspark.sql import functions as F

    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    monkeypatch.delenv(pseudo.KEY_FILE_ENV, raising=False)
    rows = [(dt.date(2015, 6, 23), dt.datetime(2015, 6, 23, 9, 30)), (dt.date(2012, 2, 29), None), (None, None)]
    df = spark.createDataFrame(rows, "d date, ts timestamp")
    out = df.select(pseudo.date_hash_column(F.col("d")).alias("d"), pseudo.date_hash_column(F.col("ts")).alias("ts"),
                    pseudo.hmac_column(F.concat(F.lit("dob\x1f"), F.col("d").cast("string"))).alias("m")).collect()
    direct = [hmac.new(KEY.encode(), f"dob\x1f{d}".encode(), hashlib.sha256).hexdigest() for d in ("2015-06-23", "2012-02-29")]
    assert [r.d for r in out] == direct + [None]
    assert [r.d for r in out] == [pseudo.date_hash_value(r[0]) for r in rows]
    assert out[0].ts == out[0].d and out[1].ts is None
    # hmac_column is the same keyed hash of whatever message it is given.
    assert [r.m for r in out] == direct + [None]
    monkeypatch.setenv(pseudo.KEY_ENV, "another-key-0123456789abcdef")
    again = df.select(pseudo.date_hash_column(F.col("d")).alias("d")).collect()
    assert again[0].d != out[0].d and again[0].d == pseudo.date_hash_value(dt.date(2015, 6, 23))
    with pytest.raises(ValueError, match="not hashed"):
        pseudo.date_hash_column(F.col("d"), "death_date")


def test_key_is_not_in_the_date_hash_plan(spark, key):
    import datetime as dt

    from pyspark.sql import functions as F

    df = spark.createDataFrame([(dt.date(2015, 6, 23),)], "d date").select(pseudo.date_hash_column(F.col("d")))
    plan = str(df._plan.to_proto(df.sparkSession.client)) if hasattr(df, "_plan") else ""
    assert plan and KEY not in plan
    assert KEY not in df.schema.simpleString()


def test_upn_check_in_spark_agrees_with_reference(spark):
    from pyspark.sql import functions as F

    samples = [make_upn(la, y, s) for la in ("201", "202", "320") for y in (5, 17) for s in (1, 4242, 999999)]
    samples += [c + u[1:] for u in samples[:6] for c in "ABZ"]
    samples += ["A12345678901B", "T1234567890", "", "A1234567890123"]
    df = spark.createDataFrame([(s,) for s in samples], "u string")
    got = {r.u: r.ok for r in df.select("u", pseudo.upn_valid_column(F.col("u")).alias("ok")).collect()}
    for s in samples:
        assert bool(got[s]) == is_valid_upn(s), s


def test_degraders(spark):
    import datetime as dt

    from pyspark.sql import functions as F

    df = spark.createDataFrame([(dt.date(2015, 6, 23), "sw1a 1aa"), (None, "EC1A1BB"), (None, "not a postcode")],
                               "d date, pc string")
    out = df.select(pseudo.month_column(F.col("d")).alias("m"), pseudo.postcode_sector(F.col("pc")).alias("s"),
                    pseudo.postcode_district(F.col("pc")).alias("di")).collect()
    assert out[0].m == dt.date(2015, 6, 1)
    assert (out[0].s, out[0].di) == ("SW1A 1", "SW1A")
    assert (out[1].s, out[1].di) == ("EC1A 1", "EC1A")
    assert (out[2].s, out[2].di) == (None, None)


def test_demo_key_file_lives_outside_the_lake(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    path = pseudo.demo_key_file(lake, base=tmp_path / "keys")
    assert lake not in path.parents
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert pseudo.demo_key_file(lake, base=tmp_path / "keys") == path  # same lake, same key
    with pytest.raises(ValueError, match="inside the lake"):
        pseudo.demo_key_file(lake, base=lake / "keys")
