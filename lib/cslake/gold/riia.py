"""The 24 RIIA indicators per LA x financial quarter, from silver, beside each LA's own template.

Definitions (shared/specs/indicators.md; the choices the spec leaves open are made here,
once, and the acceptance test in tests/test_gold_riia.py re-derives them from raw files):

- Every figure here is the **as corrected** view (latest submission of each record, the
  chained care history): a year's figure may include corrections and records the LA sent
  in later returns. The same year **as submitted** (from that year's return only), beside
  it with the difference, is ``gold.dfe_measures`` (cslake.gold.dfe).

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
  ``silver.care_history`` and DfE's definitions (cslake.gold.dfe): short breaks (LS V3/V4)
  excluded from all of them; current = distinct children with an episode open at the end
  (an episode left open counts only up to 31 March of the last return that holds it); new =
  children with an RNE S episode starting in the quarter; ceasing = children with a DEC in the
  quarter and a REC other than X1 (never an open episode); each child once per quarter. UASC (18): current CLA with a UASC record whose DUC is
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
from pyspark.sql import Column, DataFrame, Window, functions as F

from cslake import catalog
from cslake.gold.common import ALL, returns_presence
from cslake.gold.dfe import open_on
from cslake.gold.workdays import calendar_df, with_working_days
from cslake.linkage.journeys import person_by_la_id
from cslake.gold.geography import area_rows
from cslake.vocab import CHILD_AGES, Quarter, is_short_break_col, la_name, period_col, quarters_of

if TYPE_CHECKING:
    from cslake.lake import Lake

log = logging.getLogger(__name__)

SPINE = catalog.silver.person_spine
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
WITHIN_20_WEEKS = "within 20 weeks"
SOURCE_PREFIX = "source "
# Repeats (3, 13, 14) seen in any LA of the region through the person spine; the headline
# ("all") counts earlier referrals / plans in the same LA, as DfE's longitudinal CIN data does.
ANY_LA = "any LA in region"

RESTRICTED_COLUMNS = [
    "geog_level", "geog_code", "geog_name", "period", "collection_year", "quarter_start", "quarter_end",
    "indicator_id", "indicator", "breakdown", "kind", "number", "denominator", "percentage", "population_0_17",
    "population_year", "population_latest_flag", "rate_per_10k", "la_reported_number",
    "la_reported_denominator", "la_reported_value", "difference", "source",
]


EVENT_KEYS = ["_la", "period", "indicator_id", "breakdown"]
COUNT_COLUMNS = EVENT_KEYS + ["number", "den"]
TEMPLATE_COLUMNS = ["_la", "period", "indicator_id", "la_reported_number", "la_reported_denominator",
                    "la_reported_value"]


# ---------------------------------------------------------------------------
# the edge: what the indicators read


@dataclass
class RiiaInputs:
    """The silver tables the indicators read (latest submissions where a return is resent; None when absent)."""

    episodes: DataFrame | None = None          # silver.cin_episode
    cpp: DataFrame | None = None               # silver.cin_cpp
    person_ids: DataFrame | None = None        # (la, _id, person_id) from the person spine
    assessments: DataFrame | None = None       # silver.cin_assessment
    s47: DataFrame | None = None               # silver.cin_s47
    care: DataFrame | None = None              # silver.care_history (already one row per episode)
    uasc: DataFrame | None = None              # silver.ssda903_uasc, latest submissions
    uasc_any: DataFrame | None = None          # silver.ssda903_uasc, every submission (UASC ever, for 20)
    oc3: DataFrame | None = None               # silver.ssda903_oc3
    sen2_requests: DataFrame | None = None     # silver.sen2_request
    sen2_assessments: DataFrame | None = None  # silver.sen2_assessment
    sen2_plans: DataFrame | None = None        # silver.sen2_named_plan
    contacts: DataFrame | None = None          # silver.annex_a_list_1
    population: DataFrame | None = None        # silver.context_population_population
    template: DataFrame | None = None          # silver.riia_quarterly_indicators


def _latest(lake: "Lake", name: str) -> DataFrame | None:
    if not lake.exists(name):
        return None
    return lake.read_table(name).where(F.col("_latest"))


def _table(lake: "Lake", name: str) -> DataFrame | None:
    return lake.read_table(name) if lake.exists(name) else None


def cin_person_ids(lake: "Lake") -> DataFrame | None:
    """(la, _id = LAchildID hash) → person_id from the person spine; None, with a warning, without it."""
    if not lake.exists(SPINE):
        log.warning("%s is not in the lake: repeat referrals and repeat CP plans (RIIA indicators 3, 13, 14) "
                    "fall back to the LA child id within one LA, so a child's earlier referral or plan in another "
                    "LA or under another id is not seen; run `cslake build linkage` first", SPINE)
        return None
    return person_by_la_id(lake.read_table(SPINE), ["cin"])


def read_inputs(lake: "Lake") -> RiiaInputs:
    episodes, cpp = _latest(lake, catalog.silver.cin_episode), _latest(lake, catalog.silver.cin_cpp)
    return RiiaInputs(
        episodes=episodes, cpp=cpp,
        person_ids=cin_person_ids(lake) if episodes is not None or cpp is not None else None,
        assessments=_latest(lake, catalog.silver.cin_assessment), s47=_latest(lake, catalog.silver.cin_s47),
        care=_table(lake, catalog.silver.care_history),
        uasc=_latest(lake, catalog.silver.ssda903_uasc), uasc_any=_table(lake, catalog.silver.ssda903_uasc),
        oc3=_table(lake, catalog.silver.ssda903_oc3),
        sen2_requests=_latest(lake, catalog.silver.sen2_request),
        sen2_assessments=_latest(lake, catalog.silver.sen2_assessment),
        sen2_plans=_latest(lake, catalog.silver.sen2_named_plan),
        contacts=_latest(lake, catalog.silver.annex_a_list_1),
        population=_latest(lake, catalog.silver.context_population_population),
        template=_latest(lake, catalog.silver.riia_quarterly_indicators),
    )


# ---------------------------------------------------------------------------
# pure Spark transforms: child-level events, one row per counted event


def nullable(col: Column) -> Column:
    # Sail fails a union whose inputs disagree on a column's nullability (a NOT NULL
    # silver date beside a nullable one); a CASE without ELSE is nullable everywhere.
    return F.when(col.isNotNull(), col)


EVENT_TYPE = "struct<indicator_id:int,breakdown:string,event_date:date,num:int,den:int>"


def event(ind: int, date_col: str, num: Column | None = None, den: Column | None = None,
          breakdown: Column | None = None) -> Column:
    """The one shape of a counted event, as a struct: indicator_id, breakdown (default ``all``),
    event_date, num (0/1, default 1), den (0/1, default null)."""
    num = F.lit(1) if num is None else num
    den = F.lit(None).cast("int") if den is None else den
    breakdown = F.lit(ALL) if breakdown is None else breakdown
    # cast to one type, every field nullable: Sail refuses an array of structs whose fields differ in
    # nullability (a literal den of 1 beside a null one), and a CASE WHEN over a literal is folded away
    return F.struct(F.lit(ind).alias("indicator_id"), breakdown.alias("breakdown"),
                    F.col(date_col).alias("event_date"), num.cast("int").alias("num"),
                    den.cast("int").alias("den")).cast(EVENT_TYPE)


def events_of(df: DataFrame, *events: Column) -> DataFrame:
    """Rows _la, indicator_id, breakdown, event_date, num, den: each row of ``df`` gives one per ``event``.

    One scan of ``df`` for all its events: a union of one select per event made the engine compute
    ``df`` (the person spine joined to every CIN episode, the repeat flags) once per event, 37 of
    the 44 s of riia's events at London scale 1."""
    return df.select(F.col("_la"), F.explode(F.array(*events)).alias("_event")).select("_la", "_event.*")


