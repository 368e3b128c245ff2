"""SEND journeys: requests for EHC needs assessment, assessments, EHC plans, placements
and needs, simulated once for the whole region and window (SEN2's source of truth).

Who is drawn: people of the cohort aged 0-25, weighted by their latent `sen`
propensity (itself correlated with social-care `risk`, so SEN2 and CIN overlap the
way they do in real LAs). Plans follow the child: a child who moves to another LA of
the region has the plan ceased in the old LA (CeaseReason 5) and continued in the new
one (TransferLA, request outcome H).

Tables of `SendJourneys` (dates are `datetime.date`, None when not reached):

requests     request_id, person_id, la, received_date, request_source (1-5), rya (0/1),
             outcome (Y agreed / N refused / W withdrawn / H transferred-in stand-in),
             outcome_date, mediation, tribunal (0/1), transfer_from (LA code of a
             transferred-in plan, else None)
assessments  assessment_id, request_id, person_id, la, outcome (Y plan / N no plan / W),
             outcome_date, week20 (0/1: an exception to the 20-week limit applies),
             mediation, tribunal, other_mediation, other_tribunal (0/1)
plans        plan_id, request_id, person_id, la, start_date (issued), cease_date,
             cease_reason (1-9), transfer_from, plan_res (A/B/None), plan_wbp (A/T/S/None),
             pb, oa (0/1), dp (E/S/H/I/None), within_20_weeks (bool, issued <= 140 days
             after the request; None for transfers)
placements   placement_id, plan_id, person_id, la (of the plan), urn, ukprn, sen_setting,
             placement_rank (1), entry_date, leaving_date, sen_unit, resourced (0/1),
             res (A/B/None), wbp (A/T/S/None), school_la
needs        plan_id, person_id, sen_type, rank (1/2)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from cslake.schemas import collection_schema
from cslake.synth.core import rng_for, synth_conf, year_end, year_start
from cslake.synth.population import Population
from cslake.synth.schools import school_directory

SEN_TYPES = ["ASD", "SLCN", "SEMH", "MLD", "SLD", "PMLD", "SPLD", "HI", "VI", "MSI", "PD", "DS", "OTH"]
_SEN_TYPE_WEIGHTS = np.array([0.31, 0.20, 0.16, 0.08, 0.05, 0.02, 0.04, 0.02, 0.01, 0.005, 0.04, 0.01, 0.035])


@dataclass
class SendJourneys:
    requests: pd.DataFrame
    assessments: pd.DataFrame
    plans: pd.DataFrame
    placements: pd.DataFrame
    needs: pd.DataFrame


# ---------------------------------------------------------------------------
# Made-up names (stable per person, from invented syllables)
# ---------------------------------------------------------------------------

_SYL = np.array(["ka", "lo", "mi", "ren", "dor", "vel", "sa", "tin", "ber", "qua", "zel", "mor", "fen", "lir",
                 "tas", "pol", "nev", "dru", "sil", "bax", "ori", "pem", "yul", "cor", "ani", "jes", "wen", "ub"])
_FEM_END = np.array(["a", "ie", "elle", "ina", "ys", "eth"])
_MAS_END = np.array(["o", "an", "ic", "us", "ard", "en"])
_SUR_END = np.array(["ton", "by", "well", "son", "ard", "ley", "more", "field", "ock", "ham", "wick", "er"])


def _mix(ids: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of (id, salt): a stable pseudo-random integer per id, independent of order."""
    with np.errstate(over="ignore"):
        x = ids.astype(np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def unit_hash(ids, salt: int) -> np.ndarray:
    """A uniform [0, 1) per id and salt (same id, same value, wherever it is computed)."""
    return (_mix(np.asarray(ids, dtype=np.int64), salt) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def synthetic_names(person_ids, sex, salt: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(forenames, surnames): invented names, the same for a person in every file and year."""
    s = sum(ord(c) * (i + 1) for i, c in enumerate(salt)) + 11
    h = _mix(np.asarray(person_ids, dtype=np.int64), s)
    n_syl = np.uint64(len(_SYL))
    a = (h % n_syl).astype(int)
    b = ((h >> np.uint64(8)) % n_syl).astype(int)
    c = ((h >> np.uint64(16)) % n_syl).astype(int)
    d = ((h >> np.uint64(24)) % n_syl).astype(int)
    e = ((h >> np.uint64(32)) % np.uint64(6)).astype(int)
    f = ((h >> np.uint64(40)) % np.uint64(len(_SUR_END))).astype(int)
    female = np.asarray(sex).astype(str) == "2"
    ends = np.where(female, _FEM_END[e], _MAS_END[e])
    fore = np.char.capitalize(np.char.add(np.char.add(_SYL[a], _SYL[b]), ends).astype(str))
    sur = np.char.capitalize(np.char.add(np.char.add(_SYL[c], _SYL[d]), _SUR_END[f]).astype(str))
    return fore.astype(object), sur.astype(object)


def uln_of(person_ids) -> np.ndarray:
    """A made-up 10-digit Unique Learner Number per person (a bijection of the id)."""
    pid = np.asarray(person_ids, dtype=np.int64)
    return np.char.mod("%010d", 1_000_000_000 + (pid * 7_919 + 13) % 8_999_999_999).astype(object)


# ---------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------

def _days(td) -> pd.TimedeltaIndex:
    return pd.to_timedelta(np.asarray(td, dtype=np.int64), unit="D")


def _la_on(pop: Population, person_id: np.ndarray, when: pd.Series) -> np.ndarray:
    """LA of residence of each (person, date); None when not living in the region then."""
    q = pd.DataFrame({"i": np.arange(len(person_id)), "person_id": person_id, "when": when.to_numpy()})
    m = q.merge(pop.residence[["person_id", "la", "res_start", "res_end"]], on="person_id", how="left")
    ok = (m["res_start"] <= m["when"]) & (m["res_end"].isna() | (m["res_end"] >= m["when"]))
    m = m[ok].drop_duplicates("i")
    out = np.full(len(person_id), None, dtype=object)
    out[m["i"].to_numpy()] = m["la"].to_numpy()
    return out


def _decide(rng, received: pd.Series, conf: dict):
    """Request outcomes and their dates, then assessment outcomes (within 20 weeks or not)."""
    n = len(received)
    u = rng.random(n)
    p_yes = conf["request_to_assessment"]
    req_out = np.where(u < p_yes, "Y", np.where(u < p_yes + 0.21, "N", "W"))
    req_date = received + _days(rng.integers(28, 43, size=n) + (rng.random(n) < 0.08) * rng.integers(5, 40, size=n))
    u2 = rng.random(n)
    ass_out = np.where(u2 < conf["assessment_to_plan"], "Y", np.where(u2 < conf["assessment_to_plan"] + 0.08, "N", "W"))
    on_time = rng.random(n) < conf["plan_within_20_weeks"]
    dur = np.where(on_time, rng.integers(84, 141, size=n), 141 + rng.exponential(50, size=n).astype(int))
    ass_date = received + _days(dur)
    week20 = (~on_time) & (rng.random(n) < conf["week20_exception_share"])
    return req_out, req_date, ass_out, ass_date, dur <= 140, week20


def simulate_send(pop: Population, seed: int, years: list[int]) -> SendJourneys:
    conf = synth_conf()["send"]
    rng = rng_for(seed, "send")
    people = pop.people
    last = pd.Timestamp(year_end(years[-1]))
    first = pd.Timestamp(year_start(years[0]))
    n = len(people)
    weight = people["sen"].to_numpy() / people["sen"].mean()
    p_ever = np.clip(conf["ever_request_share"] * weight ** 1.3 / np.mean(weight ** 1.3), 0, 0.9)
    chosen = rng.random(n) < p_ever
    cand = people[chosen].reset_index(drop=True)
    m = len(cand)
    # Age at first request: early years and primary dominate, some at transfer and post-16.
    band = rng.choice(4, size=m, p=[0.42, 0.36, 0.16, 0.06])
    lo = np.array([2.0, 6.0, 11.0, 16.0])[band]
    hi = np.array([6.0, 11.0, 16.0, 22.0])[band]
    age_days = ((lo + (hi - lo) * rng.random(m)) * 365.25).astype(int)
    received = cand["dob"] + _days(age_days)
    keep = (received <= last).to_numpy()
    first_req = pd.DataFrame({"person_id": cand["person_id"].to_numpy()[keep], "received_date": received[keep]})

    # One round of decisions, then some refused requests come back 6-18 months later.
    r1 = _round(rng, first_req, conf)
    again = r1[(r1["outcome"] == "N").to_numpy() & (rng.random(len(r1)) < conf["second_request_after_refusal"])]
    second = pd.DataFrame({"person_id": again["person_id"].to_numpy(),
                           "received_date": again["received_date"] + _days(rng.integers(180, 540, size=len(again)))})
    second = second[second["received_date"] <= last]
    r2 = _round(rng, second, conf)
    req = pd.concat([r1, r2], ignore_index=True)
    req["la"] = _la_on(pop, req["person_id"].to_numpy(), req["received_date"])
    req = req[req["la"].notna()].sort_values(["person_id", "received_date"], kind="stable").reset_index(drop=True)
    req["request_id"] = np.arange(1, len(req) + 1)
    nr = len(req)
    dob = req["person_id"].map(people.set_index("person_id")["dob"])
    age_at_req = ((req["received_date"] - dob).dt.days / 365.25).to_numpy()
    req["request_source"] = rng.choice(np.array(["1", "2", "3", "4", "5"]), size=nr, p=[0.45, 0.35, 0.1, 0.06, 0.04])
    req["rya"] = ((age_at_req >= 16) & (req["request_source"] == "1") & (rng.random(nr) < 0.5)).astype(int)
    req["mediation"] = ((req["outcome"] == "N") & (rng.random(nr) < 0.15)).astype(int)
    req["tribunal"] = ((req["outcome"] == "N") & (rng.random(nr) < 0.05)).astype(int)
    req["transfer_from"] = None

    # Assessments for agreed requests.
    ag = req[req["outcome"] == "Y"]
    ass = pd.DataFrame({"request_id": ag["request_id"].to_numpy(), "person_id": ag["person_id"].to_numpy(),
                        "la": ag["la"].to_numpy(), "outcome": ag["ass_outcome"].to_numpy(),
                        "outcome_date": ag["ass_date"].to_numpy(), "week20": ag["week20"].astype(int).to_numpy(),
                        "within_20_weeks": ag["within20"].to_numpy(), "received_date": ag["received_date"].to_numpy()})
    na = len(ass)
    ass["assessment_id"] = np.arange(1, na + 1)
    ass["week20"] = np.where(ass["outcome"] == "Y", ass["week20"], 0)
    ass["mediation"] = ((ass["outcome"] == "N") & (rng.random(na) < 0.12)).astype(int)
    ass["tribunal"] = ((ass["outcome"] == "N") & (rng.random(na) < 0.06)).astype(int)
    ass["other_mediation"] = (rng.random(na) < 0.03).astype(int)
    ass["other_tribunal"] = (rng.random(na) < 0.02).astype(int)

    plans = _plans(rng, pop, ass[ass["outcome"] == "Y"], conf, last)
    plans, transfers = _transfers(rng, pop, plans, last)
    req = pd.concat([req, transfers["requests"]], ignore_index=True)
    plans = pd.concat([plans, transfers["plans"]], ignore_index=True).sort_values("plan_id").reset_index(drop=True)
    # Plans that ended before the window are history nobody reports any more.
    plans = plans[plans["cease_date"].isna() | (plans["cease_date"] >= first - pd.Timedelta(days=366))]

    schools = school_directory(pop.region)
    placements = _placements(rng, pop, plans, schools)
    needs = _needs(rng, pop, plans)

    req_out = req[["request_id", "person_id", "la", "received_date", "request_source", "rya", "outcome",
                   "outcome_date", "mediation", "tribunal", "transfer_from"]].copy()
    ass_out = ass[["assessment_id", "request_id", "person_id", "la", "outcome", "outcome_date", "week20",
                   "mediation", "tribunal", "other_mediation", "other_tribunal"]].copy()
    return SendJourneys(
        requests=_as_dates(req_out, ["received_date", "outcome_date"]),
        assessments=_as_dates(ass_out, ["outcome_date"]),
        plans=_as_dates(plans.reset_index(drop=True), ["start_date", "cease_date"]),
        placements=_as_dates(placements, ["entry_date", "leaving_date"]),
        needs=needs,
    )


def _round(rng, reqs: pd.DataFrame, conf: dict) -> pd.DataFrame:
    reqs = reqs.reset_index(drop=True).copy()
    out, out_date, ass_out, ass_date, within20, week20 = _decide(rng, reqs["received_date"], conf)
    reqs["outcome"] = out
    reqs["outcome_date"] = out_date
    reqs["ass_outcome"] = ass_out
    reqs["ass_date"] = ass_date
    reqs["within20"] = within20
    reqs["week20"] = week20
    return reqs


def _plans(rng, pop: Population, issued: pd.DataFrame, conf: dict, last: pd.Timestamp) -> pd.DataFrame:
    people = pop.people.set_index("person_id")
    k = len(issued)
    start = pd.to_datetime(issued["outcome_date"]).reset_index(drop=True)
    dob = issued["person_id"].map(people["dob"]).reset_index(drop=True)
    # Age the plan would end at: most at the end of school or college, a few run to 25.
    end_age = rng.choice([16.9, 18.9, 19.9, 21.9, 24.9], size=k, p=[0.30, 0.30, 0.18, 0.12, 0.10])
    by_age = dob + _days((end_age * 365.25).astype(int))
    early = start + _days(np.minimum(rng.exponential(1 / conf["annual_cease_rate"], size=k), 40) * 365.25)
    cease = pd.Series(np.where(early < by_age, early, by_age)).astype("datetime64[ns]")
    reason = np.where(early < by_age, rng.choice(["2", "6", "7", "8", "9"], size=k, p=[0.7, 0.08, 0.1, 0.02, 0.1]),
                      np.where(end_age >= 24, "1", rng.choice(["2", "3", "4", "6", "9"], size=k,
                                                              p=[0.35, 0.15, 0.2, 0.2, 0.1])))
    cease = cease.where(cease > start, start + pd.Timedelta(days=90))
    open_ = cease > last
    age_start = ((start - dob).dt.days / 365.25).to_numpy()
    return pd.DataFrame({
        "plan_id": np.arange(1, k + 1), "request_id": issued["request_id"].to_numpy(),
        "person_id": issued["person_id"].to_numpy(), "la": issued["la"].to_numpy(), "start_date": start,
        "cease_date": cease.where(~open_, pd.NaT), "cease_reason": np.where(open_, None, reason),
        "transfer_from": None,
        "plan_res": np.where(rng.random(k) < 0.03, rng.choice(["A", "B"], size=k), None),
        "plan_wbp": np.where((age_start >= 16) & (rng.random(k) < 0.05), rng.choice(["A", "T", "S"], size=k), None),
        "pb": (rng.random(k) < 0.10).astype(int), "oa": (rng.random(k) < 0.05).astype(int),
        "dp": np.where(rng.random(k) < 0.07, rng.choice(["E", "S", "H", "I"], size=k), None),
        "within_20_weeks": issued["within_20_weeks"].to_numpy(),
    })


def _transfers(rng, pop: Population, plans: pd.DataFrame, last: pd.Timestamp):
    """A plan open when its child moves LA is ceased (reason 5) and continued by the new LA."""
    moves = pop.residence[pop.residence["res_start"] > pop.residence.groupby("person_id")["res_start"].transform("min")]
    mv = plans.merge(moves[["person_id", "la", "res_start"]].rename(columns={"la": "new_la"}), on="person_id")
    mv = mv[(mv["res_start"] > mv["start_date"]) & (mv["cease_date"].isna() | (mv["cease_date"] > mv["res_start"]))
            & (mv["new_la"] != mv["la"])]
    mv = mv.drop_duplicates("plan_id")
    plans = plans.copy()
    idx = plans["plan_id"].isin(mv["plan_id"])
    move_date = plans["plan_id"].map(mv.set_index("plan_id")["res_start"])
    plans.loc[idx, "cease_date"] = move_date[idx]
    plans.loc[idx, "cease_reason"] = "5"
    t = len(mv)
    base_req = int(plans["request_id"].max() or 0) + 10_000_000
    new_req = pd.DataFrame({
        "request_id": base_req + np.arange(t), "person_id": mv["person_id"].to_numpy(), "la": mv["new_la"].to_numpy(),
        "received_date": mv["res_start"].to_numpy(), "request_source": "5", "rya": 0, "outcome": "H",
        "outcome_date": pd.NaT, "mediation": 0, "tribunal": 0, "transfer_from": mv["la"].to_numpy(),
    })
    new_plan = mv[["plan_res", "plan_wbp", "pb", "oa", "dp", "person_id"]].copy()
    new_plan["plan_id"] = int(plans["plan_id"].max()) + 1 + np.arange(t)
    new_plan["request_id"] = new_req["request_id"].to_numpy()
    new_plan["la"] = mv["new_la"].to_numpy()
    new_plan["start_date"] = (mv["res_start"] + _days(rng.integers(14, 42, size=t))).to_numpy()
    new_plan["cease_date"] = mv["cease_date"].to_numpy()
    new_plan["cease_reason"] = mv["cease_reason"].to_numpy()
    new_plan["transfer_from"] = mv["la"].to_numpy()
    new_plan["within_20_weeks"] = None
    bad = new_plan["cease_date"].notna() & (new_plan["cease_date"] <= new_plan["start_date"])
    new_plan.loc[bad, "cease_date"] = new_plan.loc[bad, "start_date"] + pd.Timedelta(days=60)
    new_plan = new_plan[new_plan["start_date"] <= last]
    new_req = new_req[new_req["request_id"].isin(new_plan["request_id"])]
    return plans, {"requests": new_req, "plans": new_plan[plans.columns]}


def _placements(rng, pop: Population, plans: pd.DataFrame, schools: pd.DataFrame) -> pd.DataFrame:
    """One placement per school phase the plan spans (early years, primary, secondary, post-16)."""
    people = pop.people.set_index("person_id")
    entry = plans["person_id"].map(people["upn_date"])  # September of reception
    phase_starts = [entry - pd.DateOffset(years=3), entry, entry + pd.DateOffset(years=7), entry + pd.DateOffset(years=12)]
    phase_ends = phase_starts[1:] + [entry + pd.DateOffset(years=22)]
    frames = []
    far = pd.Timestamp("2100-01-01")
    cease = plans["cease_date"].fillna(far)
    for ph, (ps, pe) in enumerate(zip(phase_starts, phase_ends)):
        s = pd.concat([plans["start_date"], ps], axis=1).max(axis=1)
        e = pd.concat([cease, pe - pd.Timedelta(days=1)], axis=1).min(axis=1)
        ok = (s < e).to_numpy()
        f = pd.DataFrame({"plan_id": plans["plan_id"].to_numpy()[ok], "person_id": plans["person_id"].to_numpy()[ok],
                          "la": plans["la"].to_numpy()[ok], "phase": ph, "entry_date": s[ok].to_numpy(),
                          "leaving_date": e[ok].to_numpy(), "plan_ceases": (cease.to_numpy()[ok] <= e[ok].to_numpy())})
        frames.append(f)
    pl = pd.concat(frames, ignore_index=True).sort_values(["plan_id", "entry_date"], kind="stable").reset_index(drop=True)
    pl["leaving_date"] = pl["leaving_date"].where(pl["leaving_date"] < far - pd.Timedelta(days=2), pd.NaT)
    # A placement ending because the plan ceased is reported by the cease date, not a leaving date.
    pl.loc[pl["plan_ceases"], "leaving_date"] = pd.NaT
    k = len(pl)
    u = rng.random(k)
    kind = np.empty(k, dtype=object)
    ph = pl["phase"].to_numpy()
    kind[ph == 0] = np.where(u[ph == 0] < 0.55, "EYP", "P")
    kind[ph == 1] = np.where(u[ph == 1] < 0.58, "P", np.where(u[ph == 1] < 0.90, "SP",
                             np.where(u[ph == 1] < 0.95, "OPA", np.where(u[ph == 1] < 0.98, "EHE", "OLA"))))
    kind[ph == 2] = np.where(u[ph == 2] < 0.45, "S", np.where(u[ph == 2] < 0.88, "SP",
                             np.where(u[ph == 2] < 0.93, "OPA", np.where(u[ph == 2] < 0.97, "EHE", "NIEO"))))
    kind[ph == 3] = np.where(u[ph == 3] < 0.55, "FE", np.where(u[ph == 3] < 0.78, "SP",
                             np.where(u[ph == 3] < 0.86, "NEET", np.where(u[ph == 3] < 0.91, "WBP", "OTH"))))
    # Most go to a setting in their own LA; a quarter cross the border.
    la_codes = np.array(sorted(schools["la"].unique()), dtype=object)
    school_la = np.where(rng.random(k) < 0.25, rng.choice(la_codes, size=k), pl["la"].to_numpy())
    pl["school_la"] = school_la
    pl["urn"], pl["ukprn"], pl["sen_setting"] = None, None, None
    pick = rng.random(k)
    for phase_code in ("P", "S", "SP"):
        sub = schools[schools["phase"] == phase_code]
        groups = {la: g["urn"].to_numpy() for la, g in sub.groupby("la")}
        m = kind == phase_code
        pl.loc[m, "urn"] = [groups[la][int(p * len(groups[la]))] if la in groups else None
                            for la, p in zip(school_la[m], pick[m])]
    fe = kind == "FE"
    pl.loc[fe, "ukprn"] = [f"{10_000_000 + int(la) * 10 + int(p * 3):08d}" for la, p in zip(school_la[fe], pick[fe])]
    other = np.isin(kind, ["EYP", "OPA", "EHE", "OLA", "NIEO", "NEET", "OTH"])
    pl.loc[other, "sen_setting"] = kind[other]
    wbp = kind == "WBP"
    pl.loc[wbp, "ukprn"] = [f"{10_000_000 + int(la) * 10 + 5:08d}" for la in school_la[wbp]]
    no_school = pl["urn"].isna() & pl["ukprn"].isna() & pl["sen_setting"].isna()
    pl.loc[no_school, "sen_setting"] = "OTH"
    pl["placement_rank"] = "1"
    mainstream = np.isin(kind, ["P", "S"])
    pl["sen_unit"] = np.where(mainstream, (rng.random(k) < 0.08).astype(int), 0)
    pl["resourced"] = np.where(mainstream, (rng.random(k) < 0.10).astype(int), 0)
    pl["res"] = np.where((kind == "SP") & (rng.random(k) < 0.06), rng.choice(["A", "B"], size=k), None)
    pl["wbp"] = np.where(wbp, rng.choice(["A", "T", "S"], size=k, p=[0.5, 0.1, 0.4]), None)
    pl["placement_id"] = np.arange(1, k + 1)
    return pl[["placement_id", "plan_id", "person_id", "la", "urn", "ukprn", "sen_setting", "placement_rank",
               "entry_date", "leaving_date", "sen_unit", "resourced", "res", "wbp", "school_la"]]


def _needs(rng, pop: Population, plans: pd.DataFrame) -> pd.DataFrame:
    """Primary need drawn once per person (a transferred plan keeps it), a second need for some."""
    persons = np.unique(plans["person_id"].to_numpy())
    sex = pop.people.set_index("person_id")["sex"].reindex(persons).to_numpy()
    k = len(persons)
    w = np.tile(_SEN_TYPE_WEIGHTS, (k, 1))
    w[sex == "1", 0] *= 1.6  # ASD is diagnosed far more in boys
    w /= w.sum(axis=1, keepdims=True)
    cum = w.cumsum(axis=1)
    u = rng.random(k)[:, None]
    primary = np.array(SEN_TYPES, dtype=object)[(u > cum).sum(axis=1)]
    sec_idx = rng.integers(0, len(SEN_TYPES), size=k)
    secondary = np.array(SEN_TYPES, dtype=object)[sec_idx]
    has_sec = (rng.random(k) < 0.3) & (secondary != primary)
    by_person = pd.DataFrame({"person_id": persons, "p": primary, "s": np.where(has_sec, secondary, None)})
    m = plans[["plan_id", "person_id"]].merge(by_person, on="person_id")
    first = m[["plan_id", "person_id"]].assign(sen_type=m["p"], rank="1")
    second = m[m["s"].notna()][["plan_id", "person_id"]].assign(sen_type=m["s"][m["s"].notna()], rank="2")
    return pd.concat([first, second], ignore_index=True).sort_values(["plan_id", "rank"], kind="stable").reset_index(drop=True)


def _as_dates(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    df = df.copy()
    for c in cols:
        s = pd.to_datetime(df[c])
        df[c] = np.array([None if pd.isna(v) else v.date() for v in s], dtype=object)
    return df


def census_date(year: int) -> date:
    """SEN2 / school census day of collection year `year` (conf reference_date, January)."""
    ref = collection_schema("sen2", max(year, 2023)).meta.get("reference_date", "01-18")
    month, day = (int(x) for x in str(ref).split("-"))
    return date(year, month, day)
