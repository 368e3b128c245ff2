"""The linked journeys the children's-services models read: events, care episodes and persons as pandas.

``Journeys`` is what ``cslake.models.early_warning`` (child level) and
``cslake.models.forecast`` (LA level) both take; ``make_journeys`` builds one from
frames (the lake's tables, or hand-made ones in tests). Pandas on the driver: a
model's training set is small by nature and scikit-learn fits in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd


@dataclass
class Journeys:
    events: pd.DataFrame     # person_id, la, event, event_date, code, referral_date
    care: pd.DataFrame       # person_id, la, DECOM, DEC
    persons: pd.DataFrame    # person_id, dob_month, sex, ethnicity
    data_end: date           # last day the data can speak for (end of the latest collection year)
    versions: dict[str, int] = field(default_factory=dict)


def as_dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce")


def make_journeys(events: pd.DataFrame, care: pd.DataFrame, persons: pd.DataFrame,
                  versions: dict[str, int] | None = None, data_end: date | None = None) -> Journeys:
    events = events.copy()
    events["event_date"] = as_dates(events["event_date"])
    events["referral_date"] = as_dates(events["referral_date"])
    events = events[events["event_date"].notna()]
    care = care.copy()
    care["DECOM"] = as_dates(care["DECOM"])
    care["DEC"] = as_dates(care["DEC"])
    persons = persons.copy()
    persons["dob_month"] = as_dates(persons["dob_month"])
    if data_end is None:
        # The census year ends on 31 March: the latest year's returns speak up to then.
        last_year = int(events["year"].max()) if "year" in events and events["year"].notna().any() \
            else events["event_date"].max().year
        data_end = date(last_year, 3, 31)
    return Journeys(events, care, persons, data_end, dict(versions or {}))


def data_start(j: Journeys) -> date:
    """First day of the first collection year in the data. Older dates appear (referral
    dates of long-open cases) but the years before are only partly seen."""
    if "year" in j.events and j.events["year"].notna().any():
        return date(int(j.events["year"].min()) - 1, 4, 1)
    return j.events["event_date"].min().date()