def event_rows(df: DataFrame, ind: int, date_col: str, num: Column | None = None, den: Column | None = None,
               breakdown: Column | None = None) -> DataFrame:
    """One event per row of ``df`` (``event``'s shape, with _la)."""
    return events_of(df, event(ind, date_col, num, den, breakdown))


def with_person(df: DataFrame, child_col: str, ids: DataFrame | None = None, la_col: str = "_la") -> DataFrame:
    """``df`` plus ``person``: the spine's person_id of the row's (LA, child id hash) when ``ids`` holds
    it, else the LA child id hash within the LA (null when the row has no child id)."""
    local = F.when(F.col(child_col).isNotNull(), F.concat_ws(":", F.lit("la"), F.col(la_col), F.col(child_col)))
    if ids is None:
        return df.withColumn("person", local)
    m = ids.select(F.col("la").alias("_sp_la"), F.col("_id").alias("_sp_id"), F.col("person_id").alias("_sp_person"))
    joined = df.join(m, (F.col(la_col) == F.col("_sp_la")) & (F.col(child_col) == F.col("_sp_id")), "left")
    return joined.withColumn("person", F.coalesce(F.col("_sp_person"), local)).drop("_sp_la", "_sp_id", "_sp_person")


def repeat_referral_flags(referrals: DataFrame) -> DataFrame:
    """Each (person, LA, referral date) once, with the person's other referrals in the 12 months before:
    f_person, f_la, f_date, n_prev_la (in the same LA), n_prev_any (in any LA)."""
    refs = (referrals.where(F.col("person").isNotNull() & F.col("CINreferralDate").isNotNull())
            .select(F.col("person").alias("f_person"), F.col("_la").alias("f_la"),
                    F.col("CINreferralDate").alias("f_date")).distinct())
    prev = refs.select(F.col("f_person").alias("p_person"), F.col("f_la").alias("p_la"),
                       F.col("f_date").alias("p_date"))
    within12 = ((F.col("f_person") == F.col("p_person")) & (F.col("p_date") < F.col("f_date"))
                & (F.col("p_date") >= F.add_months(F.col("f_date"), -12)))
    same_la = F.col("p_la") == F.col("f_la")
    return (refs.join(prev, within12, "left").groupBy("f_person", "f_la", "f_date")
            .agg(F.count(F.when(same_la, F.col("p_date"))).alias("n_prev_la"),
                 F.count("p_date").alias("n_prev_any")))


