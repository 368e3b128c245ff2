"""Relative rate index (RRI) by ethnic group for each stage of the system.

RRI(group, stage) = (group at stage / group base) / (reference group at stage / reference base),
where the base is the group's child population (comparison "population") or the group
at the previous stage (comparison "previous_stage"). Stages, per LA and collection year
(children counted once per stage, events in the financial year):
population → referral → assessment → s47 → cp_plan → looked_after (any day in the year).
Ethnicity codes map to DfE's five major groups (``cslake.vocab.ethnic_group``: W* White,
M* Mixed, A* and CHNE Asian, B* Black, O*/OOTH Other; REFU, NOBT and blanks are unknown
and left out), the same grouping as the annual tables and the early-warning fairness report. The
reference group is ``rri_reference`` of conf/regions.yaml; the ONS population holds
only the top-level groups, so "WBRI" falls back to White.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import DataFrame, functions as F

from cslake import catalog
from cslake.config import region as region_of
from cslake.gold.geography import area_rows
from cslake.vocab import (CHILD_AGES, collection_year_col, ethnic_group, ethnic_group_col, la_name, year_end_col,
                          year_start_col)

if TYPE_CHECKING:
    from cslake.lake import Lake

STAGES = ["population", "referral", "assessment", "s47", "cp_plan", "looked_after"]
COLUMNS = ["geog_level", "geog_code", "geog_name", "collection_year", "stage", "comparison", "base_stage",
           "ethnic_group", "reference_group", "group_count", "group_base", "reference_count", "reference_base",
           "group_rate", "reference_rate", "rri"]
COUNT_COLUMNS = ["_la", "collection_year", "ethnic_group", "count", "stage"]
# CIN stages: (stage, silver table, the date that puts a child at the stage in a year)
CIN_STAGES = (("referral", catalog.silver.cin_episode, "CINreferralDate"),
              ("assessment", catalog.silver.cin_assessment, "AssessmentActualStartDate"),
              ("s47", catalog.silver.cin_s47, "S47ActualStartDate"),
              ("cp_plan", catalog.silver.cin_cpp, "CPPstartDate"))


def rri_table(counts: pd.DataFrame, reference: str = "White") -> pd.DataFrame:
    """RRI rows from counts (pandas: a few rows per LA, year, stage and group).

    ``counts``: geog_level, geog_code, geog_name, collection_year, stage (one of STAGES,
    "population" included), ethnic_group, count. Returns COLUMNS, one row per
    geography x year x stage (not population) x comparison x group (reference included, RRI 1).
    """
    keys = ["geog_level", "geog_code", "geog_name", "collection_year"]
    wide = counts.pivot_table(index=keys + ["ethnic_group"], columns="stage", values="count", aggfunc="sum")
    wide = wide.reindex(columns=STAGES).fillna(0).reset_index()
    rows = []
    for _, g in wide.groupby(keys, dropna=False):
        ref = g[g["ethnic_group"] == reference]
        if not len(ref):
            continue
        ref = ref.iloc[0]
        for i, stage in enumerate(STAGES[1:], start=1):
            for comparison, base in (("population", "population"), ("previous_stage", STAGES[i - 1])):
                if comparison == "previous_stage" and base == "population":
                    continue
                for _, r in g.iterrows():
                    gc, gb, rc, rb = r[stage], r[base], ref[stage], ref[base]
                    g_rate = gc / gb if gb else None
                    r_rate = rc / rb if rb else None
                    rri = g_rate / r_rate if g_rate is not None and r_rate else None
                    rows.append([r["geog_level"], r["geog_code"], r["geog_name"], r["collection_year"], stage,
                                 comparison, base, r["ethnic_group"], reference, gc, gb, rc, rb, g_rate, r_rate, rri])
    return pd.DataFrame(rows, columns=COLUMNS)


# ---------------------------------------------------------------------------
# pure Spark transforms: silver rows → children per LA, year, stage and group


def with_ethnic_group(df: DataFrame, eth_col: str) -> DataFrame:
    """``df`` plus ``ethnic_group`` (DfE major group of ``eth_col``); rows whose group is not known are left out."""
    return df.withColumn("ethnic_group", ethnic_group_col(eth_col)).where(F.col("ethnic_group").isNotNull())


def _count(df: DataFrame, stage: str) -> DataFrame:
    return (df.groupBy("_la", "collection_year", "ethnic_group").agg(F.count(F.lit(1)).alias("count"))
            .withColumn("stage", F.lit(stage)))


def population_counts(pop: DataFrame) -> DataFrame:
    """ONS mid-year rows (la_code, year, age, ethnicity, population) → children aged 0-17 per LA, group and
    collection year (mid-year Y-1 is collection year Y)."""
    pop = with_ethnic_group(pop.where(F.col("age") <= max(CHILD_AGES)), "ethnicity")
    pop = pop.select(F.col("la_code").alias("_la"), (F.col("year") + 1).alias("collection_year"), "ethnic_group",
                     F.col("population").alias("n"))
    return (pop.groupBy("_la", "collection_year", "ethnic_group").agg(F.sum("n").alias("count"))
            .withColumn("stage", F.lit("population")))


def event_stage_counts(events: DataFrame, child: DataFrame, stage: str, date_col: str) -> DataFrame:
    """Children (_la, LAchildID_hash) with an event dated ``date_col`` in each collection year, by the
    ethnic group of their CIN child record (``child``: _la, LAchildID_hash, Ethnicity)."""
    ev = events.where(F.col(date_col).isNotNull())
    ev = ev.select("_la", "LAchildID_hash", collection_year_col(date_col).alias("collection_year")).distinct()
    groups = with_ethnic_group(child, "Ethnicity").select("_la", "LAchildID_hash", "ethnic_group")
    return _count(ev.join(groups, ["_la", "LAchildID_hash"]), stage)


def looked_after_counts(care: DataFrame, header: DataFrame, years: DataFrame) -> DataFrame:
    """Children looked after on any day of each collection year (``years``: collection_year), by the
    ethnic group of their 903 header (_la, CHILD_hash, ETHNIC)."""
    groups = with_ethnic_group(header, "ETHNIC").select("_la", "CHILD_hash", "ethnic_group").distinct()
    la = care.crossJoin(years).where(
        (F.col("DECOM") <= year_end_col("collection_year"))
        & ((F.col("DEC").isNull() & (year_end_col("_year") >= year_start_col("collection_year")))
           | (F.col("DEC") >= year_start_col("collection_year"))))
    la = la.select("_la", "CHILD_hash", "collection_year").distinct().join(groups, ["_la", "CHILD_hash"])
    return _count(la, "looked_after")


def with_geographies(counts: pd.DataFrame, region_key: str | None) -> pd.DataFrame:
    """LA count rows → LA and region rows (geog_level, geog_code, geog_name), only the years with both a
    population and a stage beyond it, and the LAs with any stage beyond the population."""
    years = (set(counts.loc[counts["stage"] != "population", "collection_year"])
             & set(counts.loc[counts["stage"] == "population", "collection_year"]))
    las = set(counts.loc[counts["stage"] != "population", "_la"])
    counts = counts[counts["collection_year"].isin(years) & counts["_la"].isin(las)].copy()
    counts["geog_level"] = "la"
    counts["geog_code"] = counts["_la"].astype(str)
    counts["geog_name"] = counts["geog_code"].map(la_name)
    region_rows = area_rows(counts, "_la", lambda g: g.groupby(["collection_year", "stage", "ethnic_group"],
                                                               as_index=False)["count"].sum(), region_key)
    return pd.concat([counts.drop(columns=["_la"]), region_rows], ignore_index=True)


# ---------------------------------------------------------------------------
# the stage: read silver → counts → RRI table


def _latest(lake: "Lake", name: str) -> DataFrame | None:
    return lake.read_table(name).where(F.col("_latest")) if lake.exists(name) else None


def stage_counts(lake: "Lake") -> pd.DataFrame:
    """Children per LA, collection year, stage and DfE major ethnic group (silver)."""
    frames = []
    pop = _latest(lake, catalog.silver.context_population_population)
    if pop is not None:
        frames.append(population_counts(pop))
    child = _latest(lake, catalog.silver.cin_child)
    if child is not None:
        for stage, table, col in CIN_STAGES:
            events = _latest(lake, table)
            if events is not None:
                frames.append(event_stage_counts(events, child, stage, col))
    if lake.exists(catalog.silver.care_history) and lake.exists(catalog.silver.ssda903_header):
        header = lake.read_table(catalog.silver.ssda903_header)
        years = header.select(F.col("_year").alias("collection_year")).distinct()
        frames.append(looked_after_counts(lake.read_table(catalog.silver.care_history),
                                          header.where(F.col("_latest")), years))
    if not frames:
        return pd.DataFrame(columns=COUNT_COLUMNS)
    # collected: a few rows per LA, year, stage and group
    return pd.concat([f.toPandas() for f in frames], ignore_index=True)


def build_disproportionality(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    counts = stage_counts(lake)
    if not len(counts):
        return pd.DataFrame(columns=COLUMNS)
    reg = region_of(region_key) if region_key else None
    reference = ethnic_group(reg.rri_reference if reg else "W") or "White"
    return rri_table(with_geographies(counts, region_key), reference)
