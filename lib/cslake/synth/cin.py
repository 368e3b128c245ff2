"""The Children in Need census as an LA sends it: one XML file per LA and year.

What the census holds is what the LA's system knows on the reference date (31 March):
every referral episode open at any time in the year, with the assessments, CIN plans,
S47 enquiries and CP plans active in the year; dates after the reference date are not
known yet (an episode closed in May shows as open). Element order and the year's codes
come from conf/collections/cin (GenderCurrent becomes Sex in 2025, CINPlanDates from 2022).

LAs' mistakes are injected at ctx.dirt rates and recorded in the fault manifest. For XML,
a fault's `row` is the 1-based ordinal, in document order, of the row element of its table
(<Child>, <CINdetails>, <Assessments>, <Section47>, <ChildProtectionPlans>).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lxml import etree

from cslake.config import LocalAuthority
from cslake.schemas import collection_schema
from cslake.synth.context import Dirt, GenContext
from cslake.synth.core import fixed_timestamp, write_bytes, write_resend, year_end, year_start
from cslake.synth.population import identifiers_on
from cslake.upn import CHECK_LETTERS

COLLECTION = "cin"
_SOFTWARE = ["Mosaic", "LCS", "Liquidlogic", "Eclipse", "CareFirst", "Azeus"]

# Row element of each flattened table (conf/collections/cin/base.yaml).
ROW_ELEMENT = {"cin_child": "Child", "cin_episode": "CINdetails", "cin_assessment": "Assessments",
               "cin_plan": "CINPlanDates", "cin_s47": "Section47", "cin_cpp": "ChildProtectionPlans"}

# Per-opportunity weights on ctx.dirt.rate for each cell/row fault.
_WEIGHTS = {"CODE_CASE": 2.0, "CODE_INVALID": 0.6, "TYPE_DATE": 0.4, "CIN_8500": 0.3, "MANDATORY_MISSING": 0.4,
            "UPN_INVALID": 1.0, "CIN_8608": 0.8, "CIN_8620": 0.4, "CIN_8630": 0.8, "CIN_8615": 0.8}
_FILE_WEIGHTS = {"FILE_NOT_WELLFORMED": 0.5, "FILE_DUPLICATE": 1.0, "FILE_RESUBMISSION": 1.0,
                 "FILE_PATH_MISMATCH": 0.5, "FILE_ENCODING": 1.0}


def file_name(la: LocalAuthority | str, year: int) -> str:
    code = la.dfe_code if isinstance(la, LocalAuthority) else la
    return f"CIN_{code}_{year}.xml"


# ---------------------------------------------------------------------------
# Selecting what the census holds
# ---------------------------------------------------------------------------

_LA_CACHE: dict[tuple[int, str], dict[str, Any]] = {}


def _la_events(ctx: GenContext, la: str) -> dict[str, Any]:
    """This LA's episodes grouped by child, their parts grouped by episode, and the
    children's attributes, as plain dicts (cached: a worker writes one LA for several years)."""
    key = (id(ctx.events), la)
    if key not in _LA_CACHE:
        if len(_LA_CACHE) > 4:
            _LA_CACHE.clear()
        ev = ctx.events
        eps = ev.cin_episodes[ev.cin_episodes["la"] == la].sort_values(["person_id", "referral_date"], kind="stable")
        ids = set(eps["episode_id"])
        by_person: dict[int, list[dict]] = {}
        for rec in eps.to_dict("records"):
            by_person.setdefault(int(rec["person_id"]), []).append(rec)
        parts: dict[str, dict[str, list[dict]]] = {}
        for name in ("assessments", "cin_plans", "s47", "cp_plans"):
            df = getattr(ev, name)
            df = df[df["episode_id"].isin(ids)].sort_values("start_date", kind="stable")
            for rec in df.to_dict("records"):
                parts.setdefault(rec["episode_id"], {}).setdefault(name, []).append(rec)
        pids = list(by_person)
        people = ctx.pop.people
        info = {int(r["person_id"]): r for r in people[people["person_id"].isin(pids)].to_dict("records")}
        res = ctx.pop.residence
        spells = res[(res["la"] == la) & res["person_id"].isin(pids)].drop_duplicates("person_id")
        child_ids = dict(zip(spells["person_id"].astype(int), spells["la_child_id"]))
        dis: dict[int, list[str]] = {}
        d = ev.disabilities[ev.disabilities["person_id"].isin(pids)]
        for p, code in zip(d["person_id"].to_numpy(), d["disability"].to_numpy()):
            dis.setdefault(int(p), []).append(code)
        _LA_CACHE[key] = {"by_person": by_person, "parts": parts, "info": info, "ids": child_ids, "dis": dis}
    return _LA_CACHE[key]