def referral_events(episodes: DataFrame) -> list[DataFrame]:
    """Indicators 2 (all, by source) and 3 (all: same LA, and any LA in region) from CIN episodes with ``person``.

    The flags go back onto every referral, so 3's denominator is 2's number."""
    source = F.concat(F.lit(SOURCE_PREFIX), F.coalesce("ReferralSource", F.lit("unknown")))
    flags = repeat_referral_flags(episodes)
    rep = episodes.join(flags, (F.col("person") == F.col("f_person")) & (F.col("_la") == F.col("f_la"))
                        & (F.col("CINreferralDate") == F.col("f_date")), "left")
    # rep holds every episode once (the flags are one row per person, LA and date): 2's rows come from it too
    return [events_of(rep, event(2, "CINreferralDate"), event(2, "CINreferralDate", breakdown=source), *[
        event(3, "CINreferralDate", num=F.coalesce(F.col(n_prev), F.lit(0)) > 0, den=F.lit(1),
              breakdown=F.lit(breakdown))
        for breakdown, n_prev in ((ALL, "n_prev_la"), (ANY_LA, "n_prev_any"))])]


def repeat_plan_flags(plans: DataFrame) -> DataFrame:
    """Each (person, LA, plan start) once with the person's earlier plans: f_person, f_la, f_start,
    n_earlier_la / n_earlier_any (earlier plans in the same / any LA), last_end_la / last_end_any
    (the latest end, on or before this start, of those plans)."""
    p = (plans.where(F.col("person").isNotNull() & F.col("CPPstartDate").isNotNull())
         .select(F.col("person").alias("p_person"), F.col("_la").alias("p_la"),
                 F.col("CPPstartDate").alias("p_start"), F.col("CPPendDate").alias("p_end")).distinct())
    starts = p.select(F.col("p_person").alias("f_person"), F.col("p_la").alias("f_la"),
                      F.col("p_start").alias("f_start")).distinct()
    earlier = (F.col("f_person") == F.col("p_person")) & (F.col("p_start") < F.col("f_start"))
    same_la = F.col("p_la") == F.col("f_la")
    ended = F.col("p_end") <= F.col("f_start")
    return starts.join(p, earlier, "left").groupBy("f_person", "f_la", "f_start").agg(
        F.count(F.when(same_la, F.col("p_start"))).alias("n_earlier_la"),
        F.count("p_start").alias("n_earlier_any"),
        F.max(F.when(ended & same_la, F.col("p_end"))).alias("last_end_la"),
        F.max(F.when(ended, F.col("p_end"))).alias("last_end_any"))


