"""The RIIA memoranda's Dataset 2 measures (outcomes for children looked after and care leavers).

Per LA and collection year Y (1 April Y-1 to 31 March Y, DfE's statistics "Children looked after in
England including adoptions", whose definitions these follow) and the regional rows of
``cslake.gold.geography``. conf/gold.yaml's ``dataset2_measures.periods`` says per measure whether it
is annual (``year``: one row per year, ``period`` "2024-25") or quarterly (``quarter``: the year's row
and one per financial quarter, "2024-25 Q1" = April-June ... "Q4" = January-March, as the RIIA
indicators): an event counted by its date (adopted) or children in a period (looked after, went
missing) can be cut by quarter; a cohort DfE defines by the year (OC2, OC3, placements in the year,
long-term stability at 31 March, the adoption scorecard) cannot. Each measure is a count (``number``), a
percentage (``number`` of ``denominator`` children) or an average number of days (``total_days``
over ``denominator`` children). Computed from the child-level SSDA903 return (and Ofsted's Annex A
list 8 for return interviews); each figure goes through the same disclosure control as the 24
indicators (``conf/gold.yaml``). Measures no statutory return holds (early help, CSE risk, tools
completed) are rows saying so: ``source`` = ``la-template only``, no figure (``x`` in exports), as the
RIIA quarterly template carries only the 24 indicators today (``conf/collections/riia_quarterly``),
so there is no LA-reported figure to put beside any Dataset 2 measure yet (its IndicatorID codes are
1-24; shared/ holds no MoU text defining a template figure for Dataset 2).

Definitions (``DEFINITIONS`` holds them as text for the table and the data register):

- CLA = looked after, short breaks (legal status V3/V4) excluded, as every DfE CLA figure.
- CLA at 31 March: an episode with DECOM <= 31 March Y and DEC empty or after 31 March Y.
- A *placement* starts with an episode whose reason for new episode (RNE) is S, P, B, T or U
  (every RNE but L, a change of legal status only); the placement open on 1 April counts as one.
- The *period of care* of an episode starts at the DECOM of the child's latest episode with RNE S
  at or before it; the *carer* at the latest episode with RNE S, P or B (T and U change the placement,
  not the carer).
- Ages at 31 March from the month of birth (silver keeps the month only): a child born in March
  counts as a year older from 1 March, a conservative edge shared with the independent check.
- Children are counted once per LA and year (their LA child id).

Pandas on the driver: the inputs are one LA's looked-after children per year (hundreds), collected
after the column selection in Spark, as in ``outcomes.py``.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from cslake import catalog
from cslake.config import ConfigError
from cslake.gold.common import latest, returns_presence, returns_sent, split_by, with_geography
from cslake.gold.conf import table_conf
from cslake.schemas import base_year, collection_schema, diff_years, spec_year
from cslake.vocab import SHORT_BREAKS, age_at, quarters_of, year_end, year_start

if TYPE_CHECKING:
    from cslake.lake import Lake

__all__ = ["COLUMNS", "DEFINITIONS", "MEASURES", "adoption_rows", "build_dataset2_measures", "care_leaver_rows",
           "dataset2_table", "eet_codes", "health_rows", "three_year_rows", "missing_rows", "periods_of", "quarterly_measures",
           "return_interview_rows", "stability_rows"]

PLACEMENT_STARTS = ("S", "P", "B", "T", "U")
CARER_STARTS = ("S", "P", "B")
ADOPTED = ("E11", "E12")
ADOPTIVE_PLACEMENTS = ("A3", "A4", "A5", "A6")
AUTHORITY_TO_PLACE = ("E1", "D1")  # placement order, freeing order

# id → (name, kind, source, definition)
MEASURES: dict[str, tuple[str, str, str, str]] = {
    "cl_eet": ("Care leavers aged 19-21 in education, employment or training", "pct", "ssda903 oc3",
               "OC3 cohort of the year (care leavers whose 19th-21st birthday fell in it); number: ACTIV F1/P1 "
               "(higher education), F2/P2 (other education), F3/P3 (training or employment, to 2019-20), F4/P4 "
               "(employment) and F5/P5 (training or apprenticeship, from 2020-21): conf/gold.yaml's eet_activities "
               "that the year's SSDA903 specification lists; denominator: the cohort, 'no information' (0) "
               "included, as DfE's CLA statistics, table F1."),
    "cl_suitable_accommodation": ("Care leavers aged 19-21 in suitable accommodation", "pct", "ssda903 oc3",
                                  "OC3 cohort; number: ACCOM ending 1 (suitable); denominator: the cohort."),
    "placements_3plus": ("CLA at 31 March with 3 or more placements during the year", "pct", "ssda903 episodes",
                         "Denominator: CLA at 31 March; number: those with 3+ placements in the year (the placement "
                         "open on 1 April and each episode starting in the year with RNE S, P, B, T or U). DfE's "
                         "placement stability measure (CLA statistics, table A3; former NI 62)."),
    "long_term_stability": ("CLA under 16 for 2.5+ years in the same placement for 2+ years or placed for adoption",
                            "pct", "ssda903 episodes",
                            "Denominator: CLA at 31 March aged under 16, whose period of care began on or before "
                            "30 September two and a half years earlier; number: those whose placement at 31 March began "
                            "2+ years before it, or placed for adoption (PLACE A3-A6). DfE's long-term stability "
                            "measure (former NI 63)."),
    "immunisations": ("CLA for 12 months with immunisations up to date", "pct", "ssda903 oc2",
                      "OC2 cohort (looked after continuously for 12 months at 31 March); number: IMMUNISATIONS = 1."),
    "dental_checks": ("CLA for 12 months whose teeth were checked by a dentist", "pct", "ssda903 oc2",
                      "OC2 cohort; number: TEETH_CHECK = 1."),
    "health_assessments": ("CLA for 12 months with their annual health assessment", "pct", "ssda903 oc2",
                           "OC2 cohort; number: HEALTH_ASSESSMENT = 1."),
    "development_assessments": ("CLA for 12 months aged under 5 with development assessments up to date", "pct",
                                "ssda903 oc2", "OC2 cohort aged under 5 at 31 March; number: HEALTH_CHECK = 1."),
    "adopted": ("Children adopted in the year (or quarter)", "count", "ssda903 episodes",
                "Children ceasing to be looked after in the year (quarter) with REC E11 or E12 (adopted), each once."),
    "a1_days_care_to_adoptive_family": (
        "A1: average days from entering care to moving in with the adoptive family", "average",
        "ssda903 episodes, placed_adoption",
        "Children adopted in the year; days from the start of their period of care to the date placed for adoption "
        "(placed_adoption DATE_PLACED, else the DECOM of the first adoptive placement, A3-A6). DfE adoption "
        "scorecard A1, one year (the scorecard's three-year average: a1_three_years)."),
    "a10_days_care_to_adoptive_family_adjusted": (
        "A10: A1 adjusted for foster carer adoptions", "average", "ssda903 episodes, placed_adoption, ad1",
        "As A1, but a child adopted by their foster carer (AD1 FOSTER_CARE = 1) moved in with the family when "
        "they moved in with that carer: the start of the carer (latest RNE S, P or B at or before the adoptive "
        "placement). DfE adoption scorecard A10."),
    "a2_days_authority_to_match": (
        "A2: average days from court authority to place to the match", "average", "ssda903 episodes, ad1",
        "Children adopted in the year with a match date (AD1 DATE_MATCH); days from the first legal status E1 "
        "(placement order) or D1 (freeing order) of their period of care to the match. DfE adoption scorecard A2."),
    "a3_within_14_months": (
        "A3: children adopted who waited less than 14 months to move in with their adoptive family", "pct",
        "ssda903 episodes, placed_adoption, ad1",
        "Children adopted in the year with both dates of A10; number: moved in (A10's date) less than 14 calendar "
        "months after entering care. DfE adoption scorecard A3."),
    "a1_three_years": (
        "A1 over three years: average days from entering care to moving in with the adoptive family", "average",
        "ssda903 episodes, placed_adoption",
        "As A1, children adopted in the year and the two before (DfE's scorecard figure, a three-year average: "
        "total days over children measured); no figure until the LA's returns of all three years are in."),
    "a10_three_years": (
        "A10 over three years: A1 adjusted for foster carer adoptions", "average",
        "ssda903 episodes, placed_adoption, ad1", "As A10, over the year and the two before (as a1_three_years)."),
    "a2_three_years": (
        "A2 over three years: average days from court authority to place to the match", "average",
        "ssda903 episodes, ad1", "As A2, over the year and the two before (as a1_three_years)."),
    "a3_three_years": (
        "A3 over three years: children adopted who waited less than 14 months", "pct",
        "ssda903 episodes, placed_adoption, ad1", "As A3, over the year and the two before (as a1_three_years)."),
    "cla_missing": ("CLA during the year (or quarter) with a missing incident", "pct", "ssda903 episodes, missing",
                    "Denominator: children looked after at any time in the year (quarter); number: those with a "
                    "missing episode (MISSING = M, not 'away without authorisation') starting in it."),
    "return_interview_offered": ("CLA with a missing episode offered a return interview", "pct", "annex_a list 8",
                                 "Annex A list 8 of the year (the CLA list inspectors sample); denominator: children "
                                 "with one or more missing episodes; number: Return Interview Offered = yes."),
    "return_interview_accepted": ("CLA offered a return interview who accepted it", "pct", "annex_a list 8",
                                  "Annex A list 8; denominator: offered a return interview; number: accepted."),
    "early_help": ("Early help assessments", "template", "la-template only",
                   "Not in any statutory return: only the LA's quarterly template can give it (not carried yet)."),
    "cse_risk": ("Children assessed at risk of child sexual exploitation", "template", "la-template only",
                 "Not in any statutory return (CIN factor 6A counts assessments, not children at risk): template only."),
    "tools_completed": ("CSE / exploitation risk tools completed", "template", "la-template only",
                        "Not in any statutory return: template only."),
}
DEFINITIONS = {k: v[3] for k, v in MEASURES.items()}
COUNT_COLUMNS = ["_la", "collection_year", "measure_id", "number", "denominator", "total_days", "period"]
COLUMNS = ["geog_level", "geog_code", "geog_name", "collection_year", "period", "period_type", "period_end",
           "measure_id", "measure", "kind", "number", "denominator", "percentage", "total_days", "average_days",
           "source", "definition"]
PERIODS = ("year", "quarter")


# ---------------------------------------------------------------------------
# pure: one frame per source → rows of COUNT_COLUMNS (each tested on hand-made frames)


def _row(la, year, mid, number=None, denominator=None, total_days=None, period=None) -> tuple:
    return (str(la), int(year), mid, number, denominator, total_days, period or year_label(int(year)))


def year_label(year: int) -> str:
    """The period label of collection year ``year``'s row: "2024-25"."""
    return f"{year - 1}-{year % 100:02d}"


