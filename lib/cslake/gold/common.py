"""Helpers shared by the gold tables (riia, characteristics, factors, adolescents, outcomes, workforce).

Conventions, once for all of them (the domain's words themselves, collection years,
age bands, ethnic groups, short breaks, are ``cslake.vocab``):

- "Same child" within an LA is the LA child id hash: CIN's LAchildID and the 903's
  CHILD are the LA's one id for the child, hashed with the same key.
- Each return's records are its latest submission (silver ``_latest``), as in riia.py.
- An LA has figures for year Y of a collection only when it sent that year's return:
  an LA that sent nothing shows no row rather than zeros (``returns_presence``).
- Region rows are the sums of the LA rows of each area (alliance, English region, England when
  every LA is there) the LAs belong to, from the LAs themselves (``cslake.gold.geography``); the
  suppression spec rounds them to 10.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import pandas as pd
from pyspark.sql import functions as F

from cslake import catalog
from cslake.gold.geography import area_rows
from cslake.vocab import UNKNOWN, la_name

if TYPE_CHECKING:
    from cslake.lake import Lake

__all__ = ["ALL", "UNKNOWN", "PRESENCE_TABLES", "complete", "latest", "returns_presence", "returns_sent",
           "split_by", "with_geography"]
ALL = "all"
# Tables whose (_la, _year) say which returns an LA sent, when the landing ledger cannot.
PRESENCE_TABLES = {"cin": catalog.silver.cin_child, "ssda903": catalog.silver.ssda903_header, "sen2": catalog.silver.sen2_person,
                   "annex_a": catalog.silver.annex_a_list_1}
PRESENCE_COLUMNS = ["_la", "_year", "collection"]


# ---------------------------------------------------------------------------
# reads (the edge)


def latest(lake: "Lake", name: str, columns: Sequence[str] | None = None) -> pd.DataFrame | None:
    """The latest submission of each record of a silver table, as pandas (only ``columns``)."""
    if not lake.exists(name):
        return None
    df = lake.read_table(name)
    if "_latest" in df.columns:
        df = df.where(F.col("_latest"))
    if columns:
        df = df.select(*[c for c in columns if c in df.columns])
    return df.toPandas()


def returns_presence(lake: "Lake", collections: Iterable[str] | None = None) -> pd.DataFrame:
    """(_la, _year, collection) of every return an LA sent (of ``collections`` only, when given): the
    landing ledger (a return with no rows, e.g. a tiny LA's SEN2, still says "none"), else the silver
    tables. Of ``collections``, the rows are those of every collection's (incremental gold's
    fingerprint per collection, ``cslake.gold.incremental``, rests on it)."""
    wanted = sorted(set(collections) if collections is not None else PRESENCE_TABLES)
    if lake.exists(catalog.bronze.files):
        files = lake.read_table(catalog.bronze.files).where((F.col("outcome") == "landed") & F.col("la").isNotNull()
                                                      & F.col("collection").isin(*PRESENCE_TABLES))
        narrow = getattr(lake, "narrow", None)  # incremental gold's read view: which parts of the table were used
        if narrow is not None:
            narrow(catalog.bronze.files, wanted)
        pdf = files.select(F.col("la").alias("_la"), F.col("year").alias("_year"), "collection").distinct().toPandas()
        if len(pdf):
            return pdf[pdf["collection"].isin(wanted)].reset_index(drop=True)
    frames = []
    for collection in wanted:
        table = PRESENCE_TABLES[collection]
        if lake.exists(table):
            pdf = lake.read_table(table).select("_la", "_year").distinct().toPandas()
            pdf["collection"] = collection
            frames.append(pdf)
    if not frames:
        return pd.DataFrame(columns=PRESENCE_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def returns_sent(lake: "Lake", table: str) -> set[tuple[str, int]]:
    """(LA, collection year) of each return an LA sent, from the landing ledger or else the silver table."""
    collection = {catalog.silver.cin_child: "cin", catalog.silver.ssda903_header: "ssda903", catalog.silver.sen2_person: "sen2"}.get(table)
    pres = returns_presence(lake, [collection]) if collection else pd.DataFrame()
    if collection and len(pres) and collection in set(pres["collection"]):
        p = pres[pres["collection"] == collection]
        return {(str(a), int(y)) for a, y in zip(p["_la"], p["_year"])}
    if not lake.exists(table):
        return set()
    pdf = lake.read_table(table).select("_la", "_year").distinct().toPandas()
    return {(str(a), int(y)) for a, y in zip(pdf["_la"], pdf["_year"]) if pd.notna(a) and pd.notna(y)}


# ---------------------------------------------------------------------------
# pure (pandas: gold tables are small aggregates)


def with_geography(la_rows: pd.DataFrame, keys: Iterable[str], sum_cols: Iterable[str], region_key: str | None,
                   la_col: str = "_la") -> pd.DataFrame:
    """LA rows (``la_col`` = DfE code) plus, per ``keys``, one row per area the LAs belong to (each
    alliance, English region, England when complete: ``cslake.gold.geography``) summing ``sum_cols``;
    ``region_key`` keeps one alliance's."""
    keys, sum_cols = list(keys), list(sum_cols)
    la = la_rows.copy()
    la["geog_level"] = "la"
    la["geog_code"] = la[la_col].astype(str)
    la["geog_name"] = la["geog_code"].map(la_name)
    reg = area_rows(la, la_col, lambda g: g.groupby(keys, as_index=False, dropna=False)[sum_cols].sum(min_count=1),
                    region_key)
    return pd.concat([la.drop(columns=[la_col]), reg], ignore_index=True)


def split_by(df: pd.DataFrame | None, keys: str | list[str]) -> Callable[[Any], pd.DataFrame | None]:
    """``key -> df``'s rows with that key (a value of column ``keys``, or a tuple for a list of columns),
    in their order in ``df``; an empty frame with df's columns for a key it lacks, None when df is None.
    A frame split once, not filtered out of the whole region once per LA, year or child (seconds per
    table at London scale 1)."""
    if df is None:
        return lambda key: None
    groups = {k: g for k, g in df.groupby(keys, sort=False)} if len(df) else {}
    return lambda key: groups.get(key, df.iloc[0:0])


def complete(counts: pd.DataFrame, frame: pd.DataFrame, on: Sequence[str], value: str) -> pd.DataFrame:
    """``frame`` (every row that should exist) left-joined with ``counts``; absent counts are zero.

    An absent row would tell a reader the count is zero without it going through
    disclosure control, so every category of every dimension is a row.
    """
    out = frame.merge(counts, on=list(on), how="left")
    out[value] = out[value].fillna(0)
    return out
