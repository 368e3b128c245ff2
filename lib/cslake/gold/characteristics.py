"""annual_characteristics: children in need, on CP plans and looked after at 31 March, by characteristic.

At 31 March of each collection year Y, per LA (for the years the LA sent the return)
and for the region:

- ``cin``: children with a CIN episode open on 31 March (referral on or before, no
  closure or a closure after), not closed as ReferralNFA; by age band, sex, ethnic
  group and category of need (PrimaryNeedCode of the child's latest open episode).
- ``cpp``: children with a CP plan open on 31 March; by age band, sex, ethnic group and
  initial category of abuse (of the child's latest open plan; DfE publishes initial).
- ``cla``: children with a 903 episode open on 31 March (``silver.care_history``, DEC
  after 31 March, or none and the episode held open by that year's return or a later one:
  ``cslake.gold.dfe``), short breaks (LS V3/V4) excluded; by age band, sex, ethnic
  group, category of need (903 CIN), legal status, placement type and provider (of
  the child's episode open on 31 March).

Ages are at 31 March (DfE bands: under 1, 1-4, 5-9, 10-15, 16 and over); sex and
ethnicity from the child's latest record in the same return. Every dimension holds an
``all`` row (the population's total) whose parts add to it, so the suppression spec
can protect every cell against subtraction; categories seen in any LA or year are rows
everywhere (zeros included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from cslake import catalog
from cslake.gold.common import ALL, latest, returns_sent, split_by, with_geography
from cslake.gold.dfe import open_end
from cslake.vocab import (CLA_AGE_BANDS, ETHNIC_GROUPS, SHORT_BREAKS, UNKNOWN, age_at, ethnic_label, sex_label,
                          year_end)

if TYPE_CHECKING:
    from cslake.lake import Lake

COLUMNS = ["geog_level", "geog_code", "geog_name", "collection_year", "population", "dimension", "category",
           "children", "all_children", "percentage"]
DIMENSIONS = {
    "cin": ["age_band", "sex", "ethnic_group", "category_of_need"],
    "cpp": ["age_band", "sex", "ethnic_group", "category_of_abuse"],
    "cla": ["age_band", "sex", "ethnic_group", "category_of_need", "legal_status", "placement_type",
            "placement_provider"],
}
FIXED = {"age_band": CLA_AGE_BANDS.labels, "sex": ["female", "male"], "ethnic_group": sorted(ETHNIC_GROUPS)}


def open_at(df: pd.DataFrame, start: str, end: str, when: pd.Timestamp) -> pd.DataFrame:
    s, e = pd.to_datetime(df[start]), pd.to_datetime(df[end])
    return df[(s <= when) & (e.isna() | (e > when))]


def _people(df: pd.DataFrame, dob: str, sex: str | list[str], eth: str, when: pd.Timestamp) -> pd.DataFrame:
    out = df.copy()
    out["age_band"] = CLA_AGE_BANDS.label_series(age_at(out[dob], when))
    sexes = [sex] if isinstance(sex, str) else sex
    # 2025 renamed CIN's GenderCurrent to Sex: whichever the record has.
    raw_sex = out[sexes[0]]
    for s in sexes[1:]:
        raw_sex = raw_sex.where(raw_sex.notna(), out[s])
    out["sex"] = raw_sex.map(sex_label)
    out["ethnic_group"] = out[eth].map(ethnic_label)
    return out


def snapshot_children(child: pd.DataFrame | None, episodes: pd.DataFrame | None, cpp: pd.DataFrame | None,
                      care: pd.DataFrame | None, header: pd.DataFrame | None,
                      cin_years: set[tuple[str, int]], cla_years: set[tuple[str, int]]) -> pd.DataFrame:
    """One row per (population, LA, year, child) with the child's category in every dimension."""
    frames = []
    if child is not None and len(child):
        sex_cols = [c for c in ("Sex", "GenderCurrent") if c in child.columns]
        # each frame split by LA once, not filtered per (LA, year): 9 s of 38 at London scale 1
        kids_of, episodes_of, cpp_of = split_by(child, "_la"), split_by(episodes, "_la"), split_by(cpp, "_la")
        for la, year in sorted(cin_years):
            when = year_end(year)
            kids = kids_of(la)
            if episodes is not None and len(episodes):
                ep = episodes_of(la)
                ep = ep[~ep["ReferralNFA"].fillna(False).astype(bool)]
                ep = open_at(ep, "CINreferralDate", "CINclosureDate", when).sort_values("CINreferralDate")
                ep = ep.drop_duplicates("LAchildID_hash", keep="last")
                rows = ep.merge(kids, on=["_la", "LAchildID_hash"], how="left")
                rows = _people(rows, "PersonBirthDate", sex_cols, "Ethnicity", when)
                rows["category_of_need"] = rows["PrimaryNeedCode"].fillna(UNKNOWN)
                frames.append(rows.assign(population="cin", collection_year=year, child=rows["LAchildID_hash"]))
            if cpp is not None and len(cpp):
                cp = open_at(cpp_of(la), "CPPstartDate", "CPPendDate", when).sort_values("CPPstartDate")
                cp = cp.drop_duplicates("LAchildID_hash", keep="last")
                rows = cp.merge(kids, on=["_la", "LAchildID_hash"], how="left")
                rows = _people(rows, "PersonBirthDate", sex_cols, "Ethnicity", when)
                rows["category_of_abuse"] = rows["InitialCategoryOfAbuse"].fillna(UNKNOWN)
                frames.append(rows.assign(population="cpp", collection_year=year, child=rows["LAchildID_hash"]))
    if care is not None and len(care):
        hdr_of = split_by(header.drop_duplicates(["_la", "CHILD_hash"]) if header is not None else None, "_la")
        care_of = split_by(care[~care["LS"].fillna("").isin(SHORT_BREAKS)], "_la")
        for la, year in sorted(cla_years):
            when = year_end(year)
            c = care_of(la)
            # an episode left open counts only up to the last return holding it (cslake.gold.dfe)
            c = open_at(c.assign(_end=open_end(c)), "DECOM", "_end", when).sort_values("DECOM").drop_duplicates("CHILD_hash", keep="last")
            if header is not None:
                c = c.merge(hdr_of(la), on=["_la", "CHILD_hash"], how="left")
            else:
                c = c.assign(DOB=None, SEX=None, ETHNIC=None)
            rows = _people(c, "DOB", "SEX", "ETHNIC", when)
            rows["category_of_need"] = rows["CIN"].fillna(UNKNOWN)
            rows["legal_status"] = rows["LS"].fillna(UNKNOWN)
            rows["placement_type"] = rows["PLACE"].fillna(UNKNOWN)
            rows["placement_provider"] = rows["PLACE_PROVIDER"].fillna("none given")
            frames.append(rows.assign(population="cla", collection_year=year, child=rows["CHILD_hash"]))
    if not frames:
        return pd.DataFrame(columns=["population", "_la", "collection_year", "child"])
    cols = sorted({d for ds in DIMENSIONS.values() for d in ds})
    frames = [f.reindex(columns=["population", "_la", "collection_year", "child"] + cols) for f in frames]
    return pd.concat(frames, ignore_index=True)


