"""The Ofsted Annex A (ILACS) workbook as LAs send it: one xlsx per LA per year, a snapshot
as at 31 March, sheets "List 1" ... "List 11".

Event lists (contacts, early help, referrals, assessments, S47) cover the six months to
the snapshot; case lists (CIN, CP, CLA, care leavers, adoption) hold current cases and
those closed in the six months; List 11 holds the LA's prospective adopters.

LAs differ in how they write the same thing, so the pipeline must match by pattern:
header text varies within what conf/collections/annex_a's regexes accept, category
values come as `a) Male`, `M`, `1` or `1 - Male`, and dates are mostly real Excel dates,
in some LAs text. Allocated workers and personal advisors are (made-up) names, as in
the real lists, which the pipeline must drop.

Dirt (recorded in ctx.faults): blank mandatory cells (MANDATORY_MISSING), invalid
categories (CODE_INVALID), text dates in odd formats (TYPE_DATE), an extra column
(COLUMN_EXTRA) and a misspelt header (COLUMN_MISSPELT). `row` is the Excel row number.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from cslake.config import LocalAuthority, local_authorities
from cslake.schemas import collection_schema
from cslake.synth.context import Dirt, GenContext
from cslake.synth.core import age_on, fixed_timestamp, normalise_zip, write_bytes, year_end
from cslake.synth.ssda903 import as_date as _d, as_text as _s, events_for_la, person_records

COLLECTION = "annex_a"
WINDOW_DAYS = 182  # "the last six months" before the snapshot

CELL_WEIGHTS = {"MANDATORY_MISSING": 0.3, "CODE_INVALID": 0.5, "TYPE_DATE": 0.5}
FILE_WEIGHTS = {"COLUMN_EXTRA": 1.0, "COLUMN_MISSPELT": 1.0}

# Header variants per column: the first is the Ofsted template's text; every variant
# still matches the column's pattern in conf/collections/annex_a (tests check this).
_CHILD = [
    ("child_id", ["Child Unique ID", "Child unique identifier", "Child ID", "CHILD UNIQUE ID"]),
    ("gender", ["Gender", "Gender", "Sex", "GENDER"]),
    ("ethnicity", ["Ethnicity", "Ethnicity code", "Ethnicity", "ETHNICITY"]),
    ("dob", ["Date of Birth", "DOB (dd/mm/yyyy)", "Date of birth", "DATE OF BIRTH"]),
    ("age", ["Age of Child (Years)", "Age", "Age of child (years)", "AGE OF CHILD (YEARS)"]),
]
_DIS = [("disability", ["Does the Child have a Disability", "Disability", "Does the child have a disability?",
                        "DOES THE CHILD HAVE A DISABILITY"])]
_TEAM = [("allocated_team", ["Allocated Team", "Allocated team", "Allocated Team", "ALLOCATED TEAM"]),
         ("allocated_worker", ["Allocated Worker", "Allocated worker", "Allocated Worker (name)", "ALLOCATED WORKER"])]


def _v(*texts: str) -> list[str]:
    """Variants of a header: as given, sentence case, as given, upper case."""
    base = texts[0]
    alt = texts[1] if len(texts) > 1 else base[0] + base[1:].lower()
    return [base, alt, base, base.upper()]


LISTS: dict[str, tuple[str, list[tuple[str, list[str]]]]] = {
    "list_1": ("Contacts", _CHILD + [
        ("contact_date", _v("Date of Contact", "Date of contact")),
        ("contact_source", _v("Contact Source", "Contact source"))]),
    "list_2": ("Early Help", _CHILD + [
        ("eh_assessment_start", _v("Assessment start date", "Early help assessment start date")),
        ("eh_assessment_end", _v("Assessment completion date", "Early help assessment completion date")),
        ("eh_organisation", _v("Organisation completing assessment"))]),
    "list_3": ("Referrals", _CHILD + [
        ("referral_date", _v("Date of referral", "Date of Referral")),
        ("referral_source", _v("Referral Source", "Referral source")),
        ("referral_nfa", _v("Referral NFA?", "Referral NFA")),
        ("referrals_last_12m", _v("Number of Referrals in Last 12 Months", "Number of referrals in last 12 months")),
    ] + _TEAM),
    "list_4": ("Assessments", _CHILD + _DIS + [
        ("assessment_start", _v("Continuous Assessment Start Date", "Assessment start date")),
        ("child_seen", _v("Child Seen During Continuous Assessment", "Child seen during assessment")),
        ("assessment_authorised", _v("Continuous Assessment Date of Authorisation", "Date of authorisation")),
        ("requires_support", _v("Was the child assessed as requiring LA children's social care support?",
                                "Assessed as requiring LA children's social care support")),
    ] + _TEAM),
    "list_5": ("Section 47", _CHILD + _DIS + [
        ("s47_start", _v("Strategy discussion initiating Section 47 Enquiry Start Date", "Section 47 enquiry start date")),
        ("icpc_not_required", _v("Was an ICPC deemed unnecessary?", "ICPC not required")),
        ("icpc_date", _v("Date of ICPC", "Date of ICPC")),
        ("icpc_to_cp_plan", _v("Did the ICPC result in a CP Plan", "Did the ICPC result in a CP plan?")),
        ("s47_last_12m", _v("Number of S47 Enquiries in the last 12 months", "Number of Section 47 enquiries in last 12 months")),
        ("icpc_last_12m", _v("Number of ICPCs in the last 12 months", "Number of ICPCs in last 12 months")),
    ] + _TEAM),
    "list_6": ("Children in Need", _CHILD + _DIS + [
        ("cin_start", _v("CIN Start Date", "CIN start date")),
        ("primary_need", _v("Primary Need Code", "Primary need code")),
        ("last_seen", _v("Date Child Was Last Seen", "Date child was last seen")),
        ("cin_closure", _v("CIN Closure Date", "CIN closure date")),
        ("closure_reason", _v("Reason for Closure", "Reason for closure")),
        ("case_status", _v("Case Status", "Case status")),
    ] + _TEAM),
    "list_7": ("Child Protection", _CHILD + _DIS + [
        ("cp_start", _v("CP Plan Start Date", "Child protection plan start date")),
        ("initial_category", _v("Initial Category of Abuse", "Initial category of abuse")),
        ("latest_category", _v("Latest Category of Abuse", "Latest category of abuse")),
        ("last_visit", _v("Date of the Last Statutory Visit", "Date of last statutory visit")),
        ("seen_alone", _v("Was the Child Seen Alone?", "Child seen alone")),
        ("latest_review", _v("Date of latest review conference", "Latest review conference date")),
        ("cp_end", _v("CP Plan End Date", "Child protection plan end date")),
        ("epo_police_powers", _v("Subject to Emergency Protection Order or Protected Under Police Powers in Last Six Months")),
        ("previous_cp_plans", _v("Number of Previous Child Protection Plans", "Number of previous CP plans")),
    ] + _TEAM),
    "list_8": ("Children Looked After", _CHILD + _DIS + [
        ("uasc", _v("UASC")),
        ("cla_start", _v("Date Started to be Looked After", "Date started to be looked after")),
        ("category_of_need", _v("Child's Category of Need", "Category of need")),
        ("subsequent_period", _v("Second or Subsequent Period of Care within 12 months")),
        ("legal_status_start", _v("Start Date of Current Legal Status")),
        ("legal_status", _v("Child's Legal Status", "Legal status")),
        ("latest_review", _v("Date of Latest Statutory Review")),
        ("last_sw_visit", _v("Date of Last Social Work Visit")),
        ("permanence_plan", _v("Permanence Plan")),
        ("last_iro_visit", _v("Date of Last IRO Visit")),
        ("last_health_assessment", _v("Date of Last Health Assessment")),
        ("last_dental_check", _v("Date of Last Dental Check")),
        ("placements_last_12m", _v("Number of Placements in Last 12 Months")),
        ("cla_end", _v("Date Ceased to be Looked After")),
        ("reason_ceased", _v("Reason Ceased", "Reason ceased to be looked after")),
        ("placement_start", _v("Start Date of Most Recent Placement")),
        ("placement_type", _v("Placement Type")),
        ("placement_provider", _v("Placement Provider")),
        ("placement_postcode", _v("Placement Postcode")),
        ("urn", _v("URN", "URN of placement")),
        ("placement_location", _v("Placement Location (In/Out of LA)", "Placement location")),
        ("placement_la", _v("LA of Placement")),
        ("missing_episodes", _v("Number of Missing Episodes", "Number of missing episodes in last 12 months")),
        ("absent_episodes", _v("Number of Absent Episodes", "Number of absence episodes")),
        ("return_interview_offered", _v("Return Interview Offered")),
        ("return_interview_accepted", _v("Return Interview Accepted")),
    ] + _TEAM),
    "list_9": ("Care Leavers", _CHILD + _DIS + [
        ("uasc", _v("UASC or former UASC")),
        ("allocated_team", _v("Allocated Team")),
        ("allocated_worker", _v("Allocated Worker")),
        ("personal_advisor", _v("Allocated Personal Advisor", "Personal adviser")),
        ("eligibility", _v("Eligibility Category")),
        ("pathway_plan_review", _v("Latest Pathway Plan Review Date")),
        ("in_touch", _v("LA in Touch", "Is the LA in touch")),
        ("latest_contact", _v("Latest Date of Contact")),
        ("accommodation", _v("Type of Accommodation")),
        ("accommodation_suitable", _v("Suitability of Accommodation")),
        ("activity", _v("Activity Status")),
    ]),
    "list_10": ("Adoption", _CHILD + _DIS + [
        ("family_id", _v("Family identifier")),
        ("entered_care", _v("Date the Child Entered Care", "Date child entered care")),
        ("adm_decision", _v("Date of Decision that Child Should be Placed for Adoption")),
        ("placement_order", _v("Date of Placement Order")),
        ("matched", _v("Date of Matching")),
        ("placed_for_adoption", _v("Date Placed for Adoption")),
        ("adoption_order", _v("Date of Adoption Order")),
        ("no_longer_placed", _v("Date of Decision that Child Should No Longer be Placed")),
        ("reason_no_longer_placed", _v("Reason no longer placed")),
        ("ffa_placement", _v("Date placed in fostering-for-adoption or concurrent planning placement")),
    ]),
    "list_11": ("Adopters", [
        ("adopter_id", _v("Individual adopter identifier")),
        ("family_id", _v("Family identifier")),
        ("gender", _v("Gender")),
        ("ethnicity", _v("Ethnicity")),
        ("disability", _v("Disability")),
        ("ffa", _v("Fostering for adoption", "Fostering for adoption / concurrent planning")),
        ("enquiry_date", _v("Date enquiry received")),
        ("stage1_start", _v("Stage 1 start date")),
        ("stage1_end", _v("Stage 1 end date")),
        ("stage2_start", _v("Stage 2 start date")),
        ("stage2_end", _v("Stage 2 end date")),
        ("application_submitted", _v("Application submitted")),
        ("application_approved", _v("Application approved")),
        ("matched", _v("Matched", "Date matched")),
        ("placed", _v("Placed", "Date placed")),
        ("children_placed", _v("Number of children placed")),
        ("adoption_order", _v("Date of Adoption Order")),
        ("left_process", _v("Date of leaving adoption process")),
        ("reason_left", _v("Reason for leaving")),
    ]),
}

# Each misspelling breaks a word the column's header pattern (conf/collections/annex_a) looks
# for: a typo elsewhere ("Continous Assessment Start Date") still matches the pattern, is read
# without guessing, and so is no COLUMN_MISSPELT fault.
MISSPELLINGS = {
    "contact_date": "Date of Contatc", "referral_date": "Date of Refferal", "assessment_start": "Continuous Assesment Start Date",
    "cp_start": "CP Plan Strat Date", "cla_start": "Date Started to be Looked Afer", "primary_need": "Primry Need Code",
    "ethnicity": "Ethnicty", "enquiry_date": "Date enquirey received", "placement_type": "Placment Type",
    "s47_start": "Strategy discussion initiating Secton 47 Enquiry Start Date",
}
EXTRA_COLUMNS = ["Notes", "Locality", "Column1", "Data checked", "Sort order"]

ETHNIC_LABELS = {
    "WBRI": "White British", "WIRI": "White Irish", "WIRT": "Traveller of Irish heritage", "WOTH": "Any other White background",
    "WROM": "Gypsy/Roma", "MWBC": "White and Black Caribbean", "MWBA": "White and Black African", "MWAS": "White and Asian",
    "MOTH": "Any other Mixed background", "AIND": "Indian", "APKN": "Pakistani", "ABAN": "Bangladeshi",
    "AOTH": "Any other Asian background", "BCRB": "Caribbean", "BAFR": "African", "BOTH": "Any other Black background",
    "CHNE": "Chinese", "OOTH": "Any other ethnic group", "REFU": "Refused", "NOBT": "Information not yet obtained",
}
_GENDER_STYLES = [
    {"M": "a) Male", "F": "b) Female", "U": "c) Not stated/recorded", "I": "d) Neither"},
    {"M": "M", "F": "F", "U": "U", "I": "I"},
    {"M": "1", "F": "2", "U": "0", "I": "9"},
    {"M": "1 - Male", "F": "2 - Female", "U": "0 - Not stated/recorded", "I": "9 - Neither/indeterminate"},
]
_YESNO_STYLES = [("a) Yes", "b) No"), ("Y", "N"), ("1", "0"), ("Yes", "No")]
_PERMANENCE = ["Return to family", "Adoption", "Long-term fostering", "Special guardianship order",
               "Child arrangements order", "Supported living in the community", "Other"]
_FIRST = ["Amara", "Ben", "Chloe", "Dev", "Esther", "Femi", "Grace", "Hamza", "Isla", "Jonah", "Kemi", "Luca",
          "Maya", "Nikhil", "Orla", "Priya", "Quinn", "Rosa", "Sami", "Tomasz", "Uma", "Violet", "Wes", "Yusuf"]
_LAST = ["Abbott", "Bello", "Carver", "Dlamini", "Ellery", "Fairbairn", "Gunn", "Hollis", "Iqbal", "Jarvis",
         "Kowal", "Lindqvist", "Mensah", "Nwosu", "Oakes", "Pryce", "Quayle", "Rourke", "Sandoval", "Thorne",
         "Umeh", "Varga", "Whitlock", "Yardley"]


def made_up_name(*keys: Any) -> str:
    """A stable, invented worker name (no real person is meant)."""
    h = int(hashlib.sha256(repr(keys).encode()).hexdigest()[:12], 16)
    return f"{_FIRST[h % len(_FIRST)]} {_LAST[(h // 97) % len(_LAST)]}"


def _style(ctx: GenContext, la: LocalAuthority) -> dict:
    """How this LA writes its workbook; stable across years, as a case system's export is."""
    r = ctx.rng(COLLECTION, "style", la.dfe_code)
    # Neighbouring LA codes get different header styles, so any two LAs already differ.
    return {"header": int(la.dfe_code) % 4, "gender": int(r.integers(0, 4)), "yesno": int(r.integers(0, 4)),
            "ethnic": int(r.integers(0, 3)), "text_dates": r.random() < 0.25, "sheet_titles": r.random() < 0.4}


