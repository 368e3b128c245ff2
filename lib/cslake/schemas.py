"""Each collection's file schema for a given year, read from ``conf/collections/``.

A collection is described by ``<collection>/base.yaml`` (its earliest year) and
``<collection>/diffs/<year>.yaml`` files, each a list of small changes that
apply from that year on (the liia-tools way: drift is configuration, not code).
``collection_schema(c, y)`` is the base with every diff of year <= y applied.

Column ``path`` means, by format: CSV - the header text; XML - the element path
relative to the table's row element ("." = the row element's own text);
xlsx - a regular expression matched (case-insensitive, search) against the
header cell. XML columns with ``from_table`` are carried down from an enclosing
table's row (the parent key), not read at ``path``.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from cslake.config import ConfigError, conf_dir, load_yaml

COLUMN_TYPES = {"string", "int", "double", "decimal", "date", "datetime", "boolean", "year"}
FORMATS = {"csv", "xml", "xlsx"}
_COLUMN_KEYS = {
    "path", "type", "codes", "codeset", "aliases", "mandatory", "identifier", "date_format",
    "description", "from", "pattern", "repeatable",
}

# Prefixes and suffixes LAs wrap around codes in spreadsheets: "a) Male", "1 - Male", "WBRI - White British".
_LETTER_PREFIX = re.compile(r"^[a-z]\)\s*", re.I)
_NUMBER_PREFIX = re.compile(r"^\d+\s*[-.)]\s+")
_LABEL_SUFFIX = re.compile(r"\s*(?:-|:|–)\s+.*$")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str = "string"
    codes: list[str] | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    mandatory: bool = False
    identifier: str | None = None
    date_format: str | None = None
    path: str | None = None
    description: str = ""
    # Extras beyond the core API: code meanings, a value pattern, the enclosing
    # XML table a parent key is carried down from, and whether the XML element may
    # repeat inside one row (the parser joins repeats with "|").
    code_labels: dict[str, str] = field(default_factory=dict)
    pattern: str | None = None
    from_table: str | None = None
    repeatable: bool = False

    def canonical(self, value: Any) -> str | None:
        """The canonical code for a raw value, or None if it is not one of ``codes``.

        Tries the value as sent, then case-folded, then with the decorations LAs
        add (``a) Male``, ``1 - Male``, ``WBRI - White British``) removed; each
        form is looked up among the codes and the aliases.
        """
        if self.codes is None or value is None:
            return None
        text = str(value).strip()
        if not text:
            return None
        by_fold = {c.casefold(): c for c in self.codes}
        alias_fold = {k.casefold(): v for k, v in self.aliases.items()}
        forms = [text]
        for rx in (_LETTER_PREFIX, _NUMBER_PREFIX):
            stripped = rx.sub("", text)
            if stripped != text:
                forms.append(stripped)
        forms += [_LABEL_SUFFIX.sub("", f) for f in list(forms)]
        if re.fullmatch(r"\d+\.0", text):  # ids/codes that went through Excel: "1.0"
            forms.append(text[:-2])
        for f in forms:
            key = f.strip().casefold()
            if key in by_fold:
                return by_fold[key]
            if key in alias_fold:
                return alias_fold[key]
        for label_code, label in self.code_labels.items():  # "Male" → code whose label is "Male"
            if any(f.strip().casefold() == label.casefold() for f in forms):
                return label_code
        return None


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: dict[str, ColumnSpec]
    keys: list[str]
    description: str = ""
    row_path: str | None = None  # XML: element path of one row
    sheet: str | None = None  # xlsx: sheet name
    sheet_pattern: str | None = None  # xlsx: regex for the sheet name as LAs spell it

    @property
    def mandatory_columns(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.mandatory]

    @property
    def identifier_columns(self) -> dict[str, str]:
        return {c.name: c.identifier for c in self.columns.values() if c.identifier}

    @property
    def file_columns(self) -> list[str]:
        """Columns read from the file itself (not carried down from a parent)."""
        return [c.name for c in self.columns.values() if c.from_table is None]


@dataclass(frozen=True)
class CollectionSchema:
    collection: str
    year: int
    format: str
    tables: dict[str, TableSchema]
    date_format: str | None = None
    base_year: int = 0
    meta: dict[str, Any] = field(default_factory=dict)  # root, collection_code, xml_order, ...

    @property
    def table_names(self) -> list[str]:
        return list(self.tables)


def collections() -> list[str]:
    root = conf_dir() / "collections"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "base.yaml").is_file())


def diff_years(collection: str) -> list[int]:
    d = conf_dir() / "collections" / collection / "diffs"
    if not d.is_dir():
        return []
    years = []
    for p in d.glob("*.yaml"):
        if not p.stem.isdigit():
            raise ConfigError(f"{p}: diff files are named <year>.yaml")
        years.append(int(p.stem))
    return sorted(years)


def base_year(collection: str) -> int:
    return int(_base(collection)["base_year"])


def last_year(collection: str) -> int | None:
    """The last collection year the collection's specification describes (base.yaml ``last_year``),
    or None when it does not say (every later year is then read with base + every diff, unremarked)."""
    y = _base(collection).get("last_year")
    return None if y is None else int(y)


def spec_year(collection: str, year: int) -> tuple[int, str | None]:
    """(the year whose specification a return of ``year`` is read and checked with, why that is
    not ``year`` itself, or None when ``year`` is described). A year after ``last_year`` is read
    with ``last_year``'s, the nearest earlier; a year before the base year, having no earlier one,
    with the base year's."""
    first, last = base_year(collection), last_year(collection)
    where = f"conf/collections/{collection} describes {first}" + (f" to {last}" if last else " on")
    if year < first:
        return first, (f"no {collection} specification for {year - 1}-{year % 100:02d} ({where}): "
                       f"checked against the earliest, {first - 1}-{first % 100:02d} ({first}); "
                       f"codes and columns may differ")
    if last is not None and year > last:
        return last, (f"no {collection} specification for {year - 1}-{year % 100:02d} ({where}): "
                      f"checked against the nearest earlier, {last - 1}-{last % 100:02d} ({last}); "
                      f"codes and columns new since may be reported as invalid or extra")
    return year, None


