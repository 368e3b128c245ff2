"""What the collection configuration says about recognising a file (``conf/collections/*/base.yaml``).

Adding a collection is data: its ``base.yaml`` names it for the recogniser.

- ``collection_code``: the XML header's ``CollectionDetails/Collection`` (CIN, CSWW, SEN2).
- ``record_path``: the top element of any year's record path betrays an XML collection
  whose header has no code (``Children`` is CIN).
- ``path_names``: folder names and file-name words that claim the collection.
- ``csv_recognition_rank``: CSV collections whose tables a header is matched against
  first (lower first; unranked collections after, by name).
- ``workbook: true``: an xlsx may be this return (sheets matched by ``sheet``/``sheet_pattern``).
- ``check_year_against_reference_date`` (default true): whether the header's Year must be
  the collection year its ReferenceDate falls in.
"""

from __future__ import annotations

import functools
import math

from cslake.config import ConfigError, load_yaml
from cslake.schemas import base_year, collection_schema, collections, diff_years


def _base(collection: str) -> dict:
    return load_yaml(f"collections/{collection}/base.yaml")


def _unique(pairs: list[tuple[str, str]], what: str) -> dict[str, str]:
    """{name: collection}, refusing a name two collections claim."""
    out: dict[str, str] = {}
    for name, collection in pairs:
        if out.get(name, collection) != collection:
            raise ConfigError(f"{what} {name!r} is claimed by both {out[name]} and {collection}")
        out[name] = collection
    return out


@functools.lru_cache(maxsize=1)
def xml_collection_codes() -> dict[str, str]:
    """XML header collection code (upper case) -> collection."""
    return _unique([(str(_base(c)["collection_code"]).upper(), c) for c in collections()
                    if _base(c).get("collection_code")], "collection_code")


def record_top_elements(record_path) -> list[str]:
    """The elements just below the root of each record path: ``Message/Children/Child`` -> ``Children``."""
    paths = [record_path] if isinstance(record_path, str) else list(record_path or [])
    return [p.split("/")[1] for p in paths if len(p.split("/")) > 1]


@functools.lru_cache(maxsize=1)
def xml_markers() -> dict[str, str]:
    """Top-level XML element -> the collection it betrays (from every year's ``record_path``)."""
    pairs = []
    for c in collections():
        for year in [base_year(c), *diff_years(c)]:
            pairs += [(top, c) for top in record_top_elements(collection_schema(c, year).meta.get("record_path"))]
    return _unique(pairs, "record element")


@functools.lru_cache(maxsize=1)
def path_names() -> dict[str, str]:
    """Lower-case folder name or file-name word -> the collection it claims."""
    return _unique([(str(n).lower(), c) for c in collections() for n in _base(c).get("path_names") or []],
                   "path name")


@functools.lru_cache(maxsize=1)
def csv_recognition_order() -> tuple[str, ...]:
    """Every collection, those with a ``csv_recognition_rank`` first (by rank), the rest by name."""
    rank = {c: _base(c).get("csv_recognition_rank") for c in collections()}
    return tuple(sorted(collections(), key=lambda c: math.inf if rank[c] is None else float(rank[c])))


@functools.lru_cache(maxsize=1)
def workbook_collections() -> tuple[str, ...]:
    """Collections an xlsx workbook may be, by name."""
    return tuple(c for c in collections() if _base(c).get("workbook"))


def checks_year_against_reference_date(collection: str) -> bool:
    return bool(_base(collection).get("check_year_against_reference_date", True))


def fixed_reference_date(collection: str) -> tuple[int, int] | None:
    """(month, day) of a collection whose header ReferenceDate is always that day of its year:
    only ``reference_date: "03-31"`` (CIN) is; the other census days move from year to year."""
    return (3, 31) if str(_base(collection).get("reference_date") or "") == "03-31" else None
