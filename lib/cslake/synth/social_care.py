"""The social-care simulation: every child's journey through children's services.

contact → referral → assessment → (close | CIN plan | S47 → ICPC → CP plan) → care
(SSDA903 episodes, placements, reviews, missing, adoption, leaving care) → closure,
with re-referrals and repeat plans. Who is referred is drawn from the population by
latent `risk` and age, so ethnic disproportionality and the age peaks (under-1s,
adolescents) emerge rather than being painted on. Events belong to the LA the child
lives in on the referral date; children in care stay with the LA that took them in.

Everything is simulated over the collection years plus a year of history (so the first
census has open episodes and previous plans), and care journeys over a longer history
(so the first year has long-stay children and care leavers). Dates after the window
end are cut: an episode still open then has end None.

The output is the `SocialCareEvents` contract of cslake.synth.events; the writers
(CIN, SSDA903, Annex A, RIIA) only select from it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from cslake.synth.core import rng_for, synth_conf, year_end, year_start
from cslake.synth.events import EVENT_COLUMNS, SocialCareEvents
from cslake.synth.population import Population

DAY = np.timedelta64(1, "D")

# TODO(schemas): codes whose validity does not change with the year are listed here;
# the year-varying ones (PLACE, ReferralSource 5D, ReasonForClosure RC9, factor 24A)
# follow conf/collections via `collection_schema` where the rule is stated below.
CODES = {
    # ReferralSource with rough national shares (police and schools lead).
    "referral_source": {"1A": 0.03, "1B": 0.01, "1C": 0.01, "1D": 0.01, "2A": 0.19, "2B": 0.02,
                        "3A": 0.03, "3B": 0.02, "3C": 0.01, "3D": 0.04, "3E": 0.02, "3F": 0.03,
                        "4": 0.02, "5A": 0.08, "5B": 0.03, "5C": 0.03, "5D": 0.03, "6": 0.29,
                        "7": 0.02, "8": 0.03, "9": 0.02, "10": 0.01},
    "primary_need": {"N1": 0.57, "N2": 0.03, "N3": 0.02, "N4": 0.08, "N5": 0.14, "N6": 0.02,
                     "N7": 0.003, "N8": 0.04, "N9": 0.08, "N0": 0.007},
    "category": {"NEG": 0.48, "EMO": 0.37, "PHY": 0.07, "SAB": 0.04, "MUL": 0.04},
    "contact_source": {"Police": 0.30, "School": 0.20, "Health": 0.15, "Family member": 0.08,
                       "Self": 0.02, "LA services": 0.10, "Anonymous": 0.03, "Housing": 0.02,
                       "Other legal agency": 0.02, "Early help": 0.04, "Other": 0.04},
    "eh_organisation": {"Early Help Hub": 0.35, "School": 0.25, "Health visiting": 0.12,
                        "Family hub": 0.15, "Voluntary sector": 0.08, "Youth service": 0.05},
    "disability": {"LD": 0.25, "AUT": 0.25, "COMM": 0.15, "BEH": 0.12, "MOB": 0.06, "HAND": 0.02,
                   "PC": 0.04, "INC": 0.02, "HEAR": 0.03, "VIS": 0.03, "CON": 0.01, "DDA": 0.02},
    "review_code": ["PN1", "PN2", "PN3", "PN4", "PN5", "PN6", "PN7"],
    "review_code_p": [0.35, 0.25, 0.12, 0.08, 0.10, 0.05, 0.05],
    "reason_place_change": {"CARPL": 0.40, "CREQB": 0.14, "CREQO": 0.08, "CHILD": 0.08, "LAREQ": 0.08,
                            "CLOSE": 0.05, "ALLEG": 0.03, "STAND": 0.03, "APPRR": 0.02, "CUSTOD": 0.01,
                            "OTHER": 0.08},
    # SW_REASON, DfE's code list (903 from 2024, rule SW13STG1): the reason for the change of
    # social worker that began the episode.
    "sw_reason": {"LEFTRL": 0.34, "MANAGE": 0.20, "TSPROC": 0.14, "ORGRST": 0.08, "FCONTA": 0.08,
                  "ABSENC": 0.06, "CHCHAN": 0.03, "PCCHAN": 0.02, "OTHERS": 0.05},
    "teams": ["Assessment Team 1", "Assessment Team 2", "Assessment Team 3", "Child in Need Team",
              "Child Protection Team", "Children in Care Team", "Adolescent Service", "Disabled Children's Team"],
}

# Factor topics with base prevalence per assessment, split by whom they concern.
_FACTORS_ALL = [("1B", .09), ("1A", .01), ("1C", .01), ("2B", .09), ("2A", .02), ("2C", .01),
                ("3A", .12), ("3B", .18), ("3C", .03), ("4B", .22), ("4A", .06), ("4C", .02),
                ("5B", .03), ("5A", .03), ("6B", .03), ("6A", .03), ("7A", .01), ("8E", .002),
                ("16A", .09), ("17A", .10), ("18B", .02), ("18C", .05), ("19B", .01), ("19C", .02),
                ("20", .06), ("22A", .002), ("23A", .002)]
_FACTORS_ADOLESCENT = [("10A", .10), ("11A", .05), ("13A", .05), ("14A", .05), ("15A", .07),
                       ("24A", .07), ("12A", .01)]

# Placement codes by age band: (code, weight). H5/P2 are replaced by K3 from 2025 and
# Z1 by Z11-Z14 from 2026 (conf/collections/ssda903 diffs), see `_place_valid`.
_PLACE_BY_AGE = {
    "infant": [("U4", .35), ("U6", .25), ("U1", .12), ("U3", .05), ("P1", .06), ("R3", .05), ("T1", .02),
               ("U5", .10)],
    "child": [("U4", .30), ("U6", .20), ("U1", .15), ("U3", .06), ("U5", .10), ("P1", .07), ("K2", .07),
              ("S1", .02), ("T2", .01), ("Z1", .02)],
    "teen": [("U4", .18), ("U6", .20), ("U1", .05), ("U5", .07), ("K2", .22), ("H5", .14), ("P1", .04),
             ("P2", .03), ("S1", .02), ("K1", .01), ("R5", .01), ("Z1", .03)],
}
_PROVIDERS = {
    "U1": [("PR1", .9), ("PR2", .1)], "U2": [("PR1", .9), ("PR2", .1)], "U3": [("PR1", .9), ("PR2", .1)],
    "U4": [("PR1", .55), ("PR4", .40), ("PR2", .05)], "U5": [("PR1", .3), ("PR4", .65), ("PR5", .05)],
    "U6": [("PR1", .3), ("PR4", .65), ("PR5", .05)], "K1": [("PR1", .5), ("PR2", .3), ("PR3", .2)],
    "K2": [("PR4", .70), ("PR1", .20), ("PR5", .10)], "K3": [("PR4", .6), ("PR5", .25), ("PR1", .15)],
    "H5": [("PR4", .6), ("PR5", .25), ("PR1", .15)], "P1": [("PR0", 1.0)], "P2": [("PR1", .6), ("PR4", .4)],
    "P3": [("PR4", 1.0)], "R1": [("PR4", 1.0)], "R2": [("PR3", 1.0)], "R3": [("PR4", .6), ("PR1", .4)],
    "R5": [("PR3", 1.0)], "S1": [("PR4", .6), ("PR5", .3), ("PR1", .1)],
    "A3": [("PR1", .8), ("PR2", .1), ("PR5", .1)], "A4": [("PR1", .8), ("PR2", .1), ("PR5", .1)],
    "A5": [("PR1", .6), ("PR2", .2), ("PR5", .2)], "A6": [("PR1", .6), ("PR2", .2), ("PR5", .2)],
}
_OFSTED_REGISTERED = {"K1", "K2", "K3", "U4", "U5", "U6", "S1"}
_WORKER_FIRST = ["Sam", "Alex", "Priya", "Tom", "Aisha", "Grace", "Daniel", "Fatima", "Chloe", "Kwame", "Laura",
                 "Marek", "Nadia", "Oliver", "Ruth", "Sana", "Tunde", "Yasmin", "Zoe", "Ben", "Hannah", "Imran",
                 "Joy", "Kerry", "Leon", "Maya", "Nia", "Owen", "Rosa", "Sean"]
_WORKER_LAST = ["Adebayo", "Brown", "Clarke", "Da Silva", "Evans", "Fernandes", "Green", "Hussain", "Ibrahim",
                "Jones", "Khan", "Lewis", "Mensah", "Nowak", "Okafor", "Patel", "Quinn", "Rahman", "Smith",
                "Taylor", "Usman", "Walker", "Young", "Ahmed", "Campbell", "Murphy", "Osei", "Singh", "Wright"]


def collection_year(d: date) -> int:
    """The collection year (ending 31 March) a date falls in."""
    return d.year + (1 if d.month >= 4 else 0)


def _cy(days: np.ndarray) -> np.ndarray:
    """Vectorised collection year of datetime64[D] values."""
    y = days.astype("datetime64[Y]").astype(int) + 1970
    m = days.astype("datetime64[M]").astype(int) % 12 + 1
    return y + (m >= 4)


def england_holidays(first_year: int, last_year: int) -> set[date]:
    import holidays as hol
    return set(hol.UK(subdiv="ENG", years=range(first_year, last_year + 1)).keys())


def _pick(rng: np.random.Generator, weights: dict | list, n: int) -> np.ndarray:
    if isinstance(weights, dict):
        keys, p = list(weights), np.array(list(weights.values()), dtype=float)
    else:
        keys, p = [k for k, _ in weights], np.array([w for _, w in weights], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def _lognormal_days(rng, median: float, sigma: float, n: int, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.rint(rng.lognormal(np.log(median), sigma, size=n)), lo, hi).astype(np.int64)


def _d64(d: date) -> np.datetime64:
    return np.datetime64(d, "D")


def _to_obj(arr) -> np.ndarray:
    """datetime64[D] → datetime.date objects with None for NaT (the events contract)."""
    return np.asarray(arr, dtype="datetime64[D]").astype(object)


@dataclass
class _Ctx:
    pop: Population
    seed: int
    conf: dict
    first: np.datetime64       # start of simulated (full) history
    window_start: np.datetime64
    window_end: np.datetime64
    hol: np.ndarray            # bank holidays as datetime64[D]
    # person arrays by position (person_id → pos via `pos`)
    pid: np.ndarray
    dob: np.ndarray
    sex: np.ndarray
    risk: np.ndarray
    eth_group: np.ndarray
    la1: np.ndarray
    la2: np.ndarray
    move: np.ndarray
    pc1: np.ndarray
    pc2: np.ndarray

    def bus(self, start: np.ndarray, n) -> np.ndarray:
        return np.busday_offset(start, n, roll="backward", holidays=self.hol)

    def la_on(self, pos: np.ndarray, when: np.ndarray) -> np.ndarray:
        moved = ~np.isnat(self.move[pos]) & (self.move[pos] <= when)
        return np.where(moved, self.la2[pos], self.la1[pos])

    def postcode_on(self, pos: np.ndarray, when: np.ndarray) -> np.ndarray:
        moved = ~np.isnat(self.move[pos]) & (self.move[pos] <= when)
        return np.where(moved, self.pc2[pos], self.pc1[pos])


def simulate_social_care(pop: Population, seed: int, years: list[int],
                         holidays: set[date] | None = None) -> SocialCareEvents:
    """Simulate every social-care journey of `pop` over `years` (plus history).

    Volumes follow conf/synth.yaml `social_care` × `pop.scale`. Same inputs → same frames.
    """
    years = sorted(years)
    conf = synth_conf()["social_care"]
    hist = int(conf["history_years"])
    first = _d64(year_start(years[0] - hist))
    w_end = _d64(year_end(years[-1]))
    if holidays is None:
        holidays = england_holidays(years[0] - hist - int(conf["care_history_years"]) - 1, years[-1] + 4)
    ctx = _make_ctx(pop, seed, conf, first, _d64(year_start(years[0])), w_end, holidays)

    cand = _candidates(ctx, years, hist)
    traj = _trajectories(ctx, cand)
    care = _care_journeys(ctx, traj)
    kept = _resolve_overlaps(ctx, traj, care)
    return _build_tables(ctx, traj, care, kept, years)


# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

def _make_ctx(pop, seed, conf, first, w_start, w_end, holidays) -> _Ctx:
    people = pop.people
    n = len(people)
    res = pop.residence.sort_values(["person_id", "res_start"], kind="stable")
    firsts = res.drop_duplicates("person_id", keep="first").set_index("person_id")
    seconds = res[res.duplicated("person_id", keep="first")].drop_duplicates("person_id").set_index("person_id")
    pid = people["person_id"].to_numpy(np.int64)
    la1 = firsts["la"].reindex(pid).to_numpy(object)
    pc1 = firsts["postcode"].reindex(pid).to_numpy(object)
    la2 = seconds["la"].reindex(pid).to_numpy(object)
    pc2 = seconds["postcode"].reindex(pid).to_numpy(object)
    move = seconds["res_start"].reindex(pid).to_numpy("datetime64[D]")
    hol = np.array(sorted(holidays), dtype="datetime64[D]")
    return _Ctx(pop=pop, seed=seed, conf=conf, first=first, window_start=w_start, window_end=w_end, hol=hol,
                pid=pid, dob=people["dob"].to_numpy("datetime64[D]"), sex=people["sex"].to_numpy(object),
                risk=np.minimum(people["risk"].to_numpy(float), 15.0),
                eth_group=people["eth_group"].to_numpy(object), la1=la1, la2=la2, move=move,
                pc1=pc1, pc2=pc2) if n else None


def _volume(ctx: _Ctx) -> float:
    """Volumes in conf are for a region of `volumes_for_children` children at scale 1."""
    las = synth_conf()["las"]
    children = sum(las[c]["children"] for c in ctx.pop.region.la_codes)
    return ctx.pop.scale * children / float(ctx.conf["volumes_for_children"])


def _age_weight(age: np.ndarray) -> np.ndarray:
    """Referral propensity by age: unborn and infants peak, then adolescents."""
    return np.select(
        [age < 0, age < 1, age < 5, age < 10, age < 13, age < 16, age < 18],
        [0.7, 1.7, 0.95, 0.85, 1.0, 1.35, 1.1], default=0.0)


def _care_age_weight(age: np.ndarray) -> np.ndarray:
    return np.select(
        [age < 0, age < 1, age < 5, age < 10, age < 13, age < 16, age < 18],
        [0.8, 3.0, 1.0, 0.8, 1.0, 1.7, 1.2], default=0.0)


# ---------------------------------------------------------------------------
# Candidate referrals
# ---------------------------------------------------------------------------

KIND_NORMAL, KIND_HISTORY, KIND_UASC = 0, 1, 2


def _candidates(ctx: _Ctx, years: list[int], hist: int) -> pd.DataFrame:
    conf, scale = ctx.conf, _volume(ctx)
    frames = []
    # Full flow: history year(s) and the window.
    for y in range(years[0] - hist, years[-1] + 1):
        rng = rng_for(ctx.seed, "sc-referrals", y)
        ys, ye = _d64(year_start(y)), _d64(year_end(y))
        mid = ys + 182
        age = (mid - ctx.dob).astype(int) / 365.25
        w = ctx.risk * _age_weight(age)
        target = conf["referrals_per_year"] * scale * conf["referral_oversample"]
        lam = target * w / max(w.sum(), 1e-9)
        counts = rng.poisson(lam)
        pos = np.repeat(np.arange(len(w)), counts)
        span = int((ye - ys).astype(int)) + 1
        when = ys + rng.integers(0, span, size=len(pos))
        frames.append(_fix_dates(ctx, rng, pos, when, ys, ye, KIND_NORMAL))
        # Families come back: a follow-up referral a few months on (it becomes a contact
        # instead when the first case is still open).
        again = rng.random(len(pos)) < conf["re_referral"]
        later = when[again] + rng.integers(45, 330, size=int(again.sum()))
        frames.append(_fix_dates(ctx, rng, pos[again], later, ys, ye + 330, KIND_NORMAL))
    # Care-only history: long stays and future care leavers entered before the history.
    for y in range(years[0] - hist - int(conf["care_history_years"]), years[0] - hist):
        rng = rng_for(ctx.seed, "sc-care-history", y)
        ys, ye = _d64(year_start(y)), _d64(year_end(y))
        age = (ys + 182 - ctx.dob).astype(int) / 365.25
        w = ctx.risk * _care_age_weight(age)
        if w.sum() <= 0:
            continue
        k = rng.poisson(conf["care_entries_per_year"] * scale)
        pos = rng.choice(len(w), size=k, p=w / w.sum())
        when = ys + rng.integers(0, int((ye - ys).astype(int)) + 1, size=k)
        frames.append(_fix_dates(ctx, rng, pos, when, ys, ye, KIND_HISTORY))
    # Unaccompanied asylum-seeking children arrive at 14-17, without any earlier involvement.
    for y in range(years[0] - hist - 4, years[-1] + 1):
        rng = rng_for(ctx.seed, "sc-uasc", y)
        ys, ye = _d64(year_start(y)), _d64(year_end(y))
        age = (ys + 182 - ctx.dob).astype(int) / 365.25
        eligible = (age >= 14.2) & (age < 17.6)
        w = eligible * np.where(ctx.sex == "1", 9.0, 1.0) * np.vectorize(
            {"W": 0.3, "M": 0.2, "A": 1.0, "B": 1.5, "O": 3.0}.get)(ctx.eth_group)
        k = rng.poisson(conf["uasc_arrivals_per_year"] * scale)
        if w.sum() <= 0 or k == 0:
            continue
        pos = rng.choice(len(w), size=k, p=w / w.sum())
        when = ys + rng.integers(0, int((ye - ys).astype(int)) + 1, size=k)
        when = np.maximum(when, ctx.dob[pos] + 5114)  # 14th birthday
        frames.append(_fix_dates(ctx, rng, pos, when, ys, ye, KIND_UASC))
    cand = pd.concat(frames, ignore_index=True)
    return cand


def _fix_dates(ctx, rng, pos, when, ys, ye, kind) -> pd.DataFrame:
    """Pull each referral into the child's life: not before ~5 months pre-birth (unborn
    referrals), not on or after the 18th birthday; drop those that cannot fit the year."""
    dob = ctx.dob[pos]
    earliest = dob - rng.integers(0, 150, size=len(pos))
    if kind != KIND_NORMAL:
        earliest = dob + rng.integers(0, 10, size=len(pos))  # care starts after birth
    when = np.maximum(when, earliest)
    eighteen = dob + 6574
    ok = (when <= ye) & (when >= ys) & (when < eighteen - 30)
    return pd.DataFrame({"pos": pos[ok], "referral": when[ok], "kind": kind})


# ---------------------------------------------------------------------------
# Trajectories (vectorised): what happens after each referral
# ---------------------------------------------------------------------------

PATH_NFA, PATH_CLOSE, PATH_CINPLAN, PATH_S47 = 0, 1, 2, 3


def _trajectories(ctx: _Ctx, cand: pd.DataFrame) -> dict[str, np.ndarray]:
    conf = ctx.conf
    rng = rng_for(ctx.seed, "sc-trajectories")
    cand = cand.sort_values(["pos", "referral", "kind"], kind="stable").reset_index(drop=True)
    n = len(cand)
    pos = cand["pos"].to_numpy(np.int64)
    r = cand["referral"].to_numpy("datetime64[D]")
    kind = cand["kind"].to_numpy(np.int8)
    dob = ctx.dob[pos]
    age = (r - dob).astype(int) / 365.25
    t: dict[str, np.ndarray] = {"pos": pos, "referral": r, "kind": kind, "age": age, "dob": dob}
    uasc = kind == KIND_UASC
    hist = kind == KIND_HISTORY

    src = _pick(rng, CODES["referral_source"], n)
    unborn = r < dob
    src[unborn] = _pick(rng, {"3B": .35, "3F": .25, "3D": .15, "5A": .15, "6": .10}, int(unborn.sum()))
    src[uasc] = _pick(rng, {"6": .45, "5C": .25, "8": .2, "4": .1}, int(uasc.sum()))
    # 5D (early help) exists from the 2023 census: earlier referrals came from 5A.
    src[(src == "5D") & (_cy(r) < 2023)] = "5A"
    t["source"] = src
    need = _pick(rng, CODES["primary_need"], n)
    need[uasc] = "N8"
    t["need"] = need
    t["unborn"] = unborn

    path = np.where(rng.random(n) < conf["referral_nfa"], PATH_NFA, -1)
    p = conf["paths"]
    u = rng.random(n)
    tot = p["close"] + p["cin_plan"] + p["s47"]
    after = np.where(u < p["close"] / tot, PATH_CLOSE, np.where(u < (p["close"] + p["cin_plan"]) / tot,
                                                               PATH_CINPLAN, PATH_S47))
    path = np.where(path == PATH_NFA, PATH_NFA, after)
    path[uasc] = PATH_CLOSE
    # History candidates exist to enter care; most went through child protection first.
    path[hist] = np.where(rng.random(int(hist.sum())) < 0.55, PATH_S47, PATH_CLOSE)
    t["path"] = path

    nat = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    # Assessment: starts within days; authorised usually within 45 working days.
    has_ass = path != PATH_NFA
    a_start = np.where(has_ass, r + np.minimum(rng.geometric(0.25, n) - 1, 20), nat)
    a_start = np.maximum(a_start, r)
    late = rng.random(n) < conf["assessment_late"]
    wd = np.where(late, rng.integers(46, 95, n), np.clip(np.rint(rng.gamma(4.0, 6.5, n)), 3, 45)).astype(int)
    a_auth = np.where(has_ass, ctx.bus(np.where(has_ass, a_start, r), wd), nat)
    t["a_start"], t["a_auth"] = a_start, a_auth
    t["child_seen"] = rng.random(n) < 0.94
    # Second (continuous) assessment: a re-assessment after the first is authorised.
    second = has_ass & (rng.random(n) < conf["second_assessment"]) & (path != PATH_CLOSE)
    a2_start = np.where(second, a_auth + rng.integers(20, 120, n), nat)
    a2_auth = np.where(second, ctx.bus(np.where(second, a2_start, r), np.clip(rng.integers(10, 60, n), 1, 99)), nat)
    t["a2_start"], t["a2_auth"] = a2_start, a2_auth

    # Section 47 → ICPC → CP plan.
    s47 = path == PATH_S47
    s47_start = np.where(s47, r + np.minimum(rng.geometric(0.35, n) - 1, 10), nat)
    icpc_target = np.where(s47, ctx.bus(np.where(s47, s47_start, r), 15), nat)
    held = s47 & (rng.random(n) < conf["icpc_held"])
    held[hist & s47] = True
    icpc_late = rng.random(n) < conf["icpc_late"]
    icpc_wd = np.where(icpc_late, rng.integers(16, 40, n), rng.integers(4, 16, n))
    icpc = np.where(held, ctx.bus(np.where(held, s47_start, r), icpc_wd), nat)
    cpp = held & (rng.random(n) < conf["icpc_to_cpp"])
    cpp[hist & s47] = True
    s47_end = np.where(s47 & ~held, s47_start + rng.integers(5, 35, n), icpc)
    t.update(s47_start=s47_start, icpc_target=icpc_target, icpc=icpc, s47_end=s47_end, held=held, cpp=cpp)
    cpp_start = np.where(cpp, icpc, nat)
    cpp_end = cpp_start + _lognormal_days(rng, 250, 0.65, n, 20, 1500)
    cpp_end = np.where(cpp, cpp_end, nat)
    cat = _pick(rng, CODES["category"], n)
    latest = np.where(rng.random(n) < 0.85, cat, _pick(rng, CODES["category"], n))
    t.update(cpp_start=cpp_start, cpp_end=cpp_end, cat=cat, latest=latest)

    # CIN plans: straight after assessment, after an S47 without a plan, or as step-down from CP.
    plan_direct = (path == PATH_CINPLAN) | (s47 & ~cpp & (rng.random(n) < 0.45))
    plan_after_cp = cpp & (rng.random(n) < 0.6)
    base = np.where(plan_direct, np.maximum(a_auth, np.where(s47, s47_end, a_auth)), cpp_end)
    cin_start = np.where(plan_direct | plan_after_cp, base + rng.integers(0, 10, n), nat)
    cin_end = cin_start + _lognormal_days(rng, 150, 0.7, n, 30, 1100)
    t["cin_start"], t["cin_end"] = cin_start, cin_end

    # Care: the CP route (plan ends when the child is taken into care), others by age, and
    # all history and UASC candidates.
    care_w = _care_age_weight(np.maximum(age, -0.5)) * ctx.risk[pos] ** 0.5
    cp_care = cpp & (rng.random(n) < conf["cpp_to_care"])
    scale = _volume(ctx)
    years_sim = max(1, len(np.unique(_cy(r[kind == KIND_NORMAL]))))
    want_other = max(0.0, conf["care_entries_per_year"] * scale * years_sim - cp_care[kind == KIND_NORMAL].sum())
    other_ok = (kind == KIND_NORMAL) & (path != PATH_NFA) & ~cpp
    pw = care_w * other_ok
    p_other = np.minimum(0.9, want_other * pw / max(pw.sum(), 1e-9))
    other_care = other_ok & (rng.random(n) < p_other)
    care = cp_care | other_care | hist | uasc
    care_start = np.where(cp_care | (hist & cpp), cpp_end, nat)
    emergency = other_care & s47
    care_start = np.where(emergency, s47_start + rng.integers(0, 5, n), care_start)
    plain = (other_care & ~s47) | (hist & ~cpp)
    care_start = np.where(plain, np.maximum(r, a_auth - rng.integers(0, 25, n)), care_start)
    care_start = np.where(uasc, r, care_start)
    care_start = np.where(care, np.maximum(care_start, dob + 1), nat)
    care &= care_start < dob + 6574 - 30  # too close to 18: no care episode after all
    care_start = np.where(care, care_start, nat)
    t.update(care=care, care_start=care_start, emergency=emergency | (hist & cpp & (rng.random(n) < 0.2)))
    # A child in care has no CIN plan; a CP plan ends when care starts.
    cin_overlap = care & ~np.isnat(cin_start) & (cin_start >= care_start)
    t["cin_start"] = np.where(cin_overlap, nat, t["cin_start"])
    t["cin_end"] = np.where(care & ~np.isnat(t["cin_start"]), np.minimum(t["cin_end"], care_start), t["cin_end"])
    t["cpp_end"] = np.where(care & cpp, np.minimum(cpp_end, care_start), t["cpp_end"])
    t["a2_start"] = np.where(care & (t["a2_start"] >= care_start), nat, t["a2_start"])
    t["a2_auth"] = np.where(np.isnat(t["a2_start"]), nat, t["a2_auth"])

    # Closure (care cases are closed after the journey, in _care_journeys).
    ends = np.stack([np.where(np.isnat(x), r, x) for x in
                     (r, a_auth, t["a2_auth"], s47_end, t["cpp_end"], t["cin_end"])])
    last = ends.max(axis=0)
    closure = last + np.where(path == PATH_NFA, rng.integers(0, 6, n), rng.integers(0, 21, n))
    # RC8/RC9 mean "closed after assessment": an NFA referral (no assessment) closes RC7,
    # as DfE's query 8825Q asks.
    reason = np.full(n, "RC7", dtype=object)
    closed_after = path == PATH_CLOSE
    rc9 = closed_after & (rng.random(n) < 0.3) & (_cy(closure) >= 2023)
    reason[closed_after] = "RC8"
    reason[rc9] = "RC9"
    u = rng.random(n)
    planned = ~np.isnat(t["cin_start"]) | cpp
    reason[planned & (u < 0.04)] = "RC3"
    reason[planned & (u >= 0.04) & (u < 0.07)] = "RC4"
    t["closure"], t["reason"] = closure, reason
    t["nfa"] = path == PATH_NFA
    return t


# ---------------------------------------------------------------------------
# Care journeys (one Python pass per child entering care)
# ---------------------------------------------------------------------------

@dataclass
class _Journey:
    idx: int                    # row in the trajectories
    start: np.datetime64
    end: np.datetime64          # NaT: beyond any horizon (never — always set)
    route: str
    episodes: list[tuple]       # (decom, rne, ls, place, provider, dec, rec, reason_change)
    adoption: dict | None


def _date_plus(d: np.datetime64, days: float) -> np.datetime64:
    return d + np.timedelta64(int(days), "D")


def _eighteenth(dob: np.datetime64) -> np.datetime64:
    d = dob.astype(object)
    try:
        return _d64(d.replace(year=d.year + 18))
    except ValueError:  # 29 February
        return _d64(date(d.year + 18, 3, 1))


def _place_valid(code: str, cy: int, rng: np.random.Generator) -> str:
    if cy >= 2025 and code in ("H5", "P2"):
        return "K3"
    if cy >= 2026 and code == "Z1":
        return ("Z11", "Z12", "Z13", "Z14")[int(rng.integers(0, 4))]
    return code


_CUMULATIVE: dict[tuple, tuple[list, list]] = {}


def _choose(rng, pairs) -> str:
    """One weighted draw from [(value, weight)]: the journeys' hot path, so no numpy arrays."""
    key = tuple(pairs)
    got = _CUMULATIVE.get(key)
    if got is None:
        total = sum(w for _, w in pairs)
        acc, cum = 0.0, []
        for _, w in pairs:
            acc += w / total
            cum.append(acc)
        got = _CUMULATIVE[key] = ([v for v, _ in pairs], cum)
    values, cum = got
    return values[min(bisect.bisect_left(cum, rng.random()), len(values) - 1)]


