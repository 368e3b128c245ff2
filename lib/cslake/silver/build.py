"""The silver job: bronze rows of current files → typed, validated, pseudonymised silver.

    report = build_silver(lake)            # every bronze table that exists
    print(report.summary())

For each bronze table ``bronze.<collection>_<table>``:

1. Rows of files whose ledger outcome is ``landed`` (superseded and duplicate
   arrivals stay in bronze as history).
2. Each row is conformed with the schema of its own ``_year`` (cslake.silver.conform),
   then the cross-field rules of ``conf/silver.yaml`` and the one-row-per-natural-key
   check (DUPLICATE_KEY) add their failures. The result is staged once (Parquet, under
   the lake's quarantine area: it still holds raw values) so it is computed once.
3. Rows without failures → ``silver.<collection>_<table>`` (overwritten in one commit):
   identifiers replaced by ``<col>_hash``, names dropped, dates of birth cut to the
   month (the exact date kept only as a keyed hash, ``<col>_hash``, for linkage),
   postcodes to sector/district (+ LSOA/ward), lineage kept, ``_latest`` marking
   the most recent submission of each natural key across years.
   Rows with failures → ``quarantine.rows``, one row per failure, with the original
   strings as JSON. Flags on kept rows (UPN_INVALID, CODE_CASE, ID_FLOAT, episode
   repairs) → ``quarantine.row_flags``. Per file and table, in = out + quarantined:
   ``silver.file_counts``.
4. SSDA903 episodes are chained into ``silver.care_history`` (cslake.silver.episodes).

A table is rebuilt only when its inputs changed (bronze version, current files, conf,
key): ``silver.build_log`` holds each table's input fingerprint, so a second run over
the same lake commits nothing. ``silver.build_log`` is written last: a run killed
half-way is redone by the next run, and every table it did write was one Delta commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from cslake import catalog, storage
from cslake.catalog import table_spec
from cslake.config import ConfigError, conf_dir, load_yaml
from cslake.lake import Lake, new_run_id, scratch_copy
from cslake.pseudo import (date_hash_column, hash_column, key_fingerprint, key_status, month_column, postcode_district,
                           postcode_key, postcode_sector)
from cslake.schemas import ColumnSpec, collection_schema, silver_type, spec_year
from cslake.silver.conform import CONFORM_SIDE_COLUMNS, ERROR_TYPE, conform_year, error_struct, rule_outcomes
from cslake.silver.episodes import build_care_history
from cslake.silver import rules as silver_rules
from cslake.silver.rules import apply_rules, table_rules  # noqa: F401 - the build's names for them
from cslake.tables import TableSpec, sql_string
from cslake.unfinished import writing_group

log = logging.getLogger(__name__)

# Bump when the way silver is computed changes: every table is rebuilt.
# 2: dates of birth also kept as a keyed hash of the exact date (<col>_hash).
# 4: rules flag or quarantine as conf/rules.yaml says; join rules (issue 13).
BUILD_VERSION = "4"

# Which tables, with which columns: declared by the catalog (cslake.catalog), which derives
# every collection table's silver spec from conf/collections. The stage's own names for them:
SilverTable = catalog.SilverTable
silver_tables = catalog.silver_tables
column_history = catalog.column_history
silver_conf = catalog.silver_conf


def silver_spec(t: SilverTable) -> TableSpec:
    return table_spec(t.silver)


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

@dataclass
class SilverReport:
    run_id: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    quarantine_by_rule: dict[str, int] = field(default_factory=dict)
    flags_by_rule: dict[str, int] = field(default_factory=dict)
    repairs: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def bronze_rows(self) -> int:
        return sum(v.get("bronze_rows", 0) for v in self.tables.values())

    @property
    def rows_per_second(self) -> float:
        return self.bronze_rows / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        if not self.tables:
            return f"run {self.run_id}: silver up to date ({len(self.skipped)} tables unchanged)"
        q = sum(v.get("quarantined_rows", 0) for v in self.tables.values())
        # Derived tables (care_history) have no bronze rows of their own: not in the in = out sum.
        s = sum(v.get("silver_rows", 0) for v in self.tables.values() if v.get("bronze_rows", 0))
        rules = ", ".join(f"{k} {v}" for k, v in sorted(self.quarantine_by_rule.items())) or "none"
        rep = ", ".join(f"{k} {v}" for k, v in sorted(self.repairs.items())) or "none"
        return (f"run {self.run_id}: {len(self.tables)} tables rebuilt, {len(self.skipped)} unchanged; "
                f"{self.bronze_rows} bronze rows -> {s} silver + {q} quarantined in {self.seconds:.1f}s "
                f"({self.rows_per_second:,.0f} rows/s); quarantine by rule: {rules}; repairs: {rep}")


# ---------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------

@dataclass
class BuildContext:
    """What every table of one silver run shares, read once at the start of the run."""
    lake: Lake
    run_id: str
    conf: dict
    now: datetime
    staging_root: str  # a path or an s3a:// URI: never through pathlib
    landed: pd.DataFrame  # bronze.files rows of landed files (sha256, path, outcome, collection)
    previous: dict[str, str]  # silver.build_log: table -> input fingerprint of its last build
    conf_hash: str
    key_fp: str
    lookup: tuple | None  # (postcode lookup DataFrame, its bronze version) or None


def build_silver(lake: Lake, run_id: str | None = None, collections: list[str] | None = None,
                 force: bool = False) -> SilverReport:
    """Build every silver table whose inputs changed; returns what was done.

    Raises ``cslake.pseudo.MissingHashKey`` before any work if no key is set.
    """
    key_status()
    t0 = time.perf_counter()
    run_id = run_id or new_run_id()
    report = SilverReport(run_id=run_id)
    catalog.load()
    if not lake.exists(catalog.bronze.files):
        log.info("silver: no bronze.files in %s, nothing to build", lake.root)
        return report
    ctx = _context(lake, run_id)
    try:
        with writing_group(lake.root, "silver", run_id):  # the tables, their side rows, the log: one group
            built = _build_tables(ctx, _tables_to_build(ctx, collections, force, report))
            _add_join_flags(ctx, built)
            _build_care_history_if_changed(ctx, built, force, report)
            if built:
                # every rebuilt table's side-table rows replaced (each table's LA scope whole: None)
                write_side_tables(lake, built, dict.fromkeys(built), run_id, ctx.now, report, ctx.staging_root,
                                  parallel_tables(ctx.conf))
                _write_build_log(ctx, built)
        report.tables = {k: {kk: vv for kk, vv in v.items() if kk in ("bronze_rows", "silver_rows", "quarantined_rows", "seconds")}
                         for k, v in built.items()}
    finally:
        storage.remove_tree(ctx.staging_root)
    report.seconds = time.perf_counter() - t0
    return report


def _context(lake: Lake, run_id: str) -> BuildContext:
    conf = silver_conf()
    silver_rules.validate(conf)
    # The file ledger on the driver: one row per arrival, small by nature.
    files = lake.read_table(catalog.bronze.files).select("sha256", "path", "outcome", "collection").toPandas()
    previous = _build_log(lake)
    # conf/rules.yaml too: a rule's outcome (flag or quarantine) changes what silver holds
    conf_hash = hashlib.sha256(b"".join((conf_dir() / n).read_bytes() for n in ("silver.yaml", "rules.yaml"))).hexdigest()
    key_fp = key_fingerprint()
    lookup = _postcode_lookup(lake, conf)
    staging_root = lake.staging_dir("quarantine", run_id)
    return BuildContext(lake=lake, run_id=run_id, conf=conf, now=datetime.now(timezone.utc).replace(tzinfo=None),
                        staging_root=staging_root, landed=files[files.outcome == "landed"], previous=previous,
                        conf_hash=conf_hash, key_fp=key_fp, lookup=lookup)


def _tables_to_build(ctx: BuildContext, collections: list[str] | None, force: bool,
                     report: SilverReport) -> list[tuple[SilverTable, str]]:
    """(table, input fingerprint) of every table to rebuild; unchanged tables go to ``report.skipped``."""
    todo = []
    for t in silver_tables(collections):
        if not ctx.lake.exists(t.bronze):
            continue
        fp = table_fingerprint(ctx, t)
        if not force and ctx.previous.get(t.silver) == fp and ctx.lake.exists(t.silver):
            report.skipped.append(t.silver)
            continue
        todo.append((t, fp))
    return _with_joined_tables(ctx, todo, report)


def _with_joined_tables(ctx: BuildContext, todo: list, report: SilverReport) -> list:
    """``todo`` plus every table a join rule of a table in it reads (their staged rows are what
    the join rules see), rebuilt even if unchanged."""
    by_name = {silver_rules.short_name(t): t for t in silver_tables(None)}
    names = {silver_rules.short_name(t) for t, _ in todo}
    extra = True
    while extra:
        extra = False
        for t, _ in list(todo):
            for other in sorted(silver_rules.joined_tables(t, ctx.conf) - names):
                u = by_name.get(other)
                if u is None or not ctx.lake.exists(u.bronze):
                    continue
                todo.append((u, table_fingerprint(ctx, u)))
                names.add(other)
                if u.silver in report.skipped:
                    report.skipped.remove(u.silver)
                extra = True
    return todo


def _add_join_flags(ctx: BuildContext, built: dict[str, dict]) -> None:
    """The join rules' findings and the return-level rules' (cslake.silver.rules), over the staged
    rows of this run's tables, added to each judged table's row flags (a return-level one with no row)."""
    staged = {silver_rules.short_name(v["table"]): v["staged"] for v in built.values() if v.get("staged") is not None}
    for out in built.values():
        t = out.get("table")
        if t is None or out.get("staged") is None:
            continue
        for judge in (silver_rules.join_flagged, silver_rules.return_flagged):
            flagged = judge(out["staged"], t, ctx.conf, staged.get)
            if flagged is None:
                continue
            extra = flag_rows(flagged, t, ctx.run_id)
            out["flags"] = extra if out.get("flags") is None else out["flags"].unionByName(extra)


def _build_tables(ctx: BuildContext, todo: list[tuple[SilverTable, str]]) -> dict[str, dict]:
    def build_one(t, fp):
        t1 = time.perf_counter()
        out = build_table(ctx, t)
        out["seconds"] = time.perf_counter() - t1
        out["fingerprint"] = fp
        log.info("silver: %s built: %d bronze -> %d silver + %d quarantined (%.1fs)", t.silver,
                 out["bronze_rows"], out["silver_rows"], out["quarantined_rows"], out["seconds"],
                 extra={"progress": (todo.index((t, fp)) + 1, len(todo), "silver tables")})
        return t.silver, out

    # Tables are independent and each spends most of its time waiting on the engine
    # (planning, Delta commits), so a few run at once; results are gathered in table
    # order so the report and side tables do not depend on scheduling.
    workers = parallel_tables(ctx.conf)
    built: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, out in pool.map(lambda a: build_one(*a), todo):
            built[name] = out
    return built


def _build_care_history_if_changed(ctx: BuildContext, built: dict[str, dict], force: bool,
                                   report: SilverReport) -> None:
    """silver.care_history, when its source episodes were rebuilt or changed since its last build."""
    lake = ctx.lake
    ch_conf = ctx.conf.get("care_history") or {}
    src = "silver." + ch_conf.get("source", "ssda903_episodes")
    ch_table = ch_conf.get("table", catalog.silver.care_history)
    if not lake.exists(src):
        return
    fp = care_history_fingerprint(ctx, src)
    if not (src in built or not lake.exists(ch_table) or force or ctx.previous.get(ch_table) != fp):
        return
    t1 = time.perf_counter()
    ch = build_care_history(lake, ch_conf, ctx.run_id)
    built[ch_table] = {"bronze_rows": 0, "silver_rows": ch["rows"], "quarantined_rows": 0,
                       "flags": ch["flags"], "quarantine": None, "counts": None,
                       "seconds": time.perf_counter() - t1, "fingerprint": fp}
    report.repairs = ch["repairs"]


def _write_build_log(ctx: BuildContext, built: dict[str, dict]) -> None:
    # One row per rebuilt table: small by nature, written from pandas.
    log_rows = [{"table": k, "fingerprint": v["fingerprint"], "run_id": ctx.run_id, "built_at": ctx.now,
                 "bronze_rows": v["bronze_rows"], "silver_rows": v["silver_rows"],
                 "quarantined_rows": v["quarantined_rows"], "seconds": float(v["seconds"])}
                for k, v in built.items()]
    ctx.lake.write_pandas(pd.DataFrame(log_rows), catalog.silver.build_log, mode="merge")


def table_fingerprint(ctx: BuildContext, t: catalog.SilverTable) -> str:
    """What a silver table is built from: its bronze table's version, the live files of its
    collection, the configuration, the key and the postcode lookup's version (silver.build_log)."""
    shas = sorted(set(ctx.landed.loc[ctx.landed.collection == t.collection, "sha256"]))
    return _fingerprint(ctx.lake.version(t.bronze), shas, ctx.conf_hash, ctx.key_fp,
                        ctx.lookup[1] if ctx.lookup and _has_postcode(t) else None, t)


