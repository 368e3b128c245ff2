"""The pure pieces of the gold stages on small hand-made DataFrames, against hand-computed answers.

RIIA indicators (cslake.gold.riia) and disproportionality (cslake.gold.disproportionality):
each transform is DataFrame -> DataFrame, compared with chispa; the driver-side assembly of
the indicators table (pandas: a few rows per LA, quarter and indicator) on hand-made frames.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from chispa import assert_df_equality

from cslake.gold import disproportionality as dis, riia
from cslake.vocab import quarters_of

d = date.fromisoformat


def same(got, expected, **kw):
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_column_order=True, **kw)


EVENT_SCHEMA = "_la string, indicator_id int, breakdown string, event_date date, num int, den int"


# ---------------------------------------------------------------------------
# riia: events


def test_repeat_referrals_count_the_12_months_before_in_the_same_or_any_la(spark):
    # person P: 201 on 2023-01-10, 201 on 2024-01-10 (exactly 12 months later: a repeat),
    # 202 on 2024-06-01 (a repeat only across LAs: 201's 2024-01-10 is < 12 months before);
    # person Q: 201 on 2022-01-01 and 2023-01-02 (12 months and a day: not a repeat).
    refs = spark.createDataFrame(
        [("201", "P", d("2023-01-10"), "1"), ("201", "P", d("2024-01-10"), "1"), ("202", "P", d("2024-06-01"), None),
         ("201", "Q", d("2022-01-01"), "2"), ("201", "Q", d("2023-01-02"), "2")],
        "_la string, person string, CINreferralDate date, ReferralSource string")
    flags = riia.repeat_referral_flags(refs)
    same(flags, spark.createDataFrame(
        [("P", "201", d("2023-01-10"), 0, 0), ("P", "201", d("2024-01-10"), 1, 1), ("P", "202", d("2024-06-01"), 0, 1),
         ("Q", "201", d("2022-01-01"), 0, 0), ("Q", "201", d("2023-01-02"), 0, 0)],
        "f_person string, f_la string, f_date date, n_prev_la bigint, n_prev_any bigint"))
    ev = riia.union_all(riia.referral_events(refs))
    rows = [("201", 2, "all", d("2023-01-10"), 1, None), ("201", 2, "all", d("2024-01-10"), 1, None),
            ("202", 2, "all", d("2024-06-01"), 1, None), ("201", 2, "all", d("2022-01-01"), 1, None),
            ("201", 2, "all", d("2023-01-02"), 1, None),
            ("201", 2, "source 1", d("2023-01-10"), 1, None), ("201", 2, "source 1", d("2024-01-10"), 1, None),
            ("202", 2, "source unknown", d("2024-06-01"), 1, None), ("201", 2, "source 2", d("2022-01-01"), 1, None),
            ("201", 2, "source 2", d("2023-01-02"), 1, None)]
    for b in ("all", riia.ANY_LA):
        rows += [("201", 3, b, d("2023-01-10"), 0, 1), ("201", 3, b, d("2024-01-10"), 1, 1),
                 ("202", 3, b, d("2024-06-01"), int(b == riia.ANY_LA), 1),
                 ("201", 3, b, d("2022-01-01"), 0, 1), ("201", 3, b, d("2023-01-02"), 0, 1)]
    same(ev, spark.createDataFrame(rows, EVENT_SCHEMA))


def test_repeat_plans_ever_and_within_two_years(spark):
    # P: plan in 201 2020-01-01..2021-06-30, then 201 from 2023-06-01 (ended < 2 years before: both 13 and 14);
    # Q: plan 2019-01-01..2019-03-01 in 201, then 202 from 2022-01-01 (ended > 2 years before: 13 any LA only);
    # R: one plan, NumberOfPreviousCPP 1 (13 by the return's own count, not 14).
    plans = spark.createDataFrame(
        [("201", "P", d("2020-01-01"), d("2021-06-30"), 0), ("201", "P", d("2023-06-01"), None, 0),
         ("201", "Q", d("2019-01-01"), d("2019-03-01"), 0), ("202", "Q", d("2022-01-01"), None, 0),
         ("201", "R", d("2023-01-01"), None, 1)],
        "_la string, person string, CPPstartDate date, CPPendDate date, NumberOfPreviousCPP int")
    ev = riia.union_all(riia.plan_events(plans)).where("indicator_id in (13, 14)")
    rows = []
    for b in ("all", riia.ANY_LA):
        any_la = int(b == riia.ANY_LA)
        rows += [("201", 13, b, d("2020-01-01"), 0, 1), ("201", 13, b, d("2023-06-01"), 1, 1),
                 ("201", 13, b, d("2019-01-01"), 0, 1), ("202", 13, b, d("2022-01-01"), any_la, 1),
                 ("201", 13, b, d("2023-01-01"), 1, 1),
                 ("201", 14, b, d("2020-01-01"), 0, 1), ("201", 14, b, d("2023-06-01"), 1, 1),
                 ("201", 14, b, d("2019-01-01"), 0, 1), ("202", 14, b, d("2022-01-01"), 0, 1),
                 ("201", 14, b, d("2023-01-01"), 0, 1)]
    same(ev, spark.createDataFrame(rows, EVENT_SCHEMA))


def test_with_person_uses_the_spine_else_the_la_id(spark):
    df = spark.createDataFrame([("201", "a"), ("202", "b"), ("201", None)], "_la string, id string")
    ids = spark.createDataFrame([("201", "a", "P1")], "la string, _id string, person_id string")
    same(riia.with_person(df, "id", ids), spark.createDataFrame(
        [("201", "a", "P1"), ("202", "b", "la:202:b"), ("201", None, None)], "_la string, id string, person string"))
    same(riia.with_person(df, "id"), spark.createDataFrame(
        [("201", "a", "la:201:a"), ("202", "b", "la:202:b"), ("201", None, None)], "_la string, id string, person string"))


def test_care_starts_and_ends(spark):
    care = spark.createDataFrame(
        [("201", "c1", d("2024-05-01"), d("2024-07-01"), "S", "E11", "C2"),   # starts a period, ends it
         ("201", "c1", d("2024-07-01"), None, "P", None, "C2"),                # placement change: neither
         ("201", "c2", d("2024-08-01"), d("2024-09-01"), "L", "X1", "C2"),     # X1: episode ends, care goes on
         ("201", "c3", d("2024-05-02"), d("2024-05-04"), "S", "E8", "V3"),     # a short break: neither
         # two periods of care in one quarter: one child started, one child ceased (the first date kept)
         ("201", "c4", d("2024-07-10"), d("2024-07-20"), "S", "E11", "C2"),
         ("201", "c4", d("2024-08-10"), d("2024-09-20"), "S", "E11", "C2")],
        "_la string, CHILD_hash string, DECOM date, DEC date, RNE string, REC string, LS string")
    same(riia.union_all(riia.care_events(care)), spark.createDataFrame(
        [("201", 16, "all", d("2024-05-01"), 1, None), ("201", 17, "all", d("2024-07-01"), 1, None),
         ("201", 16, "all", d("2024-07-10"), 1, None), ("201", 17, "all", d("2024-07-20"), 1, None)], EVENT_SCHEMA))


def test_sen2_events_and_the_20_week_limit(spark):
    req = spark.createDataFrame([("201", d("2024-02-01"))], "_la string, ReceivedDate date")
    ass = spark.createDataFrame([("201", d("2024-03-01"), "Y"), ("201", d("2024-03-02"), "N"),
                                 ("201", d("2024-03-03"), "A")], "_la string, AssessmentOutcomeDate date, AssessmentOutcome string")
    plans = spark.createDataFrame([("201", d("2024-01-01"), d("2024-05-20")),    # 140 days: within
                                   ("201", d("2024-01-01"), d("2024-05-21")),    # 141 days: not
                                   ("201", None, d("2024-06-01"))],               # no request date: not
                                  "_la string, ReceivedDate date, StartDate date")
    rows = [("201", 22, "all", d("2024-02-01"), 1, None), ("201", 23, "all", d("2024-03-01"), 1, None),
            ("201", 23, "all", d("2024-03-02"), 1, None)]
    rows += [("201", 24, "all", s, 1, None) for s in (d("2024-05-20"), d("2024-05-21"), d("2024-06-01"))]
    rows += [("201", 24, riia.WITHIN_20_WEEKS, d("2024-05-20"), 1, 1), ("201", 24, riia.WITHIN_20_WEEKS, d("2024-05-21"), 0, 1),
             ("201", 24, riia.WITHIN_20_WEEKS, d("2024-06-01"), 0, 1)]
    same(riia.union_all(riia.sen2_events(req, ass, plans)), spark.createDataFrame(rows, EVENT_SCHEMA))


def test_event_counts_by_financial_quarter(spark):
    ev = spark.createDataFrame(
        [("201", 3, "all", d("2024-03-31"), 1, 1), ("201", 3, "all", d("2024-04-01"), 0, 1),
         ("201", 3, "all", d("2024-06-30"), 1, 1), ("201", 2, "all", d("2025-01-01"), 1, None)], EVENT_SCHEMA)
    same(riia.event_counts(ev), spark.createDataFrame(
        [("201", "2023-24 Q4", 3, "all", 1, 1), ("201", "2024-25 Q1", 3, "all", 1, 2),
         ("201", "2024-25 Q4", 2, "all", 1, None)],
        "_la string, period string, indicator_id int, breakdown string, number bigint, den bigint"))


# ---------------------------------------------------------------------------
# riia: snapshots and annual figures


def _quarter_ends(spark, year=2025):
    return spark.createDataFrame([(q.label, q.end) for q in quarters_of(year)], "period string, quarter_end date")


def test_current_cla_leaves_out_short_breaks_and_ends_on_the_day(spark):
    from pyspark.sql import functions as F

    care = spark.createDataFrame(
        [("201", "c1", d("2024-04-01"), d("2024-06-30"), "C2"),   # ends on Q1's last day: not open at it
         ("201", "c2", d("2024-06-30"), None, "C2"),              # starts on Q1's last day: open at every end
         ("201", "c3", d("2024-05-01"), None, "V3"),              # short break
         ("201", "c4", d("2024-08-01"), d("2024-10-01"), None),   # no legal status: counted, Q2 only
         # left open in the 2024 return, missing from 2025's: not looked after at any 2024-25 quarter end
         ("201", "c5", d("2023-06-01"), None, "C2")],
        "_la string, CHILD_hash string, DECOM date, DEC date, LS string")
    care = care.withColumn("_year", F.when(F.col("CHILD_hash") == "c5", 2024).otherwise(2025))
    cla = riia.current_cla(care, _quarter_ends(spark)).select("_la", "period", "CHILD_hash")
    q = [x.label for x in quarters_of(2025)]
    same(cla, spark.createDataFrame([("201", p, "c2") for p in q] + [("201", q[1], "c4")],
                                    "_la string, period string, CHILD_hash string"))


def test_current_uasc_needs_a_record_without_an_earlier_duc(spark):
    cla = spark.createDataFrame([("201", "2024-25 Q1", d("2024-06-30"), "c1"), ("201", "2024-25 Q2", d("2024-09-30"), "c1"),
                                 ("201", "2024-25 Q1", d("2024-06-30"), "c2")],
                                "_la string, period string, quarter_end date, CHILD_hash string")
    uasc = spark.createDataFrame([("201", "c1", d("2024-09-30"))], "_la string, CHILD_hash string, DUC date")
    same(riia.current_uasc(cla, uasc), spark.createDataFrame(
        [("201", "2024-25 Q1", d("2024-06-30"), "c1")], "_la string, period string, quarter_end date, CHILD_hash string"))


def test_care_leavers_and_those_ever_uasc(spark):
    oc3 = spark.createDataFrame([("201", 2025, "a"), ("201", 2025, "a"), ("201", 2025, "b"), ("202", 2025, "c")],
                                "_la string, _year int, CHILD_hash string")
    uasc = spark.createDataFrame([("201", "b"), ("201", "b"), ("202", "z")], "_la string, CHILD_hash string")
    expected = spark.createDataFrame([("201", 2025, 2, 1), ("202", 2025, 1, 0)],
                                     "_la string, _year int, leavers bigint, uasc_leavers bigint")
    same(riia.care_leaver_counts(oc3, uasc), expected)
    same(riia.care_leaver_counts(oc3, None),
         expected.withColumn("uasc_leavers", expected["uasc_leavers"] * 0))


def test_children_population_is_ages_0_to_17(spark):
    pop = spark.createDataFrame([("201", 2023, 0, 10), ("201", 2023, 17, 5), ("201", 2023, 18, 100)],
                                "la_code string, year int, age int, population int")
    same(riia.children_population(pop), spark.createDataFrame([("201", 2023, 15)],
                                                              "la_code string, year int, population bigint"))


# ---------------------------------------------------------------------------
# riia: the table (driver side)


def _counts(rows) -> pd.DataFrame:
    """Child-level counts as collected from Spark: numbers and denominators are floats (NaN = null)."""
    return pd.DataFrame(rows, columns=riia.COUNT_COLUMNS).astype({"number": float, "den": float})


def test_indicators_table_zero_null_region_and_rates():
    """Two LAs sent CIN 2025; only 201 sent SEN2 2025 (holding calendar 2024). One referral in 201's
    Q1; 202's SEN2 figures are null, not zero; the region sums; rates per 10,000 of 0-17s."""
    presence = pd.DataFrame({"_la": ["201", "202", "201"], "_year": [2025, 2025, 2025],
                             "collection": ["cin", "cin", "sen2"]})
    child = _counts([("201", "2024-25 Q1", 2, "all", 1, None)])
    population = pd.DataFrame({"la_code": ["201", "202"], "year": [2024, 2023], "population": [1000.0, 4000.0]})
    template = pd.DataFrame(columns=riia.TEMPLATE_COLUMNS)
    t = riia.indicators_table(child, presence, population, template, "london")
    row = t.set_index(["geog_code", "period", "indicator_id", "breakdown"])
    assert row.loc[("201", "2024-25 Q1", 2, "all"), "number"] == 1
    assert row.loc[("201", "2024-25 Q1", 2, "all"), "rate_per_10k"] == pytest.approx(10.0)
    assert row.loc[("202", "2024-25 Q1", 2, "all"), "number"] == 0          # sent, none: zero
    # 202's latest estimate is mid-2023 for collection year 2025 (wants mid-2024): flagged
    assert row.loc[("202", "2024-25 Q1", 2, "all"), "population_year"] == 2023
    assert bool(row.loc[("202", "2024-25 Q1", 2, "all"), "population_latest_flag"])
    # SEN2 2025 covers calendar 2024: 201's 2024-25 Q4 (Jan-Mar 2025) belongs to SEN2 2026, not sent
    assert row.loc[("201", "2024-25 Q1", 22, "all"), "number"] == 0
    assert pd.isna(row.loc[("201", "2024-25 Q4", 22, "all"), "number"])
    assert pd.isna(row.loc[("202", "2024-25 Q1", 22, "all"), "number"])   # not sent: null
    assert pd.isna(row.loc[("201", "2024-25 Q1", 1, "all"), "number"])    # Annex A: not sent
    reg = row.loc[("london", "2024-25 Q1", 2, "all")]
    assert reg["number"] == 1 and reg["population_0_17"] == 5000 and reg["rate_per_10k"] == pytest.approx(2.0)
    assert row.loc[("london", "2024-25 Q1", 3, "all"), "kind"] == "pct"
    assert row.loc[("london", "2024-25 Q1", 22, "all"), "number"] == 0     # 201's zero; 202 adds nothing
    assert list(t.columns) == riia.RESTRICTED_COLUMNS


