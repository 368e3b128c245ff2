"""LA-level next-quarter pressure forecast, judged against a naive last-value forecast.

For each LA and quarter (from the linked journeys): referrals, assessments, section 47
enquiries, initial conferences, CP plan starts and starts of care. The forecast of next
quarter's referrals and care starts is a pooled ridge regression on this quarter's
value, the mean of the last four quarters and this quarter's lead indicators (S47s,
ICPCs, assessments), each scaled by the LA's own average so big and small LAs share one
model. Honesty: a rolling-origin backtest over the last quarters (train on everything
before the forecast quarter, forecast it) against the naive forecast "next quarter = this
quarter"; ``skill`` = 1 - MAE(model) / MAE(naive), negative when the naive one wins.
Written to ``gold_restricted.la_pressure_forecast`` and, after disclosure control, to
``gold.la_pressure_forecast``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cslake import catalog
from cslake.catalog import table_spec
from cslake.gold.conf import suppression_spec
from cslake.gold.publishing import publish_suppressed
from cslake.models import tracking
from cslake.models.evaluation import pyplot
from cslake.models.journeys import Journeys

if TYPE_CHECKING:  # pragma: no cover
    from cslake.lake import Lake

# Restricted: the naive forecast *is* last quarter's count of children, unsuppressed; a
# published version goes through cslake.gold.suppression like every other count.
FORECAST_TABLE = catalog.gold_restricted.la_pressure_forecast
PUBLISHED_TABLE = catalog.gold.la_pressure_forecast
TARGETS = ("referrals", "care_starts")
LEADS = ("s47", "icpc", "assessments")
BACKTEST_QUARTERS = 4


def quarterly_counts(j: Journeys) -> pd.DataFrame:
    """Counts per LA and quarter inside the data window (first collection year's April
    to the data end); quarters before it are only partly seen, so are left out."""
    first_year = int(j.events["year"].min()) if "year" in j.events else j.events["event_date"].min().year + 1
    start = pd.Timestamp(date(first_year - 1, 4, 1))
    end = pd.Timestamp(j.data_end)
    e = j.events[(j.events["event_date"] >= start) & (j.events["event_date"] <= end)]
    names = {"referral": "referrals", "assessment_start": "assessments", "s47_start": "s47", "icpc": "icpc",
             "cpp_start": "cpp_starts"}
    e = e[e["event"].isin(names)].assign(measure=lambda d: d["event"].map(names))
    care = j.care[(j.care["DECOM"] >= start) & (j.care["DECOM"] <= end)][["la", "DECOM"]]
    care = care.rename(columns={"DECOM": "event_date"}).assign(measure="care_starts")
    allev = pd.concat([e[["la", "event_date", "measure"]], care], ignore_index=True)
    allev["quarter_start"] = allev["event_date"].dt.to_period("Q").dt.start_time
    counts = allev.groupby(["la", "quarter_start", "measure"]).size().unstack("measure", fill_value=0)
    quarters = pd.period_range(start, end, freq="Q").start_time
    las = sorted(j.events["la"].dropna().unique())
    idx = pd.MultiIndex.from_product([las, quarters], names=["la", "quarter_start"])
    counts = counts.reindex(idx, fill_value=0)
    for m in list(names.values()) + ["care_starts"]:
        if m not in counts:
            counts[m] = 0
    return counts.reset_index()


def _design(q: pd.DataFrame, target: str) -> pd.DataFrame:
    """One row per LA and origin quarter: scaled predictors and next quarter's value."""
    rows = []
    for la, g in q.sort_values("quarter_start").groupby("la"):
        g = g.reset_index(drop=True)
        scale = max(float(g[target].mean()), 1.0)
        d = pd.DataFrame({"la": la, "origin": g["quarter_start"], "scale": scale, "value": g[target],
                          "last": g[target] / scale, "mean4": g[target].rolling(4, min_periods=1).mean() / scale})
        for lead in LEADS:
            d[lead] = g[lead] / max(float(g[lead].mean()), 1.0)
        d["y"] = g[target].shift(-1)
        d["target_quarter"] = g["quarter_start"].shift(-1)
        rows.append(d)
    return pd.concat(rows, ignore_index=True)


PREDICTORS = ["last", "mean4", *LEADS]