def care_history_fingerprint(ctx: BuildContext, src: str) -> str:
    """care_history's: what its source episodes were built from, not the episodes' Delta version. A
    build killed after writing the episodes and run again writes them twice, so their version differs
    from an uninterrupted build's while every row is the same (measured: bench/fault_campaign.py, 5 of 5
    silver kills left build_log different only here)."""
    (episodes,) = [t for t in catalog.silver_tables(None) if t.silver == src]
    return _fingerprint(table_fingerprint(ctx, episodes), [], ctx.conf_hash, ctx.key_fp, None, None)


def _fingerprint(bronze_version, shas, conf_hash, key_fp, lookup_version, t) -> str:
    payload = json.dumps([BUILD_VERSION, bronze_version, shas, conf_hash, key_fp, lookup_version,
                          None if t is None else [t.collection, t.table]], default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _build_log(lake: Lake) -> dict[str, str]:
    if not lake.exists(catalog.silver.build_log):
        return {}
    pdf = lake.read_table(catalog.silver.build_log).select("table", "fingerprint").toPandas()
    return dict(zip(pdf["table"], pdf["fingerprint"]))


def _has_postcode(t: SilverTable) -> bool:
    return any(s.identifier == "postcode" for s in column_history(t.collection, t.table).values())


def _postcode_lookup(lake: Lake, conf: dict):
    """(DataFrame postcode_key, lsoa, ward; bronze version) or None when not landed."""
    pl = conf.get("postcode_lookup") or {}
    name = pl.get("table")
    if not name or not lake.exists(name):
        return None
    df = lake.read_table(name)
    if not {pl.get("postcode"), pl.get("lsoa"), pl.get("ward")} <= set(df.columns):
        log.warning("postcode lookup %s lacks columns %s; LSOA/ward left empty", name, pl)
        return None
    return postcode_lookup_rows(df, pl), lake.version(name)


def postcode_lookup_rows(df, pl: dict):
    """The lookup file's rows → (_pc: postcode key, _lsoa, _ward), one row per postcode."""
    return (df.select(postcode_key(F.col(pl["postcode"])).alias("_pc"), F.col(pl["lsoa"]).alias("_lsoa"),
                      F.col(pl["ward"]).alias("_ward"))
            .filter(F.col("_pc").isNotNull()).dropDuplicates(["_pc"]))


# ---------------------------------------------------------------------------
# One table: read (edge) → pure transforms → write (edge)
# ---------------------------------------------------------------------------

def build_table(ctx: BuildContext, t: SilverTable, las: list[str] | None = None) -> dict:
    """Build one silver table: its current bronze rows conformed and validated (staged once,
    as they still hold raw values), the clean ones pseudonymised and written. Returns the
    counts, the quarantine and flag rows (DataFrames over the staged rows) and the per-file
    counts (pandas) for the side tables.

    With ``las`` (the incremental build, cslake.silver.incremental): those LAs' rows only, written
    over those LAs' rows of the table (Delta replaceWhere) and nothing else."""
    lake = ctx.lake
    spec = silver_spec(t)
    history = column_history(t.collection, t.table)
    bronze = lake.read_table(t.bronze)
    scope: dict = {}
    if las is not None:
        bronze = bronze.filter(F.col("_la").isin(las))
        scope = {"replace_where": la_predicate("_la", las)}
    rows = current_rows(bronze, lake.read_table(catalog.bronze.files))
    years = sorted(r[0] for r in rows.select("_year").distinct().collect())
    if not years:
        lake.write_table(lake.spark.createDataFrame([], spec.spark_schema()), t.silver, mode="overwrite", **scope)
        return {"bronze_rows": 0, "silver_rows": 0, "quarantined_rows": 0,
                "quarantine": None, "flags": None, "counts": None}
    keys = [k for k in catalog.natural_keys(t.collection, t.table) if k in history]
    lookup = ctx.lookup[0] if ctx.lookup is not None else None
    path = storage.join(ctx.staging_root, t.silver.replace(".", "_"))
    try:
        staged = scratch_copy(lake.spark, validated_rows(rows, t, years, history, ctx.conf, keys), path)
        out = silver_rows(staged, keys, history, lookup)
        lake.write_table(out.select(*spec.column_names), t.silver, mode="overwrite", **scope)
    except Exception as e:  # noqa: BLE001 - one file the engine cannot take must not stop the region
        log.warning("silver %s%s: the build failed (%s); retrying file by file", t.silver,
                    f" (LAs {las})" if las is not None else "", str(e)[:300])
        staged = _staged_file_by_file(ctx, t, rows, history, keys, path)
        out = silver_rows(staged, keys, history, lookup)
        lake.write_table(out.select(*spec.column_names), t.silver, mode="overwrite", **scope)
    # One row per source file: small by nature, summed on the driver.
    counts_pdf = _counts_frame(file_counts(staged).toPandas(), t)
    return {"bronze_rows": int(counts_pdf.bronze_rows.sum()), "silver_rows": int(counts_pdf.silver_rows.sum()),
            "quarantined_rows": int(counts_pdf.quarantined_rows.sum()),
            "quarantine": quarantine_rows(staged, t, ctx.run_id, ctx.now),
            "flags": flag_rows(staged, t, ctx.run_id), "counts": counts_pdf, "staged": staged, "table": t}


def validated_rows(rows, t: SilverTable, years: list, history: dict[str, ColumnSpec], conf: dict, keys: list[str]):
    """Current bronze rows → conformed, cross-field rules and duplicate keys applied (not yet staged)."""
    typed = conform_table(rows, t, years, history, conf)
    return duplicate_keys(apply_rules(typed, t, conf, conformed_columns(rows.columns, history)), keys, history)


def conformed_columns(row_columns: list[str], history: dict[str, ColumnSpec]) -> list[str]:
    """The columns of ``conform_table``'s frame, told from the bronze rows' columns without asking
    the engine: on Spark Connect each ``.columns`` of a conformed frame sends and analyses its whole
    plan (every year's conform step), seconds a table (measured with py-spy on London)."""
    return [*[c for c in row_columns if c.startswith("_")], *history, *CONFORM_SIDE_COLUMNS]


FILE_FAILED_RULE = "FILE_CONFORM_FAILED"


def failed_file_rows(rows, error: str):
    """Every bronze row of a file the engine could not conform, as staged rows that failed
    FILE_CONFORM_FAILED (the engine's error in the message, the raw record kept as JSON)."""
    values = [c for c in rows.columns if not c.startswith("_")]
    lineage = [c for c in rows.columns if c.startswith("_")]
    err = error_struct(FILE_FAILED_RULE, "", F.lit(None), error[:300].replace("\n", " "))
    return rows.select(*lineage, F.array(err).cast(ERROR_TYPE).alias("_errors"),
                       F.array().cast(ERROR_TYPE).alias("_flags"), F.array().cast(ERROR_TYPE).alias("_nulled"),
                       F.to_json(F.struct(*[F.col(f"`{c}`") for c in values])).alias("_record"))


def _staged_file_by_file(ctx: BuildContext, t: SilverTable, rows, history: dict[str, ColumnSpec],
                         keys: list[str], path: str):
    """The table staged one file at a time: a file whose rows the engine cannot conform (or
    pseudonymise) is quarantined whole under FILE_CONFORM_FAILED; every other file is staged
    as usual. Only run when the whole table failed (slow: one pass per file)."""
    lake = ctx.lake
    lookup = ctx.lookup[0] if ctx.lookup is not None else None
    shas = sorted(r[0] for r in rows.select("_file_sha256").distinct().collect())
    parts = []
    for i, sha in enumerate(shas):
        part = rows.filter(F.col("_file_sha256") == sha)
        years = sorted(r[0] for r in part.select("_year").distinct().collect())
        try:
            staged = scratch_copy(lake.spark, validated_rows(part, t, years, history, ctx.conf, keys), f"{path}_f{i}")
            # the writer's transforms (pseudonymisation, date cuts) tried on this file alone
            silver_rows(staged, keys, history, lookup).write.mode("overwrite").parquet(f"{path}_t{i}")
            parts.append(staged)
        except Exception as e:  # noqa: BLE001 - this file is quarantined whole, with the engine's error
            log.warning("silver %s: file %s quarantined whole (%s)", t.silver, sha, str(e)[:300])
            parts.append(failed_file_rows(part, str(e)))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p, allowMissingColumns=True)
    # every file failed: the typed columns, all null
    return scratch_copy(lake.spark, with_typed_nulls(out, history, set(out.columns)), path + "_all")


