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

from pyspark.sql import Window
from pyspark.sql import functions as F

from cslake import catalog
from cslake.lake import Lake
from cslake.catalog import table_spec
from cslake.tables import TableSpec

EPISODE_COLUMNS = ["RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REASON_PLACE_CHANGE",
                   "HOME_POST_sector", "HOME_POST_district", "HOME_POST_lsoa", "HOME_POST_ward",
                   "PL_POST_sector", "PL_POST_district", "PL_POST_lsoa", "PL_POST_ward", "URN"]

def _spec(name: str) -> TableSpec:
    return table_spec(name)


def chain_episodes(episodes, next_start_code: str = "X1", year_end_code: str = "E99"):
    """The repair itself, on a DataFrame of de-duplicated episodes (one per LA+child+DECOM).

    Adds ``_next`` (the child's next DECOM), ``_la_last`` (the LA's latest ``_year``),
    ``episode_no``, ``_dec`` / ``_rec`` (DEC and REC after repair) and ``repair_rule``.
    """
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


def latest_episodes(src):
    """The latest submission of each episode with a start and an LA (silver's ``_latest``)."""
    return src.filter(F.col("_latest") & F.col("DECOM").isNotNull() & F.col("_la").isNotNull())


def care_history_rows(chained):
    """``chain_episodes`` output → the care-history columns (repaired DEC/REC, as-sent values beside them)."""
    return chained.select(
        "_la", "CHILD_hash", F.col("episode_no").cast("int").alias("episode_no"), "DECOM",
        F.col("_dec").alias("DEC"), F.col("_rec").alias("REC"),
        F.date_format("DEC", "dd/MM/yyyy").alias("DEC_as_sent"), F.col("REC").alias("REC_as_sent"),
        "repair_rule", *EPISODE_COLUMNS, "_year", "_file_sha256", "_row")


REPAIR_MESSAGES = {
    "SSDA903_EPI_OPEN": "Episode left open and followed by a later one (or by a later year's return): closed by the pipeline",
    "SSDA903_EPI_OVERLAP": "Episode overlaps the next episode: cut at the next episode's start",
}


def repair_flags(history, files, table: str, run_id: str):
    """One ``quarantine.row_flags`` row per repaired episode of ``history`` (the care-history
    table as written); ``files``: (_file_sha256, source_path) of landed files."""
    msg = F.lit(None).cast("string")
    for k, v in REPAIR_MESSAGES.items():
        msg = F.when(F.col("repair_rule") == k, F.lit(v)).otherwise(msg)
    return (history.filter(F.col("repair_rule").isNotNull()).join(files, "_file_sha256", "left")
            .select(F.lit(table).alias("table"), F.col("repair_rule").alias("rule_code"),
                    F.lit("repair").alias("outcome"),
                    F.concat(F.lit("DEC: "), msg).alias("message"),
                    F.lit("DEC").alias("column"), F.col("DEC_as_sent").alias("value"),
                    F.concat_ws(" ", F.date_format("DEC", "dd/MM/yyyy"), F.col("REC")).alias("repaired_to"),
                    F.col("_file_sha256").alias("source_file_sha256"), "source_path",
                    F.col("_row").alias("row_number"), F.col("_la").alias("la"),
                    F.lit("ssda903").alias("collection"), F.col("_year").alias("year"), F.lit(run_id).alias("run_id")))


def _landed_paths(lake: Lake):
    return (lake.read_table(catalog.bronze.files).filter(F.col("outcome") == "landed")
            .select(F.col("sha256").alias("_file_sha256"), F.col("path").alias("source_path"))
            .dropDuplicates(["_file_sha256"]))


def build_care_history(lake: Lake, conf: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Read the episodes, chain and repair them, write the history; its repair flags come back
    (a DataFrame) for ``quarantine.row_flags`` with the row count and repairs by rule."""
    name = conf.get("table", catalog.silver.care_history)
    spec = _spec(name)
    src = lake.read_table("silver." + conf.get("source", "ssda903_episodes"))
    chained = chain_episodes(latest_episodes(src), conf.get("closed_at_next_start", "X1"),
                             conf.get("closed_at_year_end", "E99"))
    lake.write_table(care_history_rows(chained).select(*spec.column_names), name, mode="overwrite")

    hist = lake.read_table(name)
    flags = repair_flags(hist, _landed_paths(lake), name, run_id)
    counts = hist.groupBy("repair_rule").count().toPandas()  # a handful of rules: small by nature
    repairs = {r: int(n) for r, n in zip(counts.repair_rule, counts["count"]) if r is not None}
    return {"rows": int(counts["count"].sum()) if len(counts) else 0, "repairs": repairs, "flags": flags}
