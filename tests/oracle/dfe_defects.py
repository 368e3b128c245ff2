"""DfE validator errors on clean generated files that are not the files' fault, each one checked
on the row it is raised on (never a rule waved through whole).

The generator avoids the patterns behind ``shared_state`` (no missing period is open on 31 March:
rare in real returns, about one per LA-year) and ``sw11b_reverse_branch`` (no change of social
worker in the last 5 days of March): ``AVOIDED`` names them, and a clean region must not need them.
The other kinds cannot be avoided by realistic data (the pattern is common, or required):
- urn_conflict: a 16-17-year-old in supported accommodation (H5) from before 31 March 2023 still
  there after 28 October 2023 (lac2022_23/rule_222.py lists H5 among the placements with no URN;
  lac2023_24/rule_230.py wants one on H5 open from 28 October 2023; 503F wants last year's URN);
- mother_conflict: a girl recorded as a mother who leaves care and is in next year's OC3 cohort
  (rule_628.py: MOTHER must be blank without an episode; 612: MC_DOB then blank; 624: MC_DOB as
  last year);
- history_limited: a care leaver of 19-20 whose care ended before last year's return, who must be
  in OC3 (1001/1002's own messages: "may generate false positives if a child had episodes prior
  to last year's collection");
- sex_code_change, k3_typo, unread_column: every child in both the 2023-24 and 2024-25 returns,
  every K3 placement, every 2024-25 return;
- empty_return: City of London at small scales has no child looked after (ingress.py: ``header.loc[
  merge_indicator == "both", "UASC"] = "1"`` on an empty header frame); at realistic scale it has
  some, so this one is a scale artefact, not a defect a real return meets.

Every kind here has its evidence in tests/test_dfe_validators.py: a minimal hand-made return run
through DfE's validator (csc-validator-be-903 0.1.17) showing the defect or the conflict.

- ``shared_state`` (575, 577): DfE's rule 365 writes the collection end into the DEC of every open
  episode of the table it is given, a shallow copy sharing the data every later rule reads
  (``episodes.loc[episodes["DEC"].isna(), "DEC"] = collection_end``); 575/577 then see every
  placement open on 31 March as ended, and a missing period open that day as left open after its
  placement ended. 359 (an episode still open at 18 or over) never fires after it for the same
  reason: no DEC is blank any more (test_evidence_359_is_silenced_by_365; cslake flags the row, and
  tests/oracle/agreement leaves 359 out of the share). SW12STG2 runs after 365 too and so reads an
  open episode as ending on 31 March, which is what its message means (run alone it flags every open
  episode not starting a period of care): cslake's DFE_903_SW12STG2 reads it so, and its test runs
  DfE's rule with 365. Checked here by running the rule alone on the same return: it raises nothing
  on that row.
- ``sw11b_reverse_branch`` (SW11bSTG2): its reverse-sorted branch flags a social-worker episode
  ending in the last 5 days of the year whenever the child has an earlier episode too, even when
  the next episode starts the following day. Checked: the flagged episode has a later one.
- ``urn_conflict`` (503F vs 222 and 230): an H5 placement open on 31 March 2023 and on 28 October
  2023 cannot pass all three: 2022-23 forbids a URN on H5 (222), 2023-24 requires one (230), and
  503F wants the first episode's URN to equal last year's. Checked: this H5 episode has a URN and
  last year's open episode with the same start was H5 with XXXXXXX.
- ``mother_conflict`` (612, 624, 628): a girl recorded as a mother whose next return holds her as a
  care leaver with no episode: 628 wants MOTHER blank, 612 then wants MC_DOB blank, 624 wants
  MC_DOB as last year. Checked: no episode this year, an OC3 row, MOTHER 1 last year.
- ``empty_return`` (UPLOAD rejected): a return whose every table has no row (an LA with no child
  looked after, City of London at small scales) is refused, and so is any return given with such a
  previous year: the reader sets a UASC column on the empty header frame ("cannot set a frame
  with no defined index and a scalar").
- ``k3_typo`` (146, 2024-25 ruleset): its PLACE code list has ``"k3"`` in lower case (lac2024_25/
  rule_146.py, fixed to ``"K3"`` in lac2025_26), so every K3 placement (supported accommodation,
  new in 2024-25, replacing H5) is "not a valid code". Checked: the row's PLACE is K3, year 2025.
- ``sex_code_change`` (202, 2024-25): SEX moved from 1/2 to M/F in 2024-25 (its own rule 101 wants
  M/F/U) but 202 compares this year's SEX with last year's as text, so every child in both returns
  ("1" then "M") is flagged. Checked: last year's SEX is the same sex in the old codes.
- ``unread_column`` (231 crashed, 2024-25 on): 231 reads ``Header["UASC_STATUS"]``, a column the
  validator's reader never makes (ingress.py adds it to the header as ``UASC``): a KeyError on
  every return, recorded as the rule crashing. Checked: the rule, the year.
- ``cpp_ordinal`` (CIN 8935, 8940; not seen on clean returns, so no kind below): DfE's reader numbers
  CP plans from 1 within each referral (ingress.py ``CPPID``), and 8935 ("more than one open Child
  Protection plan") counts open plans per (child, CPPID) while 8940 ("overlapping dates") skips pairs
  with equal CPPID: two open plans in one referral are not flagged by 8935, and two overlapping
  plans that are each the first of their referral are not compared by 8940, while two open first
  plans of two referrals are flagged by 8935. cslake follows the rules' messages (every open plan of
  a child, every pair of plans); evidence: test_dfe_8815_8816_4014_8940_8935_8772_8590_against_dfe.
- ``assessment_factor_list`` (CIN 8869, 8898; not seen on clean returns): the reader keeps an
  assessment's factors as one list (ingress.py ``assessment_dict["AssessmentFactors"]``); 8869
  compares that list, as text, with "21", so it never fires, and 8898 calls drop_duplicates on rows
  holding the list, a TypeError whenever an assessment repeats a factor (the rule crashes). cslake
  follows the messages (21 with another factor; a factor twice); evidence:
  test_evidence_8869_never_fires_and_8898_crashes. The same list makes 8945Q / 8950Q (factor 18A /
  19A, 2024-25 on) compare it with '18A' / '19A' as text, so they never fire, and 8614 (factors on an
  assessment not authorised) group its findings by a key holding the list, a TypeError whenever one
  fails; 8870Q (ICPC target on a weekend) reads the date with the format %d-%m-%Y, which no XML date
  (YYYY-MM-DD) has, so it never fires either. Not implemented in cslake (conf/dfe_not_checked.yaml
  validator_cannot_run); evidence: test_evidence_8870q_8945q_8950q_8540_never_fire_and_8614_crashes.
- ``row_id_x`` (CIN 8540; not seen on clean returns): the rule names the child's and the episode's
  rows ``ROW_ID_x`` (a merge suffix) where the report reads ``ROW_ID``; RuleContext.type_two_issues
  catches the KeyError with a bare except and returns no location at all, so a child with no valid
  disability is never reported (its disability row neither). Not implemented in cslake (conf/
  dfe_not_checked.yaml validator_cannot_run); evidence: the same test.
- ``history_limited`` (1001, 1002): rules that read the child's whole care history, given two
  years of it (their own message says they give false positives then). Checked against the
  generator's full history (``_truth/events``): by DfE's own definition (91 days in care after
  the 14th birthday, one after the 16th, V3/V4 left out, not adopted) the child is a care leaver.
  cslake's DFE_903_1002 reads every year the lake holds (conf/silver.yaml, join ``year: all``), so
  on a lake with those years it does not raise these (test_dfe_383_375_376_379_int21_1002_208).
- ``missing_column`` (233 crashed, 2025-26 on): 233 ("Reason for placement change is not required
  when the episode has not ceased", new in lac2025_26) reads ``Episodes["DATE_EPISODE_CEASED"]``, a
  column no return has (the date an episode ceased is ``DEC``): a KeyError on every return
  (test_evidence_233_reads_a_column_no_return_has). Not implemented in cslake: its intent (a reason
  for placement change only on an episode that has ceased) moves the reason from the episode that
  starts to the one that ends in 2025-26, which the generator does not model yet.
"""

