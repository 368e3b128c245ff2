"""DfE's headline measures for SSDA903 and CIN, per LA and collection year, in two views.

Every measure here follows the Department for Education's definitions for its national
statistics, written down once beside the code that computes it (``MEASURES`` holds the
short form that goes into the table; the long form is below). Sources:

- [CLA-M] DfE, *Children looked after in England including adoptions*, methodology
  (explore-education-statistics.service.gov.uk), sections "Children looked after at
  31 March", "Children starting / ceasing to be looked after", "Short-term placements";
  and the national tables' footnotes: "figures exclude children looked after under an
  agreed series of short-term placements", "only the last occasion on which a child
  ceased to be looked after in the year has been counted" (and the first / last
  occasion a child started).
- [903-G] DfE, *Children looked after return (SSDA903): guide* for each year, sections
  "Episodes of care" (a new episode on each change of legal status or placement, RNE;
  a period of care starts with RNE S; REC X1 ends an episode without ending the period),
  "Legal status" (V3 / V4: an agreed series of short-term placements, short breaks) and
  "Care leavers" (the OC3 cohort: young people aged 19, 20 or 21 in the year who were
  looked after for 13 weeks after their 14th birthday including some time after 16).
- [CIN-M] DfE, *Children in need*, methodology, sections "Referrals" (re-referrals: a
  referral within 12 months of a previous referral of the same child), "Assessments"
  (completed: authorised in the year), "Section 47 enquiries and initial child protection
  conferences" and "Child protection plans" (at 31 March); the CIN census guide for each
  field's meaning.

SSDA903, per LA and collection year Y (1 April Y-1 .. 31 March Y); every count is of
**children** (distinct CHILD within the LA), never of episodes, and **short-break care
(legal status V3/V4) is excluded from all of them** [CLA-M "Short-term placements"]:

- ``cla_31_march``: children with an episode open on 31 March Y (DECOM on or before it,
  DEC blank or after it). A DEC of 31 March means the child ceased that day and is *not*
  looked after at 31 March [903-G]. An episode left open in a return counts as open only up
  to 31 March of the last return that holds it (never beyond the evidence).
- ``cla_started``: children who started a period of care in the year: an episode with RNE
  S and DECOM in the year; a child with two periods of care in the year counts once.
- ``cla_ceased``: children who ceased to be looked after in the year: an episode with DEC
  in the year and a REC other than X1 (X1: a new episode of the same period starts the
  same day) [903-G]; once per child. A blank REC (or a REC the pipeline nulled) is not a
  cessation: no return says so. An open episode is never a cessation (no invented DEC).
- ``cla_12_months``: children looked after at 31 March Y continuously for at least 12
  months: their current period of care (non-short-break episodes joined where one ends
  with X1 or no REC on or after the day the next starts) began on or before 1 April Y-1.
- ``care_leavers``: children in the year's OC3 table (the care-leaver cohort aged 19-21).
- findings (counted on the returns as submitted, shown to the LA, never events):
  ``finding_missing_from_next_return``: children looked after at 31 March Y in Y's return
  with no episode in the LA's Y+1 return (the LA sent one); ``finding_dec_after_31_march``:
  episodes in Y's return ending after 31 March Y (the return cannot know that date).

CIN, per LA and collection year Y [CIN-M]:

- ``referrals``: referrals (CIN episodes) with CINreferralDate in the year.
- ``re_referrals``: of those, referrals with another referral of the same child in the
  same LA in the 12 months before (``add_months(date, -12) <= earlier < date``).
- ``assessments``: assessments completed (AssessmentAuthorisationDate) in the year.
- ``s47``: section 47 enquiries started (S47ActualStartDate) in the year.
- ``icpc``: initial child protection conferences (DateOfInitialCPC of the S47) in the year.
- ``cpp_31_march``: children on a CP plan at 31 March Y (start on or before, end blank or
  after; a plan left open counts only up to the last return that holds it).

Two views, side by side in ``gold_restricted.dfe_measures`` (shared/specs/returns.md):

- **as submitted**: year Y's figures from year Y's return only, as the LA sent it
  (comparable with DfE's published tables and the LA's own figures). A look-back (a
  previous referral) reads the LA's returns up to and including Y's, as sent.
- **as corrected**: the chained history, where later returns correct earlier ones:
  SSDA903 from ``silver.care_history`` (the latest submission of each episode, repairs
  applied), CIN from the latest submission of each record (``_latest``), events counted in
  the year their date falls in, whichever return sent them.

``difference`` = as corrected - as submitted; ``differs`` is the finding: the share
``difference / as_submitted`` beyond ``difference_share_threshold`` (conf/gold.yaml), or
any corrected figure where the LA's own return said 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from cslake import catalog
from cslake.gold.common import returns_presence, with_geography
from cslake.gold.conf import gold_conf
from cslake.vocab import collection_year_col, is_short_break_col, year_end_col, year_start_col

if TYPE_CHECKING:
    from cslake.lake import Lake

SUBMITTED, CORRECTED = "as_submitted", "as_corrected"
# measure: (collection, unit, definition as shown in the table)
MEASURES: dict[str, tuple[str, str, str]] = {
    "cla_31_march": ("ssda903", "children", "Looked after at 31 March (episode open on 31 March; DEC 31 March = not "
                                            "looked after); short breaks V3/V4 excluded [DfE CLA methodology]"),
    "cla_started": ("ssda903", "children", "Started a period of care in the year (RNE S); once per child; short "
                                           "breaks excluded [DfE CLA methodology; SSDA903 guide, episodes]"),
    "cla_ceased": ("ssda903", "children", "Ceased to be looked after in the year (DEC in the year, REC not X1); "
                                          "once per child; short breaks excluded [DfE CLA methodology]"),
    "cla_12_months": ("ssda903", "children", "Looked after at 31 March continuously for 12 months (period of care "
                                             "began by 1 April of the year before); short breaks excluded"),
    "care_leavers": ("ssda903", "children", "Care leavers aged 19-21: the year's OC3 cohort [SSDA903 guide, OC3]"),
    "finding_missing_from_next_return": ("ssda903", "children",
                                         "Finding: looked after at 31 March in this return, absent from the LA's "
                                         "next return (not counted as ceasing)"),
    "finding_dec_after_31_march": ("ssda903", "episodes", "Finding: episodes in this return ending after its 31 March"),
    "referrals": ("cin", "referrals", "Referrals with CINreferralDate in the year [DfE CIN methodology]"),
    "re_referrals": ("cin", "referrals", "Referrals in the year within 12 months of an earlier referral of the same "
                                         "child in the same LA [DfE CIN methodology]"),
    "assessments": ("cin", "assessments", "Assessments completed (authorised) in the year [DfE CIN methodology]"),
    "s47": ("cin", "enquiries", "Section 47 enquiries started in the year [DfE CIN methodology]"),
    "icpc": ("cin", "conferences", "Initial child protection conferences in the year [DfE CIN methodology]"),
    "cpp_31_march": ("cin", "children", "Children on a child protection plan at 31 March [DfE CIN methodology]"),
}
FINDINGS = ("finding_missing_from_next_return", "finding_dec_after_31_march")
COUNT_COLUMNS = ["_la", "collection_year", "measure", "value"]
COLUMNS = ["geog_level", "geog_code", "geog_name", "collection_year", "collection", "measure", "unit", "definition",
           "as_submitted", "as_corrected", "difference", "difference_share", "differs"]
DEFAULT_THRESHOLD = 0.05


# ---------------------------------------------------------------------------
# shared definitions (Spark columns), also used by riia and disproportionality


def last_known_day(year: Column | str = "_year") -> Column:
    """31 March of ``year``: the last day the return of that year can say an open episode or plan is open."""
    return year_end_col(year)


def open_on(day: Column, start: str, end: str, seen_year: Column | str = "_year") -> Column:
    """Open on ``day``: started on or before it; ended after it, or not ended and held open by a return of
    ``seen_year`` >= day's collection year (an end on ``day`` itself is not open: a DEC of 31 March means
    not looked after at 31 March)."""
    return ((F.col(start) <= day)
            & ((F.col(end).isNull() & (last_known_day(seen_year) >= day)) | (F.col(end) > day)))


def in_year(date_col: str, year: Column | str = "ref_year") -> Column:
    return F.col(date_col).between(year_start_col(year), year_end_col(year))


def open_end(care: pd.DataFrame) -> pd.Series:
    """pandas: each episode's end for "open on day d" checks (open when DECOM <= d < end): DEC, or for an
    episode left open, 1 April after the last 31 March a return holds it open (of its ``_year``)."""
    dec = pd.to_datetime(care["DEC"])
    return dec.where(dec.notna(), pd.to_datetime(care["_year"].astype(int).astype(str) + "-04-01"))


def last_day_in_care(care: pd.DataFrame) -> pd.Series:
    """pandas: each episode's last day for "in care on any day of a year" checks: DEC, or for an episode
    left open, 31 March of the last return holding it (of its ``_year``)."""
    dec = pd.to_datetime(care["DEC"])
    return dec.where(dec.notna(), pd.to_datetime(care["_year"].astype(int).astype(str) + "-03-31"))


# ---------------------------------------------------------------------------
# SSDA903


def with_period_start(eps: DataFrame) -> DataFrame:
    """Non-short-break episodes (_la, ref_year, CHILD_hash, DECOM, DEC, REC, ...) with ``period_start``: the
    start of the period of care each belongs to. An episode continues the previous one when that one
    ended (REC X1 or blank) on or after this start, or was left open."""
    nsb = eps.where(~is_short_break_col("LS"))
    w = Window.partitionBy("_la", "ref_year", "CHILD_hash").orderBy("DECOM", "DEC")
    prev_dec, prev_rec = F.lag("DEC").over(w), F.lag("REC").over(w)
    continues = (F.lag("DECOM").over(w).isNotNull() & (prev_dec.isNull() | (prev_dec >= F.col("DECOM")))
                 & (F.coalesce(prev_rec, F.lit("X1")) == "X1"))
    df = nsb.withColumn("_new_period", F.when(continues, 0).otherwise(1))
    df = df.withColumn("_period", F.sum("_new_period").over(w.rowsBetween(Window.unboundedPreceding, 0)))
    return df.withColumn("period_start", F.min("DECOM").over(Window.partitionBy("_la", "ref_year", "CHILD_hash",
                                                                                "_period")))


def cla_counts(eps: DataFrame) -> DataFrame:
    """Episodes (_la, ref_year, CHILD_hash, DECOM, DEC, REC, RNE, LS, seen_year) → COUNT_COLUMNS rows of
    cla_31_march, cla_started, cla_ceased, cla_12_months per (_la, ref_year)."""
    df = with_period_start(eps)
    ys, ye = year_start_col("ref_year"), year_end_col("ref_year")
    open_ = open_on(ye, "DECOM", "DEC", "seen_year")
    started = (F.col("RNE") == "S") & in_year("DECOM")
    ceased = in_year("DEC") & F.col("REC").isNotNull() & (F.col("REC") != "X1")
    child = F.col("CHILD_hash")
    agg = df.groupBy("_la", "ref_year").agg(
        F.countDistinct(F.when(open_, child)).alias("cla_31_march"),
        F.countDistinct(F.when(started, child)).alias("cla_started"),
        F.countDistinct(F.when(ceased, child)).alias("cla_ceased"),
        F.countDistinct(F.when(open_ & (F.col("period_start") <= ys), child)).alias("cla_12_months"))
    return long_counts(agg, ["cla_31_march", "cla_started", "cla_ceased", "cla_12_months"])


def long_counts(wide: DataFrame, measures: list[str]) -> DataFrame:
    """(_la, ref_year, <measure>...) → COUNT_COLUMNS rows, one per measure."""
    parts = [wide.select("_la", F.col("ref_year").cast("int").alias("collection_year"), F.lit(m).alias("measure"),
                         F.col(m).cast("bigint").alias("value")) for m in measures]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def submitted_episodes(episodes: DataFrame) -> DataFrame:
    """Every return's episodes as sent: ref_year = seen_year = the return's year."""
    return episodes.select("_la", "CHILD_hash", "DECOM", "DEC", "REC", "RNE", "LS",
                           F.col("_year").alias("ref_year"), F.col("_year").alias("seen_year"))


def corrected_episodes(care: DataFrame, years: DataFrame) -> DataFrame:
    """The care history for each year the LA sent a return (``years``: _la, ref_year); seen_year = the
    year of the latest return holding the episode."""
    return care.select("_la", "CHILD_hash", "DECOM", "DEC", "REC", "RNE", "LS",
                       F.col("_year").alias("seen_year")).join(years, "_la")


def findings_903(sub: DataFrame, years: DataFrame) -> DataFrame:
    """The two findings, from the returns as submitted (``sub``: submitted_episodes; ``years``: _la, ref_year)."""
    ye = year_end_col("ref_year")
    at_end = sub.where(~is_short_break_col("LS") & open_on(ye, "DECOM", "DEC", "seen_year"))
    nxt = sub.select("_la", (F.col("ref_year") - 1).alias("ref_year"), "CHILD_hash").distinct()
    sent_next = years.select("_la", (F.col("ref_year") - 1).alias("ref_year"))
    missing = (at_end.select("_la", "ref_year", "CHILD_hash").distinct().join(sent_next, ["_la", "ref_year"], "left_semi")
               .join(nxt, ["_la", "ref_year", "CHILD_hash"], "left_anti")
               .groupBy("_la", "ref_year").agg(F.count(F.lit(1)).alias("finding_missing_from_next_return")))
    late = (sub.where(F.col("DEC") > ye).groupBy("_la", "ref_year")
            .agg(F.count(F.lit(1)).alias("finding_dec_after_31_march")))
    return long_counts(missing, ["finding_missing_from_next_return"]).unionByName(
        long_counts(late, ["finding_dec_after_31_march"]))


def care_leaver_counts(oc3: DataFrame) -> DataFrame:
    """The OC3 cohort of each return: distinct children per (_la, _year)."""
    wide = oc3.select("_la", F.col("_year").alias("ref_year"), "CHILD_hash").distinct().groupBy("_la", "ref_year").agg(
        F.count(F.lit(1)).alias("care_leavers"))
    return long_counts(wide, ["care_leavers"])


# ---------------------------------------------------------------------------
# CIN


def event_counts(df: DataFrame, date_col: str, measure: str) -> DataFrame:
    """Rows (_la, ref_year, ``date_col``) whose date falls in ref_year → one count per (_la, ref_year)."""
    wide = df.where(in_year(date_col)).groupBy("_la", "ref_year").agg(F.count(F.lit(1)).alias(measure))
    return long_counts(wide, [measure])


def re_referral_counts(refs: DataFrame, earlier: DataFrame, submitted: bool) -> DataFrame:
    """Referrals of ``refs`` (_la, ref_year, LAchildID_hash, CINreferralDate, in their year) with an earlier
    referral of the same child in the same LA in the 12 months before, among ``earlier`` (_la,
    LAchildID_hash, CINreferralDate, _year). As submitted, only returns up to ref_year are read."""
    e = earlier.select(F.col("_la").alias("e_la"), F.col("LAchildID_hash").alias("e_child"),
                       F.col("CINreferralDate").alias("e_date"), F.col("_year").alias("e_year"))
    r = refs.where(in_year("CINreferralDate") & F.col("LAchildID_hash").isNotNull())
    on = ((F.col("_la") == F.col("e_la")) & (F.col("LAchildID_hash") == F.col("e_child"))
          & (F.col("e_date") < F.col("CINreferralDate"))
          & (F.col("e_date") >= F.add_months(F.col("CINreferralDate"), -12)))
    if submitted:
        on = on & (F.col("e_year") <= F.col("ref_year"))
    wide = r.join(e, on, "left_semi").groupBy("_la", "ref_year").agg(F.count(F.lit(1)).alias("re_referrals"))
    return long_counts(wide, ["re_referrals"])


def cpp_counts(plans: DataFrame) -> DataFrame:
    """Children on a plan at 31 March of ref_year (plans: _la, ref_year, seen_year, LAchildID_hash, dates)."""
    open_ = open_on(year_end_col("ref_year"), "CPPstartDate", "CPPendDate", "seen_year")
    wide = plans.where(open_).groupBy("_la", "ref_year").agg(
        F.countDistinct("LAchildID_hash").alias("cpp_31_march"))
    return long_counts(wide, ["cpp_31_march"])


def cin_view(tables: dict[str, DataFrame], view: str, years: DataFrame) -> list[DataFrame]:
    """The CIN counts of one view. ``tables``: cin_episode, cin_assessment, cin_s47, cin_cpp (every
    submission, with ``_latest``); ``years``: (_la, ref_year) of the CIN returns sent."""
    def rows(name: str, date_col: str | None) -> DataFrame:
        df = tables[name]
        if view == SUBMITTED:
            return df.withColumn("ref_year", F.col("_year")).withColumn("seen_year", F.col("_year"))
        df = df.where(F.col("_latest")).withColumn("seen_year", F.col("_year"))
        if date_col is None:
            return df.join(years, "_la")
        return df.withColumn("ref_year", collection_year_col(date_col)).join(years, ["_la", "ref_year"], "left_semi")

    out = []
    if "cin_episode" in tables:
        refs = rows("cin_episode", "CINreferralDate")
        earlier = tables["cin_episode"] if view == SUBMITTED else tables["cin_episode"].where(F.col("_latest"))
        out += [event_counts(refs, "CINreferralDate", "referrals"),
                re_referral_counts(refs, earlier, view == SUBMITTED)]
    if "cin_assessment" in tables:
        out.append(event_counts(rows("cin_assessment", "AssessmentAuthorisationDate"),
                                "AssessmentAuthorisationDate", "assessments"))
    if "cin_s47" in tables:
        out += [event_counts(rows("cin_s47", "S47ActualStartDate"), "S47ActualStartDate", "s47"),
                event_counts(rows("cin_s47", "DateOfInitialCPC"), "DateOfInitialCPC", "icpc")]
    if "cin_cpp" in tables:
        out.append(cpp_counts(rows("cin_cpp", None)))
    return out


def ssda903_view(tables: dict[str, DataFrame], view: str, years: DataFrame) -> list[DataFrame]:
    """The SSDA903 counts of one view. ``tables``: ssda903_episodes (every submission), care_history,
    ssda903_oc3; ``years``: (_la, ref_year) of the 903 returns sent."""
    out = []
    if "ssda903_episodes" in tables:
        sub = submitted_episodes(tables["ssda903_episodes"])
        if view == SUBMITTED:
            out += [cla_counts(sub), findings_903(sub, years)]
        elif "care_history" in tables:
            out.append(cla_counts(corrected_episodes(tables["care_history"], years)))
    if "ssda903_oc3" in tables:
        # An annual cohort: no later return re-sends it, so both views read each year's own OC3.
        out.append(care_leaver_counts(tables["ssda903_oc3"]))
    return out


# ---------------------------------------------------------------------------
# the table (pandas on the driver: LA x year x measure, small by nature)


def measures_table(submitted: pd.DataFrame, corrected: pd.DataFrame, presence: pd.DataFrame,
                   threshold: float = DEFAULT_THRESHOLD, region_key: str | None = None) -> pd.DataFrame:
    """The two views' counts (COUNT_COLUMNS each) on the grid of returns sent (presence: _la, _year,
    collection) → COLUMNS: LA rows and region rows (sums), the difference and the finding."""
    grid = pd.DataFrame([(str(la), int(y), m) for la, y, c in presence[["_la", "_year", "collection"]].itertuples(index=False)
                         for m, (coll, _, _) in MEASURES.items() if coll == c],
                        columns=["_la", "collection_year", "measure"]).drop_duplicates()
    keys = ["_la", "collection_year", "measure"]
    out = grid
    for name, counts in ((SUBMITTED, submitted), (CORRECTED, corrected)):
        c = counts.rename(columns={"value": name}).astype({"collection_year": int})
        out = out.merge(c[keys + [name]], on=keys, how="left")
        out[name] = out[name].fillna(0).astype(float)
    out.loc[out["measure"].isin(FINDINGS), CORRECTED] = None  # findings are about the returns as sent
    out = with_geography(out, ["collection_year", "measure"], [SUBMITTED, CORRECTED], region_key)
    out["collection"] = out["measure"].map(lambda m: MEASURES[m][0])
    out["unit"] = out["measure"].map(lambda m: MEASURES[m][1])
    out["definition"] = out["measure"].map(lambda m: MEASURES[m][2])
    out["difference"] = out[CORRECTED] - out[SUBMITTED]
    out["difference_share"] = (out["difference"] / out[SUBMITTED]).where(out[SUBMITTED] > 0)
    out["differs"] = (out["difference_share"].abs() > threshold) | ((out[SUBMITTED] == 0) & (out[CORRECTED] > 0))
    out.loc[out[CORRECTED].isna(), "differs"] = False
    out["differs"] = out["differs"].astype(bool)
    order = {m: i for i, m in enumerate(MEASURES)}
    out = out.assign(_o=out["measure"].map(order)).sort_values(["geog_level", "geog_code", "collection_year", "_o"])
    return out[COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------------
# the stage


TABLES = {"ssda903_episodes": catalog.silver.ssda903_episodes, "care_history": catalog.silver.care_history,
          "ssda903_oc3": catalog.silver.ssda903_oc3, "cin_episode": catalog.silver.cin_episode,
          "cin_assessment": catalog.silver.cin_assessment, "cin_s47": catalog.silver.cin_s47,
          "cin_cpp": catalog.silver.cin_cpp}


def view_counts(spark, tables: dict[str, DataFrame], presence: pd.DataFrame, view: str) -> pd.DataFrame:
    """COUNT_COLUMNS of one view, collected."""
    parts = []
    for coll, fn in (("ssda903", ssda903_view), ("cin", cin_view)):
        p = presence[presence["collection"] == coll]
        if not len(p):
            continue
        years = spark.createDataFrame(pd.DataFrame({"_la": p["_la"].astype(str), "ref_year": p["_year"].astype(int)})
                                      .drop_duplicates(), "_la string, ref_year int")
        parts += fn(tables, view, years)
    if not parts:
        return pd.DataFrame(columns=COUNT_COLUMNS)
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.toPandas()


def difference_threshold() -> float:
    conf = (gold_conf().get("tables") or {}).get("dfe_measures") or {}
    return float(conf.get("difference_share_threshold", DEFAULT_THRESHOLD))


def build_dfe_measures(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    """The restricted ``dfe_measures`` table: both views per LA and year, and the region."""
    tables = {k: lake.read_table(v) for k, v in TABLES.items() if lake.exists(v)}
    presence = returns_presence(lake, ["ssda903", "cin"])
    if not len(presence) or not tables:
        return pd.DataFrame(columns=COLUMNS)
    sub = view_counts(lake.spark, tables, presence, SUBMITTED)
    cor = view_counts(lake.spark, tables, presence, CORRECTED)
    return measures_table(sub, cor, presence, difference_threshold(), region_key)
