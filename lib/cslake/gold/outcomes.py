"""cla_outcomes: outcomes of children looked after continuously for 12 months, in DfE's underlying-data layout.

The population (``CLA_12m``) of collection year Y: children with a spell of care
(``silver.care_history``, consecutive episodes joined, short breaks V3/V4 left out)
that began on or before 1 April Y-1 and had not ended by 31 March Y — the OC2 cohort.
One row per LA and year (LA_order, New_geog_code, geog_l ``LA``/``REG``, geog_c the
DfE code, geog_n the name, as DfE's files begin), and a region row summing them.

What the returns give is filled:
- SEN: each cohort child's provision — EHC plan if SEN2 of year Y has an active plan
  for the child's UPN or the school census says E; SEN support or no SEN from the
  school census (K / N). The school census here is the cross-border extract, so most
  children's status is known only when they have a plan; ``SEN_known`` (children whose
  status is known) is the percentages' denominator, not CLA_12m.
- Health, SDQ and offending from the 903 OC2 record of the same year: health check,
  immunisations, teeth check, health assessment, substance misuse (as percentages of
  CLA_12m: a cohort child without an OC2 record counts as not done); SDQ for children aged 4-16 at 31 March (submitted, average,
  normal 0-13, borderline 14-16, concern 17+); convictions for those aged 10-17.

KS2, KS4, absence and exclusions come from the National Pupil Database, which no
return landed in the lake carries: the columns are present (the layout is DfE's) and
null, with the reason in ``not_available_reason``; nothing is imputed. DfE's ``_%``
suffix is ``_pct`` here: lake column names are identifiers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import functions as F

from cslake import catalog
from cslake.config import local_authorities
from cslake.gold.common import latest, returns_sent
from cslake.gold.dfe import open_end
from cslake.gold.geography import ENGLAND_GSS, area_rows, region_gss
from cslake.vocab import SHORT_BREAKS, age_at, la_name, year_end, year_start

if TYPE_CHECKING:
    from cslake.lake import Lake

GEOG = ["LA_order", "New_geog_code", "geog_l", "geog_c", "geog_n"]
KS2 = [c for s in ("read", "writ", "maths", "GPS", "RWM")
       for c in (f"Elig_KS2_{s}", f"Exp_KS2_stand_{s}", f"Exp_KS2_stand_{s}_pct")]
KS2 += [c for s in ("read", "writ", "maths") for c in (f"Elig_KS2_prog_{s}", f"Sum_KS2_prog_{s}", f"Ave_KS2_prog_{s}")]
KS4 = ["Elig_KS4_total", "KS4_Pass_EM_5_total", "KS4_Pass_EM_5_total_pct", "KS4_Pass_EM_4_total",
       "KS4_Pass_EM_4_total_pct", "KS4_Att8_total", "KS4_Ave_Att8_total", "KS4_Prog8_Elig_total", "KS4_Sum_Prog8_total",
       "KS4_Prog8_Ave_total"]
SEN = ["SEN_known", "No_SEN", "No_SEN_pct", "SEN_support", "SEN_support_pct", "SEN_statement_EHCP", "SEN_statement_EHCP_pct"]
ABSENCE = ["Pup_enrol", "Poss_sess", "Auth_abs", "Auth_abs_pct", "Unauth_abs", "Unauth_abs_pct", "Overall_abs",
           "Overall_abs_pct", "Persist_abs", "Persist_abs_pct"]
EXCLUSIONS = ["Perm_excl", "Perm_excl_pct", "Fixed_excl", "Fixed_excl_pct"]
HEALTH_FLAGS = {"Health_check": "HEALTH_CHECK", "Immunisations": "IMMUNISATIONS", "Teeth_check": "TEETH_CHECK",
                "Health_assess": "HEALTH_ASSESSMENT", "Substance_misuse": "SUBSTANCE_MISUSE"}
HEALTH = [c for k in HEALTH_FLAGS for c in (k, f"{k}_pct")]
SDQ = ["SDQ_elig", "SDQ_submitted", "SDQ_submitted_pct", "SDQ_ave_score", "SDQ_normal", "SDQ_normal_pct",
       "SDQ_borderline", "SDQ_borderline_pct", "SDQ_concern", "SDQ_concern_pct"]
OFFENDING = ["Convicted_elig", "Convicted", "Convicted_pct"]
NOT_AVAILABLE = KS2 + KS4 + ABSENCE + EXCLUSIONS
COLUMNS = GEOG + ["Year", "CLA_12m"] + KS2 + KS4 + SEN + ABSENCE + EXCLUSIONS + HEALTH + SDQ + OFFENDING + [
    "not_available_reason"]
REASON = ("KS2, KS4, absence and exclusions need the National Pupil Database, which none of the landed returns "
          "carries: left empty rather than estimated")
COUNTS = (["CLA_12m", "SEN_known", "No_SEN", "SEN_support", "SEN_statement_EHCP"] + list(HEALTH_FLAGS)
          + ["SDQ_elig", "SDQ_submitted", "SDQ_normal", "SDQ_borderline", "SDQ_concern", "Convicted_elig", "Convicted",
             "_sdq_sum"])


def spells(care: pd.DataFrame) -> pd.DataFrame:
    """Episodes (_la, CHILD_hash, DECOM, DEC, LS) → spells of care: _la, CHILD_hash, start, end (NaT = open)."""
    c = care[~care["LS"].fillna("").isin(SHORT_BREAKS)].copy()
    c["DECOM"], c["DEC"] = pd.to_datetime(c["DECOM"]), pd.to_datetime(c["DEC"])
    c = c.sort_values(["_la", "CHILD_hash", "DECOM"])
    prev_end = c.groupby(["_la", "CHILD_hash"])["DEC"].shift()
    same_child = c.duplicated(["_la", "CHILD_hash"])
    # A spell continues when the next episode starts the day the last one ended.
    c["spell"] = (~(same_child & (prev_end == c["DECOM"]))).cumsum()
    open_end = c["DEC"].isna().groupby(c["spell"]).transform("any")
    out = c.groupby("spell").agg(_la=("_la", "first"), CHILD_hash=("CHILD_hash", "first"), start=("DECOM", "min"),
                                 end=("DEC", "max"))
    out.loc[open_end.groupby(c["spell"]).first().values, "end"] = pd.NaT
    return out.reset_index(drop=True)


def cohort(care: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """(_la, CHILD_hash, Year) of children looked after continuously for 12 months at 31 March."""
    sp = spells(care)
    frames = []
    for y in years:
        inside = (sp["start"] <= year_start(y)) & (sp["end"].isna() | (sp["end"] > year_end(y)))
        frames.append(sp.loc[inside, ["_la", "CHILD_hash"]].assign(Year=y))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["_la", "CHILD_hash", "Year"])
    return out.drop_duplicates()


def _flag(v) -> bool:
    return v is True or str(v).strip().lower() in ("1", "true", "y", "yes")


def sen_status(members: pd.DataFrame, ehcp: pd.DataFrame, census: pd.DataFrame) -> list[str | None]:
    """Each cohort child's SEN provision in the year: E (an EHC plan in SEN2 or the school census),
    else the school census's K or N, else None (not known)."""
    plans = set(zip(ehcp["UPN_hash"], ehcp["_year"].astype(int))) if len(ehcp) else set()
    sc = {}
    if len(census):
        # E outranks K outranks N when a pupil has several enrolments.
        rank = {"E": 3, "K": 2, "N": 1}
        for upn, y, p in zip(census["UPN_hash"], census["_year"], census["SENprovision"]):
            if p in rank and rank[p] > rank.get(sc.get((upn, int(y))), 0):
                sc[(upn, int(y))] = p
    status = []
    for upn, y in zip(members["UPN_hash"], members["Year"]):
        key = (upn, int(y))
        status.append("E" if upn is not None and (key in plans or sc.get(key) == "E") else sc.get(key))
    return status