def _care_journeys(ctx: _Ctx, t: dict) -> dict[int, _Journey]:
    # One stream in a fixed order (candidates are sorted): the simulation runs in one process.
    rng = rng_for(ctx.seed, "sc-care")
    out: dict[int, _Journey] = {}
    for i in np.flatnonzero(t["care"]).tolist():
        out[i] = _one_journey(ctx, rng, t, i)
    return out


_ROUTES = {  # exit route by age band at entry
    "infant": {"adopt": .33, "home": .25, "sgo": .22, "cao": .05, "long": .15},
    "young": {"adopt": .22, "home": .33, "sgo": .22, "cao": .07, "long": .16},
    "child": {"adopt": .02, "home": .40, "sgo": .17, "cao": .08, "long": .28, "other": .05},
    "teen": {"home": .48, "sgo": .06, "cao": .04, "long": .30, "other": .12},
    "older": {"home": .35, "long": .55, "other": .10},
}


def _one_journey(ctx: _Ctx, rng: np.random.Generator, t: dict, i: int) -> _Journey:
    start = t["care_start"][i]
    dob = t["dob"][i]
    age = float((start - dob).astype(int)) / 365.25
    eighteen = _eighteenth(dob)
    uasc = t["kind"][i] == KIND_UASC
    band = ("infant" if age < 1 else "young" if age < 5 else "child" if age < 10 else "teen" if age < 16
            else "older")
    remand = (not uasc) and age >= 12 and rng.random() < 0.05
    if uasc:
        route = _choose(rng, [("long", .80), ("e15", .05), ("e3", .10), ("home", .05)])
    elif remand:
        route = "remand"
    else:
        route = _choose(rng, list(_ROUTES[band].items()))
    dur = {"home": lambda: rng.lognormal(np.log(200), 0.9), "sgo": lambda: rng.lognormal(np.log(560), 0.4),
           "cao": lambda: rng.lognormal(np.log(450), 0.45), "adopt": lambda: rng.lognormal(np.log(720), 0.3),
           "other": lambda: rng.lognormal(np.log(150), 0.8), "remand": lambda: rng.uniform(10, 90),
           "e15": lambda: rng.uniform(30, 200), "e3": lambda: rng.uniform(14, 90),
           "long": lambda: 1e9}[route]()
    end = _date_plus(start, max(2, dur))
    if end >= eighteen:
        end, route = eighteen, ("long" if route != "remand" else "remand")
        if route != "long":
            route = "long"

    # Legal status timeline: (day, status).
    if remand:
        legal = [(start, _choose(rng, [("J1", .7), ("J2", .2), ("J3", .1)]))]
        if legal[0][1] == "J2":
            # PACE transfer: held until the court sits, a few days at most (DfE 364: 21).
            end, route = min(end, _date_plus(start, 1 + int(dur) % 5)), "remand"
    elif uasc:
        legal = [(start, "V2")]
    elif t["emergency"][i]:
        first = _choose(rng, [("L1", .25), ("L2", .2), ("C2", .4), ("V2", .15)])
        legal = [(start, first)]
        if first in ("L1", "L2"):
            # police protection lasts at most 72 hours (DfE 361), an EPO at most 8 days
            legal.append((_date_plus(start, rng.integers(1, 4 if first == "L1" else 9)), "C2"))
    else:
        legal = [(start, "C2" if route == "adopt" or rng.random() < 0.45 else "V2")]
    if route == "adopt":
        legal = [(d, "C2" if s == "V2" else s) for d, s in legal]
    total = int((end - start).astype(int))
    if legal[-1][1] == "V2" and route in ("long", "sgo") and rng.random() < 0.3:
        legal.append((_date_plus(start, rng.uniform(0.1, 0.4) * total if total < 1e6 else rng.integers(60, 250)), "C2"))
    adoption = None
    if route == "adopt":
        t_po = _date_plus(start, max(60, 0.40 * total))
        legal.append((t_po, "E1"))
    elif legal[-1][1] == "C2":
        legal.append((_date_plus(legal[-1][0], rng.lognormal(np.log(280), 0.3)), "C1"))
    legal = [(d, s) for d, s in legal if d < end]

    # Placement change points.
    rate = 1.3 if age >= 11 else 0.55
    span_days = min(total, 365 * 25)
    n_changes = rng.poisson(rate * span_days / 365.25)
    changes = sorted(_date_plus(start, x) for x in rng.integers(1, max(2, span_days), size=n_changes))
    changes = [c for c in changes if c < end]
    adopt_place = None
    if route == "adopt":
        adopt_place = _date_plus(start, max(90, 0.62 * total))
        changes = [c for c in changes if c < adopt_place] + [adopt_place]
    # H5/P2 placements open on 1 April 2024 were recoded (K3): a same-carer change that day.
    recode_day = _d64(date(2024, 4, 1))
    # P2 is no longer a placement type from 28 October 2023 (DfE 217t): one open that day is
    # recorded as supported accommodation (H5) from then, with the same carer.
    p2_day = _d64(date(2023, 10, 28))
    points = sorted({start, *changes, *(d for d, _ in legal)} | ({recode_day} if start < recode_day < end else set())
                    | ({p2_day} if start < p2_day < end else set()))

    episodes = []
    place, provider = None, None
    ls = legal[0][1]
    for k, d in enumerate(points):
        cy = collection_year(d.astype(object))
        new_ls = [s for dd, s in legal if dd == d]
        placement_changed = d == start or d in changes
        same_carer = False
        if d == recode_day and d not in changes and place in ("H5", "P2"):
            placement_changed, same_carer = True, True
        if d == p2_day and d not in changes and place == "P2":
            placement_changed, same_carer = True, True
        if not new_ls and not placement_changed:
            continue
        prev_place = place
        if placement_changed:
            a = (float((d - dob).astype(int)) / 365.25)
            if d == adopt_place:
                same_carer = prev_place in ("U4", "U5", "U6") and rng.random() < 0.15
                place = ("A4" if same_carer else "A6") if ls == "E1" or new_ls == ["E1"] else (
                    "A3" if same_carer else "A5")
            elif same_carer:
                place = _place_valid(place, cy, rng)
            elif ls in ("J1", "J2", "J3") or (new_ls and new_ls[0].startswith("J")):
                place = _choose(rng, [("K2", .4), ("U4", .3), ("K1", .2), ("R5", .1)])
            elif uasc:
                place = _choose(rng, [("H5", .55), ("U4", .2), ("U6", .2), ("K2", .05)] if a >= 16 else
                                # no supported accommodation under 16 (DfE 371; the 2023 regulations)
                                [("U4", .45), ("U6", .4), ("K2", .15)])
            else:
                band_p = "infant" if a < 1 else "child" if a < 12 else "teen"
                choices = [(c, w) for c, w in _PLACE_BY_AGE[band_p] if not (c in ("H5", "P2") and a < 16)]
                place = _choose(rng, choices)
                if place == prev_place == "P1":
                    # home to parents again is no placement change (DfE 435): a foster placement
                    place = "U4"
            place = _place_valid(place, cy, rng)
            if place == "P2" and d >= p2_day:
                place = "H5"
            provider = _choose(rng, _PROVIDERS[place]) if place in _PROVIDERS else None
        if new_ls:
            ls = new_ls[-1]
        if k == 0:
            rne = "S"
        elif new_ls and placement_changed:
            rne = "U" if same_carer else "B"
        elif new_ls:
            rne = "L"
        else:
            rne = "T" if same_carer else "P"
        episodes.append([d, rne, ls, place, provider, None, None, None])
    # A temporary placement (T0-T4: hospital, holiday, respite) lasts a few days and the child
    # then returns to their normal placement (DfE 383), unless something else happens first.
    with_returns = []
    for k, e in enumerate(episodes):
        with_returns.append(e)
        if k == 0 or not (e[3] or "").startswith("T"):
            continue
        back = _date_plus(e[0], 1 + int(rng.integers(0, 7)))
        if back < (episodes[k + 1][0] if k + 1 < len(episodes) else end):
            normal = with_returns[-2]
            with_returns.append([back, "P", e[2], normal[3], normal[4], None, None, None])
    episodes = with_returns
    # Close each episode at the next one's start (X1), the last at the end.
    for k in range(len(episodes) - 1):
        episodes[k][5] = episodes[k + 1][0]
        episodes[k][6] = "X1"
        # No reason for a change to a temporary placement (DfE 226; 225 asks it otherwise).
        if episodes[k + 1][1] in ("P", "B", "T", "U") and not (episodes[k + 1][3] or "").startswith("T"):
            episodes[k][7] = ("PLACE" if episodes[k + 1][1] in ("T", "U") and episodes[k + 1][3] == "K3"
                              else "CARPL" if episodes[k + 1][3] and episodes[k + 1][3].startswith("A")
                              else _choose(rng, list(CODES["reason_place_change"].items())))
    rec = {"home": _choose(rng, [("E4A", .85), ("E4B", .15)]), "sgo": _choose(rng, [("E45", .6), ("E46", .4)]),
           "cao": _choose(rng, [("E41", .3), ("E47", .4), ("E48", .3)]), "adopt": _choose(rng, [("E11", .7), ("E12", .3)]),
           "other": _choose(rng, [("E8", .5), ("E13", .3), ("E16", .1), ("E7", .1)]),
           "remand": _choose(rng, [("E14", .7), ("E9", .3)]), "e15": "E15", "e3": "E3",
           "long": _choose(rng, [("E17", .45), ("E5", .25), ("E6", .1), ("E8", .1), ("E4A", .05), ("E7", .05)])}[route]
    episodes[-1][5] = end
    episodes[-1][6] = rec
    if route == "adopt":
        adoption = {"date_int": _date_plus(start, max(40, 0.30 * total)), "date_po": legal_date(legal, "E1"),
                    "date_match": _date_plus(adopt_place, -rng.integers(10, 60)), "date_placed_home": adopt_place,
                    "date_adopted": end,
                    # adopted by the current foster carer: placed with them (A3 with consent, A5 under
                    # a placement order), not A4/A6 (DfE 335)
                    "foster_care": int(episodes[-1][3] in ("A3", "A5")),
                    "nb": "2" if rng.random() < 0.8 else "1"}
    return _Journey(idx=i, start=start, end=end, route=route, episodes=[tuple(e) for e in episodes],
                    adoption=adoption)