# ---------------------------------------------------------------------------
# Building the lists
# ---------------------------------------------------------------------------

class _Persons:
    def __init__(self, ctx: GenContext, la: str, pids: set[int]):
        info = person_records(ctx.pop, la, pids, ["person_id", "sex", "dob", "ethnicity"])
        for rec in info.values():
            rec["child_id"] = rec["la_child_id"]
            rec["dob"] = _d(rec["dob"])
        self.info = info
        self.disabled = _disabled(ctx.events) & pids


_DIS_CACHE: dict[int, tuple[Any, set]] = {}


def _disabled(events) -> set[int]:
    if events is None or not len(events.disabilities):
        return set()
    dis = events.disabilities
    hit = _DIS_CACHE.get(id(dis))
    if hit is None or hit[0] is not dis:
        hit = (dis, set(dis.loc[dis["disability"].astype(str) != "NONE", "person_id"].astype(int)))
        _DIS_CACHE.clear()
        _DIS_CACHE[id(dis)] = hit
    return hit[1]


def _ev(ctx: GenContext, name: str, la: str) -> pd.DataFrame:
    return events_for_la(ctx.events, name, la)


def _since(df: pd.DataFrame, cols: list[str], start: date) -> pd.DataFrame:
    """Rows where any of `cols` is on/after `start` or blank (open): cheap pre-filter before
    the row-by-row work, which only ever looks at the snapshot's window."""
    if not len(df):
        return df
    keep = np.zeros(len(df), dtype=bool)
    for c in cols:
        v = pd.to_datetime(df[c], errors="coerce")
        keep |= (v >= pd.Timestamp(start)).to_numpy() | v.isna().to_numpy()
    return df[keep]


