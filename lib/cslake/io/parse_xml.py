"""Streaming parse of CIN / CSWW / SEN2 XML into the flattened tables of the schema.

The file is read with lxml ``iterparse``; each record element (a Child, a
CSWWWorker, a Person, ...: ``record_path`` in the collection's base.yaml) is
flattened when it ends and then cleared, so memory stays bounded by one record.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, BinaryIO, Iterator

import pandas as pd
from lxml import etree

from cslake.io.detect import detect_file
from cslake.io.parsed import (
    COLUMN_EXTRA,
    FILE_EMPTY,
    FILE_ENCODING,
    FILE_NO_YEAR,
    FILE_NOT_WELLFORMED,
    FileFault,
    Finding,
    Parsed,
    frame,
)
from cslake.io.source import Source
from cslake.schemas import CollectionSchema, TableSchema, collection_schema

REPEAT_SEPARATOR = "|"


def _local(tag: Any) -> str:
    if not isinstance(tag, str):  # comments, processing instructions
        return ""
    return tag.rsplit("}", 1)[-1]


class XmlPlan:
    """Per table: which relative paths are columns, containers, or child tables."""

    def __init__(self, schema: CollectionSchema) -> None:
        self.schema = schema
        tables = [t for t in schema.tables.values() if t.row_path]
        self.by_path = {t.row_path: t for t in tables}
        rp = schema.meta.get("record_path") or []
        self.records = [rp] if isinstance(rp, str) else list(rp)
        self.children: dict[str, list[TableSchema]] = {t.name: [] for t in tables}
        self.top: list[TableSchema] = []
        for t in tables:
            parent = self.parent_of(t)
            (self.children[parent.name] if parent else self.top).append(t)
        self.known: dict[str, set[str]] = {}
        self.columns_at: dict[str, set[str]] = {}
        self.child_paths: dict[str, set[str]] = {}
        # Columns found by one walk over the row element (see walk_row) unless their path
        # runs through a child table's element, which the walk does not enter.
        self.walked: dict[str, set[str]] = {}
        for t in tables:
            known: set[str] = set()
            cols = {c.path for c in t.columns.values() if c.path and c.path != "."}
            child_paths = {self.rel(t, u) for u in self.children[t.name]}
            for p in cols | child_paths:
                parts = p.split("/")
                known.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
            self.known[t.name] = known
            self.columns_at[t.name] = cols
            self.child_paths[t.name] = child_paths
            self.walked[t.name] = {p for p in cols if not any(p.startswith(c + "/") for c in child_paths | cols)}

    def parent_of(self, t: TableSchema) -> TableSchema | None:
        best = None
        for p, u in self.by_path.items():
            if u is not t and t.row_path.startswith(p + "/") and (best is None or len(p) > len(best.row_path)):
                best = u
        return best

    @staticmethod
    def rel(parent: TableSchema, child: TableSchema) -> str:
        return child.row_path[len(parent.row_path) + 1 :]


def walk_row(plan: XmlPlan, t: TableSchema, el: etree._Element, prefix: str, found: dict, extra: dict) -> None:
    """One pass over a row element: column elements into ``found`` (by path), elements
    the specification does not have into ``extra``; containers entered, child tables not."""
    known, columns, child_paths = plan.known[t.name], plan.columns_at[t.name], plan.child_paths[t.name]
    for sub in el:
        tag = sub.tag
        if not isinstance(tag, str):  # comments, processing instructions
            continue
        name = tag.rsplit("}", 1)[-1]
        rel = prefix + name
        if rel in columns:
            if rel in found:
                found[rel].append(sub)
            else:
                found[rel] = [sub]
            continue
        if rel in known:
            if len(sub) and rel not in child_paths:
                walk_row(plan, t, sub, rel + "/", found, extra)
            continue
        value: Any = etree.tostring(sub, encoding="unicode", with_tail=False) if len(sub) else (sub.text or "")
        if rel in extra:  # a repeated unknown element: keep every occurrence
            extra[rel] = (extra[rel] if isinstance(extra[rel], list) else [extra[rel]]) + [value]
        else:
            extra[rel] = value


def _text(x: etree._Element) -> str:
    return x.text if x.text is not None else ""


def row_values(plan: XmlPlan, t: TableSchema, el: etree._Element,
               carried: dict[str, dict]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(column values, what the element had beyond the specification) of one row element.
    A column carried from an enclosing table takes that row's value; a repeated element is
    joined (``repeatable``) or its first value kept and the rest put in the extras."""
    row: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    found: dict[str, list] = {}
    walk_row(plan, t, el, "", found, extra)
    walked = plan.walked[t.name]
    for c in t.columns.values():
        if c.from_table:
            row[c.name] = carried.get(c.from_table, {}).get(c.name)
            continue
        if c.path == ".":
            hits = [el]
        elif c.path in walked:
            hits = found.get(c.path)
        else:
            hits = el.findall(c.path)
        if not hits:
            row[c.name] = None
        elif c.repeatable:
            row[c.name] = REPEAT_SEPARATOR.join(_text(x) for x in hits)
        else:
            row[c.name] = _text(hits[0])
            if len(hits) > 1:
                extra[c.path] = [_text(x) for x in hits[1:]]
    return row, extra