def current_rows(bronze, files):
    """Bronze rows of files whose ledger outcome is ``landed``, each with its file's ``_path``.

    Joined on the return as well as the bytes: the same bytes can have landed as two
    returns (a 903 table unchanged from one year to the next), each row with its own path.
    """
    landed = (files.filter(F.col("outcome") == "landed")
              .select(F.col("sha256").alias("_f_sha"), F.col("la").alias("_f_la"),
                      F.col("year").cast("int").alias("_f_year"), F.col("period").alias("_f_period"),
                      F.col("path").alias("_path"))
              .dropDuplicates(["_f_sha", "_f_la", "_f_year", "_f_period"]))
    on = ((bronze["_file_sha256"] == landed["_f_sha"]) & bronze["_la"].eqNullSafe(landed["_f_la"])
          & bronze["_year"].eqNullSafe(landed["_f_year"]) & bronze["_period"].eqNullSafe(landed["_f_period"]))
    return bronze.join(landed, on, "inner").drop("_f_sha", "_f_la", "_f_year", "_f_period")


def _schema_for_year(t: SilverTable, year: int | None):
    """The schema in force for ``year``; the latest year that has the table otherwise
    (rows of a table in a year before it existed, or before the base year)."""
    years = catalog.schema_years(t.collection)
    y = years[0] if year is None or year < years[0] else int(year)
    schema = collection_schema(t.collection, y)
    if t.table in schema.tables:
        return schema
    for yy in reversed(years):
        schema = collection_schema(t.collection, yy)
        if t.table in schema.tables:
            return schema
    raise ConfigError(f"{t.collection}: no schema year has table {t.table}")