def _fit_predict(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    # scikit-learn only when a model is fitted: it costs every other import of this module a second
    from sklearn.linear_model import Ridge

    m = Ridge(alpha=1.0).fit(train[PREDICTORS], train["y"] / train["scale"])
    return np.clip(m.predict(test[PREDICTORS]) * test["scale"], 0, None)


def backtest(q: pd.DataFrame, target: str, quarters: int = BACKTEST_QUARTERS) -> pd.DataFrame:
    d = _design(q, target)
    labelled = d[d["y"].notna()]
    origins = sorted(labelled["target_quarter"].unique())[-quarters:]
    out = []
    for tq in origins:
        train = labelled[labelled["target_quarter"] < tq]
        test = labelled[labelled["target_quarter"] == tq]
        if len(train) < len(PREDICTORS) + 2:
            continue
        out.append(test.assign(forecast=_fit_predict(train, test), naive=test["value"].astype(float)))
    if not out:
        return pd.DataFrame(columns=["la", "target_quarter", "y", "forecast", "naive"])
    return pd.concat(out, ignore_index=True)[["la", "target_quarter", "y", "forecast", "naive"]]


def forecast_next(q: pd.DataFrame, target: str) -> pd.DataFrame:
    d = _design(q, target)
    train = d[d["y"].notna()]
    last = d[d["y"].isna()].copy()
    # The naive forecast is the count itself (not last * scale, which rounds off 62 to 61.99...).
    last["naive_forecast"] = last["value"].astype(float)
    last["forecast"] = _fit_predict(train, last) if len(train) > len(PREDICTORS) else last["naive_forecast"]
    last["quarter_start"] = (pd.PeriodIndex(last["origin"], freq="Q") + 1).start_time
    return last[["la", "quarter_start", "forecast", "naive_forecast"]]


def run_forecast(lake: "Lake", j: Journeys, log_to_mlflow: bool = True) -> dict[str, Any]:
    """Backtest, forecast the next quarter, write the restricted forecast table, log a run."""
    q = quarterly_counts(j)
    metrics: dict[str, float] = {}
    frames, backtests = [], {}
    for target in TARGETS:
        bt = backtest(q, target)
        backtests[target] = bt
        mae = float((bt["y"] - bt["forecast"]).abs().mean()) if len(bt) else float("nan")
        mae0 = float((bt["y"] - bt["naive"]).abs().mean()) if len(bt) else float("nan")
        skill = 1 - mae / mae0 if mae0 and np.isfinite(mae0) and mae0 > 0 else float("nan")
        metrics.update({f"{target}_backtest_mae": mae, f"{target}_backtest_mae_naive": mae0, f"{target}_skill": skill})
        f = forecast_next(q, target).assign(target=target, backtest_mae=mae, backtest_mae_naive=mae0, skill=skill)
        frames.append(f)
    out = pd.concat(frames, ignore_index=True)
    out["quarter_start"] = pd.to_datetime(out["quarter_start"]).dt.date
    out["created_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
    spec = table_spec(FORECAST_TABLE)
    version = lake.write_pandas(out[spec.column_names], FORECAST_TABLE, mode="overwrite")
    published = publish_forecast(lake, out[spec.column_names])
    result = {"table": FORECAST_TABLE, "version": version, "metrics": metrics, "quarters": q, "backtests": backtests,
              "forecast": out, "published": published}
    if log_to_mlflow:
        # MLflow (seconds to import) only when a run is logged
        import mlflow

        with tracking.start_run(lake, run_name="la-pressure-forecast", tables=j.versions,
                                tags={"cslake.model": "la_pressure_forecast"}) as run:
            mlflow.log_params({"targets": ",".join(TARGETS), "leads": ",".join(LEADS), "model": "ridge(alpha=1) pooled",
                               "baseline": "naive last value", "backtest_quarters": BACKTEST_QUARTERS})
            mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
            for target, bt in backtests.items():
                tracking.log_frame(bt, f"backtest_{target}.csv")
            tracking.log_figure(plot_backtest(q, backtests), "forecast_backtest.png")
            result["run_id"] = run.info.run_id
    return result


def publish_forecast(lake: "Lake", restricted: pd.DataFrame) -> pd.DataFrame:
    """``gold.la_pressure_forecast``: the forecast after the same DfE disclosure control as
    every gold table (spec in conf/gold.yaml); returns the published frame."""
    table = PUBLISHED_TABLE.split(".", 1)[1]
    return publish_suppressed(lake, table, restricted, suppression_spec(table))


def plot_backtest(q: pd.DataFrame, backtests: dict[str, pd.DataFrame]):
    plt = pyplot()
    fig, axes = plt.subplots(1, len(backtests), figsize=(6 * len(backtests), 4), squeeze=False)
    for ax, (target, bt) in zip(axes.ravel(), backtests.items()):
        tot = q.groupby("quarter_start")[target].sum()
        ax.plot(tot.index, tot.values, "k-", label="actual (region)")
        if len(bt):
            g = bt.groupby("target_quarter")[["forecast", "naive"]].sum()
            ax.plot(g.index, g["forecast"], "o-", label="model")
            ax.plot(g.index, g["naive"], "s--", label="naive last value")
        ax.set_title(f"next-quarter {target}")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    return fig