class XmlTables:
    """The rows of every table of one file, filled record by record, and what was found on the way."""

    def __init__(self, plan: XmlPlan, collection: str, year: int) -> None:
        self.plan, self.collection, self.year = plan, collection, year
        self.rows: dict[str, list[dict]] = {t: [] for t in plan.schema.tables}
        self.counters: dict[str, int] = {t: 0 for t in plan.schema.tables}
        self.findings: list[Finding] = []
        self.seen_extra: set[tuple[str, str]] = set()
        self.buffered = 0  # rows held in ``rows`` (see drain)

    def emit(self, t: TableSchema, el: etree._Element, carried: dict[str, dict], parent_row: int | None) -> None:
        """Add the row of element ``el`` to table ``t``, then the rows of its child tables."""
        self.counters[t.name] += 1
        n = self.counters[t.name]
        values, extra = row_values(self.plan, t, el, carried)
        row: dict[str, Any] = {"_row": n, "_parent_row": parent_row, **values}
        row["_extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None
        for p in extra:
            self.note_extra(t.name, n, p)
        self.rows[t.name].append(row)
        self.buffered += 1
        here = {**carried, t.name: row}
        for child in self.plan.children[t.name]:
            for sub in el.iterfind(XmlPlan.rel(t, child)):
                self.emit(child, sub, here, n)

    def note_extra(self, table: str, n: int, path: str) -> None:
        """A COLUMN_EXTRA finding the first time a table has an element the specification does not."""
        if (table, path) not in self.seen_extra:
            self.seen_extra.add((table, path))
            self.findings.append(Finding(COLUMN_EXTRA, "warning", table, n, path, None,
                                         f"{table} row {n}: element {path!r} is not in the {self.collection} "
                                         f"{self.year} specification (kept in _extra)"))

    def frames(self) -> dict[str, pd.DataFrame]:
        return {name: frame(list(t.columns), self.rows[name], parent=True)
                for name, t in self.plan.schema.tables.items()}

    def drain(self) -> list[tuple[str, pd.DataFrame]]:
        """The rows held so far, per table that has any, as frames; then forgotten (row numbers go on)."""
        out = [(name, frame(list(t.columns), self.rows[name], parent=True))
               for name, t in self.plan.schema.tables.items() if self.rows[name]]
        self.rows = {t: [] for t in self.plan.schema.tables}
        self.buffered = 0
        return out


def _syntax_fault(exc: etree.XMLSyntaxError, source: str | None) -> FileFault:
    position = getattr(exc, "position", None)
    line = getattr(exc, "lineno", None) or (position[0] if position else None)
    # Where, never what: libxml2's message quotes the file's own tag names.
    return FileFault(FILE_NOT_WELLFORMED, "not well-formed XML", file=source, line=line,
                     column=(position[1] if position else None))


def end_elements(data: bytes | BinaryIO, source: str | None) -> Iterator[tuple[str, list[str], etree._Element]]:
    """(path, stack of open elements after it, element) for each element as it ends, from the
    bytes or a binary file read as it goes; a file that is not well-formed, or ends inside an
    element, raises FILE_NOT_WELLFORMED."""
    stack: list[str] = []
    parser = etree.iterparse(
        io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data, events=("start", "end"),
        resolve_entities=False, no_network=True, huge_tree=True
    )
    try:
        for event, el in parser:
            if event == "start":
                stack.append(_local(el.tag))
                continue
            path = "/".join(stack)
            stack.pop()
            yield path, stack, el
    except etree.XMLSyntaxError as exc:
        raise _syntax_fault(exc, source) from None
    if stack:
        raise FileFault(FILE_NOT_WELLFORMED, f"the file ends inside {len(stack)} open element(s): truncated",
                        file=source, line=None)


def _release(el: etree._Element) -> None:
    """Free a record once read: memory stays bounded by one record."""
    el.clear()
    while el.getprevious() is not None:
        del el.getparent()[0]


def read_body(data: bytes | BinaryIO, plan: XmlPlan, out: XmlTables, source: str | None) -> dict[str, str]:
    """Read the whole file into ``out`` (see :func:`body_records`); returns the header values."""
    header: dict[str, str] = {}
    for _ in body_records(data, plan, out, source, header):
        pass
    return header


def body_records(data: bytes | BinaryIO, plan: XmlPlan, out: XmlTables, source: str | None,
                 header: dict[str, str]) -> Iterator[None]:
    """Stream the file: each record into ``out`` (yielding after each one, so the caller can
    drain it), the header values into ``header`` (by path below Header). A top-level element
    that holds no records is reported and skipped."""
    root = plan.schema.meta.get("root", "Message")
    record_tables = {p: t for p, t in plan.by_path.items() if t in plan.top}
    for path, stack, el in end_elements(data, source):
        if path in record_tables:
            out.emit(record_tables[path], el, {}, None)
            _release(el)
            yield None
        elif path.startswith(f"{root}/Header/") and len(el) == 0:
            header[path[len(root) + 8 :]] = el.text or ""
        elif len(stack) == 1 and _local(el.tag) not in ("Header",) and not any(
            p.startswith(path + "/") or p == path for p in plan.records
        ):
            out.findings.append(Finding(COLUMN_EXTRA, "warning", None, None, path, None,
                                        f"element {path!r} is not in the {out.collection} {out.year} "
                                        f"specification; ignored"))
            el.clear()


def resolve_collection_year(data: bytes | Source, collection: str | None, year: int | None,
                            source: str | None) -> tuple[str, int]:
    """What the caller says, the rest from the header (FILE_NO_YEAR when nothing names a year)."""
    if collection is None or year is None:
        det = detect_file(data, source or "", source or "")
        collection = collection or det.collection
        year = year or det.year
        if year is None:
            raise FileFault(FILE_NO_YEAR, "no collection year in the header and none given", file=source)
    return collection, year


class XmlStream:
    """One XML return read record by record, never held whole: ``chunks(n)`` yields (table,
    DataFrame) whenever n rows (of any tables) are held; ``findings`` and ``meta`` are complete
    once it is exhausted. ``collection``/``year`` default to what the header says; ``lead``:
    findings that come before the file's own (detection's)."""

    def __init__(self, src: Source, collection: str | None = None, year: int | None = None, *,
                 source: str | None = None) -> None:
        if src.is_blank():
            raise FileFault(FILE_EMPTY, "the file is empty", file=source)
        collection, year = resolve_collection_year(src, collection, year, source)
        schema = collection_schema(collection, year)
        if schema.format != "xml":
            raise ValueError(f"{collection} is not an XML collection")
        self.src, self.source, self.lead = src, source, []
        self.collection, self.year = collection, year
        self.tables = list(schema.tables)
        self.out = XmlTables(XmlPlan(schema), collection, year)
        self.encoding = xml_encoding(src.head(1 << 16))
        self.meta: dict[str, Any] = {}

    @property
    def findings(self) -> list[Finding]:
        enc = [] if self.encoding is None else [
            Finding(FILE_ENCODING, "info", None, None, None, self.encoding,
                    f"decoded as {self.encoding} (byte-order mark or declared encoding)")]
        return self.lead + enc + self.out.findings

    def chunks(self, chunk_rows: int | None = None) -> Iterator[tuple[str, pd.DataFrame]]:
        """(table, DataFrame) of the rows held whenever ``chunk_rows`` are (None: one frame per
        table of the schema, every row, at the end)."""
        header: dict[str, str] = {}
        self.meta = {"header": header, "encoding": self.encoding or "utf-8"}  # the header fills as it is read
        with self.src.open() as fh:
            for _ in body_records(fh, self.out.plan, self.out, self.source, header):
                if chunk_rows and self.out.buffered >= chunk_rows:
                    yield from self.out.drain()
        yield from (self.out.frames().items() if not chunk_rows else self.out.drain())

    def parsed(self) -> Parsed:
        tables = dict(self.chunks(None))
        return Parsed(collection=self.collection, year=self.year, tables=tables, findings=self.findings,
                      meta=self.meta)


def parse_xml(
    data: bytes,
    collection: str | None = None,
    year: int | None = None,
    *,
    source: str | None = None,
) -> Parsed:
    """Parse one XML return. ``collection``/``year`` default to what the header says."""
    if not data or not data.strip():
        raise FileFault(FILE_EMPTY, "the file is empty", file=source)
    return XmlStream(Source.of_bytes(data), collection, year, source=source).parsed()


_DECLARED = re.compile(rb"^<\?xml[^>]*\bencoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


def xml_encoding(data: bytes) -> str | None:
    """What makes an XML file other than plain UTF-8 (None when it is plain UTF-8): a
    byte-order mark (``utf-8-sig``, ``utf-16``) or a declared non-UTF-8 encoding. The
    parser decodes all of them; the finding tells the LA (rule FILE_ENCODING)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    m = _DECLARED.match(data.lstrip()[:200])
    if m and m.group(1).decode("ascii").lower().replace("_", "-") not in ("utf-8", "utf8"):
        return m.group(1).decode("ascii").lower()
    return None
