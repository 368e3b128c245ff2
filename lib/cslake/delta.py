"""Delta as Delta: comments, CHECK constraints, history, time travel and maintenance.

The same lake is written by embedded Sail and by Apache Spark with delta-spark, and
read by delta-rs (``deltalake``). What each can do was measured (Sail 0.7.2,
Spark 4.2.0 + Delta 4.4.0, deltalake 1.6), not assumed:

==========================================  ===========  ================  ==========
                                            Sail 0.7     Spark + Delta     delta-rs
==========================================  ===========  ================  ==========
CREATE TABLE ... COMMENT (table, columns)   yes          yes               -
COMMENT ON TABLE / ALTER COLUMN ... COMMENT no           yes               yes (alter)
ALTER TABLE <name> ADD CONSTRAINT ... CHECK yes          yes               yes [1]
ALTER TABLE delta.`path` ...                no           yes               -
ALTER TABLE ... DROP CONSTRAINT             no           yes               yes
CHECK enforced on append/overwrite/MERGE    yes          yes               yes
DESCRIBE HISTORY                            no           yes               history()
OPTIMIZE / VACUUM (SQL)                     no           yes               optimize/vacuum
VERSION AS OF / versionAsOf                 yes          yes               load_as_version
==========================================  ===========  ================  ==========

[1] delta-rs rewrites the expression in its own dialect (``y BETWEEN 1 AND 2`` becomes
``y >= 1 AND y <= 2``, regexes would not survive), so constraints are added with
Spark SQL on every engine, by the table's catalog name (``Lake`` registers it first).

Both engines store comments where Delta says (``metaData.description`` and the
``comment`` key of each field's metadata) and a CHECK constraint as the table property
``delta.constraints.<name>`` (writer version 3, no table features): each reads and
appends to the other's tables. A row for which a constraint is NULL is refused on
both, as Delta specifies, so nullable columns are declared ``x IS NULL OR ...``.

Smaller differences, all measured: DESCRIBE HISTORY gives each commit file's
modification time, delta-rs the ``commitInfo`` timestamp (milliseconds apart);
Sail's refusal names the constraint and its expression, classic Spark also the
offending values; Sail's in-memory catalog keeps the comments it saw at registration
(DESCRIBE TABLE is stale after delta-rs changes one; the Delta log is right).

Everything that differs goes through one ``DeltaOps`` chosen once per session by
``ops_for(spark)``: Spark SQL where the engine has Delta's SQL commands, delta-rs
where it has not (Sail), and delta-rs alone when no Spark is wanted (``cslake status``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cslake.tables import TableNotFoundError, quote_ident, sql_string

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from cslake.lake import Lake
    from cslake.tables import TableSpec

log = logging.getLogger(__name__)

_CONSTRAINT_PREFIX = "delta.constraints."
_MIN_SAFE_RETENTION_HOURS = 168


def _path_ident(path: str) -> str:
    return "delta.`" + path.replace("`", "``") + "`"


# ---------------------------------------------------------------------------
# One representation of a table's history


@dataclass(frozen=True)
class Commit:
    """One Delta commit, the same whichever engine read the log."""

    version: int
    timestamp: datetime  # UTC
    operation: str
    parameters: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)
    engine: str = ""  # engineInfo (or clientVersion) of the writer

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "timestamp": self.timestamp, "operation": self.operation,
                "parameters": self.parameters, "metrics": self.metrics, "engine": self.engine}


def _as_str(v: Any) -> str:
    import json

    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def _metrics(raw: dict[str, Any] | None) -> dict[str, int]:
    out = {}
    for k, v in (raw or {}).items():
        try:
            out[str(k)] = int(v)
        except (TypeError, ValueError):
            continue
    return out


def _commit_from_delta_rs(entry: dict[str, Any]) -> Commit:
    return Commit(
        version=int(entry["version"]),
        timestamp=datetime.fromtimestamp(entry["timestamp"] / 1000, tz=timezone.utc),
        operation=str(entry.get("operation") or ""),
        parameters={str(k): _as_str(v) for k, v in (entry.get("operationParameters") or {}).items()},
        metrics=_metrics(entry.get("operationMetrics")),
        engine=str(entry.get("engineInfo") or entry.get("clientVersion") or ""),
    )


def _commit_from_spark(row: Any) -> Commit:
    ts = row["timestamp"]
    # pyspark gives a naive datetime in this process's local time zone.
    ts = ts.astimezone(timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)
    return Commit(
        version=int(row["version"]),
        timestamp=ts,
        operation=str(row["operation"] or ""),
        parameters={str(k): _as_str(v) for k, v in (row["operationParameters"] or {}).items()},
        metrics=_metrics(row["operationMetrics"]),
        engine=str(row["engineInfo"] or ""),
    )


@dataclass
class MaintenanceResult:
    table: str
    files_added: int = 0  # OPTIMIZE: compacted files written
    files_removed: int = 0  # OPTIMIZE: small files replaced (still on disk until VACUUM)
    files_vacuumed: int = 0  # VACUUM: unreferenced files deleted
    version: int | None = None
    via: str = ""


# ---------------------------------------------------------------------------
# The two ways to do it


class DeltaOps:
    """Operations on a Delta table that engines do differently. Use ``ops_for``."""

    name = "?"

    def history(self, path: str, limit: int | None = None) -> list[Commit]:
        raise NotImplementedError

    def optimize(self, path: str) -> tuple[int, int]:
        """Compact small files; returns (files added, files removed)."""
        raise NotImplementedError

    def vacuum(self, path: str, retain_hours: int) -> int:
        """Delete files unreferenced for ``retain_hours``; returns how many."""
        raise NotImplementedError

    def set_table_comment(self, path: str, comment: str) -> None:
        raise NotImplementedError

    def set_column_comment(self, path: str, column: str, comment: str) -> None:
        raise NotImplementedError

    def drop_constraint(self, path: str, name: str) -> None:
        raise NotImplementedError


class DeltaRsOps(DeltaOps):
    """delta-rs: for Sail (no Delta SQL commands) and for answers without Spark."""

    name = "delta-rs"

    @staticmethod
    def _dt(path: str):
        return _open(path)

    def history(self, path: str, limit: int | None = None) -> list[Commit]:
        return [_commit_from_delta_rs(e) for e in self._dt(path).history(limit)]

    def optimize(self, path: str) -> tuple[int, int]:
        m = self._dt(path).optimize.compact()
        return int(m.get("numFilesAdded", 0)), int(m.get("numFilesRemoved", 0))

    def vacuum(self, path: str, retain_hours: int) -> int:
        removed = self._dt(path).vacuum(
            retention_hours=retain_hours, dry_run=False,
            enforce_retention_duration=retain_hours >= _MIN_SAFE_RETENTION_HOURS,
        )
        return len(removed)

    def set_table_comment(self, path: str, comment: str) -> None:
        self._dt(path).alter.set_table_description(comment)

    def set_column_comment(self, path: str, column: str, comment: str) -> None:
        self._dt(path).alter.set_column_metadata(column, {"comment": comment})

    def drop_constraint(self, path: str, name: str) -> None:
        self._dt(path).alter.drop_constraint(name, raise_if_not_exists=False)


class SparkSqlOps(DeltaOps):
    """Delta's own SQL on Apache Spark with delta-spark (classic, or a Spark Connect server with Delta)."""

    name = "spark-sql"

    def __init__(self, spark: "SparkSession") -> None:
        self.spark = spark

    def _sql(self, text: str) -> list[Any]:
        return self.spark.sql(text).collect()

    def history(self, path: str, limit: int | None = None) -> list[Commit]:
        q = f"DESCRIBE HISTORY {_path_ident(path)}" + (f" LIMIT {int(limit)}" if limit else "")
        return [_commit_from_spark(r) for r in self._sql(q)]

    def optimize(self, path: str) -> tuple[int, int]:
        rows = self._sql(f"OPTIMIZE {_path_ident(path)}")
        m = rows[0]["metrics"] if rows else None
        return (int(m["numFilesAdded"]), int(m["numFilesRemoved"])) if m is not None else (0, 0)

    def vacuum(self, path: str, retain_hours: int) -> int:
        key = "spark.databricks.delta.retentionDurationCheck.enabled"
        unsafe = retain_hours < _MIN_SAFE_RETENTION_HOURS
        check_was = self.spark.conf.get(key, "true") if unsafe else None
        if unsafe:
            # Asking for less than Delta's 7-day default is taken as deliberate (as Lake.vacuum does).
            self.spark.conf.set(key, "false")
        try:
            start = DeltaRsOps._dt(path).version()
            self._sql(f"VACUUM {_path_ident(path)} RETAIN {int(retain_hours)} HOURS")
            # Delta logs VACUUM START / VACUUM END commits with the count; a DRY RUN
            # first to count would list the files twice (the slow part of VACUUM).
            for c in DeltaRsOps().history(path, 4):
                if c.version > start and c.operation == "VACUUM END":
                    return c.metrics.get("numDeletedFiles", 0)
            return 0
        finally:
            if unsafe:
                self.spark.conf.set(key, check_was)

    def set_table_comment(self, path: str, comment: str) -> None:
        self._sql(f"COMMENT ON TABLE {_path_ident(path)} IS {sql_string(comment)}")

    def set_column_comment(self, path: str, column: str, comment: str) -> None:
        self._sql(f"ALTER TABLE {_path_ident(path)} ALTER COLUMN {quote_ident(column)} COMMENT {sql_string(comment)}")

    def drop_constraint(self, path: str, name: str) -> None:
        self._sql(f"ALTER TABLE {_path_ident(path)} DROP CONSTRAINT IF EXISTS {quote_ident(name)}")