def _dates(df: pd.DataFrame, col: str) -> pd.Series:
    return df[col].map(_d) if len(df) else pd.Series([], dtype=object)


def _in(d: date | None, start: date, end: date) -> bool:
    return d is not None and start <= d <= end


def build_lists(ctx: GenContext, la: LocalAuthority, year: int) -> dict[str, tuple[list[dict], list[int | None]]]:
    """Each list's rows (column key → value; booleans, codes, dates, ints, text) and the
    person behind each (None for adopters)."""
    code = la.dfe_code
    snap = year_end(year)
    ws = snap - timedelta(days=WINDOW_DAYS)
    rng = ctx.rng(COLLECTION, "values", code, year)
    ev = {n: _ev(ctx, n, code) for n in ("contacts", "early_help", "cin_episodes", "assessments", "s47",
                                         "cp_plans", "care_episodes", "uasc", "reviews", "missing", "oc3",
                                         "ad1", "placed_adoption", "adopters", "cin_plans")}
    lists: dict[str, list[tuple[int | None, dict]]] = {k: [] for k in LISTS}

    year_before = ws - timedelta(days=365)
    episodes = _since(ev["cin_episodes"], ["referral_date", "closure_date"], year_before)
    ep_by_id = {r["episode_id"]: r for r in episodes.to_dict("records")} if len(episodes) else {}
    refs_by_person: dict[int, list[date]] = {}
    for r in ep_by_id.values():
        refs_by_person.setdefault(int(r["person_id"]), []).append(_d(r["referral_date"]))

    def team_worker(pid: int, episode_id: Any = None, team: str = "") -> dict:
        ep = ep_by_id.get(episode_id) if episode_id is not None else None
        t = _s(ep["allocated_team"]) if ep is not None else None
        w = _s(ep["allocated_worker"]) if ep is not None else None
        t = t or team or f"Team {1 + pid % 6}"
        return {"allocated_team": t, "allocated_worker": made_up_name(code, "worker", w or t, pid if not w else "")}

    # List 1 contacts
    c = _since(ev["contacts"], ["contact_date"], ws)
    for r in c[_dates(c, "contact_date").map(lambda d: _in(d, ws, snap)).astype(bool)].to_dict("records") if len(c) else []:
        lists["list_1"].append((int(r["person_id"]), {"contact_date": _d(r["contact_date"]),
                                                      "contact_source": _s(r["contact_source"])}))
    # List 2 early help
    e = _since(ev["early_help"], ["start_date", "end_date"], ws)
    if len(e):
        s, en = _dates(e, "start_date"), _dates(e, "end_date")
        keep = [(_in(a, ws, snap) or _in(b, ws, snap) or (a is not None and a <= snap and b is None))
                for a, b in zip(s, en)]
        for r in e[keep].to_dict("records"):
            end = _d(r["end_date"])
            lists["list_2"].append((int(r["person_id"]), {
                "eh_assessment_start": _d(r["start_date"]), "eh_assessment_end": end if end and end <= snap else None,
                "eh_organisation": _s(r["organisation"])}))
    # List 3 referrals
    for r in ep_by_id.values():
        ref = _d(r["referral_date"])
        if not _in(ref, ws, snap):
            continue
        pid = int(r["person_id"])
        n12 = sum(1 for d in refs_by_person[pid] if d is not None and ref - timedelta(days=365) < d <= ref)
        lists["list_3"].append((pid, {"referral_date": ref, "referral_source": _s(r["referral_source"]),
                                      "referral_nfa": _bool(r["referral_nfa"]), "referrals_last_12m": n12,
                                      **team_worker(pid, r["episode_id"])}))
    # List 4 assessments
    a = _since(ev["assessments"], ["start_date", "authorisation_date"], ws)
    if len(a):
        for r in a.to_dict("records"):
            st, au = _d(r["start_date"]), _d(r["authorisation_date"])
            if not (_in(st, ws, snap) or _in(au, ws, snap)):
                continue
            pid = int(r["person_id"])
            done = au is not None and au <= snap
            lists["list_4"].append((pid, {"assessment_start": st, "child_seen": _bool(r["child_seen"]),
                                          "assessment_authorised": au if done else None,
                                          "requires_support": _bool(r["needs_support"]) if done else None,
                                          **team_worker(pid, r["episode_id"])}))
    # List 5 S47
    s47 = _since(ev["s47"], ["start_date"], year_before)
    if len(s47):
        starts_by_person: dict[int, list[tuple[date, date | None]]] = {}
        for r in s47.to_dict("records"):
            starts_by_person.setdefault(int(r["person_id"]), []).append((_d(r["start_date"]), _d(r["icpc_date"])))
        for r in s47.to_dict("records"):
            st = _d(r["start_date"])
            if not _in(st, ws, snap):
                continue
            pid = int(r["person_id"])
            icpc = _d(r["icpc_date"])
            icpc = icpc if icpc and icpc <= snap else None
            hist = starts_by_person[pid]
            lists["list_5"].append((pid, {
                "s47_start": st, "icpc_not_required": _bool(r["icpc_not_required"]), "icpc_date": icpc,
                "icpc_to_cp_plan": _bool(r["resulted_in_cpp"]) if icpc else None,
                "s47_last_12m": sum(1 for d, _ in hist if d and st - timedelta(days=365) < d <= st),
                "icpc_last_12m": sum(1 for _, i in hist if i and st - timedelta(days=365) < i <= st),
                **team_worker(pid, r["episode_id"])}))
    # List 7 CP (before list 6: case status needs it)
    cp = _since(ev["cp_plans"], ["end_date"], ws)
    on_cp: set[int] = set()
    if len(cp):
        for r in cp.to_dict("records"):
            st, en = _d(r["start_date"]), _d(r["end_date"])
            if st is None or st > snap or (en is not None and en < ws):
                continue
            pid = int(r["person_id"])
            ended = en is not None and en <= snap
            if not ended:
                on_cp.add(pid)
            reviews = [d for d in (_d(x) for x in (r["review_dates"] or [])) if d and d <= snap]
            lists["list_7"].append((pid, {
                "cp_start": st, "initial_category": _s(r["initial_category"]),
                "latest_category": _s(r["latest_category"]),
                "last_visit": max(st, snap - timedelta(days=int(rng.integers(1, 15)))) if not ended else None,
                "seen_alone": bool(rng.random() < 0.8) if not ended else None,
                "latest_review": max(reviews) if reviews else None, "cp_end": en if ended else None,
                "epo_police_powers": bool(rng.random() < 0.04), "previous_cp_plans": _int(r["number_previous"]),
                **team_worker(pid, r["episode_id"])}))
    # List 8 CLA
    care = ev["care_episodes"]
    if len(care):  # whole histories of the children in care at any time in the window
        recent = _since(care, ["dec"], ws)
        care = care[care["person_id"].isin(recent["person_id"])]
    ev["reviews"] = _since(ev["reviews"], ["review_date"], year_before)
    ev["missing"] = _since(ev["missing"], ["mis_start"], year_before)
    looked_after: set[int] = set()
    periods: dict[int, date] = {}
    if len(care):
        looked_after, periods = _list_8(ctx, code, care, ev, snap, ws, rng, lists["list_8"], team_worker)
    # List 6 CIN
    for r in ep_by_id.values():
        ref, clo = _d(r["referral_date"]), _d(r["closure_date"])
        if ref is None or ref > snap or (clo is not None and clo < ws):
            continue
        if _bool(r["referral_nfa"]):
            continue
        pid = int(r["person_id"])
        closed = clo is not None and clo <= snap
        status = "Closed" if closed else ("CLA" if pid in looked_after else "CP" if pid in on_cp else "CIN")
        lists["list_6"].append((pid, {
            "cin_start": ref, "primary_need": _s(r["primary_need"]),
            "last_seen": None if closed else max(ref, snap - timedelta(days=int(rng.integers(1, 40)))),
            "cin_closure": clo if closed else None, "closure_reason": _s(r["reason_for_closure"]) if closed else None,
            "case_status": status, **team_worker(pid, r["episode_id"])}))
    # List 9 care leavers
    oc3 = ev["oc3"]
    if len(oc3):
        oc3 = oc3[oc3["year"].astype(int) == year]
        uasc_ever = set(ctx.events.uasc["person_id"].astype(int)) if len(ctx.events.uasc) else set()
        for r in oc3.to_dict("records"):
            pid = int(r["person_id"])
            accom = _s(r["accom"]) or "0"
            lists["list_9"].append((pid, {
                "uasc": pid in uasc_ever, "allocated_team": "Leaving Care Team",
                "allocated_worker": made_up_name(code, "lc-worker", pid % 40),
                "personal_advisor": made_up_name(code, "pa", pid % 25),
                "eligibility": None, "pathway_plan_review": snap - timedelta(days=int(rng.integers(1, 180))),
                "in_touch": _s(r["in_touch"]), "latest_contact": snap - timedelta(days=int(rng.integers(1, 90))),
                "accommodation": accom[0] if accom != "0" else "0",
                "accommodation_suitable": {"1": "Suitable", "2": "Unsuitable"}.get(accom[1:], None),
                "activity": _s(r["activ"])}))
    # List 10 adoption
    _list_10(ctx, code, ev, periods, snap, ws, lists["list_10"])
    # List 11 adopters
    ad = ev["adopters"]
    if len(ad):
        for r in ad.to_dict("records"):
            enq, left, order = _d(r["enquiry_date"]), _d(r["left_date"]), _d(r["adoption_order_date"])
            if enq is None or enq > snap or (left and left < ws) or (order and order < ws):
                continue
            row = {"adopter_id": _s(r["adopter_id"]), "family_id": _s(r["family_id"]), "gender": _s(r["sex"]),
                   "ethnicity": _s(r["ethnicity"]), "disability": _bool(r["disability"]),
                   "ffa": _bool(r["fostering_for_adoption"]), "enquiry_date": enq,
                   "children_placed": _int(r["n_children_placed"]), "reason_left": _s(r["left_reason"]),
                   "adoption_order": order, "left_process": left}
            for k in ("stage1_start", "stage1_end", "stage2_start", "stage2_end", "application_submitted",
                      "application_approved"):
                row[k] = _d(r[k])
            row["matched"], row["placed"] = _d(r["matched_date"]), _d(r["placed_date"])
            for k, v in list(row.items()):
                if isinstance(v, date) and v > snap:  # not yet happened at the snapshot
                    row[k] = None
            if row["reason_left"] and not row["left_process"]:
                row["reason_left"] = None
            lists["list_11"].append((None, row))

    pids = {pid for rows in lists.values() for pid, _ in rows if pid is not None}
    persons = _Persons(ctx, code, pids)
    out: dict[str, tuple[list[dict], list[int | None]]] = {}
    for key, rows in lists.items():
        cols = [c for c, _ in LISTS[key][1]]
        built, owners = [], []
        for pid, values in rows:
            row = dict.fromkeys(cols)
            if pid is not None:
                p = persons.info[pid]
                dob = p["dob"] if p["dob"] is not None and p["dob"] <= snap else None
                row.update({"child_id": p["child_id"], "gender": {"1": "M", "2": "F"}.get(p["sex"], "U"),
                            "ethnicity": p["ethnicity"], "dob": dob,
                            "age": age_on(dob, snap) if dob else None})
                if "disability" in row:
                    row["disability"] = pid in persons.disabled
                if key == "list_9":
                    row["eligibility"] = "Relevant" if dob and age_on(dob, snap) < 18 else "Former relevant"
            row.update({k: v for k, v in values.items() if k in row})
            built.append(row)
            owners.append(pid)
        order = sorted(range(len(built)), key=lambda i: _sort_key(built[i], cols))
        out[key] = ([built[i] for i in order], [owners[i] for i in order])
    return out