def plan_events(plans: DataFrame) -> list[DataFrame]:
    """Indicators 10, 12, 13 and 14 from CP plans with ``person``. Headline: earlier plans in the same LA
    (or NumberOfPreviousCPP for 13); breakdown: earlier plans in any LA of the region. The flags go
    back onto every plan, so 13's and 14's denominators are 10's number."""
    flags = repeat_plan_flags(plans)
    per_plan = plans.join(flags, (F.col("person") == F.col("f_person")) & (F.col("_la") == F.col("f_la"))
                          & (F.col("CPPstartDate") == F.col("f_start")), "left")
    # per_plan holds every plan once (the flags are one row per person, LA and start)
    out = [event(10, "CPPstartDate"), event(12, "CPPendDate")]
    for breakdown, suffix in ((ALL, "_la"), (ANY_LA, "_any")):
        ever = ((F.coalesce(F.col("NumberOfPreviousCPP"), F.lit(0)) >= 1)
                | (F.coalesce(F.col("n_earlier" + suffix), F.lit(0)) > 0))
        within2 = F.coalesce(F.col("last_end" + suffix) > F.add_months(F.col("CPPstartDate"), -24), F.lit(False))
        out.append(event(13, "CPPstartDate", num=ever, den=F.lit(1), breakdown=F.lit(breakdown)))
        out.append(event(14, "CPPstartDate", num=within2, den=F.lit(1), breakdown=F.lit(breakdown)))
    return [events_of(per_plan, *out)]


def assessment_events(assessments: DataFrame, calendar: DataFrame) -> list[DataFrame]:
    """Indicators 4, 5 and 6 (authorised within 45 working days of the start)."""
    wd = with_working_days(assessments, "AssessmentActualStartDate", "AssessmentAuthorisationDate", "wd", calendar)
    return [event_rows(assessments, 4, "AssessmentActualStartDate"),
            event_rows(assessments, 5, "AssessmentAuthorisationDate"),
            event_rows(wd, 6, "AssessmentAuthorisationDate", num=F.coalesce(F.col("wd") <= 45, F.lit(False)),
                       den=F.lit(1))]


def s47_events(s47: DataFrame, calendar: DataFrame) -> list[DataFrame]:
    """Indicators 8 and 9 (ICPC within 15 working days of the S47's start)."""
    wd = with_working_days(s47, "S47ActualStartDate", "DateOfInitialCPC", "wd", calendar)
    return [event_rows(s47, 8, "S47ActualStartDate"),
            event_rows(wd, 9, "S47ActualStartDate", num=F.coalesce(F.col("wd") <= 15, F.lit(False)), den=F.lit(1))]


def once_per_child(care: DataFrame, date_col: str) -> DataFrame:
    """One row per (LA, child, financial quarter of ``date_col``): a child is counted once per quarter."""
    w = Window.partitionBy("_la", "CHILD_hash", "_q").orderBy(F.col(date_col), F.col("DECOM"))
    return (care.withColumn("_q", period_col(F.col(date_col))).withColumn("_n", F.row_number().over(w))
            .where(F.col("_n") == 1).drop("_q", "_n"))


def care_events(care: DataFrame) -> list[DataFrame]:
    """Indicators 16 (children starting a period of care: RNE S) and 17 (children ceasing to be looked
    after: DEC with a REC other than X1), short breaks (V3/V4) left out, each child once per quarter
    (cslake.gold.dfe: DfE's definitions; an open episode is never a cessation)."""
    care = care.where(~is_short_break_col("LS"))
    return [event_rows(once_per_child(care.where(F.col("RNE") == "S"), "DECOM"), 16, "DECOM"),
            event_rows(once_per_child(care.where(F.col("DEC").isNotNull() & F.col("REC").isNotNull()
                                                 & (F.col("REC") != "X1")), "DEC"), 17, "DEC")]


