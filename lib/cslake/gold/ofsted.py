"""ofsted: each LA's latest ILACS and area SEND judgements, and who is likely inspected next.

From ``silver.context_ofsted_judgements`` (published inspection outcomes, so nothing
here needs disclosure control): the latest full ILACS inspection (type ILACS, by end
date) with its five judgements, the latest focused visit, the latest area SEND
inspection and its outcome. "Likely next" ranks LAs by the time since their last
full ILACS as at ``as_of`` (1 = longest since, an LA never inspected first); ILACS
re-inspects roughly every three years, so the longest-waiting are the likeliest next.
SEND is ranked the same way on its own cycle. ``as_of`` is ``tables.ofsted.as_of``
in conf/gold.yaml, else the latest date in the judgements themselves (inspection end
or publication), so rebuilding from the same data gives the same table whatever the
day; it is stored in the table so the ranking can be read.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd
from pyspark.sql import functions as F

from cslake import catalog
from cslake.config import region as region_of
from cslake.gold.conf import table_conf
from cslake.vocab import la_name

if TYPE_CHECKING:
    from cslake.lake import Lake

JUDGEMENTS = {"1": "Outstanding", "2": "Good", "3": "Requires improvement to be good", "4": "Inadequate",
              "SEND_POS": "Positive experiences and outcomes", "SEND_INC": "Inconsistent experiences and outcomes",
              "SEND_SYS": "Widespread and/or systemic failings"}
ILACS_AREAS = ["overall", "help_and_protection", "children_in_care", "care_leavers", "leadership"]
COLUMNS = (["geog_code", "geog_name", "as_of", "ilacs_date", "ilacs_publication_date"]
           + [f"ilacs_{a}" for a in ILACS_AREAS]
           + ["ilacs_days_since", "ilacs_next_rank", "focused_visit_date", "send_date", "send_outcome",
              "send_days_since", "send_next_rank"])


def _label(v):
    if v is None or (isinstance(v, float) and v != v):
        return None
    return JUDGEMENTS.get(str(v), str(v))


def _rank(days: pd.Series) -> pd.Series:
    """1 = longest since; never inspected (NaN) before everyone."""
    key = days.fillna(float("inf"))
    return key.rank(method="min", ascending=False).astype(int)


AS_OF_COLUMNS = ("inspection_end_date", "publication_date")


def data_as_of(judgements: pd.DataFrame) -> date | None:
    """The latest inspection end or publication date in the judgements (None if there is none)."""
    dates = [pd.to_datetime(judgements[c], errors="coerce") for c in AS_OF_COLUMNS if c in judgements.columns]
    latest = max((d.max() for d in dates if d.notna().any()), default=None)
    return None if latest is None else latest.date()


def ofsted_table(judgements: pd.DataFrame, las: list[str], as_of: date) -> pd.DataFrame:
    j = judgements.copy()
    j["la_code"] = j["la_code"].astype(str)
    j["inspection_end_date"] = pd.to_datetime(j["inspection_end_date"])
    j = j[j["inspection_end_date"] <= pd.Timestamp(as_of)].sort_values(["la_code", "inspection_end_date"])
    rows = []
    for la in las or sorted(set(j["la_code"])):
        mine = j[j["la_code"] == la]
        ilacs = mine[mine["inspection_type"] == "ILACS"].tail(1)
        focused = mine[mine["inspection_type"] == "ILACS_FOCUSED"].tail(1)
        send = mine[mine["inspection_type"] == "SEND"].tail(1)
        r = {"geog_code": la, "geog_name": la_name(la), "as_of": as_of}
        if len(ilacs):
            i = ilacs.iloc[0]
            r["ilacs_date"] = i["inspection_end_date"].date()
            r["ilacs_publication_date"] = i.get("publication_date")
            for a in ILACS_AREAS:
                r[f"ilacs_{a}"] = _label(i.get(a))
            r["ilacs_days_since"] = float((pd.Timestamp(as_of) - i["inspection_end_date"]).days)
        if len(focused):
            r["focused_visit_date"] = focused.iloc[0]["inspection_end_date"].date()
        if len(send):
            s = send.iloc[0]
            r["send_date"] = s["inspection_end_date"].date()
            r["send_outcome"] = _label(s.get("overall"))
            r["send_days_since"] = float((pd.Timestamp(as_of) - s["inspection_end_date"]).days)
        rows.append(r)
    out = pd.DataFrame(rows).reindex(columns=COLUMNS)
    if not len(out):
        return out
    out["ilacs_next_rank"] = _rank(out["ilacs_days_since"])
    out["send_next_rank"] = _rank(out["send_days_since"])
    return out.sort_values("geog_code").reset_index(drop=True)


def build_ofsted(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    name = catalog.silver.context_ofsted_judgements
    if not lake.exists(name):
        return pd.DataFrame(columns=COLUMNS)
    df = lake.read_table(name)
    if "_latest" in df.columns:
        df = df.where(F.col("_latest"))
    j = df.toPandas()
    conf_as_of = table_conf("ofsted").get("as_of")
    as_of = date.fromisoformat(str(conf_as_of)) if conf_as_of else data_as_of(j)
    if as_of is None:
        return pd.DataFrame(columns=COLUMNS)
    # The region's LAs that the outcomes file covers (a partial file is a partial table, not 30 "never inspected").
    present = set(j["la_code"].astype(str))
    las = [la.dfe_code for la in region_of(region_key).las] if region_key else []
    las = [la for la in las if la in present] or sorted(present)
    return ofsted_table(j, las, as_of)
