"""Faults that DfE's rules as data (conf/rules.yaml DFE_*, conf/silver.yaml) should catch, written
into a generated region's files by the agreement test (tests/test_dfe_validators.py) and
bench/dfe_agreement.py, seeded.

Each one is a plausible LA mistake that trips the DfE rule it names, recorded as (rule, LA, year,
file, row) (for the multi-table rules, the row changed, which need not be the row DfE flags).
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta
from pathlib import Path

from lxml import etree

RATE = 0.04  # share of the eligible rows of each kind that get one fault


def _d(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:  # a date the generator wrote in another format (TYPE_DATE)
        return None


def _dmy(text: str | None) -> date | None:
    try:
        d, m, y = (text or "").split("/")
        return date(int(y), int(m), int(d))
    except ValueError:
        return None


def _census(year: int) -> tuple[date, date]:
    return date(year - 1, 4, 1), date(year, 3, 31)


def _cin(path: Path, year: int, rng: random.Random) -> list[tuple[str, str, int]]:
    """CIN faults; rows are 1-based ordinals of the row element per table (as cslake's _row)."""
    tree = etree.parse(str(path))
    ys, ye = _census(year)
    counters = {"CINdetails": 0, "Assessments": 0, "Section47": 0, "ChildProtectionPlans": 0, "CINPlanDates": 0}
    done = []

    def set_(el, tag, value):
        e = el.find(tag)
        if e is None:
            return False
        e.text = value.isoformat()
        return True

    # multi-table rules: NONE added to a child's other disabilities (8790), an authorised
    # assessment's factors removed (8897Q), an episode with an assessment marked NFA (8831)
    for child in tree.iter("Child"):
        dis = child.find("ChildCharacteristics/Disabilities")
        if dis is not None and len(dis) and all(d.text != "NONE" for d in dis) and rng.random() < RATE:
            etree.SubElement(dis, "Disability").text = "NONE"
            done.append(("8790", "Disabilities", 0))
    for ass in tree.iter("Assessments"):
        f = ass.find("FactorsIdentifiedAtAssessment")
        if f is not None and ass.find("AssessmentAuthorisationDate") is not None and rng.random() < RATE:
            ass.remove(f)
            done.append(("8897Q", "Assessments", 0))
    for ep in tree.iter("CINdetails"):
        nfa = ep.find("ReferralNFA")
        if nfa is not None and nfa.text in ("0", "false") and ep.find("Assessments") is not None and rng.random() < RATE:
            nfa.text = "1"
            done.append(("8831", "CINdetails", 0))

    # issue 13's later rules: a UPN with a letter among characters 5-12 (1540), a CP plan without its
    # number of previous plans (8730), a referral with an S47 closed RC8 (2990)
    for ids in tree.iter("ChildIdentifiers"):
        upn = ids.find("UPN")
        if upn is not None and upn.text and len(upn.text) == 13 and rng.random() < RATE:
            upn.text = upn.text[:6] + "X" + upn.text[7:]
            done.append(("1540", "ChildIdentifiers", 0))
    for cpp in tree.iter("ChildProtectionPlans"):
        n = cpp.find("NumberOfPreviousCPP")
        if n is not None and rng.random() < RATE:
            cpp.remove(n)
            done.append(("8730", "ChildProtectionPlans", 0))
    for ep in tree.iter("CINdetails"):
        reason = ep.find("ReasonForClosure")
        if reason is not None and ep.find("Section47") is not None and rng.random() < RATE:
            reason.text = "RC8"
            done.append(("2990", "CINdetails", 0))

    for ep in tree.iter("CINdetails"):
        counters["CINdetails"] += 1
        ref = _d(ep.findtext("CINreferralDate"))
        parts = {t: [] for t in counters if t != "CINdetails"}
        for t in parts:
            for el in ep.findall(t):
                counters[t] += 1
                parts[t].append((el, counters[t]))
        if ref is None or rng.random() >= RATE * 3:
            continue
        before = ref - timedelta(days=rng.randint(2, 20))
        after = ye + timedelta(days=rng.randint(2, 20))
        options = []
        for el, n in parts["Assessments"]:
            options += [("1103", lambda el=el: set_(el, "AssessmentActualStartDate", before), "Assessments", n)]
            if el.find("AssessmentAuthorisationDate") is not None:
                options += [("8696", lambda el=el: set_(el, "AssessmentAuthorisationDate", after), "Assessments", n)]
        for el, n in parts["Section47"]:
            options += [("2889", lambda el=el: set_(el, "S47ActualStartDate", before), "Section47", n)]
            if el.find("DateOfInitialCPC") is not None:
                options += [("8715", lambda el=el: set_(el, "DateOfInitialCPC", after), "Section47", n)]
        for el, n in parts["ChildProtectionPlans"]:
            options += [("1105", lambda el=el: set_(el, "CPPstartDate", before), "ChildProtectionPlans", n)]
            if el.find("CPPendDate") is not None:
                options += [("8930", lambda el=el: set_(el, "CPPendDate", after), "ChildProtectionPlans", n)]
        for el, n in parts["CINPlanDates"]:
            if el.find("CINPlanEndDate") is not None:
                options += [("4013", lambda el=el: set_(el, "CINPlanEndDate", after), "CINPlanDates", n)]
        if ep.find("CINclosureDate") is not None:
            options += [("8620", lambda: set_(ep, "CINclosureDate", after), "CINdetails", counters["CINdetails"])]
        if not options:
            continue
        rule, apply, table, n = options[rng.randrange(len(options))]
        if apply():
            done.append((rule, table, n))
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")
    return done


def _other_dob(r: dict) -> dict:
    d = r["DOB"]
    return {"DOB": d[:6] + str(int(d[6:]) - 1)} if len(d) == 10 and d[6:].isdigit() else {}


# SSDA903: (rule, table recognised by its columns, condition on the row, change to the row: values
# or a function of the row)
_903 = [
    ("165", {"MOTHER", "SEX"}, lambda r: r["SEX"] in ("1", "M") and not r["MOTHER"], {"MOTHER": "0"}),
    ("193", {"SUBSTANCE_MISUSE"}, lambda r: r["SUBSTANCE_MISUSE"] == "0",
     {"INTERVENTION_RECEIVED": "1"}),
    ("158", {"SUBSTANCE_MISUSE"}, lambda r: r["SUBSTANCE_MISUSE"] == "0",
     {"SUBSTANCE_MISUSE": "1", "INTERVENTION_RECEIVED": "1", "INTERVENTION_OFFERED": "0"}),
    ("133", {"ACCOM"}, lambda r: r["ACCOM"] not in ("0", ""), {"ACCOM": "S1"}),
    ("344", {"IN_TOUCH"}, lambda r: r["IN_TOUCH"] == "YES", {"IN_TOUCH": "RHOM"}),
    ("520", {"LS_ADOPTR"}, lambda r: r["NB_ADOPTR"] == "2", {"LS_ADOPTR": "L11", "SEX_ADOPTR": "FF"}),
    ("524", {"LS_ADOPTR"}, lambda r: r["NB_ADOPTR"] == "2", {"LS_ADOPTR": "L12", "SEX_ADOPTR": "MF"}),
    ("517", {"LS_ADOPTR"}, lambda r: r["NB_ADOPTR"] == "2", {"LS_ADOPTR": "L3", "SEX_ADOPTR": "MM"}),
    ("514", {"LS_ADOPTR"}, lambda r: r["NB_ADOPTR"] == "1", {"LS_ADOPTR": "L0", "SEX_ADOPTR": "MF"}),
    ("SW13STG1", {"SW_REASON"}, lambda r: bool(r["SW_REASON"]), {"SW_REASON": "FAMREQ"}),
    ("222", {"DECOM"}, lambda r: r["PLACE"] in ("U4", "U5", "U6") and r["URN"].startswith("SC"), {"PLACE": "R1"}),
    ("378", {"DECOM"}, lambda r: r["LS"] == "V2" and r["RNE"] != "S", {"PLACE": "P1", "PLACE_PROVIDER": "PR0",
                                                                      "URN": "XXXXXXX"}),
    ("380", {"DECOM"}, lambda r: r["RNE"] == "S" and r["LS"] != "V2", {"PLACE": "T1", "PLACE_PROVIDER": "",
                                                                      "URN": "", "REASON_PLACE_CHANGE": ""}),
    ("226", {"DECOM"}, lambda r: r["RNE"] == "P" and r["REASON_PLACE_CHANGE"] != "", {"PLACE": "T2",
                                                                                     "PLACE_PROVIDER": "",
                                                                                     "URN": ""}),
    # previous-year rules: a child's date of birth or ethnicity differs from last year's header
    ("203", {"MOTHER"}, lambda r: len(r["DOB"]) == 10, _other_dob),
    ("204", {"MOTHER"}, lambda r: r["ETHNIC"] == "WBRI", {"ETHNIC": "WIRI"}),
    # an episode's reason for ending says the child left care (E8) though the next one starts that day
    ("388", {"DECOM"}, lambda r: r["REC"] == "X1", {"REC": "E8"}),
    # a continuation episode starting a day after the previous one ended (433; 388 on the previous)
    ("433", {"DECOM"}, lambda r: r["RNE"] in ("P", "T", "U", "B", "L") and _dmy(r["DECOM"]) is not None,
     lambda r: {"DECOM": (_dmy(r["DECOM"]) + timedelta(days=1)).strftime("%d/%m/%Y")}),
    # a missing period's date of birth a year off the header's (INT13)
    ("INT13", {"MIS_START"}, lambda r: len(r["DOB"]) == 10, _other_dob),
    # issue 13's later rules: a placement written without its provider (526), a previous permanence
    # order's LA written as a name (633), a short break of three weeks (365)
    ("526", {"DECOM"}, lambda r: r["PLACE"] in ("U1", "U4", "U5", "U6", "R1") and r["PLACE_PROVIDER"] != "",
     {"PLACE_PROVIDER": ""}),
    ("633", {"LA_PERM"}, lambda r: r["LA_PERM"] != "", {"LA_PERM": "LEWISHAM"}),
    ("365", {"DECOM"}, lambda r: r["LS"] == "V3" and _dmy(r["DECOM"]) is not None and _dmy(r["DEC"]) is not None,
     lambda r: {"DEC": (_dmy(r["DECOM"]) + timedelta(days=21)).strftime("%d/%m/%Y")}),
]


def _ssda903(path: Path, rng: random.Random, year: int | None = None) -> list[tuple[str, str, int]]:
    """SSDA903 faults; rows are CSV line numbers (header = 1), as cslake's _row."""
    raw = path.read_bytes().decode("utf-8-sig")
    eol = "\r\n" if "\r\n" in raw else "\n"
    rows = list(csv.DictReader(io.StringIO(raw)))
    if not rows:
        return []
    cols = list(rows[0].keys())
    kinds = [k for k in _903 if k[1] <= set(cols)]
    done = []
    for i, r in enumerate(rows):
        r = {k: (v or "") for k, v in r.items()}
        for rule, _, cond, change in kinds:
            if cond(r) and rng.random() < RATE * 3:
                rows[i].update(change(r) if callable(change) else change)
                done.append((rule, "", i + 2))
                break
    if {"DECOM", "DEC", "RNE"} <= set(cols):
        # 501: an episode starting 3 days before the child's previous episode (the row above) ends
        for i in range(1, len(rows)):
            a, b = rows[i - 1], rows[i]
            start, end = _dmy(a.get("DECOM")), _dmy(a.get("DEC"))
            if (b.get("CHILD") == a.get("CHILD") and start and end and (end - start).days > 10
                    and _dmy(b.get("DECOM")) and rng.random() < RATE * 3):
                b["DECOM"] = (end - timedelta(days=3)).strftime("%d/%m/%Y")
                done.append(("501", "", i + 2))
    if year is not None and {"DECOM", "PLACE", "PLACE_PROVIDER"} <= set(cols):
        # 503D / 503E: the episode open since before the year (last year's open one) written with
        # another placement type (foster care U4 <-> U6) or provider (PR4 <-> PR5) than last year
        for i, r in enumerate(rows):
            start = _dmy(r.get("DECOM"))
            if start is None or start >= _census(year)[0] or rng.random() >= RATE * 3:
                continue
            if r.get("PLACE") in ("U4", "U6") and rng.random() < 0.5:
                r["PLACE"] = {"U4": "U6", "U6": "U4"}[r["PLACE"]]
                done.append(("503D", "", i + 2))
            elif r.get("PLACE_PROVIDER") in ("PR4", "PR5"):
                r["PLACE_PROVIDER"] = {"PR4": "PR5", "PR5": "PR4"}[r["PLACE_PROVIDER"]]
                done.append(("503E", "", i + 2))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator=eol)
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))
    return done


def inject(raw: Path, seed: int = 13) -> list[dict]:
    """Write the faults into every CIN and SSDA903 file under ``raw``; returns what was done."""
    out = []
    for f in sorted(raw.glob("[0-9][0-9][0-9]/cin/*/*.xml")):
        rng = random.Random(f"{seed}:{f.relative_to(raw)}")
        for rule, table, row in _cin(f, int(f.parts[-2]), rng):
            out.append({"rule": rule, "la": f.parts[-4], "year": int(f.parts[-2]), "file": f.name,
                        "table": table, "row": row})
    for f in sorted(raw.glob("[0-9][0-9][0-9]/ssda903/*/*.csv")):
        rng = random.Random(f"{seed}:{f.relative_to(raw)}")
        for rule, _, row in _ssda903(f, rng, int(f.parts[-2])):
            out.append({"rule": rule, "la": f.parts[-4], "year": int(f.parts[-2]), "file": f.name, "row": row})
    return out
