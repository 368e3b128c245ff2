"""adolescent_cohort: 10-17-year-olds at each stage, by age, sex and ethnic group, with exploitation and missing.

Per LA (years it sent the return) and region, each collection year Y:

- ``population``: ONS mid-year Y-1 estimate of 10-17-year-olds (as riia.py's rates);
- ``referral`` / ``assessment`` / ``s47`` / ``cp_plan``: children with at least one
  referral / assessment start / S47 start / CP plan start in the financial year;
- ``looked_after``: children looked after on any day of the year (short breaks excluded).

Age is at 31 March of the year (the census convention), so a child is in the cohort
when aged 10-17 then; sex and ethnic group from the child's latest CIN (or 903) record.
Dimensions: ``age`` (10 ... 17), ``sex``, ``ethnic_group`` (each with an ``all`` row
their parts add up to), and ``factor``: children of the stage with an exploitation or
missing factor at an assessment started in the year (11A CSE, 12A trafficking, 13A
gangs, 24A CCE, any of them; 10A going missing) or, for ``missing from care``, an
SSDA903 missing or away episode starting in the year. Factors overlap, so they are
not parts of the total.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from cslake import catalog
from cslake.gold.characteristics import FIXED
from cslake.gold.common import ALL, latest, returns_sent, split_by, with_geography
from cslake.gold.dfe import last_day_in_care
from cslake.vocab import (ADOLESCENT_AGES, SHORT_BREAKS, age_at, collection_years, ethnic_label, sex_label, year_end,
                          year_start)

if TYPE_CHECKING:
    from cslake.lake import Lake

AGES = list(ADOLESCENT_AGES)
STAGES = ["population", "referral", "assessment", "s47", "cp_plan", "looked_after"]
FACTORS = {"CSE (11A)": ["11A"], "trafficking (12A)": ["12A"], "gangs (13A)": ["13A"], "CCE (24A)": ["24A"],
           "any exploitation": ["11A", "12A", "13A", "24A"], "going missing (10A)": ["10A"]}
MISSING_FROM_CARE = "missing from care"
COLUMNS = ["geog_level", "geog_code", "geog_name", "collection_year", "stage", "dimension", "category", "children",
           "stage_children", "percentage"]


def stage_members(cin_events: dict[str, pd.DataFrame], care: pd.DataFrame | None) -> pd.DataFrame:
    """(stage, _la, collection_year, child) of children at each event stage in the year.

    ``cin_events``: stage → rows (_la, LAchildID_hash, date); ``care``: 903 episodes (_la, CHILD_hash, DECOM, DEC, LS).
    """
    frames = []
    for stage, ev in cin_events.items():
        ev = ev.dropna(subset=["date"])
        frames.append(pd.DataFrame({"stage": stage, "_la": ev["_la"], "collection_year": collection_years(ev["date"]),
                                    "child": ev["LAchildID_hash"]}))
    if care is not None and len(care):
        c = care[~care["LS"].fillna("").isin(SHORT_BREAKS)]
        s, e = pd.to_datetime(c["DECOM"]), pd.to_datetime(c["DEC"])
        first = collection_years(s)
        last = collection_years(e).fillna(9999)
        for y in range(int(first.min()), int(min(last.max(), first.max() + 30)) + 1):
            on = (s <= year_end(y)) & (e.isna() | (e >= year_start(y)))
            frames.append(pd.DataFrame({"stage": "looked_after", "_la": c.loc[on, "_la"], "collection_year": y,
                                        "child": c.loc[on, "CHILD_hash"]}))
    if not frames:
        return pd.DataFrame(columns=["stage", "_la", "collection_year", "child"])
    out = pd.concat(frames, ignore_index=True).dropna(subset=["collection_year"])
    out["collection_year"] = out["collection_year"].astype(int)
    return out.drop_duplicates()


def cohort_people(members: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """Stage members aged 10-17 at 31 March of the year, with age (as text), sex and ethnic group."""
    m = members.merge(people.drop_duplicates(["_la", "child"]), on=["_la", "child"], how="left")
    m["age"] = age_at(m["dob"], pd.to_datetime(m["collection_year"].astype(str) + "-03-31"))
    m = m[m["age"].between(AGES[0], AGES[-1])].copy()
    m["age"] = m["age"].astype(int).astype(str)
    m["sex"] = m["sex"].map(sex_label)
    m["ethnic_group"] = m["ethnicity"].map(ethnic_label)
    return m


def factor_flags(factors: pd.DataFrame, missing: pd.DataFrame) -> dict[str, set[tuple]]:
    """Each factor's (LA, collection year, child): assessment factors started in the year, and missing from care."""
    f = factors.assign(collection_year=collection_years(factors["date"]))
    flags = {}
    for name, codes in FACTORS.items():
        hit = f[f["code"].isin(codes)]
        flags[name] = set(zip(hit["_la"], hit["collection_year"].astype(int), hit["child"]))
    mis = missing.assign(collection_year=collection_years(missing["date"])).dropna(subset=["collection_year"])
    flags[MISSING_FROM_CARE] = set(zip(mis["_la"], mis["collection_year"].astype(int), mis["child"]))
    return flags


