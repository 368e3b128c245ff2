"""Journey tables keyed by person_id: CIN events, care episodes, SEND events.

Each return restates what was still open at its reference date, so the same
event arrives in several years' returns; a journey holds each event once (its
latest submission).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from pyspark.sql import functions as F

from cslake import catalog

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

#: How the journeys read silver: a table's frame, or None when the lake has no such table.
Reader = Callable[[str], "DataFrame | None"]

# (silver table, date column, event, code column)
CIN_EVENTS = [
    (catalog.silver.cin_episode, "CINreferralDate", "referral", "ReferralSource"),
    (catalog.silver.cin_episode, "CINclosureDate", "closure", "ReasonForClosure"),
    (catalog.silver.cin_assessment, "AssessmentActualStartDate", "assessment_start", None),
    (catalog.silver.cin_assessment, "AssessmentAuthorisationDate", "assessment_authorised", None),
    (catalog.silver.cin_s47, "S47ActualStartDate", "s47_start", None),
    (catalog.silver.cin_s47, "DateOfInitialCPC", "icpc", None),
    (catalog.silver.cin_plan, "CINPlanStartDate", "cin_plan_start", None),
    (catalog.silver.cin_plan, "CINPlanEndDate", "cin_plan_end", None),
    (catalog.silver.cin_cpp, "CPPstartDate", "cpp_start", "InitialCategoryOfAbuse"),
    (catalog.silver.cin_cpp, "CPPendDate", "cpp_end", "LatestCategoryOfAbuse"),
]

# (silver table, hops up to the person row, date column, event, code column)
SEND_EVENTS = [
    (catalog.silver.sen2_request, 1, "ReceivedDate", "request", "RequestSource"),
    (catalog.silver.sen2_request, 1, "RequestOutcomeDate", "request_outcome", "RequestOutcome"),
    (catalog.silver.sen2_assessment, 2, "AssessmentOutcomeDate", "assessment_outcome", "AssessmentOutcome"),
    (catalog.silver.sen2_named_plan, 3, "StartDate", "plan_issued", None),
    (catalog.silver.sen2_named_plan, 3, "CeaseDate", "plan_ceased", "CeaseReason"),
]
# Parent of each SEN2 table in the XML (its _parent_row is the parent's _row).
SEN2_PARENT = {catalog.silver.sen2_request: catalog.silver.sen2_person, catalog.silver.sen2_assessment: catalog.silver.sen2_request,
               catalog.silver.sen2_named_plan: catalog.silver.sen2_assessment}


def _col(df, name: str, typ: str = "string"):
    return F.col(f"`{name}`").cast(typ) if name and name in df.columns else F.lit(None).cast(typ)


def _once(events, keys: list[str]):
    """Each event once: the latest year's submission (deterministic on ties)."""
    return events.groupBy(*keys).agg(F.max("year").alias("year"), F.max("code").alias("code"),
                                     F.min("source_table").alias("source_table"))


def person_by_la_id(spine, collections: list[str]):
    """(la, la_child_id hash) → person_id: every record of one LA id is in one person by rule 3."""
    return (spine.filter(F.col("collection").isin(collections) & ~F.col("record_key").startswith("row:"))
            .select("la", F.col("record_key").alias("_id"), "person_id").dropDuplicates(["la", "_id"]))


def _union(parts):
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def cin_events(df, table: str, date_col: str, event: str, code_col: str | None):
    """One CIN event type from its silver table (latest submissions with a date), or None
    when the table has no such date column (pure)."""
    if date_col not in df.columns:
        return None
    return df.filter(F.col("_latest") & F.col(date_col).isNotNull()).select(
        F.col("_la").alias("la"), F.col("LAchildID_hash").alias("_id"), F.col(date_col).cast("date").alias("event_date"),
        F.lit(event).alias("event"), _col(df, code_col).alias("code"),
        _col(df, "CINreferralDate", "date").alias("referral_date"), F.col("_year").alias("year"),
        F.lit(table).alias("source_table"))


def cin_journey_rows(events, ids):
    """CIN events keyed by person (``ids``: person_by_la_id), each once (pure)."""
    return _once(events.join(ids, ["la", "_id"]).drop("_id"), ["person_id", "la", "event", "event_date", "referral_date"])