def ops_for(spark: "SparkSession | None") -> DeltaOps:
    """The way to do Delta things with ``spark``: its Delta SQL, or delta-rs if it has none.

    ``None`` (no session wanted) gives delta-rs. Sail 0.7 has none of DESCRIBE HISTORY,
    OPTIMIZE, VACUUM, COMMENT ON, ALTER COLUMN ... COMMENT or DROP CONSTRAINT; classic
    Spark and a Spark Connect server (started with Delta, as deploy/spark-connect does)
    have them all.
    """
    if spark is None:
        return DeltaRsOps()
    from cslake.engine import engine_name

    return DeltaRsOps() if engine_name(spark) == "sail" else SparkSqlOps(spark)


# ---------------------------------------------------------------------------
# Declarations → table metadata


def _open(path: str):
    """delta-rs table at ``path`` (a local path or s3a:// with the storage options it needs)."""
    from deltalake import DeltaTable

    from cslake import storage

    return DeltaTable(storage.delta_uri(path), storage_options=storage.delta_storage_options(path))


def constraints_on_disk(path: str) -> dict[str, str]:
    conf = _open(path).metadata().configuration or {}
    return {k[len(_CONSTRAINT_PREFIX):]: v for k, v in conf.items() if k.startswith(_CONSTRAINT_PREFIX)}


