"""The lake: where each table lives, and the only way data gets written to it.

Every write goes through ``Lake.write_table``, which casts the DataFrame to
the table's declared schema (``cslake.tables``) and refuses anything that does
not fit. That is not tidiness: measured on Sail, appending a string into a
bigint column writes NULLs and ``mergeSchema`` onto non-nullable columns drops
the new column, both silently. Refusing loudly here is the only defence.

Layout: ``<root>/<layer>/<table>``; ``bronze.files`` lives at
``<root>/bronze/files``. Spark reads and writes the tables; delta-rs
(``deltalake``) answers questions about them (versions, history, row counts)
without starting Spark, and does the maintenance Sail lacks (OPTIMIZE, VACUUM,
adding a column).

Catalog: tables are registered as ``<layer>.<table>`` (databases ``bronze``,
``silver``, ...). Sail 0.7 supports ``CREATE DATABASE IF NOT EXISTS`` and
``CREATE TABLE ... USING delta LOCATION``, so no underscore-name fallback is
needed; its catalog is per server and in memory, hence ``register_all()``.
Never ``INSERT INTO`` a lake table by name: Sail inserts by position and
Delta keeps partition columns last, so columns get silently swapped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from cslake.catalog import has_table_spec, table_spec
from cslake.delta import sync_metadata
from cslake.lock import pid_alive
from cslake.tables import LAYERS, TableNotFoundError, TableSpec, TableSpecError, quote_ident, sql_string

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

WRITE_MODES = ("append", "overwrite", "merge")


def new_run_id() -> str:
    """A run's id, as every table's ``run_id`` column holds it: UTC start time, then 6 random hex digits."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
# Marks our own raise_error() messages so they can be told apart from other
# Spark failures and re-raised as SchemaMismatchError.
_MARK = "CSLAKE_SCHEMA_MISMATCH"
# Values go into error messages so an engineer can find the bad row; keep them
# short (they may be child-level data, and logs are not the lake).
_MAX_VALUE_CHARS = 80


class SchemaMismatchError(ValueError):
    """A DataFrame does not fit the declared schema of the table it is written to."""


class ConstraintViolationError(ValueError):
    """Delta refused a write: a row breaks a CHECK constraint or a NOT NULL column of the table."""


# Delta's error classes for a write refused by the table's own constraints (both engines).
_CONSTRAINT_ERRORS = ("DELTA_VIOLATE_CONSTRAINT_WITH_VALUES", "DELTA_NOT_NULL_CONSTRAINT_VIOLATED",
                      "DELTA_NEW_CHECK_CONSTRAINT_VIOLATION")


def _constraint_violation_from(exc: BaseException, name: str) -> ConstraintViolationError | None:
    text = str(exc)
    for code in _CONSTRAINT_ERRORS:
        i = text.find(code)
        if i >= 0:
            lines = text[i:].splitlines()
            # Classic Spark lists the offending values on the following " - col : value" lines.
            detail = " ".join([lines[0]] + [ln.strip() for ln in lines[1:4] if ln.strip().startswith("- ")])
            return ConstraintViolationError(f"write to {name} refused by Delta: {detail}")
    return None


# ---------------------------------------------------------------------------
# Casting to the declared schema


def _same_type(a: Any, b: Any) -> bool:
    # simpleString ignores nullability (incl. array containsNull), which the
    # cast does not change and the table enforces itself.
    return a.simpleString() == b.simpleString()


def _castable(src: Any, dst: Any) -> bool:
    """Casts we accept; anything else is a modelling error, not dirty data."""
    from pyspark.sql import types as T

    numeric = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
    atomic = numeric + (T.StringType, T.BooleanType, T.DateType, T.TimestampType, T.TimestampNTZType)
    if isinstance(src, T.NullType):
        return True
    if isinstance(dst, T.StringType):
        return isinstance(src, atomic)
    if isinstance(src, T.StringType):
        return isinstance(dst, atomic)
    if isinstance(dst, numeric):
        return isinstance(src, numeric + (T.BooleanType,))
    if isinstance(dst, T.BooleanType):
        return isinstance(src, numeric)
    if isinstance(dst, (T.DateType, T.TimestampType, T.TimestampNTZType)):
        return isinstance(src, (T.DateType, T.TimestampType, T.TimestampNTZType))
    if isinstance(dst, T.ArrayType) and isinstance(src, T.ArrayType):
        return _same_type(src.elementType, dst.elementType) or _castable(src.elementType, dst.elementType)
    return False


