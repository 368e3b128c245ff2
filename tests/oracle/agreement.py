"""cslake's DfE rules against DfE's validators, row by row: shared by tests/test_dfe_validators.py
and bench/dfe_agreement.py.

cslake's side is what silver wrote: ``quarantine.rows`` (rules whose outcome is quarantine) and
``quarantine.row_flags`` (flag rules, join rules), by rule id; DfE's side is the validators'
issues (tests/oracle/dfe.py). A cslake rule is compared with the DfE issues of its ``dfe_code``
in the DfE table its silver table maps to (DFE_TABLE), at (LA, year, file, row).

Disagreement classes seen (bench/dfe_agreement.py, 5 LAs x 2023-2024, clean + dirty):
- only DfE, the row caught by cslake under another rule: a date written in another format
  (2022/05/23) that silver reads (repaired, flagged) and DfE reads as missing, so DfE's episode
  chain has a hole (388, 433); a row silver quarantines (8565);
- only cslake, 8831 on a Section47 row: DfE's CIN validator de-duplicates its issues on (child,
  rule, column, row number) without the table, and 8831 reports assessments and S47s under one
  column, so an S47 with the row number of one of the child's flagged assessments is dropped
  (evidence: tests/test_dfe_validators.py, ..._same_child_column_and_row_in_another_table);
- 2990 on a Section47, CP plan or CIN plan row: the same de-duplication (2990 reports every table under
  LAchildID), when a flagged row has the row number of another flagged row of the child in another table;
- 583: DfE sorts DATE_PLACED as text (dd/mm/yyyy), so it can take an earlier decision for the latest;
  cslake compares dates;
- 451, 584, 1001, SW01STG1, SW11bSTG2: VALIDATOR_ROW_DEFECTS below (left out of the share);
- SW12STG2: cslake reads an open episode as ending on 31 March, as DfE's full ruleset does after 365 (run
  alone, DfE's rule flags every open episode not starting a period of care);
- 553 / 555 (the reversed decision while the order is open), 1016, 577, 578: DfE's full ruleset runs
  them after 365 has written 31 March into every blank DEC (dfe_defects shared_state); cslake follows
  each rule run alone;
- 8820: a closure date silver cannot read (20220607) is not taken for an open referral (as written);
- 8832: DfE's rows are swapped between the episode and the CP plan (VALIDATOR_ROW_DEFECTS: left out
  of the share, shown in the table);
- returns where a DfE rule crashed (8565 on CIN returns, 1007) are left out (not_judged_by_dfe).

A return-level rule (conf/rules.yaml ``level: return``: DfE's CIN 2883, 2886Q, 2887Q, 2888Q, which
DfE's validator reports with push_la_level and no row) is compared by return instead: (LA, year,
file) flagged by cslake (a row flag with no row) and by DfE (an issue with ``level: return``), in the
years the rule applies to (conf/silver.yaml ``years``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cslake.config import load_yaml

# DfE validator table <- cslake silver table (conf/silver.yaml rule `table`).
DFE_TABLE = {"cin_child": "ChildIdentifiers", "cin_disability": "Disabilities", "cin_episode": "CINdetails",
             "cin_assessment": "Assessments", "cin_plan": "CINplanDates", "cin_s47": "Section47",
             "cin_cpp": "ChildProtectionPlans", "cin_cpp_review": "Reviews", "ssda903_header": "Header", "ssda903_episodes": "Episodes",
             "ssda903_oc2": "OC2", "ssda903_oc3": "OC3", "ssda903_ad1": "AD1",
             "ssda903_social_worker": "SWEpisodes", "ssda903_missing": "Missing", "ssda903_reviews": "Reviews",
             "ssda903_uasc": "UASC", "ssda903_placed_adoption": "PlacedAdoption", "ssda903_prev_perm": "PrevPerm"}

# DfE rules that report a row of another DfE table than the silver table's (same row numbers):
# CIN ethnicity sits in ChildCharacteristics, one per child as ChildIdentifiers.
DFE_TABLE_OF_CODE = {"4220": "ChildCharacteristics"}

COLUMNS = ["table", "rule_code", "source_path", "row_number", "la", "year"]


def implemented_rules() -> list[dict]:
    """cslake's rules that carry a DfE code (conf/silver.yaml rules + conf/rules.yaml): rule id,
    DfE code, severity, outcome, silver table, collection, whether it joins."""
    catalog = load_yaml("rules.yaml")["rules"]
    out = []
    for r in load_yaml("silver.yaml").get("rules") or []:
        entry = catalog.get(r["rule"]) or {}
        if entry.get("dfe_code"):
            out.append({"rule": r["rule"], "dfe_code": str(entry["dfe_code"]), "table": r["table"],
                        "severity": entry.get("severity", "error"), "outcome": entry.get("outcome"),
                        "join": bool(r.get("with")), "level": entry.get("level", "row"), "years": r.get("years") or {},
                        "collection": "cin" if r["table"].startswith("cin_") else "ssda903"})
    return out


def _in_years(year: int, years: dict) -> bool:
    return int(years.get("from", year)) <= year <= int(years.get("to", year))


def cslake_findings(lake) -> pd.DataFrame:
    """Every row finding silver recorded: quarantine.rows and quarantine.row_flags, COLUMNS."""
    frames = []
    for name in ("quarantine.rows", "quarantine.row_flags"):
        if lake.exists(name):
            frames.append(lake.read_table(name).select(*COLUMNS).toPandas())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def _first_data_row(collection: str) -> int:
    return 2 if collection == "ssda903" else 1  # CSV line 2 / XML ordinal 1 = DfE row 0


def agreement(q: pd.DataFrame, issues: list[dict]) -> pd.DataFrame:
    """Per implemented rule: (LA, year, file, row) flagged by both, only by DfE (and of those,
    rows cslake caught under another rule), only by cslake; cslake's rows in a return where DfE's
    rule crashed, or DfE could not read the file, are left out (not_judged_by_dfe)."""
    rowed = q[q["row_number"].notna()]
    caught = {(str(x.la), int(x.year), Path(x.source_path).name, int(x.row_number)) for x in rowed.itertuples()}
    unjudged = not_judged(issues)
    rows = []
    for r in implemented_rules():
        first = _first_data_row(r["collection"])
        if r["level"] == "return":
            # by return: (LA, year, file, None), flagged with no row on both sides
            ours = {(str(x.la), int(x.year), Path(x.source_path).name, None)
                    for x in q[(q["rule_code"] == r["rule"]) & q["row_number"].isna()].itertuples()}
            theirs = {(i["la"], int(i["year"]), i.get("file") or "", None) for i in issues
                      if i["rule"] == r["dfe_code"] and i.get("level") == "return" and _in_years(int(i["year"]), r["years"])}
        else:
            ours = {(str(x.la), int(x.year), Path(x.source_path).name, int(x.row_number) - first)
                    for x in rowed[rowed["rule_code"] == r["rule"]].itertuples()}
            theirs = {(i["la"], int(i["year"]), i.get("file") or "", int(i["row"])) for i in issues
                      if i["rule"] == r["dfe_code"] and i["row"] is not None
                      and i["table"] == DFE_TABLE_OF_CODE.get(r["dfe_code"], DFE_TABLE[r["table"]])}
        skipped = {o for o in ours if (o[0], o[1], r["collection"], r["dfe_code"]) in unjudged
                   or (o[0], o[1], r["collection"], None) in unjudged}
        ours -= skipped
        missed = theirs - ours
        other = {m for m in missed if m[3] is not None and (m[0], m[1], m[2], m[3] + first) in caught}
        rows.append({"rule": r["rule"], "dfe_code": r["dfe_code"], "collection": r["collection"],
                     "severity": r["severity"], "join": r["join"], "level": r["level"],
                     "both": len(ours & theirs), "only_dfe": len(missed), "not_judged_by_dfe": len(skipped),
                     "only_dfe_caught_by_other_rule": len(other), "only_cslake": len(ours - theirs),
                     "examples_only_dfe": sorted(missed)[:3], "examples_only_cslake": sorted(ours - theirs)[:3]})
    return pd.DataFrame(rows)


def not_judged(issues: list[dict]) -> set[tuple]:
    """(LA, year, collection, DfE code) of a rule that crashed in the validator on that return, and
    (LA, year, collection, None) of a return the validator could not read at all: DfE judged none
    of those rows, so neither side's rows there are compared (counted as not_judged_by_dfe)."""
    out = set()
    for i in issues:
        if i["severity"] == "crashed":
            out.add((i["la"], int(i["year"]), i["collection"], i["rule"]))
        elif i["severity"] == "rejected":
            out.add((i["la"], int(i["year"]), i["collection"], None))
    return out