def conform_table(rows, t: SilverTable, years: list, history: dict[str, ColumnSpec], conf: dict):
    """Bronze rows of the given ``years`` (at least one), each year conformed with its own
    schema (cslake.silver.conform.conform_year), in one frame with every column any year has
    had (columns absent in every present year: typed nulls)."""
    all_cols = list(history)
    row_columns = rows.columns
    parts = []
    have: set[str] = set()  # the typed columns some year has (conform_year), told without the engine
    for y in years:
        schema = _schema_for_year(t, y)
        part = rows.filter(F.col("_year").eqNullSafe(F.lit(y)))
        parts.append(conform_year(part, schema.tables[t.table], schema.date_format, all_cols,
                                  conf.get("pattern_rule", "CODE_INVALID"), event_dates(t),
                                  spec_year(t.collection, schema.year)[0], t.collection, columns=row_columns))
        have |= {name for name in all_cols if name in schema.tables[t.table].columns}
    typed = parts[0]
    for p in parts[1:]:
        typed = typed.unionByName(p, allowMissingColumns=True)
    return with_typed_nulls(typed, history, have)


def with_typed_nulls(df, history: dict[str, ColumnSpec], have: set[str]):
    """``df`` with each column of ``history`` not in ``have`` (its columns) added, null and typed."""
    missing = [F.lit(None).cast(silver_type(spec)).alias(name) for name, spec in history.items() if name not in have]
    return df.select("*", *missing) if missing else df


