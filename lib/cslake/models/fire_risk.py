"""Small-area dwelling-fire risk (after London Fire Brigade's model).

    run = train_fire_risk(lake)            # GLM + GBM runs in MLflow, registered, champion by rule
    score_fire_risk(lake)                  # gold.fire_risk_area from models:/cslake_fire_risk_area@champion

Target: accidental dwelling fires per household in an area-year, from ~50 area factors
(``silver.context_areas_areas``). Both models fit the *rate* (fires / households) with
households as sample weights, which for a log-link Poisson model is the same as a count
model with a log(households) offset: an area with more homes has more fires without
being riskier.

- ``glm``: Poisson GLM on standardised factors with a small ridge penalty. The penalty is
  there because several factor groups sum to ~100% (age bands, tenure): without it the
  coefficients of collinear factors wander and can flip sign.
- ``gbm``: histogram gradient boosting with a Poisson loss (non-linear, interactions).

Each level (LSOA, ward) gets its own estimator, kept together in one registered model:
ward factors are sums and household-weighted means of their LSOAs, so an LSOA model
applied to wards would mis-read the summed columns (visits, road length, population).

Evaluation, per level: (1) held-out areas (a quarter of areas, all years, never seen in
training) and (2) a later year (trained on earlier years, tested on the latest). Metrics:
mean Poisson deviance per area, the deviance of a regional-average-rate baseline, the
deviance ratio and D² = 1 - ratio, and calibration by decile of predicted rate. The
agreed promotion metric is ``lsoa_later_year_d2`` (higher is better): it is the question
the service asks — how well last year's model ranks next year's areas.

Bands (rate per 10,000 households): well below average ≤ 10, below 10–15, average 15–20,
above 20–25, well above average > 25.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from cslake import catalog
from cslake.models import evaluation as ev, fire_prevention, tracking
from cslake.models.fire_bands import BANDS, band_of

if TYPE_CHECKING:  # pragma: no cover
    from cslake.lake import Lake

log = logging.getLogger(__name__)

AREAS_TABLE = catalog.silver.context_areas_areas
GOLD_TABLE = catalog.gold.fire_risk_area
MODEL_NAME = "cslake_fire_risk_area"
EXPERIMENT = "cslake-fire-risk"
LEVELS = ("LSOA", "WARD")
PER = 1e4  # rates are reported per 10,000 households
AGREED_METRIC = "lsoa_later_year_d2"
ID_COLUMNS = ["area_code", "area_type", "area_name", "la_code", "year", "households", "dwelling_fires"]

__all__ = ["BANDS", "band_of", "load_areas", "predict_areas", "score_fire_risk", "train_fire_risk"]

GLM_DEFAULTS = {"alpha": 1e-4, "max_iter": 3000, "tol": 1e-8}
GBM_DEFAULTS = {"max_iter": 150, "learning_rate": 0.08, "max_leaf_nodes": 15, "min_samples_leaf": 40,
                "l2_regularization": 1.0, "random_state": 0}


# ---------------------------------------------------------------------------
# Data


def factor_columns(columns: Sequence[str], dtypes: pd.Series | None = None) -> list[str]:
    """The model's inputs: every numeric column that is not an id, the exposure or the target."""
    out = []
    for c in columns:
        if c.startswith("_") or c in ID_COLUMNS:
            continue
        if dtypes is not None and not pd.api.types.is_numeric_dtype(dtypes[c]):
            continue
        out.append(c)
    return out


def load_areas(lake: "Lake", version: int | None = None) -> tuple[pd.DataFrame, int]:
    """The area table as pandas (latest record per area-year) and the Delta version read."""
    version = lake.version(AREAS_TABLE) if version is None else int(version)
    sdf = lake.read_table(AREAS_TABLE, version=version)
    if "_latest" in sdf.columns:
        sdf = sdf.filter(F.col("_latest"))
    cols = [c for c in sdf.columns if not c.startswith("_")]
    df = sdf.select(*cols).toPandas()
    df = df[df["area_type"].isin(LEVELS)].copy()
    feats = factor_columns(df.columns, df.dtypes)
    df[feats] = df[feats].astype(float)
    df = df.sort_values(["area_type", "year", "area_code"], kind="stable").reset_index(drop=True)
    return df, version


def trainable(df: pd.DataFrame) -> pd.DataFrame:
    """Rows a model can learn from: known fires and some households."""
    return df[df["households"].fillna(0).gt(0) & df["dwelling_fires"].notna()]


# ---------------------------------------------------------------------------
# Estimators


