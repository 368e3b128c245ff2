"""The shared vocabulary (cslake.vocab) on hand-made edge cases, each plain-Python function beside
its Spark column form, and gold and the models grouping the same children the same way."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from chispa import assert_df_equality

from cslake import vocab


# ---------------------------------------------------------------------------
# ethnicity

ETHNIC_CASES = [
    # DfE main codes, one per group, and every Chinese code
    ("WBRI", "White"), ("WIRT", "White"), ("WROM", "White"), ("MWBC", "Mixed"), ("MOTH", "Mixed"),
    ("AIND", "Asian"), ("APKN", "Asian"), ("ABAN", "Asian"), ("AOTH", "Asian"), ("CHNE", "Asian"),
    ("BCRB", "Black"), ("BAFR", "Black"), ("BOTH", "Black"), ("OOTH", "Other"),
    # extended codes (school census, SEN2): by their main code's letter; Chinese ones are Asian
    ("WENG", "White"), ("MWAP", "Mixed"), ("AMPK", "Asian"), ("CHKC", "Asian"), ("CMAL", "Asian"),
    ("BSOM", "Black"), ("OARA", "Other"),
    # one-letter ONS population groups
    ("W", "White"), ("M", "Mixed"), ("A", "Asian"), ("B", "Black"), ("O", "Other"),
    # untidy but meaningful
    (" chne ", "Asian"), ("wbri", "White"),
    # not known
    ("REFU", None), ("NOBT", None), ("refu", None), ("", None), ("   ", None), (None, None), ("XYZ", None),
    ("9", None),
]


@pytest.mark.parametrize("code,group", ETHNIC_CASES)
def test_ethnic_group(code, group):
    assert vocab.ethnic_group(code) == group
    assert vocab.ethnic_label(code) == (group or "unknown")


def test_ethnic_group_of_missing_values():
    assert vocab.ethnic_group(float("nan")) is None
    assert vocab.ethnic_group(np.nan) is None
    assert vocab.ethnic_group(pd.NA) is None
    assert vocab.ethnic_label(np.nan) == "unknown"


def test_every_main_code_has_its_group_and_chinese_is_asian():
    assert {c: vocab.ethnic_group(c) for c in vocab.MAIN_CODES} == vocab.MAIN_CODES
    assert set(vocab.MAIN_CODES.values()) == set(vocab.ETHNIC_GROUPS)
    assert vocab.MAIN_CODES["CHNE"] == "Asian"


def test_ethnic_group_col_agrees_with_ethnic_group(spark):
    codes = [c for c, _ in ETHNIC_CASES]
    df = spark.createDataFrame([(i, c) for i, c in enumerate(codes)], "i int, code string")
    got = df.select("i", vocab.ethnic_group_col("code").alias("group"))
    expected = spark.createDataFrame([(i, g) for i, (_, g) in enumerate(ETHNIC_CASES)], "i int, group string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


# ---------------------------------------------------------------------------
# age


def _age(dob, when):
    return vocab.age_at(pd.Series([pd.Timestamp(dob)]), pd.Timestamp(when)).iloc[0]


@pytest.mark.parametrize("dob,when,age", [
    ("2010-03-31", "2020-03-30", 9),   # the day before the 10th birthday
    ("2010-03-31", "2020-03-31", 10),  # on the birthday
    ("2010-04-01", "2020-03-31", 9),   # born 1 April: 10 only from 1 April
    ("2012-02-29", "2013-02-28", 0),   # a leap-day birthday counts from 1 March ...
    ("2012-02-29", "2013-03-01", 1),
    ("2012-02-29", "2016-02-29", 4),   # ... and on the day in a leap year
    ("2024-06-01", "2024-06-01", 0),   # the day of birth
    ("2025-05-01", "2025-03-31", -1),  # not yet born (a pre-birth referral)
])
def test_age_at_birthdays(dob, when, age):
    assert _age(dob, when) == age


def test_age_at_missing_dob_and_series_of_dates():
    got = vocab.age_at(pd.Series([pd.NaT, pd.Timestamp("2010-03-31")]),
                       pd.Series([pd.Timestamp("2020-03-31"), pd.Timestamp("2021-03-30")]))
    assert np.isnan(got.iloc[0]) and got.iloc[1] == 10


@pytest.mark.parametrize("age,label", [
    (0, "under 1"), (0.99, "under 1"), (1, "1 to 4"), (4, "1 to 4"), (4.99, "1 to 4"), (5, "5 to 9"), (9, "5 to 9"),
    (10, "10 to 15"), (15, "10 to 15"), (16, "16 and over"), (17, "16 and over"), (25, "16 and over"),
    (-1, "unknown"), (None, "unknown"), (np.nan, "unknown"), (np.inf, "unknown"),
])
def test_cla_publication_bands(age, label):
    assert vocab.CLA_AGE_BANDS.label(age) == label
    assert vocab.CLA_AGE_BANDS.label_series(pd.Series([age], dtype=float)).iloc[0] == label


@pytest.mark.parametrize("age,label", [
    (-0.5, "0-4"), (0, "0-4"), (0.5, "0-4"), (4.999, "0-4"), (5, "5-9"), (9.99, "5-9"), (10, "10-15"),
    (15.99, "10-15"), (16, "16+"), (30, "16+"), (None, "unknown"), (np.nan, "unknown"), (np.inf, "unknown"),
])
def test_fairness_bands(age, label):
    assert vocab.FAIRNESS_AGE_BANDS.label(age) == label
    assert vocab.FAIRNESS_AGE_BANDS.label_series(pd.Series([age], dtype=float)).iloc[0] == label


def test_band_names_and_labels():
    assert vocab.CLA_AGE_BANDS.labels == ["under 1", "1 to 4", "5 to 9", "10 to 15", "16 and over"]
    assert vocab.FAIRNESS_AGE_BANDS.labels == ["0-4", "5-9", "10-15", "16+"]
    # Two uses, two names; the fairness bands share DfE's cut points from 5 up.
    assert [lo for lo, _ in vocab.FAIRNESS_AGE_BANDS.bands][1:] == [lo for lo, _ in vocab.CLA_AGE_BANDS.bands][2:]
    assert list(vocab.CHILD_AGES) == list(range(18)) and list(vocab.ADOLESCENT_AGES) == list(range(10, 18))


# ---------------------------------------------------------------------------
# collection years and periods

YEAR_CASES = [
    (date(2024, 3, 31), 2024), (date(2024, 4, 1), 2025), (date(2024, 1, 1), 2024), (date(2024, 12, 31), 2025),
    (date(2023, 6, 15), 2024), (date(2024, 2, 29), 2024),
]


@pytest.mark.parametrize("d,year", YEAR_CASES)
def test_collection_year(d, year):
    assert vocab.collection_year(d) == year
    assert vocab.collection_year(pd.Timestamp(d)) == year
    assert vocab.year_start(year) <= pd.Timestamp(d) <= vocab.year_end(year)


def test_collection_year_of_missing_and_series():
    assert vocab.collection_year(None) is None
    assert vocab.collection_year(pd.NaT) is None
    got = vocab.collection_years(pd.Series([pd.Timestamp("2024-03-31"), pd.NaT, pd.Timestamp("2024-04-01")]))
    assert got.iloc[0] == 2024 and np.isnan(got.iloc[1]) and got.iloc[2] == 2025


def test_year_bounds():
    assert vocab.year_start(2025) == pd.Timestamp(2024, 4, 1)
    assert vocab.year_end(2025) == pd.Timestamp(2025, 3, 31)


def test_collection_year_and_period_columns_agree(spark):
    days = [d for d, _ in YEAR_CASES] + [date(2025, 1, 1), date(2024, 7, 1), date(2024, 9, 30), date(2024, 10, 1)]
    df = spark.createDataFrame([(i, d) for i, d in enumerate(days)] + [(len(days), None)], "i int, d date")
    got = df.select("i", vocab.collection_year_col("d").alias("year"), vocab.period_col("d").alias("period"),
                    vocab.year_start_col(vocab.collection_year_col("d")).alias("start"),
                    vocab.year_end_col(vocab.collection_year_col("d")).alias("end"))
    rows = [(i, vocab.collection_year(d), vocab.period_label(d), vocab.year_start(vocab.collection_year(d)).date(),
             vocab.year_end(vocab.collection_year(d)).date()) for i, d in enumerate(days)]
    expected = spark.createDataFrame(rows + [(len(days), None, None, None, None)],
                                     "i int, year int, period string, start date, end date")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("d,label", [
    (date(2024, 4, 1), "2024-25 Q1"), (date(2024, 6, 30), "2024-25 Q1"), (date(2024, 7, 1), "2024-25 Q2"),
    (date(2024, 12, 31), "2024-25 Q3"), (date(2025, 1, 1), "2024-25 Q4"), (date(2025, 3, 31), "2024-25 Q4"),
    (date(1999, 4, 1), "1999-00 Q1"), (None, None),
])
def test_period_label(d, label):
    assert vocab.period_label(d) == label


def test_quarters_of_cover_the_collection_year():
    qs = vocab.quarters_of(2025)
    assert [q.label for q in qs] == ["2024-25 Q1", "2024-25 Q2", "2024-25 Q3", "2024-25 Q4"]
    assert qs[0].start == date(2024, 4, 1) and qs[-1].end == date(2025, 3, 31)
    for a, b in zip(qs, qs[1:]):
        assert (pd.Timestamp(b.start) - pd.Timestamp(a.end)).days == 1
    assert all(vocab.period_label(q.start) == q.label == vocab.period_label(q.end) for q in qs)
    assert all(q.collection_year == 2025 for q in qs)


# ---------------------------------------------------------------------------
# short breaks, sex, LAs


def test_short_breaks(spark):
    assert vocab.SHORT_BREAKS == ("V3", "V4")
    df = spark.createDataFrame([(1, "V3"), (2, "V4"), (3, "C2"), (4, None), (5, "V2")], "i int, LS string")
    got = df.select("i", vocab.is_short_break_col("LS").alias("sb"))
    expected = spark.createDataFrame([(1, True), (2, True), (3, False), (4, False), (5, False)], "i int, sb boolean")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize("v,label", [("1", "male"), ("M", "male"), (" m", "male"), (1, "male"), ("2", "female"),
                                     ("F", "female"), ("0", "unknown"), ("9", "unknown"), ("U", "unknown"),
                                     (None, "unknown"), (np.nan, "unknown")])
def test_sex_label(v, label):
    assert vocab.sex_label(v) == label


def test_la_codes():
    assert vocab.la_name("201") == "City of London"
    assert vocab.la_name("999") == "999"  # unknown code: shown as given
    assert vocab.region_name("london") == "London" and vocab.region_name(None) == "Region"
    assert vocab.REGION_GSS["London"] == "E12000007"


# ---------------------------------------------------------------------------
# gold and the models group the same children identically


def test_disproportionality_and_early_warning_fairness_group_children_alike(spark):
    """The same children, by their recorded ethnicity, through gold's RRI stage counts (Spark) and the
    early-warning fairness groups (pandas): one group each, the same one; unknowns left out of the RRI
    and shown as unknown in the fairness table. CHNE is Asian in both (it was Other in the models)."""
    from cslake.gold.disproportionality import with_ethnic_group
    from cslake.models.early_warning import fairness_groups
    from cslake.models.journeys import make_journeys

    codes = [c for c, _ in ETHNIC_CASES]
    people = pd.DataFrame({"person_id": [f"p{i}" for i in range(len(codes))], "dob_month": pd.Timestamp("2015-01-01"),
                           "sex": "F", "ethnicity": codes})
    gold = (with_ethnic_group(spark.createDataFrame(people[["person_id", "ethnicity"]],
                                                    "person_id string, ethnicity string"), "ethnicity")
            .select("person_id", "ethnic_group").toPandas().set_index("person_id")["ethnic_group"])
    events = pd.DataFrame({"person_id": people["person_id"], "la": "201", "event": "referral",
                           "event_date": pd.Timestamp("2024-05-01"), "code": "1",
                           "referral_date": pd.Timestamp("2024-05-01"), "year": 2025})
    j = make_journeys(events, pd.DataFrame(columns=["person_id", "la", "DECOM", "DEC"]), people)
    units = people[["person_id"]]
    model = fairness_groups(units, pd.DataFrame({"age_years": [9.0] * len(units)}), j)
    model = pd.Series(model["ethnic_group"].to_numpy(), index=people["person_id"])
    # gold drops the children whose group is not known; the model shows them as unknown
    assert set(gold.index) == set(model[model != "unknown"].index)
    assert (gold.sort_index() == model[gold.index].sort_index()).all()
    assert model["p" + str(codes.index("CHNE"))] == gold["p" + str(codes.index("CHNE"))] == "Asian"
    # the annual tables (characteristics, adolescents) show the same labels, unknowns included
    assert [vocab.ethnic_label(c) for c in codes] == model.tolist()