def _base(collection: str) -> dict:
    if collection not in collections():
        raise ConfigError(f"unknown collection {collection!r}; known: {', '.join(collections())}")
    return load_yaml(f"collections/{collection}/base.yaml")


@functools.lru_cache(maxsize=None)
def _codesets() -> dict:
    path = conf_dir() / "collections" / "_codesets.yaml"
    return load_yaml("collections/_codesets.yaml")["codesets"] if path.is_file() else {}


@functools.lru_cache(maxsize=None)
def identifier_classes() -> dict[str, dict]:
    """Identifier class → {treatment: hash|drop|degrade, description}."""
    return load_yaml("collections/_codesets.yaml").get("identifier_classes", {})


@functools.lru_cache(maxsize=None)
def collection_schema(collection: str, year: int) -> CollectionSchema:
    """The schema of ``collection`` in collection year ``year`` (base + diffs <= year)."""
    raw = _base(collection)
    year = int(year)
    first = int(raw["base_year"])
    if year < first:
        raise ConfigError(
            f"{collection}: no schema for {year}; the earliest year described is {first} "
            f"(conf/collections/{collection}/base.yaml)"
        )
    doc = copy.deepcopy(raw)
    for y in diff_years(collection):
        if y > year:
            break
        if y <= first:
            raise ConfigError(f"{collection}: diff {y}.yaml is not after the base year {first}")
        diff = load_yaml(f"collections/{collection}/diffs/{y}.yaml")
        for i, change in enumerate(diff.get("changes") or []):
            try:
                _apply(doc, change)
            except (KeyError, ValueError, TypeError) as exc:
                raise ConfigError(
                    f"conf/collections/{collection}/diffs/{y}.yaml change #{i + 1} ({change.get('op')}): {exc}"
                ) from None
    return _build(collection, year, doc)


