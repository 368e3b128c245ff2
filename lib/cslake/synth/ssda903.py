"""The SSDA903 return as LAs send it: a set of CSV files, one per table, recognised by the
header row (file names vary between LAs and are no guide), dates dd/mm/YYYY.

Each year's files are a snapshot as at 31 March: the episodes file holds every episode
open at any time in the year, and what happened after 31 March (an end date, a reason
for leaving) is not yet known, so it is blank. An episode open at 31 March appears again
in the next year's file, closed or still open.

Dirt (each fault recorded in ctx.faults with its rule): BOM / UTF-16 (FILE_ENCODING),
ids through Excel (ID_FLOAT), lower-case or padded codes (CODE_CASE), trailing blank
lines (CSV_BLANK_LINE), dates in another format (TYPE_DATE), blank mandatory fields
(MANDATORY_MISSING), invalid codes (CODE_INVALID), DEC before DECOM (SSDA903_356),
episodes left open (SSDA903_EPI_OPEN) or overlapping the next (SSDA903_EPI_OVERLAP),
an extra or misspelt column (COLUMN_EXTRA / COLUMN_MISSPELT), a byte-identical copy
(FILE_DUPLICATE), a superseded earlier submission (FILE_RESUBMISSION), a year's set in
the previous year's folder (FILE_YEAR_MISMATCH) and bad UPN check letters (UPN_INVALID).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cslake.config import LocalAuthority
from cslake.schemas import collection_schema
from cslake.synth.context import Dirt, GenContext
from cslake.synth.core import age_on, fault_outcome, fixed_timestamp, rule_outcome, write_resend, year_end, year_start
from cslake.synth.population import identifiers_on
from cslake.upn import CHECK_LETTERS

COLLECTION = "ssda903"
DATE_FMT = "%d/%m/%Y"

# Placement codes withdrawn or not yet introduced in a year are written as their
# nearest equivalent, so an episode spanning the 2025 change stays valid in both files.
PLACE_EQUIVALENT = {"H5": "K3", "P2": "K3", "K3": "H5", "Z11": "Z1", "Z12": "Z1", "Z13": "Z1", "Z14": "Z1"}

H5_URN_FROM = date(2023, 10, 29)
# Placements with no Ofsted URN: written as XXXXXXX (H5 semi-independent living before 2025).
NO_URN_PLACES = {"H5", "P1", "P2", "P3", "R1", "R2", "R5", "T0", "T1", "T2", "T3", "T4", "Z1", "Z11", "Z12",
                 "Z13", "Z14"}

# How often each fault is injected, relative to ctx.dirt.rate (cells/rows) or
# ctx.dirt.file_rate (files). Kept here, not in synth.yaml: they shape the mix, the
# overall level is the run's dirt setting.
CELL_WEIGHTS = {"CODE_CASE": 1.0, "CODE_INVALID": 0.3, "TYPE_DATE": 0.3, "MANDATORY_MISSING": 0.2,
                "UPN_INVALID": 1.5}
ROW_WEIGHTS = {"SSDA903_356": 0.3, "SSDA903_EPI_OPEN": 1.0, "SSDA903_EPI_OVERLAP": 0.5}
FILE_WEIGHTS = {"FILE_ENCODING": 2.0, "ID_FLOAT": 1.0, "CSV_BLANK_LINE": 1.5, "COLUMN_EXTRA": 0.5,
                "COLUMN_MISSPELT": 0.5, "FILE_DUPLICATE": 0.4, "FILE_RESUBMISSION": 0.4,
                "FILE_YEAR_MISMATCH": 0.3}

MISSPELLINGS = {
    "header": {"ETHNIC": "ETHINIC", "UPN": "UPN_NO"},
    "episodes": {"DECOM": "DECOMM", "PLACE_PROVIDER": "PLACE_PROVDER", "REASON_PLACE_CHANGE": "REASON_PLACE_CHNAGE"},
    "reviews": {"REVIEW": "REVEIW", "REVIEW_CODE": "REVIEW_COD"},
    "uasc": {"DUC": "DUC_DATE"},
    "oc2": {"SDQ_SCORE": "SDQ_SOCRE", "IMMUNISATIONS": "IMMUNISATION"},
    "oc3": {"IN_TOUCH": "IN_TOCH", "ACCOM": "ACCOMM"},
    "ad1": {"DATE_MATCH": "DATE_MATCHED", "NB_ADOPTR": "NB_ADOPTER"},
    "placed_adoption": {"DATE_PLACED": "DATE_PLACD"},
    "prev_perm": {"PREV_PERM": "PREV_PREM"},
    "missing": {"MIS_START": "MIS_STRAT", "MISSING": "MISING"},
    "social_worker": {"SW_DECOM": "SW_DECOMM"},
}
EXTRA_COLUMNS = ["LA", "Notes", "Column1", "RowID", "Team"]

# How LAs name their files: the table part in several spellings, and the pattern around it.
TABLE_NAMES = {
    "header": ["header", "Header", "Child_Header", "903_header"],
    "episodes": ["episodes", "Episodes", "Episode", "903_episodes"],
    "reviews": ["reviews", "Reviews", "Review", "903_reviews"],
    "uasc": ["uasc", "UASC", "UASC", "903_uasc"],
    "oc2": ["oc2", "OC2", "OC2", "903_oc2"],
    "oc3": ["oc3", "OC3", "OC3", "903_oc3"],
    "ad1": ["ad1", "AD1", "Adopted", "903_ad1"],
    "placed_adoption": ["placed_for_adoption", "PlacedAdoption", "Placed_for_Adoption", "903_placed_adoption"],
    "prev_perm": ["prev_perm", "PrevPerm", "Previous_Permanence", "903_prevperm"],
    "missing": ["missing", "Missing", "Missing_Episodes", "903_missing"],
    "social_worker": ["social_worker", "SocialWorker", "SW_Episodes", "903_sw_episodes"],
}
_NAME_PATTERNS = [
    "{t}.csv",
    "{t}_{year}.csv",
    "SSDA903_{y0}-{yy}_{t}.csv",
    "{la}_{t}_{y0}{yy}.csv",
    "{t}_{y0}-{yy}.csv",
]
# Names used for a set filed under the wrong year; no regular pattern produces them.
_MISFILED_PATTERN = "{t}_final.csv"

# DfE's reasons for no UPN: UN1 not yet at school (under 5 here; 209 rejects it at school age),
# UN2 never attended a school in England (an asylum-seeking child: UN4, "new arrival", is for the
# first week only, 210), UN5 sources hold none (also a care leaver over 18 without one).
UNKNOWN_UPN = {"over18": "UN5", "never_school": "UN1", "new_arrival": "UN2", "exhausted": "UN5"}


@dataclass
class TableData:
    """One table's rows before writing: values are str, date or None; person ids alongside."""

    name: str
    columns: list[str]
    rows: list[dict]
    person_ids: list[int]
    touched: set = field(default_factory=set)  # (row index, column) already faulted
    # Rows an episode repair fault needs in silver (the episode and the next one): the care
    # history chains silver rows only, so a quarantining cell fault there would hide the repair.
    must_reach_silver: set = field(default_factory=set)