def _sort_key(row: dict, cols: list[str]) -> tuple:
    first_date = next((row[c] for c in cols if isinstance(row[c], date)), None)
    return (str(row.get(cols[0]) or ""), first_date.isoformat() if first_date else "")


def _bool(v: Any) -> bool | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, str):
        t = v.strip().lower()
        if t in ("1", "true", "y", "yes"):
            return True
        if t in ("0", "false", "n", "no"):
            return False
        return None
    return bool(v)


def _int(v: Any) -> int | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _list_8(ctx, code, care, ev, snap, ws, rng, out, team_worker) -> tuple[set[int], dict[int, date]]:
    """Current CLA and those who ceased in the six months, with what the LA's system shows."""
    by_person: dict[int, list[dict]] = {}
    for r in care.to_dict("records"):
        r["decom"], r["dec"] = _d(r["decom"]), _d(r["dec"])
        by_person.setdefault(int(r["person_id"]), []).append(r)
    reviews = ev["reviews"]
    last_review: dict[int, date] = {}
    for pid, d in zip(reviews["person_id"].astype(int) if len(reviews) else [], _dates(reviews, "review_date")):
        if d and d <= snap and d > last_review.get(pid, date.min):
            last_review[pid] = d
    missing = ev["missing"]
    miss: dict[tuple[int, str], int] = {}
    if len(missing):
        for r in missing.to_dict("records"):
            d = _d(r["mis_start"])
            if d and snap - timedelta(days=365) < d <= snap:
                key = (int(r["person_id"]), str(r["missing_type"]))
                miss[key] = miss.get(key, 0) + 1
    uasc = ev["uasc"]
    uasc_now = set()
    if len(uasc):
        uasc_now = {int(p) for p, d in zip(uasc["person_id"], _dates(uasc, "duc")) if d is None or d > snap}
    la_of_pc = _postcode_las(ctx.pop.geography)
    names = {k: v.name for k, v in local_authorities().items()}
    looked_after: set[int] = set()
    period_start: dict[int, date] = {}
    for pid, eps in by_person.items():
        eps.sort(key=lambda r: r["decom"])
        current = [i for i, r in enumerate(eps) if r["decom"] <= snap and (r["dec"] is None or r["dec"] > snap)]
        ceased = [i for i, r in enumerate(eps) if r["dec"] is not None and ws <= r["dec"] <= snap
                  and r["rec"] != "X1"]
        idx = current[0] if current else (ceased[-1] if ceased else None)
        if idx is None or eps[idx]["ls"] in ("V3", "V4"):
            continue
        ep = eps[idx]
        start = idx
        while start > 0 and eps[start]["rne"] != "S" and eps[start - 1]["dec"] == eps[start]["decom"]:
            start -= 1
        pstart = eps[start]["decom"]
        period_start[pid] = pstart
        ls_start = idx
        while ls_start > start and eps[ls_start - 1]["ls"] == ep["ls"]:
            ls_start -= 1
        pl_start = idx
        while pl_start > start and eps[pl_start]["rne"] == "L":
            pl_start -= 1
        placements = sum(1 for r in eps[start:idx + 1] if r["rne"] in ("S", "P", "B", "T", "U")
                         and r["decom"] > snap - timedelta(days=365))
        previous_end = eps[start - 1]["dec"] if start > 0 else None
        is_current = bool(current)
        if is_current:
            looked_after.add(pid)
        pl_la = la_of_pc.get(ep["pl_postcode"])
        lr = last_review.get(pid)
        m, a = miss.get((pid, "M"), 0), miss.get((pid, "A"), 0)
        offered = (m + a) > 0
        out.append((pid, {
            "uasc": pid in uasc_now, "cla_start": pstart, "category_of_need": _s(ep["cin"]),
            "subsequent_period": previous_end is not None and (pstart - previous_end).days <= 365,
            "legal_status_start": eps[ls_start]["decom"], "legal_status": _s(ep["ls"]),
            "latest_review": lr,
            "last_sw_visit": max(pstart, snap - timedelta(days=int(rng.integers(1, 42)))) if is_current else None,
            "permanence_plan": _PERMANENCE[int(rng.integers(0, len(_PERMANENCE)))],
            "last_iro_visit": lr, "last_health_assessment": max(pstart, snap - timedelta(days=int(rng.integers(10, 365)))),
            "last_dental_check": max(pstart, snap - timedelta(days=int(rng.integers(10, 420)))),
            "placements_last_12m": placements, "cla_end": None if is_current else ep["dec"],
            "reason_ceased": None if is_current else _s(ep["rec"]), "placement_start": eps[pl_start]["decom"],
            "placement_type": _s(ep["place"]), "placement_provider": _s(ep["place_provider"]),
            "placement_postcode": _s(ep["pl_postcode"]), "urn": _s(ep["urn"]),
            "placement_location": ("In" if pl_la == code else "Out") if ep["pl_postcode"] else None,
            "placement_la": names.get(pl_la) if pl_la else None,
            "missing_episodes": m, "absent_episodes": a,
            "return_interview_offered": offered if offered else None,
            "return_interview_accepted": bool(rng.random() < 0.6) if offered else None,
            **team_worker(pid, None, "Children Looked After Team")}))
    return looked_after, period_start