def _active(start, end, ys: date, ye: date) -> bool:
    """Started by the reference date and not ended before the year began."""
    return start is not None and start <= ye and (end is None or end >= ys)


def census_records(ctx: GenContext, la: str, year: int) -> list[dict]:
    """The children of one LA's census for `year`, as the LA's system knows them on
    31 March: each a dict of person_id, la_child_id and the episodes with their parts
    (dates after the reference date dropped). Exposed for tests and other writers."""
    ys, ye = year_start(year), year_end(year)
    ev = _la_events(ctx, la)
    parts = ev["parts"]

    def known(d):
        return d if d is not None and d <= ye else None

    children = []
    for pid, eps in ev["by_person"].items():
        sel = [e for e in eps if e["referral_date"] <= ye and (e["closure_date"] is None or e["closure_date"] >= ys)]
        if not sel:
            continue
        person = ev["info"][pid]
        episodes = []
        for e in sel:
            eid = e["episode_id"]
            got = parts.get(eid, {})
            a_list = []
            for a in got.get("assessments", []):
                auth = known(a["authorisation_date"])
                if _active(a["start_date"], auth, ys, ye):
                    a_list.append({"start": a["start_date"], "auth": auth,
                                   "factors": list(a["factors"]) if auth is not None else []})
            p_list = [{"start": p["start_date"], "end": known(p["end_date"])} for p in got.get("cin_plans", [])
                      if _active(p["start_date"], known(p["end_date"]), ys, ye)]
            s_list = []
            for s in got.get("s47", []):
                icpc = known(s["icpc_date"])
                if _active(s["start_date"], icpc or (s["start_date"] if s["icpc_not_required"] else None), ys, ye):
                    s_list.append({"start": s["start_date"], "target": s["icpc_target_date"], "icpc": icpc,
                                   "not_required": bool(s["icpc_not_required"]) and icpc is None})
            c_list = [{"start": c["start_date"], "end": known(c["end_date"]), "initial": c["initial_category"],
                       "latest": c["latest_category"], "previous": int(c["number_previous"]),
                       "reviews": [r for r in (c["review_dates"] or []) if r <= ye]}
                      for c in got.get("cp_plans", []) if _active(c["start_date"], known(c["end_date"]), ys, ye)]
            icpcs = [s["icpc"] for s in s_list if s["icpc"] is not None]
            closure = known(e["closure_date"])
            episodes.append({"episode_id": eid, "referral": e["referral_date"], "source": e["referral_source"],
                             "need": e["primary_need"], "closure": closure,
                             "reason": e["reason_for_closure"] if closure is not None else None,
                             "icpc": min(icpcs) if icpcs else None, "nfa": bool(e["referral_nfa"]),
                             "assessments": a_list, "plans": p_list, "s47": s_list, "cpps": c_list})
        dead = [ep["closure"] for ep in episodes if ep["reason"] == "RC2" and ep["closure"] is not None]
        dob = person["dob"].date()
        children.append({"person_id": pid, "la_child_id": ev["ids"].get(pid) or f"{la}X{pid}",
                         "ids": identifiers_on(person, ye), "dob": dob, "unborn": dob > ye,
                         "sex": person["sex"], "ethnicity": person["ethnicity"], "no_upn": bool(person["no_upn"]),
                         "disabilities": ev["dis"].get(pid, []), "death": dead[0] if dead else None,
                         "episodes": episodes})
    children.sort(key=lambda c: str(c["la_child_id"]))
    return children


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _upn_unknown(child: dict, ye: date) -> str:
    age = (ye - child["dob"]).days / 365.25
    if age < 6:
        return "UN1"  # under 6, not yet at school
    return "UN4" if not child["no_upn"] else "UN5"