def test_template_beside_the_child_level_figure():
    presence = pd.DataFrame({"_la": ["201"], "_year": [2025], "collection": ["cin"]})
    child = _counts([("201", "2024-25 Q1", 2, "all", 7, None)])
    template = pd.DataFrame([("201", "2024-25 Q1", 2, 9, 30000, 3.0), ("201", "2024-25 Q1", 3, 2, 9, 22.2)],
                            columns=riia.TEMPLATE_COLUMNS)
    pop = pd.DataFrame({"la_code": ["201"], "year": [2024], "population": [30000.0]})
    t = riia.indicators_table(child, presence, pop, template).set_index(["geog_code", "period", "indicator_id", "breakdown"])
    r2 = t.loc[("201", "2024-25 Q1", 2, "all")]
    assert (r2["la_reported_number"], r2["difference"], r2["source"]) == (9, -2, "child-level and la-template")
    assert pd.isna(r2["la_reported_denominator"])   # a rate's template denominator is the population
    assert t.loc[("201", "2024-25 Q1", 3, "all"), "la_reported_denominator"] == 9
    # LA 201 is in LIIA: the region row is London's, from the LA, with no region configured
    assert t.loc[("london", "2024-25 Q1", 3, "all"), "la_reported_value"] == pytest.approx(100 * 2 / 9)


