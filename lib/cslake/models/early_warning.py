"""Early warning for children's services, from the linked journeys.

    train_early_warning(lake)    # both tasks, GBM + logistic baseline, tracked, registered, gated
    score_early_warning(lake)    # gold_restricted.early_warning_scores from each task's champion

Two questions, each asked at a *prediction date* t, with only what was recorded by t:

- ``rereferral``: a referral closed at t (the CIN episode's closure date) — is the child
  referred again, to any LA in the region, within 12 months (t, t+365]?
- ``escalation``: a CIN case open at a snapshot date t (each 31 March and 30 September),
  not on a child protection plan and not looked after at t — does the child start a CP
  plan or a period of care within 12 months?

Units whose 12 months run past the end of the data are unlabelled: they are what
``score_early_warning`` scores, never training rows. Features come from
``features_at``, which cuts every person's history at the unit's own prediction date
(tests/test_models_early_warning.py adds fabricated later records and checks nothing
moves). Sex and ethnicity are never features; they are only used to report fairness.

The split is by time: the latest labelled collection year (April–March) of prediction
dates is the test set, earlier years train. The operating threshold is set on the
training scores so that a fixed share of cases is flagged (``flag_share``, default 20%:
a capacity a team could review), then precision and recall are reported at it on the
test year, with average precision, a calibration curve and the same figures by
ethnicity group, sex and age band. The agreed promotion metric is test average precision.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from cslake import catalog, vocab
from cslake.models import evaluation as ev, tracking
from cslake.models.forecast import run_forecast
from cslake.models.journeys import Journeys, data_start, make_journeys
from cslake.resources import read_text
from cslake.catalog import table_spec

if TYPE_CHECKING:  # pragma: no cover
    from cslake.lake import Lake

log = logging.getLogger(__name__)

JOURNEY_TABLE = catalog.silver.cin_journey
CARE_TABLE = catalog.silver.care_journey
PERSON_TABLE = catalog.silver.person
SCORES_TABLE = catalog.gold_restricted.early_warning_scores
EXPERIMENT = "cslake-early-warning"
TASKS = ("rereferral", "escalation")
MODEL_NAMES = {"rereferral": "cslake_ew_rereferral", "escalation": "cslake_ew_escalation"}
AGREED_METRIC = "test_average_precision"
HORIZON_DAYS = 365
CLOSURE_CODES = [f"RC{i}" for i in range(1, 10)]
SOURCE_GROUPS = [str(i) for i in range(1, 11)]
GBM_DEFAULTS = {"max_iter": 150, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 30,
                "l2_regularization": 1.0, "random_state": 0}
LOGIT_DEFAULTS = {"C": 0.5, "max_iter": 2000}
FAIRNESS_ATTRIBUTES = ["ethnic_group", "sex", "age_band"]

FEATURES = (
    ["age_years", "prior_referrals", "referrals_last_12m", "prior_closures", "prior_s47", "prior_icpc",
     "prior_cpp", "prior_care_episodes", "days_since_first_referral", "days_since_last_cpp_end",
     "episode_days", "episode_assessments", "episode_s47", "episode_icpc", "episode_cin_plan",
     "episode_cpp", "ever_in_care"]
    + [f"closure_{c}" for c in CLOSURE_CODES]
    + [f"source_{g}" for g in SOURCE_GROUPS]
)


# ---------------------------------------------------------------------------
# Data


def load_journeys(lake: "Lake", versions: dict[str, int] | None = None) -> Journeys:
    versions = dict(versions or {})
    for t in (JOURNEY_TABLE, CARE_TABLE, PERSON_TABLE):
        if t not in versions and lake.exists(t):
            versions[t] = lake.version(t)
    if JOURNEY_TABLE not in versions:
        raise ValueError(f"{JOURNEY_TABLE} does not exist: run `cslake build linkage` first")
    events = lake.read_table(JOURNEY_TABLE, version=versions[JOURNEY_TABLE]).select(
        "person_id", "la", "event", "event_date", "code", "referral_date", "year").toPandas()
    if CARE_TABLE in versions:
        care = lake.read_table(CARE_TABLE, version=versions[CARE_TABLE]).select(
            "person_id", "la", "DECOM", "DEC").toPandas()
    else:
        care = pd.DataFrame(columns=["person_id", "la", "DECOM", "DEC"])
    if PERSON_TABLE in versions:
        persons = lake.read_table(PERSON_TABLE, version=versions[PERSON_TABLE]).select(
            "person_id", "dob_month", "sex", "ethnicity").toPandas()
    else:
        persons = pd.DataFrame(columns=["person_id", "dob_month", "sex", "ethnicity"])
    return make_journeys(events, care, persons, versions)


# ---------------------------------------------------------------------------
# Units: who is asked about, when, and (if knowable) the answer


def rereferral_units(j: Journeys) -> pd.DataFrame:
    e = j.events
    closures = e[e["event"] == "closure"][["person_id", "la", "referral_date", "event_date", "code"]]
    units = closures.rename(columns={"event_date": "prediction_date", "code": "closure_code"})
    units = units[units["prediction_date"] >= pd.Timestamp(data_start(j))]
    units = units.drop_duplicates(["person_id", "la", "referral_date"], keep="last")
    refs = e[e["event"] == "referral"][["person_id", "event_date"]].rename(columns={"event_date": "next_ref"})
    m = units.merge(refs, on="person_id", how="left")
    later = (m["next_ref"] > m["prediction_date"]) & (m["next_ref"] <= m["prediction_date"] + timedelta(days=HORIZON_DAYS))
    hit = m[later].groupby(["person_id", "la", "referral_date"]).size().rename("n").reset_index()
    units = units.merge(hit, on=["person_id", "la", "referral_date"], how="left")
    units["label"] = units["n"].fillna(0).gt(0).astype(int)
    units["observed"] = units["prediction_date"] + timedelta(days=HORIZON_DAYS) <= pd.Timestamp(j.data_end)
    return units.drop(columns="n").reset_index(drop=True)


def snapshot_dates(j: Journeys) -> list[pd.Timestamp]:
    start = data_start(j)
    out = []
    for y in range(start.year, j.data_end.year + 1):
        for d in (date(y - 1, 9, 30), date(y, 3, 31)):
            if start <= d <= j.data_end:
                out.append(pd.Timestamp(d))
    return out


def escalation_units(j: Journeys, snapshots: Sequence[pd.Timestamp] | None = None) -> pd.DataFrame:
    e = j.events
    eps = e[e["event"] == "referral"][["person_id", "la", "referral_date"]].drop_duplicates()
    close = (e[e["event"] == "closure"].groupby(["person_id", "la", "referral_date"])["event_date"].min()
             .rename("closed").reset_index())
    eps = eps.merge(close, on=["person_id", "la", "referral_date"], how="left")
    cpp_s = e[e["event"] == "cpp_start"][["person_id", "event_date"]].rename(columns={"event_date": "cpp_start"})
    cpp_e = e[e["event"] == "cpp_end"][["person_id", "event_date"]].rename(columns={"event_date": "cpp_end"})
    frames = []
    for s in snapshots if snapshots is not None else snapshot_dates(j):
        open_ = eps[(eps["referral_date"] <= s) & (eps["closed"].isna() | (eps["closed"] > s))].copy()
        open_["prediction_date"] = s
        frames.append(open_)
    if not frames:
        return pd.DataFrame(columns=["person_id", "la", "referral_date", "prediction_date", "label", "observed"])
    units = pd.concat(frames, ignore_index=True).drop(columns="closed")
    units = units.drop_duplicates(["person_id", "prediction_date"], keep="first")
    # Already on a plan or looked after at t: nothing to escalate to.
    on_cpp = _active_at(units, cpp_s, cpp_e, "cpp_start", "cpp_end")
    care = j.care.rename(columns={"DECOM": "start", "DEC": "end"})[["person_id", "start", "end"]]
    in_care = _active_span(units, care)
    units = units[~(on_cpp | in_care)].reset_index(drop=True)
    starts = pd.concat([cpp_s.rename(columns={"cpp_start": "d"}),
                        j.care[["person_id", "DECOM"]].rename(columns={"DECOM": "d"})], ignore_index=True)
    m = units[["person_id", "prediction_date"]].merge(starts, on="person_id", how="left")
    later = (m["d"] > m["prediction_date"]) & (m["d"] <= m["prediction_date"] + timedelta(days=HORIZON_DAYS))
    hit = m[later].groupby(["person_id", "prediction_date"]).size().rename("n").reset_index()
    units = units.merge(hit, on=["person_id", "prediction_date"], how="left")
    units["label"] = units["n"].fillna(0).gt(0).astype(int)
    units["observed"] = units["prediction_date"] + timedelta(days=HORIZON_DAYS) <= pd.Timestamp(j.data_end)
    return units.drop(columns="n")


def _active_at(units, starts, ends, s_col, e_col) -> np.ndarray:
    """Whether a plan that started on or before t has not ended by t (latest start wins)."""
    m = units[["person_id", "prediction_date"]].reset_index().merge(starts, on="person_id")
    m = m[m[s_col] <= m["prediction_date"]]
    last = m.groupby("index")[s_col].max()
    me = units[["person_id", "prediction_date"]].reset_index().merge(ends, on="person_id")
    me = me[me[e_col] <= me["prediction_date"]]
    last_end = me.groupby("index")[e_col].max()
    active = last.to_frame().join(last_end, how="left")
    active = active[active[e_col].isna() | (active[e_col] < active[s_col])]
    return units.index.isin(active.index)


def _active_span(units, spans) -> np.ndarray:
    m = units[["person_id", "prediction_date"]].reset_index().merge(spans, on="person_id")
    m = m[(m["start"] <= m["prediction_date"]) & (m["end"].isna() | (m["end"] > m["prediction_date"]))]
    return units.index.isin(m["index"].unique())


def units_for(task: str, j: Journeys) -> pd.DataFrame:
    if task == "rereferral":
        return rereferral_units(j)
    if task == "escalation":
        return escalation_units(j)
    raise ValueError(f"unknown early-warning task {task!r}; expected one of {', '.join(TASKS)}")


# ---------------------------------------------------------------------------
# Features: a person's history cut at the unit's own prediction date


def _source_group(code) -> str | None:
    if code is None or (isinstance(code, float) and np.isnan(code)):
        return None
    digits = "".join(ch for ch in str(code) if ch.isdigit())
    return digits or None


def features_at(units: pd.DataFrame, j: Journeys) -> pd.DataFrame:
    """One feature row per unit (same order). Every record used is dated on or before the
    unit's prediction date; undated records are not used at all."""
    u = units[["person_id", "la", "referral_date", "prediction_date"]].reset_index(drop=True).copy()
    u["_u"] = np.arange(len(u))
    t = u.set_index("_u")["prediction_date"]
    ev_ = u[["_u", "person_id", "prediction_date", "referral_date"]].merge(
        j.events[["person_id", "event", "event_date", "code", "referral_date"]].rename(
            columns={"referral_date": "ep_ref"}), on="person_id")
    ev_ = ev_[ev_["event_date"] <= ev_["prediction_date"]]
    cur = ev_[ev_["ep_ref"] == ev_["referral_date"]]

    def count(frame, event, since_days=None):
        f = frame[frame["event"] == event]
        if since_days is not None:
            f = f[f["event_date"] > f["prediction_date"] - timedelta(days=since_days)]
        return f.groupby("_u").size().reindex(u["_u"], fill_value=0).to_numpy()

    out = pd.DataFrame(index=u["_u"])
    persons = j.persons.set_index("person_id")
    dob = u["person_id"].map(persons["dob_month"]) if len(persons) else pd.Series(pd.NaT, index=u.index)
    out["age_years"] = ((u["prediction_date"] - pd.to_datetime(dob)).dt.days / 365.25).to_numpy()
    out["prior_referrals"] = count(ev_, "referral")
    out["referrals_last_12m"] = count(ev_, "referral", 365)
    out["prior_closures"] = count(ev_, "closure")
    out["prior_s47"] = count(ev_, "s47_start")
    out["prior_icpc"] = count(ev_, "icpc")
    out["prior_cpp"] = count(ev_, "cpp_start")
    first_ref = ev_[ev_["event"] == "referral"].groupby("_u")["event_date"].min()
    out["days_since_first_referral"] = (t - first_ref.reindex(u["_u"])).dt.days.to_numpy()
    last_cpp_end = ev_[ev_["event"] == "cpp_end"].groupby("_u")["event_date"].max()
    out["days_since_last_cpp_end"] = (t - last_cpp_end.reindex(u["_u"])).dt.days.to_numpy()
    out["episode_days"] = (u["prediction_date"] - u["referral_date"]).dt.days.to_numpy()
    out["episode_assessments"] = count(cur, "assessment_start")
    out["episode_s47"] = count(cur, "s47_start")
    out["episode_icpc"] = count(cur, "icpc")
    out["episode_cin_plan"] = count(cur, "cin_plan_start")
    out["episode_cpp"] = count(cur, "cpp_start")
    care = u[["_u", "person_id", "prediction_date"]].merge(j.care[["person_id", "DECOM"]], on="person_id")
    care = care[care["DECOM"] <= care["prediction_date"]]
    out["prior_care_episodes"] = care.groupby("_u").size().reindex(u["_u"], fill_value=0).to_numpy()
    out["ever_in_care"] = (out["prior_care_episodes"] > 0).astype(int)
    closure = cur[cur["event"] == "closure"].groupby("_u")["code"].last().reindex(u["_u"])
    for c in CLOSURE_CODES:
        out[f"closure_{c}"] = (closure == c).astype(int).to_numpy()
    source = cur[cur["event"] == "referral"].groupby("_u")["code"].first().reindex(u["_u"]).map(_source_group)
    for g in SOURCE_GROUPS:
        out[f"source_{g}"] = (source == g).astype(int).to_numpy()
    return out[FEATURES].reset_index(drop=True).astype(float)


