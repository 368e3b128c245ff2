"""DfE's return-level CIN rules (2883, 2886Q, 2887Q, 2888Q: DfE's validator reports them with
push_la_level, for the return as a whole) against DfE's own validator, on hand-made returns.

Each return is one LA's CIN file for one year, made here from DfE's definitions (written beside the
rules in conf/silver.yaml) to sit just on one side of a rule's threshold. The same files go through
DfE's CIN validator (tests/oracle/dfe_run.py, its return-level issues) and through cslake as an LA
sends them (land, then silver), whose finding is a quarantine.row_flags row with no row naming the
file. Every rule is judged on every return, by hand below, so a rule firing where it should not is
caught as much as one silent where it should fire.

Two DfE defects are shown by returns made for them (conf/silver.yaml says why cslake follows the
definition): 2886Q's 2022-23 and 2023-24 code never fires (`isna() | x == 0`), and 2887Q counts the
NONE rows where its definition counts the codes other than NONE.
"""

from __future__ import annotations

import collections

import pytest

from cslake import pseudo
from tests.absent import oracle_absent
from tests.oracle import dfe
from tests.oracle.agreement import VALIDATOR_ROW_DEFECTS, agreement, cslake_findings

CODES = ("2883", "2886Q", "2887Q", "2888Q")

HEAD = """<?xml version='1.0' encoding='UTF-8'?>
<Message>
  <Header>
    <CollectionDetails><Collection>CIN</Collection><Year>{year}</Year><ReferenceDate>{year}-03-31</ReferenceDate></CollectionDetails>
    <Source><SourceLevel>L</SourceLevel><LEA>{la}</LEA><SoftwareCode>X</SoftwareCode><Release>1</Release><SerialNo>001</SerialNo><DateTime>{year}-05-15T09:30:00</DateTime></Source>
  </Header>
  <Children>{children}</Children>
</Message>"""


def _el(tag: str, value) -> str:
    return "" if value is None else f"<{tag}>{value}</{tag}>"


def child(cid: str, year: int, sex: str | None = "", dis=("NONE",), unborn: bool = False, icpc: str | None = None,
          s47_icpc: str | None = None, cpp: str | None = None) -> str:
    """One child with one referral (1 May of the census year), written as the year's schema has it
    (GenderCurrent to 2023-24, Sex from 2024-25: by default 1 / M; ``sex=None``: the element left out). ``icpc``: an
    initial conference at CINdetails level; ``s47_icpc``: an S47 with one; ``cpp``: a CP plan start."""
    gender = "GenderCurrent" if year <= 2024 else "Sex"
    sex = ("1" if year <= 2024 else "M") if sex == "" else sex
    born = _el("ExpectedPersonBirthDate", f"{year}-05-01") if unborn else _el("PersonBirthDate", "2015-01-01")
    disabilities = "<Disabilities>" + "".join(_el("Disability", d) for d in dis) + "</Disabilities>" if dis else ""
    s47 = ("" if s47_icpc is None else "<Section47>" + _el("S47ActualStartDate", f"{year - 1}-04-01")
           + _el("DateOfInitialCPC", s47_icpc) + "<ICPCnotRequired>0</ICPCnotRequired></Section47>")
    plan = ("" if cpp is None else "<ChildProtectionPlans>" + _el("CPPstartDate", cpp)
            + "<InitialCategoryOfAbuse>NEG</InitialCategoryOfAbuse><LatestCategoryOfAbuse>NEG</LatestCategoryOfAbuse>"
            "<NumberOfPreviousCPP>0</NumberOfPreviousCPP></ChildProtectionPlans>")
    return (f"<Child><ChildIdentifiers><LAchildID>{cid}</LAchildID><UPNunknown>UN1</UPNunknown>{born}"
            f"{_el(gender, sex)}</ChildIdentifiers><ChildCharacteristics><Ethnicity>WBRI</Ethnicity>{disabilities}"
            f"</ChildCharacteristics><CINdetails><CINreferralDate>{year - 1}-04-01</CINreferralDate>"
            f"<ReferralSource>1A</ReferralSource><PrimaryNeedCode>N1</PrimaryNeedCode>{_el('DateOfInitialCPC', icpc)}"
            f"<ReferralNFA>0</ReferralNFA>{s47}{plan}</CINdetails></Child>")


# Eight disability codes other than NONE (DfE's list), and a return's worth of children that breaks
# none of the four rules: 8 NONE rows, the 8 codes, one child with two of them.
CODES_8 = ("MOB", "HAND", "PC", "INC", "COMM", "LD", "HEAR", "VIS")


