"""Children's social work workforce census (CSWW), XML, one per LA per year.

Year semantics: collection year N (ending 31 March N) contains the census taken on
30 September N-1; the header says Year N and ReferenceDate (N-1)-09-30, and the year
reported on runs 1 October N-2 to 30 September N-1 (starters, leavers, absence).
Element order comes from conf/collections/csww (2022 base; 2021 uses it as the
nearest layout; 2025 renames LALevelVacancies to LALevel with pay-incentive flags,
GenderCurrent to Sex, drops QualInst and CFKSSstatus and adds BaseSalary,
RRPayments, OtherPayments).

Workers are simulated once for the region (a stock per LA renewed by turnover; some
leavers join another LA of the region, keeping their SWENo) so the same worker is
found across years and LAs. Truth: table csww_worker, record_key = SWENo,
person_id = 2e9 + worker number (workers are not people of the child population).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from cslake.config import LocalAuthority
from cslake.schemas import collection_schema
from cslake.synth.context import GenContext
from cslake.synth.core import fixed_timestamp, rng_for, synth_conf

WORKER_ID_BASE = 2_000_000_000
_ETH = ["WBRI", "WIRI", "WOTH", "MWBC", "MWBA", "MWAS", "MOTH", "AIND", "APKN", "ABAN", "AOTH", "BCRB", "BAFR",
        "BOTH", "CHNE", "OOTH", "REFU", "NOBT"]
_ETH_P = [0.38, 0.02, 0.10, 0.02, 0.02, 0.01, 0.02, 0.04, 0.02, 0.01, 0.02, 0.08, 0.16, 0.03, 0.01, 0.02, 0.02, 0.02]
_INSTITUTIONS = ["University of Northvale", "Eastmere University", "Kingsford College", "University of Harrowdene",
                 "Westbrook University", "Open Learning University", "Overseas institution"]
_CACHE: dict = {}


def swe_no(worker_id) -> str:
    """A made-up Social Work England number: SW + 10 digits, a bijection of the worker id."""
    return f"SW{(int(worker_id) * 7_919 + 12_345) % 10_000_000_000:010d}"


def simulate_workers(pop, seed: int, years: list[int]) -> pd.DataFrame:
    """One row per stint of a worker in an LA: worker_id, la, agency, start, end, and the
    worker's attributes. Cached per population (workers do not depend on the LA written)."""
    key = (seed, tuple(years))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is pop:  # identity, not id(): ids are reused after collection
        return hit[1]
    conf = synth_conf()
    wc = conf["csww"]
    first_ref = date(years[0] - 2, 9, 30)
    last_ref = date(years[-1] - 1, 9, 30)
    frames = []
    next_id = 0
    for la in pop.region.las:
        rng = rng_for(seed, "csww-workers", la.dfe_code)
        head = max(3, int(round(wc["workers_per_1000_children"] * conf["las"][la.dfe_code]["children"] / 1000 * pop.scale)))
        agency_share = wc["agency_share"]["inner" if la.dfe_code.startswith("2") else "outer"]
        # A stock in post at the first reference date (memoryless stays, so the time left
        # is exponential too), then starters replacing leavers at the stock's turnover rate.
        # Agency stays are short, so starters are agency more often than the stock is.
        agency_stay, perm_stay = 1.2, 1 / wc["annual_turnover"]
        s = agency_share
        starter_agency = s * perm_stay / (agency_stay * (1 - s) + s * perm_stay)
        span = (last_ref - first_ref).days + 365
        n_new = int(round(head * (s / agency_stay + (1 - s) / perm_stay) * span / 365.25))
        n_total = head + n_new
        agency = np.concatenate([rng.random(head) < s, rng.random(n_new) < starter_agency])
        mean_stay = np.where(agency, agency_stay, perm_stay) * 365.25
        start_days = np.concatenate([
            -np.where(agency[:head], rng.integers(0, 730, size=head), rng.integers(0, 365 * 12, size=head)),
            rng.integers(0, span, size=n_new),
        ])
        start = np.array([first_ref + timedelta(days=int(d)) for d in start_days])
        stay_from = np.concatenate([np.zeros(head, dtype=int), start_days[head:]])
        end_days = stay_from + rng.exponential(mean_stay).astype(int) + 30
        end = np.array([first_ref + timedelta(days=int(d)) for d in end_days], dtype=object)
        ids = WORKER_ID_BASE + next_id + np.arange(n_total)
        next_id += n_total
        frames.append(pd.DataFrame({"worker_id": ids, "la": la.dfe_code, "agency": agency.astype(int),
                                    "start": start, "end": end}))
    w = pd.concat(frames, ignore_index=True)
    rng = rng_for(seed, "csww-attributes")
    n = len(w)
    age0 = rng.integers(23, 58, size=n)
    w["dob"] = [s - timedelta(days=int(a * 365.25) + int(d)) for s, a, d in zip(w["start"], age0, rng.integers(0, 365, size=n))]
    w["sex"] = np.where(rng.random(n) < 0.82, "2", "1")
    w["ethnicity"] = rng.choice(np.array(_ETH, dtype=object), size=n, p=np.array(_ETH_P) / sum(_ETH_P))
    w["role"] = rng.choice(np.array(["1", "2", "3", "4", "5", "6"]), size=n, p=[0.02, 0.06, 0.12, 0.12, 0.55, 0.13])
    w["fte"] = np.where(rng.random(n) < 0.8, 1.0, np.round(rng.uniform(0.4, 0.9, size=n), 2))
    w["qual_level"] = rng.choice(np.array(["1", "2", "3"]), size=n, p=[0.55, 0.4, 0.05])
    w["qual_inst"] = rng.choice(np.array(_INSTITUTIONS, dtype=object), size=n)
    w["step_up"] = (rng.random(n) < 0.05).astype(int)
    w["frontline"] = (rng.random(n) < 0.07).astype(int)
    w["start_origin"] = rng.choice(np.array([str(i) for i in range(1, 11)]), size=n)
    w["leaver_dest"] = rng.choice(np.array([str(i) for i in range(1, 10)]), size=n)
    w["reason_leave"] = rng.choice(np.array([str(i) for i in range(1, 11)]), size=n)
    w["cfkss"] = np.where(rng.random(n) < 0.3, rng.choice(np.array(["1", "2", "3", "4"]), size=n), None)
    w["salary"] = np.round(rng.normal(42000, 6000, size=n) + (6 - w["role"].astype(int)) * -3000, 2)
    # Some leavers join another LA of the region: a second stint under the same SWENo.
    codes = np.array(pop.region.la_codes, dtype=object)
    movers = w[(rng.random(n) < 0.2) & (w["end"] <= last_ref)].copy()
    if len(codes) > 1 and len(movers):
        new_la = rng.choice(codes, size=len(movers))
        same = new_la == movers["la"].to_numpy()
        new_la[same] = codes[(np.searchsorted(codes, new_la[same]) + 1) % len(codes)]
        movers["la"] = new_la
        movers["start"] = [e + timedelta(days=int(d)) for e, d in zip(movers["end"], rng.integers(14, 120, size=len(movers)))]
        movers["end"] = [s + timedelta(days=int(d)) for s, d in zip(movers["start"], rng.exponential(900, size=len(movers)).astype(int) + 30)]
        movers["agency"] = (rng.random(len(movers)) < 0.35).astype(int)
        w = pd.concat([w, movers], ignore_index=True)
    w["swe_no"] = [swe_no(i) for i in w["worker_id"]]
    _CACHE.clear()
    _CACHE[key] = (pop, w)
    return w