def event_dates(t: SilverTable) -> tuple[str, ...]:
    """The table's dates that are events of the return's year or earlier: the collection's
    ``year_evidence`` (conf/collections/<c>/base.yaml), none when it declares none."""
    evidence = load_yaml(f"collections/{t.collection}/base.yaml").get("year_evidence") or {}
    return tuple(evidence.get(t.table) or ())


def key_expr(name: str, history: dict[str, ColumnSpec]):
    """A natural-key column as compared between rows (ids normalised as they are hashed)."""
    spec = history[name]
    col = F.col(f"`{name}`")
    if spec.identifier:
        return F.regexp_replace(F.upper(F.regexp_replace(col.cast("string"), r"\s+", "")), r"^(\d+)\.0$", "$1")
    return col


def duplicate_keys(typed, keys: list[str], history: dict[str, ColumnSpec]):
    """DUPLICATE_KEY: a second row with the same natural key (``keys``, compared as
    ``key_expr``) in one file and return; the first (lowest ``_row``) stays. Rows that
    already failed, or lack part of the key, are neither duplicates nor originals."""
    if not keys:
        return typed
    key_cols = [key_expr(k, history) for k in keys]
    clean = F.size("_errors") == 0
    complete = F.lit(True)
    for k in key_cols:
        complete = complete & k.isNotNull()
    w = Window.partitionBy(F.col("_file_sha256"), F.col("_la"), F.col("_year"), F.col("_period"),
                           clean & complete, *key_cols).orderBy(F.col("_row"))
    rn = F.row_number().over(w)
    label = ",".join(keys)
    dup = F.when(clean & complete & (rn > 1),
                 F.array(error_struct("DUPLICATE_KEY", label,
                                      F.concat_ws("|", *[F.col(f"`{k}`").cast("string") for k in keys]))))
    return typed.withColumn("_errors", F.concat(F.col("_errors"), F.coalesce(dup, F.array().cast(ERROR_TYPE)).cast(ERROR_TYPE)))


