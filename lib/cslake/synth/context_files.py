"""The region's context files (CSV, written once per region under ``<out>/context/``):

- ``population/ons_mid_year_<mid>.csv``: ONS mid-year estimates by LA x single year of
  age 0-25 x sex x broad ethnic group. Collection year N uses the mid-(N-1) estimate
  (the latest published when year N closes), so the file for year N says ``year`` = N-1.
  Ages 0-17 sum to ``las.<code>.children`` x scale (at least 1) in every year.
- ``ofsted/ofsted_inspections.csv``: ILACS judgements (overall + sub-judgements, written
  as Ofsted's labels), focused visits, and area SEND inspections.
- ``postcode_lookup/postcode_lookup.csv``: postcode -> sector, district, LA (DfE + GSS),
  ward, LSOA; the region's geography plus the outside-region postcodes that school
  census pupils living beyond the region give as home postcodes.
- ``areas/{lsoa,ward}_fire_factors.csv``: ~55 small-area factors, households and
  dwelling fires per year. Fires follow a KNOWN Poisson process at LSOA level:
  fires ~ Poisson(households x exp(b0 + sum_k b_k x_k)) with x_k raw file columns and
  the coefficients in conf/synth.yaml ``fire_risk``; the truth is written to
  ``_truth/fire_risk_dgp.json``. Wards are sums / household-weighted means of their LSOAs.
- ``partner_people/``: two partner extracts sharing an NHS-number-shaped id (test
  range 999 000 0000-999 999 9999 with a valid mod-11 check digit): adult social care
  and fire-service home-visit history. Who has a dwelling fire in the following 12
  months follows a known logistic model (``_truth/fire_person_dgp.json``, outcomes in
  ``_truth/partner_fire_outcomes.csv``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from cslake.config import Region
from cslake.synth.context import GenContext
from cslake.synth.core import rng_for, synth_conf, year_end
from cslake.synth.population import ETH_GROUPS, Geography
from cslake.synth.send import synthetic_names

# Neighbouring LAs outside each region whose children are schooled in it (real DfE and
# GSS codes; the postcodes given to them are synthetic, area letters starting with X,
# which no real postcode area uses).
OUTSIDE_LAS: dict[str, list[tuple[str, str, str]]] = {
    "london": [("919", "Hertfordshire", "E10000015"), ("881", "Essex", "E10000012"),
               ("886", "Kent", "E10000016"), ("936", "Surrey", "E10000030"),
               ("883", "Thurrock", "E06000034"), ("871", "Slough", "E06000039")],
    "east_midlands": [("373", "Sheffield", "E08000019"), ("860", "Staffordshire", "E10000028"),
                      ("937", "Warwickshire", "E10000031"), ("873", "Cambridgeshire", "E10000003"),
                      ("371", "Doncaster", "E08000017")],
}


def _context_conf() -> dict:
    return synth_conf().get("context", {})


# ---------------------------------------------------------------------------
# Geography beyond the region
# ---------------------------------------------------------------------------

def outside_geography(region: Region, seed: int) -> pd.DataFrame:
    """Postcodes of the neighbouring LAs outside `region`: postcode, sector, district, la,
    la_name, gss, ward, lsoa. Deterministic in (region, seed); shared by the school census
    (home postcodes of pupils from outside) and the postcode lookup."""
    rows = []
    for i, (code, name, gss) in enumerate(OUTSIDE_LAS.get(region.key, [])):
        rng = rng_for(seed, "outside-geography", region.key, code)
        area = "X" + "ABCDEFGHJKLMNPRSTUWY"[i % 20]
        used: set[str] = set()
        for d in range(1, 4):
            district = f"{area}{d}"
            for j in range(4):
                lsoa = f"E01{900000 + i * 100 + d * 10 + j:06d}"
                ward = f"E05{900000 + i * 100 + d * 10:06d}"
                for _ in range(10):
                    while True:
                        a, b = rng.integers(0, 20, size=2)
                        unit = f"{district} {rng.integers(1, 10)}{'ABDEFGHJLNPQRSTUWXYZ'[a]}{'ABDEFGHJLNPQRSTUWXYZ'[b]}"
                        if unit not in used:
                            used.add(unit)
                            break
                    rows.append((unit, unit[:-2], district, code, name, gss, ward, lsoa))
    return pd.DataFrame(rows, columns=["postcode", "sector", "district", "la", "la_name", "gss", "ward", "lsoa"])


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

def write_context(ctx: GenContext) -> list[Path]:
    root = ctx.out / "context"
    paths: list[Path] = []
    paths += write_population(ctx, root / "population")
    paths += write_ofsted(ctx, root / "ofsted")
    paths += write_postcode_lookup(ctx, root / "postcode_lookup")
    areas = simulate_areas(ctx.pop.geography, _child_deprivation_by_lsoa(ctx), ctx.years, ctx.seed)
    paths += write_areas(ctx, root / "areas", areas)
    paths += write_partner_people(ctx, root / "partner_people", areas)
    return paths


def _write_csv(path: Path, header: list[str], rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


# ---------------------------------------------------------------------------
# ONS population
# ---------------------------------------------------------------------------

def population_table(region: Region, years: list[int], scale: float, seed: int) -> pd.DataFrame:
    """Mid-year estimates: la_code, gss_code, year (mid-year), age 0-25, sex M/F, ethnicity
    W/M/A/B/O, population (whole persons). Ages 0-17 of each LA and year sum exactly to
    max(1, round(children x scale))."""
    conf = synth_conf()
    female = conf["cohort"]["female_share"]
    young_adult_ratio = _context_conf().get("young_adult_ratio", 1.05)
    frames = []
    for la in region.las:
        spec = conf["las"][la.dfe_code]
        total = max(1, int(round(spec["children"] * scale)))
        mix = np.array([spec["ethnic_mix"][g] for g in ETH_GROUPS], dtype=float)
        mix /= mix.sum()
        tilt = rng_for(seed, "ons-age-tilt", la.dfe_code).normal(0, 0.01)
        for year in years:
            mid = year - 1
            # Younger cohorts shrink a little each year (falling births): a gentle age slope.
            age_w = 1.0 + (tilt - 0.004 * (mid - 2020)) * (8.5 - np.arange(18))
            w = np.einsum("a,s,e->ase", age_w, np.array([1 - female, female]), mix).ravel()
            child = _apportion(total, w)
            per_age = total / 18
            adult_total = max(0, int(round(per_age * 8 * young_adult_ratio)))
            adult = _apportion(adult_total, np.einsum("a,s,e->ase", np.ones(8), np.array([1 - female, female]), mix).ravel()) \
                if adult_total else np.zeros(8 * 2 * 5, dtype=int)
            counts = np.concatenate([child, adult])
            ages = np.repeat(np.arange(26), 10)
            sexes = np.tile(np.repeat(np.array(["M", "F"]), 5), 26)
            eths = np.tile(np.array(ETH_GROUPS), 52)
            frames.append(pd.DataFrame({"la_code": la.dfe_code, "gss_code": la.gss_code, "year": mid,
                                        "age": ages, "sex": sexes, "ethnicity": eths, "population": counts}))
    return pd.concat(frames, ignore_index=True)


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Whole numbers summing exactly to `total`, proportional to `weights` (largest remainder)."""
    share = weights / weights.sum() * total
    base = np.floor(share).astype(int)
    left = total - base.sum()
    order = np.argsort(-(share - base), kind="stable")
    base[order[:left]] += 1
    return base