def fairness_groups(units: pd.DataFrame, feats: pd.DataFrame, j: Journeys) -> pd.DataFrame:
    """Each unit's ethnic group (DfE's major groups, as gold's tables: cslake.vocab), sex and
    age band (vocab.FAIRNESS_AGE_BANDS), for the fairness report only: never features."""
    persons = j.persons.set_index("person_id")
    pid = units["person_id"].reset_index(drop=True)
    return pd.DataFrame({
        "ethnic_group": pid.map(persons["ethnicity"]).map(vocab.ethnic_label) if len(persons) else vocab.UNKNOWN,
        "sex": pid.map(persons["sex"]).fillna(vocab.UNKNOWN) if len(persons) else vocab.UNKNOWN,
        "age_band": vocab.FAIRNESS_AGE_BANDS.label_series(feats["age_years"].reset_index(drop=True)),
    })


# ---------------------------------------------------------------------------
# Models


def make_estimator(algorithm: str, params: dict | None = None):
    # scikit-learn only when a model is built: it costs every other import of this module a second
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if algorithm == "gbm":
        return HistGradientBoostingClassifier(early_stopping=False, **{**GBM_DEFAULTS, **(params or {})})
    if algorithm == "logit":
        return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                         ("scale", StandardScaler()),
                         ("model", LogisticRegression(**{**LOGIT_DEFAULTS, **(params or {})}))])
    raise ValueError(f"unknown early-warning algorithm {algorithm!r}; expected 'gbm' or 'logit'")


