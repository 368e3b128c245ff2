"""One simulated population of children (and their places), shared by every collection.

Each collection module draws its cohort from here, so the same child can appear in
CIN, SSDA903, SEN2, the school census and Annex A, in several years and LAs, with the
identifiers a real LA would hold: a UPN once the child starts school (sometimes
missing, sometimes replaced by a new one with the old as FormerUPN), an LA child id
per LA (a child who moves gets a new one), a postcode, a date of birth.

Everything here is ground truth: `person_id` is the true person behind every record
and is written only to `_truth/`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

import numpy as np
import pandas as pd

from cslake.config import Region
from cslake.synth.core import rng_for, synth_conf, year_end, year_start
from cslake.synth.postcode_pool import postcode_pool
from cslake.upn import CHECK_LETTERS

ETH_GROUPS = ("W", "M", "A", "B", "O")
# Relative propensity for social-care involvement by top-level ethnic group: loosely
# echoes published over-representation (Mixed and Black children above White, Asian
# below), so disproportionality outputs have something real to find.
RISK_BY_GROUP = {"W": 1.0, "M": 1.6, "A": 0.6, "B": 1.35, "O": 1.1}
_WEIGHTS = np.arange(2, 14)


# ---------------------------------------------------------------------------
# Geography: postcodes → LSOA → ward → LA (real postcode units, synthetic LSOA and ward codes)
# ---------------------------------------------------------------------------

def _postcode_areas() -> list[str]:
    # Only for units made up when an LA's real pool runs out: letters no real postcode area
    # uses ("Q…", "Z…" but ZE).
    z = ["Z" + c for c in string.ascii_uppercase if c not in "EZ"]
    q = ["Q" + c for c in string.ascii_uppercase]
    return z + q


@dataclass
class Geography:
    postcodes: pd.DataFrame  # postcode, sector, district, la, ward, lsoa
    lsoas: pd.DataFrame      # lsoa, lsoa_name, ward, ward_name, la, households


def build_geography(region: Region, seed: int) -> Geography:
    conf = synth_conf()["las"]
    areas = _postcode_areas()
    pc_rows, lsoa_rows = [], []
    lsoa_seq, ward_seq = 0, 0
    districts_taken: dict[str, int] = {}
    for la_idx, la in enumerate(region.las):
        rng = rng_for(seed, "geography", la.dfe_code)
        children = conf[la.dfe_code]["children"]
        n_lsoa = max(3, round(children / 390))
        area = areas[la_idx % len(areas)]
        n_wards = max(1, round(n_lsoa / 7))
        n_districts = max(1, round(n_lsoa / 25))
        # A region of more LAs than made-up areas (England) shares an area between LAs: each
        # takes the district numbers after the previous one's, so no made-up unit is two LAs'.
        first_district = 1 + districts_taken.get(area, 0)
        districts_taken[area] = first_district - 1 + n_districts
        ward_of = np.sort(rng.integers(0, n_wards, size=n_lsoa))
        wards = [f"E05{ward_seq + w:06d}" for w in range(n_wards)]
        ward_seq += n_wards + 1
        used: set[str] = set()
        pool = postcode_pool().get(la.dfe_code, [])
        for i in range(n_lsoa):
            lsoa_seq += 1
            lsoa = f"E01{lsoa_seq:06d}"
            ward = wards[ward_of[i]]
            households = int(max(250, rng.normal(680, 120)))
            lsoa_rows.append((lsoa, f"{la.name} {i + 1:03d}{'ABCDEFGH'[i % 8]}", ward,
                              f"{la.name} ward {ward_of[i] + 1}", la.dfe_code, households))
            district = f"{area}{first_district + (i * n_districts) // n_lsoa}"
            for k in range(12):
                # Real postcode units of the LA (public geography, see postcode_pool), twelve
                # consecutive ones per LSOA, so DfE's validators can place and measure them; a
                # made-up unit only if the LA's pool ran out.
                j = i * 12 + k
                if j < len(pool):
                    unit = pool[j]
                else:
                    while True:
                        unit = f"{district} {rng.integers(1, 10)}{_letters(rng)}"
                        if unit not in used:
                            break
                used.add(unit)
                pc_rows.append((unit, unit[:-2], unit.split(" ")[0], la.dfe_code, ward, lsoa))
    postcodes = pd.DataFrame(pc_rows, columns=["postcode", "sector", "district", "la", "ward", "lsoa"])
    lsoas = pd.DataFrame(lsoa_rows, columns=["lsoa", "lsoa_name", "ward", "ward_name", "la", "households"])
    return Geography(postcodes, lsoas)


def _letters(rng: np.random.Generator) -> str:
    # Inward-code letters exclude C I K M O V, as real ones do.
    alphabet = "ABDEFGHJLNPQRSTUWXYZ"
    a, b = rng.integers(0, len(alphabet), size=2)
    return alphabet[a] + alphabet[b]


# ---------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------

def make_upns(la_codes: np.ndarray, year2: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """Vectorised make_upn: digits LLLYYSSSSSSS with their check letters."""
    body_num = la_codes.astype(np.int64) * 10**9 + year2.astype(np.int64) * 10**7 + serial.astype(np.int64)
    digits = np.stack([(body_num // 10 ** (11 - k)) % 10 for k in range(12)], axis=1)
    checks = (digits * _WEIGHTS).sum(axis=1) % 23
    letters = np.array(list(CHECK_LETTERS))[checks]
    bodies = np.char.zfill(body_num.astype(str), 12)
    return np.char.add(letters.astype("U1"), bodies).astype(object)


def _la_child_ids(rng: np.random.Generator, n: int, la_code: str) -> np.ndarray:
    """Ids unique within one LA, in one of the shapes case systems really use."""
    style = int(rng_for(0, "id-style", la_code).integers(0, 4))
    if style == 1 and n < 500_000:
        return np.array([f"{v:06d}" for v in rng.choice(1_000_000, size=n, replace=False)], dtype=object)
    pool = rng.choice(9_000_000, size=n, replace=False) + 1_000_000
    if style == 2:
        return np.array([f"CH{v}" for v in pool], dtype=object)
    if style == 3:
        return np.array([f"{la_code}{v}" for v in pool], dtype=object)
    return np.array([f"{v}" for v in pool], dtype=object)  # 7-digit numeric


@dataclass
class Population:
    region: Region
    years: list[int]
    scale: float
    seed: int
    people: pd.DataFrame      # one row per person (see build_population)
    residence: pd.DataFrame   # person_id, la, start, end (NaT: to the end), la_child_id, postcode, lsoa
    geography: Geography
    _by_la: dict = field(default_factory=dict, repr=False)

    @property
    def window(self) -> tuple[date, date]:
        return year_start(self.years[0]), year_end(self.years[-1])

    def residents(self, la: str, start: date, end: date) -> pd.DataFrame:
        """People living in `la` at any time in [start, end], one row per residence spell,
        with their attributes (a child who moved away and back has two spells)."""
        if la not in self._by_la:
            res = self.residence[self.residence["la"] == la]
            self._by_la[la] = res.merge(self.people, on="person_id", how="left")
        df = self._by_la[la]
        s, e = pd.Timestamp(start), pd.Timestamp(end)
        mask = (df["res_start"] <= e) & (df["res_end"].isna() | (df["res_end"] >= s)) & (df["dob"] <= e)
        return df[mask]

    @cached_property
    def la_child_id_index(self) -> pd.DataFrame:
        return self.residence[["person_id", "la", "la_child_id"]]


def identifiers_on(person: pd.Series | dict, on: date) -> dict:
    """What an LA's system would hold for this person on date `on`: UPN (None before the
    child starts school, or when it never was recorded), former UPN after a change."""
    on_ts = pd.Timestamp(on)
    if person["no_upn"] or pd.isna(person["upn_date"]) or person["upn_date"] > on_ts:
        return {"upn": None, "former_upn": None}
    if person["upn2"] is not None and not pd.isna(person["upn2_date"]) and person["upn2_date"] <= on_ts:
        return {"upn": person["upn2"], "former_upn": person["upn"]}
    return {"upn": person["upn"], "former_upn": None}


def build_population(region: Region, years: list[int], scale: float, seed: int) -> Population:
    """Simulate the cohort of the region's children that any collection may touch.

    people columns: person_id, sex ('1' male / '2' female), dob, eth_group, ethnicity,
    birth_la, upn, upn_date (school entry), upn2, upn2_date (a replacement UPN),
    no_upn (never recorded), risk (latent social-care need, mean ~1), sen (latent SEND
    propensity), deprivation (0..1 of the home area).
    """
    conf = synth_conf()
    cohort = conf["cohort"]
    la_conf = conf["las"]
    geo = build_geography(region, seed)
    first, last = year_start(years[0]), year_end(years[-1])
    dob_lo = date(first.year - cohort["max_age_years"], first.month, first.day)
    span_years = (last - dob_lo).days / 365.25

    frames, res_frames = [], []
    next_id = 1
    for la in region.las:
        rng = rng_for(seed, "people", la.dfe_code)
        spec = la_conf[la.dfe_code]
        n = max(20, int(round(spec["children"] * cohort["share"] * scale * span_years / 18)))
        ids = np.arange(next_id, next_id + n, dtype=np.int64)
        next_id += n
        dob = pd.to_datetime(dob_lo) + pd.to_timedelta(rng.integers(0, (last - dob_lo).days + 1, size=n), unit="D")
        sex = np.where(rng.random(n) < cohort["female_share"], "2", "1").astype(object)
        mix = spec["ethnic_mix"]
        group = rng.choice(np.array(ETH_GROUPS, dtype=object), size=n, p=_norm([mix[g] for g in ETH_GROUPS]))
        ethnicity = np.empty(n, dtype=object)
        for g in ETH_GROUPS:
            m = group == g
            codes = conf["ethnic_codes"][g]
            ethnicity[m] = rng.choice(np.array(list(codes), dtype=object), size=int(m.sum()), p=_norm(list(codes.values())))
        unknown = conf["ethnic_unknown"]
        u = rng.random(n)
        ethnicity[u < unknown["REFU"]] = "REFU"
        ethnicity[(u >= unknown["REFU"]) & (u < unknown["REFU"] + unknown["NOBT"])] = "NOBT"
        # School entry: the September after the 4th birthday; the UPN is allocated then.
        entry_year = dob.year + 4 + ((dob.month >= 9).astype(int))
        upn_date = pd.to_datetime({"year": entry_year, "month": 9, "day": 3})
        serial = rng.choice(10_000_000, size=n, replace=False)
        upn = make_upns(np.full(n, int(la.dfe_code)), np.asarray(entry_year) % 100, serial)
        change = rng.random(n) < cohort["upn_change_rate"]
        serial2 = rng.choice(10_000_000, size=n, replace=False)
        upn2 = np.where(change, make_upns(np.full(n, int(la.dfe_code)), (np.asarray(entry_year) + 3) % 100, serial2), None)
        upn2_date = upn_date + pd.to_timedelta(np.where(change, rng.integers(365, 365 * 6, size=n), 0), unit="D")
        upn2_date = upn2_date.where(change, pd.NaT)
        deprivation = rng.beta(2, 3, size=n)
        risk = rng.lognormal(0, 0.9, size=n) * np.vectorize(RISK_BY_GROUP.get)(group) * (0.6 + deprivation)
        sen = rng.lognormal(0, 0.8, size=n) * (0.8 + 0.4 * (risk / (1 + risk)))
        people = pd.DataFrame({
            "person_id": ids, "sex": sex, "dob": dob, "eth_group": group, "ethnicity": ethnicity,
            "birth_la": la.dfe_code, "upn": upn, "upn_date": upn_date, "upn2": upn2, "upn2_date": upn2_date,
            "no_upn": rng.random(n) < cohort["upn_missing_rate"], "risk": risk, "sen": sen,
            "deprivation": deprivation,
        })
        frames.append(people)

    people = pd.concat(frames, ignore_index=True)
    residence = _residence(region, people, geo, seed, first, last, cohort["move_rate"])
    return Population(region, list(years), scale, seed, people, residence, geo)


def _residence(region: Region, people: pd.DataFrame, geo: Geography, seed: int,
               first: date, last: date, move_rate: float) -> pd.DataFrame:
    """One spell per person in the birth LA; movers get a second spell elsewhere in the region."""
    rng = rng_for(seed, "moves")
    la_codes = np.array(region.la_codes, dtype=object)
    weights = _norm([synth_conf()["las"][c]["children"] for c in la_codes])
    n = len(people)
    movers = rng.random(n) < move_rate
    move_days = rng.integers(0, (last - first).days + 1, size=n)
    move_date = pd.Timestamp(first) + pd.to_timedelta(move_days, unit="D")
    # A child cannot move before it is born.
    move_date = move_date.where(move_date > people["dob"], people["dob"] + pd.Timedelta(days=30))
    dest = rng.choice(la_codes, size=n, p=weights)
    same = dest == people["birth_la"].to_numpy()
    dest[same] = la_codes[(np.searchsorted(la_codes, dest[same]) + 1) % len(la_codes)]
    movers &= move_date.to_numpy() <= np.datetime64(last)

    first_spell = pd.DataFrame({
        "person_id": people["person_id"], "la": people["birth_la"], "res_start": people["dob"],
        "res_end": pd.Series(pd.NaT, index=people.index).where(~movers, move_date - pd.Timedelta(days=1)),
    })
    second = pd.DataFrame({
        "person_id": people["person_id"][movers], "la": dest[movers], "res_start": move_date[movers],
        "res_end": pd.NaT,
    })
    res = pd.concat([first_spell, second], ignore_index=True).sort_values(["la", "person_id", "res_start"], kind="stable")
    res["res_end"] = pd.to_datetime(res["res_end"])
    parts = []
    for la, grp in res.groupby("la", sort=True):
        r = rng_for(seed, "la-ids", la)
        grp = grp.copy()
        grp["la_child_id"] = _la_child_ids(r, len(grp), la)
        pcs = geo.postcodes[geo.postcodes["la"] == la]
        pick = r.integers(0, len(pcs), size=len(grp))
        grp["postcode"] = pcs["postcode"].to_numpy()[pick]
        grp["lsoa"] = pcs["lsoa"].to_numpy()[pick]
        parts.append(grp)
    return pd.concat(parts, ignore_index=True)


def _norm(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr / arr.sum()


def date_of(ts) -> date:
    return pd.Timestamp(ts).date()


def add_days(d: date, days: int) -> date:
    return d + timedelta(days=int(days))
