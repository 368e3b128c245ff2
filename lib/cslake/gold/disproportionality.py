"""Relative rate index (RRI) by ethnic group for each stage of the system.

RRI(group, stage) = (group at stage / group base) / (reference group at stage / reference base),
where the base is the group's child population (comparison "population") or the group
at the previous stage (comparison "previous_stage"). Stages, per LA and collection year
(children counted once per stage, events in the financial year):
population → referral → assessment → s47 → cp_plan → looked_after (any day in the year).
Ethnicity codes map to the five top-level groups (W* White, M* Mixed, A* and CHNE Asian,
B* Black, O*/OOTH Other; REFU, NOBT and blanks are unknown and left out). The
reference group is ``rri_reference`` of conf/regions.yaml; the ONS population holds
only the top-level groups, so "WBRI" falls back to White.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from cslake.lake import Lake

STAGES = ["population", "referral", "assessment", "s47", "cp_plan", "looked_after"]
GROUPS = {"W": "White", "M": "Mixed", "A": "Asian", "B": "Black", "O": "Other"}
COLUMNS = ["geog_level", "geog_code", "geog_name", "collection_year", "stage", "comparison", "base_stage",
           "ethnic_group", "reference_group", "group_count", "group_base", "reference_count", "reference_base",
           "group_rate", "reference_rate", "rri"]


def ethnic_group(code: str | None) -> str | None:
    """Top-level group of a DfE ethnicity code (or of a one-letter ONS group)."""
    if code is None:
        return None
    c = str(code).strip().upper()
    if not c or c in ("REFU", "NOBT"):
        return None
    if c == "CHNE":
        return "Asian"
    return GROUPS.get(c[0])


def rri_table(counts: pd.DataFrame, reference: str = "White") -> pd.DataFrame:
    """RRI rows from counts.

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


def stage_counts(lake: "Lake") -> pd.DataFrame:
    """Children per LA, collection year, stage and top-level ethnic group (silver)."""
    from pyspark.sql import functions as F

    spark = lake.spark
    frames = []
    group_map = spark.createDataFrame(
        [(c, g) for c, g in GROUPS.items()], "initial string, ethnic_group string")

    def fy_year(col):
        return F.year(col) + F.when(F.month(col) >= 4, 1).otherwise(0)

    def with_group(df, eth_col):
        e = F.upper(F.trim(F.col(eth_col)))
        init = F.when(e == "CHNE", F.lit("A")).when(e.isin("REFU", "NOBT"), F.lit(None)).otherwise(F.substring(e, 1, 1))
        return df.withColumn("initial", init).join(group_map, "initial")

    if lake.exists("silver.context_population_population"):
        pop = lake.read_table("silver.context_population_population").where(F.col("_latest") & (F.col("age") <= 17))
        pop = with_group(pop, "ethnicity").select(F.col("la_code").alias("_la"),
                                                  (F.col("year") + 1).alias("collection_year"), "ethnic_group",
                                                  F.col("population").alias("n"))
        frames.append(pop.groupBy("_la", "collection_year", "ethnic_group").agg(F.sum("n").alias("count"))
                      .withColumn("stage", F.lit("population")))
    if lake.exists("silver.cin_child"):
        child = lake.read_table("silver.cin_child").where(F.col("_latest"))
        child = with_group(child, "Ethnicity").select("_la", "LAchildID_hash", "ethnic_group")
        for stage, table, col in (("referral", "silver.cin_episode", "CINreferralDate"),
                                  ("assessment", "silver.cin_assessment", "AssessmentActualStartDate"),
                                  ("s47", "silver.cin_s47", "S47ActualStartDate"),
                                  ("cp_plan", "silver.cin_cpp", "CPPstartDate")):
            if not lake.exists(table):
                continue
            ev = lake.read_table(table).where(F.col("_latest") & F.col(col).isNotNull())
            ev = ev.select("_la", "LAchildID_hash", fy_year(F.col(col)).alias("collection_year")).distinct()
            ev = ev.join(child, ["_la", "LAchildID_hash"])
            frames.append(ev.groupBy("_la", "collection_year", "ethnic_group").agg(F.count(F.lit(1)).alias("count"))
                          .withColumn("stage", F.lit(stage)))
    if lake.exists("silver.care_history") and lake.exists("silver.ssda903_header"):
        hdr = lake.read_table("silver.ssda903_header").where(F.col("_latest"))
        hdr = with_group(hdr, "ETHNIC").select("_la", "CHILD_hash", "ethnic_group").distinct()
        care = lake.read_table("silver.care_history")
        years = lake.read_table("silver.ssda903_header").select(F.col("_year").alias("collection_year")).distinct()
        la = care.crossJoin(years).where(
            (F.col("DECOM") <= F.make_date(F.col("collection_year"), F.lit(3), F.lit(31)))
            & (F.col("DEC").isNull() | (F.col("DEC") >= F.make_date(F.col("collection_year") - 1, F.lit(4), F.lit(1)))))
        la = la.select("_la", "CHILD_hash", "collection_year").distinct().join(hdr, ["_la", "CHILD_hash"])
        frames.append(la.groupBy("_la", "collection_year", "ethnic_group").agg(F.count(F.lit(1)).alias("count"))
                      .withColumn("stage", F.lit("looked_after")))
    if not frames:
        return pd.DataFrame(columns=["_la", "collection_year", "ethnic_group", "count", "stage"])
    return pd.concat([f.toPandas() for f in frames], ignore_index=True)


def build_disproportionality(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    from cslake.config import local_authorities, region as region_of

    counts = stage_counts(lake)
    if not len(counts):
        return pd.DataFrame(columns=COLUMNS)
    known = local_authorities()
    reg = region_of(region_key) if region_key else None
    reference = ethnic_group(reg.rri_reference if reg else "W") or "White"
    # Only years with at least one stage beyond the population make sense.
    years = (set(counts.loc[counts["stage"] != "population", "collection_year"])
             & set(counts.loc[counts["stage"] == "population", "collection_year"]))
    las = set(counts.loc[counts["stage"] != "population", "_la"])
    counts = counts[counts["collection_year"].isin(years) & counts["_la"].isin(las)].copy()
    counts["geog_level"] = "la"
    counts["geog_code"] = counts["_la"].astype(str)
    counts["geog_name"] = counts["geog_code"].map(lambda c: known[c].name if c in known else c)
    region_rows = counts.groupby(["collection_year", "stage", "ethnic_group"], as_index=False)["count"].sum()
    region_rows["geog_level"] = "region"
    region_rows["geog_code"] = region_key or "region"
    region_rows["geog_name"] = reg.name if reg else "Region"
    allc = pd.concat([counts.drop(columns=["_la"]), region_rows], ignore_index=True)
    return rri_table(allc, reference)