def _norm_expr(expr: str) -> str:
    return " ".join(str(expr).split())


def sync_metadata(lake: "Lake", spec: "TableSpec", *, comments: bool = True, constraints: bool = True) -> list[str]:
    """Make the table's comments and CHECK constraints what ``spec`` declares; returns what changed.

    Reads the Delta log with delta-rs (cheap) and changes only what differs, so calling
    it before every write commits nothing once a table is in line. Constraints are added
    with ``ALTER TABLE <name> ADD CONSTRAINT`` (Spark SQL on every engine; the name
    must be registered, which ``Lake`` does before calling this); Delta checks the rows
    already there and refuses if one breaks it (``DELTA_NEW_CHECK_CONSTRAINT_VIOLATION``).
    """
    path = lake.path(spec.name)
    ops = ops_for(lake.spark)
    dt = lake._delta(spec.name)  # with the storage options an s3a:// lake needs
    meta = dt.metadata()
    changed: list[str] = []
    if comments:
        if spec.description and (meta.description or "") != spec.description:
            ops.set_table_comment(path, spec.description)
            changed.append("table comment")
        have = {f.name: (f.metadata or {}).get("comment", "") for f in dt.schema().fields}
        for col in spec.columns:
            if col.description and col.name in have and have[col.name] != col.description:
                ops.set_column_comment(path, col.name, col.description)
                changed.append(f"comment on {col.name}")
    if constraints:
        have_c = {k: _norm_expr(v) for k, v in (meta.configuration or {}).items() if k.startswith(_CONSTRAINT_PREFIX)}
        have_c = {k[len(_CONSTRAINT_PREFIX):]: v for k, v in have_c.items()}
        want = {n: _norm_expr(e) for n, e in spec.constraints}
        for name, expr in have_c.items():
            if want.get(name) != expr:
                ops.drop_constraint(path, name)
                changed.append(f"dropped constraint {name}")
        for name, expr in want.items():
            if have_c.get(name) != expr:
                lake.spark.sql(
                    f"ALTER TABLE {quote_ident(spec.name)} ADD CONSTRAINT {quote_ident(name)} CHECK ({expr})"
                ).collect()
                changed.append(f"constraint {name}")
    if changed:
        log.info("table %s: %s", spec.name, ", ".join(changed))
    return changed


