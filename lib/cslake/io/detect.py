"""What is this file? Collection, table(s), LA, year and period, from content first, then path.

Content wins over the folder: a CIN file in ``raw/203/cin/2023/`` whose header
says LEA 202 and Year 2024 is CIN, LA 202, 2024, and the disagreement is
reported (rule FILE_PATH_MISMATCH) in ``reasons`` and ``findings``.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from lxml import etree

from cslake.config import local_authorities
from cslake.io.parse_csv import HEAD_CHARS, recognise_csv
from cslake.io.parse_xlsx import match_sheets
from cslake.io.parsed import (
    FILE_EMPTY,
    FILE_LA_MISMATCH,
    FILE_NOT_WELLFORMED,
    FILE_PATH_MISMATCH,
    FILE_UNRECOGNISED,
    FileFault,
    Finding,
)
from cslake.io.recognition import (
    checks_year_against_reference_date,
    fixed_reference_date,
    path_names,
    workbook_collections,
    xml_collection_codes,
    xml_markers,
)
from cslake.io.source import Source
from cslake.io.workbook import Workbook
from cslake.schemas import base_year, collection_schema
from cslake.vocab import collection_year


@dataclass
class Detected:
    collection: str
    tables: list[str]
    la_code: str | None
    year: int | None
    period: str | None
    reasons: list[str] = field(default_factory=list)
    format: str = "csv"
    findings: list[Finding] = field(default_factory=list)
    # The LA the file was sent as (its folder's code, known or not): whose report its problems go to.
    sender_la: str | None = None
    # The LA code the file is, when conf/la_codes.csv does not know it: the file is refused (FILE_UNKNOWN_LA).
    unknown_la: str | None = None

    @property
    def table(self) -> str | None:
        return self.tables[0] if len(self.tables) == 1 else None


def sniff_format(data: bytes) -> str:
    if data[:4] == b"PK\x03\x04":
        return "xlsx"
    head = data[:512].lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"):
        head = data[:1024].decode("utf-16", "ignore").encode("utf-8", "ignore").lstrip()
    return "xml" if head.startswith(b"<") else "csv"


# --- years in names -----------------------------------------------------------------------------
_YEAR_FORMS = [
    # (regex, function of match -> collection year); all anchored on non-digits either side.
    (re.compile(r"(?i)(?<![a-z0-9])FY\s*-?\s*(\d{4})(?!\d)"), lambda m: int(m.group(1))),
    (re.compile(r"(?<!\d)(20\d{2})\s*[-/_]\s*(20\d{2})(?!\d)"), lambda m: _span(int(m.group(1)), int(m.group(2)))),
    (re.compile(r"(?<!\d)(20\d{2})\s*[-/_]\s*(\d{2})(?!\d)"), lambda m: _span(int(m.group(1)), 2000 + int(m.group(2)))),
    (re.compile(r"(?<!\d)(\d{2})\s*[-/_]\s*(\d{2})(?!\d)"), lambda m: _span(2000 + int(m.group(1)), 2000 + int(m.group(2)))),
    (re.compile(r"(?<!\d)(20\d{2})(?!\d)"), lambda m: int(m.group(1))),
    (re.compile(r"(?<!\d)(\d{2})(\d{2})(?!\d)"), lambda m: _span(2000 + int(m.group(1)), 2000 + int(m.group(2)))),
]


def _span(a: int, b: int) -> int | None:
    """'2022-23' → 2023: the collection year is named by the year it ends in."""
    return b if b == a + 1 else None


def year_from_text(text: str) -> int | None:
    """The collection year a folder or file name claims, in any of the sector's forms, or None."""
    for rx, fn in _YEAR_FORMS:
        for m in rx.finditer(text):
            y = fn(m)
            if y is not None and 2000 <= y <= 2100:
                return y
    return None


def quarter_from_text(text: str) -> str | None:
    m = re.search(r"(?i)(?<![a-z0-9])Q([1-4])(?![0-9])", text)
    return f"Q{m.group(1)}" if m else None


