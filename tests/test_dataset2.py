"""Dataset 2 measures (lib/cslake/gold/dataset2.py) on hand-made children, every expected figure
worked out by hand in the comments; collection year 2025 = 1 April 2024 to 31 March 2025."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from cslake.config import ConfigError
from cslake.gold import dataset2 as d2
from cslake.gold.build import gold_conf
from cslake.gold.suppression import specs_from_conf, suppress

SENT = {("830", 2025)}


def _by_measure(rows):
    return {r[2]: r[3:6] for r in rows if r[6] == f"{r[1] - 1}-{r[1] % 100:02d}"}  # the year's rows: measure_id →
    # (number, denominator, total_days)


def _eps(rows):
    return pd.DataFrame(rows, columns=["_la", "CHILD_hash", "DECOM", "DEC", "RNE", "LS", "PLACE", "REC"])


def test_care_leavers_eet_and_suitable_accommodation():
    """Four care leavers (one sent twice): EET are F1 and P5 (G4 is NEET, 0 no information, still in
    the denominator): 2/4; suitable are B1 and Z1 (C2 unsuitable, 0 none): 2/4. Another LA sent a
    return with no care leavers in the cohort: 0/0, a row, not a gap."""
    oc3 = pd.DataFrame([("830", 2025, "a", "F1", "B1"), ("830", 2025, "a", "F1", "B1"), ("830", 2025, "b", "G4", "C2"),
                        ("830", 2025, "c", "0", "0"), ("830", 2025, "d", "p5", "Z1"), ("830", 2024, "e", "F1", "B1")],
                       columns=["_la", "_year", "CHILD_hash", "ACTIV", "ACCOM"])
    got = _by_measure(d2.care_leaver_rows(oc3, SENT))
    assert got["cl_eet"][:2] == (2.0, 4.0) and got["cl_suitable_accommodation"][:2] == (2.0, 4.0)
    empty = [r for r in d2.care_leaver_rows(oc3, {("857", 2025)})]
    assert [(r[2], r[3], r[4]) for r in empty] == [("cl_eet", 0.0, 0.0), ("cl_suitable_accommodation", 0.0, 0.0)]


def test_eet_codes_follow_the_year_s_specification():
    """OC3 activity F3/P3 (training or employment) is EET up to 2019-20; from 2020-21 the list has F4/P4
    (employment) and F5/P5 (training) instead (conf/collections/ssda903/diffs/2021.yaml). The same three
    young people, F3, F4 and G5 (NEET), in a 2020 and a 2023 return: 1 of 3 in each, a different one."""
    assert d2.eet_codes(2019) == {"F1", "P1", "F2", "P2", "F3", "P3"}
    assert d2.eet_codes(2020) == d2.eet_codes(2018) == d2.eet_codes(2019)
    assert d2.eet_codes(2021) == d2.eet_codes(2026) == {"F1", "P1", "F2", "P2", "F4", "P4", "F5", "P5"}
    assert d2.eet_codes(2031) == d2.eet_codes(2026)  # after the last year described: its nearest earlier
    oc3 = pd.DataFrame([(y, c, a) for y in (2020, 2023) for c, a in (("a", "F3"), ("b", "F4"), ("c", "G5"))],
                       columns=["_year", "CHILD_hash", "ACTIV"]).assign(_la="830", ACCOM="B1")
    got = {r[1]: r[3:5] for r in d2.care_leaver_rows(oc3, {("830", 2020), ("830", 2023)}) if r[2] == "cl_eet"}
    assert got == {2020: (1.0, 3.0), 2023: (1.0, 3.0)}
    only_f3 = oc3[oc3.ACTIV == "F3"]
    got = {r[1]: r[3] for r in d2.care_leaver_rows(only_f3, {("830", 2020), ("830", 2023)}) if r[2] == "cl_eet"}
    assert got == {2020: 1.0, 2023: 0.0}
    with pytest.raises(ConfigError, match="F9"):
        d2.eet_codes(2023, ["F1", "F9"])


def test_health_measures_and_the_under_fives_by_month_of_birth():
    """Three children in the OC2 cohort. Born (month) March 2020: 5 on 31 March 2025 (a month date
    of birth counts from the 1st), not under 5; born April 2020: 4, under 5, development check done."""
    oc2 = pd.DataFrame([("830", 2025, "a", "2020-03-01", True, True, True, False),
                        ("830", 2025, "b", "2020-04-01", True, False, None, True),
                        ("830", 2025, "c", "2012-07-01", False, True, True, False)],
                       columns=["_la", "_year", "CHILD_hash", "DOB", "IMMUNISATIONS", "TEETH_CHECK",
                                "HEALTH_ASSESSMENT", "HEALTH_CHECK"])
    got = _by_measure(d2.health_rows(oc2, SENT))
    assert got["immunisations"][:2] == (2.0, 3.0)
    assert got["dental_checks"][:2] == (2.0, 3.0)
    assert got["health_assessments"][:2] == (2.0, 3.0)      # None is not a yes
    assert got["development_assessments"][:2] == (1.0, 1.0)  # only b is under 5


STABILITY = _eps([
    # A: in care on 1 April (1), P in June (2), L in August (legal status only: not a placement), T in December (3)
    ("830", "A", "2024-01-10", "2024-06-01", "S", "C2", "U1", "P1"),
    ("830", "A", "2024-06-01", "2024-08-01", "P", "C2", "U1", "X1"),
    ("830", "A", "2024-08-01", "2024-12-01", "L", "C1", "U1", "X1"),
    ("830", "A", "2024-12-01", None, "T", "C1", "U3", None),
    # B: short breaks only: not looked after
    ("830", "B", "2024-05-01", None, "S", "V3", "R1", None),
    # C: ceased on 31 March: not looked after at 31 March
    ("830", "C", "2023-01-01", "2025-03-31", "S", "C2", "U1", "E13"),
    # D: under 16, in care since 30 Sep 2022 (exactly 2.5 years), placement since 31 Mar 2023 (exactly 2 years)
    ("830", "D", "2022-09-30", "2023-03-31", "S", "C2", "U1", "P1"),
    ("830", "D", "2023-03-31", None, "P", "C2", "U4", None),
    # H: as D but the placement began a day later: not 2 years
    ("830", "H", "2022-09-30", "2023-04-01", "S", "C2", "U1", "P1"),
    ("830", "H", "2023-04-01", None, "P", "C2", "U4", None),
    # E: 16 at 31 March: out of the long-term denominator
    ("830", "E", "2020-01-01", None, "S", "C2", "U1", None),
    # F: in care since 1 Oct 2022: a day short of 2.5 years
    ("830", "F", "2022-10-01", None, "S", "C2", "U1", None),
    # G: long in care, moved last month into an adoptive placement: counts
    ("830", "G", "2021-01-01", "2025-02-01", "S", "C2", "U1", "P1"),
    ("830", "G", "2025-02-01", None, "P", "E1", "A4", None),
])
HEADER = pd.DataFrame({"_la": ["830"] * 8, "CHILD_hash": list("ABCDHEFG"),
                       "DOB": ["2015-01-01", "2015-01-01", "2010-01-01", "2012-01-01", "2012-01-01", "2009-02-01",
                               "2012-01-01", "2018-01-01"]})


def test_three_or_more_placements_of_children_looked_after_at_31_march():
    """Looked after at 31 March: A, D, H, E, F, G (not B: short breaks; not C: ceased on 31 March) = 6;
    with 3+ placements in the year: A only (open on 1 April, P, T; L is no placement)."""
    got = _by_measure(d2.stability_rows(STABILITY, HEADER, SENT))
    assert got["placements_3plus"][:2] == (1.0, 6.0)


def test_long_term_stability_boundaries():
    """Under 16 and in care 2.5+ years at 31 March: D (30 Sep 2022, the boundary), H, G (A since 2024,
    E is 16, F a day short) = 3; in the same placement 2+ years or placed for adoption: D (31 Mar 2023,
    the boundary) and G (A4): 2."""
    got = _by_measure(d2.stability_rows(STABILITY, HEADER, SENT))
    assert got["long_term_stability"][:2] == (2.0, 3.0)


ADOPTION = _eps([
    # X: care 1 Jan 2023, placement order (E1) 1 Jun 2023, placed for adoption 1 Feb 2024, adopted 1 Sep 2024
    ("830", "X", "2023-01-01", "2023-06-01", "S", "C2", "U1", "X1"),
    ("830", "X", "2023-06-01", "2024-02-01", "L", "E1", "U1", "X1"),
    ("830", "X", "2024-02-01", "2024-09-01", "P", "E1", "A5", "E11"),
    # Y: adopted by the foster carer she moved in with on 1 May 2022 (T: same carer, now adoptive)
    ("830", "Y", "2022-05-01", "2023-01-10", "S", "C2", "U4", "X1"),
    ("830", "Y", "2023-01-10", "2023-09-01", "L", "E1", "U4", "X1"),
    ("830", "Y", "2023-09-01", "2024-12-01", "T", "E1", "A6", "E12"),
    # Z: adopted in the previous collection year
    ("830", "Z", "2022-01-01", "2024-03-01", "S", "E1", "A5", "E11"),
])
PLACED = pd.DataFrame({"_la": ["830"], "CHILD_hash": ["X"], "DATE_PLACED": ["2024-02-01"]})
AD1 = pd.DataFrame({"_la": ["830", "830"], "_year": [2025, 2025], "CHILD_hash": ["X", "Y"],
                    "DATE_MATCH": ["2024-01-15", "2023-08-01"], "FOSTER_CARE": [False, True]})


def test_adoptions_and_the_scorecard_timeliness():
    """Adopted in 2024-25: X and Y (Z in 2023-24) = 2.
    A1: X 1 Jan 2023 → 1 Feb 2024 = 396 days; Y 1 May 2022 → 1 Sep 2023 (first A6 episode, no
    placed-for-adoption record) = 488; total 884 over 2.
    A10: X 396; Y adopted by her foster carer: moved in 1 May 2022, 0 days; total 396 over 2.
    A2: X 1 Jun 2023 (E1) → match 15 Jan 2024 = 228; Y 10 Jan 2023 → 1 Aug 2023 = 203; total 431.
    A3: both moved in (A10's date) less than 14 months after entering care: 2 of 2."""
    got = _by_measure(d2.adoption_rows(ADOPTION, PLACED, AD1, SENT))
    assert got["adopted"][0] == 2.0
    assert got["a1_days_care_to_adoptive_family"][1:] == (2.0, 884.0)
    assert got["a10_days_care_to_adoptive_family_adjusted"][1:] == (2.0, 396.0)
    assert got["a2_days_authority_to_match"][1:] == (2.0, 431.0)
    assert got["a3_within_14_months"][:2] == (2.0, 2.0)


def test_the_scorecard_over_three_years():
    """DfE's scorecard figures are three-year averages: 2025's A1 is the days of 2023-2025's children over
    all of them: (100 + 0 + 884) / (1 + 0 + 2) = 328; A3 2 of 3. 2024 has no 2022 return: a row with no
    figure (as an LA with fewer than three years in the lake)."""
    sent = {("830", 2023), ("830", 2024), ("830", 2025)}
    rows = [d2._row("830", 2023, "a1_days_care_to_adoptive_family", None, 1.0, 100.0),
            d2._row("830", 2024, "a1_days_care_to_adoptive_family", None, 0.0, 0.0),
            d2._row("830", 2025, "a1_days_care_to_adoptive_family", None, 2.0, 884.0),
            d2._row("830", 2023, "a3_within_14_months", 0.0, 1.0),
            d2._row("830", 2024, "a3_within_14_months", 0.0, 0.0),
            d2._row("830", 2025, "a3_within_14_months", 2.0, 2.0),
            d2._row("830", 2025, "adopted", 2.0, period="2024-25 Q3")]  # a quarter's row is no year's
    got = {(r[1], r[2]): r[3:6] for r in d2.three_year_rows(rows, sent)}
    assert got[(2025, "a1_three_years")] == (None, 3.0, 984.0)
    assert got[(2025, "a3_three_years")] == (2.0, 3.0, None)
    assert got[(2025, "a2_three_years")] == (None, None, None)  # no A2 rows at all: no figure
    assert got[(2024, "a1_three_years")] == got[(2023, "a3_three_years")] == (None, None, None)
    t = d2.dataset2_table(pd.DataFrame(d2.three_year_rows(rows, sent), columns=d2.COUNT_COLUMNS))
    r = t[t.geog_code == "830"].set_index(["collection_year", "measure_id"])
    assert r.loc[(2025, "a1_three_years"), "average_days"] == pytest.approx(328.0)
    assert r.loc[(2025, "a3_three_years"), "percentage"] == pytest.approx(200 / 3)


def test_fourteen_months_is_calendar_months_and_strict():
    """Care 1 Jan 2023, placed 1 Mar 2024: exactly 14 months, not less: not within."""
    eps = _eps([("830", "X", "2023-01-01", "2024-03-01", "S", "C2", "U1", "X1"),
                ("830", "X", "2024-03-01", "2024-09-01", "P", "E1", "A5", "E11")])
    got = _by_measure(d2.adoption_rows(eps, PLACED.iloc[0:0], AD1.iloc[0:0], SENT))
    assert got["a3_within_14_months"][:2] == (0.0, 1.0)
    assert got["a1_days_care_to_adoptive_family"][1:] == (1.0, 425.0)   # 365 + 60 (2024 is a leap year)
    assert got["a2_days_authority_to_match"][1:] == (0.0, 0.0)          # no match date: not measured


def test_children_looked_after_with_a_missing_incident():
    """Looked after in the year: A, D, H, E, F, G and C (ceased 31 March, looked after in the year) = 7
    (B: short breaks). Missing (M) in the year: A; D was only away (A); H went missing before 1 April;
    B went missing but is no CLA: 1 of 7."""
    missing = pd.DataFrame({"_la": ["830"] * 4, "CHILD_hash": ["A", "D", "H", "B"], "MISSING": ["M", "A", "M", "M"],
                            "MIS_START": ["2024-07-01", "2024-07-01", "2024-03-20", "2024-07-01"]})
    got = _by_measure(d2.missing_rows(STABILITY, missing, SENT))
    assert got["cla_missing"][:2] == (1.0, 7.0)


def test_a_child_missing_from_the_next_return_is_not_looked_after_in_its_year():
    """K's episode is open in the 2024 return and K is missing from the 2025 one (silver keeps it open,
    ``_year`` 2024): looked after at 31 March 2024 and during 2023-24; in 2024-25 in no count (no
    return says so: issue 12). M, open in the 2025 return, is counted in both years."""
    eps = _eps([("830", "K", "2022-06-01", None, "S", "C2", "U1", None),
                ("830", "M", "2022-06-01", None, "S", "C2", "U1", None)]).assign(_year=[2024, 2025])
    header = pd.DataFrame({"_la": ["830", "830"], "CHILD_hash": ["K", "M"], "DOB": ["2015-01-01", "2015-01-01"]})
    went = pd.DataFrame({"_la": ["830", "830"], "CHILD_hash": ["K", "K"], "MISSING": ["M", "M"],
                         "MIS_START": ["2023-07-01", "2024-07-01"]})
    sent = {("830", 2024), ("830", 2025)}
    at_end = {r[1]: r[4] for r in d2.stability_rows(eps, header, sent) if r[2] == "placements_3plus"}
    assert at_end == {2024: 2.0, 2025: 1.0}
    missing = {r[1]: r[3:5] for r in d2.missing_rows(eps, went, sent)}
    assert missing == {2024: (1.0, 2.0), 2025: (0.0, 1.0)}


def test_adopted_and_missing_by_quarter():
    """Quarterly (conf/gold.yaml periods): adopted X on 1 Sep 2024 (Q2) and Y on 1 Dec 2024 (Q3): Q1 0,
    Q2 1, Q3 1, Q4 0, the year 2. Missing: the same 7 children are looked after in every quarter (A, C
    to 31 March 2025, D, H, E, F, G; B is short breaks); A went missing on 1 July 2024 (Q2), H on 31
    March 2025 (Q4, the quarter's last day): Q1 0, Q2 1, Q3 0, Q4 1 of 7, the year 2 of 7. The annual
    measures keep one row a year."""
    q = frozenset({"adopted", "cla_missing"})
    rows = d2.adoption_rows(ADOPTION, PLACED, AD1, SENT, q)
    adopted = {r[6]: r[3] for r in rows if r[2] == "adopted"}
    assert adopted == {"2024-25": 2.0, "2024-25 Q1": 0.0, "2024-25 Q2": 1.0, "2024-25 Q3": 1.0, "2024-25 Q4": 0.0}
    assert [r[6] for r in rows if r[2] == "a1_days_care_to_adoptive_family"] == ["2024-25"]  # annual only
    missing = pd.DataFrame({"_la": ["830"] * 2, "CHILD_hash": ["A", "H"], "MISSING": ["M", "M"],
                            "MIS_START": ["2024-07-01", "2025-03-31"]})
    got = {r[6]: r[3:5] for r in d2.missing_rows(STABILITY, missing, SENT, q)}
    assert got == {"2024-25": (2.0, 7.0), "2024-25 Q1": (0.0, 7.0), "2024-25 Q2": (1.0, 7.0),
                   "2024-25 Q3": (0.0, 7.0), "2024-25 Q4": (1.0, 7.0)}
    # without quarterly, one row a year
    assert [r[6] for r in d2.missing_rows(STABILITY, missing, SENT)] == ["2024-25"]


def test_periods_are_decided_per_measure_in_conf():
    """conf/gold.yaml decides each measure: adopted and cla_missing (events and children in a period)
    and the template's are quarterly, the cohorts and the scorecard annual; a measure left out stops."""
    q = d2.quarterly_measures()
    assert q == {"adopted", "cla_missing", "early_help", "cse_risk", "tools_completed"}
    with pytest.raises(ConfigError, match="missing \\['cl_eet'\\]"):
        d2.quarterly_measures({"periods": {m: "year" for m in d2.MEASURES if m != "cl_eet"}})
    with pytest.raises(ConfigError, match="monthly"):
        d2.quarterly_measures({"periods": {**{m: "year" for m in d2.MEASURES}, "adopted": "monthly"}})


def test_the_quarters_in_the_table_and_their_disclosure_control():
    """830 adopted 35 in the year: 10, 2, 14, 9 by quarter; 857 46: 10, 11, 12, 13. Each quarter is a row
    with its period end; the region sums each quarter (20, 13, 26, 22; 81 the year). Published, by hand,
    in the order the relations are declared (areas, then quarters), until nothing changes:
    830's Q2 (2) is x (1-5). Areas: the region's Q2 (rounded, which counts as known) less 857's 11 gives
    830's away: 857's Q2 goes. Quarters: 830's year (35) less its shown quarters gives Q2 away: its
    smallest shown, Q4 (9), goes; likewise 857's Q1 (10). Areas again: Q4, 830's hidden, 857's 13
    goes; Q1, 857's hidden, 830's 10 goes. Now every group has two unknowns or more: 830 x x 14 x,
    857 x x 12 x, both years shown."""
    rows = [("830", 2025, "adopted", 35.0, None, None, "2024-25")]
    rows += [("830", 2025, "adopted", n, None, None, f"2024-25 Q{i + 1}") for i, n in enumerate((10.0, 2.0, 14.0, 9.0))]
    rows += [("857", 2025, "adopted", 46.0, None, None, "2024-25")]
    rows += [("857", 2025, "adopted", n, None, None, f"2024-25 Q{i + 1}") for i, n in enumerate((10.0, 11.0, 12.0, 13.0))]
    t = d2.dataset2_table(pd.DataFrame(rows, columns=d2.COUNT_COLUMNS))
    r = t.set_index(["geog_code", "period"])
    assert r.loc[("830", "2024-25 Q3"), ["period_type", "number"]].tolist() == ["quarter", 14.0]
    assert str(r.loc[("830", "2024-25 Q3"), "period_end"]) == "2024-12-31"
    assert str(r.loc[("830", "2024-25"), "period_end"]) == "2025-03-31" and r.loc[("830", "2024-25"), "period_type"] == "year"
    assert [r.loc[("east_midlands", f"2024-25 Q{i}"), "number"] for i in range(1, 5)] == [20.0, 13.0, 26.0, 22.0]
    assert r.loc[("east_midlands", "2024-25"), "number"] == 81.0
    pub = suppress(t, specs_from_conf(gold_conf())["dataset2_measures"]).set_index(["geog_code", "period"])["number"]
    assert [pub[("830", f"2024-25 Q{i}")] for i in range(1, 5)] == ["x", "x", "14", "x"]
    assert [pub[("857", f"2024-25 Q{i}")] for i in range(1, 5)] == ["x", "x", "12", "x"]
    assert pub[("830", "2024-25")] == "35" and pub[("857", "2024-25")] == "46"
    # without the quarters relation only 830's and 857's Q2 would go (830's year less Q1, Q3, Q4 = 2)
    spec = specs_from_conf(gold_conf())["dataset2_measures"]
    alone = dataclasses.replace(spec, additive=tuple(a for a in spec.additive if a.over != "period"))
    shown = suppress(t, alone).set_index(["geog_code", "period"])["number"]
    assert [shown[("830", f"2024-25 Q{i}")] for i in range(1, 5)] == ["10", "x", "14", "9"]


def test_return_interviews_offered_and_accepted():
    """Missing at least once: a, b, c (d had none: out, though offered): offered a and b (2 of 3),
    accepted a (1 of 2)."""
    list8 = pd.DataFrame({"_la": ["830"] * 4, "_year": [2025] * 4, "child_id_hash": list("abcd"),
                          "missing_episodes": [2, 1, 3, 0], "return_interview_offered": [True, True, False, True],
                          "return_interview_accepted": [True, False, None, True]})
    got = _by_measure(d2.return_interview_rows(list8, SENT))
    assert got["return_interview_offered"][:2] == (2.0, 3.0)
    assert got["return_interview_accepted"][:2] == (1.0, 2.0)
    # an LA whose list has nobody missing (or nobody at all): 0 of 0, rows all the same
    for frame in (list8.assign(missing_episodes=0), list8.iloc[0:0]):
        assert [r[3:5] for r in d2.return_interview_rows(frame, SENT)] == [(0.0, 0.0), (0.0, 0.0)]


def test_the_table_regions_rates_averages_and_disclosure_control():
    """Two East Midlands LAs and a London one: the East Midlands row sums its own two (EET 7 of 9 and 3
    of 8: 10 of 17, 58.8%); London's is 201's alone; A1 averages the days over the children measured.
    Published: 857's 3 is a small number (x), so its percentage too, and 830's 7 by secondary
    suppression; the template measures have no figure."""
    rows = [("830", 2025, "cl_eet", 7.0, 9.0, None), ("857", 2025, "cl_eet", 3.0, 8.0, None),
            ("201", 2025, "cl_eet", 20.0, 25.0, None),
            ("830", 2025, "a1_days_care_to_adoptive_family", None, 6.0, 2400.0),
            ("857", 2025, "a1_days_care_to_adoptive_family", None, 4.0, 2000.0)]
    rows += d2.template_rows({("830", 2025)})
    t = d2.dataset2_table(pd.DataFrame([(*r[:6], *r[6:]) if len(r) == 7 else (*r, None) for r in rows],
                                       columns=d2.COUNT_COLUMNS))
    r = t.set_index(["geog_code", "measure_id"])
    assert r.loc[("east_midlands", "cl_eet"), ["number", "denominator"]].tolist() == [10.0, 17.0]
    assert r.loc[("east_midlands", "cl_eet"), "percentage"] == pytest.approx(100 * 10 / 17)
    assert r.loc[("london", "cl_eet"), "percentage"] == pytest.approx(80.0)
    assert r.loc[("830", "a1_days_care_to_adoptive_family"), "average_days"] == pytest.approx(400.0)
    assert r.loc[("east_midlands", "a1_days_care_to_adoptive_family"), "average_days"] == pytest.approx(440.0)
    assert r.loc[("830", "early_help"), "source"] == "la-template only"
    assert pd.isna(r.loc[("830", "early_help"), "number"])
    pub = suppress(t, specs_from_conf(gold_conf())["dataset2_measures"]).set_index(["geog_code", "measure_id"])
    assert pub.loc[("201", "cl_eet"), ["number", "denominator", "percentage"]].tolist() == ["20", "25", "80.0"]
    assert pub.loc[("857", "cl_eet"), "number"] == "x" and pub.loc[("857", "cl_eet"), "percentage"] == "x"
    # 857's 3 is hidden; the East Midlands total (10, rounded to 10) less 830's 7 would give it away:
    # 830's number goes too (secondary), and its percentage with it; London's 201 is another total's part
    assert pub.loc[("830", "cl_eet"), ["number", "denominator", "percentage"]].tolist() == ["x", "9", "x"]
    assert pub.loc[("east_midlands", "cl_eet"), "number"] == "10"
    # 4 children measured in 857: its denominator, sum and average of days are hidden (denominator 1-5);
    # 830's 6 would give the 4 away from the region's 10, so it goes too, and its average with it
    a1 = "a1_days_care_to_adoptive_family"
    assert pub.loc[("857", a1), ["denominator", "total_days", "average_days"]].tolist() == ["x", "x", "x"]
    assert pub.loc[("830", a1), ["denominator", "average_days"]].tolist() == ["x", "x"]
    assert pub.loc[("east_midlands", a1), ["denominator", "average_days"]].tolist() == ["10", "440"]


def test_the_export_reads_years_and_quarters_of_one_period_column():
    """EES time: "2024-25" is Financial year 202425, "2024-25 Q3" Financial year Q3; period_type,
    period_end and collection_year say it again and are no filters."""
    import datetime as dt

    from cslake.publish.ees import time_of

    t = d2.dataset2_table(pd.DataFrame([("830", 2025, "adopted", 3.0, None, None, "2024-25"),
                                        ("830", 2025, "adopted", 3.0, None, None, "2024-25 Q3")],
                                       columns=d2.COUNT_COLUMNS))
    period, ident, used, note = time_of(t, dt.date(2026, 1, 1))
    assert sorted(zip(period, ident)) == sorted([("202425", "Financial year"), ("202425", "Financial year Q3")] * 2)
    assert used == {"period", "period_type", "period_end", "collection_year"}
    assert "quarter" in note
    riia_like = pd.DataFrame({"period": ["2024-25 Q1", "2024-25 Q2"]})
    assert time_of(riia_like, dt.date(2026, 1, 1))[1].tolist() == ["Financial year Q1", "Financial year Q2"]