def write_population(ctx: GenContext, folder: Path) -> list[Path]:
    table = population_table(ctx.pop.region, ctx.years, ctx.pop.scale, ctx.seed)
    paths = []
    for mid, part in table.groupby("year", sort=True):
        paths.append(_write_csv(folder / f"ons_mid_year_estimates_{mid}.csv", list(part.columns),
                                part.itertuples(index=False, name=None)))
    return paths


# ---------------------------------------------------------------------------
# Ofsted
# ---------------------------------------------------------------------------

JUDGEMENTS = ["Outstanding", "Good", "Requires improvement to be good", "Inadequate"]
SEND_OUTCOMES = ["Positive experiences and outcomes", "Inconsistent experiences and outcomes",
                 "Widespread and/or systemic failings"]
OFSTED_HEADER = ["la_code", "inspection_type", "inspection_start_date", "inspection_end_date", "publication_date",
                 "overall", "help_and_protection", "children_in_care", "care_leavers", "leadership"]


def ofsted_table(region: Region, years: list[int], seed: int) -> pd.DataFrame:
    """ILACS standard inspections every ~3-4 years from 2018 (Inadequate LAs sooner), a
    focused visit between, and area SEND inspections (the 2023 framework's three outcomes;
    earlier area SEND inspections carried no graded outcome)."""
    last = year_end(years[-1])
    rows = []
    for la in region.las:
        rng = rng_for(seed, "ofsted", la.dfe_code)
        quality = rng.choice(4, p=[0.2, 0.5, 0.22, 0.08])
        d = date(2018, 1, 15) + timedelta(days=int(rng.integers(0, 900)))
        while d <= last:
            quality = int(np.clip(quality + rng.choice([-1, 0, 0, 1], p=[0.3, 0.4, 0.2, 0.1]), 0, 3))
            subs = [int(np.clip(quality + rng.choice([-1, 0, 1], p=[0.15, 0.7, 0.15]), 0, 3)) for _ in range(4)]
            end = d + timedelta(days=int(rng.choice([11, 12, 15])))
            pub = end + timedelta(days=int(rng.integers(35, 50)))
            rows.append([la.dfe_code, "ILACS", d, end, pub, JUDGEMENTS[quality]] + [JUDGEMENTS[s] for s in subs])
            gap = int(rng.integers(420, 560)) if quality == 3 else int(rng.integers(1000, 1400))
            fv = d + timedelta(days=gap // 2 + int(rng.integers(-60, 60)))
            if fv <= last and quality != 3:
                rows.append([la.dfe_code, "ILACS_FOCUSED", fv, fv + timedelta(days=1),
                             fv + timedelta(days=int(rng.integers(25, 40))), "", "", "", "", ""])
            d += timedelta(days=gap)
        s = date(2016, 10, 1) + timedelta(days=int(rng.integers(0, 1500)))
        rows.append([la.dfe_code, "SEND", s, s + timedelta(days=4), s + timedelta(days=int(rng.integers(40, 60))),
                     "", "", "", "", ""])
        s2 = date(2023, 1, 20) + timedelta(days=int(rng.integers(0, 900)))
        if s2 <= last:
            outcome = SEND_OUTCOMES[int(rng.choice(3, p=[0.35, 0.5, 0.15]))]
            rows.append([la.dfe_code, "SEND", s2, s2 + timedelta(days=11), s2 + timedelta(days=int(rng.integers(40, 60))),
                         outcome, "", "", "", ""])
    df = pd.DataFrame(rows, columns=OFSTED_HEADER)
    return df.sort_values(["la_code", "inspection_end_date", "inspection_type"], kind="stable").reset_index(drop=True)


def write_ofsted(ctx: GenContext, folder: Path) -> list[Path]:
    df = ofsted_table(ctx.pop.region, ctx.years, ctx.seed)
    rows = ([v.isoformat() if isinstance(v, date) else v for v in r] for r in df.itertuples(index=False, name=None))
    return [_write_csv(folder / "ofsted_inspections.csv", OFSTED_HEADER, rows)]


# ---------------------------------------------------------------------------
# Postcode lookup
# ---------------------------------------------------------------------------

LOOKUP_HEADER = ["postcode", "sector", "district", "la_code", "la_gss_code", "la_name", "ward_code", "ward_name",
                 "lsoa_code", "in_region"]


def write_postcode_lookup(ctx: GenContext, folder: Path) -> list[Path]:
    geo = ctx.pop.geography
    las = {la.dfe_code: la for la in ctx.pop.region.las}
    wards = geo.lsoas.drop_duplicates("ward").set_index("ward")["ward_name"]
    rows = [(r.postcode, r.sector, r.district, r.la, las[r.la].gss_code, las[r.la].name, r.ward, wards.get(r.ward, ""),
             r.lsoa, 1) for r in geo.postcodes.itertuples(index=False)]
    out = outside_geography(ctx.pop.region, ctx.seed)
    rows += [(r.postcode, r.sector, r.district, r.la, r.gss, r.la_name, r.ward, f"{r.la_name} ward", r.lsoa, 0)
             for r in out.itertuples(index=False)]
    return [_write_csv(folder / "postcode_lookup.csv", LOOKUP_HEADER, rows)]


# ---------------------------------------------------------------------------
# Small-area factors and the fire data-generating process
# ---------------------------------------------------------------------------

@dataclass
class AreaTables:
    lsoa: pd.DataFrame      # one row per LSOA x year (file columns) plus true_rate
    ward: pd.DataFrame      # one row per ward x year
    dgp: dict               # intercept, coefficients, description


def _child_deprivation_by_lsoa(ctx: GenContext) -> pd.Series:
    res = ctx.pop.residence[["person_id", "lsoa"]]
    dep = res.merge(ctx.pop.people[["person_id", "deprivation"]], on="person_id", how="left")
    return dep.groupby("lsoa")["deprivation"].mean()


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def simulate_areas(geo: Geography, child_dep: pd.Series | None, years: list[int], seed: int) -> AreaTables:
    """Area factors from a few latent traits (deprivation, age, density, tenure), then fires
    from the known Poisson process in conf/synth.yaml ``fire_risk``."""
    conf = synth_conf()["fire_risk"]
    ls = geo.lsoas.reset_index(drop=True)
    n = len(ls)
    rng = rng_for(seed, "fire-areas")
    la_codes = ls["la"].to_numpy()
    uniq = np.unique(la_codes)
    la_idx = np.searchsorted(uniq, la_codes)
    la_dep = rng.normal(0, 0.6, size=len(uniq))[la_idx]
    inner = np.array([c.startswith("2") for c in la_codes], dtype=float)
    if child_dep is not None and len(child_dep):
        cd = child_dep.reindex(ls["lsoa"]).to_numpy(dtype=float)
        cd = np.where(np.isnan(cd), np.nanmean(cd) if np.isfinite(np.nanmean(cd)) else 0.4, cd)
        cd_z = (cd - cd.mean()) / (cd.std() or 1.0)
    else:
        cd_z = np.zeros(n)
    # Latent traits (about standard normal).
    dep = 0.45 * cd_z + la_dep + 0.7 * rng.normal(size=n)
    dep = (dep - dep.mean()) / dep.std()
    urban = 0.9 * inner + 0.6 * rng.normal(size=n) - 0.45
    old = -0.5 * urban + 0.85 * rng.normal(size=n)
    social = 0.6 * dep + 0.8 * rng.normal(size=n)
    prs = 0.5 * urban + 0.2 * dep + 0.8 * rng.normal(size=n)
    noise = lambda s=0.25: rng.normal(0, s, size=n)  # noqa: E731

    f: dict[str, np.ndarray] = {}
    hh = ls["households"].to_numpy(dtype=float)
    f["pop_total"] = np.round(hh * (2.3 + 0.25 * dep - 0.15 * old + noise(0.1)))
    p0 = 100 * _sig(_logit(0.065) + 0.15 * dep - 0.2 * old + noise(0.1))
    p5 = 100 * _sig(_logit(0.12) + 0.15 * dep - 0.25 * old + noise(0.1))
    p16 = 100 * _sig(_logit(0.11) + 0.2 * urban + noise(0.15))
    p65 = 100 * _sig(_logit(0.07) + 0.35 * old + noise(0.12))
    p75 = 100 * _sig(_logit(0.045) + 0.4 * old + noise(0.15))
    p85 = 100 * _sig(_logit(0.018) + 0.45 * old + noise(0.2))
    f.update(pop_0_4_pct=p0, pop_5_15_pct=p5, pop_16_24_pct=p16,
             pop_25_64_pct=100 - (p0 + p5 + p16 + p65 + p75 + p85),
             pop_65_74_pct=p65, pop_75_84_pct=p75, pop_85plus_pct=p85)
    f["one_person_hh_pct"] = 100 * _sig(_logit(0.32) + 0.25 * urban + 0.15 * old + 0.1 * dep + noise(0.12))
    f["one_person_65plus_hh_pct"] = 100 * _sig(_logit(0.10) + 0.45 * old + 0.1 * dep + noise(0.15))
    f["lone_parent_hh_pct"] = 100 * _sig(_logit(0.10) + 0.4 * dep + 0.15 * social + noise(0.15))
    f["overcrowded_hh_pct"] = 100 * _sig(_logit(0.14) + 0.35 * dep + 0.3 * urban + noise(0.15))
    soc = 100 * _sig(_logit(0.23) + 0.8 * social + noise(0.2))
    prv = 100 * _sig(_logit(0.28) + 0.5 * prs + noise(0.2)) * (1 - soc / 100)
    f["social_rented_pct"], f["private_rented_pct"] = soc, prv
    f["owner_occupied_pct"] = np.clip(100 - soc - prv - 100 * _sig(_logit(0.015) + noise(0.3)), 0, 100)
    det = 100 * _sig(_logit(0.06) - 0.7 * urban + 0.25 * old - 0.2 * dep + noise(0.3))
    semi = 100 * _sig(_logit(0.18) - 0.5 * urban + noise(0.25))
    hmo = 100 * _sig(_logit(0.03) + 0.35 * prs + 0.2 * dep + noise(0.25))
    fpb = 100 * _sig(_logit(0.33) + 0.6 * urban + 0.3 * social + noise(0.25))
    fcv = 100 * _sig(_logit(0.12) + 0.4 * urban + 0.2 * prs + noise(0.25))
    rest = np.maximum(0, 100 - det - semi - fpb - fcv)
    f.update(detached_pct=det, semi_detached_pct=semi, terraced_pct=rest, flat_purpose_built_pct=fpb,
             flat_converted_pct=fcv, hmo_pct=hmo)
    f["no_central_heating_pct"] = 100 * _sig(_logit(0.018) + 0.35 * dep + 0.25 * prs + noise(0.3))
    f["bad_health_pct"] = 100 * _sig(_logit(0.05) + 0.3 * dep + 0.25 * old + noise(0.12))
    f["disability_limited_lot_pct"] = 100 * _sig(_logit(0.07) + 0.3 * dep + 0.3 * old + noise(0.12))
    f["unpaid_care_pct"] = 100 * _sig(_logit(0.08) + 0.1 * old + 0.1 * dep + noise(0.12))
    f["no_qualifications_pct"] = 100 * _sig(_logit(0.17) + 0.45 * dep + 0.2 * old + noise(0.15))
    f["unemployed_pct"] = 100 * _sig(_logit(0.05) + 0.45 * dep + noise(0.18))
    f["long_term_sick_pct"] = 100 * _sig(_logit(0.04) + 0.4 * dep + 0.15 * old + noise(0.18))
    f["retired_pct"] = 100 * _sig(_logit(0.11) + 0.45 * old + noise(0.12))
    f["students_pct"] = 100 * _sig(_logit(0.08) + 0.35 * urban + noise(0.3))
    f["no_car_hh_pct"] = 100 * _sig(_logit(0.42) + 0.7 * urban + 0.35 * dep + noise(0.2))
    f["english_not_main_pct"] = 100 * _sig(_logit(0.12) + 0.3 * urban + 0.3 * dep + noise(0.3))
    f["born_outside_uk_pct"] = 100 * _sig(_logit(0.36) + 0.3 * urban + 0.2 * dep + noise(0.2))
    w = _sig(_logit(0.55) - 0.35 * dep - 0.3 * urban + 0.3 * old + noise(0.3))
    nonw = np.stack([_sig(noise(0.3)) * k for k in (0.18, 0.40, 0.30, 0.12)])
    nonw = nonw / nonw.sum(axis=0) * (1 - w)
    f["white_pct"] = 100 * w
    f["mixed_pct"], f["asian_pct"], f["black_pct"], f["other_ethnic_pct"] = (100 * nonw[i] for i in range(4))
    dom = {}
    for name, load, base in [("imd_income", 0.9, 0.15), ("imd_employment", 0.8, 0.11), ("imd_education", 0.7, 0.0),
                             ("imd_health", 0.7, 0.0), ("imd_crime", 0.6, 0.0), ("imd_barriers", 0.4, 0.0),
                             ("imd_living_env", 0.5, 0.0)]:
        z = load * dep + np.sqrt(1 - load ** 2) * rng.normal(size=n)
        if base:  # income and employment are rates (share of people)
            dom[name] = np.round(_sig(_logit(base) + 0.55 * z), 3)
        else:
            dom[name] = np.round(z * (25 if name in ("imd_education", "imd_living_env", "imd_barriers") else 0.8), 3)
        f[name] = dom[name]
    f["imd_score"] = np.round(np.clip(22 + 11 * dep + noise(2.0), 1.5, 75), 2)
    ranks = f["imd_score"].argsort()[::-1].argsort()
    f["imd_decile"] = (1 + (ranks * 10) // n).astype(float)
    f["area_hectares"] = np.round(np.exp(np.log(25) - 0.8 * urban + noise(0.4)), 2)
    f["road_length_km"] = np.round(f["area_hectares"] * 0.12 * np.exp(noise(0.2)) + 0.5, 2)
    f["pop_density"] = np.round(f["pop_total"] / f["area_hectares"], 2)
    f["smokers_pct"] = 100 * _sig(_logit(0.13) + 0.3 * dep + noise(0.15))
    for k, v in f.items():
        if k.endswith("_pct"):
            f[k] = np.round(v, 2)

    coefs: dict[str, float] = {k: float(v) for k, v in conf["coefficients"].items()}
    beta0 = float(conf["intercept"])
    hfsv_base = np.exp(np.log(15) + 0.5 * dep + 0.3 * old)  # visits are targeted at risky areas
    frames = []
    y0 = years[0]
    for year in years:
        yrng = rng_for(seed, "fire-year", year)
        yf = {k: v.copy() for k, v in f.items()}
        households = np.round(hh * (1 + 0.004 * (year - y0))).astype(int)
        yf["hfsv_past_3y"] = yrng.poisson(hfsv_base * households / 680).astype(float)
        eta = beta0 + sum(coefs[k] * yf[k] for k in coefs)
        rate = np.exp(eta)
        fires = yrng.poisson(rate * households)
        df = pd.DataFrame({"area_code": ls["lsoa"], "area_type": "LSOA", "area_name": ls["lsoa_name"],
                           "la_code": la_codes, "year": year, "households": households, "dwelling_fires": fires,
                           **{k: yf[k] for k in FACTOR_COLUMNS}})
        df["ward_code"] = ls["ward"].to_numpy()
        df["ward_name"] = ls["ward_name"].to_numpy()
        df["true_rate_per_10k"] = rate * 1e4
        frames.append(df)
    lsoa = pd.concat(frames, ignore_index=True)
    ward = _wards(lsoa)
    dgp = {"level": "LSOA", "family": "Poisson", "link": "log", "offset": "log(households)",
           "target": "dwelling_fires per year", "formula": "log(E[fires]/households) = intercept + sum(coef * x)",
           "intercept": beta0, "coefficients": coefs,
           "note": "x are the raw columns of areas/lsoa_fire_factors.csv; ward rows are sums of their LSOAs "
                   "(so the log-linear form holds exactly only at LSOA level). Other factors have no direct effect.",
           "mean_true_rate_per_10k": float(lsoa["true_rate_per_10k"].mean()),
           "band_shares_true_rate": _band_shares(lsoa["true_rate_per_10k"].to_numpy())}
    return AreaTables(lsoa, ward, dgp)


def _band_shares(rate: np.ndarray) -> dict[str, float]:
    bands = {"well_below_le10": rate <= 10, "below_10_15": (rate > 10) & (rate <= 15),
             "average_15_20": (rate > 15) & (rate <= 20), "above_20_25": (rate > 20) & (rate <= 25),
             "well_above_gt25": rate > 25}
    return {k: round(float(v.mean()), 4) for k, v in bands.items()}


FACTOR_COLUMNS = [
    "pop_total", "pop_0_4_pct", "pop_5_15_pct", "pop_16_24_pct", "pop_25_64_pct", "pop_65_74_pct",
    "pop_75_84_pct", "pop_85plus_pct", "one_person_hh_pct", "one_person_65plus_hh_pct", "lone_parent_hh_pct",
    "overcrowded_hh_pct", "social_rented_pct", "private_rented_pct", "owner_occupied_pct", "detached_pct",
    "semi_detached_pct", "terraced_pct", "flat_purpose_built_pct", "flat_converted_pct", "hmo_pct",
    "no_central_heating_pct", "bad_health_pct", "disability_limited_lot_pct", "unpaid_care_pct",
    "no_qualifications_pct", "unemployed_pct", "long_term_sick_pct", "retired_pct", "students_pct",
    "no_car_hh_pct", "english_not_main_pct", "born_outside_uk_pct", "white_pct", "mixed_pct", "asian_pct",
    "black_pct", "other_ethnic_pct", "imd_score", "imd_income", "imd_employment", "imd_education", "imd_health",
    "imd_crime", "imd_barriers", "imd_living_env", "imd_decile", "road_length_km", "area_hectares",
    "pop_density", "hfsv_past_3y", "smokers_pct",
]
AREA_HEADER = ["area_code", "area_type", "area_name", "la_code", "year", "households", "dwelling_fires"] + FACTOR_COLUMNS
_SUMMED = {"pop_total", "road_length_km", "area_hectares", "hfsv_past_3y", "households", "dwelling_fires"}


def _wards(lsoa: pd.DataFrame) -> pd.DataFrame:
    df = lsoa.copy()
    means = [c for c in FACTOR_COLUMNS if c not in _SUMMED and c != "imd_decile"]
    weighted = df[means].multiply(df["households"], axis=0)
    weighted[["ward_code", "year"]] = df[["ward_code", "year"]]
    g = weighted.groupby(["ward_code", "year"], sort=True)
    out = g[means].sum().div(df.groupby(["ward_code", "year"], sort=True)["households"].sum(), axis=0)
    sums = df.groupby(["ward_code", "year"], sort=True)[sorted(_SUMMED)].sum()
    first = df.groupby(["ward_code", "year"], sort=True)[["ward_name", "la_code"]].first()
    ward = pd.concat([first, sums, out.round(3)], axis=1).reset_index()
    ward["pop_density"] = (ward["pop_total"] / ward["area_hectares"]).round(2)
    ward["imd_decile"] = ward.groupby("year")["imd_score"].rank(ascending=False, method="first") \
        .sub(1).mul(10).floordiv(ward.groupby("year")["imd_score"].transform("size")).add(1)
    ward = ward.rename(columns={"ward_code": "area_code", "ward_name": "area_name"})
    ward["area_type"] = "WARD"
    return ward[AREA_HEADER]


def write_areas(ctx: GenContext, folder: Path, areas: AreaTables) -> list[Path]:
    paths = []
    for name, df in (("lsoa_fire_factors.csv", areas.lsoa), ("ward_fire_factors.csv", areas.ward)):
        paths.append(_write_csv(folder / name, AREA_HEADER, df[AREA_HEADER].itertuples(index=False, name=None)))
    truth = ctx.out / "_truth"
    truth.mkdir(parents=True, exist_ok=True)
    (truth / "fire_risk_dgp.json").write_text(json.dumps(areas.dgp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return paths


# ---------------------------------------------------------------------------
# Partner person-level adults
# ---------------------------------------------------------------------------

PARTNER_HEADER = ["partner", "person_id", "extract_date", "forename", "surname", "dob", "age", "lives_alone",
                  "reduced_mobility", "other_health_issues", "smoker_or_naked_flames", "previous_near_miss",
                  "receives_care", "postcode", "lsoa_code", "la_code"]
PROFILE_FLAGS = ["over_65", "lives_alone", "reduced_mobility", "other_health_issues", "smoker_or_naked_flames",
                 "previous_near_miss", "receives_care"]


def nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct 10-digit ids in the NHS test range 999 000 0000 - 999 999 9999 with a valid
    mod-11 check digit (bodies whose check would be 10 are skipped, as the NHS does)."""
    out: list[str] = []
    seen: set[int] = set()
    weights = np.arange(10, 1, -1)
    while len(out) < n:
        bodies = 999_000_000 + rng.integers(0, 1_000_000, size=max(16, 2 * (n - len(out))))
        digits = np.stack([(bodies // 10 ** (8 - k)) % 10 for k in range(9)], axis=1)
        check = 11 - (digits * weights).sum(axis=1) % 11
        check = np.where(check == 11, 0, check)
        for b, c in zip(bodies.tolist(), check.tolist()):
            if c == 10 or b in seen:
                continue
            seen.add(b)
            out.append(f"{b}{c}")
            if len(out) == n:
                break
    return np.array(out, dtype=object)


def partner_people(ctx: GenContext, areas: AreaTables) -> tuple[pd.DataFrame, dict]:
    """Adults known to partners, their profile, and whether they have a dwelling fire in the
    12 months after the extract (the truth), from a known logistic model."""
    conf = synth_conf()["fire_risk"]["person"]
    rng = ctx.rng("partner-people")
    geo = ctx.pop.geography
    hh = geo.lsoas.set_index("lsoa")["households"]
    n = max(20, int(round(hh.sum() * conf["adults_per_household"] * ctx.pop.scale)))
    lsoa = rng.choice(hh.index.to_numpy(), size=n, p=(hh / hh.sum()).to_numpy())
    pcs = geo.postcodes.groupby("lsoa")["postcode"].apply(list)
    postcode = np.array([pcs[l][int(i)] for l, i in zip(lsoa, rng.integers(0, 12, size=n))], dtype=object)
    la_of_lsoa = geo.lsoas.set_index("lsoa")["la"]
    extract = year_end(ctx.years[-2]) if len(ctx.years) > 1 else year_end(ctx.years[-1]) - timedelta(days=365)
    age = np.clip(np.round(rng.normal(72, 14, size=n)), 18, 102).astype(int)
    dob = np.array([extract - timedelta(days=int(a * 365.25 + d)) for a, d in zip(age, rng.integers(1, 364, size=n))])
    sex = np.where(rng.random(n) < 0.55, "2", "1")
    over65 = age >= 65
    p = lambda base, *terms: _sig(_logit(base) + sum(terms))  # noqa: E731
    flags = {
        "over_65": over65,
        "lives_alone": rng.random(n) < p(0.35, 0.6 * over65),
        "reduced_mobility": rng.random(n) < p(0.2, 0.04 * (age - 70)),
        "other_health_issues": rng.random(n) < p(0.35, 0.02 * (age - 70)),
        "smoker_or_naked_flames": rng.random(n) < p(0.15, -0.01 * (age - 60)),
        "previous_near_miss": rng.random(n) < 0.05,
    }
    flags["receives_care"] = rng.random(n) < p(0.3, 1.2 * flags["reduced_mobility"], 0.6 * flags["other_health_issues"])
    area_rate = areas.lsoa[areas.lsoa["year"] == ctx.years[-1]].set_index("area_code")["true_rate_per_10k"]
    rel_area = np.log(area_rate.reindex(lsoa).to_numpy() / area_rate.mean())
    coefs = {k: float(v) for k, v in conf["coefficients"].items()}
    eta = float(conf["intercept"]) + conf["area_log_rate_coefficient"] * rel_area \
        + sum(coefs[k] * flags[k].astype(float) for k in coefs)
    p_fire = _sig(eta)
    fire = rng.random(n) < p_fire
    fire_date = np.array([extract + timedelta(days=int(d)) if f else None
                          for f, d in zip(fire, rng.integers(1, 366, size=n))], dtype=object)
    ids = nhs_numbers(rng, n)
    fore, sur = synthetic_names(np.arange(n, dtype=np.int64) + 7_000_000_000, sex, salt=f"partner-{ctx.seed}")
    people = pd.DataFrame({"nhs_number": ids, "forename": fore, "surname": sur, "dob": dob, "age": age,
                           "postcode": postcode, "lsoa_code": lsoa, "la_code": la_of_lsoa.reindex(lsoa).to_numpy(),
                           **flags, "p_fire": p_fire, "fire_within_12m": fire, "fire_date": fire_date})
    # Who each partner knows: ASC holds people who receive care (and some assessed but not);
    # the fire service holds everyone it has visited, targeted at the old and at risky areas.
    people["in_asc"] = flags["receives_care"] | (rng.random(n) < 0.15)
    people["in_fire"] = rng.random(n) < p(0.3, 0.8 * over65, 0.5 * rel_area, 1.0 * flags["previous_near_miss"])
    lonely = ~(people["in_asc"] | people["in_fire"])
    people.loc[lonely, "in_fire"] = True
    dgp = {"level": "person", "family": "Bernoulli", "link": "logit",
           "target": "dwelling fire within 12 months after extract_date",
           "extract_date": extract.isoformat(), "intercept": float(conf["intercept"]), "coefficients": coefs,
           "area_log_rate_coefficient": float(conf["area_log_rate_coefficient"]),
           "area_term": "log(true LSOA fire rate of the last year / mean LSOA rate)",
           "note": "flags are the true profile; each partner file shows only the flags that partner records",
           "people": int(n), "fires": int(fire.sum())}
    return people, dgp


def write_partner_people(ctx: GenContext, folder: Path, areas: AreaTables) -> list[Path]:
    people, dgp = partner_people(ctx, areas)
    extract = dgp["extract_date"]

    def flag(v) -> str:
        return "1" if v else "0"

    def rows(mask, partner, known):
        for r in people[mask].itertuples(index=False):
            d = r._asdict()
            yield [partner, r.nhs_number, extract, r.forename, r.surname, r.dob.isoformat(), int(r.age)] + \
                  [flag(d[k]) if k in known else "" for k in PARTNER_HEADER[7:13]] + [r.postcode, r.lsoa_code, r.la_code]

    asc_known = {"lives_alone", "reduced_mobility", "other_health_issues", "receives_care"}
    fire_known = {"lives_alone", "smoker_or_naked_flames", "previous_near_miss", "reduced_mobility"}
    stamp = extract.replace("-", "")
    paths = [
        _write_csv(folder / f"asc_adult_social_care_extract_{stamp}.csv", PARTNER_HEADER,
                   rows(people["in_asc"].to_numpy(), "ASC", asc_known)),
        _write_csv(folder / f"fire_service_hfsv_history_{stamp}.csv", PARTNER_HEADER,
                   rows(people["in_fire"].to_numpy(), "FRS", fire_known)),
    ]
    truth = ctx.out / "_truth"
    truth.mkdir(parents=True, exist_ok=True)
    (truth / "fire_person_dgp.json").write_text(json.dumps(dgp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    out = people[["nhs_number", "over_65", "lives_alone", "reduced_mobility", "other_health_issues",
                  "smoker_or_naked_flames", "previous_near_miss", "receives_care", "p_fire",
                  "fire_within_12m", "fire_date", "in_asc", "in_fire"]].copy()
    for c in PROFILE_FLAGS + ["fire_within_12m", "in_asc", "in_fire"]:
        out[c] = out[c].astype(int)
    out["p_fire"] = out["p_fire"].round(6)
    out["fire_date"] = out["fire_date"].map(lambda d: d.isoformat() if d else "")
    out.to_csv(truth / "partner_fire_outcomes.csv", index=False, lineterminator="\n")
    return paths