def periods_of(year: int, quarterly: bool) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """(label, first day, last day) of the year and, when ``quarterly``, its four financial quarters."""
    out = [(year_label(year), pd.Timestamp(year_start(year)), _march(year))]
    if quarterly:
        out += [(q.label, pd.Timestamp(q.start), pd.Timestamp(q.end)) for q in quarters_of(year)]
    return out


def quarterly_measures(conf: dict | None = None) -> frozenset[str]:
    """The measures conf/gold.yaml's ``dataset2_measures.periods`` makes quarterly; every measure must
    be there, as ``year`` or ``quarter`` (a new measure without a decision stops the build)."""
    periods = (table_conf("dataset2_measures") if conf is None else conf).get("periods") or {}
    missing, unknown = set(MEASURES) - set(periods), set(periods) - set(MEASURES)
    bad = {m: p for m, p in periods.items() if p not in PERIODS}
    if missing or unknown or bad:
        raise ConfigError(f"conf/gold.yaml dataset2_measures.periods: every Dataset 2 measure as year or quarter; "
                          f"missing {sorted(missing)}, unknown {sorted(unknown)}, neither {bad}")
    return frozenset(m for m, p in periods.items() if p == "quarter")


def eet_codes(year: int, counted: list[str] | None = None) -> frozenset[str]:
    """The OC3 ACTIV codes counted as in education, employment or training in collection year
    ``year``: conf/gold.yaml's ``dataset2_measures.eet_activities`` (every year's EET codes) that the
    year's SSDA903 specification lists (``schemas.spec_year``: F3/P3 up to 2019-20, F4/P4/F5/P5
    after, conf/collections/ssda903/diffs/2021.yaml). A conf code no year lists is a typo: an error."""
    counted = table_conf("dataset2_measures").get("eet_activities") if counted is None else counted
    if not counted:
        raise ConfigError("conf/gold.yaml dataset2_measures.eet_activities: the OC3 activity codes that are EET")
    listed = set(collection_schema("ssda903", spec_year("ssda903", year)[0]).tables["oc3"].columns["ACTIV"].codes)
    ever = {c for y in _spec_years() for c in
            collection_schema("ssda903", y).tables["oc3"].columns["ACTIV"].codes}
    if set(counted) - ever:
        raise ConfigError(f"conf/gold.yaml dataset2_measures.eet_activities: {sorted(set(counted) - ever)} are in no "
                          f"year's SSDA903 OC3 ACTIV codes")
    return frozenset(c for c in counted if c in listed)


