"""DfE's definitions (cslake.gold.dfe) against hand-made returns whose every count is worked out
by hand here, in both views (as submitted, as corrected), and against an independent pandas
computation on a generated region.

The hand-made SSDA903 set: LA 201 sends five years (2021-2025), LA 202 three (2023-2025). Each
child exercises one edge (CHILD ids are LA 201's unless said):

- 1001 short breaks only (V3): a stay started and ended in 2020-21, another open at 31 March
  2021 (closed in the 2022 return): in no count.
- 1002 an episode ending on 31 March 2021 (REC E11): started and ceased in 2021, not looked
  after at 31 March 2021.
- 1003 two periods of care in 2021-22: one child started, one child ceased (not two).
- 1004 open at 31 March 2022, absent from the LA's 2023 return: looked after at 31 March 2022,
  never counted as ceasing, not looked after at 31 March 2023 (no return says so) in either
  view; a finding for 2022.
- 1005 in care since 1 January 2020, a placement change (REC X1) in 2021: looked after at every
  31 March, 12 months continuously every year, never ceased (X1 is not a cessation).
- 1006 transfers to LA 202 on 1 February 2023 (202's child 2006): ceased in 201, started in 202,
  12 months continuously in 202 only from 2024.
- 1007 an episode (1 March - 15 May 2023) missing from the 2023 return, first sent in 2024's:
  as corrected it started in 2023 and was looked after at 31 March 2023; as submitted not.
- 1008 a DEC (10 April 2024) after its return's 31 March (2024): looked after at 31 March 2024,
  ceased in 2025; a finding for 2024.
- 1010 open at 31 March 2022 in the 2022 return, corrected in 2023's to have ended on 20 March
  2022: as submitted looked after at 31 March 2022, as corrected ceased in 2022.

By hand, LA 201, (looked after at 31 March, started, ceased, 12 months continuously):

| year | as submitted | as corrected | why they differ |
|------|--------------|--------------|-----------------|
| 2021 | 1 1 1 1 (1005; 1002; 1002; 1005) | the same | |
| 2022 | 4 4 1 1 (1004 1005 1006 1010; 1003 1004 1006 1010; 1003; 1005) | 3 4 2 1 | 1010's correction |
| 2023 | 1 0 1 1 (1005; -; 1006; 1005) | 2 1 1 1 | 1007 back-filled |
| 2024 | 2 1 1 1 (1005 1008; 1008; 1007; 1005) | the same | |
| 2025 | 1 0 1 1 (1005; -; 1008; 1005) | the same | |

LA 202: 2023 1 1 0 0; 2024 1 0 0 1; 2025 1 0 0 1 (child 2006), both views. Findings (as
submitted): 201 2022 one child missing from the next return (1004); 201 2024 one DEC after 31
March (1008). Care leavers: 201's 2023 OC3 has two young people, one with an activity code (F3)
no longer in the code list: cell-level quarantine nulls the code and keeps the young person, so 2.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from cslake import pseudo
from cslake.lake import Lake
from cslake.land import land_raw

KEY = "dfe-definitions-test-key-0123456789"
D = dt.date
EPISODE_HEADER = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"


def _ep(child, decom, rne, ls, dec="", rec=""):
    return f"{child},{decom},{rne},{ls},N1,U1,PR1,{dec},{rec},,,,SC000001"


EPISODES = {
    ("201", 2021): [
        _ep(1001, "01/06/2020", "S", "V3", "03/06/2020", "E8"),
        _ep(1001, "01/03/2021", "S", "V3"),
        _ep(1002, "01/05/2020", "S", "C2", "31/03/2021", "E11"),
        _ep(1005, "01/01/2020", "S", "C2", "01/02/2021", "X1"),
        _ep(1005, "01/02/2021", "P", "C2"),
    ],
    ("201", 2022): [
        _ep(1001, "01/03/2021", "S", "V3", "02/04/2021", "E8"),
        _ep(1003, "01/05/2021", "S", "C2", "01/07/2021", "E11"),
        _ep(1003, "01/09/2021", "S", "C2", "01/12/2021", "E11"),
        _ep(1004, "01/10/2021", "S", "C2"),
        _ep(1005, "01/02/2021", "P", "C2"),
        _ep(1006, "01/06/2021", "S", "C2"),
        _ep(1010, "01/01/2022", "S", "C2"),
    ],
    ("201", 2023): [
        _ep(1005, "01/02/2021", "P", "C2"),
        _ep(1006, "01/06/2021", "S", "C2", "01/02/2023", "E8"),
        _ep(1010, "01/01/2022", "S", "C2", "20/03/2022", "E11"),
    ],
    ("201", 2024): [
        _ep(1005, "01/02/2021", "P", "C2"),
        _ep(1007, "01/03/2023", "S", "C2", "15/05/2023", "E11"),
        _ep(1008, "01/11/2023", "S", "C2", "10/04/2024", "E11"),
    ],
    ("201", 2025): [
        _ep(1005, "01/02/2021", "P", "C2"),
        _ep(1008, "01/11/2023", "S", "C2", "10/04/2024", "E11"),
    ],
    ("202", 2023): [_ep(2006, "01/02/2023", "S", "C1")],
    ("202", 2024): [_ep(2006, "01/02/2023", "S", "C1")],
    ("202", 2025): [_ep(2006, "01/02/2023", "S", "C1")],
}
OC3 = {("201", 2023): ["CHILD,DOB,IN_TOUCH,ACTIV,ACCOM", "3001,01/05/2003,YES,F2,B1", "3002,01/06/2003,YES,F3,B1"]}

# (LA, year) -> measure -> (as submitted, as corrected), by hand (module docstring)
CLA = ("cla_31_march", "cla_started", "cla_ceased", "cla_12_months")
EXPECTED_903 = {
    ("201", 2021): ((1, 1, 1, 1), (1, 1, 1, 1)),
    ("201", 2022): ((4, 4, 1, 1), (3, 4, 2, 1)),
    ("201", 2023): ((1, 0, 1, 1), (2, 1, 1, 1)),
    ("201", 2024): ((2, 1, 1, 1), (2, 1, 1, 1)),
    ("201", 2025): ((1, 0, 1, 1), (1, 0, 1, 1)),
    ("202", 2023): ((1, 1, 0, 0), (1, 1, 0, 0)),
    ("202", 2024): ((1, 0, 0, 1), (1, 0, 0, 1)),
    ("202", 2025): ((1, 0, 0, 1), (1, 0, 0, 1)),
}


def make_raw(root: Path) -> Path:
    raw = root / "raw"
    for (la, year), lines in EPISODES.items():
        d = raw / la / "ssda903" / str(year)
        d.mkdir(parents=True)
        (d / "episodes.csv").write_text("\n".join([EPISODE_HEADER, *lines]) + "\n")
        children = sorted({line.split(",")[0] for line in lines})
        header = ["CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB"] + [f"{c},1,01/01/2010,WBRI,UN1,," for c in children]
        (d / "header.csv").write_text("\n".join(header) + "\n")
    for (la, year), lines in OC3.items():
        (raw / la / "ssda903" / str(year) / "oc3.csv").write_text("\n".join(lines) + "\n")
    return raw


@pytest.fixture(scope="module")
def hand_made(spark, tmp_path_factory):
    from cslake.gold.build import build_gold
    from cslake.silver import build_silver

    mp = pytest.MonkeyPatch()
    mp.setenv(pseudo.KEY_ENV, KEY)
    root = tmp_path_factory.mktemp("dfe_hand_made")
    lake = Lake(root / "lake", spark=spark)
    land_raw(lake, make_raw(root))
    build_silver(lake)
    build_gold(lake, ["dfe_measures", "riia_indicators"], region="london")
    yield lake
    mp.undo()


def _measures(lake) -> pd.DataFrame:
    return lake.read_table("gold_restricted.dfe_measures").toPandas()


def test_five_years_by_hand_in_both_views(hand_made):
    m = _measures(hand_made)
    la = m[m.geog_level == "la"].set_index(["geog_code", "collection_year", "measure"])
    for (code, year), (sub, cor) in EXPECTED_903.items():
        for name, s, c in zip(CLA, sub, cor):
            row = la.loc[(code, year, name)]
            assert (row.as_submitted, row.as_corrected) == (s, c), (code, year, name)
            assert row.difference == c - s
    # no row for a year LA 202 sent nothing
    assert not ((m.geog_code == "202") & (m.collection_year < 2023)).any()
    # region rows: the sum of the LAs (2023: 201's 1 + 202's 1 at 31 March, as submitted)
    reg = m[(m.geog_level == "region") & (m.collection_year == 2023)].set_index("measure")
    assert (reg.loc["cla_31_march", "as_submitted"], reg.loc["cla_31_march", "as_corrected"]) == (2, 3)
    assert (reg.loc["cla_started", "as_submitted"], reg.loc["cla_ceased", "as_submitted"]) == (1, 1)


def test_absent_child_never_ceases_and_findings_are_counted(hand_made):
    m = _measures(hand_made)
    la = m[m.geog_code == "201"].set_index(["collection_year", "measure"])
    # 1004: missing from 2023's return, in no year's ceased count (2023: 1006 only, both views)
    assert (la.loc[(2023, "cla_ceased"), "as_submitted"], la.loc[(2023, "cla_ceased"), "as_corrected"]) == (1, 1)
    assert la.loc[(2022, "finding_missing_from_next_return"), "as_submitted"] == 1
    assert la.loc[(2024, "finding_dec_after_31_march"), "as_submitted"] == 1
    findings = la[la.index.get_level_values("measure").str.startswith("finding_")]
    assert findings.as_submitted.sum() == 2 and findings.as_corrected.isna().all()
    # in silver: no invented end, and the finding is a flag for the LA on 1004's row of the 2022 return
    hist = hand_made.read_table("silver.care_history").toPandas()
    c4 = hist[hist.CHILD_hash == pseudo.hash_value("la_child_id", "1004", la="201", key=KEY.encode())]
    assert len(c4) == 1 and c4.DEC.isna().all() and c4.REC.isna().all() and set(c4._year) == {2022}
    assert not (hist.REC == "E99").any()
    flags = hand_made.read_table("quarantine.row_flags").toPandas()
    absent = flags[flags.rule_code == "SSDA903_EPI_ABSENT"]
    assert sorted(zip(absent.la, absent.year, absent.row_number)) == [("201", 2022, 5)]


def test_views_differ_by_more_than_the_share_are_findings(hand_made):
    m = _measures(hand_made)
    la = m[m.geog_code == "201"].set_index(["collection_year", "measure"])
    # 2022: at 31 March 3 vs 4 (-25%), ceased 2 vs 1 (+100%): beyond the 5% threshold; 2021 agrees
    assert la.loc[(2022, "cla_31_march"), "difference_share"] == pytest.approx(-0.25)
    assert bool(la.loc[(2022, "cla_31_march"), "differs"]) and bool(la.loc[(2022, "cla_ceased"), "differs"])
    # 2023 started: the return said 0, the corrected history 1 (1007)
    assert bool(la.loc[(2023, "cla_started"), "differs"])
    assert not la.loc[2021, "differs"].any()
    assert not la.loc[(2022, "cla_started"), "differs"]


def test_care_leavers_keep_a_young_person_with_one_bad_code(hand_made):
    m = _measures(hand_made)
    row = m[(m.geog_code == "201") & (m.collection_year == 2023) & (m.measure == "care_leavers")].iloc[0]
    assert (row.as_submitted, row.as_corrected) == (2, 2)
    oc3 = hand_made.read_table("silver.ssda903_oc3").toPandas()
    assert len(oc3) == 2 and oc3.ACTIV.isna().sum() == 1
    flags = hand_made.read_table("quarantine.row_flags").toPandas()
    nulled = flags[(flags.table == "silver.ssda903_oc3") & (flags.outcome == "nulled")]
    assert list(zip(nulled.rule_code, nulled.column, nulled.value, nulled.row_number)) == [("CODE_INVALID", "ACTIV", "F3", 3)]
    # the message names the specification F3 was checked against (2022-23's, which has no F3)
    assert nulled.message.tolist() == ["ACTIV: Not a valid code for this field in the specification the return was "
                                       "checked against (the 2022-23 specification, 2023)"]
    assert not len(hand_made.read_table("quarantine.rows").toPandas().query("table == 'silver.ssda903_oc3'"))


def test_riia_care_indicators_count_children_and_leave_out_short_breaks(hand_made):
    r = hand_made.read_table("gold_restricted.riia_indicators").toPandas()
    la = r[(r.geog_code == "201") & (r.breakdown == "all")].set_index(["period", "indicator_id"])["number"]
    # 15 current CLA at 31 March 2023: 1005 and 1007 (as corrected), not 1004 (absent since 2022's return)
    assert la[("2022-23 Q4", 15)] == 2
    # 16 started, Apr-Jun 2020: 1002 (1001's short break left out); Apr-Jun 2021: 1003 and 1006;
    # Jul-Sep 2021: 1003's second period
    assert (la[("2020-21 Q1", 16)], la[("2021-22 Q1", 16)], la[("2021-22 Q2", 16)]) == (1, 2, 1)
    # 17 ceased: Apr-Jun 2020 none (1001's short break), Jan-Mar 2023 1006, never 1004; Jan-Mar 2021: 1002 (31 March)
    assert (la[("2020-21 Q1", 17)], la[("2022-23 Q4", 17)], la[("2020-21 Q4", 17)]) == (0, 1, 1)
    assert la[("2021-22 Q4", 15)] == 3  # 1004, 1005, 1006 (1010 ended 20 March 2022 as corrected)
    assert la[("2023-24 Q1", 15)] == 1  # 1005 only: 1004 is not carried past its last return


# ---------------------------------------------------------------------------
# CIN definitions on hand-made silver rows (cslake.gold.dfe.cin_view)


def _cin_tables(spark):
    d = D
    base = "_la string, _year int, _latest boolean, LAchildID_hash string"
    episodes = spark.createDataFrame([
        ("201", 2022, True, "A", d(2021, 5, 1)),
        ("201", 2022, True, "A", d(2022, 2, 1)),    # 9 months after A's first: a re-referral
        ("201", 2023, True, "A", d(2022, 6, 1)),    # 4 months after: a re-referral (earlier one in 2022's return)
        ("201", 2022, True, "B", d(2021, 3, 1)),    # open at the start of 2021-22: in 2022's return, not its year
        ("201", 2022, True, "B", d(2022, 1, 15)),   # 10.5 months after B's first: a re-referral
        ("201", 2023, True, "C", d(2023, 3, 1)),
        ("201", 2023, True, "D", d(2022, 3, 10)),   # a 2021-22 referral first sent in 2023's return
    ], base + ", CINreferralDate date")
    assessments = spark.createDataFrame([
        ("201", 2022, True, "A", d(2021, 6, 1)),
        ("201", 2022, False, "B", None),            # not yet authorised at 31 March 2022 ...
        ("201", 2023, True, "B", d(2022, 3, 20)),   # ... 2023's return says it was, on 20 March 2022
        ("201", 2023, True, "C", d(2022, 7, 1)),
    ], base + ", AssessmentAuthorisationDate date")
    s47 = spark.createDataFrame([
        ("201", 2022, True, "A", d(2021, 8, 1), d(2021, 8, 20)),
        ("201", 2022, False, "B", d(2022, 3, 25), None),
        ("201", 2023, True, "B", d(2022, 3, 25), d(2022, 4, 5)),
    ], base + ", S47ActualStartDate date, DateOfInitialCPC date")
    cpp = spark.createDataFrame([
        ("201", 2022, True, "A", d(2021, 9, 1), None),           # open, missing from 2023's return
        ("201", 2022, False, "B", d(2022, 3, 31), None),         # starts on 31 March: on a plan that day
        ("201", 2023, True, "B", d(2022, 3, 31), d(2022, 12, 1)),
        ("201", 2022, True, "E", d(2021, 4, 5), d(2022, 3, 31)),  # ends on 31 March: not on a plan that day
    ], base + ", CPPstartDate date, CPPendDate date")
    return {"cin_episode": episodes, "cin_assessment": assessments, "cin_s47": s47, "cin_cpp": cpp}


def test_cin_definitions_by_hand_in_both_views(spark):
    from cslake.gold.dfe import CORRECTED, SUBMITTED, cin_view

    years = spark.createDataFrame([("201", 2022), ("201", 2023)], "_la string, ref_year int")
    tables = _cin_tables(spark)
    got = {}
    for view in (SUBMITTED, CORRECTED):
        parts = cin_view(tables, view, years)
        out = parts[0]
        for p in parts[1:]:
            out = out.unionByName(p)
        for r in out.collect():
            got[(view, r["collection_year"], r["measure"])] = r["value"]
    expected = {
        # as submitted: 2022's return: referrals A 1 May, A 1 Feb, B 15 Jan; re-referrals A 1 Feb, B 15 Jan
        (SUBMITTED, 2022, "referrals"): 3, (SUBMITTED, 2022, "re_referrals"): 2,
        (SUBMITTED, 2022, "assessments"): 1, (SUBMITTED, 2022, "s47"): 2, (SUBMITTED, 2022, "icpc"): 1,
        (SUBMITTED, 2022, "cpp_31_march"): 2,
        # 2023's return: A 1 June (re-referral, the earlier one from 2022's return), C; D's date is 2021-22
        (SUBMITTED, 2023, "referrals"): 2, (SUBMITTED, 2023, "re_referrals"): 1,
        (SUBMITTED, 2023, "assessments"): 1, (SUBMITTED, 2023, "icpc"): 1,
        # as corrected: D back-filled into 2022; B's assessment authorised in 2022; A's plan not carried past 2022
        (CORRECTED, 2022, "referrals"): 4, (CORRECTED, 2022, "re_referrals"): 2,
        (CORRECTED, 2022, "assessments"): 2, (CORRECTED, 2022, "s47"): 2, (CORRECTED, 2022, "icpc"): 1,
        (CORRECTED, 2022, "cpp_31_march"): 2,
        (CORRECTED, 2023, "referrals"): 2, (CORRECTED, 2023, "re_referrals"): 1,
        (CORRECTED, 2023, "assessments"): 1, (CORRECTED, 2023, "icpc"): 1,
    }
    # measures with nothing to count have no row (the table's grid fills the zeros)
    assert {k: v for k, v in got.items() if v} == expected


def test_measures_table_grid_region_and_threshold():
    from cslake.gold.dfe import measures_table

    presence = pd.DataFrame({"_la": ["201", "202"], "_year": [2024, 2024], "collection": ["cin", "cin"]})
    sub = pd.DataFrame([("201", 2024, "referrals", 100), ("202", 2024, "referrals", 10)],
                       columns=["_la", "collection_year", "measure", "value"])
    cor = pd.DataFrame([("201", 2024, "referrals", 104), ("202", 2024, "referrals", 12), ("202", 2024, "s47", 3)],
                       columns=["_la", "collection_year", "measure", "value"])
    t = measures_table(sub, cor, presence, threshold=0.05, region_key="london").set_index(["geog_code", "measure"])
    # 201: +4% is within 5%; 202: +20% beyond it; 202's s47: the return said 0, the history 3
    assert (t.loc[("201", "referrals"), "difference"], bool(t.loc[("201", "referrals"), "differs"])) == (4, False)
    assert t.loc[("202", "referrals"), "difference_share"] == pytest.approx(0.2)
    assert bool(t.loc[("202", "referrals"), "differs"]) and bool(t.loc[("202", "s47"), "differs"])
    assert pd.isna(t.loc[("202", "s47"), "difference_share"])
    # every CIN measure is a row for each LA (zeros included), and the region sums them
    assert len(t.xs("201")) == 6 and t.loc[("201", "icpc"), "as_submitted"] == 0
    assert (t.loc[("london", "referrals"), "as_submitted"], t.loc[("london", "referrals"), "as_corrected"]) == (110, 116)


def test_code_invalid_names_the_specification_checked_against(spark):
    """OC3 ACTIV F3 is valid up to 2019-20 and not after; F4 the other way round (diffs/2021.yaml). A
    return after the last year described (2026-27) is checked against 2025-26's, and says so."""
    from cslake.schemas import collection_schema, spec_year
    from cslake.silver.conform import conform_year

    got = {}
    for year, code in ((2020, "F3"), (2020, "F4"), (2023, "F3"), (2023, "F4"), (2027, "F3")):
        spec = spec_year("ssda903", year)[0]
        schema = collection_schema("ssda903", spec)
        bronze = spark.createDataFrame([("f", 1, year, "1", code)],
                                       "_file_sha256 string, _row bigint, _year int, CHILD string, ACTIV string")
        out = conform_year(bronze, schema.tables["oc3"], schema.date_format, ["CHILD", "ACTIV"], spec_year=spec)
        got[(year, code)] = [n["message"] for n in out.collect()[0]["_nulled"]]
    msg = "ACTIV: Not a valid code for this field in the specification the return was checked against ({})"
    assert got == {(2020, "F3"): [], (2020, "F4"): [msg.format("the 2019-20 specification, 2020")],
                   (2023, "F3"): [msg.format("the 2022-23 specification, 2023")], (2023, "F4"): [],
                   (2027, "F3"): [msg.format("the 2025-26 specification, 2026")]}


