"""What a lake table's declaration is: columns, types, keys, partitioning, constraints.

A table's schema is data, not whatever the last job happened to write: Sail
silently drops or nulls columns that do not fit an existing table, so every
write is cast to its declaration (see ``cslake.lake``). The declarations
themselves, every table's, are the catalog's (``cslake.catalog``); this module
only says what one is. A spec is addressed by its dotted name,
``<layer>.<table>``, e.g. ``bronze.files``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import types as T

from cslake.config import ConfigError

#: Lake layers, in the order data flows through them. A table's layer is the
#: directory it lives in under the lake root.
LAYERS: tuple[str, ...] = ("bronze", "silver", "gold", "gold_restricted", "quarantine")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIMPLE_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "boolean": T.BooleanType(),
    "tinyint": T.ByteType(),
    "smallint": T.ShortType(),
    "int": T.IntegerType(),
    "integer": T.IntegerType(),
    "bigint": T.LongType(),
    "long": T.LongType(),
    "float": T.FloatType(),
    "double": T.DoubleType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
    "timestamp_ntz": T.TimestampNTZType(),
    "binary": T.BinaryType(),
}
# Partition values become directory names; nested or binary values cannot.
_PARTITIONABLE = (T.StringType, T.IntegerType, T.LongType, T.ShortType, T.ByteType, T.DateType, T.BooleanType)


class TableSpecError(ConfigError):
    """A table declaration is malformed, unknown, or conflicts with another."""


class TableNotFoundError(LookupError):
    """The table is declared (or named) but nothing has been written to it yet."""


def parse_type(text: str) -> T.DataType:
    """Parse a Spark DDL type (``bigint``, ``decimal(10,2)``, ``array<string>``, ...).

    Done here rather than by Spark because specs are loaded before, and
    independently of, any session (classic Spark needs a JVM to parse DDL).
    """
    parser = _TypeParser(text)
    dtype = parser.parse()
    parser.expect_end()
    return dtype


class _TypeParser:
    _TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|\d+|[<>(),:])")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        pos = 0
        stripped = text.rstrip()
        while pos < len(stripped):
            m = self._TOKEN.match(stripped, pos)
            if not m:
                raise TableSpecError(f"cannot parse type {text!r} at {stripped[pos:]!r}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def _next(self) -> str:
        if self.i >= len(self.tokens):
            raise TableSpecError(f"type {self.text!r} ends too early")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _eat(self, tok: str) -> None:
        got = self._next()
        if got != tok:
            raise TableSpecError(f"type {self.text!r}: expected {tok!r}, got {got!r}")

    def expect_end(self) -> None:
        if self.i != len(self.tokens):
            raise TableSpecError(f"type {self.text!r}: unexpected {' '.join(self.tokens[self.i:])!r}")

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> T.DataType:
        word = self._next().lower()
        if word in _SIMPLE_TYPES:
            return _SIMPLE_TYPES[word]
        if word in ("decimal", "numeric", "dec"):
            if self._peek() != "(":
                return T.DecimalType(10, 0)
            self._eat("(")
            precision = int(self._next())
            scale = 0
            if self._peek() == ",":
                self._eat(",")
                scale = int(self._next())
            self._eat(")")
            if not (1 <= precision <= 38 and 0 <= scale <= precision):
                raise TableSpecError(f"type {self.text!r}: decimal precision/scale out of range")
            return T.DecimalType(precision, scale)
        if word == "array":
            self._eat("<")
            inner = self.parse()
            self._eat(">")
            return T.ArrayType(inner, True)
        if word == "map":
            self._eat("<")
            key = self.parse()
            self._eat(",")
            value = self.parse()
            self._eat(">")
            return T.MapType(key, value, True)
        if word == "struct":
            self._eat("<")
            fields = []
            while True:
                name = self._next()
                self._eat(":")
                fields.append(T.StructField(name, self.parse(), True))
                if self._peek() == ",":
                    self._eat(",")
                    continue
                self._eat(">")
                return T.StructType(fields)
        raise TableSpecError(
            f"unknown type {word!r} in {self.text!r}; use one of "
            + ", ".join(sorted(_SIMPLE_TYPES))
            + ", decimal(p,s), array<..>, map<..,..>, struct<..>"
        )


def quote_ident(name: str) -> str:
    """A (dotted) identifier for Spark SQL: each part in backticks, backticks doubled."""
    return ".".join("`" + p.replace("`", "``") + "`" for p in name.split("."))


def sql_string(text: str) -> str:
    """A Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Spark DDL, as declared
    nullable: bool = True
    description: str = ""

    @property
    def data_type(self) -> T.DataType:
        return parse_type(self.type)

    def struct_field(self) -> T.StructField:
        meta = {"comment": self.description} if self.description else {}
        return T.StructField(self.name, self.data_type, self.nullable, meta)

    def ddl(self) -> str:
        out = f"{quote_ident(self.name)} {self.data_type.simpleString().upper()}"
        if not self.nullable:
            out += " NOT NULL"
        if self.description:
            out += f" COMMENT {sql_string(self.description)}"
        return out


