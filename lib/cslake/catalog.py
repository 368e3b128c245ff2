"""The lake's catalog: every table's name, layer, keys, partitioning and schema, declared once.

Two sources, loaded together by :func:`load` (explicitly, or on the first lookup):

- **fixed tables**, declared in ``conf/tables/<layer>.yaml`` (the ledger of files, the person
  spine, the gold tables, the models' outputs, ...);
- **collection tables**, derived from the collection schemas in ``conf/collections/``: each
  table a collection has ever had gets ``bronze.<collection>_<table>`` (every column of every
  year, as text, with lineage) and ``silver.<collection>_<table>`` (typed, pseudonymised).

Code names tables through the accessors, never through string literals, so a name that the
catalog does not declare fails where it is written, not when a job reaches it::

    from cslake import catalog
    catalog.silver.cin_child          # "silver.cin_child"
    catalog.bronze["files"]           # "bronze.files"
    catalog.table_spec(catalog.gold.riia_indicators).keys

``Lake.write_table`` refuses a table the catalog does not declare.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterator

from cslake.config import ConfigError, conf_dir, load_yaml
from cslake.pseudo import DATE_DEGRADE_CLASSES, DATE_HASH_DOMAINS, DROP_CLASSES, HASH_DOMAINS, POSTCODE_CLASSES
from cslake.schemas import ColumnSpec, base_year, collection_schema, collections as all_collections, diff_years
from cslake.schemas import silver_type
from cslake.tables import LAYERS, TableSpec, TableSpecError

# ---------------------------------------------------------------------------
# Naming rules
# ---------------------------------------------------------------------------

#: Every collection table row's key in bronze and silver: a row is its file's bytes, the
#: return it landed as, and its place in the file (the same bytes can be two returns, e.g.
#: an SSDA903 table unchanged from last year's).
ROW_KEYS = ("_file_sha256", "_la", "_year", "_period", "_row")


def collection_table_suffix(collection: str, table: str) -> str:
    """``cin`` + ``child`` -> ``cin_child``; a table already named after its collection keeps its name."""
    prefix = f"{collection}_"
    return table if table.startswith(prefix) else f"{prefix}{table}"


def bronze_name(collection: str, table: str) -> str:
    return f"bronze.{collection_table_suffix(collection, table)}"


def silver_name(collection: str, table: str) -> str:
    return f"silver.{collection_table_suffix(collection, table)}"


def schema_years(collection: str) -> list[int]:
    """The base year and every later year with a diff: each distinct shape the collection has had."""
    first = base_year(collection)
    return [first] + [y for y in diff_years(collection) if y > first]


# ---------------------------------------------------------------------------
# Bronze: every column any year has had, as text, with lineage
# ---------------------------------------------------------------------------

#: (name, type, nullable, description) of the lineage carried by every bronze row.
BRONZE_LINEAGE = [
    ("_file_sha256", "string", False, "SHA-256 of the source file (bronze.files.sha256)"),
    ("_la", "string", True, "3-digit DfE code of the LA"),
    ("_collection", "string", False, "Collection key"),
    ("_year", "int", True, "Collection year ending 31 March"),
    ("_period", "string", True, "Sub-year period (quarter) or 'annual'"),
    ("_row", "bigint", False, "Row in the file: CSV line, Excel row, or XML element ordinal"),
    ("_parent_row", "bigint", True, "XML: _row of the enclosing element's table row"),
    ("_extra", "string", True, "JSON of what the file had beyond the specification"),
    ("_run_id", "string", False, "The land run that wrote the row"),
]


def bronze_columns(collection: str, table: str) -> list[str]:
    cols: list[str] = []
    for year in schema_years(collection):
        schema = collection_schema(collection, year)
        if table in schema.tables:
            cols += [c for c in schema.tables[table].columns if c not in cols]
    return cols


def derive_bronze_spec(collection: str, table: str) -> TableSpec:
    columns = [{"name": n, "type": t, "nullable": nullable, "description": d} for n, t, nullable, d in BRONZE_LINEAGE]
    columns += [{"name": c, "type": "string", "nullable": True, "description": f"{c} as found in the file"}
                for c in bronze_columns(collection, table)]
    return TableSpec.from_dict(bronze_name(collection, table), {
        "description": f"{collection} {table}, as landed: every value a string, with lineage",
        "keys": list(ROW_KEYS),
        "columns": columns,
    }, origin=f"conf/collections/{collection}")


# ---------------------------------------------------------------------------
# Silver: typed, pseudonymised
# ---------------------------------------------------------------------------

SILVER_LINEAGE = [
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


@dataclass(frozen=True)
class SilverTable:
    """A collection table's way through the lake: its bronze and silver names."""

    collection: str
    table: str
    bronze: str
    silver: str