def legal_date(legal, status):
    for d, s in legal:
        if s == status:
            return d
    return None


# ---------------------------------------------------------------------------
# One open episode per child: later referrals inside an open episode become contacts
# ---------------------------------------------------------------------------

def _resolve_overlaps(ctx: _Ctx, t: dict, care: dict[int, _Journey]) -> np.ndarray:
    """Final closure per candidate and which candidates survive (sorted by person, date)."""
    conf = ctx.conf
    rng = rng_for(ctx.seed, "sc-closure")
    n = len(t["pos"])
    closure = t["closure"].copy()
    reason = t["reason"].copy()
    for i, j in care.items():
        gap = int(rng.integers(0, 15)) if j.route != "home" else int(rng.integers(20, 150))
        closure[i] = j.end + gap
        reason[i] = {"adopt": "RC1", "sgo": "RC4", "cao": "RC3", "long": "RC6" if rng.random() < .3 else "RC7",
                     "e3": "RC5"}.get(j.route, "RC7")
    # Moves: a case (not in care) open when the family moves is transferred (RC5).
    pos = t["pos"]
    move = ctx.move[pos]
    moved = ~np.isnat(move) & (move > t["referral"]) & (move <= closure) & ~t["care"]
    closure = np.where(moved, move - 1, closure)
    reason[moved] = "RC5"
    death = (rng.random(n) < conf["death"]) & ~t["care"] & ~t["unborn"]
    reason[death] = "RC2"

    keep = np.zeros(n, dtype=bool)
    pos_l = pos.tolist()
    ref_l = t["referral"].astype(np.int64).tolist()
    clo_l = closure.astype(np.int64).tolist()
    death_l = death.tolist()
    kind_l = t["kind"].tolist()
    # An asylum-seeking child was not in the country before arriving: nothing earlier,
    # and only one arrival.
    arrival: dict[int, int] = {}
    for i in np.flatnonzero(t["kind"] == KIND_UASC).tolist():
        arrival.setdefault(pos_l[i], ref_l[i])
    last_pos, last_close, dead = -1, 0, False
    for i in range(n):
        if pos_l[i] != last_pos:
            last_pos, last_close, dead = pos_l[i], -10**9, False
        if dead or ref_l[i] <= last_close:
            continue
        came = arrival.get(pos_l[i])
        if came is not None and (ref_l[i] < came or (kind_l[i] == KIND_UASC and ref_l[i] != came)):
            continue
        keep[i] = True
        last_close = clo_l[i]
        dead = death_l[i]
    t["closure_final"] = closure
    t["reason_final"] = reason
    t["moved"] = moved
    t["death"] = death & keep
    return keep


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

