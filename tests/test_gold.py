"""Gold tables from hand-checkable inputs: RRI and its suppression, the cross-border matrix."""

from __future__ import annotations

import pandas as pd
import pytest

from cslake.gold.build import gold_conf
from cslake.gold.cross_border import matrix, phase_of
from cslake.gold.disproportionality import ethnic_group, rri_table
from cslake.gold.suppression import specs_from_conf, suppress


def _counts(rows):
    return pd.DataFrame([("la", "999", "Testshire", 2024, stage, group, n) for stage, group, n in rows],
                        columns=["geog_level", "geog_code", "geog_name", "collection_year", "stage", "ethnic_group",
                                 "count"])


COUNTS = _counts([
    ("population", "White", 1000), ("population", "Black", 500),
    ("referral", "White", 50), ("referral", "Black", 50),
    ("assessment", "White", 40), ("assessment", "Black", 30),
    ("s47", "White", 20), ("s47", "Black", 3),
])


def _rri(table, stage, comparison, group):
    row = table[(table.stage == stage) & (table.comparison == comparison) & (table.ethnic_group == group)]
    assert len(row) == 1
    return row.iloc[0]


def test_rri_against_population_and_previous_stage():
    t = rri_table(COUNTS, "White")
    # referrals: 50/500 = 0.10 vs 50/1000 = 0.05
    assert _rri(t, "referral", "population", "Black").rri == pytest.approx(2.0)
    # assessments: 30/500 = 0.06 vs 40/1000 = 0.04; of referrals: 30/50 = 0.6 vs 40/50 = 0.8
    assert _rri(t, "assessment", "population", "Black").rri == pytest.approx(1.5)
    assert _rri(t, "assessment", "previous_stage", "Black").rri == pytest.approx(0.75)
    assert _rri(t, "assessment", "previous_stage", "Black").base_stage == "referral"
    # the reference group is at parity by definition
    assert _rri(t, "s47", "population", "White").rri == pytest.approx(1.0)
    # later stages with nobody in them: no rate, no RRI
    cp = _rri(t, "cp_plan", "previous_stage", "Black")
    assert cp.group_count == 0 and cp.rri is None or pd.isna(cp.rri)


def test_rri_published_only_where_both_numerators_pass():
    spec = specs_from_conf(gold_conf())["disproportionality"]
    pub = suppress(rri_table(COUNTS, "White"), spec)
    row = lambda s, c, g: pub[(pub.stage == s) & (pub.comparison == c) & (pub.ethnic_group == g)].iloc[0]
    assert row("referral", "population", "Black").rri == "2.00"
    assert row("assessment", "previous_stage", "Black").rri == "0.75"
    # 3 Black children at S47: the count and every RRI built on it are hidden
    assert row("s47", "population", "Black").group_count == "x"
    assert row("s47", "population", "Black").rri == "x"
    assert row("s47", "previous_stage", "Black").rri == "x"
    # White at S47 (20) passes, but nobody's CP plan count does
    assert row("cp_plan", "population", "White").group_count == "x"
    assert row("cp_plan", "population", "White").rri is None  # 0 of 0: no RRI to show


@pytest.mark.parametrize("code,group", [("WBRI", "White"), ("MWBC", "Mixed"), ("CHNE", "Asian"), ("AIND", "Asian"),
                                        ("BAFR", "Black"), ("OOTH", "Other"), ("REFU", None), ("NOBT", None),
                                        ("W", "White"), ("", None)])
def test_ethnic_groups(code, group):
    assert ethnic_group(code) == group


def test_cross_border_matrix_totals_and_suppression():
    pupils = pd.DataFrame(
        [(2024, "SPR", "primary", "201", "202")] * 7 + [(2024, "SPR", "primary", "203", "202")] * 2
        + [(2024, "SPR", "primary", "OUT", "201")] * 12 + [(2024, "SPR", "primary", "202", "203")] * 9,
        columns=["collection_year", "census_term", "phase", "home_la", "school_la"])
    m = matrix(pupils, ["201", "202", "203"])
    cell = m.set_index(["home_la", "school_la"])["pupils"]
    assert cell[("201", "202")] == 7 and cell[("203", "202")] == 2 and cell[("201", "203")] == 0
    assert cell[("OUT", "201")] == 12
    assert cell[("ALL", "202")] == 9 and cell[("201", "ALL")] == 7 and cell[("ALL", "ALL")] == 30
    assert ("201", "201") not in cell.index  # living and schooled in the same LA is not cross-border
    pub = suppress(m, specs_from_conf(gold_conf())["cross_border_pupils"]).set_index(["home_la", "school_la"])["pupils"]
    assert pub[("203", "202")] == "x" and pub[("201", "203")] == "x"
    assert pub[("ALL", "ALL")] == "30"  # regional total, rounded to 10
    # attack every line of the matrix: never exactly one unknown
    for col in ("home_la", "school_la"):
        for _, g in pub.reset_index().groupby(col):
            assert (g["pupils"] == "x").sum() != 1, g


def test_phases():
    assert [phase_of(v) for v in ("N2", "R", "6", "7", "11", "12", "X", None)] == [
        "early_years", "primary", "primary", "secondary", "secondary", "post16", "other", "other"]


def test_ofsted_as_of_is_the_latest_date_in_the_data():
    from datetime import date

    from cslake.gold.ofsted import data_as_of, ofsted_table

    j = pd.DataFrame([("201", "ILACS", "2019-06-08", "2019-07-20", "2"), ("202", "ILACS", "2022-03-01", "2022-04-11", "3"),
                      ("202", "SEND", "2023-01-10", None, "SEND_POS"), ("203", "ILACS_FOCUSED", "2023-02-01", None, None)],
                     columns=["la_code", "inspection_type", "inspection_end_date", "publication_date", "overall"])
    # the 2023-02-01 focused visit is the latest date anywhere (publication dates included)
    assert data_as_of(j) == date(2023, 2, 1)
    assert data_as_of(j.iloc[:2]) == date(2022, 4, 11)  # a publication after the last inspection
    assert data_as_of(j.iloc[:0]) is None
    t = ofsted_table(j, ["201", "202", "203"], data_as_of(j)).set_index("geog_code")
    assert t.loc["201", "ilacs_days_since"] == (date(2023, 2, 1) - date(2019, 6, 8)).days
    assert t.loc["202", "send_days_since"] == (date(2023, 2, 1) - date(2023, 1, 10)).days
    # 203 has never had a full inspection: first in line; then 201, the longest since
    assert t["ilacs_next_rank"].to_dict() == {"201": 2, "202": 3, "203": 1}
    conf = gold_conf()["tables"]["ofsted"]
    assert "as_of" in conf and conf["as_of"] is None  # default: from the data, not the build date
