"""Helpers shared by the annual gold tables (characteristics, factors, adolescents, outcomes, workforce).

Conventions, once for all of them:

- A collection year Y ends on 31 March Y; its financial year runs 1 April Y-1 to 31 March Y.
- "Same child" within an LA is the LA child id hash: CIN's LAchildID and the 903's
  CHILD are the LA's one id for the child, hashed with the same key.
- Each return's records are its latest submission (silver ``_latest``), as in riia.py.
- An LA has figures for year Y of a collection only when it sent that year's return:
  an LA that sent nothing shows no row rather than zeros.
- Region rows are the sums of the LA rows (the suppression spec rounds them to 10).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

import pandas as pd

from cslake.gold.disproportionality import ethnic_group

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from cslake.lake import Lake

SHORT_BREAKS = ("V3", "V4")
UNKNOWN = "unknown"
ALL = "all"
# ONS codes of the English regions, for layouts (the DfE outcomes files) that want one.
REGION_GSS = {"London": "E12000007", "East Midlands": "E12000004", "West Midlands": "E12000005",
              "North East": "E12000001", "North West": "E12000002", "Yorkshire and The Humber": "E12000003",
              "East of England": "E12000006", "South East": "E12000008", "South West": "E12000009"}
AGE_BANDS = [(0, 0, "under 1"), (1, 4, "1 to 4"), (5, 9, "5 to 9"), (10, 15, "10 to 15"), (16, 200, "16 and over")]


def year_end(year: int) -> pd.Timestamp:
    return pd.Timestamp(year, 3, 31)


def year_start(year: int) -> pd.Timestamp:
    return pd.Timestamp(year - 1, 4, 1)


def financial_year(d: pd.Series) -> pd.Series:
    """Collection year (ending 31 March) of each date; NaN where the date is missing."""
    d = pd.to_datetime(d)
    return (d.dt.year + (d.dt.month >= 4).astype(int)).where(d.notna())


def age_at(dob: pd.Series, when: pd.Timestamp | pd.Series) -> pd.Series:
    """Whole years from ``dob`` to ``when`` (silver cuts DOB to the first of the month)."""
    dob = pd.to_datetime(dob)
    when = pd.to_datetime(when)
    wy = when.dt.year if isinstance(when, pd.Series) else when.year
    wm = when.dt.month if isinstance(when, pd.Series) else when.month
    wd = when.dt.day if isinstance(when, pd.Series) else when.day
    before_birthday = (wm < dob.dt.month) | ((wm == dob.dt.month) & (wd < dob.dt.day))
    return (wy - dob.dt.year - before_birthday.astype(int)).where(dob.notna())


def age_band(age: pd.Series) -> pd.Series:
    out = pd.Series(UNKNOWN, index=age.index, dtype=object)
    for lo, hi, label in AGE_BANDS:
        out[(age >= lo) & (age <= hi)] = label
    return out


def sex_label(v) -> str:
    """CIN GenderCurrent (1/2/0/9), 2025's Sex (M/F/U) and the 903's SEX (1/2, M/F) as male / female / unknown."""
    s = "" if v is None or (isinstance(v, float) and v != v) else str(v).strip().upper()
    return {"1": "male", "M": "male", "2": "female", "F": "female"}.get(s, UNKNOWN)


def ethnic_label(v) -> str:
    return ethnic_group(None if v is None or (isinstance(v, float) and v != v) else str(v)) or UNKNOWN


def latest(lake: "Lake", name: str, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
    """The latest submission of each record of a silver table, as pandas (only ``columns``)."""
    from pyspark.sql import functions as F

    if not lake.exists(name):
        return None
    df = lake.read_table(name)
    if "_latest" in df.columns:
        df = df.where(F.col("_latest"))
    if columns:
        df = df.select(*[c for c in columns if c in df.columns])
    return df.toPandas()


def returns_sent(lake: "Lake", table: str) -> set[tuple[str, int]]:
    """(LA, collection year) of each return an LA sent, from the landing ledger or else the silver table."""
    from cslake.gold.riia import _presence

    collection = {"silver.cin_child": "cin", "silver.ssda903_header": "ssda903", "silver.sen2_person": "sen2"}.get(table)
    pres = _presence(lake) if collection else pd.DataFrame()
    if collection and len(pres) and collection in set(pres["collection"]):
        p = pres[pres["collection"] == collection]
        return {(str(a), int(y)) for a, y in zip(p["_la"], p["_year"])}
    if not lake.exists(table):
        return set()
    pdf = lake.read_table(table).select("_la", "_year").distinct().toPandas()
    return {(str(a), int(y)) for a, y in zip(pdf["_la"], pdf["_year"]) if pd.notna(a) and pd.notna(y)}


def la_name(code: str) -> str:
    from cslake.config import local_authorities

    known = local_authorities()
    return known[code].name if code in known else code


def region_name(region_key: str | None) -> str:
    from cslake.config import region as region_of

    return region_of(region_key).name if region_key else "Region"


def with_geography(la_rows: pd.DataFrame, keys: Iterable[str], sum_cols: Iterable[str], region_key: str | None,
                   la_col: str = "_la") -> pd.DataFrame:
    """LA rows (``la_col`` = DfE code) plus one region row per ``keys`` summing ``sum_cols``."""
    keys, sum_cols = list(keys), list(sum_cols)
    la = la_rows.copy()
    la["geog_level"] = "la"
    la["geog_code"] = la[la_col].astype(str)
    la["geog_name"] = la["geog_code"].map(la_name)
    reg = la.groupby(keys, as_index=False, dropna=False)[sum_cols].sum(min_count=1)
    reg["geog_level"] = "region"
    reg["geog_code"] = region_key or "region"
    reg["geog_name"] = region_name(region_key)
    return pd.concat([la.drop(columns=[la_col]), reg], ignore_index=True)


def complete(counts: pd.DataFrame, frame: pd.DataFrame, on: Sequence[str], value: str) -> pd.DataFrame:
    """``frame`` (every row that should exist) left-joined with ``counts``; absent counts are zero.

    An absent row would tell a reader the count is zero without it going through
    disclosure control, so every category of every dimension is a row.
    """
    out = frame.merge(counts, on=list(on), how="left")
    out[value] = out[value].fillna(0)
    return out