def mark_latest(good, keys: list[str], history: dict[str, ColumnSpec]):
    """``_latest``: true on the most recent submission (year, then file, then row) of each LA + natural key."""
    key_cols = [key_expr(k, history) for k in keys]
    if not key_cols:
        return good.withColumn("_latest", F.lit(True))
    w = Window.partitionBy(F.col("_la"), *key_cols).orderBy(F.col("_year").desc_nulls_last(),
                                                          F.col("_file_sha256").desc(), F.col("_row").desc())
    return good.withColumn("_latest", F.row_number().over(w) == 1)


def silver_rows(staged, keys: list[str], history: dict[str, ColumnSpec], lookup=None):
    """Conformed rows → silver rows: those without failures, ``_latest`` marked, ``_flags`` as
    a comma-separated list of rules, identifiers pseudonymised (``lookup``: the postcode lookup
    rows, or None)."""
    good = mark_latest(staged.filter(F.size("_errors") == 0), keys, history)
    found = F.concat(F.col("_flags"), nulled_col(staged))
    good = good.withColumn("_flags", F.when(F.size(found) > 0,
                                            F.array_join(F.array_distinct(F.transform(found, lambda x: x["rule"])), ",")))
    return pseudonymise(good, history, lookup)


def _source_columns(t: SilverTable, run_id: str) -> dict:
    return dict(table=F.lit(t.silver), source_file_sha256=F.col("_file_sha256"), source_path=F.col("_path"),
                row_number=F.col("_row"), la=F.col("_la"), collection=F.lit(t.collection), year=F.col("_year"),
                run_id=F.lit(run_id))


SIDE_KEYS = ["table", "rule_code", "source_file_sha256", "la", "year", "row_number", "column"]


def nulled_col(staged):
    """The rows' cell-level failures (``_nulled``; an empty array for frames staged without them)."""
    if "_nulled" not in staged.columns:
        return F.array().cast(ERROR_TYPE)
    return F.coalesce(F.col("_nulled"), F.array().cast(ERROR_TYPE))


def quarantine_rows(staged, t: SilverTable, run_id: str, now):
    """``quarantine.rows``: one row per failure of each failing row (its cell-level failures too), with
    the original strings."""
    src = _source_columns(t, run_id)
    failures = first_per_rule_column(F.concat(F.col("_errors"), nulled_col(staged)), lambda x: x)
    return (staged.filter(~(F.size("_errors") == 0)).select("*", F.explode(failures).alias("_e"))
            .select(F.col("_e.rule").alias("rule_code"), F.col("_e.message").alias("message"),
                    F.col("_e.column").alias("column"), F.col("_e.value").alias("value"),
                    F.col("_record").alias("record_json"),
                    F.lit(now).cast("timestamp").alias("quarantined_at"),
                    *[v.alias(k) for k, v in src.items()]))


def first_per_rule_column(findings, finding):
    """``findings`` (an array column) keeping the first element of each (rule, column) of
    ``finding(element)``: one side-table row per SIDE_KEYS, as a row's findings can repeat. Per row,
    not a dropDuplicates over the exploded rows: that aggregate holds every side row of the table
    at once and the engine cannot spill it (silver of one 200 MB file failed in it within a 1 GiB
    memory pool; without a pool it took the process past 2 GB, issue 16)."""
    keys = F.array_distinct(F.transform(findings, lambda x: F.struct(finding(x)["rule"].alias("r"),
                                                                     finding(x)["column"].alias("c"))))
    return F.transform(keys, lambda k: F.filter(findings, lambda x: finding(x)["rule"].eqNullSafe(k["r"])
                                                & finding(x)["column"].eqNullSafe(k["c"]))[0])