def cin_journey(read: Reader, spine):
    ids = person_by_la_id(spine, ["cin"])
    frames = {table: read(table) for table in {t for t, *_ in CIN_EVENTS}}
    parts = [cin_events(frames[table], table, date_col, event, code_col)
             for table, date_col, event, code_col in CIN_EVENTS if frames[table] is not None]
    parts = [p for p in parts if p is not None]
    return cin_journey_rows(_union(parts), ids) if parts else None


def care_journey_rows(history, ids):
    """Care-history episodes keyed by person (pure)."""
    return (history.join(ids, (history["_la"] == ids["la"]) & (history["CHILD_hash"] == ids["_id"]))
            .select("person_id", "la", "episode_no", "DECOM", "DEC", "REC", "repair_rule", "RNE", "LS", "CIN",
                    "PLACE", "PLACE_PROVIDER", "REASON_PLACE_CHANGE", "HOME_POST_district", "PL_POST_district",
                    "URN", F.col("_year").alias("year"), "_file_sha256", "_row"))


def care_journey(read: Reader, spine):
    history = read(catalog.silver.care_history)
    if history is None:
        return None
    return care_journey_rows(history, person_by_la_id(spine, ["ssda903"]))


def send_events(df, table: str, date_col: str, event: str, code_col: str | None):
    """One SEN2 event type from its silver table, with the XML row it hangs from (``_f``,
    ``_up``), or None when the table has no such date column (pure)."""
    if date_col not in df.columns:
        return None
    return df.filter(F.col(date_col).isNotNull()).select(
        F.col("_file_sha256").alias("_f"), F.col("_parent_row").alias("_up"), F.col("_la").alias("la"),
        F.col(date_col).cast("date").alias("event_date"), F.lit(event).alias("event"),
        _col(df, code_col).alias("code"), _col(df, "ReceivedDate", "date").alias("request_date"),
        F.col("_year").alias("year"), F.lit(table).alias("source_table"))


def events_to_person(events, ancestors: list, persons):
    """Walk up the XML from each event to its person row (pure): each ancestor table (nearest
    first) replaces ``_up`` with its own parent row; ``persons``: (_f, _r0, person_id)."""
    ev = events
    for a in ancestors:
        p = a.select(F.col("_file_sha256").alias("_f"), F.col("_row").alias("_up"), F.col("_parent_row").alias("_up2"))
        ev = ev.join(p, ["_f", "_up"]).drop("_up").withColumnRenamed("_up2", "_up")
    return ev.join(persons.withColumnRenamed("_r0", "_up"), ["_f", "_up"]).drop("_f", "_up")


def _ancestors(read: Reader, table: str, hops: int) -> list | None:
    """The tables between ``table`` and the person row, nearest first (None: one is missing)."""
    out, parent = [], SEN2_PARENT[table]
    for _ in range(hops - 1):
        out.append(read(parent))
        parent = SEN2_PARENT[parent]
    return None if any(a is None for a in out) else out


def send_journey(read: Reader, spine):
    if read(catalog.silver.sen2_person) is None:
        return None
    persons = (spine.filter((F.col("collection") == "sen2") & (F.col("table") == "sen2_person"))
               .select(F.col("_file_sha256").alias("_f"), F.col("_row").alias("_r0"), "person_id"))
    parts = []
    for table, hops, date_col, event, code_col in SEND_EVENTS:
        df = read(table)
        ancestors = _ancestors(read, table, hops) if df is not None else None
        if ancestors is None:
            continue
        ev = send_events(df, table, date_col, event, code_col)
        if ev is not None:
            parts.append(events_to_person(ev, ancestors, persons))
    if not parts:
        return None
    return _once(_union(parts), ["person_id", "la", "event", "event_date", "request_date"])


JOURNEYS = ((catalog.silver.cin_journey, cin_journey), (catalog.silver.care_journey, care_journey),
            (catalog.silver.send_journey, send_journey))


def journey_frames(read: Reader, spine) -> dict[str, "DataFrame"]:
    """The journey tables of the persons in ``spine`` (any subset of persons, each with all its
    records), from the silver tables ``read`` gives; a table whose sources the lake lacks is left out."""
    out = {}
    for name, fn in JOURNEYS:
        df = fn(read, spine)
        if df is None:
            log.info("linkage: %s skipped (its silver tables are not in the lake)", name)
            continue
        out[name] = df
    return out