_PC_CACHE: dict[int, tuple[Any, dict]] = {}


def _postcode_las(geo) -> dict:
    # Built once per geography (per worker process), not once per LA-year.
    hit = _PC_CACHE.get(id(geo))
    if hit is None or hit[0] is not geo:
        pc = geo.postcodes
        hit = (geo, dict(zip(pc["postcode"], pc["la"])))
        _PC_CACHE.clear()
        _PC_CACHE[id(geo)] = hit
    return hit[1]


def _list_10(ctx, code, ev, periods, snap, ws, out) -> None:
    placed, ad1 = ev["placed_adoption"], ev["ad1"]
    rows: dict[int, dict] = {}
    for r in (ad1.to_dict("records") if len(ad1) else []):
        adopted, decided = _d(r["date_adopted"]), _d(r["date_int"])
        if decided is None or decided > snap or (adopted is not None and adopted < ws):
            continue
        pid = int(r["person_id"])
        match = _d(r["date_match"])
        rows[pid] = {"adm_decision": decided, "placement_order": min(snap, decided + timedelta(days=75)),
                     "matched": match if match and match <= snap else None,
                     "adoption_order": adopted if adopted and adopted <= snap else None}
    for r in (placed.to_dict("records") if len(placed) else []):
        dp, dc = _d(r["date_placed"]), _d(r["date_placed_ceased"])
        if dp is None or dp > snap or (dc is not None and dc < ws):
            continue
        pid = int(r["person_id"])
        row = rows.setdefault(pid, {"adm_decision": dp - timedelta(days=120)})
        row["placed_for_adoption"] = dp
        reason = _s(r["reason_placed_ceased"])
        if dc and dc <= snap and reason and reason != "RD1":
            row["no_longer_placed"], row["reason_no_longer_placed"] = dc, reason
    for pid, row in rows.items():
        row["entered_care"] = periods.get(pid)
        row["family_id"] = "FAM" + hashlib.sha256(f"{code}:{pid}".encode()).hexdigest()[:6].upper()
        out.append((pid, row))


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def write_annex_a(ctx: GenContext, la: LocalAuthority, year: int) -> list[Path]:
    """Write one LA's Annex A workbook as at 31 March of `year`; returns the path."""
    schema = collection_schema(COLLECTION, year)
    style = _style(ctx, la)
    lists = build_lists(ctx, la, year)
    folder = ctx.la_dir(la, COLLECTION, year)
    path = folder / _file_name(la, year, style)
    snap = year_end(year)
    stamp = fixed_timestamp(year)

    book = _XlsxBook(creator=f"{la.name} children's services", stamp=fixed_timestamp(year))
    for key, (rows, owners) in lists.items():
        label, columns = LISTS[key]
        number = key.split("_")[1]
        sheet_title = f"List {number} - {label}" if style["sheet_titles"] else f"List {number}"
        tschema = schema.tables[key]
        rng = ctx.rng(COLLECTION, "dirt", la.dfe_code, year, key)
        headers = [variants[style["header"] % len(variants)] for _, variants in columns]
        keys = [c for c, _ in columns]
        rendered = [[_render(k, row[k], tschema, style) for k in keys] for row in rows]
        faults = _cell_dirt(ctx, keys, rows, rendered, tschema, rng)
        extra, misspelt = None, None
        if ctx.dirt.file_hit(rng, FILE_WEIGHTS["COLUMN_MISSPELT"]):
            options = [i for i, k in enumerate(keys) if k in MISSPELLINGS]
            if options:
                j = options[int(rng.integers(0, len(options)))]
                misspelt = (keys[j], headers[j], MISSPELLINGS[keys[j]])
                headers[j] = MISSPELLINGS[keys[j]]
        if ctx.dirt.file_hit(rng, FILE_WEIGHTS["COLUMN_EXTRA"]):
            extra = (int(rng.integers(1, len(headers) + 1)), EXTRA_COLUMNS[int(rng.integers(0, len(EXTRA_COLUMNS)))])
        if extra:
            headers.insert(extra[0], extra[1])
            for values in rendered:
                values.insert(extra[0], None)
        book.add_sheet(sheet_title, headers, rendered)
        rel = ctx.rel(path)
        for excel_row, k, rule, original, injected in faults:
            rid = rows[excel_row - 2].get("child_id") or rows[excel_row - 2].get("adopter_id")
            ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=rel, table=key, row=excel_row,
                           locator=f"sheet={sheet_title};id={rid}", column=k, original=_plain(original),
                           injected=_plain(injected), rule=rule)
        if misspelt:
            ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=rel, table=key, row=1,
                           locator=f"sheet={sheet_title}", column=misspelt[0], original=misspelt[1],
                           injected=misspelt[2], rule="COLUMN_MISSPELT")
        if extra:
            ctx.faults.add(la=la.dfe_code, collection=COLLECTION, year=year, path=rel, table=key, row=1,
                           locator=f"sheet={sheet_title}", column=extra[1], injected=extra[1], rule="COLUMN_EXTRA")
        for row, pid in zip(rows, owners):
            if pid is not None:
                ctx.truth.add(COLLECTION, year, la.dfe_code, key, row["child_id"], pid)
    write_bytes(path, normalise_zip(book.to_bytes()))
    return [path]