def _apply(doc: dict, ch: dict) -> None:
    op = ch["op"]
    tables = doc["tables"]
    if op == "xml_order":
        _apply_order(doc.setdefault("xml_order", {}), ch)
        return
    if op == "set_meta":
        doc.update(ch["set"])
        return
    if op == "add_table":
        if ch["table"] in tables:
            raise ValueError(f"table {ch['table']!r} already exists")
        doc["tables"] = _insert(tables, ch["table"], copy.deepcopy(ch["spec"]), ch.get("after"))
        return
    t = _need(tables, ch["table"], "table")
    if op == "remove_table":
        del tables[ch["table"]]
    elif op == "modify_table":
        t.update(copy.deepcopy(ch["set"]))
    elif op == "add_column":
        cols = t["columns"]
        if ch["column"] in cols:
            raise ValueError(f"column {ch['column']!r} already exists in {ch['table']}")
        t["columns"] = _insert(cols, ch["column"], copy.deepcopy(ch["spec"]), ch.get("after"))
    elif op == "remove_column":
        _need(t["columns"], ch["column"], "column")
        del t["columns"][ch["column"]]
        t["keys"] = [k for k in t.get("keys", []) if k != ch["column"]]
    elif op == "rename_column":
        _need(t["columns"], ch["column"], "column")
        t["columns"] = {(ch["to"] if k == ch["column"] else k): v for k, v in t["columns"].items()}
        t["keys"] = [ch["to"] if k == ch["column"] else k for k in t.get("keys", [])]
    elif op == "move_column":
        spec = _need(t["columns"], ch["column"], "column")
        del t["columns"][ch["column"]]
        t["columns"] = _insert(t["columns"], ch["column"], spec, ch.get("after"))
    elif op == "modify_column":
        c = _need(t["columns"], ch["column"], "column")
        for k, v in ch["set"].items():
            if k in ("codes", "codeset"):
                c.pop("codes", None)
                c.pop("codeset", None)
            c[k] = copy.deepcopy(v)
    elif op in ("add_codes", "remove_codes"):
        c = _need(t["columns"], ch["column"], "column")
        codes = _materialise_codes(c)
        if op == "add_codes":
            new = ch["codes"]
            new = new if isinstance(new, dict) else {str(k): "" for k in new}
            items = list(codes.items())
            pos = len(items)
            if ch.get("after") is not None:
                pos = [k for k, _ in items].index(str(ch["after"])) + 1
            for k in new:
                if str(k) in codes:
                    raise ValueError(f"code {k!r} already in {ch['table']}.{ch['column']}")
            items[pos:pos] = [(str(k), v) for k, v in new.items()]
            c["codes"] = dict(items)
        else:
            for k in ch["codes"]:
                if str(k) not in codes:
                    raise ValueError(f"code {k!r} not in {ch['table']}.{ch['column']}")
                del codes[str(k)]
            c["codes"] = codes
        if "aliases" in ch:
            c.setdefault("aliases", {}).update(ch["aliases"])
    else:
        raise ValueError(f"unknown op {op!r}")


def _apply_order(order: dict, ch: dict) -> None:
    el = ch["element"]
    if "rename_element" in ch:
        order[ch["rename_element"]] = order.pop(el)
        el = ch["rename_element"]
    if "set" in ch:
        order[el] = list(ch["set"])
        return
    names = order[el]
    if "insert" in ch:
        pos = names.index(ch["after"]) + 1 if ch.get("after") else 0
        names.insert(pos, ch["insert"])
    elif "remove" in ch:
        names.remove(ch["remove"])
    elif "rename" in ch:
        names[names.index(ch["rename"])] = ch["to"]


def _need(d: dict, key: str, what: str) -> Any:
    if key not in d:
        raise KeyError(f"no {what} {key!r} (have: {', '.join(d)})")
    return d[key]


def _insert(d: dict, key: str, value: Any, after: str | None) -> dict:
    items = list(d.items())
    pos = len(items) if after is None else [k for k, _ in items].index(after) + 1
    items.insert(pos, (key, value))
    return dict(items)


def _materialise_codes(c: dict) -> dict[str, str]:
    """Resolve a codeset reference into an explicit, editable code → label dict."""
    codes: dict[str, str] = {}
    if c.get("codeset"):
        cs = _codeset(c.pop("codeset"))
        codes.update(_as_code_dict(cs.get("codes")))
        merged = dict(cs.get("aliases") or {})
        merged.update(c.get("aliases") or {})
        c["aliases"] = merged
    codes.update(_as_code_dict(c.get("codes")))
    return codes


def _codeset(name: str) -> dict:
    sets = _codesets()
    if name not in sets:
        raise ConfigError(f"unknown codeset {name!r} (conf/collections/_codesets.yaml has: {', '.join(sets)})")
    return sets[name]