def test_dfe_codes_of_the_cin_date_order_checks():
    """The DfE CIN validation rule numbers (DfE CIN census validation rules): closure before
    referral 8630, CP plan end before start 8925, CIN plan end before start 4011."""
    from cslake.config import load_yaml

    rules = load_yaml("rules.yaml")["rules"]
    by_message = {v["message"]: v.get("dfe_code") for v in rules.values()}
    assert by_message["CIN closure date cannot be before the CIN referral date"] == "8630"
    assert by_message["Child protection plan end date cannot be before its start date"] == "8925"
    assert by_message["CIN plan end date cannot be before its start date"] == "4011"


# ---------------------------------------------------------------------------
# An independent computation of the definitions on a generated region, cell for cell.
# Straight from the raw files (pandas, lxml), not from silver and without cslake's parsers or
# transforms, following the definitions in the module docstring of cslake.gold.dfe.

SB = ("V3", "V4")


def _ts(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.replace("", None), format="%d/%m/%Y")


def _raw_903(raw: Path) -> pd.DataFrame:
    eps = []
    for f in sorted(raw.glob("[0-9][0-9][0-9]/ssda903/*/*.csv")):
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        if {"DECOM", "RNE", "LS"} <= set(df.columns):
            eps.append(df.assign(la=f.parts[-4], year=int(f.parts[-2])))
    ep = pd.concat(eps, ignore_index=True)
    ep["DECOM"], ep["DEC"] = _ts(ep["DECOM"]), _ts(ep["DEC"])
    return ep


