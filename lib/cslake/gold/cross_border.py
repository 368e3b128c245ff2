"""Cross-border pupils: home LA x school LA counts by phase and census term.

The school LA is the first three digits of SchoolLAEstab. The home LA comes from the
pupil's home postcode district through the postcode lookup (the LA most postcodes of
that district belong to); a district outside the region's LAs, or unknown, is OUT.
Totals: school_la ALL (every school LA of a home LA) and home_la ALL (every home LA
of a school LA, OUT included). Every home x school pair of the region is present,
zeros included, so an absent row never tells anyone a count is zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import functions as F

from cslake import catalog
from cslake.config import region as region_of

if TYPE_CHECKING:
    from cslake.lake import Lake

COLUMNS = ["collection_year", "census_term", "phase", "home_la", "school_la", "pupils"]
OUTSIDE = "OUT"
ALL = "ALL"
LOOKUPS = (catalog.silver.context_postcode_lookup_postcode_lookup, catalog.bronze.context_postcode_lookup_postcode_lookup)


def phase_of(nc_year: str | None) -> str:
    v = (nc_year or "").strip().upper()
    if v in ("E1", "E2", "N1", "N2"):
        return "early_years"
    if v == "R" or v in {str(i) for i in range(1, 7)}:
        return "primary"
    if v in {str(i) for i in range(7, 12)}:
        return "secondary"
    if v in {str(i) for i in range(12, 15)}:
        return "post16"
    return "other"


def district_la(lake: "Lake") -> dict[str, str]:
    """Postcode district → the LA most of its rows sit in, from the first lookup table in the lake."""
    for name in LOOKUPS:
        if lake.exists(name):
            df = lake.read_table(name)
            if {"district", "la_code"} <= set(df.columns):
                pdf = df.groupBy("district", "la_code").agg(F.count(F.lit(1)).alias("n")).toPandas()
                pdf = pdf.sort_values(["district", "n"], ascending=[True, False]).drop_duplicates("district")
                return dict(zip(pdf["district"], pdf["la_code"]))
    return {}


def matrix(pupils: pd.DataFrame, region_las: list[str]) -> pd.DataFrame:
    """Counts with totals from one row per pupil enrolment: collection_year, census_term, phase, home_la, school_la."""
    region_las = sorted(region_las)
    homes = region_las + [OUTSIDE]
    out = []
    for (year, term, phase), g in pupils.groupby(["collection_year", "census_term", "phase"]):
        n = g.groupby(["home_la", "school_la"]).size().to_dict()
        schools = sorted(set(region_las) | set(g["school_la"]))
        for h in homes:
            for s in schools:
                if h != s:
                    out.append((year, term, phase, h, s, n.get((h, s), 0)))
    df = pd.DataFrame(out, columns=COLUMNS)
    if not len(df):
        return df
    keys = ["collection_year", "census_term", "phase"]
    row_tot = df.groupby(keys + ["home_la"], as_index=False)["pupils"].sum().assign(school_la=ALL)
    col_tot = df.groupby(keys + ["school_la"], as_index=False)["pupils"].sum().assign(home_la=ALL)
    grand = df.groupby(keys, as_index=False)["pupils"].sum().assign(home_la=ALL, school_la=ALL)
    return pd.concat([df, row_tot, col_tot, grand], ignore_index=True)[COLUMNS]


def build_cross_border_pupils(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    name = catalog.silver.school_census_pupils
    if not lake.exists(name):
        return pd.DataFrame(columns=COLUMNS)
    df = lake.read_table(name).where(F.col("_latest"))
    pdf = df.select(F.col("_year").alias("collection_year"), F.col("CensusTerm").alias("census_term"),
                    "NCyearActual", F.substring("SchoolLAEstab", 1, 3).alias("school_la"),
                    F.col("HomePostcode_district").alias("district")).toPandas()
    region_las = [la.dfe_code for la in region_of(region_key).las] if region_key else sorted(set(pdf["school_la"]))
    present = set(pdf["school_la"])
    region_las = [la for la in region_las if la in present] or sorted(present)
    lookup = district_la(lake)
    home = pdf["district"].map(lookup)
    pdf["home_la"] = home.where(home.isin(region_las), OUTSIDE)
    pdf["phase"] = pdf["NCyearActual"].map(phase_of)
    return matrix(pdf, region_las)