@dataclass(frozen=True)
class TableSpec:
    name: str  # "<layer>.<table>"
    columns: tuple[Column, ...]
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    description: str = ""
    # Delta CHECK constraints, (name, Spark SQL boolean) pairs, declared in conf; Delta
    # refuses any write with a row for which one is false or NULL (cslake.delta).
    constraints: tuple[tuple[str, str], ...] = ()
    origin: str = field(default="code", compare=False)  # where it was declared, for error messages

    def __post_init__(self) -> None:
        # Normalise lists from YAML/callers so specs compare and hash by value.
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "partition_by", tuple(self.partition_by))
        object.__setattr__(self, "constraints", tuple((str(n), str(e)) for n, e in self.constraints))
        self._validate()

    def _validate(self) -> None:
        where = f"table {self.name!r} ({self.origin})"
        parts = self.name.split(".")
        if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
            raise TableSpecError(f"{where}: name must be '<layer>.<table>' with plain identifiers")
        if parts[0] not in LAYERS:
            raise TableSpecError(f"{where}: unknown layer {parts[0]!r}; layers are {', '.join(LAYERS)}")
        if not self.columns:
            raise TableSpecError(f"{where}: no columns declared")
        seen: dict[str, str] = {}
        for col in self.columns:
            if not _IDENT.match(col.name):
                raise TableSpecError(f"{where}: column name {col.name!r} is not a plain identifier")
            # Spark resolves names case-insensitively; two columns differing
            # only by case would be ambiguous in every query.
            low = col.name.lower()
            if low in seen:
                raise TableSpecError(f"{where}: column {col.name!r} declared twice (also as {seen[low]!r})")
            seen[low] = col.name
            try:
                col.data_type
            except TableSpecError as exc:
                raise TableSpecError(f"{where}, column {col.name!r}: {exc}") from None
        names = {c.name for c in self.columns}
        for k in self.keys:
            if k not in names:
                raise TableSpecError(f"{where}: key {k!r} is not a declared column")
        for p in self.partition_by:
            if p not in names:
                raise TableSpecError(f"{where}: partition column {p!r} is not a declared column")
            if not isinstance(self.column(p).data_type, _PARTITIONABLE):
                raise TableSpecError(f"{where}: cannot partition by {p!r} of type {self.column(p).type}")
        if len(self.partition_by) == len(self.columns):
            raise TableSpecError(f"{where}: at least one column must not be a partition column")
        seen_c: set[str] = set()
        for cname, expr in self.constraints:
            # Delta keeps constraint names lower-cased (delta.constraints.<name>).
            if not _IDENT.match(cname) or cname != cname.lower():
                raise TableSpecError(f"{where}: constraint name {cname!r} must be a lower-case plain identifier")
            if cname in seen_c:
                raise TableSpecError(f"{where}: constraint {cname!r} declared twice")
            seen_c.add(cname)
            if not expr.strip():
                raise TableSpecError(f"{where}: constraint {cname!r} has an empty expression")

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}; columns: {', '.join(self.column_names)}")

    def spark_schema(self) -> T.StructType:
        return T.StructType([c.struct_field() for c in self.columns])

    def ddl(self) -> str:
        """Column definitions for ``CREATE TABLE ... (<ddl>)``."""
        return ", ".join(c.ddl() for c in self.columns)

    def create_sql(self, location: str, *, if_not_exists: bool = True, table_ident: str | None = None) -> str:
        ident = table_ident or quote_ident(self.name)
        sql = f"CREATE TABLE {'IF NOT EXISTS ' if if_not_exists else ''}{ident} ({self.ddl()}) USING delta"
        if self.partition_by:
            sql += " PARTITIONED BY (" + ", ".join(quote_ident(p) for p in self.partition_by) + ")"
        if self.description:
            sql += f" COMMENT {sql_string(self.description)}"
        if self.constraints:
            # CHECK constraints go in with the table, as the table properties Delta keeps them in
            # (delta.constraints.<name>; writer version 3 on Sail and on Spark + Delta alike):
            # one commit, where ALTER TABLE ... ADD CONSTRAINT afterwards costs a commit and a
            # scan per constraint (on classic Spark, more than half of a fresh silver build).
            props = ", ".join(f"{sql_string('delta.constraints.' + n)} = {sql_string(e)}" for n, e in self.constraints)
            sql += f" TBLPROPERTIES ({props})"
        return sql + f" LOCATION {sql_string(location)}"

    @classmethod
    def from_dict(cls, name: str, raw: dict[str, Any], origin: str = "code") -> "TableSpec":
        if not isinstance(raw, dict):
            raise TableSpecError(f"table {name!r} ({origin}): expected a mapping, got {type(raw).__name__}")
        unknown = set(raw) - {"description", "columns", "keys", "partition_by", "constraints"}
        if unknown:
            raise TableSpecError(f"table {name!r} ({origin}): unknown field(s) {', '.join(sorted(unknown))}")
        cols = []
        for i, c in enumerate(raw.get("columns") or []):
            if not isinstance(c, dict) or "name" not in c or "type" not in c:
                raise TableSpecError(f"table {name!r} ({origin}): column #{i + 1} needs at least name and type")
            extra = set(c) - {"name", "type", "nullable", "description"}
            if extra:
                raise TableSpecError(
                    f"table {name!r} ({origin}): column {c['name']!r} has unknown field(s) {', '.join(sorted(extra))}"
                )
            nullable = c.get("nullable", True)
            if not isinstance(nullable, bool):
                raise TableSpecError(f"table {name!r} ({origin}): column {c['name']!r}: nullable must be true/false")
            cols.append(Column(str(c["name"]), str(c["type"]), nullable, str(c.get("description") or "").strip()))
        return cls(
            name=name,
            columns=tuple(cols),
            keys=tuple(raw.get("keys") or ()),
            partition_by=tuple(raw.get("partition_by") or ()),
            description=str(raw.get("description") or "").strip(),
            constraints=_constraints_from(name, raw.get("constraints"), origin),
            origin=origin,
        )


def _constraints_from(name: str, raw: Any, origin: str) -> tuple[tuple[str, str], ...]:
    """``constraints:`` as declared: a mapping ``name: <Spark SQL boolean>``."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise TableSpecError(f"table {name!r} ({origin}): constraints must be a mapping of name: expression")
    return tuple((str(k), " ".join(str(v).split())) for k, v in raw.items())




