"""The silver job: bronze rows of current files → typed, validated, pseudonymised silver.

    report = build_silver(lake)            # every bronze table that exists
    print(report.summary())

For each bronze table ``bronze.<collection>_<table>``:

1. Rows of files whose ledger outcome is ``landed`` (superseded and duplicate
   arrivals stay in bronze as history).
2. Each row is conformed with the schema of its own ``_year`` (cslake.silver.conform),
   then the cross-field rules of ``conf/silver.yaml`` and the one-row-per-natural-key
   check (DUPLICATE_KEY) add their failures. The result is staged once (Delta, under
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
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cslake import storage
from cslake.config import ConfigError, conf_dir, load_yaml
from cslake.lake import Lake
from cslake.schemas import ColumnSpec, base_year, collection_schema, collections as all_collections, diff_years
from cslake.tables import TableSpec, TableSpecError, register_table_spec, table_spec

log = logging.getLogger(__name__)

# Bump when the way silver is computed changes: every table is rebuilt.
# 2: dates of birth also kept as a keyed hash of the exact date (<col>_hash).
BUILD_VERSION = "3"

LINEAGE_COLUMNS = [
    {"name": "_file_sha256", "type": "string", "nullable": False, "description": "SHA-256 of the source file (bronze.files)"},
    {"name": "_la", "type": "string", "description": "3-digit DfE code of the LA"},
    {"name": "_year", "type": "int", "description": "Collection year ending 31 March"},
    {"name": "_period", "type": "string", "description": "Sub-year period or 'annual'"},
    {"name": "_row", "type": "bigint", "nullable": False, "description": "Row in the source file (as in bronze)"},
    {"name": "_parent_row", "type": "bigint", "description": "XML: _row of the enclosing element's row"},
    {"name": "_latest", "type": "boolean", "nullable": False,
     "description": "True for the most recent submission of this natural key (LA + keys) across years; filter on it to de-duplicate"},
    {"name": "_flags", "type": "string", "description": "Comma-separated rules flagged on this row (details in quarantine.row_flags)"},
]

SUPPORT_SPECS = {
    "quarantine.row_flags": {
        "description": "Findings on rows that were kept in silver: flagged (UPN_INVALID), tolerated (CODE_CASE, ID_FLOAT) or repaired (SSDA903_EPI_OPEN/OVERLAP). Raw values: as sensitive as bronze.",
        "keys": ["table", "rule_code", "source_file_sha256", "la", "year", "row_number", "column"],
        "columns": [
            {"name": "table", "type": "string", "nullable": False},
            {"name": "rule_code", "type": "string", "nullable": False},
            {"name": "outcome", "type": "string", "description": "flag | tolerate | repair (conf/rules.yaml)"},
            {"name": "message", "type": "string", "nullable": False},
            {"name": "column", "type": "string"},
            {"name": "value", "type": "string", "description": "Value as found (raw)"},
            {"name": "repaired_to", "type": "string", "description": "For repairs: the value silver holds"},
            {"name": "source_file_sha256", "type": "string"},
            {"name": "source_path", "type": "string"},
            {"name": "row_number", "type": "bigint"},
            {"name": "la", "type": "string"},
            {"name": "collection", "type": "string"},
            {"name": "year", "type": "int"},
            {"name": "run_id", "type": "string", "nullable": False},
        ],
    },
    "silver.file_counts": {
        "description": "Per source file and table: rows in bronze = rows in silver + rows quarantined (nothing silently dropped).",
        "keys": ["table", "source_file_sha256", "la", "year"],
        "columns": [
            {"name": "table", "type": "string", "nullable": False},
            {"name": "source_file_sha256", "type": "string", "nullable": False},
            {"name": "source_path", "type": "string"},
            {"name": "la", "type": "string"},
            {"name": "collection", "type": "string"},
            {"name": "year", "type": "int"},
            {"name": "bronze_rows", "type": "bigint", "nullable": False},
            {"name": "silver_rows", "type": "bigint", "nullable": False},
            {"name": "quarantined_rows", "type": "bigint", "nullable": False},
        ],
    },
    "silver.build_log": {
        "description": "Last build of each silver table: the fingerprint of its inputs (rebuilt only when it changes).",
        "keys": ["table"],
        "columns": [
            {"name": "table", "type": "string", "nullable": False},
            {"name": "fingerprint", "type": "string", "nullable": False},
            {"name": "run_id", "type": "string", "nullable": False},
            {"name": "built_at", "type": "timestamp", "nullable": False},
            {"name": "bronze_rows", "type": "bigint"},
            {"name": "silver_rows", "type": "bigint"},
            {"name": "quarantined_rows", "type": "bigint"},
            {"name": "seconds", "type": "double"},
        ],
    },
}


def _ensure_support_specs() -> None:
    for name, raw in SUPPORT_SPECS.items():
        try:
            table_spec(name)
        except TableSpecError:
            register_table_spec(TableSpec.from_dict(name, raw))


def silver_conf() -> dict:
    return load_yaml("silver.yaml") or {}


# ---------------------------------------------------------------------------
# Which tables, with which columns
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SilverTable:
    collection: str
    table: str
    bronze: str
    silver: str


def _schema_years(collection: str) -> list[int]:
    first = base_year(collection)
    return [first] + [y for y in diff_years(collection) if y > first]


def silver_tables(collections: list[str] | None = None) -> list[SilverTable]:
    from cslake.land import bronze_table_name

    known = set(all_collections())
    wanted = collections or silver_conf().get("collections") or sorted(known)
    out = []
    for coll in wanted:
        if coll not in known:
            continue
        names: list[str] = []
        for y in _schema_years(coll):
            for t in collection_schema(coll, y).tables:
                if t not in names:
                    names.append(t)
        for t in names:
            b = bronze_table_name(coll, t)
            out.append(SilverTable(coll, t, b, "silver." + b.split(".", 1)[1]))
    return out


def column_history(collection: str, table: str) -> dict[str, ColumnSpec]:
    """Each column any year of the table has had, with its latest spec."""
    cols: dict[str, ColumnSpec] = {}
    for y in _schema_years(collection):
        schema = collection_schema(collection, y)
        if table in schema.tables:
            for name, spec in schema.tables[table].columns.items():
                cols[name] = spec
    return cols


def _identifier_treatment(spec: ColumnSpec) -> str | None:
    """hash (replaced by <col>_hash) | drop | month (cut to the first of the month) |
    month_hash (cut to the month, plus <col>_hash of the exact date) | postcode | None."""
    from cslake.pseudo import DATE_DEGRADE_CLASSES, DATE_HASH_DOMAINS, DROP_CLASSES, HASH_DOMAINS, POSTCODE_CLASSES

    cls = spec.identifier
    if not cls:
        return None
    if cls in HASH_DOMAINS:
        return "hash"
    if cls in DROP_CLASSES:
        return "drop"
    if cls in DATE_DEGRADE_CLASSES:
        return "month_hash" if cls in DATE_HASH_DOMAINS else "month"
    if cls in POSTCODE_CLASSES:
        return "postcode"
    raise ConfigError(f"identifier class {cls!r} of column {spec.name} has no treatment in cslake.pseudo")


def silver_spec(t: SilverTable) -> TableSpec:
    from cslake.silver.conform import silver_type

    cols = list(LINEAGE_COLUMNS)
    for name, spec in column_history(t.collection, t.table).items():
        how = _identifier_treatment(spec)
        desc = spec.description or name
        if how == "hash":
            cols.append({"name": f"{name}_hash", "type": "string",
                         "description": f"{desc}: keyed hash (HMAC-SHA256) of the normalised {spec.identifier}"})
        elif how == "drop":
            continue
        elif how in ("month", "month_hash"):
            cols.append({"name": name, "type": silver_type(spec), "description": f"{desc} (first of the month)"})
            if how == "month_hash":
                cols.append({"name": f"{name}_hash", "type": "string",
                             "description": f"{desc}: keyed hash (HMAC-SHA256) of the exact date (YYYY-MM-DD, "
                                            f"{spec.identifier} hash domain), for linkage; the same date gives the "
                                            f"same hash in every collection, year and LA. The date itself is kept "
                                            f"only to the month ({name})"})
        elif how == "postcode":
            for part, d in (("sector", "postcode sector (AB1 2)"), ("district", "postcode district (AB1)"),
                            ("lsoa", "LSOA from the postcode lookup"), ("ward", "ward from the postcode lookup")):
                cols.append({"name": f"{name}_{part}", "type": "string", "description": f"{desc}: {d}"})
        else:
            cols.append({"name": name, "type": silver_type(spec), "description": desc})
    about = _table_description(t)
    raw = {"description": f"{t.collection} {t.table}: {about + ' ' if about else ''}"
                          f"Conformed, validated, pseudonymised (from {t.bronze}).",
           "keys": ["_file_sha256", "_la", "_year", "_period", "_row"], "columns": cols,
           "constraints": silver_conf().get("constraints") or {}}
    # Re-registered on every build: the spec follows conf/collections as it changes.
    return register_table_spec(TableSpec.from_dict(t.silver, raw), replace=True)


def _table_description(t: SilverTable) -> str:
    """The table's description in conf/collections (latest year that has one), for the data dictionary."""
    text = ""
    for y in _schema_years(t.collection):
        schema = collection_schema(t.collection, y)
        if t.table in schema.tables and schema.tables[t.table].description:
            text = schema.tables[t.table].description.strip()
    return text


