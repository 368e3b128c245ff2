"""The 24 RIIA indicators per LA x financial quarter, from silver, beside each LA's own template.

Definitions (shared/specs/indicators.md; the choices the spec leaves open are made here,
once, and the acceptance test in tests/test_gold_riia.py re-derives them from raw files):

- Each return's records are de-duplicated across years to the latest submission of
  their natural key (silver ``_latest``): an episode open at 31 March is sent again,
  perhaps closed, the next year. Events count in the financial quarter of their date;
  "current" counts are at the quarter's last day.
- A quarter of collection year Y (1 April Y-1 to 31 March Y) has a figure for an
  indicator when the LA sent that year's return of the indicator's collection; else null.
- Repeat referral (3): another referral of the same child in the 12 calendar months
  before (``add_months(date, -12) <= previous < date``). Repeat CP plan within 2 years
  (14): the child's latest earlier plan ended on or before this start and after
  ``add_months(start, -24)``. Repeat CP plan ever (13): NumberOfPreviousCPP >= 1 or an
  earlier plan of the same child in the data. "Same child" is the person spine's
  ``person_id`` (``silver.person_spine``, built by ``cslake build linkage``), so an
  earlier referral or plan under another LA child id counts; a CIN record the spine
  does not hold keeps its LA child id. The headline (breakdown "all") counts earlier
  referrals / plans *in the same LA*, as DfE's longitudinal CIN dataset does, so it is
  comparable with DfE's figures and the LA's own. Breakdown "any LA in region" counts
  them in any LA of the region: what only a linked regional lake can see, and a lower
  bound, because a child without a UPN who moves LA (mostly under-5s) cannot be
  followed safely (see ``cslake report linkage``). Without the spine the build logs a
  warning and falls back to the LA child id hash within the LA. The denominators of 3,
  13 and 14 are one per referral / plan counted, so they equal indicator 2's and 10's
  numbers exactly (conf/gold.yaml declares that for disclosure control).
- Within 45 / 15 working days (6, 9): working days after the start up to and including
  the authorisation / ICPC (cslake.gold.workdays); 9's denominator is the quarter's S47s.
- Current CIN (7): open episodes (referral <= end, no closure or closure after) that are
  not ReferralNFA. Current CP (11): plans open at the end. CLA (15-18) use
  ``silver.care_history``: current = distinct children with an episode open at the end,
  short breaks (LS V3/V4) excluded; new = RNE S starting in the quarter; ceasing = DEC in
  the quarter with REC not X1. UASC (18): current CLA with a UASC record whose DUC is
  blank or after the end. Care leavers (19): the year's OC3 children (an annual cohort,
  shown in each quarter of its year); 20: those with a UASC record at any time.
- SEN2 (22-24), whose return of year Y holds calendar year Y-1: requests by ReceivedDate; assessments by AssessmentOutcomeDate with
  outcome Y or N; plans by NamedPlan StartDate, with breakdown "within 20 weeks"
  (StartDate - ReceivedDate <= 140 days) as a percentage of plans issued.
- Indicator 1 (contacts) comes from Annex A list 1, which covers only the six months to
  31 March: quarters 3 and 4 of each year; earlier quarters show the template only.
- Indicator 21 (EHE) and any figure without a child-level source: the LA template only.
- Rates per 10,000 children aged 0-17: ONS mid-year estimate for the LA in the financial
  year's first calendar year (mid-year Y-1 for collection year Y), or the latest earlier
  estimate, flagged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from cslake.gold.workdays import calendar_df, with_working_days

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cslake.lake import Lake

log = logging.getLogger(__name__)

SPINE = "silver.person_spine"
# (name, kind, collection): kind "rate" = number + rate per 10,000; "pct" = number,
# denominator and percentage. collection: where the child-level figure comes from.
INDICATORS: dict[int, tuple[str, str, str | None]] = {
    1: ("Initial contacts", "rate", "annex_a"),
    2: ("Referrals", "rate", "cin"),
    3: ("Repeat referrals within 12 months", "pct", "cin"),
    4: ("Assessments started", "rate", "cin"),
    5: ("Assessments completed", "rate", "cin"),
    6: ("Assessments completed within 45 working days", "pct", "cin"),
    7: ("Current children in need", "rate", "cin"),
    8: ("Section 47 enquiries", "rate", "cin"),
    9: ("ICPCs within 15 working days of the S47", "pct", "cin"),
    10: ("New CP plans", "rate", "cin"),
    11: ("Current CP plans", "rate", "cin"),
    12: ("CP plans ceasing", "rate", "cin"),
    13: ("Repeat CP plans (ever)", "pct", "cin"),
    14: ("Repeat CP plans within 2 years", "pct", "cin"),
    15: ("Current children looked after", "rate", "ssda903"),
    16: ("New children looked after", "rate", "ssda903"),
    17: ("Children ceasing to be looked after", "rate", "ssda903"),
    18: ("Current CLA who are UASC", "rate", "ssda903"),
    19: ("Care leavers", "rate", "ssda903"),
    20: ("UASC care leavers", "pct", "ssda903"),
    21: ("Children electively home educated", "rate", None),
    22: ("Requests for EHC needs assessment", "rate", "sen2"),
    23: ("EHC needs assessments", "rate", "sen2"),
    24: ("EHC plans issued", "rate", "sen2"),
}
ALL = "all"
WITHIN_20_WEEKS = "within 20 weeks"
SOURCE_PREFIX = "source "
# Repeats (3, 13, 14) seen in any LA of the region through the person spine; the headline
# ("all") counts earlier referrals / plans in the same LA, as DfE's longitudinal CIN data does.
ANY_LA = "any LA in region"
SHORT_BREAKS = ("V3", "V4")
# Tables whose (_la, _year) say which returns an LA sent.
PRESENCE_TABLES = {"cin": "silver.cin_child", "ssda903": "silver.ssda903_header", "sen2": "silver.sen2_person",
                   "annex_a": "silver.annex_a_list_1"}

RESTRICTED_COLUMNS = [
    "geog_level", "geog_code", "geog_name", "period", "collection_year", "quarter_start", "quarter_end",
    "indicator_id", "indicator", "breakdown", "kind", "number", "denominator", "percentage", "population_0_17",
    "population_year", "population_latest_flag", "rate_per_10k", "la_reported_number",
    "la_reported_denominator", "la_reported_value", "difference", "source",
]


@dataclass(frozen=True)
class Quarter:
    label: str
    collection_year: int
    start: object
    end: object


def quarters_of(year: int) -> list[Quarter]:
    from datetime import date

    y0 = year - 1
    tag = f"{y0}-{year % 100:02d}"
    bounds = [(date(y0, 4, 1), date(y0, 6, 30)), (date(y0, 7, 1), date(y0, 9, 30)),
              (date(y0, 10, 1), date(y0, 12, 31)), (date(year, 1, 1), date(year, 3, 31))]
    return [Quarter(f"{tag} Q{i + 1}", year, s, e) for i, (s, e) in enumerate(bounds)]


def period_of(col):
    """Financial-quarter label ("2024-25 Q1") of a date column, as a Spark expression."""
    from pyspark.sql import functions as F

    fy = F.year(col) - F.when(F.month(col) < 4, 1).otherwise(0)
    q = F.floor(((F.month(col) + 8) % 12) / 3) + 1
    return F.concat(fy.cast("string"), F.lit("-"), F.lpad(((fy + 1) % 100).cast("string"), 2, "0"),
                    F.lit(" Q"), q.cast("string"))


# ---------------------------------------------------------------------------
# inputs


def _latest(lake: "Lake", name: str) -> "DataFrame | None":
    from pyspark.sql import functions as F

    if not lake.exists(name):
        return None
    return lake.read_table(name).where(F.col("_latest"))


def _cin_person_ids(lake: "Lake") -> "DataFrame | None":
    """(la, _id = LAchildID hash) → person_id from the person spine; None, with a warning, without it."""
    if not lake.exists(SPINE):
        log.warning("%s is not in the lake: repeat referrals and repeat CP plans (RIIA indicators 3, 13, 14) "
                    "fall back to the LA child id within one LA, so a child's earlier referral or plan in another "
                    "LA or under another id is not seen; run `cslake build linkage` first", SPINE)
        return None
    from cslake.linkage.journeys import person_by_la_id

    return person_by_la_id(lake.read_table(SPINE), ["cin"])


def _person(df: "DataFrame", child_col: str, ids: "DataFrame | None" = None, la_col: str = "_la") -> "DataFrame":
    """``df`` plus ``person``: the spine's person_id of the row's (LA, child id hash) when ``ids`` holds
    it, else the LA child id hash within the LA (null when the row has no child id)."""
    from pyspark.sql import functions as F

    local = F.when(F.col(child_col).isNotNull(), F.concat_ws(":", F.lit("la"), F.col(la_col), F.col(child_col)))
    if ids is None:
        return df.withColumn("person", local)
    m = ids.select(F.col("la").alias("_sp_la"), F.col("_id").alias("_sp_id"), F.col("person_id").alias("_sp_person"))
    joined = df.join(m, (F.col(la_col) == F.col("_sp_la")) & (F.col(child_col) == F.col("_sp_id")), "left")
    return joined.withColumn("person", F.coalesce(F.col("_sp_person"), local)).drop("_sp_la", "_sp_id", "_sp_person")


def _presence(lake: "Lake") -> pd.DataFrame:
    """(_la, _year, collection) of every return an LA sent: the landing ledger (a return with
    no rows, e.g. a tiny LA's SEN2, still says "none"), else the silver tables."""
    from pyspark.sql import functions as F

    if lake.exists("bronze.files"):
        files = lake.read_table("bronze.files").where((F.col("outcome") == "landed") & F.col("la").isNotNull()
                                                      & F.col("collection").isin(*PRESENCE_TABLES))
        pdf = files.select(F.col("la").alias("_la"), F.col("year").alias("_year"), "collection").distinct().toPandas()
        if len(pdf):
            return pdf
    frames = []
    for collection, table in PRESENCE_TABLES.items():
        if lake.exists(table):
            pdf = lake.read_table(table).select("_la", "_year").distinct().toPandas()
            pdf["collection"] = collection
            frames.append(pdf)
    if not frames:
        return pd.DataFrame(columns=["_la", "_year", "collection"])
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------
# child-level figures


def _nullable(col):
    # Sail fails a union whose inputs disagree on a column's nullability (a NOT NULL
    # silver date beside a nullable one); a CASE without ELSE is nullable everywhere.
    from pyspark.sql import functions as F

    return F.when(col.isNotNull(), col)


def _events(lake: "Lake") -> "DataFrame | None":
    """One row per counted event: _la, indicator_id, breakdown, event_date, num (0/1), den (0/1 or null)."""
    from pyspark.sql import functions as F

    spark = lake.spark
    cal = calendar_df(spark)
    parts: list = []

    def add(df, ind, date_col, num=F.lit(1), den=F.lit(None).cast("int"), breakdown=F.lit(ALL)):
        parts.append(df.select(
            F.col("_la"), F.lit(ind).alias("indicator_id"), breakdown.alias("breakdown"),
            _nullable(F.col(date_col)).alias("event_date"), _nullable(num.cast("int")).alias("num"),
            _nullable(den.cast("int")).alias("den"),
        ))

    ep = _latest(lake, "silver.cin_episode")
    cpp = _latest(lake, "silver.cin_cpp")
    ids = _cin_person_ids(lake) if ep is not None or cpp is not None else None
    if ep is not None:
        ep = _person(ep, "LAchildID_hash", ids)
        add(ep, 2, "CINreferralDate")
        add(ep, 2, "CINreferralDate", breakdown=F.concat(F.lit(SOURCE_PREFIX), F.coalesce("ReferralSource", F.lit("unknown"))))
        # Each (person, LA, referral date) once, flagged when the person has another referral in
        # the 12 months before; then back onto every referral, so 3's denominator is 2's number.
        # Headline: in the same LA (DfE's definition); breakdown: in any LA of the region.
        refs = (ep.where(F.col("person").isNotNull() & F.col("CINreferralDate").isNotNull())
                  .select(F.col("person").alias("f_person"), F.col("_la").alias("f_la"),
                          F.col("CINreferralDate").alias("f_date")).distinct())
        prev = refs.select(F.col("f_person").alias("p_person"), F.col("f_la").alias("p_la"),
                           F.col("f_date").alias("p_date"))
        within12 = ((F.col("f_person") == F.col("p_person")) & (F.col("p_date") < F.col("f_date"))
                    & (F.col("p_date") >= F.add_months(F.col("f_date"), -12)))
        same_la = F.col("p_la") == F.col("f_la")
        flags = (refs.join(prev, within12, "left").groupBy("f_person", "f_la", "f_date")
                 .agg(F.count(F.when(same_la, F.col("p_date"))).alias("n_prev_la"),
                      F.count("p_date").alias("n_prev_any")))
        rep = ep.join(flags, (F.col("person") == F.col("f_person")) & (F.col("_la") == F.col("f_la"))
                      & (F.col("CINreferralDate") == F.col("f_date")), "left")
        for breakdown, n_prev in ((ALL, "n_prev_la"), (ANY_LA, "n_prev_any")):
            add(rep, 3, "CINreferralDate", num=F.coalesce(F.col(n_prev), F.lit(0)) > 0, den=F.lit(1),
                breakdown=F.lit(breakdown))

    ass = _latest(lake, "silver.cin_assessment")
    if ass is not None:
        add(ass, 4, "AssessmentActualStartDate")
        add(ass, 5, "AssessmentAuthorisationDate")
        wd = with_working_days(ass, "AssessmentActualStartDate", "AssessmentAuthorisationDate", "wd", cal)
        add(wd, 6, "AssessmentAuthorisationDate", num=F.coalesce(F.col("wd") <= 45, F.lit(False)), den=F.lit(1))

    s47 = _latest(lake, "silver.cin_s47")
    if s47 is not None:
        add(s47, 8, "S47ActualStartDate")
        wd = with_working_days(s47, "S47ActualStartDate", "DateOfInitialCPC", "wd", cal)
        add(wd, 9, "S47ActualStartDate", num=F.coalesce(F.col("wd") <= 15, F.lit(False)), den=F.lit(1))

    if cpp is not None:
        cpp = _person(cpp, "LAchildID_hash", ids)
        add(cpp, 10, "CPPstartDate")
        add(cpp, 12, "CPPendDate")
        # Each (person, LA, plan start) once with the person's earlier plans, then back onto every
        # plan, so 13's and 14's denominators are 10's number. Headline: earlier plans in the same
        # LA (or NumberOfPreviousCPP for 13); breakdown: earlier plans in any LA of the region.
        plans = (cpp.where(F.col("person").isNotNull() & F.col("CPPstartDate").isNotNull())
                    .select(F.col("person").alias("p_person"), F.col("_la").alias("p_la"),
                            F.col("CPPstartDate").alias("p_start"), F.col("CPPendDate").alias("p_end")).distinct())
        starts = plans.select(F.col("p_person").alias("f_person"), F.col("p_la").alias("f_la"),
                              F.col("p_start").alias("f_start")).distinct()
        earlier = (F.col("f_person") == F.col("p_person")) & (F.col("p_start") < F.col("f_start"))
        same_la = F.col("p_la") == F.col("f_la")
        ended = F.col("p_end") <= F.col("f_start")
        flags = (starts.join(plans, earlier, "left").groupBy("f_person", "f_la", "f_start").agg(
            F.count(F.when(same_la, F.col("p_start"))).alias("n_earlier_la"),
            F.count("p_start").alias("n_earlier_any"),
            F.max(F.when(ended & same_la, F.col("p_end"))).alias("last_end_la"),
            F.max(F.when(ended, F.col("p_end"))).alias("last_end_any")))
        per_plan = cpp.join(flags, (F.col("person") == F.col("f_person")) & (F.col("_la") == F.col("f_la"))
                            & (F.col("CPPstartDate") == F.col("f_start")), "left")
        for breakdown, suffix in ((ALL, "_la"), (ANY_LA, "_any")):
            ever = ((F.coalesce(F.col("NumberOfPreviousCPP"), F.lit(0)) >= 1)
                    | (F.coalesce(F.col("n_earlier" + suffix), F.lit(0)) > 0))
            within2 = F.coalesce(F.col("last_end" + suffix) > F.add_months(F.col("CPPstartDate"), -24), F.lit(False))
            add(per_plan, 13, "CPPstartDate", num=ever, den=F.lit(1), breakdown=F.lit(breakdown))
            add(per_plan, 14, "CPPstartDate", num=within2, den=F.lit(1), breakdown=F.lit(breakdown))

    care = lake.read_table("silver.care_history") if lake.exists("silver.care_history") else None
    if care is not None:
        add(care.where(F.col("RNE") == "S"), 16, "DECOM")
        add(care.where(F.col("REC").isNotNull() & (F.col("REC") != "X1")), 17, "DEC")

    req = _latest(lake, "silver.sen2_request")
    if req is not None:
        add(req, 22, "ReceivedDate")
    sass = _latest(lake, "silver.sen2_assessment")
    if sass is not None:
        add(sass.where(F.col("AssessmentOutcome").isin("Y", "N")), 23, "AssessmentOutcomeDate")
    plan = _latest(lake, "silver.sen2_named_plan")
    if plan is not None:
        add(plan, 24, "StartDate")
        in20 = F.coalesce(F.datediff("StartDate", "ReceivedDate") <= 140, F.lit(False))
        add(plan, 24, "StartDate", num=in20, den=F.lit(1), breakdown=F.lit(WITHIN_20_WEEKS))

    contacts = _latest(lake, "silver.annex_a_list_1")
    if contacts is not None and "contact_date" in contacts.columns:
        add(contacts, 1, "contact_date")

    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    # Filtered after the union: Sail rejects a union of parts whose nullability differs.
    return out.where(F.col("event_date").isNotNull())


def _snapshots(lake: "Lake", quarter_ends: "DataFrame") -> "DataFrame | None":
    """Counts at each quarter's last day: _la, period, indicator_id, breakdown, number."""
    from pyspark.sql import functions as F

    qe = quarter_ends
    parts = []

    def open_at(df, start, end):
        return df.crossJoin(qe).where((F.col(start) <= F.col("quarter_end"))
                                      & (F.col(end).isNull() | (F.col(end) > F.col("quarter_end"))))

    ep = _latest(lake, "silver.cin_episode")
    if ep is not None:
        cur = open_at(ep.where(~F.coalesce(F.col("ReferralNFA"), F.lit(False))), "CINreferralDate", "CINclosureDate")
        parts.append(cur.groupBy("_la", "period").agg(F.count(F.lit(1)).alias("number")).withColumn("indicator_id", F.lit(7)))
    cpp = _latest(lake, "silver.cin_cpp")
    if cpp is not None:
        cur = open_at(cpp, "CPPstartDate", "CPPendDate")
        parts.append(cur.groupBy("_la", "period").agg(F.count(F.lit(1)).alias("number")).withColumn("indicator_id", F.lit(11)))
    if lake.exists("silver.care_history"):
        care = lake.read_table("silver.care_history").where(~F.coalesce(F.col("LS"), F.lit("")).isin(*SHORT_BREAKS))
        cur = open_at(care, "DECOM", "DEC").select("_la", "period", "quarter_end", "CHILD_hash").distinct()
        parts.append(cur.groupBy("_la", "period").agg(F.count(F.lit(1)).alias("number")).withColumn("indicator_id", F.lit(15)))
        uasc = _latest(lake, "silver.ssda903_uasc")
        if uasc is not None:
            u = uasc.select(F.col("_la").alias("u_la"), F.col("CHILD_hash").alias("u_child"), "DUC")
            cu = cur.join(u, (cur["_la"] == u["u_la"]) & (cur["CHILD_hash"] == u["u_child"])
                          & (u["DUC"].isNull() | (u["DUC"] > cur["quarter_end"])), "left_semi")
            parts.append(cu.groupBy("_la", "period").agg(F.count(F.lit(1)).alias("number")).withColumn("indicator_id", F.lit(18)))
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.withColumn("breakdown", F.lit(ALL)).withColumn("den", F.lit(None).cast("bigint"))


def _care_leavers(lake: "Lake") -> pd.DataFrame:
    """Indicators 19 and 20 per LA and collection year (the OC3 cohort)."""
    from pyspark.sql import functions as F

    if not lake.exists("silver.ssda903_oc3"):
        return pd.DataFrame(columns=["_la", "collection_year", "indicator_id", "number", "den"])
    oc3 = lake.read_table("silver.ssda903_oc3").select("_la", "_year", "CHILD_hash").distinct()
    if lake.exists("silver.ssda903_uasc"):
        u = lake.read_table("silver.ssda903_uasc").select(F.col("_la").alias("u_la"),
                                                          F.col("CHILD_hash").alias("u_child")).distinct()
        oc3 = oc3.join(u, (oc3["_la"] == u["u_la"]) & (oc3["CHILD_hash"] == u["u_child"]), "left")
        uasc_flag = F.col("u_child").isNotNull()
    else:
        uasc_flag = F.lit(False)
    agg = oc3.groupBy("_la", "_year").agg(F.count(F.lit(1)).alias("leavers"),
                                          F.sum(uasc_flag.cast("int")).alias("uasc_leavers")).toPandas()
    rows = []
    for la, year, leavers, uasc_leavers in agg[["_la", "_year", "leavers", "uasc_leavers"]].itertuples(index=False):
        rows.append((la, int(year), 19, int(leavers), None))
        rows.append((la, int(year), 20, int(uasc_leavers or 0), int(leavers)))
    return pd.DataFrame(rows, columns=["_la", "collection_year", "indicator_id", "number", "den"])


def _population(lake: "Lake") -> pd.DataFrame:
    """Children aged 0-17 per LA and mid-year."""
    from pyspark.sql import functions as F

    name = "silver.context_population_population"
    if not lake.exists(name):
        return pd.DataFrame(columns=["la_code", "year", "population"])
    df = lake.read_table(name).where(F.col("_latest") & (F.col("age") <= 17))
    return df.groupBy("la_code", "year").agg(F.sum("population").alias("population")).toPandas()


def _template(lake: "Lake") -> pd.DataFrame:
    from pyspark.sql import functions as F

    cols = ["_la", "period", "indicator_id", "la_reported_number", "la_reported_denominator", "la_reported_value"]
    name = "silver.riia_quarterly_indicators"
    if not lake.exists(name):
        return pd.DataFrame(columns=cols)
    df = lake.read_table(name).where(F.col("_latest"))
    return df.select(F.col("LA").alias("_la"), F.col("Period").alias("period"),
                     F.col("IndicatorID").alias("indicator_id"), F.col("Numerator").alias("la_reported_number"),
                     F.col("Denominator").alias("la_reported_denominator"),
                     F.col("Value").alias("la_reported_value")).toPandas()


# ---------------------------------------------------------------------------


def build_riia_indicators(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    """The restricted (unsuppressed) ``riia_indicators`` table as pandas: LA rows and region rows."""
    from pyspark.sql import functions as F

    from cslake.config import local_authorities, region as region_of

    spark = lake.spark
    presence = _presence(lake)
    years = sorted({int(y) for y in presence["_year"].dropna()})
    las = sorted({str(x) for x in presence["_la"].dropna()})
    known = local_authorities()
    quarters = [q for y in years for q in quarters_of(y)]
    qpdf = pd.DataFrame([(q.label, q.end) for q in quarters], columns=["period", "quarter_end"])
    quarter_ends = spark.createDataFrame(qpdf, "period string, quarter_end date")

    counts = []
    events = _events(lake)
    if events is not None:
        ev = (events.withColumn("period", period_of(F.col("event_date")))
                    .groupBy("_la", "period", "indicator_id", "breakdown")
                    .agg(F.sum("num").alias("number"), F.sum("den").alias("den")))
        counts.append(ev.toPandas())
    snaps = _snapshots(lake, quarter_ends)
    if snaps is not None:
        counts.append(snaps.select("_la", "period", "indicator_id", "breakdown", "number", "den").toPandas())
    leavers = _care_leavers(lake)
    qyear = pd.DataFrame([(q.label, q.collection_year) for q in quarters], columns=["period", "collection_year"])
    if len(leavers):
        lv = leavers.merge(qyear, on="collection_year")
        lv["breakdown"] = ALL
        counts.append(lv[["_la", "period", "indicator_id", "breakdown", "number", "den"]])
    child = pd.concat(counts, ignore_index=True) if counts else pd.DataFrame(
        columns=["_la", "period", "indicator_id", "breakdown", "number", "den"])
    child["indicator_id"] = child["indicator_id"].astype(int)

    # The grid: every LA x quarter x indicator (x breakdown seen anywhere for it).
    breakdowns = {i: [ALL] for i in INDICATORS}
    for (ind, b) in child[["indicator_id", "breakdown"]].drop_duplicates().itertuples(index=False):
        if b != ALL:
            breakdowns[int(ind)].append(b)
    grid = pd.DataFrame(
        [(la, q.label, q.collection_year, q.start, q.end, ind, b)
         for la in las for q in quarters for ind in INDICATORS for b in sorted(breakdowns[ind], key=lambda s: (s != ALL, s))],
        columns=["_la", "period", "collection_year", "quarter_start", "quarter_end", "indicator_id", "breakdown"],
    )
    out = grid.merge(child, on=["_la", "period", "indicator_id", "breakdown"], how="left")
    have = set(zip(presence["_la"].astype(str), presence["_year"].astype(int), presence["collection"]))
    coll = out["indicator_id"].map(lambda i: INDICATORS[i][2])
    # SEN2 year Y (census day in January Y) holds the calendar year Y-1's events.
    cover_year = [qs.year + 1 if c == "sen2" else y for qs, y, c in zip(out["quarter_start"], out["collection_year"], coll)]
    available = [(la, y, c) in have for la, y, c in zip(out["_la"], cover_year, coll)]
    # Annex A list 1 covers the six months to 31 March: quarters 3 and 4 only.
    contacts_window = ~((out["indicator_id"] == 1) & out["period"].str.endswith(("Q1", "Q2")))
    available = pd.Series(available, index=out.index) & contacts_window
    pct = out["indicator_id"].map(lambda i: INDICATORS[i][1] == "pct") | (out["breakdown"] == WITHIN_20_WEEKS)
    out["number"] = out["number"].where(~available, out["number"].fillna(0)).where(available)
    out["den"] = out["den"].where(~(available & pct), out["den"].fillna(0)).where(available & pct)

    # Population: mid-year of the financial year's first calendar year, else the latest before.
    pop = _population(lake)
    pop_year, pop_val, pop_flag = [], [], []
    by_la = {la: g.sort_values("year") for la, g in pop.groupby("la_code")}
    for la, cy in zip(out["_la"], out["collection_year"]):
        g = by_la.get(la)
        want = int(cy) - 1
        row = None if g is None else g[g["year"] <= want].tail(1)
        if row is None or not len(row):
            pop_year.append(None), pop_val.append(None), pop_flag.append(None)
        else:
            y = int(row["year"].iloc[0])
            pop_year.append(y), pop_val.append(float(row["population"].iloc[0])), pop_flag.append(y != want)
    out["population_0_17"], out["population_year"], out["population_latest_flag"] = pop_val, pop_year, pop_flag

    tpl = _template(lake)
    tpl["indicator_id"] = tpl["indicator_id"].astype(int)
    tpl["breakdown"] = ALL
    # For rates the template's denominator is the LA's population, not a count of children.
    tpl.loc[tpl["indicator_id"].map(lambda i: INDICATORS[i][1] == "rate"), "la_reported_denominator"] = None
    out = out.merge(tpl, on=["_la", "period", "indicator_id", "breakdown"], how="left")

    out = out.rename(columns={"den": "denominator"})
    out["geog_level"] = "la"
    out["geog_code"] = out["_la"]
    out["geog_name"] = out["_la"].map(lambda c: known[c].name if c in known else c)

    # Region rows: sums of the LA rows (LAs without a figure contribute nothing).
    reg_name = "Region"
    if region_key:
        reg_name = region_of(region_key).name
    keys = ["period", "collection_year", "quarter_start", "quarter_end", "indicator_id", "breakdown"]
    sums = out.groupby(keys, dropna=False).agg(
        number=("number", lambda s: s.sum(min_count=1)), denominator=("denominator", lambda s: s.sum(min_count=1)),
        la_reported_number=("la_reported_number", lambda s: s.sum(min_count=1)),
        la_reported_denominator=("la_reported_denominator", lambda s: s.sum(min_count=1)),
        population_0_17=("population_0_17", lambda s: s.sum(min_count=1)),
        population_year=("population_year", "max"),
        population_latest_flag=("population_latest_flag", "max"),
    ).reset_index()
    sums["geog_level"] = "region"
    sums["geog_code"] = region_key or "region"
    sums["geog_name"] = reg_name
    # la_reported_value has no region figure: left out of sums, concat fills it with NaN
    # (an all-None column would trip pandas' all-NA concat deprecation)
    out = pd.concat([out.drop(columns=["_la"]), sums], ignore_index=True)

    out["indicator"] = out["indicator_id"].map(lambda i: INDICATORS[i][0])
    out["kind"] = ["pct" if p else "rate" for p in
                   (out["indicator_id"].map(lambda i: INDICATORS[i][1] == "pct") | (out["breakdown"] == WITHIN_20_WEEKS))]
    out["percentage"] = (100 * out["number"] / out["denominator"]).where((out["kind"] == "pct") & (out["denominator"] > 0))
    is_rate = out["kind"] == "rate"
    out["rate_per_10k"] = (out["number"] / out["population_0_17"] * 10_000).where(is_rate & (out["population_0_17"] > 0))
    # Region template value: recomputed from the summed figures, as the LAs' own values don't add.
    reg = out["geog_level"] == "region"
    out.loc[reg & is_rate, "la_reported_value"] = (out["la_reported_number"] / out["population_0_17"] * 10_000)[reg & is_rate]
    out.loc[reg & ~is_rate, "la_reported_value"] = (
        100 * out["la_reported_number"] / out["la_reported_denominator"].where(out["la_reported_denominator"] > 0))[reg & ~is_rate]
    out["difference"] = out["number"] - out["la_reported_number"]
    out["source"] = [
        "child-level and la-template" if pd.notna(n) and pd.notna(r) else "child-level" if pd.notna(n)
        else "la-template" if pd.notna(r) else "none"
        for n, r in zip(out["number"], out["la_reported_number"])
    ]
    out = out[RESTRICTED_COLUMNS].sort_values(["geog_level", "geog_code", "period", "indicator_id", "breakdown"])
    return out.reset_index(drop=True)