# ---------------------------------------------------------------------------
# disproportionality


def test_population_counts_group_and_shift_the_mid_year(spark):
    pop = spark.createDataFrame([("201", 2023, 5, "W", 10), ("201", 2023, 17, "W", 5), ("201", 2023, 18, "W", 99),
                                 ("201", 2023, 3, "A", 4), ("201", 2023, 3, "X", 7)],
                                "la_code string, year int, age int, ethnicity string, population int")
    same(dis.population_counts(pop), spark.createDataFrame(
        [("201", 2024, "White", 15, "population"), ("201", 2024, "Asian", 4, "population")],
        "_la string, collection_year int, ethnic_group string, count bigint, stage string"))


def test_event_stage_counts_each_child_once_a_year_by_their_group(spark):
    child = spark.createDataFrame([("201", "a", "CHNE"), ("201", "b", "WBRI"), ("201", "c", "REFU")],
                                  "_la string, LAchildID_hash string, Ethnicity string")
    ev = spark.createDataFrame(
        [("201", "a", d("2024-04-01")), ("201", "a", d("2024-05-01")),   # twice in 2025: once
         ("201", "a", d("2024-03-31")),                                   # and once in 2024
         ("201", "b", d("2024-06-01")), ("201", "c", d("2024-06-01")),   # REFU: left out
         ("201", "b", None)], "_la string, LAchildID_hash string, S47ActualStartDate date")
    same(dis.event_stage_counts(ev, child, "s47", "S47ActualStartDate"), spark.createDataFrame(
        [("201", 2025, "Asian", 1, "s47"), ("201", 2024, "Asian", 1, "s47"), ("201", 2025, "White", 1, "s47")],
        "_la string, collection_year int, ethnic_group string, count bigint, stage string"))


