"""Loading gold into the serving database, atomically and incrementally.

    report = serve_publish(lake, dsn, restricted=True, research=Path("research"))
    print(report.summary())

For each schema asked for (``gold`` always; ``gold_restricted`` with ``restricted``; ``research``
from a ``cslake publish research`` folder), every table whose source changed since the last load
(Delta version; for the research extract, its k-anonymity report) is:

1. read (published gold typed: cslake.publish.typed) and copied into a new table ``_load_<t>``
   beside the served one, with its primary key, indexes and comments; nobody but the admin can
   see it, and it is committed;
2. swapped in: one transaction drops every replaced table, renames every new one, grants it
   (row-level security on restricted tables) and records the versions in ``cslake_meta.loaded``. A reader's query sees the old tables or the
   new ones, never a mix or a half-loaded table.

Tables are small aggregates (and, restricted, one row per child at most): read to pandas on the
driver and sent with COPY.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd

from cslake.catalog import table_spec
from cslake.config import local_authorities
from cslake.publish.typed import typed_frame
from cslake.serve import roles
from cslake.serve.db import connect, describe, dsn_from_env
from cslake.serve.schema import PgColumn, PgTable, friendly_name, la_column, served_table
from cslake.stages import DATA, StageError

if TYPE_CHECKING:
    from cslake.lake import Lake

SCHEMAS = {"published": "gold", "restricted": "gold_restricted", "research": "research"}
LOADED_TABLE = "loaded"
STAGING_PREFIX = "_load_"
ARROW_PG = {"string": "text", "large_string": "text", "int8": "smallint", "int16": "smallint", "int32": "integer",
            "int64": "bigint", "double": "double precision", "float": "real", "bool": "boolean",
            "date32[day]": "date"}


@dataclass
class Source:
    """One table to serve: where from, which version, its shape and (lazily) its rows."""

    kind: str
    table: PgTable
    version: str
    read: Any  # () -> pandas DataFrame with the table's column names

    @property
    def schema(self) -> str:
        return SCHEMAS[self.kind]


@dataclass
class ServeReport:
    target: str
    loaded: dict[str, int] = field(default_factory=dict)  # schema.table -> rows
    unchanged: list[str] = field(default_factory=list)
    roles_created: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"served {len(self.loaded)} table(s) to {self.target} in {self.seconds:.1f} s; "
                 f"{len(self.unchanged)} unchanged since the last load"]
        by_schema: dict[str, list[str]] = {}
        for name, n in sorted(self.loaded.items()):
            schema, table = name.split(".", 1)
            by_schema.setdefault(schema, []).append(f"{table} {n:,}")
        lines += [f"  {schema}: {', '.join(items)}" for schema, items in by_schema.items()]
        if self.roles_created:
            lines.append(f"  roles created: {len(self.roles_created)} ({', '.join(self.roles_created[:5])}"
                         f"{', …' if len(self.roles_created) > 5 else ''})")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# Sources


def lake_sources(lake: "Lake", kind: str) -> list[Source]:
    """The gold (or restricted gold) tables present in the lake, at their current Delta versions."""
    layer = SCHEMAS[kind]
    out = []
    for name in sorted(n for n in lake.tables() if n.split(".", 1)[0] == layer):
        spec = table_spec(name)
        table = served_table(spec, published=kind == "published")

        def read(name: str = name, short: str = table.name) -> pd.DataFrame:
            pdf = lake.read_table(name).toPandas()
            if kind == "published":
                pdf, _ = typed_frame(pdf, short)
            return pdf.rename(columns=str.lower)

        out.append(Source(kind, table, str(lake.version(name)), read))
    return out


def arrow_pg_type(arrow_type: str) -> str:
    """PostgreSQL's type for a Parquet column's Arrow type (lists become arrays; unknown types text)."""
    m = re.fullmatch(r"(?:large_)?list<[^:]+: (.+)>", arrow_type)
    if m:
        return arrow_pg_type(m.group(1)) + "[]"
    if arrow_type.startswith("timestamp"):
        return "timestamp"
    return ARROW_PG.get(arrow_type, "text")


def research_sources(folder: Path) -> list[Source]:
    """The research extract's tables (Parquet folders), only if its k-anonymity check passed."""
    import pyarrow.parquet as pq

    report_path = folder / "k_anonymity.json"
    if not report_path.is_file():
        raise StageError(f"no research extract at {folder} (no k_anonymity.json): run `cslake publish research "
                         f"--out {folder}` first", DATA)
    report = json.loads(report_path.read_text(encoding="utf-8"))
    if not report.get("passes"):
        raise StageError(f"the research extract at {folder} fails its k-anonymity check; it is not served", DATA)
    version = str(report_path.stat().st_mtime_ns)
    out = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        schema = pq.read_schema(next(sub.rglob("*.parquet")))
        cols = tuple(PgColumn(f.name.lower(), arrow_pg_type(str(f.type)), True, "") for f in schema)
        names = [c.name for c in cols]
        table = PgTable(sub.name, cols, (), ("research_id",) if "research_id" in names else (),
                        f"Research extract (k-anonymous, k={report.get('k')}): {sub.name}")
        out.append(Source("research", table, version,
                          lambda sub=sub: pd.read_parquet(sub).rename(columns=str.lower)))
    return out