def _build_tables(ctx: _Ctx, t: dict, care: dict[int, _Journey], keep: np.ndarray,
                  years: list[int]) -> SocialCareEvents:
    rng = rng_for(ctx.seed, "sc-tables")
    w_end = ctx.window_end
    # Drop what starts after the window, and history-only candidates far in the past.
    keep = keep & (t["referral"] <= w_end) & (t["closure_final"] >= ctx.first - 365 * 5)
    idx = np.flatnonzero(keep)
    n = len(idx)
    pos = t["pos"][idx]
    pid = ctx.pid[pos]
    r = t["referral"][idx]
    la = ctx.la_on(pos, np.maximum(r, t["dob"][idx]))
    # Children in care stay with the LA that took them in: fix the LA at referral.
    ep_ids = np.array([f"E{k:08d}" for k in range(1, n + 1)], dtype=object)
    closure = t["closure_final"][idx]
    reason = t["reason_final"][idx]

    def cut(x):  # end dates after the window are not known yet
        x = x.copy()
        x[x > w_end] = np.datetime64("NaT")
        return x

    def within(x):  # start dates after the window have not happened yet
        return ~np.isnat(x) & (x <= w_end)

    closure_cut = cut(closure)
    reason_cut = np.where(np.isnat(closure_cut), None, reason)
    teams = np.array(CODES["teams"], dtype=object)
    team = teams[rng.integers(0, 4, n)]
    team[t["cpp"][idx]] = "Child Protection Team"
    team[t["care"][idx]] = "Children in Care Team"
    pools = _worker_pools(ctx)
    worker_ix = rng.integers(0, 1 << 30, n)
    worker = np.array([pools[l][w % len(pools[l])][1] for l, w in zip(la, worker_ix)], dtype=object)
    cin_episodes = pd.DataFrame({
        "episode_id": ep_ids, "person_id": pid, "la": la, "referral_date": _to_obj(r),
        "referral_source": t["source"][idx], "primary_need": t["need"][idx],
        "referral_nfa": t["nfa"][idx], "closure_date": _to_obj(closure_cut), "reason_for_closure": reason_cut,
        "unborn": t["unborn"][idx], "allocated_team": team, "allocated_worker": worker,
    })
    ep_of = dict(zip(idx.tolist(), range(n)))

    def clip_end(end, start):
        """Sub-events end no later than their episode's closure."""
        e = np.where(np.isnat(end), end, np.minimum(end, closure))
        return cut(np.where(np.isnat(start), np.datetime64("NaT"), e))

    # Assessments (first and re-assessments).
    a_rows = []
    for s_key, e_key, tag in (("a_start", "a_auth", "A"), ("a2_start", "a2_auth", "B")):
        s = t[s_key][idx]
        e = t[e_key][idx]
        ok = within(s) & (s <= closure)
        e = np.where(e > closure, closure, e)
        a_rows.append(pd.DataFrame({
            "assessment_id": [f"{x}{tag}" for x in ep_ids[ok]], "episode_id": ep_ids[ok], "person_id": pid[ok],
            "la": la[ok], "start_date": _to_obj(s[ok]), "authorisation_date": _to_obj(cut(e[ok])),
            "child_seen": t["child_seen"][idx][ok], "needs_support": (t["path"][idx][ok] != PATH_CLOSE),
            "_age": t["age"][idx][ok], "_uasc": t["kind"][idx][ok] == KIND_UASC, "_start64": s[ok],
            "_path": t["path"][idx][ok]}))
    assessments = pd.concat(a_rows, ignore_index=True)
    assessments["factors"] = _factors(rng, assessments)
    assessments = assessments.drop(columns=[c for c in assessments.columns if c.startswith("_")])

    # CIN plans.
    cs = t["cin_start"][idx]
    ok = within(cs) & (cs < closure)
    ce = clip_end(t["cin_end"][idx], cs)
    cin_plans = pd.DataFrame({"cin_plan_id": [f"{x}P" for x in ep_ids[ok]], "episode_id": ep_ids[ok],
                              "person_id": pid[ok], "la": la[ok], "start_date": _to_obj(cs[ok]),
                              "end_date": _to_obj(ce[ok])})

    # S47 enquiries.
    ss = t["s47_start"][idx]
    ok = within(ss) & (ss <= closure)
    icpc = t["icpc"][idx]
    icpc_ok = ~np.isnat(icpc) & (icpc <= closure)
    icpc_in = np.where(icpc_ok, icpc, np.datetime64("NaT"))
    # An S47 whose episode closes before its ICPC (the child moved away, say) had no ICPC in
    # this LA: recorded as not required, as DfE asks of every S47 of a closed episode (8868).
    not_req = ~t["held"][idx] | (~np.isnat(icpc) & ~icpc_ok)
    s47 = pd.DataFrame({"s47_id": [f"{x}S" for x in ep_ids[ok]], "episode_id": ep_ids[ok], "person_id": pid[ok],
                        "la": la[ok], "start_date": _to_obj(ss[ok]), "icpc_target_date": _to_obj(t["icpc_target"][idx][ok]),
                        "icpc_date": _to_obj(cut(icpc_in[ok])), "icpc_not_required": not_req[ok],
                        "resulted_in_cpp": (t["cpp"][idx] & icpc_ok)[ok]})

    # CP plans; number of previous plans counted as the LA would (its own earlier plans,
    # plus those before the simulated history that a share of first plans had).
    cps = t["cpp_start"][idx]
    ok = within(cps) & (cps <= closure) & t["cpp"][idx]
    cpe = clip_end(t["cpp_end"][idx], cps)
    cp = pd.DataFrame({"cpp_id": [f"{x}C" for x in ep_ids[ok]], "episode_id": ep_ids[ok], "person_id": pid[ok],
                       "la": la[ok], "_start": cps[ok], "_end": cpe[ok], "initial_category": t["cat"][idx][ok],
                       "latest_category": t["latest"][idx][ok], "_age": t["age"][idx][ok]})
    cp = cp.sort_values(["person_id", "_start"], kind="stable")
    prior = cp.groupby(["person_id", "la"]).cumcount().to_numpy()
    first_plan = prior == 0
    before = first_plan & (cp["_age"].to_numpy() > 2) & (rng.random(len(cp)) < ctx.conf["cpp_before_history"])
    cp["number_previous"] = prior + before.astype(int)
    cps_d, cpe_d = cp["_start"].to_numpy("datetime64[D]"), cp["_end"].to_numpy("datetime64[D]")
    cp["start_date"] = _to_obj(cps_d)
    cp["end_date"] = _to_obj(cpe_d)
    cp["review_dates"] = [_cp_reviews(s, e, w_end) for s, e in zip(cps_d, cpe_d)]
    cp_plans = cp.drop(columns=["_start", "_end", "_age"]).reset_index(drop=True)

    care_tables = _care_tables(ctx, t, care, idx, la, pid, years)
    contacts, early_help = _front_door(ctx, t, keep, cin_episodes, closure_cut)
    disabilities = _disabilities(ctx, np.unique(pid))
    adopters = _adopters(ctx, care_tables.pop("_adoptions"))

    ev = SocialCareEvents(contacts=contacts, early_help=early_help, cin_episodes=cin_episodes,
                          assessments=assessments, cin_plans=cin_plans, s47=s47, cp_plans=cp_plans,
                          disabilities=disabilities, adopters=adopters, **care_tables)
    for name, cols in EVENT_COLUMNS.items():
        df = getattr(ev, name)
        setattr(ev, name, df[cols].reset_index(drop=True))
    ev.validate()
    return ev