# DfE rules whose validator implementation reports other rows than its own definition names,
# each shown on a hand-made file in tests/test_dfe_validators.py: cslake implements the
# definition, and the agreement share leaves them out (the table still shows them).
VALIDATOR_ROW_DEFECTS = {
    "359": "rule 365, run earlier, fills every open DEC in the shared Episodes table with the collection end, "
           "so 359 (open at 18 or over) never fires in the full ruleset (test_evidence_359_is_silenced_by_365)",
    "451": "rule 365, run earlier, fills every open DEC in the shared Episodes table with the collection end, "
           "so 451 (D1 with DEC and REC blank) never fires in the full ruleset "
           "(test_dfe_365_367_377_351_347_451_526_525_399_against_dfe runs it alone and after 365)",
    "584": "rule_584.py takes the rows it finds by their position in its merged table (this year's decisions x "
           "last year's reversed ones) for their row in the return, so it flags other rows than the decisions "
           "it means (test_dfe_553_to_561_579_582_583_584_601_against_dfe)",
    "1001": "rule_1001.py gives the care totals only to young people under 20 at 31 March, so it flags every "
            "care leaver aged 20 or over, whatever their care; and it reads two years of episodes (its own message "
            "says so): cslake reads the lake's every year (test_dfe_1001_care_leaver_not_relevant_against_dfe)",
    "SW01STG1": "rule 365, run earlier, fills every open DEC in the shared Episodes table with the collection end, "
                "so SW01STG1 (looked after on 31 March: DEC blank) never fires in the full ruleset; run alone it "
                "reports the episode's row number as a social worker row (test_dfe_sw11b_and_sw01_against_dfe)",
    "SW11bSTG2": "its reverse-sorted branch flags an episode ending in the last 5 days of March whenever the child "
                 "has an earlier one, even with a later one (dfe_defects sw11b_reverse_branch; "
                 "test_dfe_sw11b_and_sw01_against_dfe)",
    "2886Q": "return level: rule_2886Q.py to 2023-24 writes isna() | GenderCurrent == 0, read as (isna() | GenderCurrent) "
             "== 0, never true: it never fires there; cslake follows the definition, as DfE's 2024-25 rewrite does "
             "(tests/test_dfe_return_level.py, conf/silver.yaml DFE_CIN_2886Q)",
    "2887Q": "return level: rule_2887Q.py counts the NONE disability rows (7 or fewer: fired) where its definition and "
             "message count the different codes other than NONE; cslake follows the definition "
             "(tests/test_dfe_return_level.py, conf/silver.yaml DFE_CIN_2887Q)",
    "8832": "rule_8832.py merges CINdetails with the CP plans with suffixes swapped: the plan is "
            "reported at the episode's row number and the episode at the plan's "
            "(test_evidence_8832_reports_the_episode_and_plan_rows_swapped)",
}


def per_collection(table: pd.DataFrame, leave_out=VALIDATOR_ROW_DEFECTS) -> dict[str, tuple[int, int, float]]:
    """collection -> (pairs flagged by both, pairs flagged by either, share), the rules of
    ``leave_out`` (DfE codes) left out."""
    out = {}
    table = table[~table["dfe_code"].isin(list(leave_out))]
    for coll, t in table.groupby("collection"):
        total = int(t[["both", "only_dfe", "only_cslake"]].to_numpy().sum())
        both = int(t["both"].sum())
        out[coll] = (both, total, both / total if total else 1.0)
    return out