def _fit(est, X, y):
    with tracking.compute_threads():
        est.fit(X, y)
    return est


class RiskModel:
    """The registered model: estimator, its features and the operating threshold."""

    def __init__(self, estimator: Any, features: list[str], threshold: float, task: str, algorithm: str):
        self.estimator = estimator
        self.features = list(features)
        self.threshold = float(threshold)
        self.task = task
        self.algorithm = algorithm

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator.predict_proba(X[self.features].astype(float))[:, 1]


def _pyfunc_class():
    # MLflow (seconds to import) only when a model is logged
    import mlflow.pyfunc

    class _PyfuncRiskModel(mlflow.pyfunc.PythonModel):
        def __init__(self, model: RiskModel):
            self.model = model

        def predict(self, context, model_input, params=None):  # noqa: ARG002 - MLflow's signature
            return pd.Series(self.model.predict_proba(pd.DataFrame(model_input)), name="probability")

    return _PyfuncRiskModel


@dataclass
class TaskData:
    task: str
    units: pd.DataFrame
    X: pd.DataFrame
    groups: pd.DataFrame

    @property
    def labelled(self) -> np.ndarray:
        return self.units["observed"].to_numpy(dtype=bool)


def task_data(task: str, j: Journeys) -> TaskData:
    units = units_for(task, j).reset_index(drop=True)
    X = features_at(units, j)
    return TaskData(task, units, X, fairness_groups(units, X, j))