def quiet(year: int, prefix: str = "Q") -> list[str]:
    kids = [child(f"{prefix}N{n}", year) for n in range(8)]
    kids.append(child(f"{prefix}D0", year, dis=CODES_8[:2]))
    kids += [child(f"{prefix}D{n}", year, dis=(c,)) for n, c in enumerate(CODES_8[2:], 1)]
    return kids


def fill(kids: list[str], total: int, year: int) -> list[str]:
    """``kids`` and children who change no rule (gender 1, born, NONE) up to ``total``."""
    return kids + [child(f"F{n}", year) for n in range(total - len(kids))]


def returns() -> dict[tuple[str, int], tuple[list[str], set[str], set[str]]]:
    """(LA, year) -> (children, DfE codes DfE's validator raises, DfE codes cslake raises), by hand."""
    y = 2024
    out = {}
    # 2883: CP plans starting in the census year (1 April 2023 - 31 March 2024, both in) against initial
    # conferences in it, at CINdetails level plus at S47 level. Three plans in the year (31 March 2024
    # the last day in; one from 31 March 2023 out), two conferences in it (one on 31 March 2023, out):
    # 3 > 2. The other side: the third conference on 1 April 2023 (in): 3 <= 3.
    plans = [child("P1", y, cpp="2023-06-01", icpc="2023-06-01"), child("P2", y, cpp="2023-09-01", s47_icpc="2023-09-01"),
             child("P3", y, cpp="2024-03-31"), child("P4", y, cpp="2023-03-31")]
    out[("201", y)] = (quiet(y) + plans + [child("P5", y, s47_icpc="2023-03-31")], {"2883"}, {"2883"})
    out[("202", y)] = (quiet(y) + plans + [child("P5", y, s47_icpc="2023-04-01")], set(), set())
    # 2886Q from 2024-25 (Sex): no sex recorded (U, or left out) and no expected birth date, over 2% of
    # every child (unborns counted in the whole): 2 of 99 (2.02%) fires, 2 of 100 (2%) does not. An
    # unborn child with U is not counted.
    no_sex = [child("S1", 2025, sex="U"), child("S2", 2025, sex=None), child("S3", 2025, sex="U", unborn=True)]
    out[("203", 2025)] = (fill(quiet(2025) + no_sex, 99, 2025), {"2886Q"}, {"2886Q"})
    out[("204", 2025)] = (fill(quiet(2025) + no_sex, 100, 2025), set(), set())
    # 2886Q to 2023-24 (GenderCurrent 0 or left out): the same counts; DfE's code never fires (defect)
    no_gender = [child("G1", y, sex="0"), child("G2", y, sex=None), child("G3", y, sex="0", unborn=True)]
    out[("205", y)] = (fill(quiet(y) + no_gender, 99, y), set(), {"2886Q"})
    out[("206", y)] = (fill(quiet(y) + no_gender, 100, y), set(), set())
    # 2887Q: 7 or fewer different codes other than NONE. Seven (MOB on two children) with 7 NONE rows:
    # both fire (DfE: 7 NONE rows); eight with 8 NONE rows: neither. A child with two codes in each
    # (2888Q quiet).
    seven = [child("A0", y, dis=("MOB", "HAND")), child("A1", y, dis=("MOB",))] + \
        [child(f"A{n}", y, dis=(c,)) for n, c in enumerate(CODES_8[2:7], 2)]
    eight = seven + [child("A9", y, dis=("VIS",))]
    nones = [child(f"N{n}", y) for n in range(8)]
    out[("207", y)] = (seven + nones[:7], {"2887Q"}, {"2887Q"})
    out[("208", y)] = (eight + nones, set(), set())
    # DfE's 2887Q counts the NONE rows instead (defect): eight codes with 7 NONE rows, DfE only; seven
    # codes with 8 NONE rows, cslake only
    out[("209", y)] = (eight + nones[:7], {"2887Q"}, set())
    out[("210", y)] = (seven + nones, set(), {"2887Q"})
    # 2888Q: children with a disability other than NONE, none with two (rows as written: a code given
    # twice counts twice). Eight codes, one per child, 8 NONE rows: fires; a child with HAND twice: not;
    # no disabled child at all (8 NONE rows): not (DfE: the largest of no counts is NaN), 2887Q instead
    # (no code: cslake; DfE's 8 NONE rows: not)
    one_each = [child(f"B{n}", y, dis=(c,)) for n, c in enumerate(CODES_8)]
    out[("211", y)] = (one_each + nones, {"2888Q"}, {"2888Q"})
    twice = [child("B1", y, dis=("HAND", "HAND"))] + [child(f"B{n}", y, dis=(c,)) for n, c in enumerate(CODES_8) if c != "HAND"]
    out[("212", y)] = (twice + nones, set(), set())
    out[("213", y)] = (nones, set(), {"2887Q"})
    return out