def child_measures(m: pd.DataFrame) -> pd.DataFrame:
    """Each cohort child's 0/1 counts (COUNTS) from age, SEN status and the OC2 record."""
    sdq_age = m["age"].between(4, 16)
    score = pd.to_numeric(m.get("SDQ_SCORE"), errors="coerce").where(sdq_age)
    m = m.assign(
        CLA_12m=1, SEN_known=m["sen"].notna().astype(int), No_SEN=(m["sen"] == "N").astype(int),
        SEN_support=(m["sen"] == "K").astype(int), SEN_statement_EHCP=(m["sen"] == "E").astype(int),
        SDQ_elig=sdq_age.astype(int), SDQ_submitted=score.notna().astype(int),
        SDQ_normal=(score <= 13).astype(int), SDQ_borderline=score.between(14, 16).astype(int),
        SDQ_concern=(score >= 17).astype(int), _sdq_sum=score.fillna(0),
        Convicted_elig=m["age"].between(10, 17).astype(int),
        Convicted=(m["age"].between(10, 17) & m.get("CONVICTED", pd.Series(None, index=m.index)).map(_flag)).astype(int),
    )
    for out_col, src in HEALTH_FLAGS.items():
        m[out_col] = m.get(src, pd.Series(None, index=m.index)).map(_flag).astype(int)
    return m