def _cp_reviews(start, end, w_end) -> list[date]:
    """First review within 3 months of the ICPC, then at most every 6 months."""
    out = []
    if np.isnat(start):
        return out
    stop = end if not np.isnat(end) else w_end
    d = start + 85
    while d < stop and d <= w_end:
        out.append(d.astype(object))
        d = d + 175
    return out


def _factors(rng, a: pd.DataFrame) -> list[list[str]]:
    n = len(a)
    codes = [c for c, _ in _FACTORS_ALL] + [c for c, _ in _FACTORS_ADOLESCENT] + ["9A"]
    base = np.array([p for _, p in _FACTORS_ALL] + [0.0] * len(_FACTORS_ADOLESCENT) + [0.0])
    teen = np.array([p * 0.6 for _, p in _FACTORS_ALL] + [p for _, p in _FACTORS_ADOLESCENT] + [0.0])
    age = a["_age"].to_numpy()
    ok24 = _cy(a["_start64"].to_numpy("datetime64[D]")) >= 2022
    out: list[list[str]] = [None] * n  # type: ignore[list-item]
    code_arr = np.array(codes, dtype=object)
    ix24 = codes.index("24A")
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        p = np.where((age[lo:hi] >= 11)[:, None], teen[None, :], base[None, :])
        hit = rng.random((hi - lo, len(codes))) < p * 1.3
        hit[:, ix24] &= ok24[lo:hi]
        hit[:, -1] = a["_uasc"].to_numpy()[lo:hi]
        for k, row in enumerate(hit):
            found = code_arr[row].tolist()
            if not found:
                found = ["21"] if a["_path"].iat[lo + k] == PATH_CLOSE else ["20"]
            out[lo + k] = found
    return out