def _spec_years() -> list[int]:
    return [base_year("ssda903"), *diff_years("ssda903")]


def _march(year: int) -> pd.Timestamp:
    return pd.Timestamp(year_end(year))


def care_leaver_rows(oc3: pd.DataFrame, sent: set[tuple[str, int]], eet=eet_codes) -> list[tuple]:
    """oc3 (_la, _year, CHILD_hash, ACTIV, ACCOM) → cl_eet and cl_suitable_accommodation per (LA, year) sent;
    ``eet(year)``: the activity codes that are EET that year (``eet_codes``)."""
    rows = []
    for la, year in sorted(sent):
        g = oc3[(oc3["_la"] == la) & (oc3["_year"] == year)].drop_duplicates("CHILD_hash")
        n = float(len(g))
        eet_n = float(g["ACTIV"].astype(str).str.strip().str.upper().isin(eet(year)).sum())
        suitable = float(g["ACCOM"].astype(str).str.strip().str.endswith("1").sum())
        rows += [_row(la, year, "cl_eet", eet_n, n), _row(la, year, "cl_suitable_accommodation", suitable, n)]
    return rows


def health_rows(oc2: pd.DataFrame, sent: set[tuple[str, int]]) -> list[tuple]:
    """oc2 (_la, _year, CHILD_hash, DOB, IMMUNISATIONS, TEETH_CHECK, HEALTH_ASSESSMENT, HEALTH_CHECK) → the
    four health measures per (LA, year) sent."""
    rows = []
    for la, year in sorted(sent):
        g = oc2[(oc2["_la"] == la) & (oc2["_year"] == year)].drop_duplicates("CHILD_hash")
        n = float(len(g))

        def yes(col: str, frame: pd.DataFrame = g) -> float:
            return float(frame[col].map(lambda v: v is True or str(v).strip().lower() in ("1", "true")).sum())

        under5 = g[age_at(g["DOB"], _march(year)) < 5] if len(g) else g
        rows += [_row(la, year, "immunisations", yes("IMMUNISATIONS"), n),
                 _row(la, year, "dental_checks", yes("TEETH_CHECK"), n),
                 _row(la, year, "health_assessments", yes("HEALTH_ASSESSMENT"), n),
                 _row(la, year, "development_assessments", yes("HEALTH_CHECK", under5), float(len(under5)))]
    return rows


