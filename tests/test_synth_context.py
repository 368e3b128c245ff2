"""Context files: population totals, postcode lookup, Ofsted, fire-risk DGP recovery, partner adults."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cslake.config import region
from cslake.synth.context import Dirt, GenContext
from cslake.synth.context_files import OUTSIDE_LAS, simulate_areas, write_context
from cslake.synth.core import synth_conf
from cslake.synth.population import build_geography, build_population

YEARS = [2022, 2023, 2024]
SCALE = 0.02


def _region():
    r = region("london")
    return dataclasses.replace(r, las=r.las[:2])


def _generate(out: Path, seed: int = 5) -> list[Path]:
    pop = build_population(_region(), YEARS, SCALE, seed)
    ctx = GenContext(pop=pop, out=out, seed=seed, years=YEARS, dirt=Dirt(0.0, 0.0))
    return write_context(ctx)


@pytest.fixture(scope="module")
def ctx_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("context") / "raw"
    _generate(out)
    return out


def test_population_totals_equal_conf_times_scale(ctx_out):
    las = synth_conf()["las"]
    files = sorted((ctx_out / "context" / "population").glob("*.csv"))
    assert [f.name for f in files] == [f"ons_mid_year_estimates_{y - 1}.csv" for y in YEARS]
    df = pd.concat(pd.read_csv(f, dtype={"la_code": str}) for f in files)
    assert set(df["sex"]) == {"M", "F"} and set(df["ethnicity"]) == {"W", "M", "A", "B", "O"}
    assert df["age"].min() == 0 and df["age"].max() == 25
    kids = df[df["age"] <= 17].groupby(["la_code", "year"])["population"].sum()
    for (la, _year), total in kids.items():
        assert total == max(1, round(las[la]["children"] * SCALE))
    # The ethnic split follows the LA's mix.
    cam = df[(df["la_code"] == "202") & (df["age"] <= 17)].groupby("ethnicity")["population"].sum()
    share = cam / cam.sum()
    assert share["W"] == pytest.approx(las["202"]["ethnic_mix"]["W"], abs=0.02)


def test_postcode_lookup_covers_region_and_outside(ctx_out):
    df = pd.read_csv(ctx_out / "context" / "postcode_lookup" / "postcode_lookup.csv", dtype=str)
    assert df["postcode"].is_unique
    inside = df[df["in_region"] == "1"]
    assert set(inside["la_code"]) == {"201", "202"}
    assert (inside["postcode"].str.split(" ").str[0] == inside["district"]).all()
    outside = df[df["in_region"] == "0"]
    assert set(outside["la_code"]) == {c for c, _, _ in OUTSIDE_LAS["london"]}
    assert outside["postcode"].str.startswith("X").all()


def test_ofsted_judgements(ctx_out):
    df = pd.read_csv(ctx_out / "context" / "ofsted" / "ofsted_inspections.csv", dtype=str).fillna("")
    ilacs = df[df["inspection_type"] == "ILACS"]
    assert set(ilacs["la_code"]) == {"201", "202"}
    ok = {"Outstanding", "Good", "Requires improvement to be good", "Inadequate"}
    for col in ["overall", "help_and_protection", "children_in_care", "care_leavers", "leadership"]:
        assert set(ilacs[col]) <= ok
    assert (ilacs.groupby("la_code").size() >= 2).all()
    send = df[(df["inspection_type"] == "SEND") & (df["overall"] != "")]
    assert set(send["overall"]) <= {"Positive experiences and outcomes", "Inconsistent experiences and outcomes",
                                    "Widespread and/or systemic failings"}
    assert (pd.to_datetime(df["inspection_end_date"]) >= pd.to_datetime(df["inspection_start_date"])).all()


def test_wards_aggregate_their_lsoas(ctx_out):
    lsoa = pd.read_csv(ctx_out / "context" / "areas" / "lsoa_fire_factors.csv")
    ward = pd.read_csv(ctx_out / "context" / "areas" / "ward_fire_factors.csv")
    assert len(lsoa.columns) >= 55 and set(lsoa["year"]) == set(YEARS)
    geo = build_geography(_region(), 5).lsoas.set_index("lsoa")["ward"]
    lsoa["ward"] = lsoa["area_code"].map(geo)
    sums = lsoa.groupby(["ward", "year"])[["households", "dwelling_fires"]].sum()
    w = ward.set_index(["area_code", "year"])[["households", "dwelling_fires"]]
    pd.testing.assert_frame_equal(w.sort_index(), sums.rename_axis(["area_code", "year"]).sort_index(), check_dtype=False)


def test_fire_dgp_is_recoverable_by_a_poisson_glm():
    from sklearn.linear_model import PoissonRegressor

    geo = build_geography(region("london"), 11)
    areas = simulate_areas(geo, None, [2021, 2022, 2023, 2024, 2025], 11)
    df = areas.lsoa
    truth = areas.dgp["coefficients"]
    assert truth == {k: float(v) for k, v in synth_conf()["fire_risk"]["coefficients"].items()}
    cols = list(truth)
    x = df[cols].to_numpy(dtype=float)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    model = PoissonRegressor(alpha=1e-12, max_iter=5000, tol=1e-12)
    model.fit((x - mu) / sd, df["dwelling_fires"] / df["households"], sample_weight=df["households"])
    fitted = model.coef_ / sd
    for name, est in zip(cols, fitted):
        assert np.sign(est) == np.sign(truth[name]), (name, est, truth[name])
    # Typical observed rate ~10-30 per 10,000 households; every band populated by the true rates.
    observed = df["dwelling_fires"].sum() / df["households"].sum() * 1e4
    assert 10 < observed < 30
    assert all(v > 0.03 for v in areas.dgp["band_shares_true_rate"].values())


def test_partner_files_share_valid_nhs_numbers(ctx_out):
    folder = ctx_out / "context" / "partner_people"
    asc = pd.read_csv(next(folder.glob("asc_*.csv")), dtype=str)
    frs = pd.read_csv(next(folder.glob("fire_service_*.csv")), dtype=str)
    ids = pd.concat([asc["person_id"], frs["person_id"]])
    assert ids.str.fullmatch(r"999\d{7}").all()
    for nhs in ids:
        digits = [int(c) for c in nhs]
        check = 11 - sum(d * w for d, w in zip(digits[:9], range(10, 1, -1))) % 11
        assert (0 if check == 11 else check) == digits[9]
    assert len(set(asc["person_id"]) & set(frs["person_id"])) > 0
    outcomes = pd.read_csv(ctx_out / "_truth" / "partner_fire_outcomes.csv", dtype={"nhs_number": str})
    assert set(ids) <= set(outcomes["nhs_number"])
    dgp = json.loads((ctx_out / "_truth" / "fire_person_dgp.json").read_text())
    assert dgp["coefficients"]["smoker_or_naked_flames"] > 0
    assert json.loads((ctx_out / "_truth" / "fire_risk_dgp.json").read_text())["family"] == "Poisson"


def test_same_seed_gives_identical_bytes(ctx_out, tmp_path):
    again = tmp_path / "raw"
    _generate(again)
    files = sorted(p.relative_to(ctx_out) for p in ctx_out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert hashlib.sha256((ctx_out / rel).read_bytes()).digest() == hashlib.sha256((again / rel).read_bytes()).digest(), rel