def _worker_pools(ctx: _Ctx) -> dict[str, list[tuple[str, str]]]:
    """Each LA's social workers: (Social Work England-style id, made-up name)."""
    pools = {}
    for la in ctx.pop.region.la_codes:
        rng = rng_for(ctx.seed, "sc-workers", la)
        size = max(3, int(round(ctx.conf["referrals_per_year"] * _volume(ctx) / 30 / len(ctx.pop.region.la_codes) * 3)))
        pools[la] = [(f"SW{int(rng.integers(10**9, 10**10)):010d}",
                      f"{_WORKER_FIRST[int(rng.integers(0, len(_WORKER_FIRST)))]} "
                      f"{_WORKER_LAST[int(rng.integers(0, len(_WORKER_LAST)))]}") for _ in range(size)]
    return pools


def _providers(ctx: _Ctx) -> dict:
    """A small set of placement providers per LA: URN and postcode for each kind."""
    geo = ctx.pop.geography.postcodes
    out = {}
    for la in ctx.pop.region.la_codes:
        rng = rng_for(ctx.seed, "sc-providers", la)
        pcs = geo.loc[geo["la"] == la, "postcode"].to_numpy(object)
        out[la] = {
            "home": [(f"SC{int(rng.integers(0, 10**6)):06d}", pcs[int(rng.integers(0, len(pcs)))]) for _ in range(6)],
            "ifa": [f"SC{int(rng.integers(0, 10**6)):06d}" for _ in range(3)],
            "la_fostering": f"SC{int(rng.integers(0, 10**6)):06d}",
            "school": (f"{int(rng.integers(10**6, 10**7))}", pcs[int(rng.integers(0, len(pcs)))]),
            "postcodes": pcs,
        }
    return out


def _care_tables(ctx, t, care, idx, la_arr, pid_arr, years) -> dict[str, pd.DataFrame]:
    conf = ctx.conf
    w_end = ctx.window_end
    providers = _providers(ctx)
    all_las = ctx.pop.region.la_codes
    pools = _worker_pools(ctx)
    rows = {k: [] for k in ("care_episodes", "uasc", "reviews", "missing", "oc2", "oc3", "ad1",
                            "placed_adoption", "prev_perm", "social_worker", "_adoptions")}
    n_ep = 0
    la_of_idx = dict(zip(idx.tolist(), la_arr.tolist()))
    prior_exit: dict[int, tuple] = {}
    rng = rng_for(ctx.seed, "sc-care-tables")
    adopted: set[int] = set()
    last_end: dict[int, np.datetime64] = {}
    dob_of: dict[int, np.datetime64] = {}
    for i in sorted(care, key=lambda k: (int(t["pos"][k]), care[k].start)):
        if i not in la_of_idx:
            continue
        j = care[i]
        if j.start > w_end:
            continue
        la = la_of_idx[i]
        pos = int(t["pos"][i])
        person = int(ctx.pid[pos])
        if person in adopted:
            # An adopted child is another family's child, under a new name and record: a
            # later care period is never returned under the old one (DfE 199, 1003).
            continue
        if j.route == "adopt":
            adopted.add(person)
        dob = t["dob"][i]
        # An unaccompanied asylum-seeking child has no home address here (DfE 406: no
        # placement distance for UASC).
        home_pc = None if t["kind"][i] == KIND_UASC else ctx.postcode_on(np.array([pos]), np.array([j.start]))[0]
        need = "N8" if t["kind"][i] == KIND_UASC else ("N1" if rng.random() < 0.65 else
                                                        _choose(rng, [("N2", .1), ("N3", .05), ("N4", .35),
                                                                      ("N5", .35), ("N6", .1), ("N7", .05)]))
        prov = providers[la]
        last = None
        for (decom, rne, ls, place, provider, dec, rec, why) in _dfe_consistent(j.episodes, dob):
            if decom > w_end:
                break
            n_ep += 1
            pl_pc, urn = _placement_address(rng, place, provider, la, home_pc, prov, providers, all_las)
            if rne == "L" and last is not None:
                # Legal status changed, the placement did not: same place, provider, address
                # and URN (DfE 434).
                place, provider, pl_pc, urn = last
            elif rne in ("P", "B") and last is not None and (place, provider, pl_pc, urn) == last:
                # A new placement is somewhere else (DfE 435): another address of its kind.
                for _ in range(3):
                    pl_pc, urn = _placement_address(rng, place, provider, la, home_pc, prov, providers, all_las)
                    if (place, provider, pl_pc, urn) != last:
                        break
            last = (place, provider, pl_pc, urn)
            closed = dec is not None and dec <= w_end
            rows["care_episodes"].append((f"C{n_ep:08d}", person, la, decom.astype(object), rne, ls, need, place,
                                          provider, dec.astype(object) if closed else None,
                                          rec if closed else None, why if closed else None,
                                          home_pc, pl_pc, urn))
        if t["kind"][i] == KIND_UASC:
            rows["uasc"].append((person, la, _eighteenth(dob).astype(object)))
        # Previous permanence: what the LA knows at entry.
        pe = prior_exit.get(person)
        if pe is not None:
            rows["prev_perm"].append((person, la, pe[0], pe[1], pe[2]))
        else:
            code = _choose(rng, [("Z1", .87), ("P1", .02), ("P2", .05), ("P3", .03), ("P4", .03)])
            if code == "Z1":
                rows["prev_perm"].append((person, la, "Z1", None, None))
            else:
                when = max(dob + 30, j.start - int(rng.integers(200, 2500)))
                perm_la = la if rng.random() < 0.7 else all_las[int(rng.integers(0, len(all_las)))]
                if when < j.start:
                    rows["prev_perm"].append((person, la, code, perm_la, when.astype(object)))
                else:  # a baby taken into care within a month of birth had no earlier order (DfE 632)
                    rows["prev_perm"].append((person, la, "Z1", None, None))
        if j.route in ("adopt", "sgo", "cao"):
            prior_exit[person] = ({"adopt": "P1", "sgo": "P2", "cao": "P3"}[j.route], la, j.end.astype(object))
        stop = min(j.end, w_end)
        _reviews(rng, rows["reviews"], person, la, j.start, stop, dob, ctx.hol)
        _missing(rng, rows["missing"], person, la, j.start, stop, dob, conf, w_end)
        _sw(rng, rows["social_worker"], person, la, j.start, stop, pools[la], w_end, j.end)
        _oc2(rng, rows["oc2"], person, la, j, dob, years)
        _oc3(rng, rows["oc3"], person, la, j, dob, years)
        last_end[person] = max(last_end.get(person, j.end), j.end)
        dob_of[person] = dob
        if j.adoption:
            a = j.adoption
            if a["date_int"] <= w_end:
                rows["placed_adoption"].append((person, la, a["date_int"].astype(object), None, None))
                rows["_adoptions"].append((person, la, a))
                if a["date_match"] <= w_end:
                    sex = _choose(rng, [("MF", .8), ("FF", .08), ("MM", .07), ("F1", .04), ("M1", .01)]) \
                        if a["nb"] == "2" else _choose(rng, [("F1", .8), ("M1", .2)])
                    rows["ad1"].append((person, la, a["date_int"].astype(object), a["date_match"].astype(object),
                                        a["foster_care"], "2" if len(sex) == 2 and sex[1] != "1" else "1", sex,
                                        _adopters_status(rng, sex),
                                        a["date_adopted"].astype(object) if a["date_adopted"] <= w_end else None))
        elif j.start <= w_end and t["age"][i] < 5 and rng.random() < 0.05:
            # An adoption decision later reversed (the child went home or to a relative).
            d = j.start + int(rng.integers(60, 200))
            if d < min(j.end, w_end):
                # The decision ceases at the latest when the child leaves care: it never
                # stays open into a later care period (DfE 1003, 559).
                ceased = min(d + int(rng.integers(60, 300)), j.end)
                ceased_known = ceased if ceased <= w_end else None
                rows["placed_adoption"].append((person, la, d.astype(object),
                                                ceased_known.astype(object) if ceased_known is not None else None,
                                                _choose(rng, [("RD1", .4), ("RD2", .2), ("RD3", .2), ("RD4", .2)])
                                                if ceased_known is not None else None))
    _sw_continuous(rows["social_worker"])
    # A care leaver's record is for one who left care before the birthday: a later care period
    # still open on it voids an earlier period's record (DfE 1016/1007).
    rows["oc3"] = [r for r in rows["oc3"] if _d64(_leaver_birthday(dob_of[r[0]], r[2])) > last_end[r[0]]]
    cols = EVENT_COLUMNS
    out = {k: pd.DataFrame(v, columns=cols[k]) for k, v in rows.items() if not k.startswith("_")}
    # OC3 is one record per care leaver per LA and year: a young person who left care twice
    # (two journeys, both qualifying) has the latest journey's record, not two rows.
    out["oc3"] = out["oc3"].drop_duplicates(["person_id", "la", "year"], keep="last").reset_index(drop=True)
    out["_adoptions"] = rows["_adoptions"]
    return out


def _dfe_consistent(episodes: list, dob) -> list:
    """A journey's episodes with the combinations DfE's SSDA903 rules reject replaced by the
    nearest allowed one: no school placement (S1) under 4 (373), no placement with parents (P1)
    under a single period of accommodation (V2, 378), no period of care starting in a temporary
    placement (T*, 380), an SGO to former foster carers (E45/E46) only from foster care (516,
    else E47/E48), no transfer to adult social care (E7) under 16 (389)."""
    out = []
    for (decom, rne, ls, place, provider, dec, rec, why) in episodes:
        age = float((decom - dob).astype(int)) / 365.25
        if (place == "S1" and age < 4) or (place == "P1" and ls == "V2") \
                or (rne == "S" and place is not None and place.startswith("T")):
            place, provider = "U4", "PR1"
        if rec in ("E45", "E46") and not (place or "").startswith("U"):
            rec = {"E45": "E47", "E46": "E48"}[rec]
        if rec == "E7" and dec is not None and float((dec - dob).astype(int)) / 365.25 < 16:
            rec = "E8"
        out.append((decom, rne, ls, place, provider, dec, rec, why))
    return out