def stage_rows(m: pd.DataFrame, flags: dict[str, set[tuple]], cats: dict[str, list[str]],
               sent: dict[str, set[tuple[str, int]]]) -> list[tuple]:
    """Rows (LA, year, stage, dimension, category, children, stage children) of the event and care stages."""
    rows = []
    for stage in STAGES[1:]:
        s = m[m["stage"] == stage]
        # split once, not filtered per (LA, year): 6 s of 24 at London scale 1
        of = split_by(s, ["_la", "collection_year"])
        for la, year in sorted(sent.get(stage, set())):
            mine = of((la, year))
            total = float(len(mine))
            for dim, values in cats.items():
                n = mine[dim].value_counts()
                rows.append((la, year, stage, dim, ALL, total, total))
                rows += [(la, year, stage, dim, v, float(n.get(v, 0)), total) for v in values]
            mine_keys = set(zip(mine["_la"], mine["collection_year"], mine["child"]))
            for name, flagged in flags.items():
                rows.append((la, year, stage, "factor", name, float(len(mine_keys & flagged)), total))
    return rows


def population_rows(population: pd.DataFrame | None, cats: dict[str, list[str]],
                    sent: dict[str, set[tuple[str, int]]]) -> list[tuple]:
    """Rows of the ONS population stage (10-17-year-olds, mid-year Y-1 for year Y) for the LA-years sent."""
    if population is None or not len(population):
        return []
    p = population[population["age"].between(AGES[0], AGES[-1])].copy()
    p["collection_year"] = p["year"].astype(int) + 1
    p["age"] = p["age"].astype(int).astype(str)
    p["sex"] = p["sex"].map(sex_label)
    p["ethnic_group"] = p["ethnicity"].map(ethnic_label)
    la_years = set().union(*sent.values()) if sent else set()
    rows = []
    for (la, year), g in p.groupby(["la_code", "collection_year"]):
        if (str(la), int(year)) not in la_years:
            continue
        total = float(g["population"].sum())
        for dim, values in cats.items():
            n = g.groupby(dim)["population"].sum()
            rows.append((str(la), int(year), "population", dim, ALL, total, total))
            rows += [(str(la), int(year), "population", dim, v, float(n.get(v, 0)), total) for v in values]
    return rows


def cohort_table(members: pd.DataFrame, people: pd.DataFrame, factors: pd.DataFrame, missing: pd.DataFrame,
                 population: pd.DataFrame, sent: dict[str, set[tuple[str, int]]],
                 region_key: str | None = None) -> pd.DataFrame:
    """The table from stage members, people (_la, child, dob, sex, ethnicity), assessment factors
    (_la, child, date, code), 903 missing episodes (_la, child, date), ONS population
    (la_code, year, age, sex, ethnicity, population) and ``sent`` (stage → (LA, year) returns sent).
    Pandas on the driver, one row per child at a stage in a year (a region's tens of thousands):
    not yet moved to Spark."""
    m = cohort_people(members, people)
    cats = {"age": [str(a) for a in AGES], "sex": sorted(set(FIXED["sex"]) | set(m["sex"])),
            "ethnic_group": sorted(set(FIXED["ethnic_group"]) | set(m["ethnic_group"]))}
    rows = stage_rows(m, factor_flags(factors, missing), cats, sent) + population_rows(population, cats, sent)
    df = pd.DataFrame(rows, columns=["_la", "collection_year", "stage", "dimension", "category", "children",
                                     "stage_children"])
    if not len(df):
        return pd.DataFrame(columns=COLUMNS)
    out = with_geography(df, ["collection_year", "stage", "dimension", "category"], ["children", "stage_children"],
                         region_key)
    out["percentage"] = (100 * out["children"] / out["stage_children"]).where(out["stage_children"] > 0)
    order = {s: i for i, s in enumerate(STAGES)}
    out["_o"] = out["stage"].map(order)
    out = out.sort_values(["geog_level", "geog_code", "collection_year", "_o", "dimension", "category"])
    return out[COLUMNS].reset_index(drop=True)