def silver_conf() -> dict:
    return load_yaml("silver.yaml") or {}


def collection_tables(collection: str) -> list[str]:
    """Every table the collection has had, in first-seen order."""
    names: list[str] = []
    for y in schema_years(collection):
        names += [t for t in collection_schema(collection, y).tables if t not in names]
    return names


def silver_tables(collections: list[str] | None = None) -> list[SilverTable]:
    """The collection tables silver builds (conf/silver.yaml ``collections``, default all)."""
    known = set(all_collections())
    wanted = collections or silver_conf().get("collections") or sorted(known)
    return [SilverTable(c, t, bronze_name(c, t), silver_name(c, t))
            for c in wanted if c in known for t in collection_tables(c)]


def column_history(collection: str, table: str) -> dict[str, ColumnSpec]:
    """Each column any year of the table has had, with its latest spec."""
    cols: dict[str, ColumnSpec] = {}
    for y in schema_years(collection):
        schema = collection_schema(collection, y)
        if table in schema.tables:
            cols.update(schema.tables[table].columns)
    return cols


def identifier_treatment(spec: ColumnSpec) -> str | None:
    """hash (replaced by <col>_hash) | drop | month (cut to the first of the month) |
    month_hash (cut to the month, plus <col>_hash of the exact date) | postcode | None."""
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


_POSTCODE_PARTS = (("sector", "postcode sector (AB1 2)"), ("district", "postcode district (AB1)"),
                   ("lsoa", "LSOA from the postcode lookup"), ("ward", "ward from the postcode lookup"))


def silver_columns_for(name: str, spec: ColumnSpec) -> list[dict[str, Any]]:
    """The silver column(s) one collection column becomes, after pseudonymisation."""
    how, desc = identifier_treatment(spec), spec.description or name
    hashed = {"name": f"{name}_hash", "type": "string",
              "description": f"{desc}: keyed hash (HMAC-SHA256) of the normalised {spec.identifier}"}
    if how == "hash":
        return [hashed]
    if how == "drop":
        return []
    if how == "postcode":
        return [{"name": f"{name}_{part}", "type": "string", "description": f"{desc}: {d}"} for part, d in _POSTCODE_PARTS]
    if how not in ("month", "month_hash"):
        return [{"name": name, "type": silver_type(spec), "description": desc}]
    out = [{"name": name, "type": silver_type(spec), "description": f"{desc} (first of the month)"}]
    if how == "month_hash":
        out.append({"name": f"{name}_hash", "type": "string",
                    "description": f"{desc}: keyed hash (HMAC-SHA256) of the exact date (YYYY-MM-DD, "
                                   f"{spec.identifier} hash domain), for linkage; the same date gives the "
                                   f"same hash in every collection, year and LA. The date itself is kept "
                                   f"only to the month ({name})"})
    return out


def table_description(collection: str, table: str) -> str:
    """The table's description in conf/collections (latest year that has one), for the data dictionary."""
    text = ""
    for y in schema_years(collection):
        schema = collection_schema(collection, y)
        if table in schema.tables and schema.tables[table].description:
            text = schema.tables[table].description.strip()
    return text


def natural_keys(collection: str, table: str) -> list[str]:
    """The table's natural key in its latest schema (LA + these identify a record across years)."""
    keys: list[str] = []
    for y in schema_years(collection):
        schema = collection_schema(collection, y)
        if table in schema.tables:
            keys = list(schema.tables[table].keys)
    return keys


def per_la(collection: str) -> bool:
    """Whether the collection's files come from one LA each (``per_la: false`` in its
    conf/collections base.yaml for region-wide context data, whose files carry no LA)."""
    return bool(collection_schema(collection, base_year(collection)).meta.get("per_la", True))


def derive_silver_spec(t: SilverTable) -> TableSpec:
    """The silver table's declaration. A per-LA collection's tables are partitioned by ``_la``:
    incremental silver (cslake.silver.incremental) replaces an LA's rows with a replaceWhere on
    ``_la``, which then rewrites that LA's files and no other's."""
    cols = list(SILVER_LINEAGE)
    for name, spec in column_history(t.collection, t.table).items():
        cols += silver_columns_for(name, spec)
    about = table_description(t.collection, t.table)
    return TableSpec.from_dict(t.silver, {
        "description": f"{t.collection} {t.table}: {about + ' ' if about else ''}"
                       f"Conformed, validated, pseudonymised (from {t.bronze}).",
        "keys": list(ROW_KEYS), "columns": cols,
        "partition_by": ["_la"] if per_la(t.collection) else [],
        "constraints": silver_conf().get("constraints") or {},
    }, origin=f"conf/collections/{t.collection}")


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------

_lock = threading.RLock()
_registry: dict[str, TableSpec] = {}
_registered: set[str] = set()
_loaded = False