def _adopters_status(rng, sex: str) -> str:
    """LS_ADOPTR consistent with SEX_ADOPTR (DfE 514, 517-520, 524): L0 a sole adopter; a
    different-sex couple married (L11), in a civil partnership (L2) or not (L3); a same-sex
    couple married (L12), in a civil partnership (L2) or not (L4)."""
    if sex in ("F1", "M1"):
        return "L0"
    if sex == "MF":
        return _choose(rng, [("L11", .8), ("L2", .05), ("L3", .15)])
    return _choose(rng, [("L12", .6), ("L2", .25), ("L4", .15)])


def _placement_address(rng, place, provider, la, home_pc, prov, providers, all_las):
    if place is None:
        return None, None
    if place == "P1":
        return home_pc, "XXXXXXX"
    pc, urn = _placement_address_drawn(rng, place, provider, la, prov, providers, all_las)
    if pc is not None and pc == home_pc:
        # Only a placement with parents is at the child's home address (DfE 392d): a carer or
        # home drawn at the same postcode is the next one of its kind instead (no new draw).
        pc, urn = _next_address(place, pc, urn, la, providers, all_las)
    return pc, urn


def _next_address(place, pc, urn, la, providers, all_las):
    """Another address of the same kind as (pc, urn), in the LA's providers or, failing that, the next LA's."""
    for where in [la] + [x for x in all_las if x != la]:
        src = providers[where]
        if place in ("K1", "K2", "K3", "H5"):
            other = [h for h in src["home"] if h[1] != pc]
            if other:
                return other[0][1], other[0][0]
        elif place == "S1":
            if src["school"][1] != pc:
                return src["school"][1], src["school"][0]
        else:
            other = [x for x in src["postcodes"] if x != pc]
            if other:
                return other[0], urn
    return pc, urn


def _placement_address_drawn(rng, place, provider, la, prov, providers, all_las):
    if place.startswith("T") or place.startswith("Z"):
        # No provider, but an address all the same: DfE's 392b wants both postcodes on every
        # episode of a child who is not UASC.
        return providers[la]["postcodes"][int(rng.integers(0, len(providers[la]["postcodes"])))], None
    away = rng.random() < (0.45 if place in ("K2", "K3", "H5", "S1", "U5", "U6") else 0.2)
    where = all_las[int(rng.integers(0, len(all_las)))] if away else la
    if provider == "PR1" and not place.startswith(("A", "U", "K3")):
        where = la  # the LA's own provision is in the LA (DfE 1015)
    src = providers[where]
    if place in ("K1", "K2", "K3", "H5"):
        urn, pc = src["home"][int(rng.integers(0, len(src["home"])))]
        return pc, urn
    if place == "S1":
        return src["school"][1], src["school"][0]
    pc = src["postcodes"][int(rng.integers(0, len(src["postcodes"])))]
    if place in ("U4", "U5", "U6"):
        return pc, prov["la_fostering"] if provider == "PR1" else prov["ifa"][int(rng.integers(0, len(prov["ifa"])))]
    if place in ("U1", "U2", "U3"):
        return pc, prov["la_fostering"]
    return pc, "XXXXXXX"


_REVIEW_CODES = list(zip(CODES["review_code"], CODES["review_code_p"]))


def _reviews(rng, out, person, la, start, stop, dob, hol):
    d = np.busday_offset(start, 20, roll="backward", holidays=hol)
    k = 0
    while d <= stop:
        age = float((d - dob).astype(int)) / 365.25
        code = "PN0" if age < 4 else _choose(rng, _REVIEW_CODES)
        out.append((person, la, d.astype(object), code))
        d = d + (int(rng.integers(70, 92)) if k == 0 else int(rng.integers(150, 183)))
        k += 1


def _missing(rng, out, person, la, start, stop, dob, conf, w_end):
    age = float((start - dob).astype(int)) / 365.25
    if age < 10 or rng.random() > conf["missing_runner_share"] * (1.5 if age >= 13 else 0.5):
        return
    span = int((stop - start).astype(int))
    if span <= 2:
        return
    k = rng.poisson(max(1.0, span / 365.25 * rng.gamma(2.0, 2.0)))
    prev_end = None
    for s in sorted(set(rng.integers(1, span, size=k).tolist())):
        ms = start + s
        if prev_end is not None and ms <= prev_end:
            continue  # periods do not overlap (DfE 574)
        # A missing period ends by the time its placement does (DfE 574/575/577), and before care
        # ends: a child missing when care ends would need the reason E8 (580); it is open only when
        # it runs past the last day simulated.
        me = min(ms + int(rng.choice([0, 1, 1, 2, 3, 5, 8])), stop - 1 if stop < w_end else stop)
        # ... and by 31 March: a period open over the year end is rare (about one per LA-year in
        # real returns) and trips a defect of DfE's validator (its rule 365 writes 31 March into
        # the open placement every later rule reads, so 575/577 see the placement ended; see
        # tests/oracle/dfe_defects.py), so the child is back by the last day of the year.
        me = min(me, _d64(year_end(collection_year(ms.astype(object)))))
        prev_end = me
        out.append((person, la, "M" if rng.random() < 0.7 else "A", ms.astype(object),
                    me.astype(object) if me <= w_end else None))


def _sw(rng, out, person, la, start, stop, pool, w_end, end):
    # Every episode carries the reason for the change that began it (SW03STG1 wants it on
    # every row): the first one of a care period is the case's transfer to the looked-after
    # process (TSPROC).
    d = start
    why = "TSPROC"
    while d <= stop:
        nxt = d + int(rng.lognormal(np.log(270), 0.6)) + 1
        ye = _d64(year_end(collection_year((nxt - 1).astype(object))))
        if ye - 5 <= nxt - 1 <= ye:
            # A change of worker in the last 5 days of March moves to just after the year end:
            # DfE's SW11bSTG2 flags an episode ending then even when the next one follows (its
            # reverse-sorted branch; tests/oracle/dfe_defects.py), and such changes are few.
            nxt = ye + 2
        sw_id = pool[int(rng.integers(0, len(pool)))][0]
        if nxt < stop:  # never a new worker on the last day (DfE SW09STG2: an episode under 24 hours)
            out.append((person, la, sw_id, d.astype(object), nxt.astype(object) - timedelta(days=1), why))
            why = _choose(rng, list(CODES["sw_reason"].items()))
        else:
            fin = end if end <= w_end else None
            out.append((person, la, sw_id, d.astype(object), fin.astype(object) if fin is not None else None, why))
        d = nxt


def _leaver_birthday(dob: np.datetime64, year: int) -> date:
    """The 17th-21st birthday falling in collection year `year` (as `_oc3` computes it)."""
    d = dob.astype(object)
    for a in range(17, 22):
        try:
            bday = date(d.year + a, d.month, d.day)
        except ValueError:
            bday = date(d.year + a, 3, 1)
        if year_start(year) <= bday <= year_end(year):
            return bday
    return date.max


def _sw_continuous(rows: list) -> None:
    """A child who returns to care in the same collection year keeps the social worker who
    worked with them at home in between: DfE wants every social worker episode of the year,
    looked after or not (SW12STG2), each starting where the previous one ended (SW10STG2,
    SW11aSTG2). The last worker of the earlier care period stays until the next one starts."""
    last: dict[tuple, int] = {}
    for k, r in sorted(enumerate(rows), key=lambda kr: (kr[1][0], kr[1][1], kr[1][3])):
        key = (r[0], r[1])
        prev = last.get(key)
        if prev is not None:
            p = rows[prev]
            if p[4] is not None and r[3] > p[4] + timedelta(days=1) and collection_year(p[4]) == collection_year(r[3]):
                rows[prev] = p[:4] + (r[3] - timedelta(days=1),) + p[5:]
        last[key] = k


def _oc2(rng, out, person, la, j: _Journey, dob, years):
    for y in years:
        ref = _d64(year_end(y))
        if not (j.start <= _d64(year_start(y)) and j.end > ref):
            continue
        age = float((ref - dob).astype(int)) / 365.25
        # The SDQ is for ages 4 to 16 at 31 March, reported for 4- and 17-year-olds too (197B);
        # SDQ1 (no SDQ: under 4 or over 16) only where that is true (157).
        sdq = age >= 4 and age < 18
        has_score = sdq and age < 17 and rng.random() < 0.8
        reason = None
        if sdq and not has_score:
            reason = _choose(rng, [("SDQ1", .3), ("SDQ2", .2), ("SDQ3", .1), ("SDQ4", .3), ("SDQ5", .1)])
            if reason == "SDQ1" and 5 <= age < 16:
                reason = "SDQ4"
        convicted = int(rng.random() < 0.03)
        checks = [int(rng.random() < p) for p in (0.9, 0.85, 0.8, 0.9)]
        misuse = int(rng.random() < 0.04)
        received, offered = int(rng.random() < 0.5), int(rng.random() < 0.5)
        # Conviction only from 10 (542); health promotion (HEALTH_CHECK) only under 5 (546);
        # intervention items only with a substance misuse problem (193), `offered` only when
        # none was received (158).
        if not misuse or age < 10:
            misuse, received, offered = 0, None, None
        elif received:
            offered = None
        out.append((person, la, y, int(min(40, max(0, rng.normal(14, 6)))) if has_score else None, reason,
                    convicted if age >= 10 else None, checks[0] if age < 5 else None, checks[1], checks[2],
                    checks[3], misuse, received, offered))