def read_people(lake: "Lake") -> pd.DataFrame:
    """(_la, child, dob, sex, ethnicity): the CIN record first; the 903 header stands in for children only in care."""
    people = []
    child = latest(lake, catalog.silver.cin_child, ["_la", "LAchildID_hash", "PersonBirthDate", "GenderCurrent", "Sex",
                                              "Ethnicity"])
    if child is not None:
        sex = child["Sex"] if "Sex" in child.columns else pd.Series(None, index=child.index)
        if "GenderCurrent" in child.columns:
            sex = sex.where(sex.notna(), child["GenderCurrent"])
        people.append(pd.DataFrame({"_la": child["_la"], "child": child["LAchildID_hash"],
                                    "dob": child["PersonBirthDate"], "sex": sex, "ethnicity": child["Ethnicity"]}))
    hdr = latest(lake, catalog.silver.ssda903_header, ["_la", "CHILD_hash", "DOB", "SEX", "ETHNIC"])
    if hdr is not None:
        people.append(pd.DataFrame({"_la": hdr["_la"], "child": hdr["CHILD_hash"], "dob": hdr["DOB"],
                                    "sex": hdr["SEX"], "ethnicity": hdr["ETHNIC"]}))
    return pd.concat(people, ignore_index=True) if people else pd.DataFrame(
        columns=["_la", "child", "dob", "sex", "ethnicity"])


def read_factors(lake: "Lake") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assessment factors (_la, child, date, code) and 903 missing episodes (_la, child, date)."""
    fac = latest(lake, catalog.silver.cin_assessment_factor, ["_la", "LAchildID_hash", "AssessmentActualStartDate",
                                                        "AssessmentFactors"])
    factors = (pd.DataFrame({"_la": fac["_la"], "child": fac["LAchildID_hash"],
                             "date": fac["AssessmentActualStartDate"], "code": fac["AssessmentFactors"]})
               if fac is not None else pd.DataFrame(columns=["_la", "child", "date", "code"]))
    mis = latest(lake, catalog.silver.ssda903_missing, ["_la", "CHILD_hash", "MIS_START"])
    missing = (pd.DataFrame({"_la": mis["_la"], "child": mis["CHILD_hash"], "date": mis["MIS_START"]})
               if mis is not None else pd.DataFrame(columns=["_la", "child", "date"]))
    return factors, missing


def build_adolescent_cohort(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    events = {}
    for stage, table, col in (("referral", catalog.silver.cin_episode, "CINreferralDate"),
                              ("assessment", catalog.silver.cin_assessment, "AssessmentActualStartDate"),
                              ("s47", catalog.silver.cin_s47, "S47ActualStartDate"),
                              ("cp_plan", catalog.silver.cin_cpp, "CPPstartDate")):
        df = latest(lake, table, ["_la", "LAchildID_hash", col])
        if df is not None:
            events[stage] = df.rename(columns={col: "date"})
    care = None
    if lake.exists(catalog.silver.care_history):
        care = lake.read_table(catalog.silver.care_history).select("_la", "CHILD_hash", "DECOM", "DEC", "LS",
                                                              "_year").toPandas()
        # an episode left open is in care only up to the last return holding it (cslake.gold.dfe)
        care["DEC"] = last_day_in_care(care)
    if not events and care is None:
        return pd.DataFrame(columns=COLUMNS)
    factors, missing = read_factors(lake)
    pop = None
    if lake.exists(catalog.silver.context_population_population):
        pop = latest(lake, catalog.silver.context_population_population, ["la_code", "year", "age", "sex", "ethnicity",
                                                                   "population"])
    cin_sent = returns_sent(lake, catalog.silver.cin_child)
    sent = {s: cin_sent for s in events}
    if care is not None:
        sent["looked_after"] = returns_sent(lake, catalog.silver.ssda903_header)
    return cohort_table(stage_members(events, care), read_people(lake), factors, missing, pop, sent, region_key)