def _fixed_specs() -> dict[str, TableSpec]:
    tables_dir = conf_dir() / "tables"
    found: dict[str, TableSpec] = {}
    for path in sorted(tables_dir.glob("*.yaml")) if tables_dir.is_dir() else []:
        rel = f"tables/{path.name}"
        doc = load_yaml(rel) or {}
        if not isinstance(doc, dict) or not isinstance(doc.get("tables") or {}, dict):
            raise TableSpecError(f"conf/{rel}: expected a top-level 'tables:' mapping")
        for name, raw in (doc.get("tables") or {}).items():
            spec = TableSpec.from_dict(str(name), raw, origin=f"conf/{rel}")
            # One file per layer keeps a table findable from its name alone.
            if spec.layer != path.stem:
                raise TableSpecError(f"table {name!r} is declared in conf/{rel}; declare it in conf/tables/{spec.layer}.yaml")
            if name in found:
                raise TableSpecError(f"table {name!r} declared twice in conf/tables")
            found[str(name)] = spec
    return found


def _derived_specs() -> dict[str, TableSpec]:
    out: dict[str, TableSpec] = {}
    for t in silver_tables(all_collections()):
        out[t.bronze] = derive_bronze_spec(t.collection, t.table)
        out[t.silver] = derive_silver_spec(t)
    return out


def load(*, reload: bool = False) -> None:
    """Declare every table: conf/tables, then the collection tables. Idempotent; jobs call it at start."""
    global _loaded
    with _lock:
        if _loaded and not reload:
            return
        fixed, derived = _fixed_specs(), _derived_specs()
        clash = sorted(set(fixed) & set(derived))
        if clash:
            raise TableSpecError(f"declared in conf/tables and derived from a collection schema: {', '.join(clash)}")
        # Built aside and swapped in whole: a load that fails half-way leaves the registry as it was.
        # Tables declared by register_table_spec (tests' own, or a test's stand-in for a conf table)
        # survive a reload and win over conf until they are unregistered.
        new = {**fixed, **derived, **{n: s for n, s in _registry.items() if n in _registered}}
        _registry.clear()
        _registry.update(new)
        _loaded = True


def register_table_spec(spec: TableSpec, *, replace: bool = False) -> TableSpec:
    """Declare a table outside conf (tests' hand-made tables). A *different* spec under a known
    name is an error unless ``replace=True``: two writers disagreeing on a schema is a bug."""
    load()
    with _lock:
        existing = _registry.get(spec.name)
        if existing is not None and existing != spec and not replace:
            raise TableSpecError(
                f"table {spec.name!r} is already declared (in {existing.origin}) with a different schema; "
                "pass replace=True to redefine it"
            )
        _registry[spec.name] = spec
        _registered.add(spec.name)
    return spec


def unregister(names: list[str] | tuple[str, ...]) -> None:
    """Forget tables declared with :func:`register_table_spec` (tests)."""
    with _lock:
        for n in names:
            _registry.pop(n, None)
            _registered.discard(n)


def table_spec(name: str) -> TableSpec:
    load()
    try:
        return _registry[name]
    except KeyError:
        layer = name.split(".", 1)[0]
        known = ", ".join(sorted(n for n in _registry if n.startswith(f"{layer}."))) or "(none)"
        raise TableSpecError(f"unknown table {name!r}: the catalog declares no such table; "
                             f"known in {layer}: {known}") from None


def has_table_spec(name: str) -> bool:
    load()
    return name in _registry


def all_table_specs() -> list[TableSpec]:
    load()
    with _lock:
        return [_registry[n] for n in sorted(_registry)]


def specs_in_layer(layer: str) -> list[TableSpec]:
    return [s for s in all_table_specs() if s.layer == layer]


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

class Layer:
    """Table names of one layer: ``catalog.silver.cin_child == "silver.cin_child"``, checked."""

    def __init__(self, layer: str) -> None:
        self._layer = layer

    def __getattr__(self, table: str) -> str:
        if table.startswith("__"):
            raise AttributeError(table)
        return self[table]

    def __getitem__(self, table: str) -> str:
        name = f"{self._layer}.{table}"
        if not has_table_spec(name):
            raise AttributeError(f"the catalog declares no table {name!r} "
                                 f"(conf/tables/{self._layer}.yaml or a collection schema)")
        return name

    def __iter__(self) -> Iterator[str]:
        return iter(s.name for s in specs_in_layer(self._layer))

    def __repr__(self) -> str:
        return f"<catalog layer {self._layer}>"


bronze = Layer("bronze")
silver = Layer("silver")
gold = Layer("gold")
gold_restricted = Layer("gold_restricted")
quarantine = Layer("quarantine")
assert {lay._layer for lay in (bronze, silver, gold, gold_restricted, quarantine)} == set(LAYERS)