def _oc3(rng, out, person, la, j: _Journey, dob, years):
    """Care leavers: left care at 16+ (or turned 18 in care) after 13 weeks since 14."""
    age_exit = float((j.end - dob).astype(int)) / 365.25
    fourteenth = _eighteenth(dob) - 365 * 4 - 1
    if age_exit < 16 or j.route in ("adopt", "remand", "e15") or (j.end - max(j.start, fourteenth)).astype(int) < 91:
        return
    d = dob.astype(object)
    for y in years:
        for a in range(17, 22):
            try:
                bday = date(d.year + a, d.month, d.day)
            except ValueError:
                bday = date(d.year + a, 3, 1)
            if year_start(y) <= bday <= year_end(y) and _d64(bday) > j.end:  # left before the birthday (1016)
                in_touch = _choose(rng, [("YES", .88), ("NO", .05), ("REFU", .02), ("NREQ", .03), ("RHOM", .02)])
                activ = _choose(rng, [("F1", .2), ("P1", .05), ("F2", .15), ("P2", .05), ("F4", .15), ("P4", .03),
                                      ("F5", .05), ("P5", .02), ("G4", .15), ("G5", .08), ("G6", .07)])
                accom = _choose(rng, [(c, w) for c, w in (("B", .1), ("C", .1), ("D", .05), ("E", .05), ("G", .03),
                                                          ("H", .02), ("K", .02), ("R", .15), ("S", .25), ("T", .1),
                                                          ("U", .05), ("V", .03), ("W", .02), ("X", .01), ("Y", .01),
                                                          ("Z", .01))])
                # Suitability 1/2, except custody (S) and no fixed abode (X), never suitable (133).
                accom += "2" if accom in ("S", "X") or rng.random() >= 0.88 else "1"
                if in_touch in ("NO", "REFU", "NREQ", "RHOM"):
                    activ, accom = "0", "0"
                out.append((person, la, y, in_touch, activ, accom))


def _front_door(ctx, t, keep, cin_episodes, closure_cut) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contacts: one behind every referral, the referrals that landed in an open case, and
    contacts that went no further (~4 per referral in all). Early help assessments."""
    conf = ctx.conf
    rng = rng_for(ctx.seed, "sc-front-door")
    w_start, w_end = ctx.first, ctx.window_end
    ep = cin_episodes
    ref = np.asarray(ep["referral_date"].to_numpy(), dtype="datetime64[D]")
    c1 = pd.DataFrame({"person_id": ep["person_id"].to_numpy(), "la": ep["la"].to_numpy(),
                       "_d": ref - np.minimum(rng.geometric(0.6, len(ep)) - 1, 5), "_src": ep["referral_source"].to_numpy()})
    dropped = ~keep & (t["kind"] == KIND_NORMAL) & (t["referral"] <= w_end)
    dpos = t["pos"][dropped]
    dd = t["referral"][dropped]
    c2 = pd.DataFrame({"person_id": ctx.pid[dpos], "la": ctx.la_on(dpos, np.maximum(dd, ctx.dob[dpos])), "_d": dd,
                       "_src": t["source"][dropped]})
    frames = [c1, c2]
    n_extra = int(max(0, conf["contacts_per_referral"] - 1) * len(ep) - len(c2))
    if n_extra > 0:
        span = int((w_end - w_start).astype(int))
        when = w_start + rng.integers(0, span + 1, n_extra)
        w = ctx.risk ** 0.5
        p = rng.choice(len(w), size=n_extra, p=w / w.sum())
        ok = (when >= ctx.dob[p] - 120) & (when < ctx.dob[p] + 365 * 18)
        p, when = p[ok], when[ok]
        frames.append(pd.DataFrame({"person_id": ctx.pid[p], "la": ctx.la_on(p, np.maximum(when, ctx.dob[p])),
                                    "_d": when, "_src": _pick(rng, CODES["referral_source"], len(p))}))
    c = pd.concat(frames, ignore_index=True)
    c = c[(c["_d"] >= w_start) & (c["_d"] <= w_end)]
    # One contact per child per LA and day (Annex A List 1's key is child + date of contact):
    # an extra contact drawn on a day the child already had one merges into it; the first
    # frame's (the contact behind a referral) is kept.
    c = c.drop_duplicates(["la", "person_id", "_d"], keep="first")
    c = c.sort_values(["la", "_d", "person_id"], kind="stable").reset_index(drop=True)
    src_map = {"1": "Family member", "2": "School", "3": "Health", "4": "Housing", "5": "LA services",
               "6": "Police", "7": "Other legal agency", "8": "Other", "9": "Anonymous", "10": "Other"}
    srcs = np.array([src_map.get(v.rstrip("ABCDEF"), "Other") for v in c["_src"].astype(str)], dtype=object)
    self_ = c["_src"].to_numpy() == "1C"
    srcs[self_] = "Self"
    contacts = pd.DataFrame({"contact_id": [f"K{k:09d}" for k in range(1, len(c) + 1)],
                             "person_id": c["person_id"].to_numpy(), "la": c["la"].to_numpy(),
                             "contact_date": _to_obj(c["_d"].to_numpy("datetime64[D]")), "contact_source": srcs})

    # Early help: some contacts are diverted; RC9 closures are stepped down to it.
    n_eh = int(conf["early_help_per_referral"] * len(ep))
    pick = rng.choice(len(c), size=min(n_eh, len(c)), replace=False) if len(c) else np.array([], int)
    pick.sort()
    s = c["_d"].to_numpy("datetime64[D]")[pick] + rng.integers(1, 20, len(pick))
    rc9 = ep[ep["reason_for_closure"] == "RC9"]
    s2 = np.asarray(rc9["closure_date"].to_numpy(), dtype="datetime64[D]") + rng.integers(1, 15, len(rc9))
    start = np.concatenate([s, s2])
    persons = np.concatenate([c["person_id"].to_numpy()[pick], rc9["person_id"].to_numpy()])
    las = np.concatenate([c["la"].to_numpy()[pick], rc9["la"].to_numpy()])
    end = start + _lognormal_days(rng, 45, 0.5, len(start), 5, 200)
    ok = start <= w_end
    end = np.where(end > w_end, np.datetime64("NaT"), end)
    eh = pd.DataFrame({"person_id": persons[ok], "la": las[ok], "start_date": _to_obj(start[ok]),
                       "end_date": _to_obj(end[ok]),
                       "organisation": _pick(rng, CODES["eh_organisation"], int(ok.sum()))})
    # One early help assessment per child per LA and start date (Annex A List 2's key).
    eh = eh.drop_duplicates(["la", "person_id", "start_date"], keep="first")
    eh = eh.sort_values(["la", "start_date", "person_id"], kind="stable").reset_index(drop=True)
    eh.insert(0, "eh_id", [f"EH{k:08d}" for k in range(1, len(eh) + 1)])
    return contacts, eh


def _disabilities(ctx, person_ids: np.ndarray) -> pd.DataFrame:
    rng = rng_for(ctx.seed, "sc-disabilities")
    pos = np.searchsorted(ctx.pid, person_ids)
    sen = ctx.pop.people["sen"].to_numpy()[pos]
    u = rng.random(len(person_ids))
    p_dis = np.clip(0.06 * sen, 0.02, 0.5)
    has = u < p_dis
    unrecorded = (u >= p_dis) & (u < p_dis + 0.04)
    rows_p, rows_d = [], []
    for p, h, un in zip(person_ids.tolist(), has.tolist(), unrecorded.tolist()):
        if un:
            continue
        if not h:
            rows_p.append(p)
            rows_d.append("NONE")
            continue
        k = 1 + int(rng.random() < 0.3)
        for code in dict.fromkeys(_pick(rng, CODES["disability"], k).tolist()):
            rows_p.append(p)
            rows_d.append(code)
    return pd.DataFrame({"person_id": rows_p, "disability": rows_d})


def _adopters(ctx, adoptions: list) -> pd.DataFrame:
    """Annex A list 11: the families who adopt (one per adopted child's match) and a share
    who enquire and leave the process or are still waiting."""
    rng = rng_for(ctx.seed, "sc-adopters")
    w_end = ctx.window_end
    eth = list(synth_conf()["ethnic_codes"]["W"]) + ["MWBC", "BAFR", "BCRB", "AIND", "OOTH"]
    rows = []
    fam = 0
    per_la: dict[str, int] = {}

    def family(la, matched, placed, order, left, left_reason, n_children):
        nonlocal fam
        fam += 1
        per_la[la] = per_la.get(la, 0)
        anchor = matched if matched is not None else (left if left is not None else None)
        if anchor is None:
            return
        enquiry = anchor - int(rng.integers(240, 540))
        s1s = enquiry + int(rng.integers(10, 60))
        s1e = s1s + int(rng.integers(40, 80))
        s2s = s1e + int(rng.integers(1, 20))
        s2e = s2s + int(rng.integers(90, 130))
        sub = s2s + int(rng.integers(0, 10))
        appr = s2e + int(rng.integers(10, 40))
        stages = [enquiry, s1s, s1e, s2s, s2e, sub, appr]
        if left is not None:
            cut_at = int(rng.integers(1, len(stages)))
            stages = stages[:cut_at] + [None] * (len(stages) - cut_at)
            stages = [s if s is not None and s <= left else None for s in stages]
        n_ad = 2 if rng.random() < 0.78 else 1
        for k in range(n_ad):
            per_la[la] += 1

            def known(d):
                return d.astype(object) if d is not None and d <= w_end else None
            rows.append((f"ADP{per_la[la]:05d}", f"F{la}{fam:05d}", la,
                         "F" if (k == 0 and rng.random() < 0.85) or rng.random() < 0.3 else "M",
                         eth[int(rng.integers(0, len(eth)))], "Y" if rng.random() < 0.05 else "N",
                         "Y" if rng.random() < 0.1 else "N", *[known(s) for s in stages],
                         known(matched), known(placed), n_children if placed is not None and placed <= w_end else None,
                         known(order), known(left), left_reason if left is not None and left <= w_end else None))

    for person, la, a in adoptions:
        if a["date_match"] > w_end:
            continue
        family(la, a["date_match"], a["date_placed_home"], a["date_adopted"], None, None, 1 + int(rng.random() < 0.15))
    for la in ctx.pop.region.la_codes:
        k = rng.poisson(max(0.2, sum(1 for _, l, _ in adoptions if l == la) * 0.5))
        for _ in range(k):
            left = ctx.first + int(rng.integers(300, int((w_end - ctx.first).astype(int)) + 1))
            family(la, None, None, None, left, _choose(rng, [("Withdrew", .5), ("Not approved", .2),
                                                             ("Change in circumstances", .3)]), None)
    return pd.DataFrame(rows, columns=EVENT_COLUMNS["adopters"])
