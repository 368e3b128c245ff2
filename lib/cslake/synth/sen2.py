"""SEN2 (person-level from 2023): one XML per LA per year, from the simulated SEND journeys.

Census day: January of collection year N (conf/collections/sen2 reference_date). The
return covers requests received in calendar year N-1, every plan active on census
day, and plans ceased during N-1. Requests from before the period (and plans
transferred in from another LA) are reported with RequestOutcome H and
AssessmentOutcome H. Element order comes from the collection schema's xml_order, so
2024's review items and 2025's RequestSource / ReviewDraft / DSCO appear only when due.

Truth: one record per <Person>, table sen2_person, record_key = the Person's 1-based
ordinal in the file (SEN2 carries no LA child id). Faults name the ordinal of the row
element of their table (<Person>, <Requests>, <SENneed>) in document order.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from cslake.config import LocalAuthority
from cslake.schemas import collection_schema
from cslake.synth.context import GenContext
from cslake.synth.core import fixed_timestamp
from cslake.synth.population import identifiers_on
from cslake.synth.send import census_date, synthetic_names, uln_of
from cslake.upn import check_letter

FIRST_YEAR = 2023
_ORDER_ROOT = "Message/Persons/Person"


def _d(v) -> str:
    return v.isoformat() if isinstance(v, date) else str(v)


def _el(name: str, value) -> str:
    return f"<{name}>{value}</{name}>"


def _ordered(children: dict[str, list[str] | str | None], order: list[str]) -> str:
    parts = []
    for name in order:
        v = children.get(name)
        if v is None:
            continue
        parts.extend(v if isinstance(v, list) else [v])
    return "".join(parts)


class _LaView:
    """The journeys of one LA as plain dicts (pandas row access is far too slow per element)."""

    def __init__(self, sen, la: str):
        self.requests = sen.requests[sen.requests["la"] == la]
        self.assess = {r["request_id"]: r for r in sen.assessments[sen.assessments["la"] == la].to_dict("records")}
        self.plans = sen.plans[sen.plans["la"] == la]
        self.plan_by_req = {r["request_id"]: r for r in self.plans.to_dict("records")}
        self.placements: dict[int, list[dict]] = {}
        for r in sen.placements[sen.placements["la"] == la].to_dict("records"):
            self.placements.setdefault(r["plan_id"], []).append(r)
        self.needs: dict[int, list[tuple]] = {}
        for r in sen.needs[sen.needs["plan_id"].isin(self.plans["plan_id"])].to_dict("records"):
            self.needs.setdefault(r["plan_id"], []).append((r["sen_type"], r["rank"]))


_VIEWS: dict = {}


def _view(sen, la: str) -> _LaView:
    hit = _VIEWS.get(la)
    if hit is None or hit[0] is not sen:  # identity: a new simulation invalidates the view
        if len(_VIEWS) > 4:
            _VIEWS.clear()
        hit = _VIEWS[la] = (sen, _LaView(sen, la))
    return hit[1]


def write_sen2(ctx: GenContext, la: LocalAuthority, year: int) -> list[Path]:
    if year < FIRST_YEAR or ctx.sen is None:
        return []
    schema = collection_schema("sen2", year)
    order = schema.meta["xml_order"]
    cd = census_date(year)
    p0, p1 = date(year - 1, 1, 1), date(year - 1, 12, 31)
    view = _view(ctx.sen, la.dfe_code)
    req, plans = view.requests, view.plans

    def active(df):
        return (df["start_date"] <= cd) & df["cease_date"].map(lambda c: c is None or c > cd)

    in_period = req["received_date"].map(lambda d: p0 <= d <= p1) & (req["received_date"] <= cd)
    plan_keep = active(plans) | plans["cease_date"].map(lambda c: c is not None and p0 <= c <= cd) \
        | plans["start_date"].map(lambda s: p0 <= s <= cd)
    keep_req = in_period.to_numpy() | req["request_id"].isin(plans.loc[plan_keep, "request_id"]).to_numpy()
    req = req[keep_req & (req["received_date"] <= cd).to_numpy()].sort_values(["person_id", "received_date", "request_id"])
    if req.empty:
        return []
    persons = ctx.pop.residents(la.dfe_code, cd - timedelta(days=500), cd)
    persons = persons[persons["person_id"].isin(req["person_id"].unique())]
    persons = {r["person_id"]: r for r in
               persons.sort_values("res_start").drop_duplicates("person_id", keep="last").to_dict("records")}
    rng = ctx.rng("sen2", la.dfe_code, year)

    out_dir = ctx.la_dir(la, "sen2", year)
    fname = f"SEN2_{year}_{la.dfe_code}.xml"
    path = out_dir / fname
    truncated = ctx.dirt.file_hit(rng, 0.3)
    faults: list[dict] = []
    counters = {"sen2_person": 0, "sen2_request": 0, "sen2_sen_need": 0}

    def fault(table, column, original, injected, rule, locator="", note=""):
        faults.append(dict(table=table, row=counters[table], column=column, original=original, injected=injected,
                           rule=rule, locator=locator, note=note or f"{counters[table]}th <{_ROW_EL[table]}> in document order"))

    dirty = ctx.dirt.rate > 0 and not truncated
    body: list[str] = []
    pids = req["person_id"].to_numpy()
    fore, sur = synthetic_names(np.unique(pids), ctx.pop.people.set_index("person_id")["sex"].reindex(np.unique(pids)).to_numpy(), salt="child")
    names = dict(zip(np.unique(pids), zip(fore, sur)))
    ulns = dict(zip(np.unique(pids), uln_of(np.unique(pids))))
    by_person: dict = {}
    for r in req.to_dict("records"):
        by_person.setdefault(r["person_id"], []).append(r)
    for pid in sorted(by_person):
        preq = by_person[pid]
        if pid not in persons:
            continue
        person = persons[pid]
        counters["sen2_person"] += 1
        ctx.truth.add("sen2", year, la.dfe_code, "sen2_person", str(counters["sen2_person"]), int(pid))
        forename, surname = names[pid]
        dob = pd.Timestamp(person["dob"]).date()
        ids = identifiers_on(person, cd)
        age = cd.year - dob.year - ((cd.month, cd.day) < (dob.month, dob.day))
        sex = "F" if person["sex"] == "2" else "M"
        eth = person["ethnicity"]
        upn = ids["upn"]
        dob_text = dob.isoformat()
        loc = f"Person {counters['sen2_person']}"
        if dirty:
            if ctx.dirt.hit(rng, 0.5):
                bad = sex.lower()
                fault("sen2_person", "Sex", sex, bad, "CODE_CASE", loc)
                sex = bad
            if ctx.dirt.hit(rng, 0.3):
                bad = ["WHIT", "Other", "99"][int(rng.integers(0, 3))]
                fault("sen2_person", "Ethnicity", eth, bad, "CODE_INVALID", loc)
                eth = bad
            if ctx.dirt.hit(rng, 0.3):
                bad = dob.strftime(["%d/%m/%Y", "%Y/%m/%d", "%d-%m-%Y"][int(rng.integers(0, 3))])
                fault("sen2_person", "PersonBirthDate", dob_text, bad, "TYPE_DATE", loc)
                dob_text = bad
            if upn and ctx.dirt.hit(rng, 0.5):
                wrong = [c for c in "ABCDEFGHJKLMNPQRTUVWXYZ" if c != check_letter(upn[1:])][int(rng.integers(0, 22))]
                fault("sen2_person", "UPN", upn, wrong + upn[1:], "UPN_INVALID", loc, "wrong check letter")
                upn = wrong + upn[1:]
            if ctx.dirt.hit(rng, 0.2):
                fault("sen2_person", "Surname", surname, "", "MANDATORY_MISSING", loc, "element omitted")
                surname = None
        pf = {
            "Surname": _el("Surname", surname) if surname else None,
            "Forename": _el("Forename", forename),
            "PersonBirthDate": _el("PersonBirthDate", dob_text),
            "Sex": _el("Sex", sex),
            "Ethnicity": _el("Ethnicity", eth),
            "PostCode": _el("PostCode", person["postcode"]),
            "UPN": _el("UPN", upn) if upn else None,
            "UniqueLearnerNumber": _el("UniqueLearnerNumber", ulns[pid]) if age >= 14 else None,
            "UPNunknown": None if upn else _el("UPNunknown", "UN2" if age < 5 else ("UN8" if age >= 19 else "UN1")),
        }
        reqs = []
        for r in preq:
            counters["sen2_request"] += 1
            reqs.append(_request(ctx, view, r, cd, p0, year, order, rng, dirty, fault, counters))
        pf["Requests"] = reqs
        body.append("<Person>" + _ordered(pf, order[_ORDER_ROOT]) + "</Person>")

    src = order["Message/Header/Source"]
    dmo = "YNR"[int(rng.integers(0, 3))]
    source = _ordered({
        "SourceLevel": _el("SourceLevel", "L"), "LEA": _el("LEA", la.dfe_code),
        "SoftwareCode": _el("SoftwareCode", "Local Authority"), "Release": _el("Release", f"ver{year}.1"),
        "SerialNo": _el("SerialNo", "001"), "DateTime": _el("DateTime", fixed_timestamp(year).isoformat()),
        "DMO": _el("DMO", dmo), "DCO": _el("DCO", "YNR"[int(rng.integers(0, 3))]), "DSCO": _el("DSCO", "N"),
    }, src)
    header = ("<Header><CollectionDetails>" + _el("Collection", "SEN2") + _el("Year", year)
              + _el("ReferenceDate", cd.isoformat()) + "</CollectionDetails><Source>" + source + "</Source></Header>")
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Message>' + header + "<Persons>" + "\n".join(body)
           + "</Persons></Message>\n").encode("utf-8")
    if ctx.dirt.file_hit(rng, 0.3):
        # The LA names the file after the year it started (N-1); the header says N.
        path = out_dir / f"SEN2_{year - 1}_{la.dfe_code}.xml"
        ctx.faults.add(la=la.dfe_code, collection="sen2", year=year, path=ctx.rel(path), rule="FILE_PATH_MISMATCH",
                       column="file name", original=fname, injected=path.name,
                       note="file name says the previous year; the header says the collection year")
    rel = ctx.rel(path)
    if truncated:
        xml = ctx.truncate(xml, rng, la=la.dfe_code, collection="sen2", year=year, path=path)
    for f in faults:
        ctx.faults.add(la=la.dfe_code, collection="sen2", year=year, path=rel, **f)
    return ctx.write_return(path, xml, rng, la=la.dfe_code, collection="sen2", year=year,
                            resend_name=f"{path.stem}_resent.xml")


def _sen_types(year: int) -> set[str]:
    return set(collection_schema("sen2", year).tables["sen2_sen_need"].columns["SENtype"].codes)


_ROW_EL = {"sen2_person": "Person", "sen2_request": "Requests", "sen2_sen_need": "SENneed"}


def _request(ctx, view: _LaView, r, cd: date, p0: date, year: int, order: dict, rng, dirty: bool, fault, counters) -> str:
    rq_order = order["Message/Persons/Person/Requests"]
    historical = r["outcome"] == "H" or r["received_date"] < p0
    c: dict = {"ReceivedDate": _el("ReceivedDate", _d(r["received_date"]))}
    if "RequestSource" in rq_order and not historical:
        c["RequestSource"] = _el("RequestSource", r["request_source"])
    c["RYA"] = _el("RYA", r["rya"])
    decided = r["outcome_date"] is not None and r["outcome_date"] <= cd
    if historical:
        outcome = "H"
    elif decided:
        outcome = r["outcome"]
        c["RequestOutcomeDate"] = _el("RequestOutcomeDate", _d(r["outcome_date"]))
        c["RequestMediation"] = _el("RequestMediation", r["mediation"])
        c["RequestTribunal"] = _el("RequestTribunal", r["tribunal"])
    else:
        outcome = "A"
    shown = outcome
    if dirty and ctx.dirt.hit(rng, 0.2):
        # Free text, a padded lower-case form of the outcome itself (valid once normalised:
        # CODE_CASE, not a different outcome), or a code that does not exist.
        shown = ["Yes", f"{outcome.lower()} ", "ZZ"][int(rng.integers(0, 3))]
        fault("sen2_request", "RequestOutcome", outcome, shown, "CODE_CASE" if shown.strip() == outcome.lower() else "CODE_INVALID",
              f"Requests {counters['sen2_request']}")
    c["RequestOutcome"] = _el("RequestOutcome", shown)
    plan = view.plan_by_req.get(r["request_id"])
    a_order = order["Message/Persons/Person/Requests/Assessment"]
    if historical:
        if plan is not None:
            named = _named_plan(plan, view, cd, order, historical=True)
            c["Assessment"] = "<Assessment>" + _ordered({"AssessmentOutcome": _el("AssessmentOutcome", "H"),
                                                        "NamedPlan": named}, a_order) + "</Assessment>"
    elif outcome == "Y" and r["request_id"] in view.assess:
        a = view.assess[r["request_id"]]
        ac: dict = {}
        if a["outcome_date"] is not None and a["outcome_date"] <= cd:
            ac["AssessmentOutcome"] = _el("AssessmentOutcome", a["outcome"])
            ac["AssessmentOutcomeDate"] = _el("AssessmentOutcomeDate", _d(a["outcome_date"]))
            ac["AssessmentMediation"] = _el("AssessmentMediation", a["mediation"])
            ac["AssessmentTribunal"] = _el("AssessmentTribunal", a["tribunal"])
            ac["OtherMediation"] = _el("OtherMediation", a["other_mediation"])
            ac["OtherTribunal"] = _el("OtherTribunal", a["other_tribunal"])
            if a["outcome"] == "Y":
                ac["Week20"] = _el("Week20", a["week20"])
                if plan is not None and plan["start_date"] <= cd:
                    ac["NamedPlan"] = _named_plan(plan, view, cd, order, historical=False)
        else:
            ac["AssessmentOutcome"] = _el("AssessmentOutcome", "A")
        c["Assessment"] = "<Assessment>" + _ordered(ac, a_order) + "</Assessment>"
    if plan is not None and plan["start_date"] <= cd and (plan["cease_date"] is None or plan["cease_date"] > cd):
        c["ActivePlans"] = _active(ctx, plan, view, cd, year, order, rng, dirty, fault, counters)
    return "<Requests>" + _ordered(c, rq_order) + "</Requests>"


def _setting(p: dict | pd.Series) -> dict:
    out = {}
    if p["urn"] is not None:
        out["URN"] = _el("URN", p["urn"])
    elif p["ukprn"] is not None:
        out["UKPRN"] = _el("UKPRN", p["ukprn"])
    else:
        out["SENSetting"] = _el("SENSetting", p["sen_setting"])
    out["PlacementRank"] = _el("PlacementRank", p["placement_rank"])
    if p["urn"] is not None:
        out["SENunitIndicator"] = _el("SENunitIndicator", p["sen_unit"])
        out["ResourcedProvisionIndicator"] = _el("ResourcedProvisionIndicator", p["resourced"])
    return out


def _named_plan(plan, view: _LaView, cd: date, order: dict, historical: bool) -> str:
    np_order = order["Message/Persons/Person/Requests/Assessment/NamedPlan"]
    c: dict = {"StartDate": _el("StartDate", _d(plan["start_date"]))}
    if not historical:
        pls = view.placements.get(plan["plan_id"])
        if pls:
            first = pls[0]
            c["PlanDetail"] = "<PlanDetail>" + _ordered(
                _setting(first), order["Message/Persons/Person/Requests/Assessment/NamedPlan/PlanDetail"]) + "</PlanDetail>"
        if plan["plan_res"] is not None:
            c["PlanRes"] = _el("PlanRes", plan["plan_res"])
        if plan["plan_wbp"] is not None:
            c["PlanWBP"] = _el("PlanWBP", plan["plan_wbp"])
        c["PB"] = _el("PB", plan["pb"])
        c["OA"] = _el("OA", plan["oa"])
        if plan["dp"] is not None:
            c["DP"] = _el("DP", plan["dp"])
    if plan["cease_date"] is not None and plan["cease_date"] <= cd:
        c["CeaseDate"] = _el("CeaseDate", _d(plan["cease_date"]))
        c["CeaseReason"] = _el("CeaseReason", plan["cease_reason"])
    return "<NamedPlan>" + _ordered(c, np_order) + "</NamedPlan>"


def _active(ctx, plan, view: _LaView, cd: date, year: int, order: dict, rng, dirty, fault, counters) -> str:
    ap_order = order["Message/Persons/Person/Requests/ActivePlans"]
    pd_order = order["Message/Persons/Person/Requests/ActivePlans/PlacementDetail"]
    c: dict = {}
    if plan["transfer_from"] is not None:
        c["TransferLA"] = _el("TransferLA", plan["transfer_from"])
    details = []
    pls = view.placements.get(plan["plan_id"])
    if pls is not None:
        since = date(year - 1, 1, 1)
        for p in pls:
            if p["entry_date"] > cd or (p["leaving_date"] is not None and p["leaving_date"] < since):
                continue
            pc = _setting(p)
            pc["EntryDate"] = _el("EntryDate", _d(p["entry_date"]))
            if p["leaving_date"] is not None and p["leaving_date"] <= cd:
                pc["LeavingDate"] = _el("LeavingDate", _d(p["leaving_date"]))
            if p["res"] is not None:
                pc["Res"] = _el("Res", p["res"])
            if p["wbp"] is not None:
                pc["WBP"] = _el("WBP", p["wbp"])
            details.append("<PlacementDetail>" + _ordered(pc, pd_order) + "</PlacementDetail>")
    c["PlacementDetail"] = details
    valid_types = _sen_types(year)
    needs = []
    for t, rank in view.needs.get(plan["plan_id"], []):
        counters["sen2_sen_need"] += 1
        t = t if t in valid_types else "OTH"  # DS has its own code only from 2025
        shown = t
        if dirty and ctx.dirt.hit(rng, 0.3):
            shown = t.lower()
            fault("sen2_sen_need", "SENtype", t, shown, "CODE_CASE", f"SENneed {counters['sen2_sen_need']}")
        needs.append("<SENneed>" + _el("SENtype", shown) + _el("SENtypeRank", rank) + "</SENneed>")
    c["SENneed"] = needs
    start = plan["start_date"]
    years_in = (cd - start).days // 365
    if years_in >= 1:
        anniv = start + timedelta(days=365 * years_in)
        meeting = anniv - timedelta(days=int(rng.integers(0, 40)))
        last_review = min(meeting + timedelta(days=int(rng.integers(7, 28))), cd)
        if "ReviewMeeting" in ap_order:
            c["ReviewMeeting"] = _el("ReviewMeeting", _d(meeting))
        c["LastReview"] = _el("LastReview", _d(last_review))
        if "ReviewOutcome" in ap_order:
            outcome = "AMM"[int(rng.integers(0, 3))]
            c["ReviewOutcome"] = _el("ReviewOutcome", outcome)
            if "ReviewDraft" in ap_order and outcome == "A":
                c["ReviewDraft"] = _el("ReviewDraft", _d(min(last_review + timedelta(days=int(rng.integers(10, 40))), cd)))
    return "<ActivePlans>" + _ordered(c, ap_order) + "</ActivePlans>"