def _periods(e: pd.DataFrame) -> pd.Series:
    """Start of each (non-short-break) episode's period of care: a new period unless the child's
    previous episode was left open or ended (X1 or no REC) on or after this one's start."""
    out = pd.Series(pd.NaT, index=e.index)
    for _, g in e.sort_values(["DECOM"]).groupby(["la", "CHILD"]):
        start, prev = None, None
        for i, r in g.iterrows():
            cont = prev is not None and (pd.isna(prev.DEC) or prev.DEC >= r.DECOM) and prev.REC in ("", "X1")
            start = start if cont else r.DECOM
            out[i], prev = start, r
    return out


def _cla_counts(e: pd.DataFrame, year: int) -> dict[str, int]:
    """e: one LA's episodes with ``seen`` (the year of the last return holding each)."""
    ys, ye = pd.Timestamp(year - 1, 4, 1), pd.Timestamp(year, 3, 31)
    e = e[~e.LS.isin(SB)].copy()
    e["pstart"] = _periods(e)
    open_ = (e.DECOM <= ye) & ((e.DEC.isna() & (e.seen >= year)) | (e.DEC > ye))
    return {"cla_31_march": e[open_].CHILD.nunique(),
            "cla_started": e[(e.RNE == "S") & e.DECOM.between(ys, ye)].CHILD.nunique(),
            "cla_ceased": e[e.DEC.between(ys, ye) & ~e.REC.isin(["", "X1"])].CHILD.nunique(),
            "cla_12_months": e[open_ & (e.pstart <= ys)].CHILD.nunique()}