def make_estimator(algorithm: str, params: dict | None = None):
    # scikit-learn only when a model is built: it costs every other import of this module a second
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import PoissonRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if algorithm == "glm":
        p = {**GLM_DEFAULTS, **(params or {})}
        # Silver nulls a value it cannot read; the median keeps the row without inventing a signal.
        return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                         ("model", PoissonRegressor(**p))])
    if algorithm == "gbm":
        p = {**GBM_DEFAULTS, **(params or {})}
        return HistGradientBoostingRegressor(loss="poisson", early_stopping=False, **p)
    raise ValueError(f"unknown fire-risk algorithm {algorithm!r}; expected 'glm' or 'gbm'")


def fit_rate(estimator, X: pd.DataFrame, fires, households):
    """Fit the per-household rate with households as weights (a log-offset Poisson model)."""
    w = np.asarray(households, dtype=float)
    y = np.asarray(fires, dtype=float) / w
    key = "model__sample_weight" if hasattr(estimator, "steps") else "sample_weight"
    with tracking.compute_threads():
        estimator.fit(X, y, **{key: w})
    return estimator


def glm_coefficients(estimator, features: Sequence[str]) -> pd.DataFrame:
    """GLM coefficients per unit of each raw factor (the DGP's scale) and per SD."""
    scale = estimator.named_steps["scale"].scale_
    coef = estimator.named_steps["model"].coef_
    return pd.DataFrame({"factor": list(features), "coef_per_sd": coef, "coef_raw": coef / scale})


class AreaFireRiskModel:
    """The registered model: one estimator per area level.

    Input: ``area_type`` plus the factor columns; output: predicted fires per 10,000
    households. Kept as a plain class (wrapped by ``_PyfuncAreaModel`` for MLflow) so the
    notebook and tests can use it without MLflow."""

    def __init__(self, estimators: dict[str, Any], features: list[str], algorithm: str):
        self.estimators = estimators
        self.features = list(features)
        self.algorithm = algorithm

    def predict_rate_per_10k(self, df: pd.DataFrame) -> np.ndarray:
        out = np.full(len(df), np.nan)
        types = df["area_type"].astype(str).str.upper().to_numpy()
        for level, est in self.estimators.items():
            m = types == level
            if m.any():
                out[m] = est.predict(df.loc[m, self.features].astype(float)) * PER
        return out


def _pyfunc_class():
    # MLflow (seconds to import) only when a model is logged
    import mlflow.pyfunc

    class _PyfuncAreaModel(mlflow.pyfunc.PythonModel):
        def __init__(self, model: AreaFireRiskModel):
            self.model = model

        def predict(self, context, model_input, params=None):  # noqa: ARG002 - MLflow's signature
            return pd.Series(self.model.predict_rate_per_10k(pd.DataFrame(model_input)), name="rate_per_10k")

    return _PyfuncAreaModel


# ---------------------------------------------------------------------------
# Evaluation


def _split_areas(codes: Sequence[str], fraction: float, seed: int) -> set[str]:
    uniq = np.array(sorted(set(codes)))
    rng = np.random.default_rng(seed)
    n = max(1, int(round(len(uniq) * fraction)))
    return set(rng.choice(uniq, size=n, replace=False).tolist())


def evaluate(algorithm: str, df: pd.DataFrame, features: list[str], params: dict | None = None,
             holdout_fraction: float = 0.25, seed: int = 0) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    """Metrics and decile tables for one algorithm on both designs and both levels.

    Keys look like ``lsoa_heldout_areas_d2`` / ``ward_later_year_deviance_ratio``."""
    metrics: dict[str, float] = {}
    tables: dict[str, pd.DataFrame] = {}
    for level in LEVELS:
        d = trainable(df[df["area_type"] == level])
        if d.empty:
            continue
        last = int(d["year"].max())
        test_codes = _split_areas(d["area_code"], holdout_fraction, seed)
        designs = {"heldout_areas": d["area_code"].isin(test_codes)}
        if d["year"].nunique() > 1:
            designs["later_year"] = d["year"] == last
        for design, is_test in designs.items():
            train, test = d[~is_test], d[is_test]
            if train.empty or test.empty:
                continue
            est = fit_rate(make_estimator(algorithm, params), train[features], train["dwelling_fires"],
                           train["households"])
            pred = est.predict(test[features])
            regional = train["dwelling_fires"].sum() / train["households"].sum()
            prefix = f"{level.lower()}_{design}"
            for k, v in ev.poisson_scores(test["dwelling_fires"], test["households"], pred, regional).items():
                metrics[f"{prefix}_{k}"] = v
            table = ev.calibration_by_decile(test["dwelling_fires"], test["households"], pred, PER)
            metrics[f"{prefix}_calibration_gap_per_10k"] = ev.calibration_gap(table)
            metrics[f"{prefix}_test_areas"] = float(len(test))
            tables[f"{level} · {design.replace('_', ' ')}"] = table
    return metrics, tables