def _as_code_dict(codes: Any) -> dict[str, str]:
    if codes is None:
        return {}
    keys = list(codes) if isinstance(codes, (dict, list, tuple)) else []
    bad = [k for k in keys if isinstance(k, bool) or k is None]
    if bad:
        # YAML reads bare YES/NO/ON/OFF as booleans: a code list silently loses its codes.
        raise ConfigError(f"code list {keys!r} holds {bad!r}, not text: quote codes like YES/NO/ON/OFF in the YAML")
    if isinstance(codes, dict):
        return {str(k): ("" if v is None else str(v)) for k, v in codes.items()}
    return {str(k): "" for k in codes}


def _build(collection: str, year: int, doc: dict) -> CollectionSchema:
    fmt = doc.get("format")
    where = f"conf/collections/{collection}"
    if fmt not in FORMATS:
        raise ConfigError(f"{where}/base.yaml: format must be one of {sorted(FORMATS)}, not {fmt!r}")
    default_date = doc.get("date_format")
    known_ids = set(identifier_classes())
    tables: dict[str, TableSchema] = {}
    for tname, t in doc["tables"].items():
        cols: dict[str, ColumnSpec] = {}
        for cname, c in (t.get("columns") or {}).items():
            c = dict(c or {})
            unknown = set(c) - _COLUMN_KEYS
            if unknown:
                raise ConfigError(f"{where} {year}: {tname}.{cname}: unknown keys {sorted(unknown)}")
            ctype = c.get("type", "string")
            if ctype not in COLUMN_TYPES:
                raise ConfigError(f"{where} {year}: {tname}.{cname}: type {ctype!r} not in {sorted(COLUMN_TYPES)}")
            ident = c.get("identifier")
            if ident and ident not in known_ids:
                raise ConfigError(f"{where} {year}: {tname}.{cname}: unknown identifier class {ident!r}")
            has_codes = "codes" in c or "codeset" in c
            code_dict = _materialise_codes(c) if has_codes else {}
            aliases = {str(k): str(v) for k, v in (c.get("aliases") or {}).items()}
            if has_codes:
                bad = {a: v for a, v in aliases.items() if v not in code_dict}
                if bad:
                    raise ConfigError(f"{where} {year}: {tname}.{cname}: aliases point at unknown codes {bad}")
            path = c.get("path")
            if path is None and not c.get("from") and fmt != "xlsx":
                path = cname
            cols[cname] = ColumnSpec(
                name=cname,
                type=ctype,
                codes=list(code_dict) if has_codes else None,
                aliases=aliases,
                mandatory=bool(c.get("mandatory", False)),
                identifier=ident,
                date_format=c.get("date_format", default_date) if ctype in ("date", "datetime") else None,
                path=None if c.get("from") else path,
                description=str(c.get("description", "")),
                code_labels={k: v for k, v in code_dict.items() if v},
                pattern=c.get("pattern"),
                from_table=c.get("from"),
                repeatable=bool(c.get("repeatable", False)),
            )
        keys = list(t.get("keys") or [])
        missing = [k for k in keys if k not in cols]
        if missing:
            raise ConfigError(f"{where} {year}: table {tname}: keys {missing} are not columns")
        for c in cols.values():
            if c.from_table and c.from_table not in doc["tables"]:
                raise ConfigError(f"{where} {year}: {tname}.{c.name}: from unknown table {c.from_table!r}")
        tables[tname] = TableSchema(
            name=tname,
            columns=cols,
            keys=keys,
            description=str(t.get("description", "")),
            row_path=t.get("row_path"),
            sheet=t.get("sheet"),
            sheet_pattern=t.get("sheet_pattern"),
        )
    meta = {
        k: v
        for k, v in doc.items()
        if k not in ("tables", "format", "date_format", "collection", "base_year", "last_year")
        and not k.startswith("x-")
    }
    return CollectionSchema(
        collection=collection,
        year=year,
        format=fmt,
        tables=tables,
        date_format=default_date,
        base_year=int(doc["base_year"]),
        meta=meta,
    )


def silver_type(c: ColumnSpec) -> str:
    """The Spark type a collection column has in silver (before pseudonymisation)."""
    base = {"string": "string", "int": "int", "year": "int", "double": "double", "decimal": "double",
            "date": "date", "datetime": "timestamp", "boolean": "boolean"}[c.type]
    return f"array<{base}>" if c.repeatable else base