def sen2_events(requests: DataFrame | None, assessments: DataFrame | None, plans: DataFrame | None) -> list[DataFrame]:
    """Indicators 22, 23 (outcome Y or N) and 24 (with breakdown: issued within 20 weeks of the request)."""
    out = []
    if requests is not None:
        out.append(event_rows(requests, 22, "ReceivedDate"))
    if assessments is not None:
        out.append(event_rows(assessments.where(F.col("AssessmentOutcome").isin("Y", "N")), 23,
                              "AssessmentOutcomeDate"))
    if plans is not None:
        in20 = F.coalesce(F.datediff("StartDate", "ReceivedDate") <= 140, F.lit(False))
        out += [event_rows(plans, 24, "StartDate"),
                event_rows(plans, 24, "StartDate", num=in20, den=F.lit(1), breakdown=F.lit(WITHIN_20_WEEKS))]
    return out


def union_all(parts: list[DataFrame]) -> DataFrame | None:
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def child_events(inputs: RiiaInputs, calendar: DataFrame) -> DataFrame | None:
    """Every counted event of the child-level indicators: _la, indicator_id, breakdown, event_date, num, den."""
    parts: list[DataFrame] = []
    if inputs.episodes is not None:
        parts += referral_events(with_person(inputs.episodes, "LAchildID_hash", inputs.person_ids))
    if inputs.assessments is not None:
        parts += assessment_events(inputs.assessments, calendar)
    if inputs.s47 is not None:
        parts += s47_events(inputs.s47, calendar)
    if inputs.cpp is not None:
        parts += plan_events(with_person(inputs.cpp, "LAchildID_hash", inputs.person_ids))
    if inputs.care is not None:
        parts += care_events(inputs.care)
    parts += sen2_events(inputs.sen2_requests, inputs.sen2_assessments, inputs.sen2_plans)
    if inputs.contacts is not None and "contact_date" in inputs.contacts.columns:
        parts.append(event_rows(inputs.contacts, 1, "contact_date"))
    out = union_all(parts)
    # Filtered after the union: Sail rejects a union of parts whose nullability differs.
    return None if out is None else out.where(F.col("event_date").isNotNull())


def event_counts(events: DataFrame) -> DataFrame:
    """Events → number and denominator per LA, financial quarter, indicator and breakdown."""
    return (events.withColumn("period", period_col(F.col("event_date"))).groupBy(*EVENT_KEYS)
            .agg(F.sum("num").alias("number"), F.sum("den").alias("den")))


# ---------------------------------------------------------------------------
# pure Spark transforms: snapshots at each quarter's end, and the annual care leavers


def open_at(df: DataFrame, start: str, end: str, quarter_ends: DataFrame) -> DataFrame:
    """Rows of ``df`` open at each quarter end (``quarter_ends``: period, quarter_end): started on or
    before it, not ended by it."""
    return df.crossJoin(quarter_ends).where((F.col(start) <= F.col("quarter_end"))
                                            & (F.col(end).isNull() | (F.col(end) > F.col("quarter_end"))))


def _count_per_period(df: DataFrame, indicator: int) -> DataFrame:
    return df.groupBy("_la", "period").agg(F.count(F.lit(1)).alias("number")).withColumn("indicator_id",
                                                                                          F.lit(indicator))


def current_cla(care: DataFrame, quarter_ends: DataFrame) -> DataFrame:
    """Children (_la, period, quarter_end, CHILD_hash) looked after at each quarter end, short breaks left out.
    An episode left open counts only up to 31 March of the last return holding it (``_year``): a child
    missing from the LA's next return is not carried on in care (cslake.gold.dfe.open_on)."""
    open_ = (care.where(~is_short_break_col("LS")).crossJoin(quarter_ends)
             .where(open_on(F.col("quarter_end"), "DECOM", "DEC", "_year")))
    return open_.select("_la", "period", "quarter_end", "CHILD_hash").distinct()


def current_uasc(cla: DataFrame, uasc: DataFrame) -> DataFrame:
    """Of the current CLA, those with a UASC record whose DUC is blank or after the quarter end."""
    u = uasc.select(F.col("_la").alias("u_la"), F.col("CHILD_hash").alias("u_child"), "DUC")
    return cla.join(u, (cla["_la"] == u["u_la"]) & (cla["CHILD_hash"] == u["u_child"])
                    & (u["DUC"].isNull() | (u["DUC"] > cla["quarter_end"])), "left_semi")


