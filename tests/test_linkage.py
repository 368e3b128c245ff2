"""Linkage on the small generated region (against the generator's truth) and on hand-made records."""

from __future__ import annotations

import datetime as dt

import pytest

from cslake import pseudo

pytest_plugins = ["tests.fixtures_linkage"]


def _person_map(lake):
    pdf = lake.read_table("silver.person_spine").select("collection", "table", "la", "year", "record_key", "person_id").toPandas()
    return {tuple(r[:5]): r[5] for r in pdf.itertuples(index=False)}


# ---------------------------------------------------------------------------
# Generated region
# ---------------------------------------------------------------------------

def test_precision_and_recall_against_truth(linked, lake_key):
    from cslake.reports.linkage import linkage_report, render_linkage_report

    lake, build, raw = linked
    report = linkage_report(lake, raw / "_truth")
    print(render_linkage_report(report))
    t = report["truth"]
    # Rule 5 (exact date of birth + sex + ethnicity + LA, unique) still links records
    # without a UPN, and what it links is right.
    assert build.records_by_rule.get("demographic", 0) >= 20 and build.demographic_merges >= 10
    assert t["no_upn"]["precision"] >= 0.995 and t["no_upn"]["recall"] >= 0.95
    assert t["valid_upn"]["records"] > 300 and t["valid_upn"]["true_pairs"] > 300
    assert report["precision"] == t["valid_upn"]["precision"] >= 0.995
    assert report["recall"] == t["valid_upn"]["recall"] >= 0.97
    # Records without a valid UPN are scored too, by age band; under-5s are the bulk.
    assert t["no_upn_by_age_band"] and "0-4" in t["no_upn_by_age_band"]
    assert t["overall"]["precision"] >= 0.98
    # Nearly every truth record is found in the spine (quarantined rows are not).
    missing = sum(t["truth_records_not_in_spine"].values())
    assert missing <= 0.05 * t["truth_records"], t["truth_records_not_in_spine"]


def test_dob_hash_is_one_childs_date_in_every_collection(linked, lake_key):
    """Each silver record's date-of-birth hash, found through the generator's truth
    (its id hashed here), is the keyed hash of that child's true date of birth, the
    same in every collection, year and LA; another key gives none of them."""
    import pandas as pd

    from cslake.linkage.records import sources

    lake, _, raw = linked
    truth = pd.read_csv(raw / "_truth" / "records.csv", dtype=str)
    people = pd.read_csv(raw / "_truth" / "people.csv", dtype=str).set_index("person_id")
    expected = {pid: pseudo.date_hash_value(d) for pid, d in people.dob.items()}
    frames = []
    for src in sources():
        if not src.dob_hash or src.truth_key not in ("la_child_id", "upn") or not lake.exists(src.silver):
            continue
        silver = (lake.read_table(src.silver).select("_la", "_year", src.record_key, src.dob_hash)
                  .toPandas().dropna().drop_duplicates())
        silver.columns = ["la", "year", "key_hash", "dob_hash"]
        t = truth[(truth.collection == src.collection) & (truth.table == src.table)].copy()
        t["key_hash"] = [pseudo.hash_value(src.truth_key, k, la=la) for k, la in zip(t.record_key, t.la)]
        t["year"] = t.year.astype(int)
        frames.append(t.merge(silver, on=["la", "year", "key_hash"]))
    got = pd.concat(frames, ignore_index=True)
    # Pupils schooled here but living outside the region have no row in people.csv.
    got["expected"] = got.person_id.map(expected)
    got = got[got.expected.notna()]
    assert got.collection.nunique() >= 4 and len(got) > 1000
    wrong = got[got.dob_hash != got.expected]
    assert len(wrong) == 0, wrong.head()
    # Children seen in several collections: one hash for all their records.
    per_child = got.groupby("person_id").agg(n=("collection", "nunique"), hashes=("dob_hash", "nunique"))
    assert (per_child.n >= 3).sum() > 20 and (per_child.hashes == 1).all()
    other = {pseudo.date_hash_value(d, key=b"a-completely-different-key-0123456789") for d in people.dob}
    assert not other & set(got.dob_hash)