def write_ssda903(ctx: GenContext, la: LocalAuthority, year: int) -> list[Path]:
    """Write one LA's SSDA903 return for collection year `year`; returns the paths written."""
    schema = collection_schema(COLLECTION, year)
    tables = build_tables(ctx, la, year)
    for name, table in tables.items():
        for row, pid in zip(table.rows, table.person_ids):
            ctx.truth.add(COLLECTION, year, la.dfe_code, name, row["CHILD"], pid)

    rng_files = ctx.rng(COLLECTION, "files", la.dfe_code, year)
    # A set filed under the previous year's folder (a bare "2022" read as 2022-23); its
    # `_final` names never collide with a regular set already in that folder.
    misfiled = ctx.dirt.file_hit(rng_files, FILE_WEIGHTS["FILE_YEAR_MISMATCH"])
    folder_year = year - 1 if misfiled else year
    folder = ctx.la_dir(la, COLLECTION, folder_year)
    style = _name_style(ctx, la)
    line_end = "\r\n" if int(ctx.rng(COLLECTION, "eol", la.dfe_code).integers(0, 3)) else "\n"

    for table in tables.values():
        table.clean = [dict(r) for r in table.rows]  # type: ignore[attr-defined]
    _episode_faults(ctx, la, year, tables["episodes"], schema)
    paths: list[Path] = []
    for name, table in tables.items():
        _cell_faults(ctx, la, year, table, schema)
        fname = _file_name(style, name, la, year, misfiled)
        path = folder / fname
        paths.extend(_write_table(ctx, la, year, table, path, line_end, misfiled))
    if misfiled:
        for p in paths:
            ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=ctx.rel(p),
                           rule="FILE_YEAR_MISMATCH", original=str(year), injected=str(folder_year),
                           note=f"{year} return filed under {folder_year}")
    return paths


# ---------------------------------------------------------------------------
# Selecting and shaping the year's records
# ---------------------------------------------------------------------------

def as_date(value: Any) -> date | None:
    """A cell from a pandas frame as a date (None for every kind of missing)."""
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if value is pd.NaT:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return pd.Timestamp(value).date()


def as_text(value: Any) -> str | None:
    """A cell from a pandas frame as the text a return holds (None for missing; 1.0 -> '1')."""
    if value is None:
        return None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if value is pd.NaT:
        return None
    text = str(value)
    return text if text != "" else None


_d, _s = as_date, as_text  # short names for the many call sites here


_BY_LA: dict[tuple[int, str], tuple[Any, dict]] = {}


def events_for_la(events: Any, name: str, la: str) -> pd.DataFrame:
    """One LA's rows of an event table. Split once per events object and table (per
    worker process): comparing the region-wide `la` column for every LA-year and writer
    would cost more than writing the files."""
    if events is None:
        return pd.DataFrame()
    df = getattr(events, name)
    key = (id(events), name)
    hit = _BY_LA.get(key)
    if hit is None or hit[0] is not df:
        parts = {k: g for k, g in df.groupby("la", sort=False)} if len(df) else {}
        hit = (df, parts)
        _BY_LA[key] = hit
    return hit[1].get(la, df.iloc[0:0])