def _file_name(la: LocalAuthority, year: int, style: dict) -> str:
    slug = la.name.replace(" ", "_")
    names = [f"Annex_A_{slug}_{year}-03-31.xlsx", f"{slug} Annex A {year - 1}-{year % 100:02d}.xlsx",
             f"AnnexA_{la.dfe_code}_{year}.xlsx", f"ILACS Annex A lists {year}.xlsx"]
    return names[style["header"] % len(names)]


def _plain(v: Any) -> str:
    if isinstance(v, (date, datetime)):
        return f"{v.day:02d}/{v.month:02d}/{v.year}"
    return "" if v is None else str(v)


def _render(key: str, value: Any, tschema, style: dict) -> Any:
    """The value as this LA's export writes it (clean: a category style, a date or text date)."""
    if value is None:
        return None
    spec = tschema.columns.get(key)
    if isinstance(value, bool):
        yes, no = _YESNO_STYLES[style["yesno"]]
        return yes if value else no
    if key == "gender":
        return _GENDER_STYLES[style["gender"]].get(value, value)
    if key == "ethnicity":
        label = ETHNIC_LABELS.get(value)
        if style["ethnic"] == 1 and label:
            return f"{value} - {label}"
        if style["ethnic"] == 2 and label:
            return f"{value}: {label}"
        return value
    if isinstance(value, date):
        if style["text_dates"] and spec is not None and key != "dob":
            return _plain(value)
        return value
    return value


