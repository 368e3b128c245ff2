"""Incremental linkage: link again only the records a silver change can reach (issue 14).

    build_linkage(lake)              # what `cslake build linkage` runs: incremental when it can
    build_linkage(lake, full=True)   # every record linked again (`--full`)

**What a build records.** ``silver.linkage_records`` holds every record as linkage read it (its
hashed identifiers and demographic evidence) with its person, rule and confidence; the spine is
that table's public projection. ``silver.linkage_state`` holds the fingerprint of every silver
table and LA the records were read from (silver's own, ``silver.build_partitions``: it moves when
the LA's live files, silver's conf or the key move), and linkage's own part (table and LA ``'*'``:
conf/linkage.yaml, the code sets, the key, this build's version).

**Which records changed.** The units (silver table, LA) whose fingerprint differs from the one
linkage recorded are read again from silver; their records as silver now has them and as linkage
holds them are compared value by value. Records added, removed or changed in any column are the
seed; a resubmitted file changes every record of its LA-year (their source file), a new year adds
its records, and the LA's other years, untouched, stay out.

**The affected set**: the seed, then every record that shares a token (a deterministic key or a
demographic signature, old or new: ``cslake.linkage.keys.record_tokens``) with one in the set, and
every record of the old person of one in the set, again and again until nothing comes in. Records,
tokens and persons are 64-bit hashes here (``with_rid``, ``closure_links``): each round scans
every record's tokens, and a collision only makes the set larger, never wrong.

**Why that is what a full build would change.** Outside the set, no record shares a token with one
inside it, and every old person lies wholly inside or wholly outside. A full build's components
over keys therefore never cross the boundary; a signature's ambiguity is counted over its holders,
who all lie on one side; the checks on a merge (one UPN-bearing component, one per return, one LA
id per LA) look only inside the merge. So outside, every record keeps its old person, and its
person id (the keyed hash of the person's smallest record id) does not move; inside, linking the
set alone (``build._link``) gives what linking everything would. A conflict is one identifier's
records, all on one side; a person's row and journey are its records', all on one side.

**Then.** The affected records are linked; their rows of ``linkage_records`` and the spine, their
old and new persons, the conflicts of their identifiers and the journeys of every person with a
record in the affected set or the changed units (the units' silver events changed) are replaced,
each table in one overwrite (the others' rows copied as they were): from Parquet scratch, or, for
``linkage_records``, straight from the version it replaces. When the affected set is most of the
records (``RELINK_ALL_SHARE``), they are all linked, as ``--full``.

A build that was killed half-way (``cslake.unfinished``), a lake with no linkage state, or a change
of linkage's own part links everything. tests/test_incremental_linkage.py checks the incremental
result against ``--full`` cell for cell, person ids included.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd
from pyspark.sql import functions as F

from cslake import catalog
from cslake.config import conf_dir
from cslake.lake import Lake
from cslake.linkage.components import NotConverged, Stage
from cslake.linkage.keys import hash64, record_tokens
from cslake.linkage.records import sources
from cslake.pseudo import key_fingerprint
from cslake.silver.incremental import REGION_WIDE, TABLE_WIDE, content_hash, read_state
from cslake.unfinished import read_record

log = logging.getLogger(__name__)

#: Bumped when the linkage tables' content changes for the same inputs: every lake links all again.
LINKAGE_VERSION = 1
#: linkage's own row of silver.linkage_state (no silver table is called '*').
OWN = ("*", "*")
#: The person tokens' domain (cslake.linkage.keys: one number per domain).
PERSON_DOMAIN = 0x2F6A5D1C9B3E7741
#: Above this share of the records affected, linking them all costs less than following them.
RELINK_ALL_SHARE = 0.5


@dataclass
class LinkagePlan:
    mode: str  # "full", "incremental" or "unchanged"
    reason: str
    units: dict[str, list[str] | None] = field(default_factory=dict)  # silver table -> LAs (None: all)
    state: dict[tuple[str, str], str] = field(default_factory=dict)  # silver.linkage_state after the build


def own_fingerprint(conf: dict) -> str:
    """Linkage's own part: its conf, the code sets its ethnicity map reads, the key, the version."""
    codesets = (conf_dir() / "collections" / "_codesets.yaml").read_bytes()
    return content_hash([LINKAGE_VERSION, conf, hashlib.sha256(codesets).hexdigest(), key_fingerprint()])


def plan_linkage(silver_state: dict[tuple[str, str], str], linkage_state: dict[tuple[str, str], str],
                 own: str, tables: list[str], full: bool = False) -> LinkagePlan:
    """What to link (pure): ``tables`` are the source tables silver has now."""
    target = target_state(silver_state, own, tables)
    if full:
        return LinkagePlan("full", "asked (--full)", state=target)
    if not linkage_state:
        return LinkagePlan("full", "no linkage state yet (a first build, or the lake's last one predates it)",
                           state=target)
    if linkage_state.get(OWN) != own:
        return LinkagePlan("full", "conf/linkage.yaml, the code sets, the key or linkage itself changed", state=target)
    unknown = [t for t in tables if (t, TABLE_WIDE) not in silver_state]
    if unknown:
        return LinkagePlan("full", f"silver has no build state for {unknown[0]}", state=target)
    units: dict[str, list[str] | None] = {}
    for t in sorted(set(tables) | {k[0] for k in linkage_state if k != OWN}):
        now = {la: fp for (tbl, la), fp in target.items() if tbl == t}
        then = {la: fp for (tbl, la), fp in linkage_state.items() if tbl == t}
        moved = {la for la in set(now) | set(then) if now.get(la) != then.get(la)}
        if TABLE_WIDE in moved or REGION_WIDE in moved:
            units[t] = None
        elif moved:
            units[t] = sorted(moved)
    if not units:
        return LinkagePlan("unchanged", "no silver table a source reads changed since the last build", state=target)
    return LinkagePlan("incremental", f"{len(units)} silver table(s) changed", units, target)