def _keys(t: SilverTable) -> list[str]:
    keys: list[str] = []
    for y in _schema_years(t.collection):
        schema = collection_schema(t.collection, y)
        if t.table in schema.tables:
            keys = list(schema.tables[t.table].keys)
    return keys


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

def build_silver(lake: Lake, run_id: str | None = None, collections: list[str] | None = None,
                 force: bool = False) -> SilverReport:
    """Build every silver table whose inputs changed; returns what was done.

    Raises ``cslake.pseudo.MissingHashKey`` before any work if no key is set.
    """
    from cslake.pseudo import key_fingerprint, key_status

    key_status()
    t0 = time.perf_counter()
    run_id = run_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    report = SilverReport(run_id=run_id)
    _ensure_support_specs()
    if not lake.exists("bronze.files"):
        log.info("silver: no bronze.files in %s, nothing to build", lake.root)
        return report
    conf = silver_conf()
    files = lake.read_table("bronze.files").select("sha256", "path", "outcome", "collection").toPandas()
    landed = files[files.outcome == "landed"]
    previous = _build_log(lake)
    conf_hash = hashlib.sha256((conf_dir() / "silver.yaml").read_bytes()).hexdigest()
    key_fp = key_fingerprint()
    lookup = _postcode_lookup(lake, conf)

    staging_root = lake.staging_dir("quarantine", run_id)  # a path or an s3a:// URI: never through pathlib
    built: dict[str, dict] = {}
    outputs: dict[str, dict] = {}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        todo = []
        for t in silver_tables(collections):
            if not lake.exists(t.bronze):
                continue
            shas = sorted(set(landed.loc[landed.collection == t.collection, "sha256"]))
            fp = _fingerprint(lake.version(t.bronze), shas, conf_hash, key_fp,
                              lookup[1] if lookup and _has_postcode(t) else None, t)
            if not force and previous.get(t.silver) == fp and lake.exists(t.silver):
                report.skipped.append(t.silver)
                continue
            todo.append((t, fp))

        def build_one(t, fp):
            t1 = time.perf_counter()
            out = _build_table(lake, t, conf, lookup, staging_root, run_id, now)
            out["seconds"] = time.perf_counter() - t1
            out["fingerprint"] = fp
            log.info("silver: %s built: %d bronze -> %d silver + %d quarantined (%.1fs)", t.silver,
                     out["bronze_rows"], out["silver_rows"], out["quarantined_rows"], out["seconds"])
            return t.silver, out

        # Tables are independent and each spends most of its time waiting on the engine
        # (planning, Delta commits), so a few run at once; results are gathered in table
        # order so the report and side tables do not depend on scheduling.
        workers = max(1, int(conf.get("parallel_tables", 4)))
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for name, out in pool.map(lambda a: build_one(*a), todo):
                built[name] = out

        from cslake.silver.episodes import build_care_history

        ch_conf = conf.get("care_history") or {}
        src = "silver." + ch_conf.get("source", "ssda903_episodes")
        ch_table = ch_conf.get("table", "silver.care_history")
        if lake.exists(src) and (src in built or not lake.exists(ch_table) or force
                                 or previous.get(ch_table) != _fingerprint(lake.version(src), [], conf_hash, key_fp, None, None)):
            t1 = time.perf_counter()
            ch = build_care_history(lake, ch_conf, run_id)
            fp = _fingerprint(lake.version(src), [], conf_hash, key_fp, None, None)
            built[ch_table] = {"bronze_rows": 0, "silver_rows": ch["rows"], "quarantined_rows": 0,
                               "flags": ch["flags"], "quarantine": None, "counts": None,
                               "seconds": time.perf_counter() - t1, "fingerprint": fp}
            report.repairs = ch["repairs"]

        if built:
            _write_side_tables(lake, built, run_id, now, report, staging_root)
            log_rows = [{"table": k, "fingerprint": v["fingerprint"], "run_id": run_id, "built_at": now,
                         "bronze_rows": v["bronze_rows"], "silver_rows": v["silver_rows"],
                         "quarantined_rows": v["quarantined_rows"], "seconds": float(v["seconds"])}
                        for k, v in built.items()]
            import pandas as pd

            lake.write_pandas(pd.DataFrame(log_rows), "silver.build_log", mode="merge")
        report.tables = {k: {kk: vv for kk, vv in v.items() if kk in ("bronze_rows", "silver_rows", "quarantined_rows", "seconds")}
                         for k, v in built.items()}
    finally:
        storage.remove_tree(staging_root)
    report.seconds = time.perf_counter() - t0
    return report


