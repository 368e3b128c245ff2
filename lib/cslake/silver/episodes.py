"""SSDA903 episodes chained across years into one care history per child.

Each year's episodes file is a snapshot at 31 March: an episode open then appears
again, closed or still open, in the next year's file. The history takes the latest
submission of each episode (``_latest`` in silver: LA + child + DECOM), orders a
child's episodes by start, and applies the sector's repairs, each flagged with its
rule in ``repair_rule`` and in ``quarantine.row_flags``:

- SSDA903_EPI_OPEN: an episode with no end followed by another episode is closed at
  the next episode's start (REC X1); with no next episode, if the LA has sent a
  later year's return (so the episode should have been there), at 31 March of its
  year (REC E99, "closed by the pipeline"). An open episode in the LA's latest year
  is simply still open.
- SSDA903_EPI_OVERLAP: an episode ending after the next one starts is cut at the
  next start.
"""

from __future__ import annotations

from typing import Any

from cslake.lake import Lake
from cslake.tables import TableSpec, TableSpecError, register_table_spec, table_spec

EPISODE_COLUMNS = ["RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REASON_PLACE_CHANGE",
                   "HOME_POST_sector", "HOME_POST_district", "HOME_POST_lsoa", "HOME_POST_ward",
                   "PL_POST_sector", "PL_POST_district", "PL_POST_lsoa", "PL_POST_ward", "URN"]

CARE_HISTORY_SPEC = {
    "description": "One row per SSDA903 episode of care per child, chained across years (latest submission of each episode), with the sector's open/overlap repairs flagged.",
    "keys": ["_la", "CHILD_hash", "DECOM"],
    "columns": [
        {"name": "_la", "type": "string", "nullable": False, "description": "LA holding the episode"},
        {"name": "CHILD_hash", "type": "string", "description": "Keyed hash of the LA child id (LA-scoped)"},
        {"name": "episode_no", "type": "int", "nullable": False, "description": "1 = the child's first episode in the history"},
        {"name": "DECOM", "type": "date", "nullable": False, "description": "Episode start"},
        {"name": "DEC", "type": "date", "description": "Episode end after repair (null: still open)"},
        {"name": "REC", "type": "string", "description": "Reason episode ceased after repair (X1/E99 when the pipeline closed it)"},
        {"name": "DEC_as_sent", "type": "string", "description": "DEC as the LA sent it (date as text), before repair"},
        {"name": "REC_as_sent", "type": "string", "description": "REC as the LA sent it"},
        {"name": "repair_rule", "type": "string", "description": "SSDA903_EPI_OPEN | SSDA903_EPI_OVERLAP | null"},
        {"name": "RNE", "type": "string"}, {"name": "LS", "type": "string"}, {"name": "CIN", "type": "string"},
        {"name": "PLACE", "type": "string"}, {"name": "PLACE_PROVIDER", "type": "string"},
        {"name": "REASON_PLACE_CHANGE", "type": "string"},
        {"name": "HOME_POST_sector", "type": "string"}, {"name": "HOME_POST_district", "type": "string"},
        {"name": "HOME_POST_lsoa", "type": "string"}, {"name": "HOME_POST_ward", "type": "string"},
        {"name": "PL_POST_sector", "type": "string"}, {"name": "PL_POST_district", "type": "string"},
        {"name": "PL_POST_lsoa", "type": "string"}, {"name": "PL_POST_ward", "type": "string"},
        {"name": "URN", "type": "string"},
        {"name": "_year", "type": "int", "description": "Collection year of the submission used"},
        {"name": "_file_sha256", "type": "string", "nullable": False},
        {"name": "_row", "type": "bigint", "nullable": False},
    ],
}


def _spec(name: str) -> TableSpec:
    try:
        return table_spec(name)
    except TableSpecError:
        return register_table_spec(TableSpec.from_dict(name, CARE_HISTORY_SPEC))


