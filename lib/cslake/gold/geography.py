"""The geographies of gold's regional rows, from the LAs in the lake (never from a default).

Every gold table has LA rows; its regional rows are sums (or correctly weighted rates) of
the LA rows of each *area* that holds at least one LA the table has:

- each **alliance** of ``conf/regions.yaml`` (members: the LAs of ``conf/la_codes.csv`` whose
  ``riia`` column names it): ``geog_level`` ``region``, ``geog_code`` the regions.yaml key
  (``london``, ``east_midlands``), ``geog_name`` its name (``London``, ``East Midlands``);
- each of the nine **English regions** of ``la_codes.csv``'s ``region`` column whose LAs are
  not exactly an alliance's (an alliance that *is* the region, as LIIA is London, is one row,
  not two): ``geog_level`` ``region``, ``geog_code`` the ONS region code (``E12000005``);
- **England** (``geog_level`` ``national``, ``geog_code`` ``england``) only when the table holds
  every English LA of ``la_codes.csv`` and that list covers all nine regions: a lake of two
  alliances is not England, and a sum of some LAs labelled England would be a false comparator.

A region row sums only the LAs present (an LA that sent nothing contributes nothing), as the
region rows always have. ``only`` (``cslake build gold --region KEY``) keeps one alliance's rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import pandas as pd

from cslake.config import LocalAuthority, Region, local_authorities, region as region_of, regions
from cslake.vocab import REGION_GSS  # the nine English regions' ONS codes

__all__ = ["ENGLAND", "ENGLAND_GSS", "Area", "all_areas", "area_members", "area_rows", "areas_for", "region_gss"]

ENGLAND = "england"
ENGLAND_GSS = "E92000001"
GEOG_COLUMNS = ["geog_level", "geog_code", "geog_name"]


@dataclass(frozen=True)
class Area:
    level: str  # "region" or "national"
    code: str  # regions.yaml key, ONS region code, or "england"
    name: str
    gss: str | None  # ONS code of the region / country, when the area is one
    las: frozenset[str]  # every member LA (la_codes.csv), present in the lake or not
    kind: str  # "alliance", "ons_region" or "country"


def region_gss(name: str) -> str | None:
    """The ONS code of an English region by name (None for anything else)."""
    return REGION_GSS.get(name)


def all_areas(known: Mapping[str, LocalAuthority] | None = None,
              alliances: Mapping[str, Region] | None = None) -> list[Area]:
    """Every area cslake knows: alliances, then English regions not identical to one, then England."""
    known = local_authorities() if known is None else known
    alliances = regions() if alliances is None else alliances
    out = [Area("region", key, r.name, REGION_GSS.get(r.name) if set(r.la_codes) == _ons_members(known, r.name)
                else None, frozenset(r.la_codes), "alliance")
           for key, r in sorted(alliances.items())]
    taken = {a.las for a in out}
    for name in sorted({la.region for la in known.values()} & REGION_GSS.keys()):
        las = frozenset(_ons_members(known, name))
        if las not in taken:
            out.append(Area("region", REGION_GSS[name], name, REGION_GSS[name], las, "ons_region"))
    english = [la for la in known.values() if la.region in REGION_GSS]
    if {la.region for la in english} == set(REGION_GSS):
        out.append(Area("national", ENGLAND, "England", ENGLAND_GSS, frozenset(la.dfe_code for la in english),
                        "country"))
    return out


def _ons_members(known: Mapping[str, LocalAuthority], region_name: str) -> set[str]:
    return {la.dfe_code for la in known.values() if la.region == region_name}


def areas_for(present: Iterable[str], only: str | None = None, areas: list[Area] | None = None) -> list[Area]:
    """The areas with regional rows for a table holding the LAs ``present``: an alliance or region
    when it holds any of them, England only when it holds all of its LAs. ``only`` (a regions.yaml
    key) keeps that alliance alone, or for a group (england, north_west) the areas inside it."""
    present = {str(p) for p in present if p is not None and not (isinstance(p, float) and pd.isna(p))}
    areas = all_areas() if areas is None else areas
    if only:
        reg = region_of(only)
        inside = frozenset(reg.la_codes)
        areas = [a for a in areas if (a.kind == "alliance" and a.code == reg.key if reg.alliance else a.las <= inside)]
    return [a for a in areas if (a.las <= present if a.kind == "country" else bool(a.las & present))]


def area_members(code: str, areas: list[Area] | None = None) -> frozenset[str] | None:
    """The member LAs of the area with ``code`` (None when no area has it)."""
    if areas is None:
        return _members_by_code().get(str(code))
    return next((a.las for a in areas if a.code == str(code)), None)


@functools.lru_cache(maxsize=1)
def _members_by_code() -> dict[str, frozenset[str]]:
    return {a.code: a.las for a in all_areas()}


def area_rows(la_rows: pd.DataFrame, la_col: str, build: Callable[[pd.DataFrame], pd.DataFrame],
              only: str | None = None, areas: list[Area] | None = None) -> pd.DataFrame:
    """One set of regional rows per area: ``build`` (e.g. a groupby-sum) applied to the area's LA rows,
    with geog_level, geog_code and geog_name set; areas in all_areas() order."""
    codes = la_rows[la_col].astype(str)
    frames = []
    for a in areas_for(set(codes), only, areas):
        part = build(la_rows[codes.isin(a.las)]).copy()
        part["geog_level"], part["geog_code"], part["geog_name"] = a.level, a.code, a.name
        frames.append(part)
    if not frames:
        empty = build(la_rows.iloc[0:0]).copy()
        for c in GEOG_COLUMNS:
            empty[c] = pd.Series(dtype=object)
        return empty
    return pd.concat(frames, ignore_index=True)