# --- path ---------------------------------------------------------------------------------------
@dataclass
class PathClaims:
    la_code: str | None = None
    collection: str | None = None
    year: int | None = None
    period: str | None = None
    name_year: int | None = None  # the year the file name itself claims (the folder's may differ)
    unknown_la: str | None = None  # a 3-digit folder or file-name code not in conf/la_codes.csv


def claims_from_path(filename: str, path_hint: str) -> PathClaims:
    """What the folder and file name say: raw/<LA>/<collection>/<year>/<file>, or 202_cin_2223.xml."""
    las = local_authorities()
    known = path_names()
    text = (path_hint or "").replace("\\", "/")
    parts = [p for p in PurePosixPath(text).parts if p not in ("/", "")]
    name = filename or (parts[-1] if parts else "")
    if filename and parts and parts[-1] == filename:
        parts = parts[:-1]
    claims = PathClaims()
    if "raw" in parts:
        parts = parts[parts.index("raw") + 1 :]
    for p in parts:
        low = p.lower()
        if claims.la_code is None and re.fullmatch(r"\d{3}", p) and p in las:
            claims.la_code = p
        elif claims.la_code is None and claims.unknown_la is None and re.fullmatch(r"\d{3}", p) and low not in known:
            claims.unknown_la = p  # raw/<LA>/...: a folder code cslake does not know
        elif claims.collection is None and low in known:
            claims.collection = known[low]
        elif claims.year is None and not re.fullmatch(r"\d{3}", p):
            claims.year = year_from_text(p)
    stem = name.rsplit(".", 1)[0]
    m = re.match(r"(\d{3})(?!\d)", stem)
    if claims.la_code is None and m and m.group(1) in las:
        claims.la_code = m.group(1)
        stem = stem[3:]
    if claims.la_code is None:  # "Annex_A_202_2024.xlsx": a known LA code as its own token
        claims.la_code = next((tok for tok in re.split(r"[^0-9A-Za-z]+", stem) if tok in las), None)
    if claims.collection is None:
        for token in re.split(r"[^a-z0-9]+", stem.lower()):
            if token in known:
                claims.collection = known[token]
                break
    claims.name_year = year_from_text(stem)
    if claims.year is None:
        claims.year = claims.name_year
    claims.period = quarter_from_text(stem) or next((q for q in map(quarter_from_text, parts) if q), None)
    return claims


# --- content ------------------------------------------------------------------------------------
def xml_header(data: bytes | Source) -> dict[str, str]:
    """Root, top-level elements seen and header values, reading only as far as the first record."""
    if isinstance(data, Source):
        with data.open() as fh:
            return xml_header_of(fh)
    return xml_header_of(io.BytesIO(data))


def xml_header_of(fh: BinaryIO) -> dict[str, str]:
    """:func:`xml_header` of a binary file, read as far as the first record."""
    out: dict[str, str] = {}
    stack: list[str] = []
    try:
        for event, el in etree.iterparse(fh, events=("start", "end"), resolve_entities=False,
                                         no_network=True, huge_tree=True):
            tag = el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""
            if event == "start":
                stack.append(tag)
                if len(stack) == 1:
                    out["_root"] = tag
                elif len(stack) == 2 and tag != "Header":
                    out.setdefault("_first", tag)
                    break  # header is done: the body starts
                continue
            stack.pop()
            if len(stack) >= 2 and stack[1] == "Header" and len(el) == 0:
                out["/".join(stack[2:] + [tag])] = (el.text or "").strip()
    except etree.XMLSyntaxError as exc:
        if "_root" not in out:
            # Where, never what: the parser's message quotes the file's own tags and text.
            position = getattr(exc, "position", None) or (None, None)
            raise FileFault(FILE_NOT_WELLFORMED, "not well-formed XML", line=getattr(exc, "lineno", None) or position[0],
                            column=position[1]) from None
    return out


def parse_iso_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return None