def _is_fractional(t: Any) -> bool:
    from pyspark.sql import types as T

    return isinstance(t, (T.FloatType, T.DoubleType, T.DecimalType))


def _is_integral(t: Any) -> bool:
    from pyspark.sql import types as T

    return isinstance(t, (T.ByteType, T.ShortType, T.IntegerType, T.LongType))


def conform(df: "DataFrame", spec: TableSpec) -> "DataFrame":
    """``df`` cast to ``spec``: declared column order and types, or a loud failure.

    Structural problems (missing/extra columns, impossible casts) raise
    ``SchemaMismatchError`` here. Value problems (a string that is not a
    number, a null in a NOT NULL column) can only be seen row by row, so the
    returned DataFrame fails when evaluated, with a message naming the table,
    the column and an example value; ``Lake.write_table`` turns that into a
    ``SchemaMismatchError`` too. The check rides along the write, so data is
    read once.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    schema = df.schema
    have = {f.name: f.dataType for f in schema.fields}
    if len(have) != len(schema.fields):
        dupes = sorted({f.name for f in schema.fields if [g.name for g in schema.fields].count(f.name) > 1})
        raise SchemaMismatchError(f"write to {spec.name}: duplicate column(s) {', '.join(dupes)}")
    declared = spec.column_names
    missing = [c for c in declared if c not in have]
    extra = [c for c in have if c not in set(declared)]
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(f"{c} ({spec.column(c).type})" for c in missing))
        if extra:
            parts.append("extra column(s) " + ", ".join(f"{c} ({have[c].simpleString()})" for c in extra))
        lower_missing = {c.lower(): c for c in missing}
        hints = [f"{e!r} vs declared {lower_missing[e.lower()]!r}" for e in extra if e.lower() in lower_missing]
        msg = f"write to {spec.name}: " + "; ".join(parts)
        if hints:
            msg += " (names differ only by case: " + ", ".join(hints) + ")"
        raise SchemaMismatchError(msg + f". Declared columns: {', '.join(declared)}")

    exprs = []
    for col in spec.columns:
        src_t, dst_t = have[col.name], col.data_type
        src = F.col(col.name)
        where = f"{_MARK}: table {spec.name}, column {col.name}"
        if _same_type(src_t, dst_t):
            value, bad = src, None
        else:
            if not _castable(src_t, dst_t):
                raise SchemaMismatchError(
                    f"write to {spec.name}: column {col.name} is {src_t.simpleString()}, "
                    f"declared {col.type}; no safe cast between them"
                )
            value = src.cast(dst_t) if isinstance(src_t, T.NullType) else src.try_cast(dst_t)
            bad = src.isNotNull() & value.isNull()
            if isinstance(dst_t, T.ArrayType):
                # try_cast nulls the elements that do not fit, not the array.
                bad = bad | (
                    F.size(F.filter(src, lambda x: x.isNotNull())) != F.size(F.filter(value, lambda x: x.isNotNull()))
                )
            elif _is_fractional(src_t) and _is_integral(dst_t):
                # 1.7 → 1 would be silent corruption; only whole numbers fit.
                bad = bad | (value.cast(src_t) != src)
        if bad is not None:
            shown = F.substring(F.coalesce(src.cast("string"), F.lit("?")), 1, _MAX_VALUE_CHARS)
            msg = F.concat(
                F.lit(f"{where}: value '"), shown,
                F.lit(f"' ({src_t.simpleString()}) does not fit declared type {col.type}"),
            )
            checked = F.when(bad, F.raise_error(msg))
            if not col.nullable:
                checked = checked.when(value.isNull(), F.raise_error(F.lit(f"{where}: null in a NOT NULL column")))
            value = checked.otherwise(value)
        elif not col.nullable:
            value = F.when(value.isNull(), F.raise_error(F.lit(f"{where}: null in a NOT NULL column"))).otherwise(value)
        # raise_error() is typed void/string on some engines; pin the type.
        exprs.append(value.cast(dst_t).alias(col.name) if bad is not None or not col.nullable else value.alias(col.name))
    return df.select(*exprs)


def _within(df: "DataFrame", predicate: str, spec: TableSpec) -> "DataFrame":
    """``df`` failing when evaluated if a row does not match ``predicate`` (a replaceWhere)."""
    from pyspark.sql import functions as F

    if not df.columns:
        return df
    first = df.columns[0]
    outside = ~F.coalesce(F.expr(f"({predicate})"), F.lit(False))
    msg = F.lit(f"{_MARK}: table {spec.name}: a row outside the rows it replaces ({predicate})")
    guarded = F.when(outside, F.raise_error(msg)).otherwise(F.col(first)).cast(spec.column(first).data_type)
    return df.select(guarded.alias(first), *df.columns[1:])


def frame_to_spark(spark: "SparkSession", pdf: pd.DataFrame, schema: Any) -> "DataFrame":
    """A pandas frame as a Spark DataFrame of ``schema`` (a StructType), the same on every engine.

    Goes through Arrow with the target types, never through pyspark's own
    pandas conversion: classic Spark turns a float NaN into a NaN double (that
    no int column accepts) where Connect engines give null, and infers types
    from values where Connect uses Arrow's. Here NaN/None/NaT are null on
    every engine, and a value that does not fit its column (1.5 into an int)
    raises ``SchemaMismatchError`` naming the column.
    """
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow_schema = to_arrow_schema(schema, timezone="UTC", prefers_large_types=False)
    missing = [f.name for f in schema.fields if f.name not in pdf.columns]
    if missing:
        raise SchemaMismatchError(f"frame has no column(s) {', '.join(missing)}; expected {', '.join(schema.names)}")
    arrays = []
    for field in arrow_schema:
        series = pdf[field.name]
        if pa.types.is_string(field.type) and series.dtype == object:
            # A text column of mixed values (published counts: 12 beside "x") is text, as str() gives it.
            series = series.map(lambda v: v if v is None or isinstance(v, str) or v is pd.NA or v is pd.NaT
                                or (isinstance(v, float) and v != v) else str(v))
        try:
            if len(series) and series.isna().all():
                # No values: pandas typed it float (all NaN), which no date or text column casts from.
                arr = pa.nulls(len(series), field.type)
            elif pa.types.is_date32(field.type) and pd.api.types.is_datetime64_any_dtype(series):
                arr = pa.array(series.dt.date, from_pandas=True).cast(field.type)
            else:
                arr = pa.array(series, from_pandas=True)
                if not arr.type.equals(field.type):
                    # Spark keeps microseconds: a file's nanosecond mtime is truncated, as
                    # both engines' own conversions did; any other lossy cast is refused.
                    lossy_ok = pa.types.is_timestamp(arr.type) and pa.types.is_timestamp(field.type)
                    arr = arr.cast(field.type, safe=not lossy_ok)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise SchemaMismatchError(f"column {field.name}: {series.dtype} values do not fit {field.type} ({exc})") from exc
        arrays.append(arr)
    table = pa.Table.from_arrays(arrays, schema=arrow_schema) if arrays else pa.table({})
    if table.num_rows == 0:
        return spark.createDataFrame([], schema)
    return spark.createDataFrame(table, schema=schema)


def _mismatch_from(exc: BaseException) -> SchemaMismatchError | None:
    text = str(exc)
    i = text.find(_MARK)
    if i < 0:
        return None
    msg = text[i + len(_MARK) + 2 :].splitlines()[0]
    # Classic Spark appends its error class and SQLSTATE after our message.
    msg = re.split(r"\s+SQLSTATE:|\. SQLSTATE", msg)[0].strip()
    return SchemaMismatchError(msg)


# ---------------------------------------------------------------------------
# Catalog registration, per Spark session (Sail's catalog lives in memory)

_reg_lock = threading.Lock()
_registered: dict[tuple[int, str], str] = {}  # (id(session), name) -> location


def _norm_location(loc: str) -> str:
    loc = loc.strip()
    if loc.startswith("file://"):
        loc = loc[len("file://") :]
    elif loc.startswith("file:"):
        loc = loc[len("file:") :]
    return loc.rstrip("/")


# ---------------------------------------------------------------------------


class Lake:
    """A lake rooted at ``root`` (arg, else ``$CSLAKE_LAKE``, else ``./lake``)."""

    def __init__(self, root: str | os.PathLike[str] | None = None, spark: "SparkSession | None" = None) -> None:
        from cslake import storage

        raw = os.fspath(root) if root is not None else os.environ.get("CSLAKE_LAKE") or "lake"
        # Object-store URIs stay as given (s3a:// for Spark; delta-rs and fsspec get
        # theirs from cslake.storage); local paths become absolute so the catalog and
        # delta-rs agree on what a table's location is.
        self.root = storage.location(raw)
        self._spark = spark

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    @property
    def spark(self) -> "SparkSession":
        if self._spark is None:
            from cslake.engine import get_spark

            self._spark = get_spark()
        return self._spark

    # -- where things are ---------------------------------------------------

    def path(self, name: str) -> str:
        layer, _, table = name.partition(".")
        if layer not in LAYERS or not table or "." in table or "/" in table:
            raise TableSpecError(f"table name {name!r} must be '<layer>.<table>' with layer one of {', '.join(LAYERS)}")
        return f"{self.root}/{layer}/{table}"

    def _delta_location(self, path: str) -> tuple[str, dict[str, str] | None]:
        """(URI, storage options) for delta-rs: s3a:// becomes s3:// with the AWS_* settings."""
        from cslake import storage

        return storage.delta_uri(path), storage.delta_storage_options(path)

    def exists(self, name: str) -> bool:
        from deltalake import DeltaTable

        uri, options = self._delta_location(self.path(name))
        return DeltaTable.is_deltatable(uri, storage_options=options)

    def _delta(self, name: str):
        from deltalake import DeltaTable

        if not self.exists(name):
            raise TableNotFoundError(f"table {name} does not exist at {self.path(name)} (nothing written yet)")
        uri, options = self._delta_location(self.path(name))
        return DeltaTable(uri, storage_options=options)

    def version(self, name: str) -> int:
        return self._delta(name).version()

    def history(self, name: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Delta commits, newest first (delta-rs ``history()``)."""
        return self._delta(name).history(limit)

    def tables(self) -> list[str]:
        """Dotted names of every Delta table under the root."""
        from deltalake import DeltaTable

        from cslake import storage

        found = []
        for layer in LAYERS:
            base = storage.join(self.root, layer)
            if not storage.is_uri(base):
                if not Path(base).is_dir():
                    continue
                for child in sorted(Path(base).iterdir()):
                    if child.is_dir() and DeltaTable.is_deltatable(str(child)):
                        found.append(f"{layer}.{child.name}")
                continue
            # Object stores: one listing per layer, then a Delta log look-up per table
            # (folders such as _archive and _staging hold no _delta_log).
            for child in storage.list_dirs(base):
                if child.startswith(("_", ".")):
                    continue
                if self.exists(f"{layer}.{child}"):
                    found.append(f"{layer}.{child}")
        return found

    # -- reading -------------------------------------------------------------

    def read_table(self, name: str, version: int | None = None) -> "DataFrame":
        if not self.exists(name):
            raise TableNotFoundError(f"table {name} does not exist at {self.path(name)} (nothing written yet)")
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        df = reader.load(self.path(name))
        if has_table_spec(name):
            # Delta stores partition columns last; give readers the declared order.
            cols = table_spec(name).column_names
            if set(cols) == set(df.columns):
                df = df.select(*cols)
        return df

    # -- writing -------------------------------------------------------------

    def write_table(
        self,
        df: "DataFrame",
        name: str,
        mode: str = "append",
        keys: Sequence[str] | None = None,
        replace_where: str | None = None,
    ) -> int:
        """Write ``df`` to table ``name``; returns the table's new Delta version.

        ``append`` adds rows; ``overwrite`` replaces the content in one commit
        (readers see old or new, never a mix); ``merge`` upserts on ``keys``
        (default: the spec's keys; matched null-safely): rows whose key exists
        are updated, others inserted, rows absent from ``df`` are kept.
        A table that does not exist yet is created with the declared schema
        first (its version 0), even when ``df`` is empty.

        ``replace_where`` (overwrite only): a Spark SQL predicate; only the rows matching it are
        replaced (Delta's ``replaceWhere``, one commit), the others kept. Every row written must
        match it: Spark + Delta refuses one that does not, Sail 0.7 writes it silently (measured),
        so the check rides along the write here, on both engines.
        """
        if mode not in WRITE_MODES:
            raise ValueError(f"write mode {mode!r}; expected one of {', '.join(WRITE_MODES)}")
        if replace_where is not None and mode != "overwrite":
            raise ValueError(f"replace_where needs mode 'overwrite', not {mode!r}")
        spec = table_spec(name)
        conformed = conform(df, spec)
        if replace_where is not None:
            conformed = _within(conformed, replace_where, spec)
        deferred = self._ensure_table(spec, mode)
        path = self.path(name)
        if spec.partition_by and mode != "merge":
            # One task per partition value, so one file per value and write (an LA's rows of a
            # silver table in one file, not one per input task): a rebuild of one LA then adds
            # and removes that LA's file and no other.
            conformed = conformed.repartition(*spec.partition_by)
        try:
            if mode == "merge":
                self._merge(conformed, spec, list(keys) if keys else list(spec.keys))
            elif replace_where is not None:
                conformed.write.format("delta").mode(mode).option("replaceWhere", replace_where).save(path)
            else:
                conformed.write.format("delta").mode(mode).save(path)
        except Exception as exc:
            mismatch = _mismatch_from(exc)
            if mismatch is not None:
                raise mismatch from exc
            violation = _constraint_violation_from(exc, name)
            if violation is not None:
                raise violation from exc
            raise
        if deferred:
            # A newly declared constraint that the old rows broke: checked against the new ones.
            sync_metadata(self, spec)
        version = self.version(name)
        log.info("wrote %s (%s): version %d", name, mode, version)
        return version

    def write_pandas(self, pdf: pd.DataFrame, name: str, mode: str = "append", keys: Sequence[str] | None = None) -> int:
        """``write_table`` for a driver-side pandas frame: converted with the table's declared
        types (``frame_to_spark``), extra columns refused, missing nullable ones null."""
        spec = table_spec(name)
        extra = [c for c in pdf.columns if c not in spec.column_names]
        if extra:
            raise SchemaMismatchError(f"write to {name}: extra column(s) {', '.join(map(str, extra))}")
        pdf = pdf.reindex(columns=spec.column_names)
        return self.write_table(frame_to_spark(self.spark, pdf, spec.spark_schema()), name, mode=mode, keys=keys)

    def _merge(self, src: "DataFrame", spec: TableSpec, keys: list[str]) -> None:
        from pyspark.sql import functions as F

        if not keys:
            raise ValueError(f"merge into {spec.name}: no keys given and the table declares none")
        unknown = [k for k in keys if k not in spec.column_names]
        if unknown:
            raise ValueError(f"merge into {spec.name}: key(s) {', '.join(unknown)} are not columns of the table")
        # Two source rows for one key would make the result depend on row
        # order (Sail inserts both when the key is new). Refuse instead.
        dup = src.groupBy(*keys).agg(F.count(F.lit(1)).alias("_n")).filter(F.col("_n") > 1).limit(1).collect()
        if dup:
            example = {k: dup[0][k] for k in keys}
            raise ValueError(f"merge into {spec.name}: source has {dup[0]['_n']} rows for key {example}; keys must be unique")
        view = f"_cslake_merge_{uuid.uuid4().hex}"
        src.createOrReplaceTempView(view)
        q = quote_ident
        others = [c for c in spec.column_names if c not in keys]
        on = " AND ".join(f"t.{q(k)} <=> s.{q(k)}" for k in keys)
        insert = (
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(q(c) for c in spec.column_names)}) "
            f"VALUES ({', '.join('s.' + q(c) for c in spec.column_names)})"
        )
        if others:
            set_all = "THEN UPDATE SET " + ", ".join(f"t.{q(c)} = s.{q(c)}" for c in others) + " "
            if any("map<" in spec.column(c).data_type.simpleString() for c in others):
                # Maps are not comparable in Spark SQL: update every match.
                update = "WHEN MATCHED " + set_all
            else:
                # Only rewrite rows that changed, so re-running a job does
                # not churn files (or, on Sail, even commit) for identical data.
                changed = " OR ".join(f"NOT (t.{q(c)} <=> s.{q(c)})" for c in others)
                update = f"WHEN MATCHED AND ({changed}) " + set_all
        else:
            update = ""
        sql = f"MERGE INTO delta.`{self.path(spec.name)}` t USING {view} s ON {on} {update}{insert}"
        try:
            self.spark.sql(sql).collect()
        finally:
            self.spark.catalog.dropTempView(view)

    def _ensure_table(self, spec: TableSpec, mode: str = "append") -> bool:
        """Create the table with its declared schema if absent; refuse if it drifted.

        Comments (table and columns) and CHECK constraints follow the declaration
        (``cslake.delta.sync_metadata``). Returns True when a newly declared
        constraint could not be added because rows about to be overwritten break
        it: the caller adds it after the overwrite.
        """
        if not self.exists(spec.name):
            self._register(spec.name, create=spec)
            if not self.exists(spec.name):
                raise RuntimeError(f"creating {spec.name} at {self.path(spec.name)} left no Delta table there")
            # Comments and CHECK constraints went in with CREATE TABLE (TableSpec.create_sql).
            return False
        dt = self._check_on_disk_schema(spec)
        self._match_partitioning(spec, dt)
        self._register(spec.name)
        try:
            sync_metadata(self, spec)
        except Exception as exc:
            if mode == "overwrite" and "DELTA_NEW_CHECK_CONSTRAINT_VIOLATION" in str(exc):
                return True
            raise
        return False

    def _check_on_disk_schema(self, spec: TableSpec) -> Any:
        from deltalake import Field

        from pyspark.sql import types as T

        dt = self._delta(spec.name)
        # The schema from the Delta log through delta-rs (Delta's schema JSON is Spark's): no
        # Spark job per write, where loading the table on Apache Spark replays its log in tasks.
        on_disk = {f.name: f for f in T.StructType.fromJson(json.loads(dt.schema().to_json())).fields}
        problems = []
        to_add = []
        for col in spec.columns:
            f = on_disk.get(col.name)
            if f is None:
                if col.nullable:
                    to_add.append(col)
                else:
                    problems.append(f"declared NOT NULL column {col.name} is not in the table (cannot backfill)")
            elif not _same_type(f.dataType, col.data_type):
                problems.append(f"column {col.name} is {f.dataType.simpleString()} on disk, declared {col.type}")
            elif f.nullable != col.nullable:
                problems.append(
                    f"column {col.name} is {'nullable' if f.nullable else 'NOT NULL'} on disk, "
                    f"declared {'nullable' if col.nullable else 'NOT NULL'}"
                )
        for extra in set(on_disk) - set(spec.column_names):
            problems.append(f"column {extra} is on disk but no longer declared")
        if problems:
            raise SchemaMismatchError(
                f"table {spec.name} at {self.path(spec.name)} does not match its declaration ({spec.origin}): "
                + "; ".join(problems)
                + ". Migrate the table (or, in development, delete it) before writing."
            )
        if to_add:
            # A new nullable column is the one schema change that needs no
            # data migration; Sail has no ALTER TABLE ADD COLUMNS, delta-rs does.
            dt.alter.add_columns([Field.from_json(json.dumps(c.struct_field().jsonValue())) for c in to_add])
            log.info("table %s: added column(s) %s", spec.name, ", ".join(c.name for c in to_add))
        return dt

    def _match_partitioning(self, spec: TableSpec, dt: Any = None) -> bool:
        """Rewrite the table in place with its declared partition columns if it has others (a
        table written before its declaration gained ``partition_by``). Returns True if it did.

        delta-rs rewrites it: the current rows, streamed, overwritten with the new layout and
        ``schema_mode="overwrite"`` in one commit, so every version holds the same rows and
        history, comments and NOT NULL are kept (measured on tables created by Sail and by Spark
        + Delta; Spark's own ``overwriteSchema`` + ``partitionBy`` would declare every column
        nullable on Spark + Delta). delta-rs checks the table's CHECK constraints on write and
        cannot parse every one Spark can (``RLIKE``), so they are dropped first (delta-rs) and
        added back by ``sync_metadata`` right after (Spark SQL, which checks the rows again).
        The write that follows replaces only what it says (a replaceWhere on the partition
        column touches that partition's files alone)."""
        from deltalake import write_deltalake

        dt = dt if dt is not None else self._delta(spec.name)
        have, want = list(dt.metadata().partition_columns), list(spec.partition_by)
        if have == want:
            return False
        for key in list(dt.metadata().configuration or {}):
            if key.startswith("delta.constraints."):
                dt.alter.drop_constraint(key[len("delta.constraints."):])
        uri, options = self._delta_location(self.path(spec.name))
        names = [f.name for f in dt.schema().fields]
        rows = dt.to_pyarrow_dataset().scanner(columns=names).to_reader()
        write_deltalake(uri, rows, mode="overwrite", schema_mode="overwrite", partition_by=want or None,
                        storage_options=options)
        # Sail keeps a registered table's metadata from when it was registered (it would refuse to
        # add back the constraints delta-rs dropped: "already exists"): register it afresh.
        with _reg_lock:
            _registered.pop((id(self.spark), spec.name), None)
            self.spark.sql(f"DROP TABLE IF EXISTS {quote_ident(spec.name)}").collect()
        log.warning("table %s: partitioned by %s on disk, declared %s: rewritten in place (version %d)",
                    spec.name, have or "nothing", want or "nothing", self.version(spec.name))
        return True

    def _register(self, name: str, create: TableSpec | None = None) -> None:
        spark = self.spark
        location = self.path(name)
        key = (id(spark), name)
        with _reg_lock:
            if create is None and _registered.get(key) == location:
                return
            layer = name.split(".", 1)[0]
            spark.sql(f"CREATE DATABASE IF NOT EXISTS `{layer}`").collect()
            current = self._registered_location(name)
            if current is not None and _norm_location(current) != _norm_location(location):
                # Same name, another lake (tests, or a moved root): re-point it.
                # Dropping an external table leaves its files alone.
                spark.sql(f"DROP TABLE IF EXISTS {quote_ident(name)}").collect()
                current = None
            if create is not None:
                if current is not None:
                    # Registered here but no Delta log (deleted by hand): start over.
                    spark.sql(f"DROP TABLE IF EXISTS {quote_ident(name)}").collect()
                spark.sql(create.create_sql(location)).collect()
            elif current is None:
                spark.sql(f"CREATE TABLE IF NOT EXISTS {quote_ident(name)} USING delta LOCATION {sql_string(location)}").collect()
            _registered[key] = location

    def _registered_location(self, name: str) -> str | None:
        if not self.spark.catalog.tableExists(name):
            return None
        for row in self.spark.sql(f"DESCRIBE TABLE EXTENDED {quote_ident(name)}").collect():
            if row[0] == "Location":
                return str(row[1])
        return None

    def register_all(self) -> list[str]:
        """Register every table under the root in the session catalog as ``<layer>.<table>``.

        Sail's catalog is in memory, so each session must do this before SQL
        can name the tables. Idempotent; re-points names that refer to another
        location.
        """
        names = self.tables()
        for name in names:
            self._register(name)
        return names

    # -- scratch space ---------------------------------------------------------

    def staging_dir(self, layer: str, run_id: str) -> str:
        """A fresh scratch directory ``<root>/<layer>/_staging/<run_id>`` for one run.

        Jobs stage intermediate Delta output there and delete it when they finish,
        but a job killed with SIGKILL never gets to; so the first thing a run does
        is sweep away the scratch of runs that are no longer alive (recorded pid
        gone on this host, or older than a day elsewhere). Scratch is never a table:
        nothing reads it after its own run, so removing it cannot change the lake.
        """
        import socket
        import time

        from cslake import storage

        if storage.is_uri(self.root):
            # Object stores: no owner check (no pid to ask); scratch older than a day,
            # by its files' times, is swept, and the job's own cleanup does the rest.
            base = storage.join(self.root, layer, "_staging")
            for old in storage.list_dirs(base):
                entries = list(storage.walk_files(storage.join(base, old)))
                if entries and time.time() - max(e.mtime for e in entries) > 24 * 3600:
                    log.info("removing scratch of an interrupted run: %s/%s", base, old)
                    storage.remove_tree(storage.join(base, old))
            return storage.join(base, run_id)
        base = Path(self.root) / layer / "_staging"
        host = socket.gethostname()
        if base.is_dir():
            for old in base.iterdir():
                owner = {}
                try:
                    owner = json.loads((old / "_owner.json").read_text())
                except (OSError, ValueError):
                    pass
                age_h = (time.time() - old.stat().st_mtime) / 3600
                if owner.get("host") == host and owner.get("pid") and not pid_alive(int(owner["pid"])):
                    dead = True
                else:
                    dead = age_h > 24
                if dead:
                    log.info("removing scratch of an interrupted run: %s", old)
                    import shutil

                    shutil.rmtree(old, ignore_errors=True)
        d = base / run_id
        d.mkdir(parents=True, exist_ok=True)
        (d / "_owner.json").write_text(json.dumps({"host": host, "pid": os.getpid(), "run_id": run_id}))
        return str(d)

    # -- maintenance (delta-rs) ---------------------------------------------

    def optimize(self, name: str) -> dict[str, Any]:
        """Compact small files (delta-rs; Sail has no OPTIMIZE). Returns delta-rs metrics."""
        return self._delta(name).optimize.compact()

    def vacuum(self, name: str, retention_hours: int = 168, dry_run: bool = False) -> list[str]:
        """Delete files no longer referenced by versions newer than ``retention_hours``.

        Time travel to versions older than that stops working. Asking for less
        than Delta's 7-day safety default is taken as deliberate.
        """
        return self._delta(name).vacuum(
            retention_hours=retention_hours,
            dry_run=dry_run,
            enforce_retention_duration=retention_hours >= 168,
        )

    # -- overview ------------------------------------------------------------

    def status(self) -> pd.DataFrame:
        """One row per Delta table under the root: table, path, rows, version,
        last_operation, last_modified (UTC). Reads Delta logs only, no Spark."""
        import pyarrow as pa
        from deltalake import DeltaTable

        rows = []
        for name in self.tables():
            path = self.path(name)
            dt = self._delta(name)
            last = dt.history(1)[0]
            actions = pa.table(dt.get_add_actions(flatten=True))
            counts = actions.column("num_records").to_pylist() if "num_records" in actions.column_names else []
            rows.append(
                {
                    "table": name,
                    "path": path,
                    # Per-file stats; unknown (NA) if any file was written without them.
                    "rows": sum(counts) if all(c is not None for c in counts) else pd.NA,
                    "version": dt.version(),
                    "last_operation": last.get("operation"),
                    "last_modified": datetime.fromtimestamp(last["timestamp"] / 1000, tz=timezone.utc),
                }
            )
        out = pd.DataFrame(rows, columns=["table", "path", "rows", "version", "last_operation", "last_modified"])
        return out.astype({"rows": "Int64", "version": "Int64"})


def print_status(lake: Lake | None = None, console: Any = None) -> pd.DataFrame:
    """Render ``lake.status()`` as a rich table; returns the DataFrame."""
    from rich.console import Console
    from rich.table import Table

    lake = lake or default_lake()
    status = lake.status()
    table = Table(title=f"cslake lake at {lake.root}")
    for col, justify in [("table", "left"), ("rows", "right"), ("version", "right"), ("last operation", "left"), ("last modified (UTC)", "left")]:
        table.add_column(col, justify=justify)
    for r in status.itertuples(index=False):
        table.add_row(
            r.table,
            "?" if pd.isna(r.rows) else f"{int(r.rows):,}",
            str(r.version),
            str(r.last_operation),
            r.last_modified.strftime("%Y-%m-%d %H:%M:%S"),
        )
    (console or Console()).print(table if len(status) else f"no Delta tables under {lake.root}")
    return status


_default: Lake | None = None


def default_lake() -> Lake:
    """A process-wide ``Lake()`` (root from ``$CSLAKE_LAKE`` or ``./lake``)."""
    global _default
    if _default is None:
        _default = Lake()
    return _default


def write_table(df: "DataFrame", name: str, mode: str = "append", keys: Sequence[str] | None = None) -> int:
    return default_lake().write_table(df, name, mode=mode, keys=keys)


def read_table(name: str, version: int | None = None) -> "DataFrame":
    return default_lake().read_table(name, version=version)


def scratch_copy(spark, df, path: str):
    """``df`` written once to ``path`` (Parquet scratch under a run's ``staging_dir``) and read back:
    computed once, and a plain scan for what follows, so a plan never grows stage after stage.

    Scratch is Parquet, never Delta: only its own run reads it, and on Apache Spark a Delta round
    trip (a commit, then the log replayed to read it) cost about 3 s a frame whatever its size,
    Parquet 0.7 s (3 rows, classic local Spark). Read back with the schema the files give, not
    ``df.schema``: on Spark Connect that is one more analysis of ``df``'s whole plan (silver's
    heaviest, seconds a table). Only an empty frame, which leaves no file, asks ``df.schema``."""
    df.write.mode("overwrite").parquet(path)
    back = spark.read.parquet(path)
    # An empty frame leaves no file. Apache Spark then refuses to infer a schema; Sail reads an
    # empty struct (measured). Either way the frame's own schema is the one.
    try:
        if back.schema.fields:
            return back
    except Exception:  # noqa: BLE001 - no file to take a schema from (Apache Spark)
        pass
    return spark.read.schema(df.schema).parquet(path)