def _dec(v: float, places: int) -> str:
    return f"{v:.{places}f}"


def write_csww(ctx: GenContext, la: LocalAuthority, year: int) -> list[Path]:
    schema = collection_schema("csww", max(year, 2022))
    order = schema.meta["xml_order"]
    vac_el = "LALevel" if "LALevel" in order["Message"] else "LALevelVacancies"
    w_order = order["Message/CSWWWorker"]
    ref = date(year - 1, 9, 30)
    p0 = date(year - 2, 10, 1)
    workers = simulate_workers(ctx.pop, ctx.seed, ctx.years)
    mine = workers[(workers["la"] == la.dfe_code) & (workers["start"] <= ref) & (workers["end"] >= p0)]
    in_post = mine["end"] > ref
    # Agency workers are reported only when in post at the reference date.
    mine = mine[(mine["agency"] == 0) | in_post].sort_values(["start", "worker_id"], kind="stable")
    rng = ctx.rng("csww", la.dfe_code, year)
    truncated = ctx.dirt.file_hit(rng, 0.3)
    dirty = ctx.dirt.rate > 0 and not truncated
    faults: list[dict] = []
    body = []
    vacancy_fte = 0.0
    agency_fte, agency_head = 0.0, 0
    for i, w in enumerate(mine.itertuples(index=False), 1):
        here = w.end > ref
        left = not here
        c: dict = {}
        vals = {"AgencyWorker": str(w.agency), "SWENo": w.swe_no, "PersonBirthDate": w.dob.isoformat(),
                "OrgRole": w.role, "FTE": _dec(w.fte, 6)}
        if dirty:
            for col, weight, rule, make in (
                    ("SWENo", 0.3, "CODE_CASE", lambda v: v.lower()),
                    ("AgencyWorker", 0.2, "CODE_INVALID", lambda v: "2"),
                    ("OrgRole", 0.3, "CODE_INVALID", lambda v: ["7", "0", "CH"][int(rng.integers(0, 3))]),
                    ("PersonBirthDate", 0.3, "TYPE_DATE", lambda v: date.fromisoformat(v).strftime("%d/%m/%Y")),
                    ("FTE", 0.2, "TYPE_NUMBER", lambda v: v.replace(".", ",")),
            ):
                if ctx.dirt.hit(rng, weight):
                    bad = make(vals[col])
                    faults.append(dict(table="csww_worker", row=i, column=col, original=vals[col], injected=bad,
                                       rule=rule, locator=f"SWENo {w.swe_no}",
                                       note=f"{i}th <CSWWWorker> in document order"))
                    vals[col] = bad
        ctx.truth.add("csww", year, la.dfe_code, "csww_worker", w.swe_no, int(w.worker_id))
        c["AgencyWorker"] = f"<AgencyWorker>{vals['AgencyWorker']}</AgencyWorker>"
        c["SWENo"] = f"<SWENo>{vals['SWENo']}</SWENo>"
        c["FTE"] = f"<FTE>{vals['FTE']}</FTE>"
        c["PersonBirthDate"] = f"<PersonBirthDate>{vals['PersonBirthDate']}</PersonBirthDate>"
        if "Sex" in w_order:
            c["Sex"] = f"<Sex>{'F' if w.sex == '2' else 'M'}</Sex>"
        else:
            c["GenderCurrent"] = f"<GenderCurrent>{w.sex}</GenderCurrent>"
        c["Ethnicity"] = f"<Ethnicity>{w.ethnicity}</Ethnicity>"
        if "QualInst" in w_order:
            c["QualInst"] = f"<QualInst>{w.qual_inst}</QualInst>"
        c["QualLevel"] = f"<QualLevel>{w.qual_level}</QualLevel>"
        c["StepUpGrad"] = f"<StepUpGrad>{w.step_up}</StepUpGrad>"
        c["OrgRole"] = f"<OrgRole>{vals['OrgRole']}</OrgRole>"
        c["RoleStartDate"] = f"<RoleStartDate>{w.start.isoformat()}</RoleStartDate>"
        if w.start >= p0:
            c["StartOrigin"] = f"<StartOrigin>{w.start_origin}</StartOrigin>"
        if left:
            c["RoleEndDate"] = f"<RoleEndDate>{w.end.isoformat()}</RoleEndDate>"
            c["LeaverDestination"] = f"<LeaverDestination>{w.leaver_dest}</LeaverDestination>"
            c["ReasonLeave"] = f"<ReasonLeave>{w.reason_leave}</ReasonLeave>"
        else:
            c["FTE30"] = f"<FTE30>{_dec(w.fte, 6)}</FTE30>"
            if w.role in ("4", "5"):
                c["Cases30"] = f"<Cases30>{int(rng.integers(8, 26) * w.fte)}</Cases30>"
            if w.agency:
                agency_fte += w.fte
                agency_head += 1
        days_lost = float(rng.choice([0, 0, 0, 1, 2, 3, 5, 8, 15, 40]))
        c["WorkingDaysLost"] = f"<WorkingDaysLost>{_dec(days_lost, 2)}</WorkingDaysLost>"
        if w.agency:
            weeks = min(52.0, max(1.0, (min(w.end, ref) - max(w.start, p0)).days / 7))
            c["ContractWeeks"] = f"<ContractWeeks>{_dec(weeks, 1)}</ContractWeeks>"
        c["FrontlineGrad"] = f"<FrontlineGrad>{w.frontline}</FrontlineGrad>"
        if here:
            absent = rng.random() < 0.04
            c["Absat30Sept"] = f"<Absat30Sept>{int(absent)}</Absat30Sept>"
            if absent:
                c["ReasonAbsence"] = f"<ReasonAbsence>{['MAT', 'SIC', 'OTH', 'TRN'][int(rng.integers(0, 4))]}</ReasonAbsence>"
        if "CFKSSstatus" in w_order and w.cfkss is not None:
            c["CFKSSstatus"] = f"<CFKSSstatus>{w.cfkss}</CFKSSstatus>"
        if "BaseSalary" in w_order and not w.agency:
            c["BaseSalary"] = f"<BaseSalary>{_dec(w.salary, 2)}</BaseSalary>"
            c["RRPayments"] = f"<RRPayments>{_dec(float(rng.choice([0, 0, 0, 1500, 3000])), 2)}</RRPayments>"
            c["OtherPayments"] = f"<OtherPayments>{_dec(0.0, 2)}</OtherPayments>"
        if not w.agency and here:
            vacancy_fte += w.fte
        body.append("<CSWWWorker>" + "".join(c[k] for k in w_order if k in c) + "</CSWWWorker>")

    vac = {"NumberOfVacancies": _dec(round(vacancy_fte * synth_conf()["csww"]["vacancy_rate"], 2), 2),
           "NoAgencyFTE": _dec(agency_fte, 2), "NoAgencyHeadcount": str(agency_head)}
    if vac_el == "LALevel":
        for k in ("RecruitmentBonus", "RetentionBonus", "PerformanceAward", "CarAllowance", "RelocationPackage",
                  "RegionalWeighting", "CostSWE", "CostDBS"):
            vac[k] = str(int(rng.integers(0, 3)))
        vac["OtherAllowances"] = "None"
    vac_order = order.get(f"Message/{vac_el}") or list(vac)
    header = ("<Header><CollectionDetails><Collection>CSWW</Collection>" f"<Year>{year}</Year>"
              f"<ReferenceDate>{ref.isoformat()}</ReferenceDate></CollectionDetails><Source><SourceLevel>L</SourceLevel>"
              f"<LEA>{la.dfe_code}</LEA><SoftwareCode>Local Authority</SoftwareCode>"
              f"<DateTime>{fixed_timestamp(year).isoformat()}</DateTime></Source></Header>")
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Message>' + header + f"<{vac_el}>"
           + "".join(f"<{k}>{vac[k]}</{k}>" for k in vac_order if k in vac) + f"</{vac_el}>\n"
           + "\n".join(body) + "\n</Message>\n").encode("utf-8")
    out_dir = ctx.la_dir(la, "csww", year)
    path = out_dir / f"CSWW_{year - 1}-{year % 100:02d}_{la.dfe_code}.xml"
    rel = ctx.rel(path)
    if truncated:
        xml = ctx.truncate(xml, rng, la=la.dfe_code, collection="csww", year=year, path=path)
    for f in faults:
        ctx.faults.add(la=la.dfe_code, collection="csww", year=year, path=rel, **f)
    return ctx.write_return(path, xml, rng, la=la.dfe_code, collection="csww", year=year,
                            resend_name=f"CSWW_{year - 1}-{year % 100:02d}_{la.dfe_code}_v2.xml")