def snapshot_counts(inputs: RiiaInputs, quarter_ends: DataFrame) -> DataFrame | None:
    """Counts at each quarter's last day (7, 11, 15, 18): _la, period, indicator_id, breakdown, number, den."""
    parts = []
    if inputs.episodes is not None:
        cin = inputs.episodes.where(~F.coalesce(F.col("ReferralNFA"), F.lit(False)))
        parts.append(_count_per_period(open_at(cin, "CINreferralDate", "CINclosureDate", quarter_ends), 7))
    if inputs.cpp is not None:
        parts.append(_count_per_period(open_at(inputs.cpp, "CPPstartDate", "CPPendDate", quarter_ends), 11))
    if inputs.care is not None:
        cla = current_cla(inputs.care, quarter_ends)
        parts.append(_count_per_period(cla, 15))
        if inputs.uasc is not None:
            parts.append(_count_per_period(current_uasc(cla, inputs.uasc), 18))
    out = union_all(parts)
    if out is None:
        return None
    return out.withColumn("breakdown", F.lit(ALL)).withColumn("den", F.lit(None).cast("bigint"))


def care_leaver_counts(oc3: DataFrame, uasc: DataFrame | None) -> DataFrame:
    """The OC3 cohort per LA and year: _la, _year, leavers, uasc_leavers (with a UASC record at any time)."""
    oc3 = oc3.select("_la", "_year", "CHILD_hash").distinct()
    if uasc is not None:
        u = uasc.select(F.col("_la").alias("u_la"), F.col("CHILD_hash").alias("u_child")).distinct()
        oc3 = oc3.join(u, (oc3["_la"] == u["u_la"]) & (oc3["CHILD_hash"] == u["u_child"]), "left")
        uasc_flag = F.col("u_child").isNotNull()
    else:
        uasc_flag = F.lit(False)
    return oc3.groupBy("_la", "_year").agg(F.count(F.lit(1)).alias("leavers"),
                                           F.sum(uasc_flag.cast("int")).alias("uasc_leavers"))


def children_population(pop: DataFrame) -> DataFrame:
    """Children aged 0-17 per LA and mid-year: la_code, year, population."""
    return (pop.where(F.col("age") <= max(CHILD_AGES)).groupBy("la_code", "year")
            .agg(F.sum("population").alias("population")))


def template_figures(template: DataFrame) -> DataFrame:
    """The LA's own quarterly template: TEMPLATE_COLUMNS."""
    return template.select(F.col("LA").alias("_la"), F.col("Period").alias("period"),
                           F.col("IndicatorID").alias("indicator_id"), F.col("Numerator").alias("la_reported_number"),
                           F.col("Denominator").alias("la_reported_denominator"),
                           F.col("Value").alias("la_reported_value"))


# ---------------------------------------------------------------------------
# the table, in pandas on the driver: small by nature (LA x quarter x indicator x breakdown)


def care_leaver_rows(leavers: pd.DataFrame, quarters: list[Quarter]) -> pd.DataFrame:
    """Indicators 19 and 20 (an annual cohort) shown in each quarter of its year: COUNT_COLUMNS."""
    rows = []
    for la, year, n, n_uasc in leavers[["_la", "_year", "leavers", "uasc_leavers"]].itertuples(index=False):
        rows.append((la, int(year), 19, int(n), None))
        rows.append((la, int(year), 20, int(n_uasc or 0), int(n)))
    lv = pd.DataFrame(rows, columns=["_la", "collection_year", "indicator_id", "number", "den"])
    if not len(lv):
        return pd.DataFrame(columns=COUNT_COLUMNS)
    qyear = pd.DataFrame([(q.label, q.collection_year) for q in quarters], columns=["period", "collection_year"])
    return lv.merge(qyear, on="collection_year").assign(breakdown=ALL)[COUNT_COLUMNS]


def indicator_grid(las: list[str], quarters: list[Quarter], child: pd.DataFrame) -> pd.DataFrame:
    """Every LA x quarter x indicator (x each breakdown seen anywhere for the indicator)."""
    breakdowns = {i: [ALL] for i in INDICATORS}
    for (ind, b) in child[["indicator_id", "breakdown"]].drop_duplicates().itertuples(index=False):
        if b != ALL:
            breakdowns[int(ind)].append(b)
    return pd.DataFrame(
        [(la, q.label, q.collection_year, q.start, q.end, ind, b)
         for la in las for q in quarters for ind in INDICATORS
         for b in sorted(breakdowns[ind], key=lambda s: (s != ALL, s))],
        columns=["_la", "period", "collection_year", "quarter_start", "quarter_end", "indicator_id", "breakdown"])