def test_report_breakdowns_and_json(linked):
    import json

    from cslake.reports.linkage import linkage_report

    lake, _, _ = linked
    report = json.loads(json.dumps(linkage_report(lake, None)))
    assert report["precision"] is None and report["recall"] is None and report["truth"] is None
    mr = report["match_rates"]
    assert set(mr["by_la"]) == {"201", "202", "203"}
    assert {"2023", "2024", "2025"} <= set(mr["by_year"])
    assert {"cin", "ssda903", "sen2", "school_census", "annex_a"} <= set(mr["by_collection"])
    # Children in care are children in need: most 903 persons are also in CIN.
    assert mr["by_collection_pair"]["ssda903"]["cin"]["share_of_first"] > 0.5
    assert sum(v["records"] for v in mr["by_age_band"].values()) == report["records"]


def test_spine_one_row_per_record_and_every_person_described(linked):
    from pyspark.sql import functions as F

    lake, report, _ = linked
    spine = lake.read_table("silver.person_spine")
    assert spine.count() == report.records > 1000
    assert spine.select("collection", "table", "la", "year", "record_key").distinct().count() == report.records
    persons = lake.read_table("silver.person")
    assert persons.count() == spine.select("person_id").distinct().count() == report.persons
    assert set(r["rule"] for r in spine.select("rule").distinct().collect()) <= {
        "upn", "former_upn", "la_child_id", "uln", "demographic", "none"}
    # A rule is recorded on every record, with its confidence class.
    assert spine.filter(F.col("rule").isNull() | F.col("confidence").isNull()).count() == 0
    # Every LA child id (LA-scoped hash) belongs to exactly one person.
    la_ids = spine.filter(F.col("collection").isin("cin", "ssda903", "annex_a"))
    assert la_ids.groupBy("la", "record_key").agg(F.countDistinct("person_id").alias("n")).filter("n > 1").count() == 0


def test_children_who_move_la_keep_one_person_id(linked):
    from pyspark.sql import functions as F

    lake, _, raw = linked
    import pandas as pd

    truth = pd.read_csv(raw / "_truth" / "records.csv", dtype=str)
    movers = truth[truth.collection.isin(["school_census", "sen2", "ssda903", "cin"])].groupby("person_id").la.nunique()
    assert (movers > 1).sum() > 0, "the fixture has children seen in two LAs"
    multi_la = lake.read_table("silver.person").filter(F.size("las") > 1).count()
    assert multi_la > 0


def test_rebuild_gives_identical_person_ids_and_other_key_changes_all(linked_copy, monkeypatch):
    from cslake.linkage import build_linkage
    from tests.fixtures_linkage import KEY

    lake, _, _ = linked_copy  # rebuilds: a copy of the shared lake
    before = _person_map(lake)
    monkeypatch.setenv(pseudo.KEY_ENV, "a-completely-different-key-0123456789")
    build_linkage(lake)
    other = _person_map(lake)
    assert set(other) == set(before)
    assert not set(other.values()) & set(before.values())
    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    build_linkage(lake)
    assert _person_map(lake) == before


def test_journeys_keyed_by_person(linked):
    from pyspark.sql import functions as F

    lake, _, _ = linked
    persons = lake.read_table("silver.person").select("person_id")
    for name in ("silver.cin_journey", "silver.care_journey", "silver.send_journey"):
        j = lake.read_table(name)
        assert j.count() > 0, name
        assert j.join(persons, "person_id", "left_anti").count() == 0, name
    # Each care episode of silver.care_history once, now with its person.
    assert lake.read_table("silver.care_journey").count() == lake.read_table("silver.care_history").count()
    events = {r["event"] for r in lake.read_table("silver.cin_journey").select("event").distinct().collect()}
    assert {"referral", "assessment_start"} <= events
    send = {r["event"] for r in lake.read_table("silver.send_journey").select("event").distinct().collect()}
    assert "request" in send
    dup = (lake.read_table("silver.cin_journey").groupBy("person_id", "la", "event", "event_date", "referral_date")
           .count().filter(F.col("count") > 1).count())
    assert dup == 0


# ---------------------------------------------------------------------------
# Hand-made records: the rules one at a time
# ---------------------------------------------------------------------------

RECORD_SCHEMA = ("collection string, table string, la string, year int, record_key string, upn string, "
                 "former_upn string, la_child_id string, uln string, dob_month date, dob_hash string, sex string, "
                 "ethnicity string, postcode_sector string, _file_sha256 string, _row bigint")