def test_looked_after_on_any_day_of_the_year(spark):
    header = spark.createDataFrame([("201", "a", "BAFR"), ("201", "b", "MWBC"), ("201", "c", "OOTH"),
                                    ("201", "e", "WBRI")], "_la string, CHILD_hash string, ETHNIC string")
    care = spark.createDataFrame(
        [("201", "a", d("2023-01-01"), d("2024-04-01"), 2025),   # ends on 2025's first day: 2024 and 2025
         ("201", "b", d("2025-03-31"), None, 2025),              # starts on 2025's last day: 2025
         ("201", "c", d("2023-05-01"), d("2024-03-31"), 2024),   # ends before 2025: 2024 only
         ("201", "e", d("2022-06-01"), None, 2024)],             # open, last in 2024's return: 2024 only
        "_la string, CHILD_hash string, DECOM date, DEC date, _year int")
    years = spark.createDataFrame([(2024,), (2025,)], "collection_year int")
    same(dis.looked_after_counts(care, header, years), spark.createDataFrame(
        [("201", 2024, "Black", 1, "looked_after"), ("201", 2025, "Black", 1, "looked_after"),
         ("201", 2025, "Mixed", 1, "looked_after"), ("201", 2024, "Other", 1, "looked_after"),
         ("201", 2024, "White", 1, "looked_after")],
        "_la string, collection_year int, ethnic_group string, count bigint, stage string"))