def geography_rows(m: pd.DataFrame, sent: set[tuple[str, int]], region_key: str | None) -> pd.DataFrame:
    """Sums of COUNTS per LA and year (zero rows for LAs that sent the return with nobody in the cohort)
    and each area's (``cslake.gold.geography``), in DfE's geography columns and order."""
    la_rows = m.groupby(["_la", "Year"], as_index=False)[COUNTS].sum()
    frame = pd.DataFrame(sorted(sent), columns=["_la", "Year"])
    la_rows = frame.merge(la_rows, on=["_la", "Year"], how="left").fillna({c: 0 for c in COUNTS})
    if not len(la_rows):
        return la_rows
    known = local_authorities()
    la_rows["geog_l"] = "LA"
    la_rows["geog_c"] = la_rows["_la"].astype(str)
    la_rows["geog_n"] = la_rows["geog_c"].map(la_name)
    la_rows["New_geog_code"] = la_rows["geog_c"].map(lambda c: known[c].gss_code if c in known else None)
    reg = area_rows(la_rows, "_la", lambda g: g.groupby("Year", as_index=False)[COUNTS].sum(), region_key)
    reg["New_geog_code"] = [ENGLAND_GSS if lvl == "national" else region_gss(n)
                            for lvl, n in zip(reg["geog_level"], reg["geog_name"])]
    reg["geog_l"] = reg["geog_level"].map({"national": "NAT"}).fillna("REG")
    reg = reg.rename(columns={"geog_code": "geog_c", "geog_name": "geog_n"}).drop(columns=["geog_level"])
    out = pd.concat([reg, la_rows.drop(columns=["_la"])], ignore_index=True)
    order = {c: i for i, c in enumerate(list(dict.fromkeys(reg["geog_c"])) + sorted(set(la_rows["geog_c"])), start=1)}
    out["LA_order"] = out["geog_c"].map(order)
    return out


def with_percentages(out: pd.DataFrame) -> pd.DataFrame:
    """DfE's percentage and average columns from the counts; NPD-only columns empty, with the reason."""
    def pct(num, den):
        return (100 * out[num] / out[den]).where(out[den] > 0)

    for c in ("No_SEN", "SEN_support", "SEN_statement_EHCP"):
        out[f"{c}_pct"] = pct(c, "SEN_known")
    for c in HEALTH_FLAGS:
        out[f"{c}_pct"] = pct(c, "CLA_12m")
    out["SDQ_submitted_pct"] = pct("SDQ_submitted", "SDQ_elig")
    for c in ("SDQ_normal", "SDQ_borderline", "SDQ_concern"):
        out[f"{c}_pct"] = pct(c, "SDQ_submitted")
    out["SDQ_ave_score"] = (out["_sdq_sum"] / out["SDQ_submitted"]).where(out["SDQ_submitted"] > 0)
    out["Convicted_pct"] = pct("Convicted", "Convicted_elig")
    for c in NOT_AVAILABLE:
        out[c] = None
    out["not_available_reason"] = REASON
    return out