def _history(ep: pd.DataFrame) -> pd.DataFrame:
    """The latest submission of each episode, chained: open and followed -> closed at the next start (X1),
    overlapping -> cut at the next start; nothing else closed."""
    h = ep.sort_values("year").drop_duplicates(["la", "CHILD", "DECOM"], keep="last").sort_values(["la", "CHILD", "DECOM"])
    nxt = h.groupby(["la", "CHILD"])["DECOM"].shift(-1)
    open_next = h.DEC.isna() & nxt.notna()
    h.loc[open_next, "REC"] = "X1"
    h.loc[open_next | (h.DEC > nxt), "DEC"] = nxt
    return h.assign(seen=h.year)


def expected_903(raw: Path) -> dict[tuple, tuple]:
    ep = _raw_903(raw)
    hist = _history(ep)
    out = {}
    for (la, year), e in ep.groupby(["la", "year"]):
        sub = _cla_counts(e.assign(seen=year), year)
        cor = _cla_counts(hist[hist.la == la], year)
        for m in sub:
            out[(la, year, m)] = (sub[m], cor[m])
        ye = pd.Timestamp(year, 3, 31)
        nsb = e[~e.LS.isin(SB)]
        at_end = set(nsb[(nsb.DECOM <= ye) & (nsb.DEC.isna() | (nsb.DEC > ye))].CHILD)
        nxt = ep[(ep.la == la) & (ep.year == year + 1)]
        missing = len(at_end - set(nxt.CHILD)) if len(nxt) else 0
        out[(la, year, "finding_missing_from_next_return")] = (missing, None)
        out[(la, year, "finding_dec_after_31_march")] = (int((e.DEC > ye).sum()), None)
        out[(la, year, "care_leavers")] = (0, 0)  # no OC3 in the gold fixture's subset
    return out