def is_pct(indicator_id: pd.Series, breakdown: pd.Series) -> pd.Series:
    return indicator_id.map(lambda i: INDICATORS[i][1] == "pct") | (breakdown == WITHIN_20_WEEKS)


def with_availability(out: pd.DataFrame, presence: pd.DataFrame) -> pd.DataFrame:
    """Zeros where the LA sent the indicator's return for the quarter and nothing was counted; null where
    it did not (or, for contacts, in Annex A's uncovered quarters 1 and 2)."""
    out = out.copy()
    have = set(zip(presence["_la"].astype(str), presence["_year"].astype(int), presence["collection"]))
    coll = out["indicator_id"].map(lambda i: INDICATORS[i][2])
    # SEN2 year Y (census day in January Y) holds the calendar year Y-1's events.
    cover_year = [qs.year + 1 if c == "sen2" else y for qs, y, c in zip(out["quarter_start"], out["collection_year"], coll)]
    available = pd.Series([(la, y, c) in have for la, y, c in zip(out["_la"], cover_year, coll)], index=out.index)
    # Annex A list 1 covers the six months to 31 March: quarters 3 and 4 only.
    available &= ~((out["indicator_id"] == 1) & out["period"].str.endswith(("Q1", "Q2")))
    pct = is_pct(out["indicator_id"], out["breakdown"])
    out["number"] = out["number"].where(~available, out["number"].fillna(0)).where(available)
    out["den"] = out["den"].where(~(available & pct), out["den"].fillna(0)).where(available & pct)
    return out


def with_population(out: pd.DataFrame, pop: pd.DataFrame) -> pd.DataFrame:
    """population_0_17, population_year and population_latest_flag: the mid-year of the financial
    year's first calendar year (Y-1 for collection year Y), else the latest before it, flagged."""
    out = out.copy()
    by_la = {la: g.sort_values("year") for la, g in pop.groupby("la_code")}

    def figures(la, cy) -> tuple:
        g = by_la.get(la)
        want = int(cy) - 1
        row = None if g is None else g[g["year"] <= want].tail(1)
        if row is None or not len(row):
            return None, None, None
        y = int(row["year"].iloc[0])
        return float(row["population"].iloc[0]), y, y != want

    # once per (LA, year), not per row: the grid holds ~200 rows of each (23 s of 76 at London scale 1)
    pairs = list(zip(out["_la"], out["collection_year"]))
    known = {pair: figures(*pair) for pair in dict.fromkeys(pairs)}
    pop_val, pop_year, pop_flag = (list(col) for col in zip(*(known[p] for p in pairs))) if pairs else ([], [], [])
    out["population_0_17"], out["population_year"], out["population_latest_flag"] = pop_val, pop_year, pop_flag
    return out


def with_template(out: pd.DataFrame, template: pd.DataFrame) -> pd.DataFrame:
    """The LA's own template figures beside the child-level ones (breakdown ``all``)."""
    tpl = template.copy()
    tpl["indicator_id"] = tpl["indicator_id"].astype(int)
    tpl["breakdown"] = ALL
    # For rates the template's denominator is the LA's population, not a count of children.
    tpl.loc[tpl["indicator_id"].map(lambda i: INDICATORS[i][1] == "rate"), "la_reported_denominator"] = None
    return out.merge(tpl, on=EVENT_KEYS, how="left")


