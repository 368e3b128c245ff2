"""The domain's shared vocabulary: one definition of each concept silver, gold, the models and the reports use.

    from cslake import vocab
    vocab.ethnic_group("CHNE")                     # 'Asian'
    vocab.collection_year(date(2024, 4, 1))        # 2025
    vocab.CLA_AGE_BANDS.label(0)                   # 'under 1'
    vocab.period_label(date(2024, 4, 1))           # '2024-25 Q1'

Each concept has a plain-Python form (one value) and, where stages need it in Spark, a
column form (``*_col``) that gives the same answer; tests/test_vocab.py holds both to
hand-made edge cases and to each other.

- **Ethnic groups.** DfE's five major groups: White, Mixed, Asian, Black, Other. A code
  maps by its first letter (DfE's main codes and the extended codes under them begin with
  their group's letter: WBRI, MWBC, AIND, BAFR, OOTH ...), the one-letter ONS groups the
  same way, and the Chinese codes (CHNE and its extended codes CHKC, CMAL, CSNG, CTWN,
  COCH) to **Asian**. REFU (refused), NOBT (not yet obtained), blanks and anything else
  are not known (``None``; ``ethnic_label`` says ``unknown``).
  Sources for CHNE → Asian:
  - the project's spec, shared/specs/indicators.md: "W*, M*, A* and CHNE → Asian, B*,
    OOTH → Other; REFU / NOBT unknown";
  - the 2021 Census classification of England and Wales, which DfE's statistics follow:
    Chinese is in "Asian, Asian British or Asian Welsh" (ONS, Census 2021 outputs, the
    5 high-level groups: consultations.ons.gov.uk/external-affairs/census-2021-outputs-consultation;
    GOV.UK "List of ethnic groups", ethnicity-facts-figures.service.gov.uk/style-guide/ethnic-groups);
  - DfE's published school census data (Schools, pupils and their characteristics), whose
    ``ethnicity_minor`` "Asian - Chinese" sits in the Asian major group.
  The 2001 classification had a separate "Chinese or other ethnic group", where the
  early-warning model's old mapping of CHNE to Other came from.
- **Age.** ``age_at``: whole years on a date (a birthday counts from the day itself; 29
  February birthdays count from 1 March in other years). Bands, named per use:
  ``CLA_AGE_BANDS`` are DfE's bands in its CLA/CIN publications (under 1, 1 to 4, 5 to 9,
  10 to 15, 16 and over); ``FAIRNESS_AGE_BANDS`` are the same cut points with under 1
  folded into 0-4, so each band has enough children to judge a model on (an unborn child
  referred before birth, a negative age, is in 0-4). ``CHILD_AGES`` (0-17) is the child
  population of rates; ``ADOLESCENT_AGES`` (10-17) the adolescent cohort.
- **Collection year** Y: 1 April Y-1 to 31 March Y (the financial year; every return's
  census year ends on 31 March). ``collection_year``, ``year_start``, ``year_end``.
- **Reporting periods**: financial quarters, labelled ``"2024-25 Q1"`` (April-June) ...
  ``"2024-25 Q4"`` (January-March); ``quarters_of(Y)`` are collection year Y's four.
- **Short breaks**: SSDA903 legal statuses V3 and V4, left out of looked-after counts.
- **LA codes**: DfE's three-digit codes (conf/la_codes.csv through ``cslake.config``):
  ``la_name``, ``region_name`` and the ONS codes of the English regions, ``REGION_GSS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F

from cslake.config import local_authorities, region as region_of

UNKNOWN = "unknown"

# ---------------------------------------------------------------------------
# ethnicity

ETHNIC_GROUPS = ("White", "Mixed", "Asian", "Black", "Other")
# First letter of a DfE main or extended code, or a one-letter ONS group → major group.
# "C": the Chinese codes (CHNE; extended CHKC, CMAL, CSNG, CTWN, COCH) are Asian (see above).
GROUP_OF_LETTER = {"W": "White", "M": "Mixed", "A": "Asian", "C": "Asian", "B": "Black", "O": "Other"}
NOT_KNOWN_CODES = ("REFU", "NOBT")
# DfE's main codes (CIN census, SSDA903, SEN2, school census), for reference and tests.
MAIN_CODES = {
    "WBRI": "White", "WIRI": "White", "WIRT": "White", "WOTH": "White", "WROM": "White",
    "MWBC": "Mixed", "MWBA": "Mixed", "MWAS": "Mixed", "MOTH": "Mixed",
    "AIND": "Asian", "APKN": "Asian", "ABAN": "Asian", "AOTH": "Asian", "CHNE": "Asian",
    "BCRB": "Black", "BAFR": "Black", "BOTH": "Black",
    "OOTH": "Other",
}


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def ethnic_group(code) -> str | None:
    """DfE major group of an ethnicity code (main, extended or one-letter ONS); None when not known."""
    if _missing(code):
        return None
    c = str(code).strip().upper()
    if not c or c in NOT_KNOWN_CODES:
        return None
    return GROUP_OF_LETTER.get(c[0])


def ethnic_label(code) -> str:
    """``ethnic_group`` with ``unknown`` for a code that is not known (for tables that show the unknowns)."""
    return ethnic_group(code) or UNKNOWN


def ethnic_group_col(code: Column | str) -> Column:
    """``ethnic_group`` as a Spark column: the major group, null when not known."""
    c = F.upper(F.trim(F.col(code) if isinstance(code, str) else code))
    first = F.substring(c, 1, 1)
    out = F.when(c.isNull() | (c == "") | c.isin(*NOT_KNOWN_CODES), F.lit(None).cast("string"))
    for letter, group in GROUP_OF_LETTER.items():
        out = out.when(first == letter, F.lit(group))
    return out


# ---------------------------------------------------------------------------
# age


def age_at(dob: pd.Series, when: pd.Timestamp | pd.Series) -> pd.Series:
    """Whole years from ``dob`` to ``when`` (NaN where the date of birth is missing).

    Counted on the calendar: the birthday itself is the first day of the new year of age;
    born on 29 February, the new year starts on 1 March in other years. Silver cuts dates
    of birth to the first of the month, so within a lake a child's age turns on the 1st.
    """
    dob = pd.to_datetime(dob)
    when = pd.to_datetime(when)
    wy = when.dt.year if isinstance(when, pd.Series) else when.year
    wm = when.dt.month if isinstance(when, pd.Series) else when.month
    wd = when.dt.day if isinstance(when, pd.Series) else when.day
    before_birthday = (wm < dob.dt.month) | ((wm == dob.dt.month) & (wd < dob.dt.day))
    return (wy - dob.dt.year - before_birthday.astype(int)).where(dob.notna())


@dataclass(frozen=True)
class AgeBands:
    """Named age bands: ``bands`` are (youngest age in the band, label), youngest first; a band
    runs to the next one's youngest age (exclusive), the last one has no upper end.
    ``open_below``: ages under the first band's youngest age are in it (else unknown)."""

    name: str
    bands: tuple[tuple[float, str], ...]
    open_below: bool = False

    @property
    def labels(self) -> list[str]:
        return [label for _, label in self.bands]

    def label(self, age) -> str:
        """The band of one age (whole or fractional years); ``unknown`` for a missing age."""
        if _missing(age) or not math.isfinite(float(age)):
            return UNKNOWN
        age = float(age)
        if age < self.bands[0][0] and not self.open_below:
            return UNKNOWN
        out = self.bands[0][1]
        for lo, label in self.bands:
            if age >= lo:
                out = label
        return out

    def label_series(self, ages: pd.Series) -> pd.Series:
        """``label`` of each age of a Series (vectorised)."""
        a = pd.to_numeric(ages, errors="coerce").astype(float)
        out = pd.Series(UNKNOWN, index=ages.index, dtype=object)
        for i, (lo, label) in enumerate(self.bands):
            hi = self.bands[i + 1][0] if i + 1 < len(self.bands) else math.inf
            above = (a >= lo) | (a > -math.inf) if i == 0 and self.open_below else a >= lo
            out[above & (a < hi)] = label
        return out