# Hand-made records carry what silver would: the month, and the exact date's keyed hash.
HAND_KEY = b"hand-made-records-key-0123456789"
NO_HASH = object()


def _rows_to_lake(spark, rows):
    from cslake.linkage.records import aggregate_records

    return aggregate_records(spark.createDataFrame(rows, RECORD_SCHEMA))


def _rec(collection, la, year, key, upn=None, former=None, la_id=None, dob=dt.date(2015, 3, 1), sex="M",
         eth="WBRI", pc=None, table=None, row=1, dob_hash=None):
    """One hand-made record; ``dob`` is the exact date (the record holds its month and its
    hash); ``dob_hash=NO_HASH``: a record with the month only (no hash available)."""
    month = dob.replace(day=1) if dob else None
    h = None if dob_hash is NO_HASH else dob_hash or pseudo.date_hash_value(dob, key=HAND_KEY)
    return (collection, table or collection, la, year, key, upn, former, la_id, None, month, h, sex, eth, pc,
            "f" + key, row)


def _link(spark, tmp_path, rows, monkeypatch):
    """Run the build's linking steps on hand-made records through a tiny lake."""
    from cslake.lake import Lake
    from cslake.linkage import build as B

    monkeypatch.setenv(pseudo.KEY_ENV, "unit-test-key-0123456789abcdef")
    records = _rows_to_lake(spark, rows)
    monkeypatch.setattr(B, "extract_records", lambda lake, conf: (records, ["hand-made"]))
    monkeypatch.setattr("cslake.linkage.journeys.journey_frames", lambda read, spine: {})
    lake = Lake(tmp_path / "lake", spark=spark)
    report = B.build_linkage(lake)
    pdf = lake.read_table("silver.person_spine").toPandas()
    return lake, report, {r.record_key: (r.person_id, r.rule) for r in pdf.itertuples()}


def test_rules_in_priority_order(spark, tmp_path, monkeypatch):
    rows = [
        _rec("cin", "201", 2023, "c1", upn="U1", la_id="L1"),
        _rec("cin", "201", 2024, "c1b", la_id="L1"),                      # LA id only
        _rec("sen2", "202", 2024, "s1", upn="U1"),                         # UPN across LAs
        _rec("cin", "202", 2025, "c2", upn="U2", former="U1", la_id="L2"),  # former UPN
        _rec("school_census", "203", 2025, "p9", upn="U9", dob=dt.date(2010, 1, 1)),  # alone
    ]
    _, report, got = _link(spark, tmp_path, rows, monkeypatch)
    assert got["c1"][0] == got["c1b"][0] == got["s1"][0] == got["c2"][0] != got["p9"][0]
    assert got["c1"][1] == "upn" and got["c1b"][1] == "la_child_id" and got["c2"][1] == "former_upn"
    assert got["p9"][1] == "none"
    assert report.persons == 2


def test_demographic_links_only_where_unique(spark, tmp_path, monkeypatch):
    d1, d2, d3 = dt.date(2020, 5, 1), dt.date(2019, 7, 1), dt.date(2018, 2, 1)
    rows = [
        # Unique: one UPN person and one no-UPN record agree -> linked.
        _rec("school_census", "201", 2024, "u1", upn="UA", dob=d1),
        _rec("sen2", "201", 2024, "row:a", dob=d1),
        # Two UPN-bearing people share the signature: ambiguous -> no link.
        _rec("school_census", "201", 2024, "u2", upn="UB", dob=d2),
        _rec("school_census", "201", 2025, "u3", upn="UC", dob=d2),
        _rec("sen2", "201", 2025, "row:b", dob=d2),
        # Two children in one return share it: ambiguous -> no link.
        _rec("sen2", "201", 2023, "row:c", dob=d3, row=1),
        _rec("sen2", "201", 2023, "row:d", dob=d3, row=2),
        _rec("cin", "201", 2023, "c3", la_id="L3", dob=d3),
        # Same signature in another LA: never linked (LA is part of the signature).
        _rec("sen2", "202", 2024, "row:e", dob=d1),
    ]
    _, report, got = _link(spark, tmp_path, rows, monkeypatch)
    assert got["row:a"][0] == got["u1"][0] and got["row:a"][1] == "demographic"
    # Its UPN links it to nothing else: it too is in this person by demographic agreement.
    assert got["u1"][1] == "demographic"
    assert len({got[k][0] for k in ("u2", "u3", "row:b")}) == 3
    assert len({got[k][0] for k in ("row:c", "row:d", "c3")}) == 3
    assert got["row:e"][0] != got["u1"][0]
    assert report.demographic_merges >= 1