def _child_data(child: dict, year: int, with_plans: bool, sex_element: str) -> dict:
    ye = year_end(year)
    ids = child["ids"]
    sex = child["sex"]
    if sex_element == "Sex":
        sex_value = "U" if child["unborn"] else {"1": "M", "2": "F"}.get(sex, "U")
    else:
        sex_value = "0" if child["unborn"] else sex
    ident = {"LAchildID": str(child["la_child_id"]), "UPN": ids["upn"], "FormerUPN": ids["former_upn"],
             "UPNunknown": None if ids["upn"] else _upn_unknown(child, ye),
             "PersonBirthDate": None if child["unborn"] else _iso(child["dob"]),
             "ExpectedPersonBirthDate": _iso(child["dob"]) if child["unborn"] else None,
             sex_element: sex_value, "PersonDeathDate": _iso(child["death"])}
    chars: dict[str, Any] = {"Ethnicity": child["ethnicity"]}
    if child["disabilities"]:
        chars["Disabilities"] = {"Disability": list(child["disabilities"])}
    details = []
    for e in child["episodes"]:
        d: dict[str, Any] = {
            "CINreferralDate": _iso(e["referral"]), "ReferralSource": e["source"], "PrimaryNeedCode": e["need"],
            "CINclosureDate": _iso(e["closure"]), "ReasonForClosure": e["reason"],
            # The ICPC is written once, at the level the schema wants: on its Section47 when
            # the return holds that S47 (DfE 2884 rejects the date at both levels).
            "DateOfInitialCPC": None if any(s["icpc"] == e["icpc"] for s in e["s47"]) else _iso(e["icpc"]),
            "Assessments": [{"AssessmentActualStartDate": _iso(a["start"]),
                             "AssessmentAuthorisationDate": _iso(a["auth"]),
                             "FactorsIdentifiedAtAssessment": {"AssessmentFactors": a["factors"]} if a["factors"] else None}
                            for a in e["assessments"]],
            "Section47": [{"S47ActualStartDate": _iso(s["start"]), "InitialCPCtarget": _iso(s["target"]),
                           "DateOfInitialCPC": _iso(s["icpc"]), "ICPCnotRequired": "1" if s["not_required"] else "0"}
                          for s in e["s47"]],
            "ReferralNFA": "1" if e["nfa"] else "0",
            "ChildProtectionPlans": [{"CPPstartDate": _iso(c["start"]), "CPPendDate": _iso(c["end"]),
                                      "InitialCategoryOfAbuse": c["initial"], "LatestCategoryOfAbuse": c["latest"],
                                      "NumberOfPreviousCPP": str(c["previous"]),
                                      "Reviews": {"CPPreviewDate": [_iso(r) for r in c["reviews"]]} if c["reviews"] else None}
                                     for c in e["cpps"]],
        }
        if with_plans:
            d["CINPlanDates"] = [{"CINPlanStartDate": _iso(p["start"]), "CINPlanEndDate": _iso(p["end"])}
                                 for p in e["plans"]]
        details.append(d)
    return {"ChildIdentifiers": ident, "ChildCharacteristics": chars, "CINdetails": details}


def _build(parent: etree._Element, path: str, data: dict, order: dict[str, list[str]]) -> None:
    sub = etree.SubElement
    for tag in order.get(path) or list(data):
        v = data.get(tag)
        if v is None:
            continue
        kind = type(v)
        if kind is str:
            sub(parent, tag).text = v
        elif kind is list:
            if v and type(v[0]) is str:
                for item in v:
                    sub(parent, tag).text = item
            else:
                inner = f"{path}/{tag}"
                for item in v:
                    _build(sub(parent, tag), inner, item, order)
        else:
            _build(sub(parent, tag), f"{path}/{tag}", v, order)


