"""Linkage's pure steps, one at a time, on small hand-made DataFrames.

Expected frames are worked out by hand from the rules in conf/linkage.yaml and the
module docstring of cslake.linkage.build (comments say why each row is as it is).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from chispa import assert_df_equality
from pyspark.sql import functions as F

from cslake import pseudo
from cslake.linkage.build import (apply_mapping, assign_rules, demographic_edges, demographic_mapping, find_conflicts,
                                  key_edges, label_records, linking_edges, mark_demographic, most_frequent,
                                  person_table, spine_rows)
from cslake.linkage.journeys import cin_events, cin_journey_rows, events_to_person, person_by_la_id, send_events
from cslake.linkage.records import Source, aggregate_records, source_rows

D = dt.date
PRIORITY = {"upn": 1, "former_upn": 2, "la_child_id": 3, "uln": 4, "demographic": 5}
RULES = {"upn": {"priority": 1, "confidence": "high"}, "former_upn": {"priority": 2, "confidence": "high"},
         "la_child_id": {"priority": 3, "confidence": "high"}, "demographic": {"priority": 5, "confidence": "medium"}}


def _eq(actual, expected):
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


# ---------------------------------------------------------------------------
# Records and deterministic keys
# ---------------------------------------------------------------------------

ROWS = ("collection string, table string, la string, year int, record_key string, upn string, former_upn string, "
        "la_child_id string, uln string, dob_month date, dob_hash string, sex string, ethnicity string, "
        "postcode_sector string, _file_sha256 string, _row bigint")


def test_aggregate_records_one_record_per_child_per_return(spark):
    rows = spark.createDataFrame([
        # One child, two rows in one return, two UPNs: the record keeps both (upn = max, upn_other = min).
        ("cin", "cin_child", "201", 2023, "c1", "U2", None, "c1", None, D(2015, 3, 1), "h", "M", "WBRI", None, "f1", 5),
        ("cin", "cin_child", "201", 2023, "c1", "U1", None, "c1", None, D(2015, 3, 1), "h", "M", "WBRI", None, "f1", 3),
        # Another return of the same child: another record.
        ("cin", "cin_child", "201", 2024, "c1", "U2", None, "c1", None, D(2015, 3, 1), "h", "M", "WBRI", None, "f2", 2),
    ], ROWS)
    got = aggregate_records(rows).select("year", "record_key", "upn", "upn_other", "_file_sha256", "_row", "n_rows",
                                         "rec_id")

    def rec_id(year):
        ident = "|".join(["cin", "cin_child", "201", str(year), "c1"])
        return f"{year:04d}:" + hashlib.sha256(ident.encode()).hexdigest()

    _eq(got, spark.createDataFrame([
        (2023, "c1", "U2", "U1", "f1", 3, 2, rec_id(2023)),
        (2024, "c1", "U2", None, "f2", 2, 1, rec_id(2024)),  # one UPN: no upn_other
    ], "year int, record_key string, upn string, upn_other string, _file_sha256 string, _row bigint, "
       "n_rows bigint, rec_id string"))


def test_source_rows_normalise_sex_and_ethnicity_and_key_rows_without_an_id(spark):
    silver = spark.createDataFrame([
        ("201", 2024, "f1", 4, "c1", " 2 ", "wbri1"),
        ("201", 2024, "f1", 5, None, "9", "WBRI"),
    ], "_la string, _year int, _file_sha256 string, _row int, CHILD_hash string, SEX string, ETHNIC string")
    src = Source(collection="ssda903", table="header", record_key="CHILD_hash", la_child_id="CHILD_hash",
                 sex=("SEX",), ethnicity="ETHNIC")
    conf = {"sex_codes": {"1": "M", "2": "F"}, "ethnicity_main": {"WBRI": ["WBRI1"]}}
    got = source_rows(silver, src, conf).select("collection", "table", "la", "year", "record_key", "la_child_id",
                                                "upn", "dob_month", "sex", "ethnicity", "_row")
    _eq(got, spark.createDataFrame([
        ("ssda903", "header", "201", 2024, "c1", "c1", None, None, "F", "WBRI", 4),  # "2" is F; WBRI1 is WBRI
        ("ssda903", "header", "201", 2024, "row:f1:5", None, None, None, None, "WBRI", 5),  # 9: no sex
    ], "collection string, table string, la string, year int, record_key string, la_child_id string, upn string, "
       "dob_month date, sex string, ethnicity string, _row bigint"))


KEYED = "rec_id string, upn string, upn_other string, former_upn string, la_child_id string, uln string"


def test_key_edges_and_only_shared_keys_link(spark):
    records = spark.createDataFrame([
        ("r1", "U1", None, None, "201:1", None),
        ("r2", "U2", "U1", None, None, None),  # a second UPN on the record links to U1's people
        ("r3", None, None, "U2", "201:1", "L9"),  # former UPN U2; the LA id of r1; a ULN nobody else has
    ], KEYED)
    edges = key_edges(records)
    _eq(edges, spark.createDataFrame([
        ("r1", "u:U1", "upn"), ("r1", "c:201:1", "la_child_id"),
        ("r2", "u:U2", "upn"), ("r2", "u:U1", "upn"),
        ("r3", "u:U2", "former_upn"), ("r3", "c:201:1", "la_child_id"), ("r3", "l:L9", "uln"),
    ], "member string, key string, rule string"))
    _eq(linking_edges(edges).select("member", "key", "rule"), spark.createDataFrame([
        ("r1", "u:U1", "upn"), ("r2", "u:U1", "upn"), ("r2", "u:U2", "upn"), ("r3", "u:U2", "former_upn"),
        ("r1", "c:201:1", "la_child_id"), ("r3", "c:201:1", "la_child_id"),  # l:L9 is held by r3 alone
    ], "member string, key string, rule string"))


def test_label_records_gives_component_best_rule_and_upn_presence(spark):
    records = spark.createDataFrame([
        ("r1", "U1", None), ("r2", None, None), ("r3", None, None), ("r4", None, "U9"), ("r5", "U9", None),
    ], "rec_id string, upn string, former_upn string")
    edges = spark.createDataFrame([
        ("r1", "u:U1", "upn"), ("r1", "c:L1", "la_child_id"), ("r2", "c:L1", "la_child_id"),
        ("r4", "u:U9", "former_upn"), ("r5", "u:U9", "upn"),
    ], "member string, key string, rule string")
    labels = spark.createDataFrame([("r1", "r1"), ("r2", "r1"), ("r4", "r4"), ("r5", "r4")], "member string, label string")
    got = label_records(records, edges, labels, PRIORITY).select("rec_id", "label1", "rule_priority", "has_upn",
                                                                 "comp_has_upn")
    _eq(got, spark.createDataFrame([
        ("r1", "r1", 1, True, True),
        ("r2", "r1", 3, False, True),  # LA id only, in r1's component (which has a UPN)
        ("r3", "r3", None, False, False),  # no key: its own component
        ("r4", "r4", 2, True, True),  # a former UPN counts as a UPN
        ("r5", "r4", 1, True, True),
    ], "rec_id string, label1 string, rule_priority int, has_upn boolean, comp_has_upn boolean"))


# ---------------------------------------------------------------------------
# Rule 5: demographic agreement
# ---------------------------------------------------------------------------

def test_demographic_edges_link_only_unique_agreement(spark):
    rec = spark.createDataFrame([
        # h1: one UPN component and one without, in two returns: links.
        ("a1", True, "school_census", "201", 2024, "h1", "M"),
        ("a2", False, "sen2", "201", 2024, "h1", "M"),
        # h2: two UPN-bearing components: ambiguous.
        ("b1", True, "school_census", "201", 2024, "h2", "F"),
        ("b2", True, "school_census", "201", 2025, "h2", "F"),
        # h3: two components in one return: two children.
        ("c1", False, "sen2", "201", 2023, "h3", "M"),
        ("c2", False, "sen2", "201", 2023, "h3", "M"),
        ("c3", False, "cin", "201", 2023, "h3", "M"),
        # h4: one component alone; h5 with no sex: not complete, never a key.
        ("d1", False, "cin", "201", 2023, "h4", "M"),
        ("e1", False, "cin", "201", 2023, "h5", None),
        ("e2", False, "sen2", "201", 2023, "h5", None),
    ], "label1 string, comp_has_upn boolean, collection string, la string, year int, dob_hash string, sex string")
    got = demographic_edges(rec, [["la", "dob_hash", "sex"]]).select("member", "key")
    _eq(got, spark.createDataFrame([("a1", "d1|201|h1|M"), ("a2", "d1|201|h1|M")], "member string, key string"))


MAP_REC = "label1 string, comp_has_upn boolean, collection string, la string, year int, la_child_id string"


def test_demographic_mapping_keeps_only_unambiguous_merges(spark):
    rec = spark.createDataFrame([
        ("a1", True, "school_census", "201", 2024, None), ("a2", False, "sen2", "201", 2024, None),
        ("b1", True, "school_census", "201", 2024, None), ("b2", True, "school_census", "201", 2025, None),
        ("b3", False, "sen2", "201", 2025, None),
        ("c1", False, "sen2", "201", 2023, None), ("c2", False, "sen2", "201", 2023, None),
        ("c3", False, "cin", "201", 2023, "L3"),
        ("d1", False, "cin", "201", 2022, "L1"), ("d2", False, "annex_a", "201", 2022, "L2"),
        ("e1", False, "cin", "202", 2024, "L9"),
        ("f1", False, "sen2", "203", 2024, None), ("f2", False, "annex_a", "203", 2025, None),
    ], MAP_REC)
    labels = spark.createDataFrame([(m, m[0] + "1") for m in ("a1", "a2", "b1", "b2", "b3", "c1", "c2", "c3", "d1",
                                                             "d2", "f1", "f2")], "member string, label string")
    got = demographic_mapping(rec, labels)
    _eq(got, spark.createDataFrame([
        ("a1", "a1", False, False),  # the UPN-bearing host is not itself a demographic link
        ("a2", "a1", True, False),
        ("b1", "b1", False, True), ("b2", "b2", False, True), ("b3", "b3", False, True),  # two UPN components
        ("c1", "c1", False, True), ("c2", "c2", False, True), ("c3", "c3", False, True),  # two in one return
        ("d1", "d1", False, True), ("d2", "d2", False, True),  # two LA child ids of LA 201
        ("e1", "e1", False, False),  # no demographic edge: alone
        ("f1", "f1", True, False), ("f2", "f1", True, False),  # no UPN on either side: both demographic
    ], "label1 string, label string, demographic boolean, _rejected boolean"))


def test_apply_mapping_and_mark_demographic(spark):
    rec = spark.createDataFrame([
        ("x1", "a1", 1), ("x2", "a2", None), ("x3", "e1", None), ("x4", "g1", 3), ("x5", "g1", None),
    ], "rec_id string, label1 string, rule_priority int")
    mapping = spark.createDataFrame([("a1", "a1", False, False), ("a2", "a1", True, False)],
                                    "label1 string, label string, demographic boolean, _rejected boolean")
    final = apply_mapping(rec, mapping)
    _eq(final, spark.createDataFrame([
        ("x1", "a1", 1, "a1", False), ("x2", "a2", None, "a1", True),
        ("x3", "e1", None, "e1", False), ("x4", "g1", 3, "g1", False), ("x5", "g1", None, "g1", False),
    ], "rec_id string, label1 string, rule_priority int, label string, demographic boolean"))
    got = mark_demographic(final).select("rec_id", "demographic")
    # x5 has no deterministic rule yet shares g1 with x4: joined by agreement. x3 is alone.
    _eq(got, spark.createDataFrame([("x1", False), ("x2", True), ("x3", False), ("x4", False), ("x5", True)],
                                   "rec_id string, demographic boolean"))


# ---------------------------------------------------------------------------
# The spine, persons and conflicts
# ---------------------------------------------------------------------------

KEY = "pure-linkage-test-key-0123456789"


def test_assign_rules_and_person_id(spark, monkeypatch):
    final = spark.createDataFrame([("r1", "p", False, 1), ("r2", "p", True, 3), ("r3", "q", False, None),
                                   ("r4", "p", False, 3)],
                                  "rec_id string, label string, demographic boolean, rule_priority int")
    got = assign_rules(final, RULES).select("rec_id", "rule", "confidence")
    _eq(got, spark.createDataFrame([("r1", "upn", "high"), ("r2", "demographic", "medium"),
                                    ("r3", "none", "unlinked"), ("r4", "la_child_id", "high")],
                                   "rec_id string, rule string, confidence string"))
    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    ids = dict(spine_rows(final, RULES).select("rec_id", "person_id").collect())

    def person(label):
        return hmac.new(KEY.encode(), f"person_id\x1f{label}".encode(), hashlib.sha256).hexdigest()

    assert ids == {"r1": person("p"), "r2": person("p"), "r3": person("q"), "r4": person("p")}


SPINE = ("upn string, la_child_id string, dob_hash string, dob_month date, sex string, collection string, "
         "la string, person_id string")


def test_find_conflicts_reports_identifiers_whose_records_disagree(spark):
    spine = spark.createDataFrame([
        # U1: one month, two exact dates (hashes differ): a dob conflict, linked.
        ("U1", None, "h1aaaaaaXX", D(2012, 1, 1), "M", "cin", "201", "p1"),
        ("U1", None, "h2bbbbbbYY", D(2012, 1, 1), "M", "school_census", "202", "p1"),
        # U2: two sexes, the records in two persons.
        ("U2", None, None, None, "M", "cin", "201", "p3"),
        ("U2", None, None, None, "F", "sen2", "201", "p2"),
        # U3 agrees; L1 (an LA id) has two months and no hashes.
        ("U3", None, "h3", D(2011, 5, 1), "F", "cin", "201", "p4"),
        ("U3", None, "h3", D(2011, 5, 1), "F", "cin", "201", "p4"),
        (None, "L1", None, D(2013, 2, 1), "F", "cin", "201", "p5"),
        (None, "L1", None, D(2013, 3, 1), "F", "annex_a", "201", "p5"),
    ], SPINE)
    got = _arrays_as_text(find_conflicts(spine, "run-1"), ["values", "collections", "las"])
    _eq(got, spark.createDataFrame([
        ("upn_dob", "upn", "U1", "p1", "2012-01-01 #h1aaaaaa,2012-01-01 #h2bbbbbb", "cin,school_census", "201,202", 2,
         "linked on the identifier; flagged for the LA to check", "run-1"),
        # person_id: the smallest of the two persons
        ("upn_sex", "upn", "U2", "p2", "F,M", "cin,sen2", "201", 2, "not linked: records sit in different persons",
         "run-1"),
        ("la_child_id_dob", "la_child_id", "L1", "p5", "2013-02-01,2013-03-01", "annex_a,cin", "201", 2,
         "linked on the identifier; flagged for the LA to check", "run-1"),
    ], "conflict string, key_class string, key_hash string, person_id string, values string, collections string, "
       "las string, records bigint, resolution string, run_id string"))


def _arrays_as_text(df, cols):
    """Array columns joined with "," (Sail sorts no array columns, which chispa's row-order-blind
    comparison needs); the arrays are sorted by the code under test, so the text is deterministic."""
    return df.select(*[F.array_join(c, ",").alias(c) if c in cols else F.col(c) for c in df.columns])


def test_most_frequent_value_per_key_ties_to_the_smallest(spark):
    df = spark.createDataFrame([("p1", "M"), ("p1", "M"), ("p1", "F"), ("p2", "M"), ("p2", "F"), ("p3", None)],
                               "person_id string, sex string")
    _eq(most_frequent(df, "person_id", "sex", "mode"),
        spark.createDataFrame([("p1", "M"), ("p2", "F")], "person_id string, mode string"))  # p3: no value


def test_person_table_one_row_per_person(spark):
    spine = spark.createDataFrame([
        ("p1", 2023, "cin", "201", True, D(2015, 3, 1), "M", "WBRI"),
        ("p1", 2025, "sen2", "202", False, D(2015, 3, 1), "M", None),
        ("p1", 2024, "cin", "201", False, D(2015, 4, 1), "F", "WBRI"),
        ("p2", 2024, "annex_a", "203", False, None, None, None),
    ], "person_id string, year int, collection string, la string, has_valid_upn boolean, dob_month date, "
       "sex string, ethnicity string")
    conflicts = spark.createDataFrame([("p1",), ("p1",)], "person_id string")
    got = _arrays_as_text(person_table(spine, conflicts), ["collections", "las"]).select(
        "person_id", "first_seen_year", "last_seen_year", "collections", "las", "records", "has_upn", "dob_month",
        "sex", "ethnicity", "has_conflict")
    _eq(got, spark.createDataFrame([
        ("p1", 2023, 2025, "cin,sen2", "201,202", 3, True, D(2015, 3, 1), "M", "WBRI", True),
        ("p2", 2024, 2024, "annex_a", "203", 1, False, None, None, None, False),
    ], "person_id string, first_seen_year int, last_seen_year int, collections string, las string, records bigint, "
       "has_upn boolean, dob_month date, sex string, ethnicity string, has_conflict boolean"))


def test_person_by_la_id_maps_each_la_child_id_to_its_person(spark):
    spine = spark.createDataFrame([
        ("cin", "201", "c1", "p1"), ("cin", "201", "c1", "p1"), ("cin", "202", "c1", "p2"),
        ("cin", "201", "row:f:3", "p3"),  # no id of its own
        ("ssda903", "201", "c9", "p4"),  # another collection
    ], "collection string, la string, record_key string, person_id string")
    _eq(person_by_la_id(spine, ["cin"]),
        spark.createDataFrame([("201", "c1", "p1"), ("202", "c1", "p2")], "la string, _id string, person_id string"))


def test_cin_events_once_per_person_latest_submission(spark):
    episodes = spark.createDataFrame([
        # One referral sent in 2023 and again in 2024 (still open): once, year 2024.
        ("201", "c1", D(2022, 10, 1), "1A", True, 2023),
        ("201", "c1", D(2022, 10, 1), "1B", True, 2024),
        ("201", "c1", D(2021, 1, 1), "2", False, 2022),  # not the latest submission of its episode
        ("201", "c2", None, "3", True, 2024),  # no date: no event
        ("202", "c9", D(2023, 1, 5), None, True, 2024),  # an id no person holds
    ], "_la string, LAchildID_hash string, CINreferralDate date, ReferralSource string, _latest boolean, _year int")
    events = cin_events(episodes, "silver.cin_episode", "CINreferralDate", "referral", "ReferralSource")
    assert cin_events(episodes, "silver.cin_episode", "CINclosureDate", "closure", None) is None
    ids = spark.createDataFrame([("201", "c1", "p1"), ("201", "c2", "p2")], "la string, _id string, person_id string")
    _eq(cin_journey_rows(events, ids).select("person_id", "la", "event", "event_date", "referral_date", "year", "code",
                                             "source_table"),
        spark.createDataFrame([("p1", "201", "referral", D(2022, 10, 1), D(2022, 10, 1), 2024, "1B",
                                "silver.cin_episode")],
                              "person_id string, la string, event string, event_date date, referral_date date, "
                              "year int, code string, source_table string"))


def test_send_events_walk_up_the_xml_to_the_person(spark):
    plans = spark.createDataFrame([("f", 30, 20, "201", D(2024, 2, 1), 2024), ("f", 31, 21, "201", None, 2024)],
                                  "_file_sha256 string, _row bigint, _parent_row bigint, _la string, StartDate date, "
                                  "_year int")
    assessments = spark.createDataFrame([("f", 20, 10), ("f", 21, 11)], "_file_sha256 string, _row bigint, _parent_row bigint")
    requests = spark.createDataFrame([("f", 10, 1), ("f", 11, 2)], "_file_sha256 string, _row bigint, _parent_row bigint")
    persons = spark.createDataFrame([("f", 1, "p1"), ("f", 2, "p2")], "_f string, _r0 bigint, person_id string")
    ev = send_events(plans, "silver.sen2_named_plan", "StartDate", "plan_issued", None)
    # plan row 30 -> assessment 20 -> request 10 -> person row 1 (p1); plan 31 has no date
    _eq(events_to_person(ev, [assessments, requests], persons).select("person_id", "la", "event", "event_date", "year"),
        spark.createDataFrame([("p1", "201", "plan_issued", D(2024, 2, 1), 2024)],
                              "person_id string, la string, event string, event_date date, year int"))


# ---------------------------------------------------------------------------
# Incremental linkage: tokens, changed records, the affected set, replaced rows
# ---------------------------------------------------------------------------

TOKENED = "rec_id string, upn string, upn_other string, former_upn string, la_child_id string, uln string, " \
          "la string, dob_hash string, sex string"


def test_record_tokens_are_keys_and_complete_signatures_only(spark):
    from cslake.linkage.keys import record_tokens

    records = spark.createDataFrame([
        ("r1", "U1", None, "U0", "C1", None, "201", "h1", "M"),  # UPN and former UPN share the u: domain
        ("r2", None, None, None, None, "L9", "201", "h1", None),  # no sex: the (la, dob, sex) pass is incomplete
        ("r3", None, None, None, "U1", None, "201", "h1", "M"),  # an LA id equal to r1's UPN is another key
        ("r4", None, None, "U1", None, None, "202", "h1", "M"),  # r1's UPN as a former UPN; another LA
    ], TOKENED)
    tokens = record_tokens(records, [["la", "dob_hash", "sex"], ["la", "dob_hash"]]).toPandas()
    held = tokens.groupby("rec_id")["token"].apply(set).to_dict()
    assert len(held["r1"]) == 5 and len(held["r2"]) == 2  # u:U1, u:U0, c:C1, d1, d2; l:L9, d2
    shared = {(a, b): held[a] & held[b] for a in held for b in held if a < b}
    assert len(shared["r1", "r2"]) == 1  # the second pass's signature only
    assert len(shared["r1", "r3"]) == 2  # both signatures; c:U1 is not u:U1
    assert len(shared["r1", "r4"]) == 1  # u:U1 (former UPN = UPN); no signature across LAs
    assert not shared["r2", "r4"] and not shared["r3", "r4"]


def test_changed_records_are_added_removed_or_different_in_any_column(spark):
    from cslake.linkage.incremental import changed_records

    schema = "rec_id string, upn string, _row bigint"
    before = spark.createDataFrame([("same", "U1", 1), ("gone", "U2", 1), ("moved", "U3", 1), ("nulled", "U4", 1)],
                                   schema)
    after = spark.createDataFrame([("same", "U1", 1), ("new", "U5", 1), ("moved", "U3", 2), ("nulled", None, 1)],
                                  schema)
    got = changed_records(before, after, ["rec_id", "upn", "_row"])
    _eq(got, spark.createDataFrame([("gone",), ("new",), ("moved",), ("nulled",)], "rec_id string"))


def test_widen_once_follows_shared_tokens_one_step(spark):
    from cslake.linkage.incremental import widen_once

    links = spark.createDataFrame([(1, 11), (2, 11), (2, 21), (3, 21), (5, 99), (1, 7), (6, 7)],
                                  "_rid long, token long")
    got = widen_once(spark.createDataFrame([(1,)], "_rid long"), links)
    # 2 and 6 share a token with 1; 3 is two steps away (through 2's other token): not yet; 5 never.
    _eq(got, spark.createDataFrame([(1,), (2,), (6,)], "_rid long"))
    _eq(widen_once(got, links), spark.createDataFrame([(1,), (2,), (6,), (3,)], "_rid long"))


def test_closure_links_tie_records_of_one_old_person(spark):
    from cslake.linkage.incremental import closure_links, with_rid

    records = spark.createDataFrame([("r1", "U1", None, None, None, None, "201", None, None),
                                     ("r2", None, None, None, "C2", None, "201", None, None)], TOKENED)
    persons = spark.createDataFrame([("r1", "P"), ("r2", "P")], "rec_id string, person_id string")
    links = closure_links(records, persons, []).toPandas()
    rid = {r.rec_id: r._rid for r in with_rid(records).collect()}
    held = links.groupby("_rid")["token"].apply(set)
    assert len(held[rid["r1"]]) == 2 and len(held[rid["r1"]] & held[rid["r2"]]) == 1  # the person, not a key


def test_within_selects_records_by_their_hashed_id(spark):
    from cslake.linkage.incremental import with_rid, within

    records = spark.createDataFrame([("r1", "U1"), ("r2", "U1")], "rec_id string, upn string")
    affected = with_rid(records.filter("rec_id = 'r2'")).select("_rid")
    assert [r.rec_id for r in within(records, affected).collect()] == ["r2"]
    assert [r.rec_id for r in within(records, affected, "left_anti").collect()] == ["r1"]


def test_replaced_persons_drop_the_old_persons_of_affected_records_only(spark):
    from cslake.catalog import table_spec
    from cslake.linkage.build import replaced_persons

    cols = table_spec("silver.person").column_names
    old = spark.createDataFrame([
        ("P1", D(2015, 3, 1), "M", "WBRI", 2020, 2024, ["cin"], ["201"], 2, True, False),
        ("P2", D(2016, 1, 1), "F", "WBRI", 2021, 2021, ["cin"], ["202"], 1, False, False),
    ], table_spec("silver.person").spark_schema()).select(*cols)
    got = replaced_persons(old, spark.createDataFrame([("P2",)], "person_id string"), None, None)
    assert [r.person_id for r in got.collect()] == ["P1"]