def _raw_cin(raw: Path) -> dict[str, pd.DataFrame]:
    from lxml import etree

    def text(el, path):
        found = el.find(path)
        return None if found is None or found.text is None else found.text.strip()

    rows = {"ep": [], "ass": [], "s47": [], "cpp": []}
    for f in sorted(raw.glob("[0-9][0-9][0-9]/cin/*/*.xml")):
        la, year = f.parts[-4], int(f.parts[-2])
        for child in etree.parse(str(f)).getroot().iter("Child"):
            cid = text(child, "ChildIdentifiers/LAchildID")
            for d in child.findall("CINdetails"):
                ref = text(d, "CINreferralDate")
                rows["ep"].append((la, year, cid, ref, ref))
                for a in d.findall("Assessments"):
                    rows["ass"].append((la, year, cid, ref, text(a, "AssessmentActualStartDate"),
                                        text(a, "AssessmentAuthorisationDate")))
                for s in d.findall("Section47"):
                    rows["s47"].append((la, year, cid, ref, text(s, "S47ActualStartDate"), text(s, "DateOfInitialCPC")))
                for p in d.findall("ChildProtectionPlans"):
                    rows["cpp"].append((la, year, cid, ref, text(p, "CPPstartDate"), text(p, "CPPendDate")))
    out = {k: pd.DataFrame(v, columns=["la", "year", "child", "ref", "start", "end"][:len(v[0])] if v else None)
           for k, v in rows.items()}
    for df in out.values():
        for c in ("ref", "start", "end"):
            if c in df:
                df[c] = pd.to_datetime(df[c], format="%Y-%m-%d")
    return out


