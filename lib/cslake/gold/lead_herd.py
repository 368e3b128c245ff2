"""lead_herd: lead indicators, their herd of outcome measures, and the lagged correlation across LAs and quarters.

Read from ``gold_restricted.riia_indicators`` (so ``riia_indicators`` is built first in
conf/gold.yaml's order). Each LA's quarterly series of a lead (its percentage for a
"pct" indicator, its rate per 10,000 for a "rate" one; breakdown ``all``) is paired
with each herd measure ``lag`` quarters later, over every LA and quarter where both
have a figure:

- ``correlation``: Pearson over the pooled (LA, quarter) pairs;
- ``within_la_correlation``: the same after taking each LA's own mean out of both
  series, so that a lead "moving before" the herd is not just big LAs being big on both.

A correlation needs ``MIN_PAIRS`` pairs (else null). It is computed from the
unsuppressed figures but shows none of them: the published copy carries the same
values (``public`` in the suppression spec), as no count of children can be
recovered from a correlation over many LAs and quarters.
Which indicators lead and which follow is ``tables.lead_herd.leads`` in conf/gold.yaml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

from cslake import catalog
from cslake.gold.conf import table_conf

if TYPE_CHECKING:
    from cslake.lake import Lake

MIN_PAIRS = 8
DEFAULT_LAGS = (0, 1, 2, 3, 4)
DEFAULT_LEADS = {3: [8, 10, 16], 2: [8, 10, 16], 14: [10, 16]}
COLUMNS = ["lead_indicator_id", "lead_indicator", "lead_measure", "herd_indicator_id", "herd_indicator",
           "herd_measure", "lag_quarters", "pairs", "las", "correlation", "within_la_correlation"]


def _corr(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < MIN_PAIRS or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def series(riia: pd.DataFrame) -> pd.DataFrame:
    """LA rows of riia_indicators → geog_code, period, indicator_id, indicator, measure, value."""
    r = riia[(riia["geog_level"] == "la") & (riia["breakdown"] == "all")].copy()
    r["measure"] = np.where(r["kind"] == "pct", "percentage", "rate_per_10k")
    r["value"] = np.where(r["kind"] == "pct", r["percentage"], r["rate_per_10k"])
    return r[["geog_code", "period", "indicator_id", "indicator", "measure", "value"]].dropna(subset=["value"])


def lagged_correlations(s: pd.DataFrame, leads: Mapping[int, Sequence[int]],
                        lags: Sequence[int] = DEFAULT_LAGS) -> pd.DataFrame:
    """Correlations of each lead with each of its herd, ``lag`` quarters later, from ``series`` rows."""
    periods = sorted(set(s["period"]))
    pos = {p: i for i, p in enumerate(periods)}
    s = s.assign(q=s["period"].map(pos))
    names = s.drop_duplicates("indicator_id").set_index("indicator_id")
    rows = []
    for lead, herd in leads.items():
        a = s[s["indicator_id"] == lead][["geog_code", "q", "value"]]
        for h in herd:
            b = s[s["indicator_id"] == h][["geog_code", "q", "value"]]
            for lag in lags:
                pairs = a.merge(b.assign(q=b["q"] - lag), on=["geog_code", "q"], suffixes=("_lead", "_herd"))
                x, y = pairs["value_lead"].to_numpy(float), pairs["value_herd"].to_numpy(float)
                xd = x - pairs.groupby("geog_code")["value_lead"].transform("mean").to_numpy(float)
                yd = y - pairs.groupby("geog_code")["value_herd"].transform("mean").to_numpy(float)
                rows.append((lead, names["indicator"].get(lead), names["measure"].get(lead), h,
                             names["indicator"].get(h), names["measure"].get(h), lag, float(len(pairs)),
                             float(pairs["geog_code"].nunique()), _corr(x, y), _corr(xd, yd)))
    return pd.DataFrame(rows, columns=COLUMNS)


def build_lead_herd(lake: "Lake", region_key: str | None = None) -> pd.DataFrame:
    name = catalog.gold_restricted.riia_indicators
    if not lake.exists(name):
        return pd.DataFrame(columns=COLUMNS)
    conf = table_conf("lead_herd")
    leads = {int(k): [int(v) for v in vs] for k, vs in (conf.get("leads") or DEFAULT_LEADS).items()}
    lags = [int(v) for v in conf.get("lags") or DEFAULT_LAGS]
    riia = lake.read_table(name).select("geog_level", "geog_code", "period", "indicator_id", "indicator", "breakdown",
                                        "kind", "percentage", "rate_per_10k").toPandas()
    return lagged_correlations(series(riia), leads, lags)