def _care(episodes: pd.DataFrame) -> pd.DataFrame:
    """Episodes without short breaks, dates as timestamps, in each child's order, and ``LAST``: the
    last day the child is known to be in care in the episode. That is DEC, or for an episode no return
    ends, 31 March of the last return holding it open (``_year``, as ``cslake.gold.dfe``): a child
    missing from the next return is never counted as looked after in a year no return says so (issue
    12). Without ``_year`` (hand-made frames) an open episode stays open."""
    e = episodes[~episodes["LS"].astype(str).str.upper().isin(SHORT_BREAKS)].copy()
    for c in ("DECOM", "DEC"):
        e[c] = pd.to_datetime(e[c])
    e["RNE"] = e["RNE"].astype(str).str.strip().str.upper()
    seen = (pd.to_datetime(e["_year"].astype("Int64").astype(str) + "-03-31", errors="coerce")
            if "_year" in e.columns else pd.Series(pd.NaT, index=e.index))
    e["LAST"] = e["DEC"].where(e["DEC"].notna(), seen.fillna(pd.Timestamp.max))
    return e.sort_values(["_la", "CHILD_hash", "DECOM"], kind="mergesort").reset_index(drop=True)


def _open_on(e: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """Looked after on ``day`` in the episode: started by then, ended after it (a DEC on ``day`` is not
    open: a DEC of 31 March means not looked after at 31 March), or left open by a return of ``day``'s
    collection year or later."""
    return (e["DECOM"] <= day) & ((e["DEC"].notna() & (e["DEC"] > day)) | (e["DEC"].isna() & (e["LAST"] >= day)))


def _latest_start(e: pd.DataFrame, upto: pd.Timestamp, codes: tuple[str, ...]) -> pd.Timestamp | None:
    s = e[(e["DECOM"] <= upto) & e["RNE"].isin(codes)]["DECOM"]
    return s.max() if len(s) else None


def stability_rows(episodes: pd.DataFrame, header: pd.DataFrame, sent: set[tuple[str, int]]) -> list[tuple]:
    """episodes (_la, CHILD_hash, DECOM, DEC, RNE, LS, PLACE: every year's, chained) and header (_la,
    CHILD_hash, DOB) → placements_3plus and long_term_stability per (LA, year) sent."""
    e = _care(episodes)
    dob = header.drop_duplicates(["_la", "CHILD_hash"]).set_index(["_la", "CHILD_hash"])["DOB"]
    of_la = split_by(e, "_la")
    rows = []
    for la, year in sorted(sent):
        three, at_end, lt_num, lt_den = _stability_counts(of_la(la), dob, la, year)
        rows += [_row(la, year, "placements_3plus", float(three), float(at_end)),
                 _row(la, year, "long_term_stability", float(lt_num), float(lt_den))]
    return rows


def _stability_counts(mine: pd.DataFrame, dob: pd.Series, la: str, year: int) -> tuple[int, int, int, int]:
    """One LA-year's (3+ placements, CLA at 31 March, long-term stable, its denominator), per child
    in columns rather than a loop over children: London at scale 1 has about 80,000 child-years."""
    start, end = pd.Timestamp(year_start(year)), _march(year)
    open_end = _open_on(mine, end)
    g = mine[mine["CHILD_hash"].isin(mine.loc[open_end, "CHILD_hash"])]  # looked after at 31 March
    if not len(g):
        return 0, 0, 0, 0
    upto = g["DECOM"] <= end
    per = pd.DataFrame({
        "child": g["CHILD_hash"],
        "open_start": (g["DECOM"] < start) & (g["LAST"] >= start),  # the placement open on 1 April
        "moves": (g["DECOM"] >= start) & upto & g["RNE"].isin(PLACEMENT_STARTS),
        "care_start": g["DECOM"].where(upto & (g["RNE"] == "S")),  # the period of care's start
        "placed": g["DECOM"].where(upto & g["RNE"].isin(PLACEMENT_STARTS)),
    }).groupby("child", sort=True).agg(open_start=("open_start", "any"), moves=("moves", "sum"),
                                       care_start=("care_start", "max"), placed=("placed", "max"))
    # The placement at 31 March: the child's last episode open then (episodes in the child's order).
    last = g[open_end[g.index]].drop_duplicates("CHILD_hash", keep="last").set_index("CHILD_hash")["PLACE"]
    adoptive = last.reindex(per.index).astype(str).str.upper().isin(ADOPTIVE_PLACEMENTS)
    born = dob.reindex(pd.MultiIndex.from_arrays([[la] * len(per), per.index])).set_axis(per.index)
    counted = (born.notna() & per["care_start"].notna() & (age_at(born, end) < 16)
               & (per["care_start"] <= end - pd.DateOffset(years=2, months=6)))
    stable = adoptive | (per["placed"].notna() & (per["placed"] <= end - pd.DateOffset(years=2)))
    three = int(((per["open_start"].astype(int) + per["moves"]) >= 3).sum())
    return three, len(per), int((counted & stable).sum()), int(counted.sum())


def _adoption_dates(g: pd.DataFrame, dec: pd.Timestamp, placed: pd.DataFrame, foster_carer: bool,
                    authority: bool) -> tuple:
    """(care start, moved in with the adoptive family, moved in adjusted for foster carers, authority to place)."""
    care_start = _latest_start(g, dec, ("S",))
    period = g[g["DECOM"] >= care_start] if care_start is not None else g.iloc[0:0]
    p = placed[(placed["DATE_PLACED"] <= dec)]["DATE_PLACED"]
    adoptive = period[period["PLACE"].astype(str).str.upper().isin(ADOPTIVE_PLACEMENTS)]
    moved = p.max() if len(p) else (adoptive["DECOM"].min() if len(adoptive) else None)
    adjusted = moved
    if foster_carer and moved is not None:
        adjusted = _latest_start(period, moved, CARER_STARTS) or moved
    auth = None
    if authority:
        a = period[period["LS"].astype(str).str.upper().isin(AUTHORITY_TO_PLACE)]["DECOM"]
        auth = a.min() if len(a) else None
    return care_start, moved, adjusted, auth


def adoption_rows(episodes: pd.DataFrame, placed: pd.DataFrame, ad1: pd.DataFrame,
                  sent: set[tuple[str, int]], quarterly: frozenset[str] = frozenset()) -> list[tuple]:
    """episodes (chained, as ``stability_rows``), placed_adoption (_la, CHILD_hash, DATE_PLACED) and ad1
    (_la, _year, CHILD_hash, DATE_MATCH, FOSTER_CARE) → adopted, A1, A10, A2 and A3 per (LA, year) sent
    (adopted also per quarter when in ``quarterly``)."""
    e = _care(episodes)
    placed = placed.assign(DATE_PLACED=pd.to_datetime(placed["DATE_PLACED"]))
    ad1 = ad1.assign(DATE_MATCH=pd.to_datetime(ad1["DATE_MATCH"]))
    adoptions = e[e["REC"].astype(str).str.upper().isin(ADOPTED)]
    # Each adopted child's rows looked up once, not filtered out of the whole region per child.
    per_child = ["_la", "CHILD_hash"]
    episodes_of, placed_of, ad1_of = split_by(e, per_child), split_by(placed, per_child), split_by(ad1, per_child)
    rows = []
    for la, year in sorted(sent):
        start, end = pd.Timestamp(year_start(year)), _march(year)
        ended = adoptions[(adoptions["_la"] == la) & (adoptions["DEC"] >= start) & (adoptions["DEC"] <= end)]
        last = ended.groupby("CHILD_hash", sort=True)["DEC"].max()  # each child once, at their last adoption
        for label, q_start, q_end in periods_of(year, "adopted" in quarterly)[1:]:
            rows.append(_row(la, year, "adopted", float(((last >= q_start) & (last <= q_end)).sum()), period=label))
        adopted = a1 = a10 = a2 = within = 0
        a1_days = a10_days = a2_days = 0.0
        for child, dec in last.items():
            adopted += 1
            g = episodes_of((la, child))
            a = ad1_of((la, child)).sort_values("_year")
            fc = bool(len(a)) and (a["FOSTER_CARE"].iloc[-1] is True or str(a["FOSTER_CARE"].iloc[-1]) in ("1", "True"))
            match = a["DATE_MATCH"].dropna().iloc[-1] if a["DATE_MATCH"].notna().any() else None
            care_start, moved, adjusted, auth = _adoption_dates(
                g, dec, placed_of((la, child)), fc, True)
            if care_start is not None and moved is not None:
                a1, a1_days = a1 + 1, a1_days + (moved - care_start).days
            if care_start is not None and adjusted is not None:
                a10, a10_days = a10 + 1, a10_days + (adjusted - care_start).days
                within += adjusted < care_start + pd.DateOffset(months=14)
            if auth is not None and match is not None:
                a2, a2_days = a2 + 1, a2_days + (match - auth).days
        rows += [_row(la, year, "adopted", float(adopted)),
                 _row(la, year, "a1_days_care_to_adoptive_family", None, float(a1), a1_days),
                 _row(la, year, "a10_days_care_to_adoptive_family_adjusted", None, float(a10), a10_days),
                 _row(la, year, "a2_days_authority_to_match", None, float(a2), a2_days),
                 _row(la, year, "a3_within_14_months", float(within), float(a10))]
    return rows


THREE_YEARS = {"a1_three_years": "a1_days_care_to_adoptive_family",
               "a10_three_years": "a10_days_care_to_adoptive_family_adjusted",
               "a2_three_years": "a2_days_authority_to_match", "a3_three_years": "a3_within_14_months"}


def three_year_rows(rows: list[tuple], sent: set[tuple[str, int]]) -> list[tuple]:
    """The adoption scorecard over three years (DfE publishes A1, A2, A3 and A10 as three-year
    averages): per (LA, year) sent, the sums of number, denominator and total days of the year's row
    and the two years' before it; no figure (a row all the same) unless all three are there."""
    year = {(r[0], r[1], r[2]): r for r in rows if r[6] == year_label(r[1])}
    out = []
    for la, y in sorted(sent):
        for mid, one in THREE_YEARS.items():
            parts = [year.get((la, yy, one)) for yy in (y - 2, y - 1, y)]
            if any(p is None for p in parts):
                out.append(_row(la, y, mid))
                continue
            sums = [None if all(p[i] is None for p in parts) else float(sum(p[i] or 0 for p in parts))
                    for i in (3, 4, 5)]
            out.append(_row(la, y, mid, *sums))
    return out


def missing_rows(episodes: pd.DataFrame, missing: pd.DataFrame, sent: set[tuple[str, int]],
                 quarterly: frozenset[str] = frozenset()) -> list[tuple]:
    """episodes (chained) and missing (_la, CHILD_hash, MISSING, MIS_START) → cla_missing per (LA, year) sent
    (and per quarter when in ``quarterly``: looked after at some time in the quarter, went missing in it)."""
    e = _care(episodes)
    m = missing.assign(MIS_START=pd.to_datetime(missing["MIS_START"]))
    m = m[m["MISSING"].astype(str).str.strip().str.upper() == "M"]
    # each frame split by LA once, not filtered out of the region per (LA, period)
    e_of, m_of = split_by(e, "_la"), split_by(m, "_la")
    rows = []
    for la, year in sorted(sent):
        mine, missed = e_of(la), m_of(la)
        for label, start, end in periods_of(year, "cla_missing" in quarterly):
            during = mine[(mine["DECOM"] <= end) & (mine["LAST"] >= start)]
            cla = set(during["CHILD_hash"])
            went = set(missed[(missed["MIS_START"] >= start) & (missed["MIS_START"] <= end)]["CHILD_hash"])
            rows.append(_row(la, year, "cla_missing", float(len(cla & went)), float(len(cla)), period=label))
    return rows


def return_interview_rows(list8: pd.DataFrame, sent: set[tuple[str, int]]) -> list[tuple]:
    """Annex A list 8 (_la, _year, child_id_hash, missing_episodes, return_interview_offered,
    return_interview_accepted) → return_interview_offered and _accepted per (LA, year) sent."""
    rows = []
    for la, year in sorted(sent):
        g = list8[(list8["_la"] == la) & (list8["_year"] == year)].drop_duplicates("child_id_hash")
        went = g[pd.to_numeric(g["missing_episodes"], errors="coerce").fillna(0) > 0]
        offered = went[went["return_interview_offered"].map(lambda v: v is True).astype(bool)]
        accepted = offered[offered["return_interview_accepted"].map(lambda v: v is True).astype(bool)]
        rows += [_row(la, year, "return_interview_offered", float(len(offered)), float(len(went))),
                 _row(la, year, "return_interview_accepted", float(len(accepted)), float(len(offered)))]
    return rows


def template_rows(sent: set[tuple[str, int]], quarterly: frozenset[str] = frozenset()) -> list[tuple]:
    """The measures only a template can give: a row per (LA, year) (and quarter) with no figure."""
    return [_row(la, year, mid, period=label) for la, year in sorted(sent) for mid, v in MEASURES.items()
            if v[1] == "template" for label, _, _ in periods_of(year, mid in quarterly)]


def dataset2_table(counts: pd.DataFrame, region_key: str | None = None) -> pd.DataFrame:
    """COUNT_COLUMNS rows → COLUMNS: LA rows and the regional rows (sums), percentages and averages."""
    if not len(counts):
        return pd.DataFrame(columns=COLUMNS)
    counts = counts.copy()
    if "period" not in counts.columns:
        counts["period"] = None
    counts["period"] = counts["period"].fillna(counts["collection_year"].map(lambda y: year_label(int(y))))
    out = with_geography(counts, ["collection_year", "period", "measure_id"], ["number", "denominator", "total_days"],
                         region_key)
    quarter = out["period"].str.contains(" Q", regex=False)
    out["period_type"] = quarter.map({True: "quarter", False: "year"})
    ends = {q.label: q.end for y in out["collection_year"].unique() for q in quarters_of(int(y))}
    out["period_end"] = [ends[p] if q else year_end(int(y)).date()
                         for p, q, y in zip(out["period"], quarter, out["collection_year"])]
    kind = out["measure_id"].map(lambda m: MEASURES[m][1])
    out["measure"] = out["measure_id"].map(lambda m: MEASURES[m][0])
    out["kind"] = kind
    out["source"] = out["measure_id"].map(lambda m: MEASURES[m][2])
    out["definition"] = out["measure_id"].map(DEFINITIONS)
    den = out["denominator"].where(out["denominator"] > 0)
    out["percentage"] = (100 * out["number"] / den).where(kind == "pct")
    out["average_days"] = (out["total_days"] / den).where(kind == "average")
    order = {m: i for i, m in enumerate(MEASURES)}
    out["_o"] = out["measure_id"].map(order)
    out = out.sort_values(["geog_level", "geog_code", "collection_year", "_o", "period"], kind="mergesort")
    return out[COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------------
# the stage: read silver (the edge) → counts → the restricted table (cslake.gold.build writes it)


def _read(lake: "Lake", name: str, columns: list[str]) -> pd.DataFrame:
    pdf = latest(lake, name, columns)
    return pd.DataFrame(columns=columns) if pdf is None else pdf


def build_dataset2_measures(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    """The restricted ``dataset2_measures`` table as pandas: every LA and year whose SSDA903 return was sent."""
    sent = returns_sent(lake, catalog.silver.ssda903_header)
    if not sent:
        return pd.DataFrame(columns=COLUMNS)
    quarterly = quarterly_measures()
    cols = ["_la", "_year", "CHILD_hash", "DECOM", "DEC", "RNE", "LS", "PLACE", "REC"]
    eps = (lake.read_table(catalog.silver.care_history).select(*cols).toPandas()
           if lake.exists(catalog.silver.care_history) else _read(lake, catalog.silver.ssda903_episodes, cols))
    header = _read(lake, catalog.silver.ssda903_header, ["_la", "_year", "CHILD_hash", "DOB"])
    header = header.sort_values("_year", kind="mergesort").drop_duplicates(["_la", "CHILD_hash"], keep="last")
    rows = care_leaver_rows(_read(lake, catalog.silver.ssda903_oc3, ["_la", "_year", "CHILD_hash", "ACTIV", "ACCOM"]),
                            sent)
    rows += health_rows(_read(lake, catalog.silver.ssda903_oc2, ["_la", "_year", "CHILD_hash", "DOB", "IMMUNISATIONS",
                                                                "TEETH_CHECK", "HEALTH_ASSESSMENT", "HEALTH_CHECK"]), sent)
    rows += stability_rows(eps, header, sent)
    rows += adoption_rows(eps, _read(lake, catalog.silver.ssda903_placed_adoption, ["_la", "CHILD_hash", "DATE_PLACED"]),
                          _read(lake, catalog.silver.ssda903_ad1, ["_la", "_year", "CHILD_hash", "DATE_MATCH",
                                                                  "FOSTER_CARE"]), sent, quarterly)
    rows += missing_rows(eps, _read(lake, catalog.silver.ssda903_missing, ["_la", "CHILD_hash", "MISSING", "MIS_START"]),
                         sent, quarterly)
    list8 = _read(lake, catalog.silver.annex_a_list_8, ["_la", "_year", "child_id_hash", "missing_episodes",
                                                        "return_interview_offered", "return_interview_accepted"])
    # The LAs that sent an Annex A that year (an empty list 8 is 0 of 0, not a gap)
    pres = returns_presence(lake, ["annex_a"])
    annex = {(str(a), int(y)) for a, y, c in zip(pres["_la"], pres["_year"], pres["collection"]) if c == "annex_a"}
    annex |= {(str(a), int(y)) for a, y in zip(list8["_la"], list8["_year"])}
    rows += return_interview_rows(list8, annex & sent)
    rows += three_year_rows(rows, sent)
    rows += template_rows(sent, quarterly)
    return dataset2_table(pd.DataFrame(rows, columns=COUNT_COLUMNS), region_key)
