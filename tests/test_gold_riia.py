"""Acceptance: riia_indicators equals an independent computation straight from the raw files.

The expected values are computed here in plain pandas from the generated raw drop zone
(CIN and SEN2 XML read with lxml, SSDA903 CSVs with pandas, ONS population CSVs), not
from silver and without cslake's parsers or transforms, following the definitions in
cslake.gold.riia's docstring. The clean fixture is used so "independent" is unambiguous.
``_truth/`` is read only to check that this test's own computation is sane.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fixtures_synth import copy_raw_subset
from lxml import etree

from cslake import pseudo
from cslake.lake import Lake
from cslake.land import land_raw

KEY = "gold-test-key-0123456789abcdef0123"
CHECKED = [2, 3, 5, 6, 8, 9, 10, 11, 15, 16, 17, 22, 24]
PCT = {3, 6, 9, 13, 14, 20}
# Only what the indicators need is landed, to keep the module quick.
COLLECTIONS = ("cin", "ssda903", "sen2", "riia_quarterly")


@pytest.fixture(scope="module")
def gold_lake(spark, synth_clean_raw, tmp_path_factory):
    from cslake.gold.build import build_gold
    from cslake.silver import build_silver

    mp = pytest.MonkeyPatch()
    mp.setenv(pseudo.KEY_ENV, KEY)
    root = tmp_path_factory.mktemp("gold_riia")
    raw = root / "raw"
    # Only episodes, header and UASC of the 903 set feed the indicators.
    copy_raw_subset(synth_clean_raw, raw, COLLECTIONS, context=("population",),
                    keep_903_columns=("DECOM", "ETHNIC", "DUC"))
    lake = Lake(root / "lake", spark=spark)
    land_raw(lake, raw)
    build_silver(lake)
    report = build_gold(lake, ["riia_indicators"], region="london")
    restricted = lake.read_table("gold_restricted.riia_indicators").toPandas()
    published = lake.read_table("gold.riia_indicators").toPandas()
    yield lake, report, restricted, published
    mp.undo()


# ---------------------------------------------------------------------------
# the independent computation


def _fy_label(d: pd.Series) -> pd.Series:
    p = d.dt.to_period("Q-MAR")
    fy_end = p.dt.qyear
    return (fy_end - 1).astype(str) + "-" + (fy_end % 100).map("{:02d}".format) + " Q" + p.dt.quarter.astype(str)


def _text(el, path):
    found = el.find(path)
    return None if found is None or found.text is None else found.text.strip()


def _read_cin(raw: Path):
    eps, ass, s47, cpp = [], [], [], []
    for f in sorted(raw.glob("[0-9][0-9][0-9]/cin/*/*.xml")):
        la, year = f.parts[-4], int(f.parts[-2])
        for child in etree.parse(str(f)).getroot().iter("Child"):
            cid = _text(child, "ChildIdentifiers/LAchildID")
            for d in child.findall("CINdetails"):
                ref = _text(d, "CINreferralDate")
                eps.append((la, year, cid, ref, _text(d, "ReferralSource"), _text(d, "CINclosureDate"),
                            _text(d, "ReferralNFA")))
                for a in d.findall("Assessments"):
                    ass.append((la, year, cid, ref, _text(a, "AssessmentActualStartDate"),
                                _text(a, "AssessmentAuthorisationDate")))
                for s in d.findall("Section47"):
                    s47.append((la, year, cid, ref, _text(s, "S47ActualStartDate"), _text(s, "DateOfInitialCPC")))
                for p in d.findall("ChildProtectionPlans"):
                    cpp.append((la, year, cid, ref, _text(p, "CPPstartDate"), _text(p, "CPPendDate"),
                                _text(p, "NumberOfPreviousCPP")))
    frames = {
        "ep": pd.DataFrame(eps, columns=["la", "year", "child", "ref", "source", "closed", "nfa"]),
        "ass": pd.DataFrame(ass, columns=["la", "year", "child", "ref", "start", "auth"]),
        "s47": pd.DataFrame(s47, columns=["la", "year", "child", "ref", "start", "icpc"]),
        "cpp": pd.DataFrame(cpp, columns=["la", "year", "child", "ref", "start", "end", "nprev"]),
    }
    keys = {"ep": ["ref"], "ass": ["ref", "start"], "s47": ["ref", "start"], "cpp": ["ref", "start"]}
    for name, df in frames.items():
        for c in ("ref", "start", "closed", "auth", "icpc", "end"):
            if c in df:
                df[c] = pd.to_datetime(df[c], format="%Y-%m-%d")
        # the latest year's submission of each record
        frames[name] = df.sort_values("year").drop_duplicates(["la", "child"] + keys[name], keep="last")
    return frames


def _read_903(raw: Path):
    eps, uasc = [], []
    for f in sorted(raw.glob("[0-9][0-9][0-9]/ssda903/*/*.csv")):
        la, year = f.parts[-4], int(f.parts[-2])
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        cols = set(df.columns)
        if {"DECOM", "RNE", "LS"} <= cols:
            eps.append(df.assign(la=la, year=year))
        elif "DUC" in cols:
            uasc.append(df.assign(la=la, year=year))
    ep = pd.concat(eps, ignore_index=True)
    for c in ("DECOM", "DEC"):
        ep[c] = pd.to_datetime(ep[c].replace("", None), format="%d/%m/%Y")
    ep = ep.sort_values("year").drop_duplicates(["la", "CHILD", "DECOM"], keep="last")
    u = pd.concat(uasc, ignore_index=True)
    u["DUC"] = pd.to_datetime(u["DUC"].replace("", None), format="%d/%m/%Y")
    u = u.sort_values("year").drop_duplicates(["la", "CHILD"], keep="last")
    return ep, u


def _read_sen2(raw: Path):
    req, plans = [], []
    for f in sorted(raw.glob("[0-9][0-9][0-9]/sen2/*/*.xml")):
        la, year = f.parts[-4], int(f.parts[-2])
        for person in etree.parse(str(f)).getroot().iter("Person"):
            pid = (_text(person, "UPN"), _text(person, "UniqueLearnerNumber"), _text(person, "PersonBirthDate"))
            for r in person.findall("Requests"):
                received = _text(r, "ReceivedDate")
                req.append((la, year, *pid, received))
                for a in r.findall("Assessment"):
                    for p in a.findall("NamedPlan"):
                        plans.append((la, year, *pid, received, _text(p, "StartDate")))
    cols = ["la", "year", "upn", "uln", "dob", "received"]
    rq = pd.DataFrame(req, columns=cols)
    pl = pd.DataFrame(plans, columns=cols + ["start"])
    for df in (rq, pl):
        for c in ("received", "start"):
            if c in df:
                df[c] = pd.to_datetime(df[c], format="%Y-%m-%d")
    rq = rq.sort_values("year").drop_duplicates(["la", "upn", "uln", "dob", "received"], keep="last")
    pl = pl.sort_values("year").drop_duplicates(["la", "upn", "uln", "dob", "received", "start"], keep="last")
    return rq, pl


def _workdays(start: pd.Series, end: pd.Series) -> np.ndarray:
    import holidays

    hol = sorted(holidays.UK(subdiv="ENG", years=range(2015, 2031)).keys())
    ok = start.notna() & end.notna()
    out = np.full(len(start), 10**6)
    s = start[ok].to_numpy().astype("datetime64[D]")
    e = end[ok].to_numpy().astype("datetime64[D]")
    out[ok.to_numpy()] = np.busday_count(s + 1, e + 1, holidays=np.array(hol, dtype="datetime64[D]"))
    return out


def _quarters(years):
    out = []
    for y in years:
        for q, (s, e) in enumerate([(f"{y-1}-04-01", f"{y-1}-06-30"), (f"{y-1}-07-01", f"{y-1}-09-30"),
                                    (f"{y-1}-10-01", f"{y-1}-12-31"), (f"{y}-01-01", f"{y}-03-31")], start=1):
            out.append((f"{y-1}-{y % 100:02d} Q{q}", y, pd.Timestamp(s), pd.Timestamp(e)))
    return out


def expected_indicators(raw: Path) -> pd.DataFrame:
    """(la, period, indicator_id, breakdown) → number, denominator."""
    cin = _read_cin(raw)
    ep903, uasc = _read_903(raw)
    req, plans = _read_sen2(raw)
    sent = {(p.parts[-3], p.parts[-2], int(p.parts[-1])) for p in raw.glob("[0-9][0-9][0-9]/*/[0-9][0-9][0-9][0-9]")}
    las = sorted({la for la, _, _ in sent})
    years = sorted({y for _, c, y in sent if c == "cin"})
    rows = []

    def add(la, period, ind, number, den=None, breakdown="all"):
        rows.append((la, period, ind, breakdown, float(number), None if den is None else float(den)))

    ep, ass, s47, cpp = cin["ep"].copy(), cin["ass"].copy(), cin["s47"].copy(), cin["cpp"].copy()
    ep["period"] = _fy_label(ep["ref"])
    all_sources = sorted(ep["source"].dropna().unique())
    # repeat referral: another referral of the child in the 12 months before
    ep["repeat"] = False
    for (la, child), g in ep.groupby(["la", "child"]):
        dates = g["ref"].tolist()
        for i, d in zip(g.index, dates):
            ep.loc[i, "repeat"] = any(d - pd.DateOffset(months=12) <= o < d for o in dates)
    ass["period_auth"] = _fy_label(ass["auth"])
    ass["in45"] = _workdays(ass["start"], ass["auth"]) <= 45
    s47["period"] = _fy_label(s47["start"])
    s47["in15"] = _workdays(s47["start"], s47["icpc"]) <= 15
    cpp["period"] = _fy_label(cpp["start"])
    cpp["within2"] = False
    for (la, child), g in cpp.groupby(["la", "child"]):
        for i, r in g.iterrows():
            ends = g[(g["start"] < r["start"]) & g["end"].notna() & (g["end"] <= r["start"])]["end"]
            cpp.loc[i, "within2"] = len(ends) > 0 and ends.max() > r["start"] - pd.DateOffset(months=24)
    ep903["period_start"] = _fy_label(ep903["DECOM"])
    ep903["period_end"] = _fy_label(ep903["DEC"])
    req["period"] = _fy_label(req["received"])
    plans["period"] = _fy_label(plans["start"])

    for la in las:
        for label, year, qs, qe in _quarters(years):
            if (la, "cin", year) in sent:
                e = ep[ep.la == la]
                refs = e[e.period == label]
                add(la, label, 2, len(refs))
                by_source = refs.groupby("source").size()
                for src in all_sources:  # every source seen anywhere: a zero is a row too
                    add(la, label, 2, by_source.get(src, 0), breakdown=f"source {src}")
                add(la, label, 3, refs["repeat"].sum(), len(refs))
                a = ass[(ass.la == la) & (ass.period_auth == label)]
                add(la, label, 5, len(a))
                add(la, label, 6, a["in45"].sum(), len(a))
                s = s47[(s47.la == la) & (s47.period == label)]
                add(la, label, 8, len(s))
                add(la, label, 9, s["in15"].sum(), len(s))
                c = cpp[cpp.la == la]
                add(la, label, 10, (c.period == label).sum())
                add(la, label, 11, ((c.start <= qe) & (c.end.isna() | (c.end > qe))).sum())
            if (la, "ssda903", year) in sent:
                c = ep903[ep903.la == la]
                current = c[(c.DECOM <= qe) & (c.DEC.isna() | (c.DEC > qe)) & ~c.LS.isin(["V3", "V4"])]
                add(la, label, 15, current["CHILD"].nunique())
                add(la, label, 16, ((c.period_start == label) & (c.RNE == "S")).sum())
                add(la, label, 17, ((c.period_end == label) & (c.REC != "X1") & (c.REC != "")).sum())
            if (la, "sen2", qs.year + 1) in sent:
                add(la, label, 22, ((req.la == la) & (req.period == label)).sum())
                p = plans[(plans.la == la) & (plans.period == label)]
                add(la, label, 24, len(p))
                add(la, label, 24, ((p.start - p.received).dt.days <= 140).sum(), len(p), breakdown="within 20 weeks")
    return pd.DataFrame(rows, columns=["geog_code", "period", "indicator_id", "breakdown", "number", "denominator"])


@pytest.fixture(scope="module")
def expected(synth_clean_raw):
    return expected_indicators(synth_clean_raw)


# ---------------------------------------------------------------------------


def test_expected_is_sane_against_truth(expected, synth_clean_raw):
    """This test's own computation agrees with the simulation's truth where the returns can see it."""
    truth = pd.concat([pd.read_csv(f, dtype={"la": str})
                       for f in sorted((synth_clean_raw / "_truth" / "riia_reported").glob("*.csv"))])
    m = expected[expected.breakdown == "all"].merge(
        truth, left_on=["geog_code", "period", "indicator_id"], right_on=["la", "period", "indicator_id"])
    # Indicators whose child-level truth needs nothing outside the returns' window.
    exact = m[m.indicator_id.isin([2, 5, 6, 8, 9, 10, 11, 15, 16, 17])]
    assert len(exact) > 300
    agree = (exact["number"] == exact["true_numerator"]).mean()
    assert agree > 0.97, exact[exact["number"] != exact["true_numerator"]].head(20)
    assert m[m.indicator_id == 2]["number"].sum() > 200


def test_child_level_indicators_equal_independent_computation(gold_lake, expected):
    _, _, restricted, _ = gold_lake
    got = restricted[(restricted.geog_level == "la") & restricted.indicator_id.isin(CHECKED)]
    got = got[got.number.notna()][["geog_code", "period", "indicator_id", "breakdown", "number", "denominator"]]
    key = ["geog_code", "period", "indicator_id", "breakdown"]
    m = expected.merge(got, on=key, how="outer", suffixes=("_expected", "_gold"), indicator=True)
    missing = m[m["_merge"] != "both"]
    assert missing.empty, f"rows on one side only:\n{missing.head(20)}"
    wrong = m[m.number_expected != m.number_gold]
    assert wrong.empty, f"numbers differ:\n{wrong.head(30)}"
    pct = m[m.indicator_id.isin(PCT) | (m.breakdown == "within 20 weeks")]
    wrong_den = pct[pct.denominator_expected != pct.denominator_gold]
    assert wrong_den.empty, f"denominators differ:\n{wrong_den.head(30)}"
    # every LA and every quarter of 2023-2025 is covered for every checked indicator
    per = m.groupby("indicator_id").apply(lambda g: g[["geog_code", "period"]].drop_duplicates().shape[0])
    assert (per[[2, 3, 5, 6, 8, 9, 10, 11, 15, 16, 17]] == 3 * 12).all(), per
    assert (per[[22, 24]] >= 3 * 11).all(), per  # SEN2 holds calendar years: 2025's Jan-Mar is not in yet


def test_rates_and_percentages(gold_lake, synth_clean_raw):
    _, _, restricted, _ = gold_lake
    pop = pd.concat([pd.read_csv(f, dtype={"la_code": str})
                     for f in sorted((synth_clean_raw / "context" / "population").glob("*.csv"))])
    kids = pop[pop.age <= 17].groupby(["la_code", "year"])["population"].sum()
    r = restricted[(restricted.geog_level == "la") & (restricted.indicator_id == 2) & (restricted.breakdown == "all")]
    for row in r.itertuples():
        expected_pop = kids[(row.geog_code, row.collection_year - 1)]
        assert row.population_0_17 == pytest.approx(expected_pop)
        assert row.rate_per_10k == pytest.approx(row.number / expected_pop * 10_000)
    p = restricted[(restricted.indicator_id == 6) & (restricted.denominator > 0)]
    assert (p.percentage - 100 * p.number / p.denominator).abs().max() < 1e-9


def test_region_rows_sum_the_las(gold_lake):
    _, _, restricted, _ = gold_lake
    la = restricted[restricted.geog_level == "la"]
    reg = restricted[restricted.geog_level == "region"]
    sums = la.groupby(["period", "indicator_id", "breakdown"])["number"].sum(min_count=1)
    both = reg.set_index(["period", "indicator_id", "breakdown"])["number"].dropna()
    assert len(both) > 200
    assert (sums.loc[both.index] == both).all()


def test_template_side_by_side_and_ehe_from_template_only(gold_lake, synth_clean_raw):
    _, _, restricted, _ = gold_lake
    ehe = restricted[(restricted.indicator_id == 21) & (restricted.geog_level == "la")]
    assert ehe.number.isna().all() and ehe.la_reported_number.notna().all()
    assert set(ehe.source) == {"la-template"}
    truth = pd.concat([pd.read_csv(f, dtype={"la": str})
                       for f in sorted((synth_clean_raw / "_truth" / "riia_reported").glob("*.csv"))])
    t = truth.set_index(["la", "period", "indicator_id"])["reported_numerator"]
    both = restricted[(restricted.geog_level == "la") & (restricted.breakdown == "all")
                      & restricted.la_reported_number.notna()]
    for row in both.itertuples():
        assert row.la_reported_number == t[(row.geog_code, row.period, row.indicator_id)]
        if pd.notna(row.number):
            assert row.difference == row.number - row.la_reported_number


def test_published_shows_no_small_count_and_resists_recovery(gold_lake):
    _, report, restricted, published = gold_lake
    assert report.results and report.results[0].suppressed > 0
    counts = ["number", "denominator", "la_reported_number", "la_reported_denominator"]
    for c in counts:
        shown = pd.to_numeric(published[c].where(~published[c].isin(["x", "."])), errors="coerce").dropna()
        assert not ((shown >= 1) & (shown <= 5)).any(), c
        # zeros are counts of children too: shown only as a zero denominator
        if c in ("number", "la_reported_number"):
            assert not (shown == 0).any(), c
    region = published[published.geog_level == "region"]
    shown = pd.to_numeric(region["number"].where(~region["number"].isin(["x", "."])), errors="coerce").dropna()
    assert len(shown) and (shown % 10 == 0).all()
    # attack: for each quarter x indicator, region total minus the shown LAs
    for c in ("number", "denominator", "la_reported_number"):
        for _, g in published.groupby(["period", "indicator_id", "breakdown"]):
            total = g[g.geog_level == "region"][c]
            parts = g[g.geog_level == "la"][c]
            if total.isna().all() or parts.isna().all():
                continue
            unknown = int((parts == "x").sum() + (total == "x").sum())
            assert unknown != 1, (c, g[["geog_code", c]])
    # and the referral sources against their total, per LA
    src = published[published.indicator_id == 2]
    for _, g in src.groupby(["geog_code", "period"]):
        unknown = int((g["number"] == "x").sum())
        assert unknown != 1, g[["breakdown", "number"]]
    # rates never outlive their count
    assert (published.loc[published.number == "x", "rate_per_10k"].isin(["x", None]) |
            published.loc[published.number == "x", "rate_per_10k"].isna()).all()