@dataclass
class ContentClaims:
    """What a file's content says it is, before the path is heard."""

    collection: str
    tables: list[str]
    la_code: str | None = None
    year: int | None = None
    period: str | None = None
    reasons: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def xml_collection(header: dict[str, str]) -> str | None:
    """The collection an XML header names, else the one its first body element betrays."""
    code = header.get("CollectionDetails/Collection", "").upper()
    return xml_collection_codes().get(code) or xml_markers().get(header.get("_first", ""))


def xml_year(header: dict[str, str], collection: str, path_year: int | None = None
             ) -> tuple[int | None, list[str], list[Finding]]:
    """(collection year, reasons, findings): the header's Year, else the year its ReferenceDate falls in.

    A collection whose ReferenceDate is fixed at 31 March (CIN: ``reference_date: "03-31"``)
    must have it on 31 March of the header's Year (DfE CIN validation rule 100, "Reference Date
    is incorrect"): otherwise a ``<COLLECTION>_100`` finding. When Year and ReferenceDate name
    different collection years, the one the folder or file name agrees with is used, else Year
    (rule 100 holds the ReferenceDate to the Year, not the other way round); the finding says which."""
    ref_text = header.get("CollectionDetails/ReferenceDate", "").strip()
    ref = parse_iso_date(ref_text)
    year_text = header.get("CollectionDetails/Year", "").strip()
    if not year_text.isdigit():
        if ref:
            year = collection_year(ref)
            return year, [f"year {year} from header ReferenceDate {ref}"], []
        return None, [], []
    year = int(year_text)
    findings: list[Finding] = []
    reasons: list[str] = []
    fixed = fixed_reference_date(collection)
    if ref and collection_year(ref) != year and checks_year_against_reference_date(collection):
        if not fixed:
            return year, [f"header Year {year} and ReferenceDate {ref} disagree; Year used"], []
        ref_year = collection_year(ref)
        used, why = (ref_year, "the folder or file name agrees with the ReferenceDate") if path_year == ref_year else (
            year, "the folder or file name agrees with the Year" if path_year == year
            else "the Year, as DfE's rule 100 holds the ReferenceDate to it")
        msg = (f"header Year {year} but ReferenceDate {ref_text} falls in the {ref_year} collection year "
               f"(it should be 31 March {year}): read as the {used} return ({why})")
        reasons.append(msg)
        findings.append(Finding(f"{collection.upper()}_100", "warning", None, None, "ReferenceDate", ref_text, msg))
        year = used
    elif fixed and ref_text and (ref is None or (ref.month, ref.day) != fixed):
        expected = date(year, *fixed).isoformat()
        msg = (f"header ReferenceDate {ref_text} is not {expected}, 31 March of the header Year {year}: "
               f"read as the {year} return")
        reasons.append(msg)
        findings.append(Finding(f"{collection.upper()}_100", "warning", None, None, "ReferenceDate", ref_text, msg))
    return year, reasons, findings



def xml_content_claims(data: bytes | Source, source: str, path_year: int | None = None) -> ContentClaims:
    header = xml_header(data)
    collection = xml_collection(header)
    if collection is None:
        raise FileFault(FILE_UNRECOGNISED, "the XML root element names no known collection", file=source)
    year, reasons, findings = xml_year(header, collection, path_year)
    tables = list(collection_schema(collection, max(year or 0, base_year(collection))).tables)
    return ContentClaims(collection, tables, la_code=(header.get("Source/LEA") or "").strip() or None, year=year,
                         reasons=reasons, findings=findings)


def workbook_content_claims(data: bytes | Source, source: str) -> ContentClaims:
    """The first collection (conf ``workbook: true``) whose tables some sheets of the workbook are."""
    wb = Workbook(data.read_all() if isinstance(data, Source) else data, source)
    names = wb.sheetnames
    wb.close()
    for collection in workbook_collections():
        found = match_sheets(names, collection)
        if found:
            return ContentClaims(collection, list(found.values()))
    raise FileFault(FILE_UNRECOGNISED, f"none of the workbook's {len(names)} sheet(s) matches a known return",
                    file=source)


