"""School census cross-border extract (CSV): for the schools of one LA, the pupils who
live in another LA, as at the spring census day (January of collection year N; only
the spring term is generated, which keeps volumes sane and is the census the
cross-border matrix uses). Columns follow conf/collections/school_census.

Who crosses: a pupil of the region crosses the border with a probability per phase
(primary / secondary), decided once per pupil and phase so they stay at the same
school year after year; pupils living beyond the region (neighbouring LAs such as
Hertfordshire 919 or Kent 886, synthetic X.. postcodes in the postcode lookup) are
a stable pool per school LA. Their truth person_id is 1e9 + LA x 1e6 + n: they are
not people of `pop.people`. Independent schools do not submit the census and are
absent. SEN provision E is set from the simulated EHC plans, so it agrees with SEN2.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from cslake.config import LocalAuthority, Region
from cslake.synth.context import GenContext
from cslake.synth.context_files import OUTSIDE_LAS, outside_geography
from cslake.synth.core import rng_for, synth_conf, year_end, year_start
from cslake.synth.population import identifiers_on, make_upns
from cslake.synth.schools import school_directory
from cslake.synth.send import census_date, unit_hash
from cslake.upn import check_letter

HEADER = ["SchoolLAEstab", "URN", "UPN", "PersonBirthDate", "Sex", "Ethnicity", "HomePostcode", "FSMeligible",
          "SENprovision", "NCyearActual", "EnrolStatus", "CensusTerm", "CensusDate"]
NC_LABELS = np.array(["R", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13"], dtype=object)


def _neighbours(region: Region, seed: int) -> dict[str, np.ndarray]:
    codes = np.array(region.la_codes, dtype=object)
    out = {}
    for c in codes:
        others = codes[codes != c]
        k = min(4, len(others))
        out[c] = rng_for(seed, "school-neighbours", c).choice(others, size=k, replace=False) if k else others
    return out


_CACHE: dict = {}


def _region_pupils(ctx: GenContext, year: int) -> pd.DataFrame:
    """Every cross-border pupil of the region's own children at the census, with school LA."""
    key = (ctx.seed, year)
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is ctx.pop:  # identity, not id(): ids are reused after collection
        return hit[1]
    conf = synth_conf()["school_census"]
    cd = pd.Timestamp(census_date(year))
    res = ctx.pop.residence
    live = res[(res["res_start"] <= cd) & (res["res_end"].isna() | (res["res_end"] >= cd))]
    df = live.merge(ctx.pop.people, on="person_id", how="left")
    aug31 = pd.Timestamp(date(year - 1, 8, 31))
    age = aug31.year - df["dob"].dt.year - ((df["dob"].dt.month > 8) | ((df["dob"].dt.month == 8) & (df["dob"].dt.day > 31)))
    nc = (age - 4).to_numpy()
    pid = df["person_id"].to_numpy()
    school_age = (nc >= 0) & (nc <= 13) & ~((nc >= 12) & (unit_hash(pid, 71) > 0.55))
    df = df[school_age].copy()
    nc = nc[school_age]
    pid = pid[school_age]
    secondary = nc >= 7
    phase_salt = np.where(secondary, 2, 1)
    p_cross = np.where(secondary, conf["cross_border_secondary"], conf["cross_border_primary"])
    u = unit_hash(pid * 7 + phase_salt, 101)
    cross = u < p_cross
    df, nc, pid, secondary = df[cross].copy(), nc[cross], pid[cross], secondary[cross]
    nb = _neighbours(ctx.pop.region, ctx.seed)
    home = df["la"].to_numpy()
    pick = unit_hash(pid * 7 + np.where(secondary, 2, 1), 202)
    school_la = np.array([nb[h][int(p * len(nb[h]))] if len(nb[h]) else h for h, p in zip(home, pick)], dtype=object)
    df["school_la"] = school_la
    df["nc"] = nc
    df["phase"] = np.where(secondary, "S", "P")
    df = df[df["school_la"] != df["la"]]
    if len(_CACHE) > 6:
        _CACHE.clear()
    _CACHE[key] = (ctx.pop, df)
    return df