def chain_episodes(episodes, next_start_code: str = "X1", year_end_code: str = "E99"):
    """The repair itself, on a DataFrame of de-duplicated episodes (one per LA+child+DECOM)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    w = Window.partitionBy("_la", "CHILD_hash").orderBy("DECOM", "_year", "_row")
    la_last_year = F.max("_year").over(Window.partitionBy("_la"))
    nxt = F.lead("DECOM").over(w)
    df = episodes.select("*", nxt.alias("_next"), la_last_year.alias("_la_last"),
                         F.row_number().over(w).alias("episode_no"))
    open_ = F.col("DEC").isNull()
    year_end = F.make_date(F.col("_year"), F.lit(3), F.lit(31))
    close_next = open_ & F.col("_next").isNotNull()
    close_year = open_ & F.col("_next").isNull() & (F.col("_year") < F.col("_la_last"))
    overlap = ~open_ & F.col("_next").isNotNull() & (F.col("DEC") > F.col("_next"))
    rule = (F.when(close_next | close_year, F.lit("SSDA903_EPI_OPEN"))
            .when(overlap, F.lit("SSDA903_EPI_OVERLAP")))
    dec = (F.when(close_next, F.col("_next")).when(close_year, year_end)
           .when(overlap, F.col("_next")).otherwise(F.col("DEC")))
    rec = (F.when(close_next, F.lit(next_start_code)).when(close_year, F.lit(year_end_code))
           .otherwise(F.col("REC")))
    return df.select("*", dec.alias("_dec"), rec.alias("_rec"), rule.alias("repair_rule"))


def build_care_history(lake: Lake, conf: dict[str, Any], run_id: str) -> dict[str, Any]:
    from pyspark.sql import functions as F

    name = conf.get("table", "silver.care_history")
    spec = _spec(name)
    src = lake.read_table("silver." + conf.get("source", "ssda903_episodes"))
    episodes = src.filter(F.col("_latest") & F.col("DECOM").isNotNull() & F.col("_la").isNotNull())
    chained = chain_episodes(episodes, conf.get("closed_at_next_start", "X1"), conf.get("closed_at_year_end", "E99"))
    out = chained.select(
        "_la", "CHILD_hash", F.col("episode_no").cast("int").alias("episode_no"), "DECOM",
        F.col("_dec").alias("DEC"), F.col("_rec").alias("REC"),
        F.date_format("DEC", "dd/MM/yyyy").alias("DEC_as_sent"), F.col("REC").alias("REC_as_sent"),
        "repair_rule", *EPISODE_COLUMNS, "_year", "_file_sha256", "_row")
    lake.write_table(out.select(*spec.column_names), name, mode="overwrite")

    hist = lake.read_table(name)
    files = (lake.read_table("bronze.files").filter(F.col("outcome") == "landed")
             .select(F.col("sha256").alias("_file_sha256"), F.col("path").alias("source_path"))
             .dropDuplicates(["_file_sha256"]))
    rules_msg = {"SSDA903_EPI_OPEN": "Episode left open and followed by a later one (or by a later year's return): closed by the pipeline",
                 "SSDA903_EPI_OVERLAP": "Episode overlaps the next episode: cut at the next episode's start"}
    msg = F.lit(None).cast("string")
    for k, v in rules_msg.items():
        msg = F.when(F.col("repair_rule") == k, F.lit(v)).otherwise(msg)
    flags = (hist.filter(F.col("repair_rule").isNotNull()).join(files, "_file_sha256", "left")
             .select(F.lit(name).alias("table"), F.col("repair_rule").alias("rule_code"),
                     F.lit("repair").alias("outcome"),
                     F.concat(F.lit("DEC: "), msg).alias("message"),
                     F.lit("DEC").alias("column"), F.col("DEC_as_sent").alias("value"),
                     F.concat_ws(" ", F.date_format("DEC", "dd/MM/yyyy"), F.col("REC")).alias("repaired_to"),
                     F.col("_file_sha256").alias("source_file_sha256"), "source_path",
                     F.col("_row").alias("row_number"), F.col("_la").alias("la"),
                     F.lit("ssda903").alias("collection"), F.col("_year").alias("year"), F.lit(run_id).alias("run_id")))
    counts = hist.groupBy("repair_rule").count().toPandas()
    repairs = {r: int(n) for r, n in zip(counts.repair_rule, counts["count"]) if r is not None}
    return {"rows": int(counts["count"].sum()) if len(counts) else 0, "repairs": repairs, "flags": flags}