def with_region(out: pd.DataFrame, region_key: str | None) -> pd.DataFrame:
    """LA rows (geography columns set) plus the region rows: sums of the LA rows of each area the LAs
    belong to (``cslake.gold.geography``; an LA without a figure contributes nothing)."""
    out = out.rename(columns={"den": "denominator"})
    out["geog_level"] = "la"
    out["geog_code"] = out["_la"]
    out["geog_name"] = out["_la"].map(la_name)
    keys = ["period", "collection_year", "quarter_start", "quarter_end", "indicator_id", "breakdown"]
    sums = area_rows(out, "_la", lambda g: g.groupby(keys, dropna=False).agg(
        number=("number", lambda s: s.sum(min_count=1)), denominator=("denominator", lambda s: s.sum(min_count=1)),
        la_reported_number=("la_reported_number", lambda s: s.sum(min_count=1)),
        la_reported_denominator=("la_reported_denominator", lambda s: s.sum(min_count=1)),
        population_0_17=("population_0_17", lambda s: s.sum(min_count=1)),
        population_year=("population_year", "max"),
        population_latest_flag=("population_latest_flag", "max"),
    ).reset_index(), region_key)
    # la_reported_value has no region figure: left out of sums, concat fills it with NaN
    # (an all-None column would trip pandas' all-NA concat deprecation)
    return pd.concat([out.drop(columns=["_la"]), sums], ignore_index=True)


def with_measures(out: pd.DataFrame) -> pd.DataFrame:
    """Name, kind, percentage, rate per 10,000, the region's template value, the difference and the source."""
    out = out.copy()
    out["indicator"] = out["indicator_id"].map(lambda i: INDICATORS[i][0])
    out["kind"] = ["pct" if p else "rate" for p in is_pct(out["indicator_id"], out["breakdown"])]
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
    return out


def indicators_table(child: pd.DataFrame, presence: pd.DataFrame, population: pd.DataFrame, template: pd.DataFrame,
                     region_key: str | None = None) -> pd.DataFrame:
    """The restricted table from the child-level counts (COUNT_COLUMNS), the returns sent (_la, _year,
    collection), the 0-17 population (la_code, year, population) and the LA template (TEMPLATE_COLUMNS)."""
    years = sorted({int(y) for y in presence["_year"].dropna()})
    las = sorted({str(x) for x in presence["_la"].dropna()})
    quarters = [q for y in years for q in quarters_of(y)]
    child = child.copy()
    child["indicator_id"] = child["indicator_id"].astype(int)
    out = indicator_grid(las, quarters, child).merge(child, on=EVENT_KEYS, how="left")
    out = with_template(with_population(with_availability(out, presence), population), template)
    out = with_measures(with_region(out, region_key))
    out = out[RESTRICTED_COLUMNS].sort_values(["geog_level", "geog_code", "period", "indicator_id", "breakdown"])
    return out.reset_index(drop=True)


# ---------------------------------------------------------------------------
# the stage: read → transform → the restricted table (cslake.gold.build writes it)


def child_counts(spark, inputs: RiiaInputs, quarters: list[Quarter]) -> pd.DataFrame:
    """Every child-level count (events, snapshots, care leavers) collected: COUNT_COLUMNS."""
    qpdf = pd.DataFrame([(q.label, q.end) for q in quarters], columns=["period", "quarter_end"])
    quarter_ends = spark.createDataFrame(qpdf, "period string, quarter_end date")
    counts = []
    events = child_events(inputs, calendar_df(spark))
    if events is not None:
        counts.append(event_counts(events).toPandas())
    snaps = snapshot_counts(inputs, quarter_ends)
    if snaps is not None:
        counts.append(snaps.select(*COUNT_COLUMNS).toPandas())
    leavers = (care_leaver_rows(care_leaver_counts(inputs.oc3, inputs.uasc_any).toPandas(), quarters)
               if inputs.oc3 is not None else pd.DataFrame())
    if len(leavers):
        counts.append(leavers)
    return pd.concat(counts, ignore_index=True) if counts else pd.DataFrame(columns=COUNT_COLUMNS)


def build_riia_indicators(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    """The restricted (unsuppressed) ``riia_indicators`` table as pandas: LA rows and region rows."""
    inputs = read_inputs(lake)
    presence = returns_presence(lake)
    quarters = [q for y in sorted({int(y) for y in presence["_year"].dropna()}) for q in quarters_of(y)]
    child = child_counts(lake.spark, inputs, quarters)
    population = (children_population(inputs.population).toPandas() if inputs.population is not None
                  else pd.DataFrame(columns=["la_code", "year", "population"]))
    template = (template_figures(inputs.template).toPandas() if inputs.template is not None
                else pd.DataFrame(columns=TEMPLATE_COLUMNS))
    return indicators_table(child, presence, population, template, region_key)