def test_with_geographies_keeps_years_with_both_and_adds_the_region():
    counts = pd.DataFrame([("201", 2025, "White", 100, "population"), ("201", 2025, "White", 5, "referral"),
                           ("202", 2025, "White", 50, "population"), ("202", 2025, "White", 1, "referral"),
                           ("201", 2024, "White", 90, "population"),           # no stage in 2024: dropped
                           ("203", 2025, "White", 70, "population")],          # no stage for 203: dropped
                          columns=dis.COUNT_COLUMNS[:3] + ["count", "stage"])
    g = dis.with_geographies(counts, "london")
    assert set(zip(g["geog_code"], g["collection_year"])) == {("201", 2025), ("202", 2025), ("london", 2025)}
    reg = g[g["geog_level"] == "region"].set_index("stage")["count"]
    assert reg["population"] == 150 and reg["referral"] == 6
    assert set(g.loc[g["geog_level"] == "la", "geog_name"]) == {"City of London", "Camden"}


# ---------------------------------------------------------------------------
# incremental gold: when a table's recorded inputs still hold


class _Now:
    """Fingerprints as they are now, by hand (cslake.gold.incremental.Fingerprints reads them from a lake)."""

    def __init__(self, **fps):
        self.fps = {k.replace("__", "."): v for k, v in fps.items()}

    def of(self, name):
        return self.fps.get(name)


