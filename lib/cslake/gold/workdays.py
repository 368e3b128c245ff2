"""Working days for the statutory timescales (45 for assessments, 15 for ICPCs).

A working day is Monday-Friday and not an England and Wales bank holiday
(``holidays.UK(subdiv="ENG")``: Wales has England's bank holidays). "Within N
working days of D" counts the working days after D up to and including the end
date, so an assessment started on a Friday and authorised the next Monday took 1.

In Spark the count comes from a small calendar table with a running index of
working days: working days in (start, end] = index(end) - index(start). Two
equi-joins on a date, no UDF, the same on every engine.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

import holidays
import pandas as pd
from pyspark.sql import functions as F

CALENDAR_FIRST = date(2000, 1, 1)
CALENDAR_LAST = date(2040, 12, 31)


@functools.lru_cache(maxsize=None)
def bank_holidays(first_year: int = CALENDAR_FIRST.year, last_year: int = CALENDAR_LAST.year) -> frozenset[date]:
    return frozenset(holidays.UK(subdiv="ENG", years=range(first_year, last_year + 1)).keys())


def is_working_day(d: date) -> bool:
    return d.weekday() < 5 and d not in bank_holidays()


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative if end < start)."""
    if end < start:
        return -working_days_between(end, start)
    n, d = 0, start
    while d < end:
        d += timedelta(days=1)
        n += is_working_day(d)
    return n


@functools.lru_cache(maxsize=None)
def _calendar_rows() -> tuple[tuple[date, int], ...]:
    rows, idx, d = [], 0, CALENDAR_FIRST
    while d <= CALENDAR_LAST:
        idx += is_working_day(d)
        rows.append((d, idx))
        d += timedelta(days=1)
    return tuple(rows)


def calendar_df(spark):
    """One row per day: ``cal_date``, ``wd_index`` (working days from CALENDAR_FIRST up to and including it)."""
    pdf = pd.DataFrame(list(_calendar_rows()), columns=["cal_date", "wd_index"])
    return spark.createDataFrame(pdf, "cal_date date, wd_index int")


def with_working_days(df, start_col: str, end_col: str, out_col: str, calendar):
    """``df`` plus ``out_col``: working days in (start, end]; null if either date is null or off the calendar."""
    s = calendar.select(F.col("cal_date").alias("_wd_s_date"), F.col("wd_index").alias("_wd_s"))
    e = calendar.select(F.col("cal_date").alias("_wd_e_date"), F.col("wd_index").alias("_wd_e"))
    out = (df.join(s, df[start_col] == s["_wd_s_date"], "left")
             .join(e, df[end_col] == e["_wd_e_date"], "left"))
    return out.withColumn(out_col, F.col("_wd_e") - F.col("_wd_s")).drop("_wd_s_date", "_wd_s", "_wd_e_date", "_wd_e")
