"""Person-level fire-prevention referral list (restricted; never published).

Partners (adult social care, the fire service's home-visit history) each know some of a
person's risk profile. Silver has already replaced their NHS-number-shaped ids with the
lake's keyed hash (``person_id_hash``, identifier class ``partner_person_id`` in
``cslake.pseudo``), so the two extracts join on the hash and nobody here sees an id.

The profile (documented, not learned: the lake holds no outcomes to learn from):
a person's relative risk is the product of the multipliers of the flags that are
true, times their area's relative risk (the champion area model's predicted rate for
their LSOA over the regional mean rate):

    over 65 x1.5, lives alone x1.8, reduced mobility x1.6, other health issues x1.3,
    smoker or uses naked flames x3.0, previous near miss x3.5, receives care x1.2

The multipliers follow the order of the person-centred risk factors fire services use
(smoking and a previous near miss first); they are a policy choice to be reviewed with
the service, which is why they are constants here and logged with every list. A flag no
partner records counts as absent, and ``unknown_flags`` says how many were unknown, so
a visit can fill the gaps. The list ranks people for a prevention visit; a person
decides who is visited.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from cslake import catalog
from cslake.catalog import table_spec
from cslake.models.fire_bands import band_of

if TYPE_CHECKING:  # pragma: no cover
    from cslake.lake import Lake

PEOPLE_TABLE = catalog.silver.context_partner_people_people
REFERRALS_TABLE = catalog.gold_restricted.fire_prevention_referrals
FLAGS = ["over_65", "lives_alone", "reduced_mobility", "other_health_issues", "smoker_or_naked_flames",
         "previous_near_miss", "receives_care"]
MULTIPLIERS = {"over_65": 1.5, "lives_alone": 1.8, "reduced_mobility": 1.6, "other_health_issues": 1.3,
               "smoker_or_naked_flames": 3.0, "previous_near_miss": 3.5, "receives_care": 1.2}
# Relative-risk cut-offs for the visit priority shown to crews.
PRIORITIES = [(8.0, "very high"), (4.0, "high"), (2.0, "medium"), (0.0, "standard")]


def load_people(lake: "Lake") -> pd.DataFrame:
    sdf = lake.read_table(PEOPLE_TABLE)
    if "_latest" in sdf.columns:
        sdf = sdf.filter(F.col("_latest"))
    cols = ["partner", "person_id_hash", "extract_date", "age"] + [f for f in FLAGS if f != "over_65"] + \
        ["lsoa_code", "postcode_lsoa", "la_code"]
    return sdf.select(*[c for c in cols if c in sdf.columns]).toPandas()


def _any_known(s: pd.Series):
    """True if any partner says yes, False if some say no and none yes, None if nobody knows."""
    v = s.dropna()
    if v.empty:
        return None
    return bool(v.astype(bool).any())


def link_partners(people: pd.DataFrame) -> pd.DataFrame:
    """One row per person (hash): flags combined across partners, home LSOA, partners."""
    p = people[people["person_id_hash"].notna()].copy()
    if "postcode_lsoa" in p.columns:
        p["lsoa_code"] = p["lsoa_code"].fillna(p["postcode_lsoa"])
    g = p.groupby("person_id_hash", sort=True)
    out = pd.DataFrame({
        "partners": g["partner"].agg(lambda s: ",".join(sorted(set(s.dropna().astype(str))))),
        "extract_date": g["extract_date"].max(),
        "age": g["age"].max(),
        "lsoa_code": g["lsoa_code"].agg(lambda s: s.dropna().mode().iloc[0] if s.notna().any() else None),
        "la_code": g["la_code"].agg(lambda s: s.dropna().mode().iloc[0] if s.notna().any() else None),
    })
    for f in FLAGS:
        if f != "over_65" and f in p.columns:
            out[f] = g[f].agg(_any_known)
        elif f != "over_65":
            out[f] = None
    out["over_65"] = out["age"].map(lambda a: None if pd.isna(a) else bool(a >= 65))
    return out.reset_index()


def profile_scores(linked: pd.DataFrame, area_rates: pd.Series) -> pd.DataFrame:
    """Add the profile, area and combined scores, priority and ranks to ``linked``.
    ``area_rates``: predicted rate per 10k households indexed by LSOA code."""
    df = linked.copy()
    known = df[FLAGS].notna()
    present = df[FLAGS].eq(True)
    df["unknown_flags"] = (~known).sum(axis=1).astype(int)
    df["profile_points"] = present.sum(axis=1).astype(int)
    mult = np.ones(len(df))
    for f in FLAGS:
        mult *= np.where(present[f].to_numpy(), MULTIPLIERS[f], 1.0)
    df["profile_multiplier"] = mult
    mean_rate = float(area_rates.mean()) if len(area_rates) else float("nan")
    df["area_rate_per_10k"] = df["lsoa_code"].map(area_rates)
    # An unknown home area scores as average: neither pushed up nor dropped from the list.
    rel = (df["area_rate_per_10k"] / mean_rate).fillna(1.0) if np.isfinite(mean_rate) else pd.Series(1.0, index=df.index)
    df["area_relative_risk"] = rel.astype(float)
    df["risk_score"] = df["profile_multiplier"] * df["area_relative_risk"]
    df["priority"] = "standard"
    for cut, label in reversed(PRIORITIES):
        df.loc[df["risk_score"] >= cut, "priority"] = label
    # Ties broken by the hash: stable, and says nothing about the person.
    df = df.sort_values(["risk_score", "person_id_hash"], ascending=[False, True], kind="stable").reset_index(drop=True)
    df["rank_region"] = np.arange(1, len(df) + 1)
    df["rank_in_la"] = df.groupby(df["la_code"].fillna("?"), sort=False).cumcount() + 1
    return df


def score_referrals(lake: "Lake", area_scores: pd.DataFrame, model_version: int | None = None) -> dict:
    """Write the restricted referral list from partner people and LSOA area scores
    (``predict_areas`` output, LSOA rows). Overwrites: the list is a snapshot."""
    people = load_people(lake)
    linked = link_partners(people)
    rates = area_scores.set_index("area_code")["predicted_rate_per_10k"]
    df = profile_scores(linked, rates)
    df["area_band"] = np.where(df["area_rate_per_10k"].notna(), band_of(df["area_rate_per_10k"].fillna(0))[0], None)
    df["area_model_version"] = model_version
    df["scored_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
    for f in FLAGS:
        df[f] = df[f].astype(object)
    df["age"] = df["age"].astype("Int64")
    df["area_model_version"] = df["area_model_version"].astype("Int64")
    cols = table_spec(REFERRALS_TABLE).column_names
    version = lake.write_pandas(df[cols], REFERRALS_TABLE, mode="overwrite")
    return {"table": REFERRALS_TABLE, "version": version, "people": len(df),
            "priority": df["priority"].value_counts().to_dict(), "multipliers": dict(MULTIPLIERS)}