# ---------------------------------------------------------------------------
# A small streaming xlsx writer: openpyxl costs ~25 us a cell, too slow for a region's
# workbooks at full scale; this writes the same SpreadsheetML parts directly.
# ---------------------------------------------------------------------------

_EXCEL_EPOCH = date(1899, 12, 30)
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"


def _col_letters(n: int) -> list[str]:
    out = []
    for i in range(n):
        s, k = "", i + 1
        while k:
            k, r = divmod(k - 1, 26)
            s = chr(65 + r) + s
        out.append(s)
    return out


_NEEDS_ESCAPE = re.compile(r'[&<>"]')


def _esc(text: str) -> str:
    if not _NEEDS_ESCAPE.search(text):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class _XlsxBook:
    def __init__(self, creator: str, stamp: datetime):
        self.creator, self.stamp = creator, stamp
        self.sheets: list[tuple[str, str]] = []

    def add_sheet(self, title: str, header: list[str], rows: list[list]) -> None:
        letters = _col_letters(max(len(header), 1))
        parts = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_NS}" '
                 f'xmlns:r="{_REL_NS}"><sheetData>']
        for r, values in enumerate([header] + rows, 1):
            cells = []
            for c, v in enumerate(values):
                if v is None or v == "":
                    continue
                ref = f"{letters[c]}{r}"
                if isinstance(v, bool):
                    cells.append(f'<c r="{ref}" t="b"><v>{int(v)}</v></c>')
                elif isinstance(v, date):
                    cells.append(f'<c r="{ref}" s="1"><v>{(v - _EXCEL_EPOCH).days}</v></c>')
                elif isinstance(v, (int, float, np.integer, np.floating)):
                    cells.append(f'<c r="{ref}"><v>{v}</v></c>')
                else:
                    cells.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_esc(str(v))}</t></is></c>')
            parts.append(f'<row r="{r}">{"".join(cells)}</row>')
        parts.append("</sheetData></worksheet>")
        self.sheets.append((title, "".join(parts)))

    def to_bytes(self) -> bytes:
        n = len(self.sheets)
        ts = self.stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        files = {
            "[Content_Types].xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
                + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                          for i in range(1, n + 1)) + "</Types>"),
            "_rels/.rels": (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL}">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
                "</Relationships>"),
            "docProps/core.xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
                f"<dc:creator>{_esc(self.creator)}</dc:creator>"
                f'<dcterms:created xsi:type="dcterms:W3CDTF">{ts}</dcterms:created>'
                f'<dcterms:modified xsi:type="dcterms:W3CDTF">{ts}</dcterms:modified>'
                "</cp:coreProperties>"),
            "xl/workbook.xml": (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_NS}" xmlns:r="{_REL_NS}"><sheets>'
                + "".join(f'<sheet name="{_esc(t)}" sheetId="{i}" r:id="rId{i}"/>'
                          for i, (t, _) in enumerate(self.sheets, 1)) + "</sheets></workbook>"),
            "xl/_rels/workbook.xml.rels": (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL}">'
                + "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
                          for i in range(1, n + 1))
                + f'<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
                "</Relationships>"),
            "xl/styles.xml": (
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{_NS}">'
                '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts>'
                '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
                '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
                '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
                '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
                "</styleSheet>"),
        }
        for i, (_, xml) in enumerate(self.sheets, 1):
            files[f"xl/worksheets/sheet{i}.xml"] = xml
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # normalise_zip compresses
            for name, text in files.items():
                z.writestr(name, text.encode("utf-8"))
        return buf.getvalue()