def outcomes_table(members: pd.DataFrame, header: pd.DataFrame, oc2: pd.DataFrame, ehcp: pd.DataFrame,
                   census: pd.DataFrame, sent: set[tuple[str, int]], region_key: str | None = None) -> pd.DataFrame:
    """From the cohort (_la, CHILD_hash, Year), 903 headers (_la, CHILD_hash, DOB, UPN_hash), OC2 rows
    (_la, CHILD_hash, _year, ...), SEN2 active plans (UPN_hash, _year) and school census
    (UPN_hash, _year, SENprovision). Pandas on the driver, one row per cohort child: the region's
    children looked after for 12 months (thousands), not yet moved to Spark."""
    if not len(members):  # no child looked after for 12 months (the cohort frame has no columns then)
        return pd.DataFrame(columns=COLUMNS)
    m = members[[(la, int(y)) in sent for la, y in zip(members["_la"], members["Year"])]].copy()
    m = m.merge(header.drop_duplicates(["_la", "CHILD_hash"]), on=["_la", "CHILD_hash"], how="left")
    m["age"] = age_at(m["DOB"], pd.to_datetime(m["Year"].astype(int).astype(str) + "-03-31"))
    m["sen"] = sen_status(m, ehcp, census)
    o = oc2.rename(columns={"_year": "Year"}).drop_duplicates(["_la", "CHILD_hash", "Year"])
    m = child_measures(m.merge(o, on=["_la", "CHILD_hash", "Year"], how="left"))
    out = geography_rows(m, sent, region_key)
    if not len(out):
        return pd.DataFrame(columns=COLUMNS)
    return with_percentages(out)[COLUMNS].sort_values(["Year", "LA_order"]).reset_index(drop=True)


def build_cla_outcomes(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    if not lake.exists(catalog.silver.care_history):
        return pd.DataFrame(columns=COLUMNS)
    care = lake.read_table(catalog.silver.care_history).select("_la", "CHILD_hash", "DECOM", "DEC", "LS",
                                                              "_year").toPandas()
    # an episode left open is in care only up to the last return holding it (cslake.gold.dfe)
    care["DEC"] = open_end(care)
    sent = returns_sent(lake, catalog.silver.ssda903_header)
    members = cohort(care, sorted({y for _, y in sent}))
    header = latest(lake, catalog.silver.ssda903_header, ["_la", "CHILD_hash", "DOB", "UPN_hash"])
    if header is None:
        header = pd.DataFrame(columns=["_la", "CHILD_hash", "DOB", "UPN_hash"])
    oc2_cols = ["_la", "CHILD_hash", "_year", "SDQ_SCORE", "CONVICTED"] + list(HEALTH_FLAGS.values())
    if lake.exists(catalog.silver.ssda903_oc2):
        oc2 = lake.read_table(catalog.silver.ssda903_oc2)
        oc2 = oc2.select(*[c for c in oc2_cols if c in oc2.columns]).toPandas()
    else:
        oc2 = pd.DataFrame(columns=oc2_cols)
    ehcp = pd.DataFrame(columns=["UPN_hash", "_year"])
    if lake.exists(catalog.silver.sen2_active_plan):
        ehcp = (lake.read_table(catalog.silver.sen2_active_plan).where(F.col("UPN_hash").isNotNull())
                .select("UPN_hash", "_year").distinct().toPandas())
    census = pd.DataFrame(columns=["UPN_hash", "_year", "SENprovision"])
    if lake.exists(catalog.silver.school_census_pupils):
        census = (lake.read_table(catalog.silver.school_census_pupils).where(F.col("UPN_hash").isNotNull())
                  .select("UPN_hash", "_year", "SENprovision").distinct().toPandas())
    return outcomes_table(members, header, oc2, ehcp, census, sent, region_key)