# ---------------------------------------------------------------------------
# Training


@dataclass
class FireRiskRun:
    algorithm: str
    run_id: str
    metrics: dict[str, float]
    model_uri: str
    promotion: dict | None = None
    seconds: float = 0.0


@dataclass
class FireRiskTraining:
    runs: list[FireRiskRun] = field(default_factory=list)
    source_version: int | None = None
    champion_version: int | None = None

    def summary(self) -> str:
        lines = [f"fire risk trained on {AREAS_TABLE} v{self.source_version}"]
        for r in self.runs:
            m = r.metrics
            promo = r.promotion or {}
            lines.append(
                f"  {r.algorithm}: later-year D² LSOA {m.get('lsoa_later_year_d2', float('nan')):.3f} "
                f"(deviance ratio {m.get('lsoa_later_year_deviance_ratio', float('nan')):.3f}), "
                f"held-out areas D² {m.get('lsoa_heldout_areas_d2', float('nan')):.3f}; "
                f"ward later-year D² {m.get('ward_later_year_d2', float('nan')):.3f} -> "
                f"v{promo.get('version', '?')} {promo.get('alias', '')} ({promo.get('reason', '')}) [{r.run_id}]")
        return "\n".join(lines)


def check_areas(df: pd.DataFrame, src_version: int) -> None:
    """Refuse an area table the models cannot be trained and judged on."""
    if df.empty:
        raise ValueError(f"{AREAS_TABLE} v{src_version} has no LSOA or ward rows: land the context/areas files first")
    if df["year"].nunique() < 2:
        raise ValueError(f"{AREAS_TABLE} has one year only; the later-year test needs at least two")
    if not (df["area_type"] == "LSOA").any():
        # The agreed metric is an LSOA one; check bronze.files for a superseded lsoa_fire_factors.csv.
        raise ValueError(f"{AREAS_TABLE} v{src_version} has no LSOA rows (only {sorted(set(df['area_type']))})")


def fit_levels(algorithm: str, df: pd.DataFrame, features: list[str], params: dict) -> AreaFireRiskModel:
    """One estimator per area level, fitted on every year; rows and GLM coefficients logged to the active run."""
    # MLflow (seconds to import) only when training
    import mlflow

    estimators = {}
    for level in LEVELS:
        d = trainable(df[df["area_type"] == level])
        if d.empty:
            continue
        mlflow.log_param(f"rows_{level.lower()}", len(d))
        estimators[level] = fit_rate(make_estimator(algorithm, params), d[features], d["dwelling_fires"], d["households"])
        if algorithm == "glm":
            tracking.log_frame(glm_coefficients(estimators[level], features), f"glm_coefficients_{level.lower()}.csv")
    return AreaFireRiskModel(estimators, features, algorithm)


def log_evaluation(algorithm: str, model: AreaFireRiskModel, metrics: dict, tables: dict, df: pd.DataFrame):
    """Metrics, calibration tables and figure, and the model with its signature, to the active run."""
    # MLflow (seconds to import) only when training
    import mlflow
    from mlflow.models import infer_signature

    mlflow.log_metrics({k: float(v) for k, v in metrics.items() if np.isfinite(v)})
    for label, t in tables.items():
        tracking.log_frame(t, "calibration_" + label.replace(" · ", "_").replace(" ", "_").lower() + ".csv")
    tracking.log_figure(ev.plot_rate_calibration(tables, f"Fire risk ({algorithm}): calibration by decile"),
                        "calibration_by_decile.png")
    example = df[["area_type"] + model.features].groupby("area_type", group_keys=False).head(3).reset_index(drop=True)
    signature = infer_signature(example, pd.Series(model.predict_rate_per_10k(example), name="rate_per_10k"))
    return mlflow.pyfunc.log_model(name="model", python_model=_pyfunc_class()(model), signature=signature,
                                   input_example=tracking.synthetic_example(df[["area_type"] + model.features]),
                                   **tracking.model_files())


def train_one(lake: "Lake", df: pd.DataFrame, src_version: int, algorithm: str, params: dict,
              holdout_fraction: float, seed: int) -> FireRiskRun:
    """One tracked run: evaluate on held-out areas and the later year, refit on everything, log the model."""
    # MLflow (seconds to import) only when training
    import mlflow

    features = factor_columns(df.columns, df.dtypes)
    with tracking.start_run(lake, run_name=f"fire-risk-{algorithm}", tables={AREAS_TABLE: src_version},
                            frames={AREAS_TABLE: df.head(1000)},
                            tags={"cslake.model": "fire_risk_area", "cslake.algorithm": algorithm}) as run:
        mlflow.log_params({"algorithm": algorithm, "features": len(features), "levels": ",".join(LEVELS),
                           "years": ",".join(str(y) for y in sorted(df["year"].unique())),
                           "holdout_fraction": holdout_fraction, "split_seed": seed,
                           "target": "dwelling_fires / households (households as weights)",
                           "agreed_metric": AGREED_METRIC, **{f"model_{k}": v for k, v in params.items()}})
        metrics, tables = evaluate(algorithm, df, features, params, holdout_fraction, seed)
        model = fit_levels(algorithm, df, features, params)
        info = log_evaluation(algorithm, model, metrics, tables, df)
        return FireRiskRun(algorithm, run.info.run_id, metrics, info.model_uri)