def csv_content_claims(data: bytes | Source, claims: PathClaims, source: str) -> ContentClaims:
    """The table whose columns best match the header row (the path's collection and year tried first;
    only the text's first HEAD_CHARS characters are read)."""
    if isinstance(data, Source):
        data = data.head_text(HEAD_CHARS)
    collection, table, _ = recognise_csv(data, claims.collection, claims.year, source=source)
    return ContentClaims(collection, [table])


def content_claims(data: bytes | Source, fmt: str, claims: PathClaims, source: str) -> ContentClaims:
    if fmt == "xml":
        return xml_content_claims(data, source, claims.year)
    if fmt == "xlsx":
        return workbook_content_claims(data, source)
    return csv_content_claims(data, claims, source)


class _Reconciler:
    """Content against path, one claim at a time: content wins; each disagreement is a reason
    and a FILE_PATH_MISMATCH finding."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        self.findings: list[Finding] = []

    def __call__(self, what: str, content, path):
        if content is not None and path is not None and str(content) != str(path):
            msg = f"path says {what} {path}, content says {content}: content used"
            self.reasons.append(f"{FILE_PATH_MISMATCH}: {msg}")
            self.findings.append(Finding(FILE_PATH_MISMATCH, "warning", None, None, what, str(path), msg))
        return content if content is not None else path


def reconcile_claims(fmt: str, content: ContentClaims, claims: PathClaims) -> Detected:
    """What the file is, from its content where it says, else its path; disagreements reported."""
    reasons = list(content.reasons)
    reconcile = _Reconciler(reasons)
    reconcile.findings += content.findings
    collection = reconcile("collection", content.collection, claims.collection)
    path_la = claims.la_code or claims.unknown_la
    la = reconcile("LA", content.la_code, path_la)
    known = local_authorities()
    unknown = la if la is not None and la not in known else None
    if unknown is None and claims.la_code is not None and la != claims.la_code:
        # Sent in one LA's folder as another LA's return: the sender hears of it too (the
        # FILE_PATH_MISMATCH goes to the LA the file is landed as).
        reconcile.findings.append(Finding(
            FILE_LA_MISMATCH, "warning", None, None, "LA", la,
            f"sent in LA {claims.la_code}'s folder, but the file says it is LA {la}'s return: "
            f"landed as LA {la}'s", la=claims.la_code))
    year = content.year
    if fmt == "xml" or year is not None:
        year = reconcile("year", year, claims.year)
        if (content.year is not None and claims.name_year is not None and claims.name_year != content.year
                and claims.year == content.year):
            # The folder agrees with the content but the file name does not (SEN2_2024_209.xml
            # holding the 2025 census): reported like any other path disagreement.
            reconcile("year (file name)", content.year, claims.name_year)
    else:
        year = claims.year
        if year is not None:
            reasons.append(f"year {year} from the path (the file carries no year)")
    if la is None:
        reasons.append("no LA code in the content or the path")
    if year is None:
        reasons.append("no collection year in the content or the path")
    if unknown is not None:
        reasons.append(f"LA {unknown} is not in conf/la_codes.csv")
    return Detected(collection=collection, tables=content.tables, la_code=la, year=year,
                    period=content.period or claims.period, reasons=reasons, format=fmt,
                    findings=reconcile.findings, sender_la=path_la, unknown_la=unknown)


def detect_file(data: bytes | str | os.PathLike | Source, filename: str = "", path_hint: str = "") -> Detected:
    """Recognise a file from its content (and its path, which content overrides). A path or a
    :class:`Source` is read in chunks, as far as recognising it needs (the header)."""
    if isinstance(data, (bytes, bytearray)):
        src = Source.of_bytes(data)
    elif isinstance(data, Source):
        src = data
    else:
        p = Path(data)
        filename = filename or p.name
        path_hint = path_hint or str(p)
        src = Source.of_path(p)
    if src.is_blank():
        raise FileFault(FILE_EMPTY, "the file is empty", file=path_hint or filename)
    claims = claims_from_path(filename, path_hint)
    fmt = sniff_format(src.head(1024))
    return reconcile_claims(fmt, content_claims(src, fmt, claims, path_hint or filename), claims)
