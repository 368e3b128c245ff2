"""Incremental silver: rebuild only the LAs whose live files changed.

    report = build_silver(lake)              # what `cslake build silver` runs: incremental
    build_silver(lake, full=True)            # the whole-table build (`--full`): cslake.silver.build

What a build records. ``silver.build_partitions`` holds, per silver table and LA, the fingerprint
of what its rows were built from: the LA's live files of the collection (``bronze.files`` rows with
outcome ``landed``: sha256, year, period), on top of the table-wide part (la ``'*'``: the build
version, conf/silver.yaml + conf/rules.yaml, the collection's schemas in conf/collections, the hash
key, the postcode lookup's bronze version, the table's declared columns). A file that lands,
supersedes another, is accepted from held, or a rejected file fixed by a later one, changes its
LA's live files and so its fingerprint; a rejected or duplicate arrival changes nothing. Delta gives the rest: each write is one commit of one table,
the state is written after every table it describes (a run killed half-way is redone).

The unit rebuilt is (collection, LA), all years of it, not (collection, LA, year): what silver holds
for one year of an LA depends on its other years (``_latest`` marks the latest submission of each
natural key across the LA's years; previous-year join rules read the LA's return for the year before),
never on another LA's rows (every window and join of silver, and of ``care_history``, is within an LA:
``cslake.silver.rules.RETURN_KEYS``, ``mark_latest``, ``chain_episodes``). So for each collection
with a changed LA, every table of the collection is rebuilt for those LAs: its bronze rows of those
LAs read, conformed, validated and pseudonymised as in a full build (the same functions of
``cslake.silver.build``), and written with Delta ``replaceWhere _la IN (...)`` (one commit; the
other LAs' rows stay as they were); their ``quarantine.rows``, ``quarantine.row_flags`` and
``silver.file_counts`` rows are replaced the same way, and ``silver.care_history`` for those LAs.
A collection is rebuilt whole (as ``--full`` does) when its table-wide part changed, a table has no
recorded state (first build, or a lake built before this), its silver table is missing, or its live
files with no LA (context files: region-wide, state row la ``'~'``) changed.

Change Data Feed is not used: Sail 0.7 has none (issue 14 asks for it "where the engine has it"),
and the ledger already says which files changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import functions as F

from cslake import catalog, storage
from cslake.catalog import table_spec
from cslake.config import conf_dir
from cslake.lake import Lake, new_run_id
from cslake.pseudo import key_status
from cslake.silver import build as B
from cslake.silver import episodes as E
from cslake.silver import rules as silver_rules
from cslake.unfinished import writing_group

log = logging.getLogger(__name__)

TABLE_WIDE = "*"  # the state row of a table's table-wide fingerprint
REGION_WIDE = "~"  # the state row of a collection's files with no LA (context files): rebuilt whole


# ---------------------------------------------------------------------------
# Fingerprints (pure)
# ---------------------------------------------------------------------------

def content_hash(payload) -> str:
    """The fingerprint of a JSON-able payload (silver's, linkage's and gold's build state)."""
    return hashlib.sha256(json.dumps(payload, default=str, sort_keys=True).encode()).hexdigest()


def collection_conf_hash(collection: str | None) -> str | None:
    """The collection's schemas as declared (conf/collections/<c>/, and the shared code sets): how
    its bronze strings are read and checked."""
    if collection is None:
        return None
    root = conf_dir() / "collections"
    files = sorted((root / collection).rglob("*.yaml")) + sorted(root.glob("*.yaml"))
    return hashlib.sha256(b"".join(f.relative_to(root).as_posix().encode() + f.read_bytes() for f in files)).hexdigest()


def table_wide_fingerprint(ctx: B.BuildContext, name: str, t: B.SilverTable | None) -> str:
    """What every LA's rows of table ``name`` depend on besides the LA's own files."""
    spec = table_spec(name)
    lookup = ctx.lookup[1] if ctx.lookup and t is not None and B._has_postcode(t) else None
    return content_hash([B.BUILD_VERSION, ctx.conf_hash, ctx.key_fp, lookup, name,
                         [(c.name, c.type, c.nullable) for c in spec.columns],
                         collection_conf_hash(t.collection if t is not None else "ssda903")])


def la_fingerprints(ledger: pd.DataFrame, collection: str, wide: str) -> dict[str, str]:
    """LA → fingerprint of its live files of ``collection`` (and the table-wide part)."""
    live = ledger[(ledger.outcome == "landed") & (ledger.collection == collection)]
    out = {}
    for la, g in live.assign(la=live.la.fillna(REGION_WIDE)).groupby("la"):
        files = sorted({(r.sha256, None if pd.isna(r.year) else int(r.year), None if pd.isna(r.period) else str(r.period))
                        for r in g.itertuples()}, key=str)
        out[str(la)] = content_hash([wide, files])
    return out


def gone_fingerprint(wide: str) -> str:
    """The fingerprint of an LA with no live file left (its rows removed)."""
    return content_hash([wide, []])


@dataclass
class Plan:
    table: B.SilverTable
    scope: list[str] | None  # None: the whole table; else the LAs rebuilt
    wide: str
    la_fps: dict[str, str]  # every LA's fingerprint after this build (incl. LAs with no live file left)


def plan_collection(tables: list[B.SilverTable], ledger: pd.DataFrame, state: dict[tuple[str, str], str],
                    wide: dict[str, str], silver_exists: dict[str, bool]) -> list[Plan]:
    """The plans of one collection's tables: all skipped ([]), all rebuilt whole, or all rebuilt
    for the same LAs (its join rules read each other's rows of the same return)."""
    if not tables:
        return []
    collection = tables[0].collection
    whole = False
    changed: set[str] = set()
    plans = []
    for t in tables:
        cur = la_fingerprints(ledger, collection, wide[t.silver])
        before = {la: fp for (tbl, la), fp in state.items() if tbl == t.silver and la != TABLE_WIDE}
        fps = {la: cur.get(la, gone_fingerprint(wide[t.silver])) for la in set(cur) | set(before)}
        if not silver_exists[t.silver] or state.get((t.silver, TABLE_WIDE)) != wide[t.silver]:
            whole = True
        changed |= {la for la, fp in fps.items() if before.get(la) != fp}
        plans.append(Plan(t, None, wide[t.silver], fps))
    if not changed and not whole:
        return []
    if whole or REGION_WIDE in changed:
        return plans
    scope = sorted(changed)
    return [Plan(p.table, scope, p.wide, p.la_fps) for p in plans]


# ---------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------

def read_state(lake: Lake, name: str = catalog.silver.build_partitions) -> dict[tuple[str, str], str]:
    """(table, la) -> fingerprint of a state table (silver's own by default; linkage's too)."""
    if not lake.exists(name):
        return {}
    pdf = lake.read_table(name).select("table", "la", "fingerprint").toPandas()
    return {(t, la): fp for t, la, fp in zip(pdf["table"], pdf["la"], pdf["fingerprint"])}


def read_ledger(lake: Lake) -> pd.DataFrame:
    """bronze.files on the driver (one row per arrival: small by nature)."""
    return (lake.read_table(catalog.bronze.files)
            .select("sha256", "la", "collection", "year", "period", "outcome").toPandas())


def build_silver(lake: Lake, run_id: str | None = None, collections: list[str] | None = None,
                 force: bool = False, full: bool = False) -> B.SilverReport:
    """Build silver: incrementally (:func:`build_silver_incremental`) unless ``full`` (each table whose
    inputs changed, whole: ``cslake.silver.build.build_silver``) or ``force`` (every table whole).
    A whole build records the state the next incremental one starts from."""
    if not (force or full):
        return build_silver_incremental(lake, run_id, collections)
    run_id = run_id or new_run_id()
    with writing_group(lake.root, "silver", run_id):  # the whole build and the state it leaves, one group
        report = B.build_silver(lake, run_id, collections, force=force)
        if report.tables:
            ctx = B._context(lake, report.run_id)
            try:
                record_state(ctx, report.tables)
            finally:
                storage.remove_tree(ctx.staging_root)
    return report


def build_silver_incremental(lake: Lake, run_id: str | None = None,
                             collections: list[str] | None = None) -> B.SilverReport:
    """Rebuild, for each collection, only the LAs whose live files changed since the last build."""
    key_status()
    t0 = time.perf_counter()
    run_id = run_id or new_run_id()
    report = B.SilverReport(run_id=run_id)
    catalog.load()
    if not lake.exists(catalog.bronze.files):
        log.info("silver: no bronze.files in %s, nothing to build", lake.root)
        return report
    crossing = _joins_across_collections(B.silver_conf(), collections)
    if crossing:
        log.warning("silver: join rule(s) across collections (%s): the whole-table build runs instead",
                    ", ".join(crossing))
        return build_silver(lake, run_id, collections, full=True)
    ctx = B._context(lake, run_id)
    try:
        ledger = read_ledger(lake)
        state = read_state(lake)
        plans = make_plans(ctx, ledger, state, collections, report)
        with writing_group(lake.root, "silver", run_id):  # the tables, their side rows, state, log: one group
            built = _build_tables(ctx, plans)
            B._add_join_flags(ctx, built)
            scopes = {name: v["las"] for name, v in built.items()}
            ch = _care_history(ctx, built, state, report)
            if ch is not None:
                built[ch[0]] = ch[1]
                scopes[ch[0]] = ch[1]["las"]
            if built:
                B.write_side_tables(lake, built, scopes, run_id, ctx.now, report, ctx.staging_root,
                                    B.parallel_tables(ctx.conf))
                write_state(ctx, plans, ch)
                B._write_build_log(ctx, built)
        report.tables = {k: {kk: vv for kk, vv in v.items()
                             if kk in ("bronze_rows", "silver_rows", "quarantined_rows", "seconds", "las")}
                         for k, v in built.items()}
    finally:
        storage.remove_tree(ctx.staging_root)
    report.seconds = time.perf_counter() - t0
    return report


def make_plans(ctx: B.BuildContext, ledger: pd.DataFrame, state: dict, collections: list[str] | None,
               report: B.SilverReport) -> list[Plan]:
    lake = ctx.lake
    tables = [t for t in B.silver_tables(collections) if lake.exists(t.bronze)]
    by_collection: dict[str, list[B.SilverTable]] = {}
    for t in tables:
        by_collection.setdefault(t.collection, []).append(t)
    wide = {t.silver: table_wide_fingerprint(ctx, t.silver, t) for t in tables}
    exists = {t.silver: lake.exists(t.silver) for t in tables}
    plans = []
    for coll, ts in by_collection.items():
        p = plan_collection(ts, ledger, state, wide, exists)
        if not p:
            report.skipped.extend(t.silver for t in ts)
        plans.extend(p)
    return plans


def _joins_across_collections(conf: dict, collections: list[str] | None) -> list[str]:
    """Join rules from one collection's table to another's. Joins read rows of the same return
    (cslake.silver.rules), so of the same collection, and a collection's tables are rebuilt together
    for the same LAs; a join across collections would see only what was rebuilt of the other."""
    by_name = {silver_rules.short_name(t): t for t in B.silver_tables(None)}
    out = []
    for t in B.silver_tables(collections):
        for other in sorted(silver_rules.joined_tables(t, conf)):
            u = by_name.get(other)
            if u is not None and u.collection != t.collection:
                out.append(f"{t.silver} -> {u.silver}")
    return out


def _build_tables(ctx: B.BuildContext, plans: list[Plan]) -> dict[str, dict]:
    def one(p: Plan):
        t1 = time.perf_counter()
        out = B.build_table(ctx, p.table, None if p.scope is None else list(p.scope))
        out["seconds"] = time.perf_counter() - t1
        out["las"] = p.scope
        out["fingerprint"] = B.table_fingerprint(ctx, p.table)  # so a later --full build skips it
        log.info("silver: %s built (%s): %d bronze -> %d silver + %d quarantined (%.1fs)", p.table.silver,
                 "whole" if p.scope is None else "LAs " + ",".join(p.scope), out["bronze_rows"], out["silver_rows"],
                 out["quarantined_rows"], out["seconds"],
                 extra={"progress": (plans.index(p) + 1, len(plans), "silver tables")})
        return p.table.silver, out

    workers = B.parallel_tables(ctx.conf)
    built: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, out in pool.map(one, plans):
            built[name] = out
    return built


def _care_history(ctx: B.BuildContext, built: dict[str, dict], state: dict,
                  report: B.SilverReport) -> tuple[str, dict] | None:
    """silver.care_history for the LAs whose episodes were rebuilt (whole if they were, if it is
    missing or its table-wide part changed); None when nothing to do."""
    lake = ctx.lake
    ch_conf = ctx.conf.get("care_history") or {}
    src = "silver." + ch_conf.get("source", "ssda903_episodes")
    name = ch_conf.get("table", catalog.silver.care_history)
    if not lake.exists(src):
        return None
    wide = table_wide_fingerprint(ctx, name, None)
    if not lake.exists(name) or state.get((name, TABLE_WIDE)) != wide:
        scope = None
    elif src in built:
        scope = built[src]["las"]
    else:
        return None
    t1 = time.perf_counter()
    if scope is None:
        ch = E.build_care_history(lake, ch_conf, ctx.run_id)
    else:
        ch = care_history_scoped(lake, ch_conf, ctx.run_id, scope)
    report.repairs = ch["repairs"]
    fp = B.care_history_fingerprint(ctx, src)
    return name, {"bronze_rows": 0, "silver_rows": ch["rows"], "quarantined_rows": 0, "flags": ch["flags"],
                  "quarantine": None, "counts": None, "seconds": time.perf_counter() - t1, "fingerprint": fp,
                  "las": scope, "wide": wide}


def care_history_scoped(lake: Lake, conf: dict, run_id: str, las: list[str]) -> dict:
    """``cslake.silver.episodes.build_care_history`` for the episodes of ``las`` (chaining is per LA)."""
    name = conf.get("table", catalog.silver.care_history)
    spec = table_spec(name)
    src = lake.read_table("silver." + conf.get("source", "ssda903_episodes")).filter(F.col("_la").isin(las))
    chained = E.chain_episodes(E.latest_episodes(src), conf.get("closed_at_next_start", "X1"))
    lake.write_table(E.care_history_rows(chained).select(*spec.column_names), name, mode="overwrite",
                     replace_where=B.la_predicate("_la", las))
    hist = lake.read_table(name).filter(F.col("_la").isin(las))
    paths = E._landed_paths(lake)
    flags = E.repair_flags(hist, paths, name, run_id).unionByName(E.absence_flags(hist, paths, name, run_id))
    counts = hist.groupBy("repair_rule").count().toPandas()
    repairs = {r: int(n) for r, n in zip(counts.repair_rule, counts["count"]) if r is not None}
    return {"rows": int(counts["count"].sum()) if len(counts) else 0, "repairs": repairs, "flags": flags}


def _state_rows(ctx: B.BuildContext, name: str, wide: str, fps: dict[str, str], n_files: dict[str, int],
                las: list[str] | None) -> list[dict]:
    rows = [{"table": name, "la": TABLE_WIDE, "fingerprint": wide, "files": None}]
    for la, fp in sorted(fps.items()):
        if las is None or la in las:
            rows.append({"table": name, "la": la, "fingerprint": fp, "files": n_files.get(la, 0)})
    return [dict(r, run_id=ctx.run_id, built_at=ctx.now) for r in rows]


def write_state(ctx: B.BuildContext, plans: list[Plan], care_history: tuple[str, dict] | None) -> None:
    """silver.build_partitions for what this run built (merged on table, la): written after every
    table it describes, so a run killed before it is redone."""
    ledger = read_ledger(ctx.lake)
    rows = []
    for p in plans:
        n = _files_per_la(ledger, p.table.collection)
        rows += _state_rows(ctx, p.table.silver, p.wide, p.la_fps, n, p.scope)
    if care_history is not None:
        name, v = care_history
        rows += _state_rows(ctx, name, v["wide"], {}, {}, None)
    if rows:
        ctx.lake.write_pandas(pd.DataFrame(rows), catalog.silver.build_partitions, mode="merge")


def _files_per_la(ledger: pd.DataFrame, collection: str) -> dict[str, int]:
    live = ledger[(ledger.outcome == "landed") & (ledger.collection == collection)]
    return {str(k): int(v) for k, v in live.assign(la=live.la.fillna(REGION_WIDE)).groupby("la").size().items()}


def record_state(ctx: B.BuildContext, built: dict[str, dict]) -> None:
    """After a whole-table build (``--full``/``--force``): the state of every table it rebuilt, so
    the next incremental build starts from it."""
    ledger = read_ledger(ctx.lake)
    state = read_state(ctx.lake)
    plans = []
    ch = None
    by_silver = {t.silver: t for t in B.silver_tables(None)}
    for name, v in built.items():
        t = by_silver.get(name)
        if t is None:
            if name == (ctx.conf.get("care_history") or {}).get("table", catalog.silver.care_history):
                ch = (name, {"wide": table_wide_fingerprint(ctx, name, None)})
            continue
        wide = table_wide_fingerprint(ctx, t.silver, t)
        cur = la_fingerprints(ledger, t.collection, wide)
        before = {la for (tbl, la) in state if tbl == t.silver and la != TABLE_WIDE}
        fps = {la: cur.get(la, gone_fingerprint(wide)) for la in set(cur) | before}
        plans.append(Plan(t, None, wide, fps))
    write_state(ctx, plans, ch)