def _outside_pool(ctx: GenContext, la: LocalAuthority) -> pd.DataFrame:
    """A stable pool of pupils living beyond the region and schooled in `la`."""
    conf = synth_conf()
    outside = OUTSIDE_LAS.get(ctx.pop.region.key, [])
    if not outside:
        return pd.DataFrame()
    geo = outside_geography(ctx.pop.region, ctx.seed)
    rng = rng_for(ctx.seed, "school-census-outside", la.dfe_code)
    first, last = year_start(ctx.years[0]), year_end(ctx.years[-1])
    span_days = (last - date(first.year - 18, first.month, first.day)).days
    edge = 1.5 if la.dfe_code.startswith("3") else 0.5
    n = int(round(conf["school_census"]["outside_region_inflow"] * edge * conf["las"][la.dfe_code]["children"]
                  * conf["cohort"]["share"] * ctx.pop.scale * span_days / 365.25 / 18))
    if n == 0:
        return pd.DataFrame()
    dob = pd.Timestamp(date(first.year - 18, first.month, first.day)) + pd.to_timedelta(rng.integers(0, span_days, size=n), unit="D")
    home = rng.choice(np.array([c for c, _, _ in outside], dtype=object), size=n)
    pcs = {code: g.to_numpy() for code, g in geo.groupby("la")["postcode"]}
    postcode = np.array([pcs[h][i % len(pcs[h])] for h, i in zip(home, rng.integers(0, 10_000, size=n))], dtype=object)
    entry_year = dob.year + 4 + (dob.month >= 9).astype(int)
    upn = make_upns(home.astype(int), np.asarray(entry_year) % 100, rng.choice(10_000_000, size=n, replace=False))
    eth = rng.choice(np.array(["WBRI", "WOTH", "WIRI", "MWBC", "MOTH", "AIND", "APKN", "BAFR", "BCRB", "OOTH", "NOBT"]),
                     size=n, p=[0.62, 0.1, 0.02, 0.04, 0.04, 0.04, 0.03, 0.04, 0.03, 0.02, 0.02])
    return pd.DataFrame({
        "person_id": 1_000_000_000 + int(la.dfe_code) * 1_000_000 + np.arange(n), "la": home, "dob": dob,
        "sex": np.where(rng.random(n) < 0.49, "2", "1"), "ethnicity": eth, "postcode": postcode, "upn": upn,
        "deprivation": rng.beta(2, 4, size=n), "sen": rng.lognormal(0, 0.8, size=n),
    })


def _sen_provision(ctx: GenContext, person_ids: np.ndarray, sen: np.ndarray, on: date) -> np.ndarray:
    conf = synth_conf()["school_census"]
    out = np.where(unit_hash(person_ids, 303) < conf["sen_support_share"] * sen / 1.4, "K", "N").astype(object)
    if ctx.sen is not None and len(ctx.sen.plans):
        out[np.isin(person_ids, _ehcp_holders(ctx.sen, on))] = "E"
    return out


_EHCP: dict = {}


def _ehcp_holders(sen, on: date) -> np.ndarray:
    """Person ids with an EHC plan active on `on` (cached: asked once per LA and year)."""
    hit = _EHCP.get(on)
    if hit is None or hit[0] is not sen:
        p = sen.plans
        active = p[(p["start_date"] <= on) & p["cease_date"].map(lambda d: d is None or d > on)]
        if len(_EHCP) > 8:
            _EHCP.clear()
        hit = _EHCP[on] = (sen, np.unique(active["person_id"].to_numpy()))
    return hit[1]


