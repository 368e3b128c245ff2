"""assessment_factors: how often each factor is identified at assessment, and which occur together.

Per LA and collection year (and the region): the assessments completed in the
financial year (AssessmentAuthorisationDate; DfE counts factors "at the end of
assessment") are the denominator; each factor's numerator is the completed
assessments at which it was recorded. Co-occurrence: for the region's most
prevalent factors of the year (``TOP_N``, "21 no factors" and "20 other" left
out), every pair's count of assessments recording both, per LA and region.

An assessment is (LA, child, referral date, start date); its factors come from
``silver.cin_assessment_factor`` matched on those four.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

import pandas as pd

from cslake import catalog
from cslake.gold.common import latest, returns_sent, with_geography
from cslake.vocab import collection_years

if TYPE_CHECKING:
    from cslake.lake import Lake

TOP_N = 5
NONE = "-"
COLUMNS = ["geog_level", "geog_code", "geog_name", "collection_year", "measure", "factor", "factor_label",
           "factor_2", "factor_2_label", "assessments", "assessments_completed", "percentage"]
# DfE CIN census factor codes (A child, B parent/carer, C another person in the household).
TOPICS = {
    "1": "Alcohol misuse", "2": "Drug misuse", "3": "Domestic abuse", "4": "Mental health",
    "5": "Learning disability", "6": "Physical disability or illness", "7": "Young carer", "8": "Privately fostered",
    "9": "Unaccompanied asylum-seeking child", "10": "Going missing", "11": "Child sexual exploitation",
    "12": "Trafficking", "13": "Gangs", "14": "Socially unacceptable behaviour", "15": "Self-harm",
    "16": "Neglect", "17": "Emotional abuse", "18": "Physical abuse", "19": "Sexual abuse", "20": "Other",
    "21": "No factors identified", "22": "Female genital mutilation", "23": "Abuse linked to faith or belief",
    "24": "Child criminal exploitation",
}
WHO = {"A": "child", "B": "parent/carer", "C": "other person in household"}
NOT_TOP = {"20", "21"}
KEY = ["_la", "LAchildID_hash", "CINreferralDate", "AssessmentActualStartDate"]


def factor_label(code: str) -> str:
    code = str(code)
    topic, who = code.rstrip("ABCDEF"), code[len(code.rstrip("ABCDEF")):]
    base = TOPICS.get(topic, code)
    return f"{base} ({WHO[who]})" if who in WHO else base


def top_factors_by_assessment(af: pd.DataFrame, top: list[str]) -> pd.DataFrame:
    """One row per (LA, assessment) that records any of ``top``, one boolean column per factor of ``top``
    (a pivot, not a set per assessment: 15 s of 35 at London scale 1)."""
    rows = af[af["AssessmentFactors"].isin(top)]
    has = pd.crosstab([rows["_la"], rows["aid"]], rows["AssessmentFactors"]) > 0
    return has.reindex(columns=top, fill_value=False)


def factor_rows(assessments: pd.DataFrame, factors: pd.DataFrame, sent: set[tuple[str, int]],
                region_key: str | None = None, top_n: int = TOP_N) -> pd.DataFrame:
    """The table from completed assessments (KEY + AssessmentAuthorisationDate) and factor rows (KEY + AssessmentFactors)."""
    a = assessments.dropna(subset=["AssessmentAuthorisationDate"]).drop_duplicates(KEY).copy()
    a["collection_year"] = collection_years(a["AssessmentAuthorisationDate"]).astype("Int64")
    a = a[[(la, int(y)) in sent for la, y in zip(a["_la"], a["collection_year"])]]
    f = factors[KEY + ["AssessmentFactors"]].dropna(subset=["AssessmentFactors"]).drop_duplicates()
    for c in ("CINreferralDate", "AssessmentActualStartDate"):
        a[c] = pd.to_datetime(a[c])
        f = f.assign(**{c: pd.to_datetime(f[c])})
    af = a[KEY + ["collection_year"]].merge(f, on=KEY)
    af["aid"] = af[KEY[0]].astype(str).str.cat([af[c].astype(str) for c in KEY[1:]], sep="|")
    codes = sorted(set(af["AssessmentFactors"]), key=lambda c: (int(c.rstrip("ABCDEF") or 0), c))
    denom = a.groupby(["_la", "collection_year"]).size()
    prev = af.groupby(["_la", "collection_year", "AssessmentFactors"])["aid"].nunique()
    frame = sorted(sent)
    rows = []
    for la, year in frame:
        d = float(denom.get((la, year), 0))
        for code in codes:
            rows.append((la, year, "prevalence", code, NONE, float(prev.get((la, year, code), 0)), d))
    # Top factors of the region's year, so every LA's pairs are the same pairs.
    reg_prev = af[~af["AssessmentFactors"].isin(NOT_TOP)].groupby(["collection_year", "AssessmentFactors"])["aid"].nunique()
    for year in sorted({y for _, y in frame}):
        if year not in reg_prev.index.get_level_values(0):
            continue
        ranked = reg_prev.loc[year].reset_index().sort_values(["aid", "AssessmentFactors"], ascending=[False, True])
        top = sorted(ranked["AssessmentFactors"].head(top_n))
        has = top_factors_by_assessment(af[af["collection_year"] == year], top)
        pairs = {(f1, f2): (has[f1] & has[f2]).groupby(level="_la").sum() for f1, f2 in combinations(top, 2)}
        for la in sorted({la for la, y in frame if y == year}):
            d = float(denom.get((la, year), 0))
            for (f1, f2), both in pairs.items():
                rows.append((la, year, "co_occurrence", f1, f2, float(both.get(la, 0)), d))
    df = pd.DataFrame(rows, columns=["_la", "collection_year", "measure", "factor", "factor_2", "assessments",
                                     "assessments_completed"])
    if not len(df):
        return pd.DataFrame(columns=COLUMNS)
    out = with_geography(df, ["collection_year", "measure", "factor", "factor_2"],
                         ["assessments", "assessments_completed"], region_key)
    out["factor_label"] = out["factor"].map(factor_label)
    out["factor_2_label"] = out["factor_2"].map(lambda c: NONE if c == NONE else factor_label(c))
    out["percentage"] = (100 * out["assessments"] / out["assessments_completed"]).where(out["assessments_completed"] > 0)
    out["collection_year"] = out["collection_year"].astype(int)
    return out[COLUMNS].sort_values(["geog_level", "geog_code", "collection_year", "measure", "factor",
                                     "factor_2"]).reset_index(drop=True)


def build_assessment_factors(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    ass = latest(lake, catalog.silver.cin_assessment, KEY + ["AssessmentAuthorisationDate"])
    fac = latest(lake, catalog.silver.cin_assessment_factor, KEY + ["AssessmentFactors"])
    if ass is None or fac is None:
        return pd.DataFrame(columns=COLUMNS)
    return factor_rows(ass, fac, returns_sent(lake, catalog.silver.cin_child), region_key)