def _fy(d: pd.Series) -> pd.Series:
    return d.dt.year + (d.dt.month >= 4).astype(int)


def expected_cin(raw: Path) -> dict[tuple, tuple]:
    c = _raw_cin(raw)
    ep, ass, s47, cpp = c["ep"], c["ass"], c["s47"], c["cpp"]
    latest = {k: df.sort_values("year").drop_duplicates(["la", "child", "ref", "start"], keep="last")
              for k, df in c.items()}
    out = {}
    for (la, year), _ in ep.groupby(["la", "year"]):
        ye = pd.Timestamp(year, 3, 31)
        views = {}
        for view in ("sub", "cor"):
            def rows(k, date):
                if view == "sub":
                    df = c[k][(c[k].la == la) & (c[k].year == year)]
                else:
                    df = latest[k][latest[k].la == la]
                return df[_fy(df[date]) == year] if date else df
            refs = rows("ep", "ref")
            prior = ep[(ep.la == la) & (ep.year <= year)] if view == "sub" else latest["ep"][latest["ep"].la == la]
            rerefs = sum(((prior.child == r.child) & (prior.ref < r.ref)
                          & (prior.ref >= r.ref - pd.DateOffset(months=12))).any() for r in refs.itertuples())
            plans = rows("cpp", None)
            seen = plans.year if view == "cor" else year
            on_plan = (plans.start <= ye) & ((plans.end.isna() & (seen >= year)) | (plans.end > ye))
            views[view] = {"referrals": len(refs), "re_referrals": int(rerefs),
                           "assessments": len(rows("ass", "end")), "s47": len(rows("s47", "start")),
                           "icpc": len(rows("s47", "end")), "cpp_31_march": plans[on_plan].child.nunique()}
        for m in views["sub"]:
            out[(la, year, m)] = (views["sub"][m], views["cor"][m])
    return out