def write_school_census(ctx: GenContext, la: LocalAuthority, year: int) -> list[Path]:
    conf = synth_conf()["school_census"]
    cd = census_date(year)
    schools = school_directory(ctx.pop.region)
    mine = schools[schools["la"] == la.dfe_code]
    own = _region_pupils(ctx, year)
    own = own[own["school_la"] == la.dfe_code]
    rows = []  # (person_id, values)
    # Region pupils.
    if len(own):
        sen = _sen_provision(ctx, own["person_id"].to_numpy(), own["sen"].to_numpy(), cd)
        cols = ["person_id", "nc", "phase", "dob", "sex", "ethnicity", "postcode", "deprivation", "upn", "upn_date",
                "upn2", "upn2_date"]
        for r, s in zip(own[cols].to_dict("records"), sen):
            ids = identifiers_on({**r, "no_upn": False}, cd)
            rows.append((r["person_id"], r["nc"], r["phase"], r["dob"], r["sex"], r["ethnicity"], r["postcode"],
                         ids["upn"], r["deprivation"], s))
    pool = _outside_pool(ctx, la)
    if len(pool):
        aug31 = pd.Timestamp(date(year - 1, 8, 31))
        age = aug31.year - pool["dob"].dt.year - (pool["dob"].dt.month > 8)
        nc = (age - 4).to_numpy()
        ok = (nc >= 0) & (nc <= 13) & ~((nc >= 12) & (unit_hash(pool["person_id"].to_numpy(), 71) > 0.55))
        pool = pool[ok]
        nc = nc[ok]
        sen = _sen_provision(ctx, pool["person_id"].to_numpy(), pool["sen"].to_numpy(), cd)
        sen[sen == "E"] = "N"
        for r, n_, s in zip(pool.to_dict("records"), nc, sen):
            rows.append((r["person_id"], n_, "S" if n_ >= 7 else "P", r["dob"], r["sex"], r["ethnicity"], r["postcode"],
                         r["upn"], r["deprivation"], s))
    rows.sort(key=lambda t: t[0])
    rng = ctx.rng("school-census", la.dfe_code, year)
    out_dir = ctx.la_dir(la, "school_census", year)
    path = out_dir / f"school_census_spring_{year}_cross_border_{la.dfe_code}.csv"
    table = []
    if rows:
        pid = np.array([t[0] for t in rows], dtype=np.int64)
        phase = np.array([t[2] for t in rows], dtype=object)
        sen = np.array([t[9] for t in rows], dtype=object)
        dep = np.array([t[8] for t in rows], dtype=float)
        school = np.empty(len(rows), dtype=object)
        urn = np.empty(len(rows), dtype=object)
        for ph in ("P", "S"):
            cands = mine[mine["phase"] == ph]
            if len(cands) == 0:
                cands = mine
            m = phase == ph
            k = (unit_hash(pid[m], 404 + (ph == "S")) * len(cands)).astype(int)
            school[m], urn[m] = cands["laestab"].to_numpy()[k], cands["urn"].to_numpy()[k]
        special = mine[mine["phase"] == "SP"]
        if len(special):
            # Many pupils with an EHC plan attend a special school.
            m = (sen == "E") & (unit_hash(pid, 505) < 0.4)
            school[m], urn[m] = special["laestab"].iloc[0], special["urn"].iloc[0]
        fsm = np.where(unit_hash(pid * 31 + year, 606) < conf["fsm_base"] * (0.4 + 1.5 * dep), "1", "0")
        enrol = np.where(unit_hash(pid, 707) < 0.97, "C", np.where(unit_hash(pid, 708) < 0.6, "M", "S"))
        for i, (p_id, nc, _ph, dob, sex, eth, pc, upn, _dep, s_) in enumerate(rows):
            table.append([school[i], urn[i], upn, pd.Timestamp(dob).strftime("%Y-%m-%d"), "F" if sex == "2" else "M",
                          eth, pc, fsm[i], s_, NC_LABELS[int(nc)], enrol[i], "SPR", cd.isoformat()])
            ctx.truth.add("school_census", year, la.dfe_code, "pupils", upn, int(p_id))
    rel = ctx.rel(path)
    _dirty_rows(ctx, la, year, rng, table, rel)
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\r\n")
    w.writerow(HEADER)
    w.writerows(table)
    data = text.getvalue().encode("utf-8")
    if ctx.dirt.file_hit(rng):
        data = b"\xef\xbb\xbf" + data
        ctx.faults.add(la=la.dfe_code, collection="school_census", year=year, path=rel, table="pupils",
                       rule="FILE_ENCODING", note="UTF-8 byte-order mark at the start of the file")
    return ctx.write_return(path, data, rng, la=la.dfe_code, collection="school_census", year=year,
                            table="pupils", resend_name=f"school_census_spring_{year}_cross_border_{la.dfe_code} (1).csv")


_ETH_VALID = None


def _dirty_rows(ctx: GenContext, la: LocalAuthority, year: int, rng, table: list[list], rel: str) -> None:
    if ctx.dirt.rate <= 0 or not table:
        return
    col = {c: i for i, c in enumerate(HEADER)}

    def add(row, column, original, injected, rule, note=""):
        ctx.faults.add(la=la.dfe_code, collection="school_census", year=year, path=rel, table="pupils", row=row,
                       locator=f"UPN {table[row - 1][col['UPN']]}" if column != "UPN" else "", column=column,
                       original=original, injected=injected, rule=rule, note=note)

    n = len(table)
    hits = {name: np.flatnonzero(rng.random(n) < ctx.dirt.rate * w)
            for name, w in (("sex", 1.0), ("eth", 0.5), ("dob", 0.5), ("upn", 0.7), ("pc", 0.3))}
    for i in hits["sex"]:
        v = table[i][col["Sex"]]
        table[i][col["Sex"]] = bad = [v.lower(), f" {v} ", f"{v.lower()} "][int(rng.integers(0, 3))]
        add(i + 1, "Sex", v, bad, "CODE_CASE")
    for i in hits["eth"]:
        v = table[i][col["Ethnicity"]]
        bad = ["WHITE", "Black African", "XXXX", "99"][int(rng.integers(0, 4))]
        table[i][col["Ethnicity"]] = bad
        add(i + 1, "Ethnicity", v, bad, "CODE_INVALID")
    for i in hits["dob"]:
        v = table[i][col["PersonBirthDate"]]
        d = date.fromisoformat(v)
        bad = [d.strftime("%d/%m/%Y"), d.strftime("%Y%m%d"), d.strftime("%d-%b-%Y")][int(rng.integers(0, 3))]
        table[i][col["PersonBirthDate"]] = bad
        add(i + 1, "PersonBirthDate", v, bad, "TYPE_DATE")
    for i in hits["upn"]:
        v = table[i][col["UPN"]]
        if not v:
            continue
        wrong = [c for c in "ABCDEFGHJKLMNPQRTUVWXYZ" if c != check_letter(v[1:])][int(rng.integers(0, 22))]
        table[i][col["UPN"]] = bad = wrong + v[1:]
        add(i + 1, "UPN", v, bad, "UPN_INVALID", note="wrong check letter")
    for i in hits["pc"]:
        v = table[i][col["HomePostcode"]]
        table[i][col["HomePostcode"]] = ""
        add(i + 1, "HomePostcode", v, "", "MANDATORY_MISSING")
