"""Gold tables beyond the RIIA set, against independent computations from the raw generated files.

The expected figures are computed here with lxml and pandas straight from the clean
generated drop zone (not from silver, without cslake's parsers), following each
module's documented definitions; lead_herd is checked on a hand-made series. Every
published table is then attacked: no count of 1-5 shown, and no suppressed cell
recoverable from its totals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lxml import etree

from tests.fixtures_lake import GOLD_TABLES

TABLES = ["riia_indicators", "annual_characteristics", "assessment_factors", "workforce", "ofsted",
          "adolescent_cohort", "cla_outcomes", "lead_herd"]
MY_TABLES = TABLES[1:]


@pytest.fixture(scope="module")
def gold_lake(gold_built):
    """The session's shared clean gold lake (tests/fixtures_lake.py: the CIN, SSDA903 (episodes,
    header, OC2, missing) and CSWW returns with the population and Ofsted context, landed,
    built to silver, linked, gold built with TABLES), read-only."""
    lake = gold_built.lake
    assert set(TABLES) <= set(GOLD_TABLES)
    restricted = {t: lake.read_table(f"gold_restricted.{t}").toPandas() for t in MY_TABLES}
    published = {t: lake.read_table(f"gold.{t}").toPandas() for t in MY_TABLES}
    return lake, gold_built.reports["gold"], restricted, published


# ---------------------------------------------------------------------------
# raw readers (independent of cslake)


def _t(el, path):
    f = el.find(path)
    return None if f is None or f.text is None else f.text.strip()


def _d(s):
    return pd.to_datetime(s, format="%Y-%m-%d")


@pytest.fixture(scope="module")
def raw_cin(synth_clean_raw):
    kids, eps, ass, fac, cpp, s47 = [], [], [], [], [], []
    for f in sorted(synth_clean_raw.glob("[0-9][0-9][0-9]/cin/*/*.xml")):
        la, year = f.parts[-4], int(f.parts[-2])
        for child in etree.parse(str(f)).getroot().iter("Child"):
            cid = _t(child, "ChildIdentifiers/LAchildID")
            sex = _t(child, "ChildIdentifiers/GenderCurrent") or _t(child, "ChildIdentifiers/Sex")
            kids.append((la, year, cid, _t(child, "ChildIdentifiers/PersonBirthDate"), sex,
                         _t(child, "ChildCharacteristics/Ethnicity")))
            for d in child.findall("CINdetails"):
                ref = _t(d, "CINreferralDate")
                eps.append((la, year, cid, ref, _t(d, "CINclosureDate"), _t(d, "ReferralNFA"), _t(d, "PrimaryNeedCode")))
                for a in d.findall("Assessments"):
                    start = _t(a, "AssessmentActualStartDate")
                    ass.append((la, year, cid, ref, start, _t(a, "AssessmentAuthorisationDate")))
                    for code in a.findall("FactorsIdentifiedAtAssessment/AssessmentFactors"):
                        fac.append((la, year, cid, ref, start, code.text.strip()))
                for s in d.findall("Section47"):
                    s47.append((la, year, cid, ref, _t(s, "S47ActualStartDate")))
                for p in d.findall("ChildProtectionPlans"):
                    cpp.append((la, year, cid, ref, _t(p, "CPPstartDate"), _t(p, "CPPendDate"),
                                _t(p, "InitialCategoryOfAbuse")))
    out = {
        "kids": pd.DataFrame(kids, columns=["la", "year", "child", "dob", "sex", "eth"]),
        "ep": pd.DataFrame(eps, columns=["la", "year", "child", "ref", "closed", "nfa", "need"]),
        "ass": pd.DataFrame(ass, columns=["la", "year", "child", "ref", "start", "auth"]),
        "fac": pd.DataFrame(fac, columns=["la", "year", "child", "ref", "start", "code"]),
        "s47": pd.DataFrame(s47, columns=["la", "year", "child", "ref", "start"]),
        "cpp": pd.DataFrame(cpp, columns=["la", "year", "child", "ref", "start", "end", "cat"]),
    }
    keys = {"kids": [], "ep": ["ref"], "ass": ["ref", "start"], "fac": ["ref", "start", "code"], "s47": ["ref", "start"],
            "cpp": ["ref", "start"]}
    for name, df in out.items():
        for c in ("dob", "ref", "closed", "start", "auth", "end"):
            if c in df:
                df[c] = _d(df[c])
        out[name] = df.sort_values("year", kind="stable").drop_duplicates(["la", "child"] + keys[name], keep="last")
    return out


@pytest.fixture(scope="module")
def raw_903(synth_clean_raw):
    parts = {"ep": [], "hdr": [], "oc2": [], "mis": []}
    for f in sorted(synth_clean_raw.glob("[0-9][0-9][0-9]/ssda903/*/*.csv")):
        la, year = f.parts[-4], int(f.parts[-2])
        df = pd.read_csv(f, dtype=str, keep_default_na=False).assign(la=la, year=year)
        cols = set(df.columns)
        kind = ("ep" if "DECOM" in cols else "hdr" if "ETHNIC" in cols else "oc2" if "SDQ_SCORE" in cols
                else "mis" if "MIS_START" in cols else None)
        if kind:
            parts[kind].append(df)
    out = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    ep = out["ep"]
    for c in ("DECOM", "DEC"):
        ep[c] = pd.to_datetime(ep[c].replace("", None), format="%d/%m/%Y")
    out["ep"] = ep.sort_values("year", kind="stable").drop_duplicates(["la", "CHILD", "DECOM"], keep="last")
    out["hdr"]["DOB"] = pd.to_datetime(out["hdr"]["DOB"], format="%d/%m/%Y")
    out["hdr_latest"] = out["hdr"].sort_values("year", kind="stable").drop_duplicates(["la", "CHILD"], keep="last")
    return out


def _sent(raw: Path, collection: str) -> list[tuple[str, int]]:
    return sorted({(p.parts[-3], int(p.parts[-1])) for p in raw.glob(f"[0-9][0-9][0-9]/{collection}/[0-9][0-9][0-9][0-9]")})


def _age(dob: pd.Series, year: int) -> pd.Series:
    ref = pd.Timestamp(year, 3, 31)
    return ref.year - dob.dt.year - ((dob.dt.month > 3)).astype(int)


def _la(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.geog_level == "la"]


# ---------------------------------------------------------------------------


def test_build_reports_every_table(gold_lake):
    _, report, restricted, published = gold_lake
    built = {r.table for r in report.results}
    assert set(TABLES) <= built, report.summary()
    for t in MY_TABLES:
        assert len(restricted[t]) == len(published[t]) > 0, t


def test_cla_at_31_march(gold_lake, raw_903, synth_clean_raw):
    _, _, restricted, _ = gold_lake
    t = _la(restricted["annual_characteristics"])
    t = t[t.population == "cla"]
    ep = raw_903["ep"]
    checked = 0
    for la, year in _sent(synth_clean_raw, "ssda903"):
        ref = pd.Timestamp(year, 3, 31)
        e = ep[(ep.la == la) & (ep.DECOM <= ref) & (ep.DEC.isna() | (ep.DEC > ref)) & ~ep.LS.isin(["V3", "V4"])]
        e = e.sort_values("DECOM").drop_duplicates("CHILD", keep="last")
        mine = t[(t.geog_code == la) & (t.collection_year == year)]
        for dim, col in (("legal_status", "LS"), ("placement_type", "PLACE")):
            got = mine[mine.dimension == dim].set_index("category")["children"]
            assert got["all"] == len(e), (la, year)
            exp = e[col].value_counts()
            for cat, n in exp.items():
                assert got[cat] == n, (la, year, dim, cat)
            assert got.drop("all").sum() == len(e)
            checked += 1
        hdr = raw_903["hdr_latest"]
        ages = _age(e.merge(hdr[hdr.la == la], on=["la", "CHILD"])["DOB"], year)
        got = mine[mine.dimension == "age_band"].set_index("category")["children"]
        assert got["10 to 15"] == ages.between(10, 15).sum() and got["16 and over"] == (ages >= 16).sum()
    assert checked == 2 * len(_sent(synth_clean_raw, "ssda903"))
    assert t[(t.category == "all")]["children"].sum() > 20


def test_cin_and_cp_at_31_march(gold_lake, raw_cin, synth_clean_raw):
    _, _, restricted, _ = gold_lake
    t = _la(restricted["annual_characteristics"])
    ep, cpp = raw_cin["ep"], raw_cin["cpp"]
    for la, year in _sent(synth_clean_raw, "cin"):
        ref = pd.Timestamp(year, 3, 31)
        e = ep[(ep.la == la) & (ep.ref <= ref) & (ep.closed.isna() | (ep.closed > ref)) & (ep.nfa != "1")
               & (ep.nfa != "true")]
        got = t[(t.geog_code == la) & (t.collection_year == year) & (t.population == "cin")
                & (t.dimension == "category_of_need")].set_index("category")["children"]
        assert got["all"] == e.child.nunique(), (la, year)
        latest = e.sort_values("ref").drop_duplicates("child", keep="last")
        for need, n in latest.need.value_counts().items():
            assert got[need] == n
        c = cpp[(cpp.la == la) & (cpp.start <= ref) & (cpp.end.isna() | (cpp.end > ref))]
        c = c.sort_values("start").drop_duplicates("child", keep="last")
        got = t[(t.geog_code == la) & (t.collection_year == year) & (t.population == "cpp")
                & (t.dimension == "category_of_abuse")].set_index("category")["children"]
        assert got["all"] == len(c)
        for cat, n in c.cat.value_counts().items():
            assert got[cat] == n
        kids = raw_cin["kids"]
        sexes = latest.merge(kids[kids.la == la], on=["la", "child"], suffixes=("", "_k"))["sex"]
        got = t[(t.geog_code == la) & (t.collection_year == year) & (t.population == "cin")
                & (t.dimension == "sex")].set_index("category")["children"]
        assert got["female"] == sexes.isin(["2", "F"]).sum() and got["male"] == sexes.isin(["1", "M"]).sum()


def test_region_rows_sum_the_las(gold_lake):
    _, _, restricted, _ = gold_lake
    for table, keys, cols in (
            ("annual_characteristics", ["collection_year", "population", "dimension", "category"], ["children"]),
            ("assessment_factors", ["collection_year", "measure", "factor", "factor_2"], ["assessments"]),
            ("adolescent_cohort", ["collection_year", "stage", "dimension", "category"], ["children"]),
            ("workforce", ["collection_year"], ["headcount", "cases"])):
        t = restricted[table]
        la = t[t.geog_level == "la"].groupby(keys)[cols].sum()
        reg = t[t.geog_level == "region"].set_index(keys)[cols]
        assert len(reg) and np.allclose(la.loc[reg.index].to_numpy(float), reg.to_numpy(float)), table


def test_assessment_factor_prevalence(gold_lake, raw_cin, synth_clean_raw):
    _, _, restricted, _ = gold_lake
    t = _la(restricted["assessment_factors"])
    ass = raw_cin["ass"].dropna(subset=["auth"]).copy()
    ass["fy"] = ass.auth.dt.year + (ass.auth.dt.month >= 4)
    fac = raw_cin["fac"].merge(ass[["la", "child", "ref", "start", "fy"]], on=["la", "child", "ref", "start"])
    rows = 0
    for la, year in _sent(synth_clean_raw, "cin"):
        mine = t[(t.geog_code == la) & (t.collection_year == year)]
        prev = mine[mine.measure == "prevalence"].set_index("factor")
        n_ass = ((ass.la == la) & (ass.fy == year)).sum()
        assert (prev["assessments_completed"] == n_ass).all()
        f = fac[(fac.la == la) & (fac.fy == year)]
        exp = f.groupby("code").size()
        for code, n in exp.items():
            assert prev.loc[code, "assessments"] == n, (la, year, code)
            rows += 1
        assert prev.drop(index=list(exp.index))["assessments"].eq(0).all()
        # co-occurrence of a pair: assessments recording both
        pairs = mine[mine.measure == "co_occurrence"]
        sets = f.groupby(["child", "ref", "start"])["code"].agg(set)
        for r in pairs.itertuples():
            assert r.assessments == sum(1 for s in sets if r.factor in s and r.factor_2 in s)
        assert len(pairs) in (0, 10)
    assert rows > 20


def test_workforce(gold_lake, synth_clean_raw):
    _, _, restricted, _ = gold_lake
    t = _la(restricted["workforce"]).set_index(["geog_code", "collection_year"])
    for f in sorted(synth_clean_raw.glob("[0-9][0-9][0-9]/csww/*/*.xml")):
        la, year = f.parts[-4], int(f.parts[-2])
        root = etree.parse(str(f)).getroot()
        ref = pd.Timestamp(year - 1, 9, 30)
        start = pd.Timestamp(year - 2, 10, 1)
        head = fte = leavers = lfte = holders = cases = hfte = lost = 0.0
        for w in root.iter("CSWWWorker"):
            agency = _t(w, "AgencyWorker") == "1"
            end = _t(w, "RoleEndDate")
            end = pd.Timestamp(end) if end else None
            here = end is None or end > ref
            f30 = float(_t(w, "FTE30") or _t(w, "FTE") or 0)
            if here and not agency:
                head += 1
                fte += f30
            if not agency and end is not None and start <= end <= ref:
                leavers += 1
                lfte += float(_t(w, "FTE") or 0)
            if here and _t(w, "Cases30") is not None:
                holders += 1
                cases += float(_t(w, "Cases30"))
                hfte += f30
            if not agency:
                lost += float(_t(w, "WorkingDaysLost") or 0)
        vac_el = root.find("LALevelVacancies")
        vac_el = vac_el if vac_el is not None else root.find("LALevel")
        vac, ag = float(_t(vac_el, "NumberOfVacancies")), float(_t(vac_el, "NoAgencyFTE"))
        r = t.loc[(la, year)]
        assert (r.headcount, r.leavers_headcount, r.case_holders, r.cases) == (head, leavers, holders, cases), (la, year)
        assert r.fte == pytest.approx(fte) and r.leavers_fte == pytest.approx(lfte) and r.days_lost == pytest.approx(lost)
        assert r.agency_rate == pytest.approx(100 * ag / (ag + fte))
        assert r.vacancy_rate == pytest.approx(100 * vac / (vac + fte))
        assert r.caseload_per_case_holder == pytest.approx(cases / hfte)
        if fte:
            assert r.turnover_rate == pytest.approx(100 * lfte / fte)


def test_ofsted_latest_and_next(gold_lake, synth_clean_raw):
    _, _, restricted, published = gold_lake
    t = restricted["ofsted"].set_index("geog_code")
    raw = pd.concat([pd.read_csv(f, dtype=str) for f in (synth_clean_raw / "context" / "ofsted").glob("*.csv")])
    # as_of: the latest date in the Ofsted data (conf as_of: null), not the day of the build
    latest = max(pd.to_datetime(raw[c]).max() for c in ("inspection_end_date", "publication_date"))
    assert (pd.to_datetime(t["as_of"]) == latest).all()
    as_of = latest
    raw["end"] = pd.to_datetime(raw["inspection_end_date"])
    raw = raw[raw.end <= as_of]
    days = {}
    for la, g in raw.groupby("la_code"):
        ilacs = g[g.inspection_type == "ILACS"].sort_values("end")
        last = ilacs.iloc[-1]
        assert t.loc[la, "ilacs_date"] == last.end.date()
        assert t.loc[la, "ilacs_overall"] == last.overall  # the raw file spells the judgement out
        days[la] = (as_of - last.end).days
        send = g[g.inspection_type == "SEND"].sort_values("end")
        if len(send):
            assert t.loc[la, "send_date"] == send.iloc[-1].end.date()
    longest = max(days, key=days.get)
    assert t.loc[longest, "ilacs_next_rank"] == 1
    assert sorted(t["ilacs_next_rank"]) == list(range(1, len(t) + 1))
    assert (published["ofsted"].set_index("geog_code")["ilacs_overall"] == t["ilacs_overall"]).all()


def test_adolescent_referrals(gold_lake, raw_cin, synth_clean_raw):
    _, _, restricted, _ = gold_lake
    t = _la(restricted["adolescent_cohort"])
    ep = raw_cin["ep"].merge(raw_cin["kids"].drop_duplicates(["la", "child"], keep="last")[["la", "child", "dob"]],
                             on=["la", "child"])
    ep["fy"] = ep.ref.dt.year + (ep.ref.dt.month >= 4)
    seen = 0
    for la, year in _sent(synth_clean_raw, "cin"):
        e = ep[(ep.la == la) & (ep.fy == year)].drop_duplicates("child")
        ages = _age(e.dob, year)
        e = e[ages.between(10, 17)]
        got = t[(t.geog_code == la) & (t.collection_year == year) & (t.stage == "referral")
                & (t.dimension == "age")].set_index("category")["children"]
        assert got["all"] == len(e), (la, year)
        exp = _age(e.dob, year).value_counts()
        for age in range(10, 18):
            assert got[str(age)] == exp.get(age, 0)
        seen += len(e)
    assert seen > 10
    # exploitation factors are subsets of their stage
    f = t[t.dimension == "factor"]
    tot = t[(t.dimension == "age") & (t.category == "all")].set_index(["geog_code", "collection_year", "stage"])
    assert (f.children.to_numpy() <= tot.loc[list(zip(f.geog_code, f.collection_year, f.stage)), "children"].to_numpy()).all()


def test_cla_outcomes_cohort_is_the_oc2_cohort(gold_lake, raw_903, synth_clean_raw):
    """The generator writes OC2 for exactly the children looked after 12 months at 31 March."""
    _, _, restricted, _ = gold_lake
    t = restricted["cla_outcomes"]
    assert list(t.columns[:5]) == ["LA_order", "New_geog_code", "geog_l", "geog_c", "geog_n"]
    la = t[t.geog_l == "LA"].set_index(["geog_c", "Year"])
    oc2 = raw_903["oc2"]
    hdr = raw_903["hdr_latest"]
    for code, year in _sent(synth_clean_raw, "ssda903"):
        o = oc2[(oc2.la == code) & (oc2.year == year)]
        r = la.loc[(code, year)]
        assert r.CLA_12m == o.CHILD.nunique(), (code, year)
        for col, src in (("Health_check", "HEALTH_CHECK"), ("Immunisations", "IMMUNISATIONS"),
                         ("Teeth_check", "TEETH_CHECK")):
            assert r[col] == (o[src] == "1").sum()
        ages = _age(o.merge(hdr, on=["la", "CHILD"])["DOB_y"], year)
        assert r.SDQ_elig == ages.between(4, 16).sum()
        scores = pd.to_numeric(o.SDQ_SCORE.replace("", None))
        if scores.notna().sum():
            assert r.SDQ_ave_score == pytest.approx(scores.mean())
    assert t.loc[t.geog_l == "LA", "CLA_12m"].sum() > 5
    # the NPD measures are present and empty, with the reason; never invented
    for c in ("Elig_KS2_read", "KS4_Att8_total", "Overall_abs_pct", "Perm_excl"):
        assert t[c].isna().all()
    assert t["not_available_reason"].str.contains("National Pupil Database").all()
    reg = t[t.geog_l == "REG"].set_index("Year")
    assert (la.groupby(level="Year")["CLA_12m"].sum() == reg["CLA_12m"]).all()
    assert (reg["New_geog_code"] == "E12000007").all() and (reg["LA_order"] == 1).all()


def test_lead_herd_on_a_hand_made_series():
    from cslake.gold.lead_herd import lagged_correlations

    # herd = 3 x lead two quarters earlier + a big LA offset; noise elsewhere
    rng = np.random.default_rng(1)
    periods = [f"20{y}-{y + 1} Q{q}" for y in (20, 21, 22) for q in (1, 2, 3, 4)]
    rows = []
    for la, offset in (("201", 0.0), ("202", 100.0), ("203", 40.0)):
        lead = rng.normal(10, 2, len(periods))
        for i, p in enumerate(periods):
            rows.append((la, p, 3, "Repeat", "percentage", lead[i]))
            herd = 3 * lead[i - 2] + offset if i >= 2 else rng.normal(offset, 1)
            rows.append((la, p, 8, "S47", "rate_per_10k", herd))
    s = pd.DataFrame(rows, columns=["geog_code", "period", "indicator_id", "indicator", "measure", "value"])
    out = lagged_correlations(s, {3: [8]}, lags=[0, 2]).set_index("lag_quarters")
    assert out.loc[2, "within_la_correlation"] == pytest.approx(1.0)
    assert out.loc[2, "pairs"] == 3 * (len(periods) - 2) and out.loc[2, "las"] == 3
    # pooled across LAs the offsets dominate: the within-LA figure is the one that sees the lead
    assert out.loc[2, "correlation"] < 0.9
    assert abs(out.loc[0, "within_la_correlation"]) < 0.6


def test_lead_herd_built_from_riia(gold_lake):
    _, _, restricted, published = gold_lake
    t = restricted["lead_herd"]
    assert set(t.lag_quarters) == {0, 1, 2, 3, 4}
    # referrals have a figure in every LA and quarter; a repeat-plan percentage needs plans starting
    assert (t[t.lead_indicator_id.isin([2, 3])].las == 3).all() and t.las.between(1, 3).all()
    assert t.correlation.notna().sum() > 10 and t.correlation.abs().max() <= 1
    assert np.allclose(published["lead_herd"].correlation.astype(float).fillna(9), t.correlation.fillna(9))


# ---------------------------------------------------------------------------
# disclosure control of everything published


def _counts_shown(published: pd.DataFrame, spec) -> list[float]:
    out = []
    for m in spec.measures:
        if m.kind in ("count", "numerator", "denominator"):
            v = pd.to_numeric(published[m.column].where(~published[m.column].isin(["x", "."])), errors="coerce")
            out += v.dropna().tolist()
    return out


def test_no_published_count_between_1_and_5(gold_lake):
    from cslake.gold.build import gold_conf
    from cslake.gold.suppression import specs_from_conf

    _, _, _, published = gold_lake
    specs = specs_from_conf(gold_conf())
    total = 0
    for t in MY_TABLES:
        shown = _counts_shown(published[t], specs[t])
        assert not any(1 <= v <= 5 for v in shown), t
        total += len(shown)
        kinds = {m.kind for m in specs[t].measures}
        if kinds & {"count", "numerator"}:
            assert (published[t].astype(str) == "x").any().any(), t
    assert total > 50
    # regional counts are rounded to 10
    ac = published["annual_characteristics"]
    reg = pd.to_numeric(ac.loc[ac.geog_level == "region", "children"], errors="coerce").dropna()
    assert len(reg) and (reg % 10 == 0).all()


@pytest.mark.parametrize("table,group,part_col,total_match", [
    ("annual_characteristics", ["geog_code", "collection_year", "population", "dimension"], "category", "all"),
    ("annual_characteristics", ["collection_year", "population", "dimension", "category"], "geog_level", "region"),
    ("adolescent_cohort", ["collection_year", "stage", "dimension", "category"], "geog_level", "region"),
    ("assessment_factors", ["collection_year", "measure", "factor", "factor_2"], "geog_level", "region"),
])
def test_suppressed_cells_cannot_be_recovered_from_totals(gold_lake, table, group, part_col, total_match):
    _, _, _, published = gold_lake
    t = published[table]
    col = {"annual_characteristics": "children", "adolescent_cohort": "children",
           "assessment_factors": "assessments"}[table]
    if part_col == "category":
        t = t[t.dimension != "factor"] if "dimension" in t else t
    attacked = 0
    for _, g in t.groupby(group):
        total = g[g[part_col] == total_match][col]
        parts = g[g[part_col] != total_match][col]
        if not len(total) or not len(parts):
            continue
        unknown = int((parts == "x").sum() + (total == "x").sum())
        assert unknown != 1, g
        attacked += 1
    assert attacked > 10


def test_cla_outcomes_published_attack(gold_lake):
    _, _, _, published = gold_lake
    t = published["cla_outcomes"]
    for c in ("CLA_12m", "Health_check", "SDQ_submitted"):
        for _, g in t.groupby("Year"):
            assert int((g[c] == "x").sum()) != 1, (c, g[["geog_c", c]])