def rule_outcome_col(rule):
    """The outcome conf/rules.yaml gives ``rule`` (null for a rule it does not list), as one map
    lookup: a chain of one CASE per rule nests a level per rule, and past about 50 rules Spark
    Connect refuses the plan (protobuf's nesting limit of 100)."""
    pairs = [F.lit(x) for kv in sorted(rule_outcomes().items()) for x in kv]
    if not pairs:
        return F.lit(None).cast("string")
    return F.element_at(F.create_map(*pairs), rule)


def flag_rows(staged, t: SilverTable, run_id: str):
    """``quarantine.row_flags``: one row per finding flagged on a row (kept or not), with its outcome;
    cell-level failures (``_nulled``: the value nulled, the row kept) with outcome ``nulled``."""
    outcome = F.when(F.col("_f_nulled"), F.lit("nulled")).otherwise(rule_outcome_col(F.col("_f.rule")))
    src = _source_columns(t, run_id)
    # a rejected row's cell failures are in quarantine.rows with the rest (quarantine_rows)
    kept_nulled = F.when(F.size("_errors") == 0, nulled_col(staged)).otherwise(F.array().cast(ERROR_TYPE))
    tagged = first_per_rule_column(
        F.concat(F.transform("_flags", lambda x: F.struct(x.alias("f"), F.lit(False).alias("n"))),
                 F.transform(kept_nulled, lambda x: F.struct(x.alias("f"), F.lit(True).alias("n")))),
        lambda x: x["f"])
    return (staged.select("*", F.explode(tagged).alias("_t"))
            .select("*", F.col("_t.f").alias("_f"), F.col("_t.n").alias("_f_nulled"))
            .select(F.col("_f.rule").alias("rule_code"), outcome.alias("outcome"),
                    F.col("_f.message").alias("message"), F.col("_f.column").alias("column"),
                    F.col("_f.value").alias("value"), F.lit(None).cast("string").alias("repaired_to"),
                    *[v.alias(k) for k, v in src.items()]))


def file_counts(staged):
    """Per file: bronze rows = silver rows (no failure) + quarantined rows."""
    ok = F.size("_errors") == 0
    return (staged.groupBy("_file_sha256", "_path", "_la", "_year")
            .agg(F.count(F.lit(1)).alias("bronze_rows"),
                 F.sum(F.when(ok, 1).otherwise(0)).alias("silver_rows"),
                 F.sum(F.when(ok, 0).otherwise(1)).alias("quarantined_rows")))


def _counts_frame(counts_pdf: pd.DataFrame, t: SilverTable) -> pd.DataFrame:
    counts_pdf = counts_pdf.rename(columns={"_file_sha256": "source_file_sha256", "_path": "source_path",
                                            "_la": "la", "_year": "year"})
    counts_pdf.insert(0, "table", t.silver)
    counts_pdf["collection"] = t.collection
    return counts_pdf


def pseudonymise(df, history: dict[str, ColumnSpec], lookup=None):
    """Identifier columns replaced as their class says (``catalog.identifier_treatment``): keyed hash,
    dropped, cut to the month (+ hash of the exact date), postcode sector/district (+ LSOA/ward
    from ``lookup``, the postcode lookup rows, when given)."""
    out = df
    for name, spec in history.items():
        how = catalog.identifier_treatment(spec)
        col = F.col(f"`{name}`")
        if how == "hash":
            out = out.withColumn(f"{name}_hash", hash_column(col, spec.identifier, F.col("_la"))).drop(name)
        elif how == "drop":
            out = out.drop(name)
        elif how == "month":
            out = out.withColumn(name, month_column(col))
        elif how == "month_hash":
            # The hash reads the exact date before the column is cut to the month.
            out = out.withColumn(f"{name}_hash", date_hash_column(col, spec.identifier)).withColumn(name, month_column(col))
        elif how == "postcode":
            out = _postcode_columns(out, name, col, lookup)
    return out


def _postcode_columns(out, name: str, col, lookup):
    out = out.withColumn(f"{name}_sector", postcode_sector(col)).withColumn(f"{name}_district", postcode_district(col))
    if lookup is not None:
        lk = lookup.select(F.col("_pc").alias(f"_pc_{name}"), F.col("_lsoa").alias(f"{name}_lsoa"),
                           F.col("_ward").alias(f"{name}_ward"))
        out = (out.withColumn(f"_pck_{name}", postcode_key(col))
               .join(lk, F.col(f"_pck_{name}") == F.col(f"_pc_{name}"), "left")
               .drop(f"_pck_{name}", f"_pc_{name}"))
    else:
        out = (out.withColumn(f"{name}_lsoa", F.lit(None).cast("string"))
               .withColumn(f"{name}_ward", F.lit(None).cast("string")))
    return out.drop(name)