def _header(la: str, year: int, serial: int, when) -> etree._Element:
    h = etree.Element("Header")
    cd = etree.SubElement(h, "CollectionDetails")
    etree.SubElement(cd, "Collection").text = "CIN"
    etree.SubElement(cd, "Year").text = str(year)
    etree.SubElement(cd, "ReferenceDate").text = year_end(year).isoformat()
    src = etree.SubElement(h, "Source")
    etree.SubElement(src, "SourceLevel").text = "L"
    etree.SubElement(src, "LEA").text = la
    etree.SubElement(src, "SoftwareCode").text = _SOFTWARE[int(la) % len(_SOFTWARE)]
    etree.SubElement(src, "Release").text = f"{year - 2000}.{int(la) % 7}.1"
    etree.SubElement(src, "SerialNo").text = f"{serial:03d}"
    etree.SubElement(src, "DateTime").text = when.isoformat()
    return h


def _render(la: str, year: int, children_data: list[dict], order: dict, serial: int, when) -> bytes:
    import io
    buf = io.BytesIO()
    with etree.xmlfile(buf, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element("Message"):
            xf.write("\n  ")
            header = _header(la, year, serial, when)
            etree.indent(header, space="  ", level=1)
            xf.write(header)
            xf.write("\n  ")
            with xf.element("Children"):
                for cd in children_data:
                    xf.write("\n    ")
                    el = etree.Element("Child")
                    _build(el, "Message/Children/Child", cd, order)
                    etree.indent(el, space="  ", level=2)
                    xf.write(el)
                xf.write("\n  ")
            xf.write("\n")
    return buf.getvalue() + b"\n"


def write_cin(ctx: GenContext, la: LocalAuthority, year: int) -> list[Path]:
    """Write `CIN_<LA>_<year>.xml` (plus any duplicate / earlier / truncated copies the
    file-level dirt makes) and record truth and faults."""
    code = la.dfe_code
    children = census_records(ctx, code, year)
    if not children:
        return []
    schema = collection_schema(COLLECTION, year)
    order = schema.meta["xml_order"]
    ident_order = order["Message/Children/Child/ChildIdentifiers"]
    sex_element = "Sex" if "Sex" in ident_order else "GenderCurrent"
    with_plans = "CINPlanDates" in order["Message/Children/Child/CINdetails"]
    data = [_child_data(c, year, with_plans, sex_element) for c in children]
    for c in children:
        ctx.truth.add(COLLECTION, year, code, "cin_child", str(c["la_child_id"]), c["person_id"])

    folder = ctx.la_dir(la, COLLECTION, year)
    path = folder / file_name(la, year)
    frng = ctx.rng("cin-file-dirt", code, year)
    file_faults = [rule for rule, w in _FILE_WEIGHTS.items() if ctx.dirt.file_hit(frng, w)]
    if "FILE_PATH_MISMATCH" in file_faults:
        path = _misplaced(ctx, la, year, frng)
    clean_data = [_deepcopy(d) for d in data] if "FILE_RESUBMISSION" in file_faults else None
    _inject(ctx, la, year, data, schema, path)
    when = fixed_timestamp(year)
    written: list[Path] = []
    body = _render(code, year, data, order, 2 if "FILE_RESUBMISSION" in file_faults else 1, when)
    if "FILE_ENCODING" in file_faults:
        body = b"\xef\xbb\xbf" + body
        ctx.faults.add(la=code, collection=COLLECTION, year=year, path=ctx.rel(path), rule="FILE_ENCODING",
                       original="UTF-8", injected="UTF-8 with BOM", note="byte-order mark before the XML declaration")
    if "FILE_PATH_MISMATCH" in file_faults:
        ctx.faults.add(la=code, collection=COLLECTION, year=year, path=ctx.rel(path), rule="FILE_PATH_MISMATCH",
                       original=ctx.rel(ctx.la_dir(la, COLLECTION, year) / file_name(la, year)),
                       injected=ctx.rel(path), note="file saved in another LA's or year's folder; content is right")
    write_bytes(path, body)
    written.append(path)

    if clean_data is not None:
        # The first submission, later corrected: a few children were missing from it.
        drop = max(1, len(clean_data) // 50)
        early = folder / f"CIN_{code}_{year}_v1.xml"
        write_bytes(early, _render(code, year, clean_data[:-drop] if len(clean_data) > drop else clean_data,
                                   order, 1, when - timedelta(days=21)))
        written.append(early)
        ctx.faults.add(la=code, collection=COLLECTION, year=year, path=ctx.rel(early), rule="FILE_RESUBMISSION",
                       original="SerialNo 001", injected=f"superseded by {ctx.rel(path)} (SerialNo 002)",
                       note=f"earlier submission lacking the last {drop} children")
    if "FILE_DUPLICATE" in file_faults:
        dup = path.parent / f"{path.stem} (1).xml"
        write_resend(path, dup, body)
        written.append(dup)
        ctx.faults.add(la=code, collection=COLLECTION, year=year, path=ctx.rel(dup), rule="FILE_DUPLICATE",
                       original=ctx.rel(path), injected=ctx.rel(dup), note="byte-identical copy uploaded twice")
    if "FILE_NOT_WELLFORMED" in file_faults:
        cut = _cut_point(body, frng)
        bad = folder / f"CIN_{code}_{year}_upload.xml"
        write_bytes(bad, body[:cut])
        written.append(bad)
        ctx.faults.add(la=code, collection=COLLECTION, year=year, path=ctx.rel(bad), rule="FILE_NOT_WELLFORMED",
                       original=f"{len(body)} bytes", injected=f"{cut} bytes",
                       note=f"failed upload: truncated at byte {cut}, inside an element")
    return written


def _deepcopy(d):
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def _cut_point(body: bytes, rng) -> int:
    """A byte offset inside some element's text, well past the header."""
    lo = len(body) // 3
    cut = lo + int(rng.integers(0, max(1, len(body) // 2)))
    # Step forward to just after an opening tag's '>' and one character of its text.
    nxt = body.find(b"Date>", cut)
    return nxt + 7 if nxt > 0 and nxt + 7 < len(body) - 20 else cut


def _misplaced(ctx: GenContext, la: LocalAuthority, year: int, rng) -> Path:
    others = [x for x in ctx.pop.region.las if x.dfe_code != la.dfe_code]
    if others and rng.random() < 0.5:
        other = others[int(rng.integers(0, len(others)))]
        return ctx.la_dir(other, COLLECTION, year) / file_name(la, year)
    return ctx.la_dir(la, COLLECTION, year + (1 if rng.random() < 0.5 else -1)) / file_name(la, year)


# ---------------------------------------------------------------------------
# Cell and row faults
# ---------------------------------------------------------------------------

def _bad_upn(upn: str) -> str:
    i = CHECK_LETTERS.find(upn[0])
    return CHECK_LETTERS[(i + 1 + (i < 0)) % len(CHECK_LETTERS)] + upn[1:]


def _inject(ctx: GenContext, la: LocalAuthority, year: int, data: list[dict], schema, path: Path) -> None:
    dirt: Dirt = ctx.dirt
    if dirt.rate <= 0:
        return
    rng = ctx.rng("cin-dirt", la.dfe_code, year)
    rel = ctx.rel(path)
    code = la.dfe_code
    counters = {t: 0 for t in ROW_ELEMENT}

    def add(table, column, original, injected, rule, locator, note=""):
        ctx.faults.add(la=code, collection=COLLECTION, year=year, path=rel, table=table, row=counters[table],
                       locator=locator, column=column, original=original, injected=injected, rule=rule,
                       note=(note + "; " if note else "") + f"row = ordinal of <{ROW_ELEMENT[table]}> in document order")

    def codes(table, column):
        return schema.tables[table].columns[column].codes or []

    def hit(rule):
        return dirt.hit(rng, _WEIGHTS[rule])

    for cd in data:
        counters["cin_child"] += 1
        ident = cd["ChildIdentifiers"]
        child_id = ident["LAchildID"]
        loc = f"LAchildID={child_id}"
        if hit("CIN_8500"):
            add("cin_child", "LAchildID", child_id, "", "CIN_8500", f"child #{counters['cin_child']}")
            ident["LAchildID"] = ""
        if ident.get("UPN") and hit("UPN_INVALID"):
            bad = _bad_upn(ident["UPN"])
            add("cin_child", "UPN", ident["UPN"], bad, "UPN_INVALID", loc, "wrong check letter")
            ident["UPN"] = bad
        chars = cd["ChildCharacteristics"]
        if hit("CODE_CASE"):
            new = Dirt.lower_or_pad(chars["Ethnicity"], rng)
            add("cin_child", "Ethnicity", chars["Ethnicity"], new, "CODE_CASE", loc)
            chars["Ethnicity"] = new
        elif hit("MANDATORY_MISSING"):
            add("cin_child", "Ethnicity", chars["Ethnicity"], "", "MANDATORY_MISSING", loc)
            chars["Ethnicity"] = ""
        for ep in cd["CINdetails"]:
            counters["cin_episode"] += 1
            eloc = f"{loc}; CINreferralDate={ep['CINreferralDate']}"
            if hit("CODE_CASE"):
                new = Dirt.lower_or_pad(ep["ReferralSource"], rng)
                if new != ep["ReferralSource"]:
                    add("cin_episode", "ReferralSource", ep["ReferralSource"], new, "CODE_CASE", eloc)
                    ep["ReferralSource"] = new
            elif hit("CODE_INVALID"):
                new = Dirt.invalid_code(codes("cin_episode", "PrimaryNeedCode"), rng,
                                        schema.tables["cin_episode"].columns["PrimaryNeedCode"])
                add("cin_episode", "PrimaryNeedCode", ep["PrimaryNeedCode"], new, "CODE_INVALID", eloc)
                ep["PrimaryNeedCode"] = new
            elif hit("MANDATORY_MISSING"):
                add("cin_episode", "ReferralSource", ep["ReferralSource"], "", "MANDATORY_MISSING", eloc)
                ep["ReferralSource"] = ""
            if ep["CINclosureDate"] and hit("CIN_8620"):
                ref = date.fromisoformat(ep["CINreferralDate"])
                new = (ref - timedelta(days=int(rng.integers(1, 60)))).isoformat()
                add("cin_episode", "CINclosureDate", ep["CINclosureDate"], new, "CIN_8620", eloc)
                ep["CINclosureDate"] = new
            elif hit("TYPE_DATE"):
                col = "CINclosureDate" if ep["CINclosureDate"] else "CINreferralDate"
                new = Dirt.wrong_date_format(date.fromisoformat(ep[col]), rng, "%Y-%m-%d")
                add("cin_episode", col, ep[col], new, "TYPE_DATE", eloc)
                ep[col] = new
            for a in ep["Assessments"]:
                counters["cin_assessment"] += 1
                if a["AssessmentAuthorisationDate"] and hit("CIN_8608"):
                    st = date.fromisoformat(a["AssessmentActualStartDate"])
                    new = (st - timedelta(days=int(rng.integers(1, 30)))).isoformat()
                    add("cin_assessment", "AssessmentAuthorisationDate", a["AssessmentAuthorisationDate"], new,
                        "CIN_8608", f"{eloc}; AssessmentActualStartDate={a['AssessmentActualStartDate']}")
                    a["AssessmentAuthorisationDate"] = new
            for s in ep["Section47"]:
                counters["cin_s47"] += 1
                if s["DateOfInitialCPC"] and hit("CIN_8615"):
                    icpc = date.fromisoformat(s["DateOfInitialCPC"])
                    new = (icpc + timedelta(days=int(rng.integers(1, 20)))).isoformat()
                    add("cin_s47", "S47ActualStartDate", s["S47ActualStartDate"], new, "CIN_8615",
                        f"{eloc}; DateOfInitialCPC={s['DateOfInitialCPC']}")
                    s["S47ActualStartDate"] = new
            for c in ep["ChildProtectionPlans"]:
                counters["cin_cpp"] += 1
                cloc = f"{eloc}; CPPstartDate={c['CPPstartDate']}"
                if c["CPPendDate"] and hit("CIN_8630"):
                    st = date.fromisoformat(c["CPPstartDate"])
                    new = (st - timedelta(days=int(rng.integers(1, 90)))).isoformat()
                    add("cin_cpp", "CPPendDate", c["CPPendDate"], new, "CIN_8630", cloc)
                    c["CPPendDate"] = new
                elif hit("CODE_CASE"):
                    new = Dirt.lower_or_pad(c["LatestCategoryOfAbuse"], rng)
                    add("cin_cpp", "LatestCategoryOfAbuse", c["LatestCategoryOfAbuse"], new, "CODE_CASE", cloc)
                    c["LatestCategoryOfAbuse"] = new
            counters["cin_plan"] += len(ep.get("CINPlanDates") or [])