# DfE's CLA and CIN publications (children looked after / in need at 31 March).
CLA_AGE_BANDS = AgeBands("cla_publication", ((0, "under 1"), (1, "1 to 4"), (5, "5 to 9"), (10, "10 to 15"),
                                             (16, "16 and over")))
# Model fairness reports: DfE's cut points, under 1 folded into 0-4 (and an unborn child's negative age with it).
FAIRNESS_AGE_BANDS = AgeBands("model_fairness", ((0, "0-4"), (5, "5-9"), (10, "10-15"), (16, "16+")), open_below=True)
CHILD_AGES = range(0, 18)        # children aged 0-17: the population of rates per 10,000
ADOLESCENT_AGES = range(10, 18)  # the adolescent safeguarding cohort


# ---------------------------------------------------------------------------
# collection years and reporting periods


def collection_year(d) -> int | None:
    """The collection year (ending 31 March) of one date; None for a missing date."""
    if _missing(d):
        return None
    return d.year + (1 if d.month >= 4 else 0)


def collection_years(d: pd.Series) -> pd.Series:
    """``collection_year`` of each date of a pandas Series (NaN where missing)."""
    d = pd.to_datetime(d)
    return (d.dt.year + (d.dt.month >= 4).astype(int)).where(d.notna())


def collection_year_col(d: Column | str) -> Column:
    """``collection_year`` as a Spark column (null where the date is null)."""
    d = F.col(d) if isinstance(d, str) else d
    return F.year(d) + F.when(F.month(d) >= 4, 1).otherwise(0)