def time_split(units: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """(train mask, test mask, test year) over labelled units: the latest labelled
    collection year of prediction dates is the test set."""
    labelled = units["observed"].to_numpy(dtype=bool)
    years = vocab.collection_years(units["prediction_date"]).to_numpy()
    if not labelled.any():
        raise ValueError("no labelled units: the data must span more than 12 months after a prediction date")
    test_year = int(years[labelled].max())
    test = labelled & (years == test_year)
    train = labelled & (years < test_year)
    if not train.any():
        raise ValueError(f"only one labelled year ({test_year}); a time-ordered split needs two")
    return train, test, test_year


def evaluate_task(td: TaskData, algorithm: str, params: dict | None = None, flag_share: float = 0.2) -> dict:
    """Fit on earlier years, test on the latest labelled one. Returns metrics, tables, figures."""
    train, test, test_year = time_split(td.units)
    y = td.units["label"].to_numpy(dtype=int)
    est = _fit(make_estimator(algorithm, params), td.X[train], y[train])
    p_train = est.predict_proba(td.X[train])[:, 1]
    threshold = ev.threshold_for_flag_rate(p_train, flag_share)
    p = est.predict_proba(td.X[test])[:, 1]
    s = ev.binary_scores(y[test], p, threshold)
    metrics = {f"test_{k}": v for k, v in s.items()}
    metrics.update({f"train_{k}": v for k, v in ev.binary_scores(y[train], p_train, threshold).items()
                    if k in ("n", "prevalence", "average_precision")})
    metrics["threshold"] = threshold
    metrics["test_year"] = float(test_year)
    cal = ev.calibration_curve_table(y[test], p)
    fair = ev.fairness_table(y[test], p, td.groups[test].reset_index(drop=True), threshold)
    assessed = fair[fair["note"] == ""]
    for k in ("recall_gap", "precision_gap", "calibration_gap"):
        metrics[f"fairness_max_abs_{k}"] = float(assessed[k].abs().max()) if len(assessed) else float("nan")
    metrics["fairness_groups_flagged"] = float(fair["flag"].sum())
    return {"metrics": metrics, "calibration": cal, "fairness": fair, "threshold": threshold,
            "y_test": y[test], "p_test": p, "test_year": test_year}


# ---------------------------------------------------------------------------
# Training


@dataclass
class EarlyWarningRun:
    task: str
    algorithm: str
    run_id: str
    metrics: dict[str, float]
    model_uri: str
    fairness: pd.DataFrame
    calibration: pd.DataFrame
    promotion: dict | None = None
    seconds: float = 0.0


@dataclass
class EarlyWarningTraining:
    runs: list[EarlyWarningRun] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    forecast: Any = None

    def summary(self) -> str:
        lines = [f"early warning trained on {', '.join(f'{k} v{v}' for k, v in sorted(self.versions.items()))}"]
        for r in self.runs:
            m = r.metrics
            promo = r.promotion or {}
            lines.append(
                f"  {r.task}/{r.algorithm}: test year {int(m['test_year'])} n={int(m['test_n'])} "
                f"prevalence {m['test_prevalence']:.3f}; AP {m['test_average_precision']:.3f}, "
                f"AUC {m['test_roc_auc']:.3f}; at p≥{m['threshold']:.3f} precision {m['test_precision']:.3f} "
                f"recall {m['test_recall']:.3f}; fairness groups flagged {int(m['fairness_groups_flagged'])} -> "
                f"v{promo.get('version', '?')} {promo.get('alias', '')} [{r.run_id}]")
        return "\n".join(lines)


def render_model_card(task: str, algorithm: str, metrics: dict, fairness: pd.DataFrame, versions: dict[str, int],
                      run_id: str | None = None) -> str:
    template = read_text("cslake.models", "model_card.md")
    flagged = fairness[fairness["flag"]]
    gaps = "\n".join(
        f"| {r.attribute} | {r.group} | {r.n} | {r.recall:.2f} | {r.precision:.2f} | {r.calibration_gap:+.3f} |"
        for r in flagged.itertuples()) or "| – | none above 10 points | | | | |"
    question = {"rereferral": "Will a child whose referral has just closed be referred again within 12 months?",
                "escalation": "Will a child on an open CIN case start a child protection plan or care within 12 months?"}[task]

    def f(k):
        v = metrics.get(k, float("nan"))
        return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"

    return template.format(
        task=task, algorithm=algorithm, question=question, run_id=run_id or "(not logged)",
        data=", ".join(f"`{k}` v{v}" for k, v in sorted(versions.items())),
        test_year=int(metrics.get("test_year", 0)), n=int(metrics.get("test_n", 0)),
        prevalence=f("test_prevalence"), ap=f("test_average_precision"), auc=f("test_roc_auc"),
        threshold=f("threshold"), precision=f("test_precision"), recall=f("test_recall"),
        flagged=f("test_flagged_share"), brier=f("test_brier"), gaps=gaps,
        max_recall_gap=f("fairness_max_abs_recall_gap"), max_cal_gap=f("fairness_max_abs_calibration_gap"),
    )


def log_evaluation(td: TaskData, algorithm: str, out: dict) -> None:
    """The evaluation's metrics, fairness and calibration tables and figures, to the active run."""
    # MLflow (seconds to import) only when training
    import mlflow

    task, test_year = td.task, out["test_year"]
    mlflow.log_metrics({k: float(v) for k, v in out["metrics"].items() if v is not None and np.isfinite(v)})
    tracking.log_frame(out["fairness"], "fairness.csv")
    tracking.log_frame(out["calibration"], "calibration.csv")
    tracking.log_figure(ev.plot_probability_calibration(out["calibration"], f"{task} ({algorithm}): calibration, test {test_year}"),
                        "calibration_curve.png")
    tracking.log_figure(ev.plot_pr_curve(out["y_test"], out["p_test"], out["threshold"],
                                         f"{task} ({algorithm}): precision-recall, test {test_year}"),
                        "pr_curve.png")
    tracking.log_figure(ev.plot_fairness(out["fairness"], f"{task} ({algorithm}) by group"), "fairness_gaps.png")


def log_final_model(td: TaskData, algorithm: str, params: dict, out: dict, versions: dict[str, int], run_id: str):
    """The model put to use, learnt from every labelled year (the test year included), with its card."""
    # MLflow (seconds to import) only when training
    import mlflow
    from mlflow.models import infer_signature

    labelled = td.labelled
    y = td.units["label"].to_numpy(dtype=int)
    final = RiskModel(_fit(make_estimator(algorithm, params), td.X[labelled], y[labelled]), FEATURES,
                      out["threshold"], td.task, algorithm)
    mlflow.log_text(render_model_card(td.task, algorithm, out["metrics"], out["fairness"], versions, run_id),
                    "model_card.md")
    example = td.X.head(5)
    signature = infer_signature(example, pd.Series(final.predict_proba(example), name="probability"))
    return mlflow.pyfunc.log_model(name="model", python_model=_pyfunc_class()(final), signature=signature,
                                   input_example=tracking.synthetic_example(td.X), **tracking.model_files())


def train_one(lake: "Lake", td: TaskData, j: Journeys, algorithm: str, params: dict,
              flag_share: float) -> EarlyWarningRun:
    """One tracked run of a task and algorithm: evaluate on the latest labelled year, log, fit the final model."""
    # MLflow (seconds to import) only when training
    import mlflow

    train, test, test_year = time_split(td.units)
    with tracking.start_run(lake, run_name=f"ew-{td.task}-{algorithm}", tables=j.versions,
                            tags={"cslake.model": f"early_warning_{td.task}", "cslake.algorithm": algorithm}) as run:
        out = evaluate_task(td, algorithm, params, flag_share)
        mlflow.log_params({"task": td.task, "algorithm": algorithm, "horizon_days": HORIZON_DAYS,
                           "flag_share": flag_share, "features": len(FEATURES), "test_year": test_year,
                           "train_units": int(train.sum()), "test_units": int(test.sum()),
                           "unlabelled_units": int((~td.labelled).sum()), "data_end": str(j.data_end),
                           "agreed_metric": AGREED_METRIC, **{f"model_{k}": v for k, v in params.items()}})
        log_evaluation(td, algorithm, out)
        info = log_final_model(td, algorithm, params, out, j.versions, run.info.run_id)
        return EarlyWarningRun(td.task, algorithm, run.info.run_id, out["metrics"], info.model_uri, out["fairness"],
                               out["calibration"])


def train_early_warning(lake: "Lake", *, tasks: Sequence[str] = TASKS, algorithms: Sequence[str] = ("gbm", "logit"),
                        params: dict[str, dict] | None = None, flag_share: float = 0.2, register: bool = True,
                        min_delta: float = 1e-3, experiment: str = EXPERIMENT,
                        forecast: bool = True) -> EarlyWarningTraining:
    """One MLflow run per task x algorithm; each model registered under its task's name and
    promoted by the gate on test average precision. ``forecast`` also runs the LA-level
    next-quarter forecast (``cslake.models.forecast``) in the same experiment."""
    tracking.configure(experiment)
    j = load_journeys(lake)
    result = EarlyWarningTraining(versions=j.versions)
    for task in tasks:
        td = task_data(task, j)
        time_split(td.units)  # fails early when the data cannot be split by time
        for algorithm in algorithms:
            t0 = time.perf_counter()
            p = {**(GBM_DEFAULTS if algorithm == "gbm" else LOGIT_DEFAULTS), **((params or {}).get(algorithm) or {})}
            r = train_one(lake, td, j, algorithm, p, flag_share)
            if register:
                promo = tracking.register_and_promote(
                    r.model_uri, MODEL_NAMES[task], metric=AGREED_METRIC, candidate_value=r.metrics[AGREED_METRIC],
                    greater_is_better=True, min_delta=min_delta, tags={"algorithm": algorithm, "task": task})
                r.promotion = promo.to_dict()
            r.seconds = time.perf_counter() - t0
            result.runs.append(r)
            log.info("early warning %s %s: %s=%.3f (%.1fs)", task, algorithm, AGREED_METRIC,
                     r.metrics.get(AGREED_METRIC, np.nan), r.seconds,
                     extra={"progress": (len(result.runs), len(tasks) * len(algorithms), "early-warning models")})
    if forecast:
        result.forecast = run_forecast(lake, j)
    return result


# ---------------------------------------------------------------------------
# Scoring


def rank_within_la(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` ordered by LA and falling probability, with ``rank_in_la`` (1 = highest).

    Ties are broken by the pseudonymous id and the dates, never by row order: Sail and
    Apache Spark hand the same rows over in different orders (found by the engine parity
    test), and a child's rank must not depend on the engine.
    """
    out = scores.sort_values(["la", "probability", "person_id", "referral_date", "prediction_date"],
                             ascending=[True, False, True, True, True], kind="stable")
    return out.assign(rank_in_la=out.groupby("la").cumcount() + 1)


def score_early_warning(lake: "Lake", *, tasks: Sequence[str] = TASKS, alias: str = "champion",
                        experiment: str = EXPERIMENT) -> dict:
    """Score the open questions (units whose 12 months have not yet run) with each task's
    champion; overwrite those tasks' rows of ``gold_restricted.early_warning_scores``."""
    tracking.configure(experiment)
    j = load_journeys(lake)
    frames = []
    result: dict[str, Any] = {"table": SCORES_TABLE, "tasks": {}}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for task in tasks:
        pyfunc_model, mv = tracking.load_champion(MODEL_NAMES[task], alias)
        model: RiskModel = pyfunc_model.unwrap_python_model().model
        units = units_for(task, j)
        units = units[~units["observed"]].reset_index(drop=True)
        if task == "escalation" and len(units):
            # Only the latest snapshot is an open question today.
            units = units[units["prediction_date"] == units["prediction_date"].max()].reset_index(drop=True)
        X = features_at(units, j)
        p = model.predict_proba(X) if len(units) else np.array([])
        out = units[["person_id", "la", "referral_date", "prediction_date"]].copy()
        out["task"] = task
        out["probability"] = p
        out["flagged"] = p >= model.threshold
        out["threshold"] = model.threshold
        out = rank_within_la(out)
        out["model_name"] = MODEL_NAMES[task]
        out["model_version"] = int(mv.version)
        out["scored_at"] = now
        frames.append(out)
        result["tasks"][task] = {"rows": len(out), "flagged": int(out["flagged"].sum()), "model_version": int(mv.version)}
    spec = table_spec(SCORES_TABLE)
    df = pd.concat(frames, ignore_index=True)
    for c in ("referral_date", "prediction_date"):
        df[c] = pd.to_datetime(df[c]).dt.date
    if lake.exists(SCORES_TABLE):
        # Other tasks' rows stay; read into memory first, as the write replaces the table.
        kept = lake.read_table(SCORES_TABLE).toPandas()
        kept = kept[~kept["task"].isin(list(tasks))]
        if len(kept):
            df = pd.concat([kept[spec.column_names], df[spec.column_names]], ignore_index=True)
    result["version"] = lake.write_pandas(df[spec.column_names], SCORES_TABLE, mode="overwrite")
    return result