def _events_for(ctx: GenContext, name: str, la: str) -> pd.DataFrame:
    return events_for_la(ctx.events, name, la)


def _overlaps(df: pd.DataFrame, start_col: str, end_col: str | None, ys: date, ye: date) -> pd.DataFrame:
    if not len(df):
        return df
    s = df[start_col].map(_d)
    keep = s.map(lambda v: v is not None and v <= ye)
    if end_col is not None:
        e = df[end_col].map(_d)
        keep &= e.map(lambda v: v is None or v >= ys)
    else:
        keep &= s.map(lambda v: v is not None and v >= ys)
    return df[keep.astype(bool)]


def _within(df: pd.DataFrame, col: str, ys: date, ye: date) -> pd.DataFrame:
    if not len(df):
        return df
    v = df[col].map(_d)
    return df[v.map(lambda x: x is not None and ys <= x <= ye).astype(bool)]


@dataclass
class _People:
    """What the LA's system holds on each child: its own id, sex, DOB, ethnicity, UPN."""

    la: str
    info: dict[int, dict]

    def child_id(self, pid: int) -> str:
        return self.info[pid]["la_child_id"]


_POP_CACHE: dict[int, tuple[Any, pd.DataFrame, dict]] = {}


def _pop_index(pop) -> tuple[pd.DataFrame, dict]:
    """People indexed by person_id, and each LA's person → LA child id; built once per
    population (per worker process) instead of scanning the region for every LA-year."""
    hit = _POP_CACHE.get(id(pop))
    if hit is None or hit[0] is not pop:
        people = pop.people.set_index("person_id", drop=False)
        res = pop.residence
        ids: dict[str, dict] = {}
        for la, g in res.groupby("la", sort=False):
            ids[la] = dict(zip(g["person_id"].to_numpy().tolist(), g["la_child_id"].to_numpy().tolist()))
        hit = (pop, people, ids)
        _POP_CACHE.clear()
        _POP_CACHE[id(pop)] = hit
    return hit[1], hit[2]


def person_records(pop, la: str, pids: set[int], columns: list[str] | None = None) -> dict[int, dict]:
    """What the LA's system holds on each child (person columns plus `la_child_id`)."""
    people, ids = _pop_index(pop)
    la_ids = ids.get(la, {})
    sub = people.loc[sorted(pids)] if pids else people.iloc[0:0]
    if columns is not None:
        sub = sub[columns]
    info: dict[int, dict] = {}
    for rec in sub.to_dict("records"):
        pid = int(rec["person_id"])
        # A child cared for by an LA it never lived in (placed there from elsewhere, or
        # arriving as UASC) still gets an id from that LA's system: stable per person.
        rec["la_child_id"] = la_ids.get(pid) or _fallback_id(la, pid)
        info[pid] = rec
    return info


def _people_for(ctx: GenContext, la: str, pids: set[int]) -> _People:
    return _People(la, person_records(ctx.pop, la, pids))


def _fallback_id(la: str, pid: int) -> str:
    digest = hashlib.sha256(f"ssda903-id:{la}:{pid}".encode()).hexdigest()
    return str(8_000_000 + int(digest[:8], 16) % 1_000_000)


