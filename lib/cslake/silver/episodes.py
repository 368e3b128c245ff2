"""SSDA903 episodes chained across years into one care history per child.

Each year's episodes file is a snapshot at 31 March: an episode open then appears
again, closed or still open, in the next year's file. The history takes the latest
submission of each episode (``_latest`` in silver: LA + child + DECOM), orders a
child's episodes by start, and applies the sector's repairs, each flagged with its
rule in ``repair_rule`` and in ``quarantine.row_flags``:

- SSDA903_EPI_OPEN: an episode with no end followed by another episode is closed at
  the next episode's start (REC X1: a new episode of the same period of care, not a
  cessation).
- SSDA903_EPI_OVERLAP: an episode ending after the next one starts is cut at the
  next start.

An episode open at 31 March in one year's return, with no later episode of the child,
whose LA has sent a later year's return without it, is **not** closed: no return says
the child left care, so no cessation may be counted (shared/specs/returns.md, "Episode
chaining"). It stays open (DEC null) with ``_year`` = the year of the last return that
holds it, and is a finding for the LA, SSDA903_EPI_ABSENT in ``quarantine.row_flags``
(outcome ``flag``). Gold counts such an episode as looked after up to 31 March of that
``_year`` and never after (``cslake.gold.care``): it neither ceases nor stays in care
beyond the evidence.
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


def la_last_year(df):
    """Each row's LA's latest ``_year`` in ``df``, as a literal map looked up by ``_la`` (one entry
    per LA: small by nature, collected on the driver). Not a max over a window partitioned by LA:
    that window holds all of an LA's rows in memory at once, which the engine cannot spill (one
    200 MB episodes file took silver past 2 GB, issue 16)."""
    last = df.filter(F.col("_la").isNotNull()).groupBy("_la").agg(F.max("_year").alias("y")).collect()
    if not last:
        return F.lit(None).cast("int")
    return F.element_at(F.create_map(*[F.lit(x) for r in sorted(last) for x in (r["_la"], r["y"])]), F.col("_la"))


def chain_episodes(episodes, next_start_code: str = "X1"):
    """The repair itself, on a DataFrame of de-duplicated episodes (one per LA+child+DECOM).

    Adds ``_next`` (the child's next DECOM), ``_la_last`` (the LA's latest ``_year``),
    ``episode_no``, ``_dec`` / ``_rec`` (DEC and REC after repair), ``repair_rule`` and
    ``_absent`` (open, no next episode, and the LA sent a later return without it).
    """
    w = Window.partitionBy("_la", "CHILD_hash").orderBy("DECOM", "_year", "_row")
    nxt = F.lead("DECOM").over(w)
    df = episodes.select("*", nxt.alias("_next"), la_last_year(episodes).alias("_la_last"),
                         F.row_number().over(w).alias("episode_no"))
    open_ = F.col("DEC").isNull()
    close_next = open_ & F.col("_next").isNotNull()
    absent = open_ & F.col("_next").isNull() & (F.col("_year") < F.col("_la_last"))
    overlap = ~open_ & F.col("_next").isNotNull() & (F.col("DEC") > F.col("_next"))
    rule = (F.when(close_next, F.lit("SSDA903_EPI_OPEN"))
            .when(overlap, F.lit("SSDA903_EPI_OVERLAP")))
    dec = F.when(close_next | overlap, F.col("_next")).otherwise(F.col("DEC"))
    rec = F.when(close_next, F.lit(next_start_code)).otherwise(F.col("REC"))
    return df.select("*", dec.alias("_dec"), rec.alias("_rec"), rule.alias("repair_rule"),
                     F.coalesce(absent, F.lit(False)).alias("_absent"))


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
    "SSDA903_EPI_OPEN": "Episode left open and followed by a later one: closed at the next episode's start (REC X1)",
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


ABSENT_RULE = "SSDA903_EPI_ABSENT"
ABSENT_MESSAGE = ("DEC: Episode open at 31 March of this return and missing from the LA's next return (no later "
                  "episode of the child): not closed by the pipeline; counted as looked after up to this return's "
                  "31 March only, never as a cessation. Send its end date (DEC, REC) or the episode in the next return")


def absence_flags(history, files, table: str, run_id: str):
    """One ``quarantine.row_flags`` row (SSDA903_EPI_ABSENT, outcome ``flag``) per episode of ``history``
    left open (DEC null after the repairs, so no later episode of the child) in a return older than the
    LA's latest: the child is missing from the LA's next return. Nothing in the history changes."""
    h = history.select("*", la_last_year(history).alias("_la_last"))
    return (h.filter(F.col("DEC").isNull() & (F.col("_year") < F.col("_la_last"))).join(files, "_file_sha256", "left")
            .select(F.lit(table).alias("table"), F.lit(ABSENT_RULE).alias("rule_code"), F.lit("flag").alias("outcome"),
                    F.lit(ABSENT_MESSAGE).alias("message"), F.lit("DEC").alias("column"),
                    F.lit(None).cast("string").alias("value"), F.lit(None).cast("string").alias("repaired_to"),
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
    chained = chain_episodes(latest_episodes(src), conf.get("closed_at_next_start", "X1"))
    lake.write_table(care_history_rows(chained).select(*spec.column_names), name, mode="overwrite")

    hist = lake.read_table(name)
    paths = _landed_paths(lake)
    flags = repair_flags(hist, paths, name, run_id).unionByName(absence_flags(hist, paths, name, run_id))
    counts = hist.groupBy("repair_rule").count().toPandas()  # a handful of rules: small by nature
    repairs = {r: int(n) for r, n in zip(counts.repair_rule, counts["count"]) if r is not None}
    return {"rows": int(counts["count"].sum()) if len(counts) else 0, "repairs": repairs, "flags": flags}
