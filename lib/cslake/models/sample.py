"""A quick path from the generator's context files to the two silver tables the fire
models read, for notebooks and tests at small scale.

    write_context_silver(lake, Path("raw"))   # silver.context_areas_areas + ..._partner_people_people

In production these tables come from ``cslake land`` and ``cslake build silver``. This
path writes the same tables (silver's own declared schema, from ``cslake.catalog``)
straight from the CSVs, hashing the partners' ids with the lake's key through
``cslake.pseudo`` exactly as silver does, so the model code cannot tell the difference.
It exists because landing a whole region to try a model takes minutes, and because the
landing ledger currently treats the two files of one context collection (LSOA and ward
areas; the ASC and fire-service extracts) as resubmissions of each other.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from cslake import catalog, pseudo

if TYPE_CHECKING:  # pragma: no cover
    from cslake.lake import Lake

FLAG_COLUMNS = ["lives_alone", "reduced_mobility", "other_health_issues", "smoker_or_naked_flames",
                "previous_near_miss", "receives_care"]


def _silver_spec(collection: str):
    (t,) = [t for t in catalog.silver_tables([collection])]
    return t.silver, catalog.table_spec(t.silver)


def _lineage(df: pd.DataFrame, source: str) -> pd.DataFrame:
    out = df.copy()
    out["_file_sha256"] = hashlib.sha256(source.encode()).hexdigest()
    out["_la"] = None
    out["_year"] = None
    out["_period"] = "annual"
    out["_row"] = range(2, len(out) + 2)
    out["_parent_row"] = None
    out["_latest"] = True
    out["_flags"] = None
    return out


def _write(lake: "Lake", name: str, spec, df: pd.DataFrame) -> int:
    for c in spec.column_names:
        if c not in df.columns:
            df[c] = None
    return lake.write_pandas(df[spec.column_names], name, mode="overwrite")


def write_context_silver(lake: "Lake", raw_dir: Path | str) -> dict[str, int]:
    """Write the area and partner-people silver tables from ``<raw_dir>/context``; returns versions."""
    raw_dir = Path(raw_dir)
    versions: dict[str, int] = {}

    name, spec = _silver_spec("context_areas")
    frames = [_lineage(pd.read_csv(p, dtype={"la_code": str}), p.name)
              for p in sorted((raw_dir / "context" / "areas").glob("*_fire_factors.csv"))]
    areas = pd.concat(frames, ignore_index=True)
    for c in spec.columns:
        if c.name.startswith("_"):
            continue
        if c.name in areas.columns and c.type == "double":
            areas[c.name] = areas[c.name].astype(float)
        elif c.name in areas.columns and c.type == "int":
            areas[c.name] = areas[c.name].astype("int32")
    versions[name] = _write(lake, name, spec, areas)

    folder = raw_dir / "context" / "partner_people"
    if folder.is_dir():
        name, spec = _silver_spec("context_partner_people")
        key = pseudo._read_key()
        frames = []
        for p in sorted(folder.glob("*.csv")):
            df = pd.read_csv(p, dtype=str, keep_default_na=False)
            df["person_id_hash"] = [pseudo.hash_value("partner_person_id", v, key=key) for v in df["person_id"]]
            for f in FLAG_COLUMNS:
                df[f] = df[f].map({"1": True, "0": False, "": None}).astype(object)
            df["age"] = pd.to_numeric(df["age"]).astype("int32")
            df["extract_date"] = pd.to_datetime(df["extract_date"]).dt.date
            # Silver keeps only the month of birth and the postcode's sector/district.
            df["dob"] = pd.to_datetime(df["dob"]).dt.to_period("M").dt.to_timestamp().dt.date
            df["postcode_sector"] = df["postcode"].str[:-2].str.strip()
            df["postcode_district"] = df["postcode"].str.split(" ").str[0]
            frames.append(_lineage(df.drop(columns=["person_id", "forename", "surname", "dob", "postcode"])
                                   .assign(dob=df["dob"]), p.name))
        people = pd.concat(frames, ignore_index=True)
        versions[name] = _write(lake, name, spec, people)
    return versions