from __future__ import annotations

import collections
import csv
import functools
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from cslake.config import la_of

from tests.oracle import dfe

KINDS = {"575": "shared_state", "577": "shared_state", "SW11bSTG2": "sw11b_reverse_branch",
         "503F": "urn_conflict", "612": "mother_conflict", "624": "mother_conflict", "628": "mother_conflict",
         "UPLOAD": "empty_return", "1001": "history_limited", "1002": "history_limited",
         "146": "k3_typo", "202": "sex_code_change", "231": "unread_column", "233": "missing_column"}
# kinds whose pattern the generator avoids: on a clean region they are regressions, not defects
AVOIDED = {"shared_state", "sw11b_reverse_branch"}
# the years (rulesets) each 2024-25 defect is in: 146's typo is fixed in 2025-26, 202 compares
# 2024-25 with 2023-24 only, 231 is inherited by every later ruleset
YEARS = {"k3_typo": {2025}, "sex_code_change": {2025}, "unread_column": set(range(2025, 2028)),
         "missing_column": set(range(2026, 2028))}
SEX_2025 = {"1": "M", "2": "F"}


def _date(s: str | None) -> date | None:
    if not s:
        return None
    d, m, y = s.split("/")
    return date(int(y), int(m), int(d))


def _add_years(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:  # 29 February
        return d.replace(year=d.year + n, day=28)


class Explainer:
    """explain(issue) -> the defect kind that accounts for a DfE error on a clean region, or None."""

    def __init__(self, raw: Path):
        self.raw = Path(raw)

    @functools.lru_cache(maxsize=None)
    def _table(self, la: str, year: int, columns: tuple[str, ...]) -> list[dict]:
        folder = self.raw / la / "ssda903" / str(year)
        for f in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
            with open(f, newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
            header = list(rows[0]) if rows else next(csv.reader(open(f, encoding="utf-8-sig")), [])
            if set(columns) <= set(header):
                return rows
        return []

    def episodes(self, la, year):
        return self._table(la, year, ("DECOM", "RNE", "PLACE", "URN"))

    def _row(self, issue: dict, columns: tuple[str, ...]) -> dict:
        return self._table(issue["la"], issue["year"], columns)[issue["row"]]

    @functools.lru_cache(maxsize=None)
    def _alone(self, la: str, year: int, rule: str) -> frozenset:
        folder = self.raw / la / "ssda903" / str(year)
        prev = folder.parent / str(year - 1)
        got = dfe.run_ssda903_folder(folder, year, la_of(la).gss_code, prev if prev.is_dir() else None, [rule])
        return frozenset((i["table"], i["row"]) for i in got if i["rule"] == rule)

    @functools.cached_property
    def _truth(self):
        ev = self.raw / "_truth" / "events"
        rec = pd.read_csv(self.raw / "_truth" / "records.csv", dtype=str)
        rec = rec[rec["collection"] == "ssda903"]
        person = {(r.la, r.record_key): int(r.person_id) for r in rec.itertuples()}
        eps = pd.read_parquet(ev / "care_episodes.parquet")
        return person, eps

    def explain(self, issue: dict) -> str | None:
        kind = KINDS.get(issue["rule"])
        if issue["collection"] != "ssda903" or kind is None:
            return None
        return kind if getattr(self, "_" + kind)(issue) else None

    def _shared_state(self, issue) -> bool:
        return (issue["table"], issue["row"]) not in self._alone(issue["la"], issue["year"], issue["rule"])

    def _sw11b_reverse_branch(self, issue) -> bool:
        cols = ("SW_ID", "SW_DECOM", "SW_DEC")
        row = self._row(issue, cols)
        ye = date(issue["year"], 3, 31)
        dec, decom = _date(row["SW_DEC"]), _date(row["SW_DECOM"])
        later = [r for r in self._table(issue["la"], issue["year"], cols)
                 if r["CHILD"] == row["CHILD"] and _date(r["SW_DECOM"]) > decom]
        return dec is not None and ye - timedelta(days=5) <= dec <= ye and bool(later)

    def _urn_conflict(self, issue) -> bool:
        row = self._row(issue, ("DECOM", "RNE", "PLACE", "URN"))
        last = [r for r in self.episodes(issue["la"], issue["year"] - 1)
                if r["CHILD"] == row["CHILD"] and not r["DEC"] and r["DECOM"] == row["DECOM"]]
        return (issue["year"] == 2024 and row["PLACE"] == "H5" and row["URN"] not in ("", "XXXXXXX")
                and any(r["PLACE"] == "H5" and r["URN"] == "XXXXXXX" for r in last))

    def _mother_conflict(self, issue) -> bool:
        hcols = ("SEX", "MOTHER", "MC_DOB")
        row = self._row(issue, hcols)
        child = row["CHILD"]
        la, y = issue["la"], issue["year"]
        no_episode = not any(r["CHILD"] == child for r in self.episodes(la, y))
        in_oc3 = any(r["CHILD"] == child for r in self._table(la, y, ("IN_TOUCH", "ACTIV", "ACCOM")))
        was_mother = any(r["CHILD"] == child and r["MOTHER"] == "1" for r in self._table(la, y - 1, hcols))
        return no_episode and in_oc3 and was_mother

    def _empty_return(self, issue) -> bool:
        """This year's return, or last year's given with it, has no row in any table."""
        def empty(folder: Path) -> bool:
            files = list(folder.glob("*.csv"))
            return bool(files) and all(len(f.read_text(encoding="utf-8-sig").strip().splitlines()) <= 1
                                       for f in files)

        base = self.raw / issue["la"] / "ssda903"
        return empty(base / str(issue["year"])) or empty(base / str(issue["year"] - 1))

    def _k3_typo(self, issue) -> bool:
        row = self._row(issue, ("DECOM", "RNE", "PLACE", "URN"))
        return issue["year"] in YEARS["k3_typo"] and row["PLACE"] == "K3"

    def _sex_code_change(self, issue) -> bool:
        hcols = ("SEX", "MOTHER", "MC_DOB")
        row = self._row(issue, hcols)
        last = [r["SEX"] for r in self._table(issue["la"], issue["year"] - 1, hcols) if r["CHILD"] == row["CHILD"]]
        return issue["year"] in YEARS["sex_code_change"] and bool(last) and \
            all(SEX_2025.get(x) == row["SEX"] for x in last)

    def _unread_column(self, issue) -> bool:
        return issue["severity"] == "crashed" and issue["year"] in YEARS["unread_column"]

    def _missing_column(self, issue) -> bool:
        return issue["severity"] == "crashed" and issue["year"] in YEARS["missing_column"]

    def _history_limited(self, issue) -> bool:
        """By DfE's definition of 1001/1002, on the generator's whole history of the child in the LA."""
        person, eps = self._truth
        pid = person.get((issue["la"], issue["child"]))
        if pid is None:
            return False
        la, ye = issue["la"], date(issue["year"], 3, 31)
        mine = eps[(eps["person_id"] == pid) & (eps["la"] == la)].sort_values("decom")
        mine = mine[mine["decom"].map(lambda d: pd.Timestamp(d).date() <= ye)]
        if not len(mine):
            return False
        if issue["rule"] == "1002":  # episodes before the two years the validator is given
            return pd.Timestamp(mine["decom"].iloc[0]).date() < date(issue["year"] - 2, 4, 1)
        if str(mine["rec"].iloc[-1]).upper() in ("E11", "E12"):
            return False
        header = self._table(la, issue["year"], ("SEX", "MOTHER", "MC_DOB"))
        dob = next((_date(r["DOB"]) for r in header if r["CHILD"] == issue["child"]), None)
        if dob is None:
            return False
        d14, d16 = _add_years(dob, 14), _add_years(dob, 16)
        t14 = t16 = 0
        for e in mine.to_dict("records"):
            if str(e["ls"]).upper() in ("V3", "V4"):
                continue
            s = pd.Timestamp(e["decom"]).date()
            end = ye if e["dec"] is None or pd.isna(e["dec"]) else min(pd.Timestamp(e["dec"]).date(), ye)
            t14 += max(0, (end - max(s, d14)).days)
            t16 += max(0, (end - max(s, d16)).days)
        return t14 >= 91 and t16 >= 1


def split(issues: list[dict], raw: Path) -> tuple[list[dict], collections.Counter]:
    """The errors (and refused uploads) no defect accounts for, and the count per defect kind."""
    ex = Explainer(raw)
    left, explained = [], collections.Counter()
    for i in issues:
        if i["severity"] not in ("error", "rejected", "crashed"):
            continue
        kind = ex.explain(i)
        if kind is None:
            left.append(i)
        else:
            explained[(kind, i["rule"])] += 1
    return left, explained