def build_tables(ctx: GenContext, la: LocalAuthority, year: int) -> dict[str, TableData]:
    """The clean tables of one LA-year (before dirt), in the order they are written."""
    code = la.dfe_code
    ys, ye = year_start(year), year_end(year)
    schema = collection_schema(COLLECTION, year)
    valid_place = set(schema.tables["episodes"].columns["PLACE"].codes or [])

    eps = _overlaps(_events_for(ctx, "care_episodes", code), "decom", "dec", ys, ye)
    reviews = _within(_events_for(ctx, "reviews", code), "review_date", ys, ye)
    # a missing period open on 31 March is returned again, with its end, the next year (DfE 576)
    missing = _overlaps(_events_for(ctx, "missing", code), "mis_start", "mis_end", ys, ye)
    oc2 = _events_for(ctx, "oc2", code)
    oc2 = oc2[oc2["year"].astype(int) == year] if len(oc2) else oc2
    oc3 = _events_for(ctx, "oc3", code)
    oc3 = oc3[oc3["year"].astype(int) == year] if len(oc3) else oc3
    ad1 = _within(_events_for(ctx, "ad1", code), "date_adopted", ys, ye)
    placed = _overlaps(_events_for(ctx, "placed_adoption", code), "date_placed", "date_placed_ceased", ys, ye)
    starters = set(eps.loc[(eps["rne"] == "S") & eps["decom"].map(lambda v: _d(v) >= ys).astype(bool),
                           "person_id"].astype(int)) if len(eps) else set()
    prev = _events_for(ctx, "prev_perm", code)
    prev = prev[prev["person_id"].astype(int).isin(starters)].drop_duplicates("person_id") if len(prev) else prev
    sw = None
    if "social_worker" in schema.tables:
        sw = _overlaps(_events_for(ctx, "social_worker", code), "sw_decom", "sw_dec", ys, ye)
    uasc_all = _events_for(ctx, "uasc", code)

    in_care = set(eps["person_id"].astype(int)) if len(eps) else set()

    def looked_after_only(df: pd.DataFrame) -> pd.DataFrame:
        # Child-level modules are returned only for children with an episode in the year
        # (DfE 1012, EPI): e.g. a placement for adoption open since an earlier year.
        return df[df["person_id"].astype(int).isin(in_care)] if len(df) else df

    reviews, missing, oc2, ad1, placed, prev = (looked_after_only(x) for x in (reviews, missing, oc2, ad1, placed,
                                                                                 prev))
    uasc = uasc_all[uasc_all["person_id"].astype(int).isin(in_care)] if len(uasc_all) else uasc_all
    if len(uasc):
        uasc = uasc[uasc["duc"].map(lambda v: _d(v) is None or _d(v) >= ys).astype(bool)].drop_duplicates("person_id")

    frames = [eps, reviews, missing, oc2, oc3, ad1, placed, prev, uasc] + ([sw] if sw is not None else [])
    pids: set[int] = set()
    for f in frames:
        if len(f):
            pids |= set(f["person_id"].astype(int))
    people = _people_for(ctx, code, pids)
    # Ever an unaccompanied asylum-seeking child of this LA, in any year: the UPN-unknown code
    # given on arrival stays the child's code in every later return (DfE 208 compares years).
    uasc_pids = set(uasc_all["person_id"].astype(int)) if len(uasc_all) else set()
    sex_map = {"1": "M", "2": "F"} if "M" in (schema.tables["header"].columns["SEX"].codes or []) else {}
    rng = ctx.rng(COLLECTION, "clean", code, year)

    def base(pid: int) -> dict:
        p = people.info[pid]
        return {"CHILD": p["la_child_id"], "DOB": _d(p["dob"])}

    out: dict[str, TableData] = {}

    # header
    all_eps = _events_for(ctx, "care_episodes", code)
    looked_after = set(eps.loc[~eps["ls"].isin(["V3", "V4"]), "person_id"].astype(int)) if len(eps) else set()
    rows, owners = [], []
    for pid in sorted(pids, key=lambda p: people.child_id(p)):
        p = people.info[pid]
        dob = _d(p["dob"])
        sex = sex_map.get(p["sex"], p["sex"])
        mother, mc_dob = None, None
        # MOTHER is completed for every girl looked after in the year (DfE 393/165/607), and
        # for no one else (628: not for care leavers without an episode this year). A mother
        # stays one, with the same first child, in every later year (207/624/626).
        if p["sex"] == "2" and pid in looked_after:
            mother = "0"
            born = _first_child_born(ctx, code, pid, dob, all_eps)
            if born is not None and born <= ye:
                mother, mc_dob = "1", born
        rows.append({"CHILD": p["la_child_id"], "SEX": sex, "DOB": dob, "ETHNIC": p["ethnicity"],
                     "UPN": _upn(p, ye, pid in uasc_pids), "MOTHER": mother, "MC_DOB": mc_dob})
        owners.append(pid)
    out["header"] = TableData("header", list(schema.tables["header"].columns), rows, owners)

    # episodes: what happened after 31 March is not yet known
    rows, owners = [], []
    for e in eps.to_dict("records"):
        pid = int(e["person_id"])
        dec = _d(e["dec"])
        closed = dec is not None and dec <= ye
        place = _s(e["place"])
        if place and valid_place and place not in valid_place:
            place = PLACE_EQUIVALENT.get(place, place)
        urn = _s(e["urn"])
        if urn and place in NO_URN_PLACES and (place != "H5" or year <= 2023 or (closed and dec < H5_URN_FROM)):
            # Not an Ofsted-registered setting (DfE 222); supported accommodation (H5) is
            # registered, with a URN, from 28 October 2023 (230), so from the 2023-24 return.
            urn = "XXXXXXX"
        rows.append({"CHILD": people.child_id(pid), "DECOM": _d(e["decom"]), "RNE": _s(e["rne"]),
                     "LS": _s(e["ls"]), "CIN": _s(e["cin"]), "PLACE": place,
                     "PLACE_PROVIDER": _s(e["place_provider"]), "DEC": dec if closed else None,
                     "REC": _s(e["rec"]) if closed else None,
                     # not asked for temporary placements (DfE 226)
                     "REASON_PLACE_CHANGE": None if (place or "").startswith("T") else _s(e["reason_place_change"]),
                     "HOME_POST": _s(e["home_postcode"]), "PL_POST": _s(e["pl_postcode"]), "URN": urn})
        owners.append(pid)
    _same_urn_through_legal_changes(rows)
    out["episodes"] = _sorted(TableData("episodes", list(schema.tables["episodes"].columns), rows, owners),
                              ("CHILD", "DECOM"))

    def simple(name: str, df: pd.DataFrame, fill, sort_by=("CHILD",)) -> None:
        rows, owners = [], []
        if len(df):
            for r in df.to_dict("records"):
                pid = int(r["person_id"])
                rows.append({**base(pid), **fill(r, pid)})
                owners.append(pid)
        cols = list(schema.tables[name].columns)
        for row in rows:
            for c in cols:
                row.setdefault(c, None)
        out[name] = _sorted(TableData(name, cols, rows, owners), sort_by)

    simple("reviews", reviews, lambda r, pid: {"REVIEW": _d(r["review_date"]), "REVIEW_CODE": _s(r["review_code"])},
           ("CHILD", "REVIEW"))
    simple("uasc", uasc, lambda r, pid: {
        "SEX": sex_map.get(people.info[pid]["sex"], people.info[pid]["sex"]),
        # The date UASC status ceases is the 18th birthday, known in advance and returned in
        # every year's file (DfE 205B compares it across years).
        "DUC": _d(r["duc"])})
    simple("oc2", oc2, lambda r, pid: {c.upper(): _s(r[c]) for c in (
        "sdq_score", "sdq_reason", "convicted", "health_check", "immunisations", "teeth_check",
        "health_assessment", "substance_misuse", "intervention_received", "intervention_offered")})
    simple("oc3", oc3, lambda r, pid: {"IN_TOUCH": _s(r["in_touch"]), "ACTIV": _s(r["activ"]),
                                       "ACCOM": _s(r["accom"])})
    simple("ad1", ad1, lambda r, pid: {"DATE_INT": _d(r["date_int"]), "DATE_MATCH": _d(r["date_match"]),
                                       "FOSTER_CARE": _s(r["foster_care"]), "NB_ADOPTR": _s(r["nb_adoptr"]),
                                       "SEX_ADOPTR": _s(r["sex_adoptr"]), "LS_ADOPTR": _s(r["ls_adoptr"])})

    def placed_fill(r, pid):
        ceased = _d(r["date_placed_ceased"])
        known = ceased is not None and ceased <= ye
        return {"DATE_PLACED": _d(r["date_placed"]), "DATE_PLACED_CEASED": ceased if known else None,
                "REASON_PLACED_CEASED": _s(r["reason_placed_ceased"]) if known else None}

    simple("placed_adoption", placed, placed_fill, ("CHILD", "DATE_PLACED"))
    simple("prev_perm", prev, lambda r, pid: {"PREV_PERM": _s(r["prev_perm"]), "LA_PERM": _s(r["la_perm"]),
                                              "DATE_PERM": _partial_date(r["date_perm"])})

    def missing_fill(r, pid):
        end = _d(r["mis_end"])
        return {"MISSING": _s(r["missing_type"]), "MIS_START": _d(r["mis_start"]),
                "MIS_END": end if end is not None and end <= ye else None}

    simple("missing", missing, missing_fill, ("CHILD", "MIS_START"))
    if sw is not None:
        last_sw = sw.assign(_s=sw["sw_decom"].map(_d)).groupby("person_id")["_s"].max().to_dict() if len(sw) else {}

        def sw_fill(r, pid):
            end = _d(r["sw_dec"])
            known = end is not None and end <= ye
            if known and end >= ye - timedelta(days=5) and _d(r["sw_decom"]) == last_sw.get(r["person_id"]):
                # The worker's last days in late March are closed on the system after the
                # return is made (DfE SW11bSTG2 wants a next episode after an end that late).
                known = False
            # SW_REASON is why this worker was allocated: known from the episode's start.
            return {"SW_ID": _s(r["sw_id"]), "SW_DECOM": _d(r["sw_decom"]), "SW_DEC": end if known else None,
                    "SW_REASON": _s(r["sw_reason"])}

        simple("social_worker", sw, sw_fill, ("CHILD", "SW_DECOM"))
    return out