def year_start(year: int) -> pd.Timestamp:
    """1 April of year - 1: the first day of collection year ``year``."""
    return pd.Timestamp(year - 1, 4, 1)


def year_end(year: int) -> pd.Timestamp:
    """31 March of ``year``: the last day (census day) of collection year ``year``."""
    return pd.Timestamp(year, 3, 31)


def year_end_col(year: Column | str) -> Column:
    """``year_end`` as a Spark date column."""
    y = F.col(year) if isinstance(year, str) else year
    return F.make_date(y, F.lit(3), F.lit(31))


def year_start_col(year: Column | str) -> Column:
    """``year_start`` as a Spark date column."""
    y = F.col(year) if isinstance(year, str) else year
    return F.make_date(y - 1, F.lit(4), F.lit(1))


@dataclass(frozen=True)
class Quarter:
    label: str
    collection_year: int
    start: date
    end: date


def quarters_of(year: int) -> list[Quarter]:
    """The four financial quarters of collection year ``year``, in order."""
    y0 = year - 1
    tag = f"{y0}-{year % 100:02d}"
    bounds = [(date(y0, 4, 1), date(y0, 6, 30)), (date(y0, 7, 1), date(y0, 9, 30)),
              (date(y0, 10, 1), date(y0, 12, 31)), (date(year, 1, 1), date(year, 3, 31))]
    return [Quarter(f"{tag} Q{i + 1}", year, s, e) for i, (s, e) in enumerate(bounds)]


def period_label(d: date | datetime) -> str | None:
    """Financial-quarter label ("2024-25 Q1") of one date."""
    if _missing(d):
        return None
    y = collection_year(d)
    q = ((d.month + 8) % 12) // 3 + 1
    return f"{y - 1}-{y % 100:02d} Q{q}"


def period_col(d: Column | str) -> Column:
    """``period_label`` as a Spark column."""
    d = F.col(d) if isinstance(d, str) else d
    fy = F.year(d) - F.when(F.month(d) < 4, 1).otherwise(0)
    q = F.floor(((F.month(d) + 8) % 12) / 3) + 1
    return F.concat(fy.cast("string"), F.lit("-"), F.lpad(((fy + 1) % 100).cast("string"), 2, "0"),
                    F.lit(" Q"), q.cast("string"))


# ---------------------------------------------------------------------------
# care, sex, places

SHORT_BREAKS = ("V3", "V4")  # SSDA903 legal statuses of short-break care


def is_short_break_col(ls: Column | str) -> Column:
    """True where an episode's legal status is a short break (null legal status: False)."""
    c = F.col(ls) if isinstance(ls, str) else ls
    return F.coalesce(c, F.lit("")).isin(*SHORT_BREAKS)


def sex_label(v) -> str:
    """CIN GenderCurrent (1/2/0/9), 2025's Sex (M/F/U) and the 903's SEX (1/2, M/F) as male / female / unknown."""
    s = "" if _missing(v) else str(v).strip().upper()
    return {"1": "male", "M": "male", "2": "female", "F": "female"}.get(s, UNKNOWN)


# ONS codes of the English regions, for layouts (the DfE outcomes files) that want one.
REGION_GSS = {"London": "E12000007", "East Midlands": "E12000004", "West Midlands": "E12000005",
              "North East": "E12000001", "North West": "E12000002", "Yorkshire and The Humber": "E12000003",
              "East of England": "E12000006", "South East": "E12000008", "South West": "E12000009"}


def la_name(code: str) -> str:
    """The LA's name from its DfE code (the code itself when conf/la_codes.csv does not know it)."""
    known = local_authorities()
    return known[code].name if code in known else code


def region_name(region_key: str | None) -> str:
    """The region's name (``Region`` when none is given)."""
    return region_of(region_key).name if region_key else "Region"