@pytest.fixture(scope="module")
def judged(spark, tmp_path_factory):
    """(returns, DfE's return-level issues by (LA, year), cslake's return-level row flags)."""
    try:
        dfe.dfe_python()
    except dfe.OracleUnavailable as e:
        oracle_absent(f"DfE validators unavailable: {e}")
    from cslake.lake import Lake
    from cslake.land import land_raw
    from cslake.silver import build_silver

    root = tmp_path_factory.mktemp("return_level")
    made = returns()
    jobs = []
    for (la, year), (kids, _, _) in made.items():
        folder = root / "raw" / la / "cin" / str(year)
        folder.mkdir(parents=True)
        path = folder / f"CIN_{la}_{year}.xml"
        path.write_text(HEAD.format(year=year, la=la, children="".join(kids)))
        jobs.append({"collection": "cin", "path": str(path), "year": year,
                     "tag": {"la": la, "year": year, "collection": "cin", "file": path.name}})
    issues = dfe.run_jobs(jobs, workers=2)
    mp = pytest.MonkeyPatch()
    mp.setenv(pseudo.KEY_ENV, "return-level-test-key-0123456789abcdef")
    try:
        lake = Lake(root / "lake", spark=spark)
        land_raw(lake, root / "raw")
        build_silver(lake, collections=["cin"])
        flags = lake.read_table("quarantine.row_flags").toPandas()
        findings = cslake_findings(lake)
    finally:
        mp.undo()
    return made, issues, flags, findings


def _code(rule: str) -> str:
    from cslake.silver.rules import rule_catalog

    return str(rule_catalog()[rule]["dfe_code"])


def test_dfe_raises_the_return_level_rules_where_their_definitions_say(judged):
    made, issues, _, _ = judged
    crashed = {i["rule"] for i in issues if i["severity"] == "crashed"}
    assert not crashed & set(CODES), crashed
    got = collections.defaultdict(set)
    for i in issues:
        if i["rule"] in CODES:
            assert i.get("level") == "return" and i["row"] is None and i["table"] is None, i
            got[(i["la"], int(i["year"]))].add(i["rule"])
    want = {k: dfe_codes for k, (_, dfe_codes, _) in made.items() if dfe_codes}
    assert dict(got) == want


def test_cslake_flags_each_return_once_with_no_row_naming_the_file(judged):
    made, _, flags, _ = judged
    from cslake.silver.rules import RETURN_LEVEL, level_of

    mine = flags[flags["rule_code"].map(level_of) == RETURN_LEVEL]
    assert mine["row_number"].isna().all() and (mine["outcome"] == "flag").all()
    # one finding per rule and return, naming the return's file
    assert not mine.duplicated(["rule_code", "la", "year"]).any(), mine
    assert all(p.endswith(f"{la}/cin/{y}/CIN_{la}_{y}.xml") for p, la, y in zip(mine.source_path, mine.la, mine.year))
    got = collections.defaultdict(set)
    for r in mine.itertuples():
        got[(r.la, int(r.year))].add(_code(r.rule_code))
    want = {k: ours for k, (_, _, ours) in made.items() if ours}
    assert dict(got) == want
    # and no row of these returns was flagged by a return-level rule's id with a row
    assert not flags[flags["rule_code"].str.startswith(("DFE_CIN_2883", "DFE_CIN_2886Q", "DFE_CIN_2887Q",
                                                         "DFE_CIN_2888Q")) & flags["row_number"].notna()].shape[0]


def test_the_agreement_measure_compares_return_level_findings_by_return(judged):
    """tests/oracle/agreement.py on these returns: per return-level rule, the returns both sides flag,
    and on each side alone exactly the returns made for DfE's defects (left out of the share)."""
    made, issues, _, findings = judged
    table = agreement(findings, issues).set_index("rule")
    files = {k: f"CIN_{k[0]}_{k[1]}.xml" for k in made}
    for rule in ("DFE_CIN_2883", "DFE_CIN_2886Q", "DFE_CIN_2886Q_SEX", "DFE_CIN_2887Q", "DFE_CIN_2888Q"):
        code, years = _code(rule), {2025} if rule.endswith("_SEX") else {2024}
        dfe_side = {k for k, (_, d, _) in made.items() if code in d and k[1] in years}
        ours = {k for k, (_, _, c) in made.items() if code in c and k[1] in years}
        row = table.loc[rule]
        assert row["level"] == "return"
        assert (row["both"], row["only_dfe"], row["only_cslake"]) == (
            len(dfe_side & ours), len(dfe_side - ours), len(ours - dfe_side)), (rule, row.to_dict())
        assert sorted(row["examples_only_cslake"]) == sorted((la, y, files[(la, y)], None) for la, y in ours - dfe_side)[:3]
        assert (dfe_side == ours) or code in VALIDATOR_ROW_DEFECTS, rule
