"""workforce: children's social workers per LA and year, from the CSWW (silver csww_worker, csww_vacancies).

Collection year Y is the census of 30 September Y-1; its year of starters, leavers and
absence runs 1 October Y-2 to 30 September Y-1. Each year's file is read as sent (a
worker's record in each year is that year's state, not the latest submission): no ``_latest``
filter, which marks a worker's latest census across years and would drop every earlier year of a
worker still in post. A resubmitted census is still counted once: landing supersedes the earlier
file of the same (LA, year) and silver reads only live files (tests/test_gold_workforce.py).
Following DfE's workforce statistics:

- in post: RoleEndDate blank or after the reference date; ``headcount`` / ``fte`` are
  the employed (non-agency) workers in post, FTE30 (FTE where FTE30 is blank);
- ``agency_fte`` / ``agency_headcount``: the LA-level return (NoAgencyFTE / NoAgencyHeadcount);
  agency rate = agency FTE / (agency FTE + employed FTE);
- leavers: employed workers whose RoleEndDate falls in the year; turnover rate =
  leavers' FTE / employed FTE at the reference date;
- vacancy rate = FTE vacancies / (FTE vacancies + employed FTE);
- caseload: cases held at the reference date (Cases30) by workers in post with cases
  (agency included), per FTE of those case holders;
- absence: working days lost to sickness by employed workers in the year, as a
  percentage of the working days their FTE makes available (``WORKING_DAYS`` a year,
  the DfE convention for a full-time worker after leave and bank holidays).

Workers are people but not children: headcounts go through the count rules (a team
of 1-5 could point at a person), FTE sums and rates through the sum/average rules
of their headcount.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from cslake import catalog
from cslake.gold.common import with_geography

if TYPE_CHECKING:
    from cslake.lake import Lake

WORKING_DAYS = 225
COLUMNS = ["geog_level", "geog_code", "geog_name", "collection_year", "reference_date", "headcount", "fte",
           "agency_headcount", "agency_fte", "agency_rate", "leavers_headcount", "leavers_fte", "turnover_rate",
           "vacancies_fte", "vacancy_rate", "case_holders", "case_holder_fte", "cases", "caseload_per_case_holder",
           "days_lost", "absence_rate", "absent_at_reference_date"]
SUMS = ["headcount", "fte", "agency_headcount", "agency_fte", "leavers_headcount", "leavers_fte", "vacancies_fte",
        "case_holders", "case_holder_fte", "cases", "days_lost", "absent_at_reference_date"]


def _truthy(v) -> bool:
    if isinstance(v, (list, tuple)):
        return any(_truthy(x) for x in v)
    if hasattr(v, "tolist") and not isinstance(v, str):
        return _truthy(v.tolist())
    return v is True or str(v).strip().lower() in ("1", "true", "yes")


def workforce_table(workers: pd.DataFrame, vacancies: pd.DataFrame, region_key: str | None = None) -> pd.DataFrame:
    """From worker rows (_la, _year, AgencyWorker, FTE, FTE30, RoleEndDate, Cases30, WorkingDaysLost,
    Absat30Sept) and LA rows (_la, _year, NumberOfVacancies, NoAgencyFTE, NoAgencyHeadcount)."""
    rows = []
    keys = sorted(set(zip(workers["_la"], workers["_year"])) | set(zip(vacancies["_la"], vacancies["_year"])))
    for la, year in keys:
        year = int(year)
        ref = pd.Timestamp(year - 1, 9, 30)
        start = pd.Timestamp(year - 2, 10, 1)
        w = workers[(workers["_la"] == la) & (workers["_year"] == year)]
        end = pd.to_datetime(w["RoleEndDate"])
        agency = w["AgencyWorker"].map(_truthy)
        in_post = end.isna() | (end > ref)
        fte_now = w["FTE30"].where(w["FTE30"].notna(), w["FTE"]).fillna(0)
        emp = w[in_post & ~agency]
        leavers = w[~agency & end.notna() & (end >= start) & (end <= ref)]
        holders = w[in_post & w["Cases30"].notna()]
        v = vacancies[(vacancies["_la"] == la) & (vacancies["_year"] == year)]
        vac = float(v["NumberOfVacancies"].sum()) if len(v) else None
        ag_fte = float(v["NoAgencyFTE"].sum()) if len(v) else float(fte_now[in_post & agency].sum())
        ag_head = float(v["NoAgencyHeadcount"].sum()) if len(v) else float((in_post & agency).sum())
        employed = w[~agency]
        rows.append(dict(
            _la=la, collection_year=year, reference_date=ref.date(), headcount=float(len(emp)),
            fte=float(fte_now[emp.index].sum()), agency_headcount=ag_head, agency_fte=ag_fte,
            leavers_headcount=float(len(leavers)), leavers_fte=float(leavers["FTE"].fillna(0).sum()),
            vacancies_fte=vac, case_holders=float(len(holders)), case_holder_fte=float(fte_now[holders.index].sum()),
            cases=float(holders["Cases30"].sum()), days_lost=float(employed["WorkingDaysLost"].fillna(0).sum()),
            days_available=float(employed["FTE"].fillna(0).sum()) * WORKING_DAYS,
            absent_at_reference_date=float(emp["Absat30Sept"].map(_truthy).sum()),
        ))
    df = pd.DataFrame(rows)
    if not len(df):
        return pd.DataFrame(columns=COLUMNS)
    out = with_geography(df, ["collection_year", "reference_date"], SUMS + ["days_available"], region_key)
    pos = lambda s: s.where(s > 0)  # noqa: E731
    out["agency_rate"] = 100 * out["agency_fte"] / pos(out["agency_fte"] + out["fte"])
    out["turnover_rate"] = 100 * out["leavers_fte"] / pos(out["fte"])
    out["vacancy_rate"] = 100 * out["vacancies_fte"] / pos(out["vacancies_fte"] + out["fte"])
    out["caseload_per_case_holder"] = out["cases"] / pos(out["case_holder_fte"])
    out["absence_rate"] = 100 * out["days_lost"] / pos(out["days_available"])
    return out[COLUMNS].sort_values(["geog_level", "geog_code", "collection_year"]).reset_index(drop=True)


def build_workforce(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    if not lake.exists(catalog.silver.csww_worker):
        return pd.DataFrame(columns=COLUMNS)
    wcols = ["_la", "_year", "AgencyWorker", "FTE", "FTE30", "RoleEndDate", "Cases30", "WorkingDaysLost", "Absat30Sept"]
    workers = lake.read_table(catalog.silver.csww_worker)
    workers = workers.select(*[c for c in wcols if c in workers.columns]).toPandas()
    for c in wcols:
        if c not in workers.columns:
            workers[c] = None
    vcols = ["_la", "_year", "NumberOfVacancies", "NoAgencyFTE", "NoAgencyHeadcount"]
    if lake.exists(catalog.silver.csww_vacancies):
        vac = lake.read_table(catalog.silver.csww_vacancies).select(*vcols).toPandas()
    else:
        vac = pd.DataFrame(columns=vcols)
    return workforce_table(workers, vac, region_key)