def _fingerprint(bronze_version, shas, conf_hash, key_fp, lookup_version, t) -> str:
    payload = json.dumps([BUILD_VERSION, bronze_version, shas, conf_hash, key_fp, lookup_version,
                          None if t is None else [t.collection, t.table]], default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _build_log(lake: Lake) -> dict[str, str]:
    if not lake.exists("silver.build_log"):
        return {}
    pdf = lake.read_table("silver.build_log").select("table", "fingerprint").toPandas()
    return dict(zip(pdf["table"], pdf["fingerprint"]))


def _has_postcode(t: SilverTable) -> bool:
    return any(s.identifier == "postcode" for s in column_history(t.collection, t.table).values())


def _postcode_lookup(lake: Lake, conf: dict):
    """(DataFrame postcode_key, lsoa, ward; bronze version) or None when not landed."""
    from pyspark.sql import functions as F

    from cslake.pseudo import postcode_key

    pl = conf.get("postcode_lookup") or {}
    name = pl.get("table")
    if not name or not lake.exists(name):
        return None
    df = lake.read_table(name)
    cols = set(df.columns)
    if not {pl.get("postcode"), pl.get("lsoa"), pl.get("ward")} <= cols:
        log.warning("postcode lookup %s lacks columns %s; LSOA/ward left empty", name, pl)
        return None
    df = (df.select(postcode_key(F.col(pl["postcode"])).alias("_pc"), F.col(pl["lsoa"]).alias("_lsoa"),
                    F.col(pl["ward"]).alias("_ward"))
          .filter(F.col("_pc").isNotNull()).dropDuplicates(["_pc"]))
    return df, lake.version(name)


def _current_rows(lake: Lake, t: SilverTable):
    from pyspark.sql import functions as F

    # Joined on the return as well as the bytes: the same bytes can have landed as two
    # returns (a 903 table unchanged from one year to the next), each row with its own path.
    files = (lake.read_table("bronze.files").filter(F.col("outcome") == "landed")
             .select(F.col("sha256").alias("_f_sha"), F.col("la").alias("_f_la"),
                     F.col("year").cast("int").alias("_f_year"), F.col("period").alias("_f_period"),
                     F.col("path").alias("_path"))
             .dropDuplicates(["_f_sha", "_f_la", "_f_year", "_f_period"]))
    b = lake.read_table(t.bronze)
    on = ((b["_file_sha256"] == files["_f_sha"]) & b["_la"].eqNullSafe(files["_f_la"])
          & b["_year"].eqNullSafe(files["_f_year"]) & b["_period"].eqNullSafe(files["_f_period"]))
    return b.join(files, on, "inner").drop("_f_sha", "_f_la", "_f_year", "_f_period")


def _schema_for_year(t: SilverTable, year: int | None):
    """The schema in force for ``year``; the latest year that has the table otherwise
    (rows of a table in a year before it existed, or before the base year)."""
    years = _schema_years(t.collection)
    y = years[0] if year is None or year < years[0] else int(year)
    schema = collection_schema(t.collection, y)
    if t.table in schema.tables:
        return schema
    for yy in reversed(years):
        schema = collection_schema(t.collection, yy)
        if t.table in schema.tables:
            return schema
    raise ConfigError(f"{t.collection}: no schema year has table {t.table}")


def _build_table(lake: Lake, t: SilverTable, conf: dict, lookup, staging_root: str, run_id: str, now) -> dict:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from cslake.silver.conform import ERROR_TYPE, _err, conform_year

    spark = lake.spark
    spec = silver_spec(t)
    history = column_history(t.collection, t.table)
    all_cols = list(history)
    rows = _current_rows(lake, t)
    years = sorted(r[0] for r in rows.select("_year").distinct().collect())
    parts = []
    for y in years:
        schema = _schema_for_year(t, y)
        part = rows.filter(F.col("_year").eqNullSafe(F.lit(y)))
        parts.append(conform_year(part, schema.tables[t.table], schema.date_format, all_cols,
                                  conf.get("pattern_rule", "CODE_INVALID")))
    if not parts:
        typed = None
    else:
        typed = parts[0]
        for p in parts[1:]:
            typed = typed.unionByName(p, allowMissingColumns=True)
        # Columns absent in every present year: typed nulls, so the union has them all.
        from cslake.silver.conform import silver_type

        for name in all_cols:
            if name not in typed.columns:
                typed = typed.withColumn(name, F.lit(None).cast(silver_type(history[name])))
        typed = _apply_rules(typed, t, conf)
        typed = _duplicate_keys(typed, t, history)

    stage_path = storage.join(staging_root, t.silver.replace(".", "_"))
    if typed is not None:
        typed.write.format("delta").mode("overwrite").save(stage_path)
        staged = spark.read.format("delta").load(stage_path)
    else:
        staged = None

    if staged is None:
        good = spark.createDataFrame([], spec.spark_schema())
        lake.write_table(good, t.silver, mode="overwrite")
        return {"bronze_rows": 0, "silver_rows": 0, "quarantined_rows": 0,
                "quarantine": None, "flags": None, "counts": None}

    ok = F.size("_errors") == 0
    good = staged.filter(ok)
    keys = _keys(t)
    key_cols = [_key_expr(k, history) for k in keys if k in history]
    if key_cols:
        w = Window.partitionBy(F.col("_la"), *key_cols).orderBy(F.col("_year").desc_nulls_last(),
                                                              F.col("_file_sha256").desc(), F.col("_row").desc())
        good = good.withColumn("_latest", F.row_number().over(w) == 1)
    else:
        good = good.withColumn("_latest", F.lit(True))
    good = good.withColumn("_flags", F.when(F.size("_flags") > 0,
                                            F.array_join(F.array_distinct(F.transform("_flags", lambda x: x["rule"])), ",")))
    out = _pseudonymise(good, history, lookup)
    lake.write_table(out.select(*spec.column_names), t.silver, mode="overwrite")

    src = dict(table=F.lit(t.silver), source_file_sha256=F.col("_file_sha256"), source_path=F.col("_path"),
               row_number=F.col("_row"), la=F.col("_la"), collection=F.lit(t.collection), year=F.col("_year"),
               run_id=F.lit(run_id))
    quarantine = (staged.filter(~ok).select("*", F.explode("_errors").alias("_e"))
                  .select(F.col("_e.rule").alias("rule_code"), F.col("_e.message").alias("message"),
                          F.col("_e.column").alias("column"), F.col("_e.value").alias("value"),
                          F.col("_record").alias("record_json"),
                          F.lit(now).cast("timestamp").alias("quarantined_at"),
                          *[v.alias(k) for k, v in src.items()])
                  .dropDuplicates(["table", "rule_code", "source_file_sha256", "la", "year", "row_number", "column"]))
    from cslake.silver.conform import rule_outcomes

    outcome = F.lit(None).cast("string")
    for k, v in sorted(rule_outcomes().items()):
        outcome = F.when(F.col("_f.rule") == k, F.lit(v)).otherwise(outcome)
    flags = (staged.filter(F.size("_flags") > 0).select("*", F.explode("_flags").alias("_f"))
             .select(F.col("_f.rule").alias("rule_code"), outcome.alias("outcome"),
                     F.col("_f.message").alias("message"), F.col("_f.column").alias("column"),
                     F.col("_f.value").alias("value"), F.lit(None).cast("string").alias("repaired_to"),
                     *[v.alias(k) for k, v in src.items()])
             .dropDuplicates(["table", "rule_code", "source_file_sha256", "la", "year", "row_number", "column"]))
    counts_pdf = (staged.groupBy("_file_sha256", "_path", "_la", "_year")
                  .agg(F.count(F.lit(1)).alias("bronze_rows"),
                       F.sum(F.when(ok, 1).otherwise(0)).alias("silver_rows"),
                       F.sum(F.when(ok, 0).otherwise(1)).alias("quarantined_rows"))
                  .toPandas())
    counts_pdf = counts_pdf.rename(columns={"_file_sha256": "source_file_sha256", "_path": "source_path",
                                            "_la": "la", "_year": "year"})
    counts_pdf.insert(0, "table", t.silver)
    counts_pdf["collection"] = t.collection
    return {"bronze_rows": int(counts_pdf.bronze_rows.sum()), "silver_rows": int(counts_pdf.silver_rows.sum()),
            "quarantined_rows": int(counts_pdf.quarantined_rows.sum()),
            "quarantine": quarantine, "flags": flags, "counts": counts_pdf}


def _key_expr(name: str, history: dict[str, ColumnSpec]):
    """A natural-key column as compared between rows (ids normalised as they are hashed)."""
    from pyspark.sql import functions as F

    spec = history[name]
    col = F.col(f"`{name}`")
    if spec.identifier:
        return F.regexp_replace(F.upper(F.regexp_replace(col.cast("string"), r"\s+", "")), r"^(\d+)\.0$", "$1")
    return col


def _apply_rules(typed, t: SilverTable, conf: dict):
    from pyspark.sql import functions as F

    from cslake.silver.conform import ERROR_TYPE, _err

    rules = [r for r in conf.get("rules") or [] if r.get("table") in (t.table, f"{t.collection}_{t.table}")
             or r.get("table") == t.silver.split(".", 1)[1]]
    if not rules:
        return typed
    checks = []
    for r in rules:
        col = r.get("column")
        value = F.col(f"`{col}`") if col and col in typed.columns else F.lit(None)
        fails = F.coalesce(F.expr(r["fails"]), F.lit(False))
        checks.append(F.when(fails, _err(r["rule"], col or "", value)))
    extra = F.filter(F.array(*checks), lambda x: x.isNotNull()).cast(ERROR_TYPE)
    return typed.withColumn("_errors", F.concat(F.col("_errors"), extra))


def _duplicate_keys(typed, t: SilverTable, history):
    """DUPLICATE_KEY: a second row with the same natural key in one file (the first stays)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from cslake.silver.conform import ERROR_TYPE, _err

    keys = [k for k in _keys(t) if k in history]
    if not keys:
        return typed
    key_cols = [_key_expr(k, history) for k in keys]
    clean = F.size("_errors") == 0
    complete = F.lit(True)
    for k in key_cols:
        complete = complete & k.isNotNull()
    w = Window.partitionBy(F.col("_file_sha256"), F.col("_la"), F.col("_year"), F.col("_period"),
                           clean & complete, *key_cols).orderBy(F.col("_row"))
    rn = F.row_number().over(w)
    label = ",".join(keys)
    dup = F.when(clean & complete & (rn > 1),
                 F.array(_err("DUPLICATE_KEY", label, F.concat_ws("|", *[F.col(f"`{k}`").cast("string") for k in keys]))))
    return typed.withColumn("_errors", F.concat(F.col("_errors"), F.coalesce(dup, F.array().cast(ERROR_TYPE)).cast(ERROR_TYPE)))


def _pseudonymise(df, history: dict[str, ColumnSpec], lookup):
    from pyspark.sql import functions as F

    from cslake.pseudo import (date_hash_column, hash_column, month_column, postcode_district, postcode_key,
                               postcode_sector)

    out = df
    for name, spec in history.items():
        how = _identifier_treatment(spec)
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
            out = out.withColumn(f"{name}_sector", postcode_sector(col)).withColumn(f"{name}_district", postcode_district(col))
            if lookup is not None:
                lk = lookup[0].select(F.col("_pc").alias(f"_pc_{name}"), F.col("_lsoa").alias(f"{name}_lsoa"),
                                      F.col("_ward").alias(f"{name}_ward"))
                out = (out.withColumn(f"_pck_{name}", postcode_key(col))
                       .join(lk, F.col(f"_pck_{name}") == F.col(f"_pc_{name}"), "left")
                       .drop(f"_pck_{name}", f"_pc_{name}"))
            else:
                out = (out.withColumn(f"{name}_lsoa", F.lit(None).cast("string"))
                       .withColumn(f"{name}_ward", F.lit(None).cast("string")))
            out = out.drop(name)
    return out


def _materialised(lake: Lake, df, staging_root: str, name: str):
    """``df`` written once to staging and read back: a plain scan to hand to the lake writer.
    (Sail mis-evaluates the writer's NOT NULL checks over a union of differently built
    plans; a scan of staged rows has no such problem, and the union runs once.)"""
    path = storage.join(staging_root, "side_" + name.replace(".", "_"))
    df.write.format("delta").mode("overwrite").save(path)
    return lake.spark.read.format("delta").load(path)


def _write_side_tables(lake: Lake, built: dict, run_id: str, now, report: SilverReport,
                       staging_root: str) -> None:
    """quarantine.rows, quarantine.row_flags and silver.file_counts: the rebuilt tables'
    rows replace their earlier ones; other tables' rows are kept. One commit each."""
    import pandas as pd
    from pyspark.sql import functions as F

    rebuilt = sorted(built)
    for name, key in (("quarantine.rows", "quarantine"), ("quarantine.row_flags", "flags")):
        spec = table_spec(name)
        frames = [v[key].select(*spec.column_names) for v in built.values() if v.get(key) is not None]
        if not frames and not lake.exists(name):
            continue
        new = frames[0] if frames else None
        for f in frames[1:]:
            new = new.unionByName(f)
        if lake.exists(name):
            keep = lake.read_table(name).filter(~F.col("table").isin(rebuilt))
            new = keep if new is None else keep.unionByName(new)
        lake.write_table(_materialised(lake, new, staging_root, name), name, mode="overwrite")
        by_rule = (lake.read_table(name).filter(F.col("table").isin(rebuilt)).groupBy("rule_code").count().toPandas())
        target = report.quarantine_by_rule if key == "quarantine" else report.flags_by_rule
        target.update({r: int(n) for r, n in zip(by_rule.rule_code, by_rule["count"])})

    counts = [v["counts"] for v in built.values() if v.get("counts") is not None]
    if counts:
        spec = table_spec("silver.file_counts")
        pdf = pd.concat(counts, ignore_index=True)[spec.column_names]
        new = lake.spark.createDataFrame(pdf, schema=spec.spark_schema())
        if lake.exists("silver.file_counts"):
            keep = lake.read_table("silver.file_counts").filter(~F.col("table").isin(rebuilt))
            new = keep.unionByName(new)
        lake.write_table(new, "silver.file_counts", mode="overwrite")
