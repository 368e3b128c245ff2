"""Streaming parse of CIN / CSWW / SEN2 XML into the flattened tables of the schema.

The file is read with lxml ``iterparse``; each record element (a Child, a
CSWWWorker, a Person, ...: ``record_path`` in the collection's base.yaml) is
flattened when it ends and then cleared, so memory stays bounded by one record.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from lxml import etree

from cslake.io import (
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
from cslake.schemas import CollectionSchema, TableSchema, collection_schema

REPEAT_SEPARATOR = "|"


def _local(tag: Any) -> str:
    if not isinstance(tag, str):  # comments, processing instructions
        return ""
    return tag.rsplit("}", 1)[-1]


class _Plan:
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
        # Columns found by one walk over the row element (see _walk) unless their path
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
    if collection is None or year is None:
        from cslake.io.detect import detect_file

        det = detect_file(data, source or "", source or "")
        collection = collection or det.collection
        year = year or det.year
        if year is None:
            raise FileFault(FILE_NO_YEAR, "no collection year in the header and none given", file=source)
    schema = collection_schema(collection, year)
    if schema.format != "xml":
        raise ValueError(f"{collection} is not an XML collection")
    plan = _Plan(schema)
    rows: dict[str, list[dict]] = {t: [] for t in schema.tables}
    counters: dict[str, int] = {t: 0 for t in schema.tables}
    findings: list[Finding] = []
    seen_extra: set[tuple[str, str]] = set()
    header: dict[str, str] = {}
    root = schema.meta.get("root", "Message")
    stack: list[str] = []

    def emit(t: TableSchema, el: etree._Element, carried: dict[str, dict], parent_row: int | None) -> None:
        counters[t.name] += 1
        n = counters[t.name]
        row: dict[str, Any] = {"_row": n, "_parent_row": parent_row}
        extra: dict[str, Any] = {}
        found: dict[str, list] = {}
        _walk(t, el, "", found, extra)
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
                continue
            if c.repeatable:
                row[c.name] = REPEAT_SEPARATOR.join(x.text if x.text is not None else "" for x in hits)
            else:
                first = hits[0].text
                row[c.name] = first if first is not None else ""
                if len(hits) > 1:
                    extra[c.path] = [x.text if x.text is not None else "" for x in hits[1:]]
        if extra:
            row["_extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True)
            for p in extra:
                if (t.name, p) not in seen_extra:
                    seen_extra.add((t.name, p))
                    findings.append(Finding(COLUMN_EXTRA, "warning", t.name, n, p, None,
                                            f"{t.name} row {n}: element {p!r} is not in the {collection} "
                                            f"{year} specification (kept in _extra)"))
        else:
            row["_extra"] = None
        rows[t.name].append(row)
        here = dict(carried)
        here[t.name] = row
        for child in plan.children[t.name]:
            for sub in el.iterfind(_Plan.rel(t, child)):
                emit(child, sub, here, n)

    def _walk(t: TableSchema, el: etree._Element, prefix: str, found: dict, extra: dict) -> None:
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
                    _walk(t, sub, rel + "/", found, extra)
                continue
            value: Any = etree.tostring(sub, encoding="unicode", with_tail=False) if len(sub) else (sub.text or "")
            if rel in extra:  # a repeated unknown element: keep every occurrence
                extra[rel] = (extra[rel] if isinstance(extra[rel], list) else [extra[rel]]) + [value]
            else:
                extra[rel] = value

    record_tables = {p: t for p, t in plan.by_path.items() if t in plan.top}
    parser = etree.iterparse(
        io.BytesIO(data), events=("start", "end"), resolve_entities=False, no_network=True, huge_tree=True
    )
    try:
        for event, el in parser:
            name = _local(el.tag)
            if event == "start":
                stack.append(name)
                continue
            path = "/".join(stack)
            stack.pop()
            if path in record_tables:
                emit(record_tables[path], el, {}, None)
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]
            elif path.startswith(f"{root}/Header/") and len(el) == 0:
                header[path[len(root) + 8 :]] = el.text or ""
            elif len(stack) == 1 and name not in ("Header",) and not any(
                p.startswith(path + "/") or p == path for p in plan.records
            ):
                findings.append(Finding(COLUMN_EXTRA, "warning", None, None, path, None,
                                        f"element {path!r} is not in the {collection} {year} specification; ignored"))
                el.clear()
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None) or (exc.position[0] if getattr(exc, "position", None) else None)
        raise FileFault(
            FILE_NOT_WELLFORMED,
            f"not well-formed XML: {exc.msg if hasattr(exc, 'msg') else exc}",
            file=source,
            line=line,
            column=(exc.position[1] if getattr(exc, "position", None) else None),
        ) from None
    if stack:
        raise FileFault(FILE_NOT_WELLFORMED, f"file ends inside <{stack[-1]}>", file=source, line=None)

    encoding = xml_encoding(data)
    if encoding is not None:
        findings.insert(0, Finding(FILE_ENCODING, "info", None, None, None, encoding,
                                   f"decoded as {encoding} (byte-order mark or declared encoding)"))
    tables = {}
    for name, t in schema.tables.items():
        tables[name] = frame(list(t.columns), rows[name], parent=True)
    return Parsed(collection=collection, year=year, tables=tables, findings=findings,
                  meta={"header": header, "encoding": encoding or "utf-8"})


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