# ---------------------------------------------------------------------------
# Side tables
# ---------------------------------------------------------------------------

def _materialised(lake: Lake, frames: list, staging_root: str, name: str, workers: int = 1):
    """``frames`` (of one schema) written to one staging folder, one write each, and read back: a
    plain scan to hand to the lake writer. Why not one union: Sail mis-evaluates the writer's NOT
    NULL checks over a union of differently built plans, and on Apache Spark each task of a union
    of ~50 tables' plans deserialises all of them (silver's side tables took over ten minutes on a
    two-LA region on classic local Spark, measured). With ``workers`` > 1 the frames are first
    evaluated ``workers`` at a time, each into a staging folder of its own, then copied into the
    one: a row_flags frame carries its table's join rules, most of the side tables' cost, and
    evaluated one after another they left the engine's other threads idle."""
    path = storage.join(staging_root, "side_" + name.replace(".", "_"))
    # created empty with every column nullable and each frame cast to it: an append never meets a
    # NOT NULL one frame's plan happened to declare, nor a type it would silently null (Sail)
    schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in table_spec(name).spark_schema().fields])
    if workers > 1 and len(frames) > 1:
        parts = [f"{path}_{i}" for i in range(len(frames))]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda fp: _stage_frames(lake, [fp[0]], fp[1], schema), zip(frames, parts)))
        frames = [lake.spark.read.schema(schema).parquet(p) for p in parts]
    return _stage_frames(lake, frames, path, schema)


def _stage_frames(lake: Lake, frames: list, path: str, schema: T.StructType):
    """``frames`` appended one by one to a new staging folder (Parquet, see ``cslake.lake.scratch_copy``) of
    ``schema`` at ``path``, read back with that schema (an empty frame may leave no file)."""
    lake.spark.createDataFrame([], schema).write.mode("overwrite").parquet(path)
    for df in frames:
        df.select(*[F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in schema.fields]) \
            .write.mode("append").parquet(path)
    return lake.spark.read.schema(schema).parquet(path)


def parallel_tables(conf: dict) -> int:
    """How many tables silver builds at once (conf/silver.yaml ``parallel_tables``)."""
    return max(1, int(conf.get("parallel_tables", 4)))


def la_predicate(column: str, las: list[str]) -> str:
    return f"`{column}` IN ({', '.join(sql_string(la) for la in las)})"


def side_predicate(scopes: dict[str, list[str] | None]) -> str:
    """The rows of the side tables (quarantine.rows, row_flags, file_counts) a build replaces:
    every row of a table rebuilt whole, the rebuilt LAs' rows of the others."""
    groups: dict[tuple[str, ...] | None, list[str]] = {}
    for name, scope in sorted(scopes.items()):
        groups.setdefault(None if scope is None else tuple(scope), []).append(name)
    parts = []
    for scope, names in groups.items():
        tables = f"`table` IN ({', '.join(sql_string(n) for n in names)})"
        parts.append(tables if scope is None else f"({tables} AND {la_predicate('la', list(scope))})")
    return " OR ".join(parts)


def write_side_tables(lake: Lake, built: dict, scopes: dict[str, list[str] | None], run_id: str, now,
                      report: SilverReport, staging_root: str, workers: int = 1) -> None:
    """quarantine.rows, quarantine.row_flags and silver.file_counts: the rebuilt tables' rows of the
    rebuilt LAs (every row of a table rebuilt whole) replaced, one commit each (replaceWhere);
    ``workers``: how many tables' row flags (and their join rules) are evaluated at once."""
    where = side_predicate(scopes)
    for name, key in ((catalog.quarantine.rows, "quarantine"), (catalog.quarantine.row_flags, "flags")):
        spec = table_spec(name)
        frames = [v[key].select(*spec.column_names) for v in built.values() if v.get(key) is not None]
        if not frames and not lake.exists(name):
            continue
        frames = frames or [lake.spark.createDataFrame([], spec.spark_schema())]
        # a table not there yet is created first (Lake.write_table), so replaceWhere serves both
        # the row flags carry the join rules: evaluated a few tables at once
        staged = _materialised(lake, frames, staging_root, name, workers if key == "flags" else 1)
        lake.write_table(staged, name, mode="overwrite", replace_where=where)
        by_rule = lake.read_table(name).filter(F.expr(where)).groupBy("rule_code").count().toPandas()
        target = report.quarantine_by_rule if key == "quarantine" else report.flags_by_rule
        target.update({r: int(n) for r, n in zip(by_rule.rule_code, by_rule["count"])})

    counts = [v["counts"] for v in built.values() if v.get("counts") is not None]
    spec = table_spec(catalog.silver.file_counts)
    if counts:
        pdf = pd.concat(counts, ignore_index=True)[spec.column_names]
        new = lake.spark.createDataFrame(pdf, schema=spec.spark_schema())
    elif lake.exists(catalog.silver.file_counts):
        new = lake.spark.createDataFrame([], spec.spark_schema())
    else:
        return
    lake.write_table(new, catalog.silver.file_counts, mode="overwrite", replace_where=where)