# ---------------------------------------------------------------------------
# Writing


def _py(v: Any) -> Any:
    if isinstance(v, np.ndarray):  # an array cell (Parquet list): a PostgreSQL array
        return [_py(x) for x in v.tolist()]
    if v is None or (not isinstance(v, (list, tuple, dict)) and pd.isna(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v.item() if hasattr(v, "item") else v


def rows_of(pdf: pd.DataFrame, columns: list[str]) -> Iterator[tuple]:
    missing = [c for c in columns if c not in pdf.columns]
    if missing:
        raise StageError(f"cannot serve: columns {', '.join(missing)} missing from the source frame", DATA)
    for rec in pdf[columns].astype(object).itertuples(index=False, name=None):
        yield tuple(_py(v) for v in rec)


def create_staging(cur: Any, src: Source, pdf: pd.DataFrame) -> str:
    """Create and fill ``<schema>._load_<table>`` with its key, indexes and comments (no grants: only
the admin sees it until :func:`swap_in`); returns its name."""
    from psycopg import sql

    t, schema, tmp = src.table, src.schema, STAGING_PREFIX + src.table.name
    ident = sql.Identifier(schema, tmp)
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
    cols = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(sql.Identifier(c.name), sql.SQL(c.type),
                                  sql.SQL(" NOT NULL" if (not c.nullable or c.name in t.primary_key) else ""))
        for c in t.columns)
    cur.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, cols))
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
            ident, sql.SQL(", ").join(map(sql.Identifier, t.column_names)))) as copy:
        for row in rows_of(pdf, t.column_names):
            copy.write_row(row)
    if t.primary_key:
        cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            ident, sql.Identifier(f"{tmp}_pkey"), sql.SQL(", ").join(map(sql.Identifier, t.primary_key))))
    for col in t.indexes:
        cur.execute(sql.SQL("CREATE INDEX {} ON {} ({})").format(sql.Identifier(f"{tmp}_{col}_idx"), ident,
                                                                 sql.Identifier(col)))
    cur.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(ident, sql.Literal(t.comment or None)))
    for c in t.columns:
        if c.comment:
            cur.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(ident, sql.Identifier(c.name),
                                                                        sql.Literal(c.comment)))
    cur.execute(sql.SQL("ANALYZE {}").format(ident))
    return tmp