def train_fire_risk(lake: "Lake", *, algorithms: Sequence[str] = ("glm", "gbm"), params: dict[str, dict] | None = None,
                    version: int | None = None, register: bool = True, min_delta: float = 1e-4,
                    holdout_fraction: float = 0.25, seed: int = 0, experiment: str = EXPERIMENT) -> FireRiskTraining:
    """One MLflow run per algorithm: evaluate, refit on every year, log, register, gate.

    ``params`` maps algorithm -> estimator parameters overriding the defaults (e.g.
    ``{"gbm": {"max_iter": 50}}`` for quick runs)."""
    tracking.configure(experiment)
    df, src_version = load_areas(lake, version)
    check_areas(df, src_version)
    result = FireRiskTraining(source_version=src_version)
    for algorithm in algorithms:
        t0 = time.perf_counter()
        p = {**(GLM_DEFAULTS if algorithm == "glm" else GBM_DEFAULTS), **((params or {}).get(algorithm) or {})}
        fr = train_one(lake, df, src_version, algorithm, p, holdout_fraction, seed)
        if register:
            promo = tracking.register_and_promote(
                fr.model_uri, MODEL_NAME, metric=AGREED_METRIC, candidate_value=fr.metrics[AGREED_METRIC],
                greater_is_better=True, min_delta=min_delta,
                tags={"algorithm": algorithm, f"delta.{AREAS_TABLE}.version": str(src_version)})
            fr.promotion = promo.to_dict()
            if promo.alias == tracking.CHAMPION:
                result.champion_version = promo.version
        fr.seconds = time.perf_counter() - t0
        result.runs.append(fr)
        log.info("fire risk %s: %s D²=%.3f (%.1fs)", algorithm, AGREED_METRIC, fr.metrics.get(AGREED_METRIC, np.nan),
                 fr.seconds, extra={"progress": (len(result.runs), len(algorithms), "fire-risk models")})
    return result


# ---------------------------------------------------------------------------
# Scoring


def predict_areas(model: AreaFireRiskModel, df: pd.DataFrame) -> pd.DataFrame:
    rate = model.predict_rate_per_10k(df)
    labels, order = band_of(rate)
    out = df[["area_type", "area_code", "area_name", "la_code", "year", "households"]].copy()
    out["predicted_rate_per_10k"] = rate
    out["predicted_fires"] = rate * out["households"].astype(float) / PER
    out["band"], out["band_order"] = labels, order
    return out


def score_fire_risk(lake: "Lake", *, year: int | None = None, alias: str = "champion", version: int | None = None,
                    referrals: bool = True, experiment: str = EXPERIMENT) -> dict:
    """Write ``gold.fire_risk_area`` (merge on area and year) for ``year`` (default: the
    latest) from the model with ``alias``; then, if partner data has landed, the
    restricted prevention referral list. Returns what was written."""
    tracking.configure(experiment)
    pyfunc_model, mv = tracking.load_champion(MODEL_NAME, alias)
    model: AreaFireRiskModel = pyfunc_model.unwrap_python_model().model
    df, src_version = load_areas(lake, version)
    year = int(df["year"].max()) if year is None else int(year)
    rows = df[df["year"] == year]
    if rows.empty:
        raise ValueError(f"{AREAS_TABLE} v{src_version} has no rows for {year}")
    out = predict_areas(model, rows)
    out["model_name"] = MODEL_NAME
    out["model_version"] = int(mv.version)
    out["model_run_id"] = mv.run_id
    out["source_table_version"] = src_version
    out["scored_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
    gold_version = lake.write_pandas(out, GOLD_TABLE, mode="merge")
    result = {"table": GOLD_TABLE, "version": gold_version, "rows": len(out), "year": year,
              "model_version": int(mv.version), "bands": out["band"].value_counts().to_dict()}
    if referrals:
        if lake.exists(fire_prevention.PEOPLE_TABLE):
            result["referrals"] = fire_prevention.score_referrals(lake, out[out["area_type"] == "LSOA"],
                                                                  model_version=int(mv.version))
    return result