def characteristics_table(children: pd.DataFrame, sent: dict[str, set[tuple[str, int]]],
                          region_key: str | None = None) -> pd.DataFrame:
    """Counts by population x dimension x category with ``all`` rows, LA and region, zeros included.

    ``sent``: population → the (LA, year) whose return was sent (a row even with nobody in it).
    """
    rows = []
    for pop, dims in DIMENSIONS.items():
        p = children[children["population"] == pop]
        frame_keys = sorted(sent.get(pop, set()))
        if not frame_keys:
            continue
        for dim in dims:
            seen = set(p[dim].dropna()) if len(p) else set()
            cats = [ALL] + sorted(set(FIXED.get(dim, [])) | seen)
            n = p.groupby(["_la", "collection_year", dim]).size() if len(p) else pd.Series(dtype=float)
            tot = p.groupby(["_la", "collection_year"]).size() if len(p) else pd.Series(dtype=float)
            for la, year in frame_keys:
                total = float(tot.get((la, year), 0))
                for cat in cats:
                    v = total if cat == ALL else float(n.get((la, year, cat), 0))
                    rows.append((la, year, pop, dim, cat, v, total))
    df = pd.DataFrame(rows, columns=["_la", "collection_year", "population", "dimension", "category", "children",
                                     "all_children"])
    if not len(df):
        return pd.DataFrame(columns=COLUMNS)
    out = with_geography(df, ["collection_year", "population", "dimension", "category"], ["children", "all_children"],
                         region_key)
    out["percentage"] = (100 * out["children"] / out["all_children"]).where(out["all_children"] > 0)
    out = out[COLUMNS].sort_values(["geog_level", "geog_code", "collection_year", "population", "dimension", "category"])
    return out.reset_index(drop=True)


def build_annual_characteristics(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    child = latest(lake, catalog.silver.cin_child, ["_la", "LAchildID_hash", "PersonBirthDate", "GenderCurrent", "Sex",
                                              "Ethnicity"])
    if child is not None:
        child = child.drop_duplicates(["_la", "LAchildID_hash"])
        for c in ("GenderCurrent", "Sex"):
            if c not in child.columns:
                child[c] = None
    episodes = latest(lake, catalog.silver.cin_episode, ["_la", "LAchildID_hash", "CINreferralDate", "CINclosureDate",
                                                   "ReferralNFA", "PrimaryNeedCode"])
    cpp = latest(lake, catalog.silver.cin_cpp, ["_la", "LAchildID_hash", "CPPstartDate", "CPPendDate",
                                          "InitialCategoryOfAbuse"])
    care = None
    if lake.exists(catalog.silver.care_history):
        care = lake.read_table(catalog.silver.care_history).select(
            "_la", "CHILD_hash", "DECOM", "DEC", "LS", "PLACE", "PLACE_PROVIDER", "CIN", "_year").toPandas()
    header = latest(lake, catalog.silver.ssda903_header, ["_la", "CHILD_hash", "DOB", "SEX", "ETHNIC"])
    cin_years = returns_sent(lake, catalog.silver.cin_child) if child is not None else set()
    cla_years = returns_sent(lake, catalog.silver.ssda903_header) if care is not None else set()
    children = snapshot_children(child, episodes, cpp, care, header, cin_years, cla_years)
    return characteristics_table(children, {"cin": cin_years, "cpp": cin_years if cpp is not None else set(),
                                            "cla": cla_years}, region_key)