def swap_in(cur: Any, src: Source, rows: int) -> None:
    """Replace the served table by its staging twin (inside the caller's transaction)."""
    from psycopg import sql

    t, schema, tmp = src.table, src.schema, STAGING_PREFIX + src.table.name
    view = sql.Identifier(schema, friendly_name(t.name))
    cur.execute(sql.SQL("DROP VIEW IF EXISTS {}").format(view))
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, t.name)))
    cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(schema, tmp), sql.Identifier(t.name)))
    renames = [(f"{tmp}_pkey", f"{t.name}_pkey")] if t.primary_key else []
    renames += [(f"{tmp}_{c}_idx", f"{t.name}_{c}_idx") for c in t.indexes]
    for old, new in renames:
        cur.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(schema, old), sql.Identifier(new)))
    # Granted only now, in the swap: nobody but the admin ever sees a staging table.
    roles.secure_table(cur, schema, t.name, src.kind, la_column(t) if src.kind == "restricted" else None)
    # The friendly view runs as the reader (security_invoker): row-level security applies through it.
    cur.execute(sql.SQL("CREATE VIEW {} WITH (security_invoker = true) AS SELECT * FROM {}").format(
        view, sql.Identifier(schema, t.name)))
    cur.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(view, sql.Literal(t.comment or None)))
    if src.kind != "restricted" or la_column(t) is not None:
        for r in roles.readers(src.kind):
            cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(view, sql.Identifier(r)))
    cur.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, now()) ON CONFLICT (schema_name, table_name) DO "
                        "UPDATE SET source_version = EXCLUDED.source_version, rows = EXCLUDED.rows, "
                        "loaded_at = EXCLUDED.loaded_at").format(sql.Identifier(roles.META, LOADED_TABLE)),
                (schema, t.name, src.version, rows))


def loaded_versions(cur: Any) -> dict[tuple[str, str], str]:
    from psycopg import sql

    cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (schema_name text, table_name text, source_version text, "
                        "rows bigint, loaded_at timestamptz, PRIMARY KEY (schema_name, table_name))").format(
        sql.Identifier(roles.META, LOADED_TABLE)))
    cur.execute(sql.SQL("SELECT schema_name, table_name, source_version FROM {} l WHERE to_regclass("
                        "quote_ident(l.schema_name) || '.' || quote_ident(l.table_name)) IS NOT NULL").format(
        sql.Identifier(roles.META, LOADED_TABLE)))
    return {(s, t): v for s, t, v in cur.fetchall()}


def serve_publish(lake: "Lake | None", dsn: str | None = None, *, restricted: bool = False,
                  research: Path | str | None = None, force: bool = False,
                  la_codes: list[str] | None = None) -> ServeReport:
    """Load published gold (and restricted gold, and the research extract) into the database."""
    t0 = time.perf_counter()
    dsn = dsn_from_env(dsn)
    sources = lake_sources(lake, "published") if lake is not None else []
    if restricted and lake is not None:
        sources += lake_sources(lake, "restricted")
    if research is not None:
        sources += research_sources(Path(research))
    if not sources:
        raise StageError("nothing to serve: the lake has no gold tables (run `cslake build gold` first)", DATA)
    report = ServeReport(describe(dsn))
    with connect(dsn) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            report.roles_created = roles.ensure_roles(cur, la_codes or sorted(local_authorities()), cur.fetchone()[0])
            cur.execute("SET ROLE " + roles.ADMIN)
            for kind in sorted({s.kind for s in sources}):
                roles.grant_schema(cur, SCHEMAS[kind], kind)
            before = loaded_versions(cur)
        conn.commit()
        todo = [s for s in sources if force or before.get((s.schema, s.table.name)) != s.version]
        report.unchanged = [f"{s.schema}.{s.table.name}" for s in sources if s not in todo]
        rows: dict[int, int] = {}
        for i, src in enumerate(todo):
            pdf = src.read()
            with conn.cursor() as cur:
                create_staging(cur, src, pdf)
            conn.commit()
            rows[i] = len(pdf)
        with conn.transaction(), conn.cursor() as cur:  # the swap: all or nothing
            for i, src in enumerate(todo):
                swap_in(cur, src, rows[i])
                report.loaded[f"{src.schema}.{src.table.name}"] = rows[i]
    report.seconds = time.perf_counter() - t0
    return report
