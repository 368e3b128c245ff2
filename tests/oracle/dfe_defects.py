"""DfE validator errors on clean generated files that are not the files' fault, each one checked
on the row it is raised on (never a rule waved through whole).

Every kind here has its evidence in tests/test_dfe_validators.py: a minimal hand-made return run
through DfE's validator (csc-validator-be-903 0.1.17) showing the defect or the conflict.

- ``shared_state`` (575, 577): DfE's rule 365 writes the collection end into the DEC of every open
  episode of the table it is given, a shallow copy sharing the data every later rule reads
  (``episodes.loc[episodes["DEC"].isna(), "DEC"] = collection_end``); 575/577 then see every
  placement open on 31 March as ended, and a missing period open that day as left open after its
  placement ended. Checked here by running the rule alone on the same return: it raises nothing
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
- ``history_limited`` (1001, 1002): rules that read the child's whole care history, given two
  years of it (their own message says they give false positives then). Checked against the
  generator's full history (``_truth/events``): by DfE's own definition (91 days in care after
  the 14th birthday, one after the 16th, V3/V4 left out, not adopted) the child is a care leaver.
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
         "UPLOAD": "empty_return", "1001": "history_limited", "1002": "history_limited"}


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