def target_state(silver_state: dict[tuple[str, str], str], own: str, tables: list[str]) -> dict[tuple[str, str], str]:
    """silver.linkage_state after a build (pure): silver's fingerprints of the source tables, and linkage's own."""
    return {**{k: fp for k, fp in silver_state.items() if k[0] in tables}, OWN: own}


def plan(lake: Lake, conf: dict, full: bool = False) -> LinkagePlan:
    tables = [s.silver for s in sources(conf) if lake.exists(s.silver)]
    own = own_fingerprint(conf)
    silver_state = read_state(lake)
    if not full and read_record(lake.root, "linkage") is not None:
        return LinkagePlan("full", "the last linkage build stopped half-way",
                           state=target_state(silver_state, own, tables))
    needed = (catalog.silver.linkage_records, catalog.silver.person_spine, catalog.silver.person,
              catalog.silver.linkage_conflicts)
    if not full and not all(lake.exists(n) for n in needed):
        return LinkagePlan("full", "a linkage table is missing", state=target_state(silver_state, own, tables))
    return plan_linkage(silver_state, read_state(lake, catalog.silver.linkage_state), own, tables, full)


def write_linkage_state(lake: Lake, p: LinkagePlan, run_id: str) -> None:
    """The fingerprints this build linked from (written last: a build killed before it is redone)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [{"table": t, "la": la, "fingerprint": fp, "run_id": run_id, "built_at": now}
            for (t, la), fp in sorted(p.state.items())]
    lake.write_pandas(pd.DataFrame(rows, columns=["table", "la", "fingerprint", "run_id", "built_at"]),
                      catalog.silver.linkage_state, mode="overwrite")


# ---------------------------------------------------------------------------
# The affected set (pure DataFrame functions, and the loop that stages them)
# ---------------------------------------------------------------------------

def in_units(units: dict[str, list[str] | None], conf: dict):
    """A condition on records (collection, table, la): the record lies in one of ``units``
    (never null, so its negation is the records outside)."""
    by_silver = {s.silver: s for s in sources(conf)}
    cond = F.lit(False)
    for silver, las in units.items():
        src = by_silver.get(silver)
        if src is None:  # a source no longer configured: conf changed, so the build is full
            continue
        c = (F.col("collection") == src.collection) & (F.col("table") == src.table)
        if las is not None:
            c = c & F.col("la").isin(las)
        cond = cond | F.coalesce(c, F.lit(False))
    return cond


def changed_records(before, after, columns: list[str]):
    """rec_id of every record added, removed, or changed in any of ``columns`` (pure)."""
    def fingerprinted(df):
        values = [F.coalesce(F.col(c).cast("string"), F.lit("\u0000")) for c in columns]
        return df.select("rec_id", F.sha2(F.concat_ws("\u001f", *values), 256).alias("_fp"))

    a, b = fingerprinted(before), fingerprinted(after)
    gone = a.join(b, ["rec_id", "_fp"], "left_anti").select("rec_id")
    came = b.join(a, ["rec_id", "_fp"], "left_anti").select("rec_id")
    return gone.unionByName(came).distinct()


def with_rid(df):
    """``df`` with ``_rid``, a 64-bit hash of its ``rec_id``. The affected set is a set of these:
    each round of it scans every record's tokens, and longs cost a fraction of 69-character ids
    (hashed tokens likewise). A collision only puts more records in the set, which stays closed
    (their tokens are followed too), so the result is the same; only the set is larger."""
    return df.withColumn("_rid", hash64(F.col("rec_id")))


def within(df, affected, how: str = "left_semi"):
    """The rows of ``df`` (with rec_id) whose record is in ``affected`` (``_rid``), or, with
    ``how="left_anti"``, the others (pure)."""
    return with_rid(df).join(affected, "_rid", how).drop("_rid")


def closure_links(records, persons, passes: list[list[str]]):
    """(_rid, token): what ties records together for the affected set (pure): every key and complete
    signature of ``records`` (``record_tokens``), and each old record's person (``persons``: rec_id,
    person_id) as one more token. One table, so a round of the closure is two scans of it."""
    person = persons.select("rec_id", hash64(F.col("person_id")).bitwiseXOR(F.lit(PERSON_DOMAIN)).alias("token"))
    return with_rid(record_tokens(records, passes).unionByName(person)).select("_rid", "token")


def widen_once(affected, links):
    """``affected`` (_rid) with every record that shares a token (an identifier, a demographic
    signature or an old person) with one of them (pure)."""
    held = links.join(affected, "_rid", "left_semi").select("token").distinct()
    return affected.unionByName(links.join(held, "token", "left_semi").select("_rid")).distinct()


def affected_records(seed, links, stage: Stage, max_rounds: int):
    """The closure of ``seed`` (_rid) under :func:`widen_once`: (affected _rids, count, rounds)."""
    current = stage.put(seed.select("_rid").distinct(), "affected")
    n = current.count()
    for i in range(1, max_rounds + 1):
        if n == 0:
            return current, 0, i - 1
        nxt = stage.put(widen_once(current, links), "affected")
        m = nxt.count()
        log.info("linkage: round %d of the affected set: %d records", i, m)
        if m == n:
            return nxt, n, i
        current, n = nxt, m
    raise NotConverged(f"the records a change reaches kept growing after {max_rounds} rounds "
                       f"(raise max_iterations in conf/linkage.yaml, or build linkage with --full)")