def _cell_dirt(ctx: GenContext, keys: list[str], rows: list[dict], rendered: list[list], tschema,
               rng: np.random.Generator) -> list[tuple]:
    """Cell faults on the rendered values; returns (excel row, column, rule, original, injected)."""
    faults: list[tuple] = []
    n = len(rows)
    if n == 0 or ctx.dirt.rate <= 0:
        return faults
    draws = rng.random((n, len(keys)))
    rate = ctx.dirt.rate
    for j, key in enumerate(keys):
        spec = tschema.columns.get(key)
        if spec is None or key == "child_id" or key == "adopter_id":
            continue
        options = []
        if spec.mandatory:
            options.append(("MANDATORY_MISSING", CELL_WEIGHTS["MANDATORY_MISSING"]))
        if spec.codes is not None:
            options.append(("CODE_INVALID", CELL_WEIGHTS["CODE_INVALID"]))
        if spec.type == "date":
            options.append(("TYPE_DATE", CELL_WEIGHTS["TYPE_DATE"]))
        if not options:
            continue
        total = rate * sum(w for _, w in options)
        for i in np.nonzero(draws[:, j] < total)[0]:
            i = int(i)
            original = rendered[i][j]
            if original is None or original == "":
                continue
            u, acc = draws[i, j] / rate, 0.0
            for rule, w in options:
                acc += w
                if u < acc:
                    break
            if rule == "MANDATORY_MISSING":
                new = None
            elif rule == "CODE_INVALID":
                new = Dirt.invalid_code(list(spec.codes) + list(spec.aliases) + ["Y", "N", "Yes", "No"], rng, spec)
            else:
                true = rows[i][key]
                new = _odd_date(true, rng)
            rendered[i][j] = new
            faults.append((i + 2, key, rule, rows[i][key] if rule != "CODE_INVALID" else original,
                           "" if new is None else new))
    return faults


def _odd_date(d: date, rng: np.random.Generator) -> str:
    """A date typed as text in a form that is not dd/mm/yyyy and cannot be read as a date."""
    options = [d.strftime("%d.%m.%Y") + " (tbc)", d.strftime("%Y%m%d"), d.strftime("%d %b %y").upper() + "?",
               f"{d.day:02d}/{d.month:02d}", d.strftime("%B %Y"), "TBC", "unknown"]
    return options[int(rng.integers(0, len(options)))]