def test_two_la_child_ids_of_one_la_are_two_children(spark, tmp_path, monkeypatch):
    """A contact-only child in Annex A and another child in CIN, one LA, same date of birth,
    sex and ethnicity, in different returns: the LA's own ids say two children, so no
    demographic link, while a no-id record (SEN2) still joins a child with an LA id."""
    d1, d2 = dt.date(2016, 6, 11), dt.date(2021, 2, 3)
    rows = [
        _rec("annex_a", "201", 2024, "a9", la_id="LA9", dob=d1, table="list_1"),
        _rec("cin", "201", 2025, "c7", la_id="L7", dob=d1),
        # one LA id, one record without an id: unique, linked
        _rec("cin", "201", 2024, "c8", la_id="L8", dob=d2),
        _rec("sen2", "201", 2025, "row:f", dob=d2),
        # the same kind of pair in another LA (a signature of its own): unaffected
        _rec("annex_a", "202", 2024, "a5", la_id="LA5", dob=d1, table="list_1"),
        _rec("sen2", "202", 2025, "row:g", dob=d1),
    ]
    _, report, got = _link(spark, tmp_path, rows, monkeypatch)
    assert got["a9"][0] != got["c7"][0] and got["a9"][1] == got["c7"][1] == "none"
    assert got["c8"][0] == got["row:f"][0] and got["row:f"][1] == "demographic"
    assert got["a5"][0] == got["row:g"][0]
    assert report.demographic_rejected >= 2


def test_demographic_agreement_is_on_the_exact_date_of_birth(spark, tmp_path, monkeypatch):
    rows = [
        # Same month, another day: not the same child (a month-of-birth rule linked these).
        _rec("school_census", "201", 2024, "u1", upn="UA", dob=dt.date(2017, 9, 3)),
        _rec("sen2", "201", 2024, "row:a", dob=dt.date(2017, 9, 21)),
        # Two UPN-bearing children born in one month (ambiguous by month); the no-UPN
        # record agrees exactly with one of them only: unique on the exact date -> linked.
        _rec("school_census", "201", 2024, "u2", upn="UB", dob=dt.date(2016, 4, 2)),
        _rec("school_census", "201", 2024, "u3", upn="UC", dob=dt.date(2016, 4, 27)),
        _rec("sen2", "201", 2024, "row:b", dob=dt.date(2016, 4, 27)),
        # A record with a month but no hash takes no part in demographic agreement.
        _rec("school_census", "201", 2024, "u4", upn="UD", dob=dt.date(2014, 1, 9)),
        _rec("sen2", "201", 2024, "row:c", dob=dt.date(2014, 1, 9), dob_hash=NO_HASH),
    ]
    _, report, got = _link(spark, tmp_path, rows, monkeypatch)
    assert got["row:a"][0] != got["u1"][0] and got["row:a"][1] == "none"
    assert got["row:b"][0] == got["u3"][0] != got["u2"][0] and got["row:b"][1] == "demographic"
    assert got["row:c"][0] != got["u4"][0] and got["row:c"][1] == "none"
    assert report.demographic_merges == 1 and report.demographic_rejected == 0