# ---------------------------------------------------------------------------
# Maintenance


def maintain(lake: "Lake", names: list[str] | None = None, *, optimize: bool = True, vacuum: bool = False,
             retain_hours: int = _MIN_SAFE_RETENTION_HOURS, spark: "SparkSession | None" = None) -> list[MaintenanceResult]:
    """OPTIMIZE and/or VACUUM every table (or ``names``): Delta's SQL on Spark + Delta, delta-rs otherwise.

    ``spark`` defaults to the lake's session; VACUUM with less than 168 hours is taken
    as deliberate (time travel to older versions stops working).
    """
    ops = ops_for(spark if spark is not None else lake.spark)
    out = []
    for name in names or lake.tables():
        path = lake.path(name)
        r = MaintenanceResult(name, via=ops.name)
        if optimize:
            r.files_added, r.files_removed = ops.optimize(path)
        if vacuum:
            r.files_vacuumed = ops.vacuum(path, retain_hours)
        r.version = lake.version(name)
        out.append(r)
        log.info("maintained %s via %s: +%d -%d files, %d vacuumed", name, ops.name,
                 r.files_added, r.files_removed, r.files_vacuumed)
    return out


def history(lake: "Lake", name: str, limit: int | None = None, spark: "SparkSession | None" = None) -> list[Commit]:
    """The table's commits, newest first: DESCRIBE HISTORY on Spark + Delta, delta-rs otherwise."""
    if not lake.exists(name):
        raise TableNotFoundError(f"table {name} does not exist at {lake.path(name)} (nothing written yet)")
    return ops_for(spark).history(lake.path(name), limit)


# ---------------------------------------------------------------------------
# One screen each, for the command line


def print_history(name: str, commits: list[Commit], via: str, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{name}: history ({via})")
    for col, justify in [("version", "right"), ("timestamp (UTC)", "left"), ("operation", "left"),
                         ("parameters", "left"), ("rows out", "right"), ("files +/-", "right"), ("engine", "left")]:
        table.add_column(col, justify=justify)
    for c in commits:
        m = c.metrics
        rows = m.get("numOutputRows", m.get("num_added_rows"))
        added = m.get("numAddedFiles", m.get("numFilesAdded", m.get("numFiles")))
        removed = m.get("numRemovedFiles", m.get("numFilesRemoved", m.get("numDeletedFiles")))
        params = ", ".join(f"{k}={v}" for k, v in c.parameters.items() if k not in ("metadata", "protocol"))
        table.add_row(str(c.version), c.timestamp.strftime("%Y-%m-%d %H:%M:%S"), c.operation,
                      params[:60] + ("…" if len(params) > 60 else ""),
                      "" if rows is None else f"{rows:,}",
                      f"+{added or 0}/-{removed or 0}" if added is not None or removed is not None else "",
                      c.engine)
    (console or Console()).print(table)


def print_maintenance(results: list[MaintenanceResult], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    via = results[0].via if results else "-"
    table = Table(title=f"maintenance ({via})")
    for col in ("table", "files added", "files removed", "files vacuumed", "version"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for r in results:
        table.add_row(r.table, str(r.files_added), str(r.files_removed), str(r.files_vacuumed), str(r.version))
    if results:
        table.add_row("total", str(sum(r.files_added for r in results)), str(sum(r.files_removed for r in results)),
                      str(sum(r.files_vacuumed for r in results)), "", style="bold")
    (console or Console()).print(table if results else "no Delta tables to maintain")
