"""The research extract: k-anonymous on its quasi-identifiers, no raw identifier anywhere."""

from __future__ import annotations

import csv

import pytest

pytest_plugins = ["tests.fixtures_linkage"]


@pytest.fixture(scope="module")
def extract(linked, tmp_path_factory):
    from cslake import pseudo
    from cslake.publish.research import publish_research
    from tests.fixtures_linkage import KEY

    lake, _, raw = linked
    mp = pytest.MonkeyPatch()
    mp.setenv(pseudo.KEY_ENV, KEY)
    try:
        out = tmp_path_factory.mktemp("research") / "extract"
        report = publish_research(lake, out, k=5)
    finally:
        mp.undo()
    print(report)
    return lake, raw, out, report


def _raw_identifiers(raw) -> set[str]:
    """UPNs, former UPNs and LA child ids as the generator wrote them, plus ULNs from the truth."""
    ids: set[str] = set()
    with (raw / "_truth" / "people.csv").open() as fh:
        for row in csv.DictReader(fh):
            ids |= {row[c].strip() for c in ("upn", "upn2") if row.get(c)}
    with (raw / "_truth" / "records.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["collection"] != "sen2":  # SEN2's record key is a row ordinal, not an id
                ids.add(row["record_key"].strip())
    return {i for i in ids if len(i) >= 4}


def test_passes_its_own_k_anonymity_check(extract, spark):
    from cslake.publish.research import k_check

    _, _, out, report = extract
    assert report["passes"] and report["smallest_group"] >= 5
    assert report["people"] > 300 and report["published"] > 0
    assert report["published"] + report["suppressed"] == report["people"]
    # Checked independently of the report, on what was written.
    person = spark.read.parquet(str(out / "person"))
    again = k_check(person.select(*report["quasi_identifiers"]), report["quasi_identifiers"], 5)
    assert again["smallest_group"] >= 5 and again["people_in_groups_below_k"] == 0
    # Coarser levels never have smaller groups than finer ones.
    smallest = [lvl["people_in_groups_below_k"] for lvl in report["ladder"]]
    assert smallest == sorted(smallest, reverse=True)


def test_journeys_only_for_published_people(extract, spark):
    _, _, out, report = extract
    ids = spark.read.parquet(str(out / "person")).select("research_id")
    for name in ("cin_journey", "care_journey", "send_journey"):
        if name in report["tables"]:
            j = spark.read.parquet(str(out / name))
            assert j.join(ids, "research_id", "left_anti").count() == 0, name
            assert "person_id" not in j.columns and "la" not in j.columns


def test_no_column_equals_a_raw_identifier_or_a_lake_pseudonym(extract, spark):
    from pyspark.sql import functions as F

    lake, raw, out, report = extract
    raw_ids = _raw_identifiers(raw)
    assert len(raw_ids) > 500
    lake_ids = {r[0] for r in lake.read_table("silver.person_spine").select("person_id").distinct().collect()}
    lake_ids |= {r[0] for r in lake.read_table("silver.person_spine").select("record_key").distinct().collect()}
    # Silver's keyed hashes of exact dates of birth are linkage keys too: never published.
    dob_hashes = set()
    for t, col in (("silver.cin_child", "PersonBirthDate_hash"), ("silver.ssda903_header", "DOB_hash"),
                   ("silver.sen2_person", "PersonBirthDate_hash"), ("silver.school_census_pupils", "PersonBirthDate_hash")):
        dob_hashes |= {r[0] for r in lake.read_table(t).select(col).distinct().collect() if r[0]}
    assert len(dob_hashes) > 300
    lake_ids |= dob_hashes
    forbidden_cols = {"person_id", "record_key", "upn", "la", "_file_sha256", "_row", "dob_month", "dob_hash"}
    for name in report["tables"]:
        df = spark.read.parquet(str(out / name))
        assert not forbidden_cols & set(df.columns), name
        assert not any(c.endswith("_hash") or c.endswith("_sector") or c.endswith("_lsoa") or c.endswith("_ward")
                       for c in df.columns), name
        for col in df.columns:
            values = {r[0] for r in df.select(F.col(f"`{col}`").cast("string")).distinct().collect() if r[0] is not None}
            assert not values & raw_ids, (name, col)
            assert not values & lake_ids, (name, col)