def _sorted(table: TableData, keys: tuple[str, ...]) -> TableData:
    order = sorted(range(len(table.rows)),
                   key=lambda i: tuple((table.rows[i][k] is None, table.rows[i][k] or "") if not isinstance(
                       table.rows[i][k], date) else (False, table.rows[i][k].isoformat()) for k in keys))
    table.rows = [table.rows[i] for i in order]
    table.person_ids = [table.person_ids[i] for i in order]
    return table


def _partial_date(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    d = _d(value)
    return d.strftime(DATE_FMT) if d else None


# Of the girls looked after at some time from 15 to 18, the share who have a first child then.
MOTHER_SHARE = 0.1


def _first_child_born(ctx: GenContext, la: str, pid: int, dob: date, eps: pd.DataFrame) -> date | None:
    """The birth of a looked-after girl's first child, or None: a per-girl draw (the same in
    every year's return), on a day she is looked after (not respite) aged 15-17. The day is
    never after the latest end of an episode of hers that ends in that collection year, so
    the child is not born after she "ceased to be looked after" as DfE 625 reads it (it takes
    the latest closed episode of the year, even when a later one is still open)."""
    rng = ctx.rng(COLLECTION, "mother", la, pid)
    if rng.random() >= MOTHER_SHARE:
        return None
    mine = eps[eps["person_id"].astype(int) == pid] if len(eps) else eps
    spans = [(_d(e["decom"]), _d(e["dec"])) for e in mine.to_dict("records") if _s(e["ls"]) not in ("V3", "V4")]
    lo_age, hi_age = _add_years(dob, 15), _add_years(dob, 18) - timedelta(days=1)
    days = [d for s, e in spans for d in _days(max(s, lo_age), min(e or hi_age, hi_age))]
    for _ in range(5):
        if not days:
            return None
        born = days[int(rng.integers(0, len(days)))]
        cy = born.year + (1 if born.month >= 4 else 0)
        ys, ye = year_start(cy), year_end(cy)
        ends = [e for s, e in spans if e is not None and ys <= e <= ye]
        if not ends or max(ends) >= born:
            return born
    return None


def _add_years(d: date, n: int) -> date:
    return date(d.year + n, d.month, min(d.day, 28)) if (d.month, d.day) == (2, 29) else date(d.year + n, d.month, d.day)


def _days(a: date, b: date) -> list[date]:
    return [a + timedelta(days=k) for k in range((b - a).days + 1)] if a <= b else []


def _same_urn_through_legal_changes(rows: list[dict]) -> None:
    """A legal-status change (RNE L) keeps the placement, so its URN too (DfE 434). From the
    2023-24 return an H5 placement open on 28 October 2023 has a URN (230) while an H5 episode
    closed before that may be XXXXXXX: the earlier episodes of the same placement then carry the
    URN of the later one (allowed on H5 from 2023-24: 222)."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["CHILD"], rows[i]["DECOM"]))
    for a, b in zip(reversed(order[:-1]), reversed(order[1:])):
        prev, nxt = rows[a], rows[b]
        if (prev["CHILD"] == nxt["CHILD"] and nxt["RNE"] == "L" and prev["PLACE"] == nxt["PLACE"] == "H5"
                and prev["URN"] == "XXXXXXX" and nxt["URN"] not in (None, "XXXXXXX")):
            prev["URN"] = nxt["URN"]


def _upn(person: dict, on: date, uasc: bool) -> str:
    ids = identifiers_on(person, on)
    if ids["upn"]:
        return ids["upn"]
    dob = _d(person["dob"])
    if age_on(dob, on) >= 18 and not uasc:
        return UNKNOWN_UPN["over18"]
    if age_on(dob, on) < 5:
        return UNKNOWN_UPN["never_school"]
    return UNKNOWN_UPN["new_arrival"] if uasc else UNKNOWN_UPN["exhausted"]


# ---------------------------------------------------------------------------
# Dirt
# ---------------------------------------------------------------------------

def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return f"{value.day:02d}/{value.month:02d}/{value.year}"
    return str(value)


def _locator(table: TableData, i: int) -> str:
    # The values before dirt: a locator must find the record whatever was done to it.
    row = getattr(table, "clean", table.rows)[i]
    parts = [f"CHILD={row['CHILD']}"]
    for k in ("DECOM", "REVIEW", "MIS_START", "SW_DECOM", "DATE_PLACED"):
        if k in row and isinstance(row[k], date):
            parts.append(f"{k}={_fmt(row[k])}")
    return ";".join(parts)


def _record(ctx: GenContext, la: LocalAuthority, year: int, path: Path, table: TableData, i: int | None,
            rule: str, column: str = "", original: Any = "", injected: Any = "", note: str = "") -> None:
    ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=ctx.rel(path), table=table.name,
                   row=None if i is None else i + 1, locator="" if i is None else _locator(table, i),
                   column=column, original=_fmt(original) if isinstance(original, date) else original,
                   injected=injected, rule=rule, note=note)


def _episode_faults(ctx: GenContext, la: LocalAuthority, year: int, table: TableData, schema) -> None:
    """Row-level faults of the episodes table; recorded later, when the file's path is known."""
    rng = ctx.rng(COLLECTION, "episode-faults", la.dfe_code, year)
    rows = table.rows
    table.pending = []  # type: ignore[attr-defined]
    n = len(rows)
    if n == 0 or ctx.dirt.rate <= 0:
        return
    draws = rng.random((n, 3))
    rate = ctx.dirt.rate
    for i, row in enumerate(rows):
        nxt = rows[i + 1] if i + 1 < n and rows[i + 1]["CHILD"] == row["CHILD"] else None
        follows = (nxt is not None and row["REC"] == "X1" and row["DEC"] is not None
                   and nxt["DECOM"] == row["DEC"])
        if follows and draws[i, 0] < rate * ROW_WEIGHTS["SSDA903_EPI_OPEN"]:
            table.pending.append((i, "SSDA903_EPI_OPEN", "DEC", row["DEC"], "",
                                  f"left open; next episode starts {_fmt(nxt['DECOM'])} (true DEC, REC X1)"))
            table.touched |= {(i, "DEC"), (i, "REC"), (i, "DECOM"), (i + 1, "DECOM")}
            table.must_reach_silver |= {i, i + 1}
            row["DEC"], row["REC"] = None, None
        elif follows and draws[i, 1] < rate * ROW_WEIGHTS["SSDA903_EPI_OVERLAP"]:
            late = row["DEC"] + timedelta(days=int(rng.integers(1, 15)))
            table.pending.append((i, "SSDA903_EPI_OVERLAP", "DEC", row["DEC"], _fmt(late),
                                  f"overlaps the next episode from {_fmt(nxt['DECOM'])}; true DEC {_fmt(row['DEC'])}"))
            table.touched |= {(i, "DEC"), (i, "DECOM"), (i + 1, "DECOM")}
            table.must_reach_silver |= {i, i + 1}
            row["DEC"] = late
        elif (row["DEC"] is not None and row["DEC"] > row["DECOM"] and i not in table.must_reach_silver
              and draws[i, 2] < rate * ROW_WEIGHTS["SSDA903_356"]):
            early = row["DECOM"] - timedelta(days=int(rng.integers(1, 40)))
            table.pending.append((i, "SSDA903_356", "DEC", row["DEC"], _fmt(early), "DEC before DECOM"))
            table.touched |= {(i, "DEC"), (i, "DECOM")}
            row["DEC"] = early


def _cell_faults(ctx: GenContext, la: LocalAuthority, year: int, table: TableData, schema) -> None:
    """Cell faults; like the episode faults they are recorded once the file path is known."""
    if not hasattr(table, "pending"):
        table.pending = []  # type: ignore[attr-defined]
    n = len(table.rows)
    if n == 0 or ctx.dirt.rate <= 0:
        return
    spec = schema.tables[table.name].columns
    rng = ctx.rng(COLLECTION, "cell-faults", la.dfe_code, year, table.name)
    cols = table.columns
    draws = rng.random((n, len(cols)))
    rate = ctx.dirt.rate
    for j, col in enumerate(cols):
        cs = spec[col]
        is_code = cs.codes is not None and cs.type != "boolean"
        is_date = cs.type == "date"
        can_blank = cs.mandatory and col != "CHILD"
        is_upn = col == "UPN"
        if not (is_code or is_date or can_blank or is_upn):
            continue
        thresholds = []
        if is_upn:
            thresholds.append(("UPN_INVALID", CELL_WEIGHTS["UPN_INVALID"]))
        if is_code:
            thresholds += [("CODE_CASE", CELL_WEIGHTS["CODE_CASE"]), ("CODE_INVALID", CELL_WEIGHTS["CODE_INVALID"])]
        if is_date:
            thresholds.append(("TYPE_DATE", CELL_WEIGHTS["TYPE_DATE"]))
        if can_blank:
            thresholds.append(("MANDATORY_MISSING", CELL_WEIGHTS["MANDATORY_MISSING"]))
        total = rate * sum(w for _, w in thresholds)
        for i in np.nonzero(draws[:, j] < total)[0]:
            i = int(i)
            value = table.rows[i][col]
            if value is None or (i, col) in table.touched:
                continue
            u = draws[i, j] / rate
            acc = 0.0
            for rule, w in thresholds:
                acc += w
                if u < acc:
                    break
            if i in table.must_reach_silver and rule_outcome(rule) == "quarantine":
                continue
            new = _corrupt(rule, value, cs.codes or [], rng, cs)
            if new is not None and i in table.must_reach_silver and fault_outcome(rule, COLLECTION, new) == "quarantine":
                # a padded code is rejected (conf/rules.yaml CODE_CASE): this row must reach silver,
                # so its code is lower-cased instead (repaired), or left alone
                new = str(value).lower() if str(value).lower() != str(value) else None
            if new is None:
                continue
            table.touched.add((i, col))
            table.rows[i][col] = new
            table.pending.append((i, rule, col, value, new, ""))


def _corrupt(rule: str, value: Any, codes: list[str], rng: np.random.Generator, spec: Any = None) -> str | None:
    if rule == "UPN_INVALID":
        if len(value) != 13 or value[0] not in CHECK_LETTERS:
            return None
        others = [c for c in CHECK_LETTERS if c != value[0]]
        return others[int(rng.integers(0, len(others)))] + value[1:]
    if rule == "CODE_CASE":
        new = Dirt.lower_or_pad(str(value), rng)
        return new if new != value else f" {value}"
    if rule == "CODE_INVALID":
        return Dirt.invalid_code(codes, rng, spec)
    if rule == "TYPE_DATE":
        return Dirt.wrong_date_format(value, rng, DATE_FMT)
    if rule == "MANDATORY_MISSING":
        return ""
    raise ValueError(rule)


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

def _name_style(ctx: GenContext, la: LocalAuthority) -> tuple[int, int]:
    r = ctx.rng(COLLECTION, "name-style", la.dfe_code)
    return int(r.integers(0, len(_NAME_PATTERNS))), int(r.integers(0, 4))


def _file_name(style: tuple[int, int], table: str, la: LocalAuthority, year: int, misfiled: bool) -> str:
    pattern = _MISFILED_PATTERN if misfiled else _NAME_PATTERNS[style[0]]
    slug = re.sub(r"[^A-Za-z]+", "", la.name)
    return pattern.format(t=TABLE_NAMES[table][style[1]], year=year, y0=year - 1, yy=f"{year % 100:02d}",
                          la=slug)


def _render(columns: list[str], rows: list[dict], line_end: str, extra: tuple[int, str, list[str]] | None,
            blank_lines: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=line_end)
    header = list(columns)
    if extra is not None:
        header.insert(extra[0], extra[1])
    w.writerow(header)
    for k, row in enumerate(rows):
        values = [_fmt(row[c]) for c in columns]
        if extra is not None:
            values.insert(extra[0], extra[2][k])
        w.writerow(values)
    for line in blank_lines:
        buf.write(line + line_end)
    return buf.getvalue()


def _write_table(ctx: GenContext, la: LocalAuthority, year: int, table: TableData, path: Path,
                 line_end: str, misfiled: bool) -> list[Path]:
    rng = ctx.rng(COLLECTION, "file-faults", la.dfe_code, year, table.name)
    fh = ctx.dirt.file_hit
    written: list[Path] = []
    header_cols = list(table.columns)

    # ID_FLOAT: an export through Excel turns the whole id column into decimals.
    if fh(rng, FILE_WEIGHTS["ID_FLOAT"]):
        for i, row in enumerate(table.rows):
            child = row["CHILD"]
            if isinstance(child, str) and child.isdigit() and not child.startswith("0"):
                row["CHILD"] = Dirt.float_id(child)
                table.pending.append((i, "ID_FLOAT", "CHILD", child, row["CHILD"], ""))

    renamed = None
    if fh(rng, FILE_WEIGHTS["COLUMN_MISSPELT"]):
        options = [c for c in MISSPELLINGS.get(table.name, {}) if c in header_cols]
        if options:
            col = options[int(rng.integers(0, len(options)))]
            renamed = (col, MISSPELLINGS[table.name][col])
    extra = None
    if fh(rng, FILE_WEIGHTS["COLUMN_EXTRA"]):
        name = EXTRA_COLUMNS[int(rng.integers(0, len(EXTRA_COLUMNS)))]
        values = {"LA": [la.dfe_code] * len(table.rows), "RowID": [str(k + 1) for k in range(len(table.rows))]}
        extra = (len(header_cols), name, values.get(name, [""] * len(table.rows)))
    blank_lines: list[str] = []
    if fh(rng, FILE_WEIGHTS["CSV_BLANK_LINE"]):
        blank_lines = ["" if rng.random() < 0.5 else "," * (len(header_cols) - 1 + (extra is not None))
                       for _ in range(int(rng.integers(1, 4)))]
    encoding = None
    if fh(rng, FILE_WEIGHTS["FILE_ENCODING"]):
        encoding = "utf-16" if rng.random() < 0.2 else "utf-8-sig"
    duplicate = (not misfiled) and fh(rng, FILE_WEIGHTS["FILE_DUPLICATE"])
    # A table with no rows has no earlier, shorter submission: it would be the same bytes
    # (a resend, not a resubmission).
    resubmitted = (not misfiled) and not duplicate and fh(rng, FILE_WEIGHTS["FILE_RESUBMISSION"]) and bool(table.rows)

    columns_out = [renamed[1] if renamed and c == renamed[0] else c for c in header_cols]
    text = _render(header_cols, table.rows, line_end, extra, blank_lines)
    if renamed:
        first, rest = text.split(line_end, 1)
        text = ",".join(columns_out if extra is None else
                        columns_out[:extra[0]] + [extra[1]] + columns_out[extra[0]:]) + line_end + rest
    data = text.encode(encoding or "utf-8")

    final_path = path
    if resubmitted:
        final_path = path.with_name(f"{path.stem}_v2{path.suffix}")
        earlier_path = path.with_name(f"{path.stem}_v1{path.suffix}")
        keep = [k for k in range(len(table.rows)) if rng.random() >= 0.04] if table.rows else []
        if len(keep) == len(table.rows) and table.rows:
            keep = keep[:-1]
        # The earlier submission had other problems (rows missing), not these cell faults.
        earlier = _render(header_cols, [table.clean[k] for k in keep], line_end, None, [])
        earlier_path.parent.mkdir(parents=True, exist_ok=True)
        earlier_path.write_bytes(earlier.encode("utf-8"))
        stamp = fixed_timestamp(year).timestamp()
        os.utime(earlier_path, (stamp - 14 * 86400, stamp - 14 * 86400))
        written.append(earlier_path)
        ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=ctx.rel(earlier_path),
                       table=table.name, rule="FILE_RESUBMISSION",
                       note=f"superseded by {final_path.name} ({len(table.rows) - len(keep)} rows were missing)")

    final_path.parent.mkdir(parents=True, exist_ok=True)
    final_path.write_bytes(data)
    if resubmitted:
        stamp = fixed_timestamp(year).timestamp()
        os.utime(final_path, (stamp, stamp))
    written.append(final_path)

    for i, rule, col, original, injected, note in table.pending:
        _record(ctx, la, year, final_path, table, i, rule, column=col, original=original, injected=injected,
                note=note)
    if renamed:
        ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=ctx.rel(final_path),
                       table=table.name, column=renamed[0], original=renamed[0], injected=renamed[1],
                       rule="COLUMN_MISSPELT")
    if extra is not None:
        ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=ctx.rel(final_path),
                       table=table.name, column=extra[1], injected=extra[1], rule="COLUMN_EXTRA")
    for k in range(len(blank_lines)):
        ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=ctx.rel(final_path),
                       table=table.name, row=len(table.rows) + k + 1, injected=blank_lines[k],
                       rule="CSV_BLANK_LINE", note="trailing blank line")
    if encoding:
        ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=ctx.rel(final_path),
                       table=table.name, injected=encoding, rule="FILE_ENCODING")
    if duplicate:
        copy_path = final_path.with_name(f"{final_path.stem}_copy{final_path.suffix}")
        write_resend(final_path, copy_path, data)
        written.append(copy_path)
        ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=ctx.rel(copy_path),
                       table=table.name, rule="FILE_DUPLICATE", note=f"byte-identical to {final_path.name}")
    return written