def test_a_table_is_left_only_when_its_table_wide_part_and_every_input_still_match():
    from cslake.gold.incremental import ABSENT, inputs_unchanged, recorded_inputs

    now = _Now(silver__cin_child="c1", bronze__files="f1", silver__sen2_person=ABSENT)
    recorded = recorded_inputs(["silver.cin_child", "bronze.files", "silver.sen2_person"], "w1", now)
    assert recorded == {"*": "w1", "silver.cin_child": "c1", "bronze.files": "f1", "silver.sen2_person": ABSENT}
    assert inputs_unchanged(recorded, "w1", now) is None
    assert inputs_unchanged(recorded, "w2", now) == "gold's conf, code or region changed"
    assert inputs_unchanged(None, "w1", now) == "no build state"
    # a table that was absent and now exists is a change; so is one that no state vouches for any more
    assert inputs_unchanged(recorded, "w1", _Now(silver__cin_child="c1", bronze__files="f1",
                                                 silver__sen2_person="s1")) == "silver.sen2_person changed"
    assert inputs_unchanged(recorded, "w1", _Now(bronze__files="f1", silver__sen2_person=ABSENT)
                            ) == "nothing vouches for silver.cin_child"
    # an input nothing can fingerprint: the table is recorded as always to be built
    assert recorded_inputs(["silver.cin_child", "bronze.other"], "w1", now) is None


def test_the_read_view_records_parts_only_when_every_read_of_a_table_was_narrowed():
    from types import SimpleNamespace

    from cslake.gold.incremental import Reads

    lake = SimpleNamespace(read_table=lambda name, version=None: name, exists=lambda name: True)
    reads = Reads(lake)
    reads.read_table("bronze.files")
    reads.narrow("bronze.files", ["cin", "ssda903"])
    reads.exists("silver.cin_child")
    assert reads.inputs() == {"bronze.files#cin", "bronze.files#ssda903", "silver.cin_child"}
    reads.read_table("bronze.files")  # a second read that says nothing of what it used: all of it counts
    assert reads.inputs() == {"bronze.files", "silver.cin_child"}