def test_conflicts_reported_not_hidden(spark, tmp_path, monkeypatch):
    def tag(d):
        return f"{d.replace(day=1).isoformat()} #{pseudo.date_hash_value(d, key=HAND_KEY)[:8]}"

    rows = [
        _rec("cin", "201", 2023, "c1", upn="U1", dob=dt.date(2012, 1, 1)),
        _rec("sen2", "201", 2024, "row:s", upn="U1", dob=dt.date(2012, 6, 1)),
        _rec("school_census", "201", 2024, "U1", upn="U1", dob=dt.date(2012, 1, 1), sex="F"),
        # One UPN, one month, two exact dates: a conflict the month alone would hide.
        _rec("cin", "201", 2023, "c2", upn="U2", dob=dt.date(2013, 2, 3)),
        _rec("school_census", "201", 2024, "U2", upn="U2", dob=dt.date(2013, 2, 17)),
        # One UPN, one date, one record without its hash: no conflict.
        _rec("cin", "201", 2023, "c3", upn="U3", dob=dt.date(2011, 5, 8), dob_hash=NO_HASH),
        _rec("school_census", "201", 2024, "U3", upn="U3", dob=dt.date(2011, 5, 8)),
    ]
    lake, report, got = _link(spark, tmp_path, rows, monkeypatch)
    assert got["c1"][0] == got["row:s"][0] == got["U1"][0]
    c = lake.read_table("silver.linkage_conflicts").toPandas()
    assert sorted(zip(c.conflict, c.person_id)) == sorted([("upn_dob", got["c1"][0]), ("upn_sex", got["c1"][0]),
                                                          ("upn_dob", got["c2"][0])])
    by_person = {(r.conflict, r.person_id): list(r.values) for r in c.itertuples()}
    assert by_person[("upn_dob", got["c1"][0])] == sorted([tag(dt.date(2012, 1, 1)), tag(dt.date(2012, 6, 1))])
    assert by_person[("upn_dob", got["c2"][0])] == sorted([tag(dt.date(2013, 2, 3)), tag(dt.date(2013, 2, 17))])
    assert by_person[("upn_sex", got["c1"][0])] == ["F", "M"]
    persons = lake.read_table("silver.person").toPandas().set_index("person_id")
    assert persons.loc[got["c1"][0]].has_conflict and persons.loc[got["c2"][0]].has_conflict
    assert not persons.loc[got["c3"][0]].has_conflict


def test_label_propagation_converges_on_a_chain_and_fails_loudly_when_bounded(spark, tmp_path):
    from cslake.linkage.components import NotConverged, Stage, connected_components

    # A chain a1-k1-a2-k2-...-a8 has diameter 15: the labels need several rounds.
    edges = [(f"a{i}", f"k{i}") for i in range(1, 8)] + [(f"a{i + 1}", f"k{i}") for i in range(1, 8)]
    edges += [("b1", "kb"), ("b2", "kb")]
    df = spark.createDataFrame(edges, "member string, key string")
    stage = Stage(spark, str(tmp_path / "stage"))
    labels, rounds = connected_components(df, stage, max_iterations=40)
    got = dict(labels.select("member", "label").collect())
    assert {got[f"a{i}"] for i in range(1, 9)} == {"a1"} and got["b1"] == got["b2"] == "b1"
    assert rounds > 2
    with pytest.raises(NotConverged):
        connected_components(df, stage, max_iterations=2)
    stage.close()


@pytest.mark.classic
def test_pure_transforms_agree_on_both_engines():
    from tests.fixtures_spark import assert_same_on_engines

    from cslake.linkage.build import demographic_edges, key_edges, linking_edges
    from cslake.linkage.components import propagate_once
    from cslake.linkage.records import aggregate_records

    rows = [_rec("cin", "201", 2023, "c1", upn="U1", la_id="L1"),
            _rec("cin", "201", 2024, "c1", upn="U1", la_id="L1", row=2),
            _rec("sen2", "202", 2024, "row:s", upn="U1"),
            _rec("sen2", "201", 2024, "row:t", dob=dt.date(2019, 1, 1)),
            _rec("school_census", "201", 2024, "U7", upn="U7", dob=dt.date(2019, 1, 1))]
    assert_same_on_engines(aggregate_records, rows, RECORD_SCHEMA)
    assert_same_on_engines(lambda df: linking_edges(key_edges(aggregate_records(df))), rows, RECORD_SCHEMA)

    def demo(df):
        from pyspark.sql import functions as F

        rec = (aggregate_records(df).withColumn("label1", F.col("rec_id"))
               .withColumn("comp_has_upn", F.col("upn").isNotNull()))
        return demographic_edges(rec, [["la", "dob_hash", "sex", "ethnicity"]])

    assert_same_on_engines(demo, rows, RECORD_SCHEMA)
    edges = [("a", "k1"), ("b", "k1"), ("b", "k2"), ("c", "k2")]
    labels = [("a", "a"), ("b", "b"), ("c", "c")]

    def one_round(df):
        e = df.select("member", "key")
        lab = df.select("member").distinct().withColumn("label", df["member"])
        return propagate_once(e, lab)

    assert_same_on_engines(one_round, edges, "member string, key string")
    assert labels  # the starting labels are each member's own id
