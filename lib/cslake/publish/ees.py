"""Published gold in the layout of DfE's Explore Education Statistics (EES) open-data standards
(https://dfe-analytical-services.github.io/analysts-guide/statistics-production/ud.html): one row
per time period × geography × filter combination, columns in this order:

    time_period, time_identifier, geographic_level, country_code, country_name, region_code,
    region_name, new_la_code, old_la_code, la_name, <filters…>, <indicators…>

- time: ``period`` ``2024-25 Q1`` → ``202425`` + ``Financial year Q1`` (``2024-25`` → ``Financial year``:
  dataset2_measures mixes the two, and its period_type / period_end / collection_year are not filters); a collection year N (the
  year ending 31 March N: ``collection_year``, ``year``, ``Year``) → ``N`` + ``Reporting year``; a
  forecast quarter's start date → its financial year and quarter; an ``as_of`` date → its
  ``Calendar year``; a table with no time at all (``lead_herd``, pooled over every year) → the
  calendar year of the export, said so in its metadata.
- geography: ``la`` rows carry the LA's ONS code (``E06``/``E08``/``E09``/``E10``, conf/la_codes.csv)
  as ``new_la_code``, its 3-digit DfE code as ``old_la_code`` and its name; region rows the ONS
  region code and name; every row England's country code. A code that is no LA (``OUT``, outside
  the region) keeps empty LA codes and says so in ``la_name``.
- indicators: the suppressible measures (cslake.publish.typed) as numbers; a suppressed cell is
  ``c``, a not-applicable one ``z`` and a missing figure ``x`` (EES symbols) in the CSV, and NULL
  with the symbol in ``<indicator>_status`` in Parquet. Other numeric columns are indicators too; the rest filters.
- names: lower snake case (``LA_order`` → ``la_order``); the source's own geography and time
  columns are replaced by the standard ones.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd

from cslake.catalog import table_spec
from cslake.config import local_authorities, regions
from cslake.publish.typed import NOT_AVAILABLE, STATUS_SUFFIX, is_numeric_type, typed_frame

STANDARD = ["time_period", "time_identifier", "geographic_level", "country_code", "country_name", "region_code",
            "region_name", "new_la_code", "old_la_code", "la_name"]
COUNTRY = ("E92000001", "England")
#: ONS codes of England's regions (ONS Register of Geographic Codes, public).
REGION_CODES = {"North East": "E12000001", "North West": "E12000002", "Yorkshire and The Humber": "E12000003",
                "East Midlands": "E12000004", "West Midlands": "E12000005", "East of England": "E12000006",
                "London": "E12000007", "South East": "E12000008", "South West": "E12000009"}
LEVELS = {"la": "Local authority", "local authority": "Local authority", "region": "Regional",
          "regional": "Regional", "national": "National", "england": "National"}
#: Source columns naming a row's geography, in the order they are tried: (level, code).
GEO_COLUMNS = (("geog_level", "geog_code"), ("geog_l", "geog_c"), (None, "geog_code"), (None, "la"),
               (None, "la_code"), (None, "home_la"))
GEO_DROP = {"geog_level", "geog_code", "geog_name", "geog_l", "geog_c", "geog_n", "new_geog_code"}
YEAR_COLUMNS = ("collection_year", "year")
NOT_MEASURES = re.compile(r"(_id|year|order|rank|version|quarters)$")


@dataclass
class EesTable:
    """A published table in EES layout: the frame (typed: indicators numeric, ``_status`` beside
    those that can be suppressed), its filters and indicators, and what its time columns mean."""

    name: str
    frame: pd.DataFrame
    filters: list[str]
    indicators: list[str]
    time_note: str


def snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def financial_year(start_year: int) -> str:
    return f"{start_year}{(start_year + 1) % 100:02d}"


def time_of(pdf: pd.DataFrame, today: dt.date) -> tuple[pd.Series, pd.Series, set[str], str]:
    """(time_period, time_identifier, source columns used, a note for the metadata)."""
    cols = {c.lower(): c for c in pdf.columns}
    if "period" in cols:
        # "2024-25 Q1" (a financial quarter) or "2024-25" (the whole financial year: a table with both,
        # e.g. dataset2_measures, whose period_type / period_end / collection_year say the same again)
        m = pdf[cols["period"]].astype(str).str.extract(r"^(\d{4})-\d{2}(?: Q([1-4]))?$")
        if m[0].notna().all():
            quarter = m[1].notna()
            ident = ("Financial year Q" + m[1].astype(str)).where(quarter, "Financial year")
            used = {cols[c] for c in ("period", "period_type", "period_end", "collection_year") if c in cols}
            return (m[0].astype(int).map(financial_year), ident, used,
                    "financial quarter" if quarter.all() else "financial year, or a quarter of it (period)")
    for c in YEAR_COLUMNS:
        if c in cols:
            return (pdf[cols[c]].astype("Int64").astype(str), pd.Series("Reporting year", index=pdf.index),
                    {cols[c]}, "collection year ending 31 March")
    if "quarter_start" in cols:
        d = pd.to_datetime(pdf[cols["quarter_start"]])
        fy = d.dt.year.where(d.dt.month >= 4, d.dt.year - 1)
        q = ((d.dt.month - 4) % 12) // 3 + 1
        return fy.map(financial_year), "Financial year Q" + q.astype(str), set(), "forecast quarter"
    if "as_of" in cols:
        return (pd.to_datetime(pdf[cols["as_of"]]).dt.year.astype(str), pd.Series("Calendar year", index=pdf.index),
                set(), "the date the table describes (as_of)")
    return (pd.Series(str(today.year), index=pdf.index), pd.Series("Calendar year", index=pdf.index), set(),
            f"no time in the table (pooled over every year): the calendar year of the export, {today.year}")


def _geo_row(level: str | None, code: str) -> tuple[str, ...]:
    """(geographic_level, country_code, country_name, region_code, region_name, new_la_code, old_la_code,
    la_name) of one geography."""
    las, regs = local_authorities(), regions()
    code = str(code).strip()
    if code.lower() in regs or (level and LEVELS.get(level.lower()) == "Regional"):
        by_code = {v: k for k, v in REGION_CODES.items()}  # an English region by its ONS code (cslake.gold.geography)
        name = regs[code.lower()].name if code.lower() in regs else by_code.get(code, code)
        return ("Regional", *COUNTRY, REGION_CODES.get(name, ""), name, "", "", "")
    if level and LEVELS.get(level.lower()) == "National":
        return ("National", *COUNTRY, "", "", "", "", "")
    la = las.get(code.zfill(3)) if code.isdigit() else None
    if la is None:
        label = "Outside the region" if code.upper() == "OUT" else ("All" if code.upper() == "ALL" else code)
        return ("Local authority", *COUNTRY, "", "", "", "", label)
    return ("Local authority", *COUNTRY, REGION_CODES.get(la.region, ""), la.region, la.gss_code, la.dfe_code, la.name)


def geography_of(pdf: pd.DataFrame) -> tuple[pd.DataFrame, set[str]]:
    """The EES geography columns of every row, and the source columns they replace."""
    for level_col, code_col in GEO_COLUMNS:
        if code_col in pdf.columns:
            levels = pdf[level_col] if level_col in pdf.columns else pd.Series([None] * len(pdf), index=pdf.index)
            keys = list(zip(levels.astype(object), pdf[code_col].astype(str)))
            cache = {k: _geo_row(*k) for k in set(keys)}
            geo = pd.DataFrame([cache[k] for k in keys], index=pdf.index, columns=STANDARD[2:])
            return geo, {code_col} | ({level_col} if level_col in pdf.columns else set())
    geo = pd.DataFrame([("Regional", *COUNTRY, "", "", "", "", "")] * len(pdf), index=pdf.index,
                       columns=STANDARD[2:])
    return geo, set()


def is_indicator(column: str, spark_type: str, keys: set[str]) -> bool:
    """A numeric column that measures something (not a key, code, year, rank, order or version)."""
    t = spark_type.strip().lower()
    if t.startswith(("double", "float", "decimal")):
        return True
    return is_numeric_type(t) and column not in keys and not NOT_MEASURES.search(column.lower())


def ees_table(pdf: pd.DataFrame, table: str, today: dt.date | None = None) -> EesTable:
    """A published gold table (as read from the lake) in EES layout."""
    today = today or dt.date.today()
    typed, measures = typed_frame(pdf, table)
    period, identifier, time_used, note = time_of(pdf, today)
    geo, geo_used = geography_of(pdf)
    declared = {c.name: c.type for c in table_spec(f"gold.{table}").columns}
    dropped = time_used | geo_used | (GEO_DROP & {c.lower() for c in pdf.columns})
    rest = [c for c in pdf.columns if c not in dropped and c.lower() not in dropped]
    keys = set(table_spec(f"gold.{table}").keys)
    indicators = [c for c in rest if c in measures or is_indicator(c, declared.get(c, "string"), keys)]
    filters = [c for c in rest if c not in indicators]
    cols: dict[str, pd.Series] = {snake(c): pdf[c] for c in filters}
    for c in indicators:
        cols[snake(c)] = typed[c]
        if c in measures:
            cols[snake(c) + STATUS_SUFFIX] = typed[c + STATUS_SUFFIX]
    out = pd.concat([pd.DataFrame({"time_period": period.astype(str), "time_identifier": identifier},
                                  index=pdf.index), geo, pd.DataFrame(cols, index=pdf.index)], axis=1)
    return EesTable(table, out.reset_index(drop=True), [snake(c) for c in filters], [snake(c) for c in indicators],
                    note)


def _number_text(v) -> str:
    if v is None or pd.isna(v):
        return NOT_AVAILABLE
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def csv_frame(t: EesTable) -> pd.DataFrame:
    """The CSV's frame: each indicator's number, or its EES symbol (``c``, ``z``; ``x`` for no
    figure: EES allows no empty indicator cell)."""
    out = t.frame.copy()
    for c in t.indicators:
        values = out[c].map(_number_text)
        status = c + STATUS_SUFFIX
        if status in out.columns:
            values = out[status].where(out[status].notna(), values)
            out = out.drop(columns=[status])
        out[c] = values
    return out


def metadata(t: EesTable) -> pd.DataFrame:
    """EES's metadata file: one row per filter and indicator (col_name, col_type, label, indicator
    grouping, unit, decimal places, filter hint, filter grouping column)."""
    spec = table_spec(f"gold.{t.name}")
    described = {snake(c.name): re.sub(r"^As text; x suppressed, \. not applicable\.\s*", "", c.description)
                 for c in spec.columns}
    rows = []
    for c in t.filters + t.indicators:
        label = c.replace("_", " ").capitalize()
        unit = "%" if re.search(r"(pct|percentage|_rate)$", c) else ""
        rows.append({"col_name": c, "col_type": "Filter" if c in t.filters else "Indicator", "label": label[:80],
                     "indicator_grouping": "", "indicator_unit": unit if c in t.indicators else "",
                     "indicator_dp": "" if c in t.filters else (1 if unit else ""),
                     "filter_hint": (described.get(c) or "")[:250] if c in t.filters else "",
                     "filter_grouping_column": ""})
    return pd.DataFrame(rows, columns=["col_name", "col_type", "label", "indicator_grouping", "indicator_unit",
                                       "indicator_dp", "filter_hint", "filter_grouping_column"])