def test_independent_pandas_computation_agrees_with_gold_on_a_generated_region(gold_built):
    """The shared clean region (tests/fixtures_lake.py): the builder is called on the read-only lake
    (it only reads); every LA row of both views equals the computation from the raw files."""
    from cslake.gold.dfe import build_dfe_measures

    got = build_dfe_measures(gold_built.lake, "london")
    got = got[got.geog_level == "la"]
    want = {**expected_903(gold_built.raw), **expected_cin(gold_built.raw)}
    have = {(r.geog_code, int(r.collection_year), r.measure): (r.as_submitted, None if pd.isna(r.as_corrected)
                                                               else r.as_corrected)
            for r in got.itertuples()}
    assert set(have) == set(want)
    wrong = {k: (have[k], want[k]) for k in want if have[k] != want[k]}
    assert not wrong, sorted(wrong.items())[:20]
    # the region is big enough for every definition to count something
    totals = got.groupby("measure")["as_submitted"].sum()
    assert (totals[["cla_31_march", "cla_started", "cla_ceased", "cla_12_months", "referrals", "re_referrals",
                    "assessments", "s47", "icpc", "cpp_31_march"]] > 0).all(), totals


def test_la_error_report_shows_nulled_cells_and_the_absent_episode(hand_made, tmp_path):
    import csv

    from cslake.reports.errors import write_error_report

    rep = write_error_report(hand_made, "201", tmp_path)
    rows = list(csv.DictReader(rep.csv_path.open()))
    got = {(r["file"], r["row"], r["column"], r["value"], r["rule"], r["outcome"]) for r in rows}
    assert ("201/ssda903/2023/oc3.csv", "3", "ACTIV", "F3", "CODE_INVALID", "nulled") in got
    assert ("201/ssda903/2022/episodes.csv", "5", "DEC", "", "SSDA903_EPI_ABSENT", "flag") in got
    nulled = next(r for r in rows if r["outcome"] == "nulled")
    assert "row kept" in nulled["message"]


def test_published_copy_passes_disclosure_control(hand_made):
    from cslake.publish.disclosure import disclosure_problems, spec_for

    published = hand_made.read_table("gold.dfe_measures").toPandas()
    assert disclosure_problems(published, spec_for("dfe_measures")) == []
    # every count of the hand-made set is 0-5: none of them is shown
    for col in ("as_submitted", "as_corrected"):
        assert not published[col].isin(["1", "2", "3", "4", "5", "1.0", "2.0", "3.0", "4.0", "5.0"]).any(), col
    assert (published.as_submitted == "x").any()
