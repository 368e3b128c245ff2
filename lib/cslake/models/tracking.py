"""MLflow plumbing shared by every cslake model.

    configure("cslake-fire-risk")              # tracking URI + experiment (artifacts beside the db)
    with start_run(lake, tables={...}) as run:  # git commit, Delta versions as inputs and tags
        log_figure(fig, "calibration.png")
    promo = register_and_promote(model_uri, "cslake_fire_risk_area", metric="...", ...)
    model, version = load_champion("cslake_fire_risk_area")

The tracking store defaults to ``sqlite:///<cwd>/mlflow.db`` (run ``mlflow ui
--backend-store-uri sqlite:///mlflow.db`` beside it); ``MLFLOW_TRACKING_URI``
points it anywhere else, e.g. a tracking server. With a sqlite store the run
artifacts go to ``mlruns/`` next to the db file, not to the process's working
directory: tests point the db at tmp_path and must not litter the checkout.
``CSLAKE_MLFLOW_EXPERIMENT_DIR`` puts experiments in a folder (Databricks wants
workspace paths such as ``/Shared/cslake``).

Promotion rule: a newly registered version becomes ``champion`` only when it
beats the current champion on the model's agreed metric by at least
``min_delta`` (checked with ``mlflow.validate_evaluation_results``); otherwise
it gets the ``challenger`` alias. The first version of a model is champion by
default: there is nothing to beat.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import pandas as pd
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:  # pragma: no cover
    from cslake.lake import Lake

log = logging.getLogger(__name__)

DEFAULT_DB = "mlflow.db"
CHAMPION = "champion"
CHALLENGER = "challenger"
# Explicit requirements: letting MLflow infer them loads the model in a subprocess
# (seconds per log_model) and would guess from whatever the venv happens to hold.
# The distributions a logged model needs to load (its pyfunc imports cslake.models.*, which
# imports the catalog: pyspark's types, yaml; the estimator is scikit-learn's), pinned to the
# versions it was trained with by model_files(). cslake itself travels as code (code_paths):
# no package index has it.
MODEL_DISTRIBUTIONS = ("scikit-learn", "pandas", "numpy", "pyarrow", "PyYAML", "pyspark", "threadpoolctl",
                       "cloudpickle")
PIP_REQUIREMENTS = list(MODEL_DISTRIBUTIONS)  # unpinned names, kept for callers; model_files() pins them
#: What each registered model is, for the registry's description (a reviewer reads it before promoting).
MODEL_DESCRIPTIONS = {
    "cslake_fire_risk_area": "Dwelling fires per 10,000 households per small area (LSOA, ward) from ~50 area "
                             "factors: Poisson GLM / gradient boosting. Scored into the published fire-risk table.",
    "cslake_ew_rereferral": "Early warning: will a closed children-in-need episode be re-referred within 12 "
                            "months? Child-level, restricted; a prompt for a practitioner's review, never a decision.",
    "cslake_ew_escalation": "Early warning: will a child on an open CIN case start a child protection plan or "
                            "care within 12 months? Child-level, restricted; a prompt for review, never a decision.",
}


def pinned_requirements() -> list[str]:
    """``name==version`` of every distribution a logged model needs, as installed now."""
    # lazy: metadata only when a model is logged
    from importlib import metadata

    out = []
    for name in MODEL_DISTRIBUTIONS:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue  # not installed here: the model cannot need it
    return out


def package_dir() -> str:
    """The cslake package folder, logged with each model (``code_paths``) so it loads without cslake installed."""
    return str(Path(__file__).resolve().parents[1])


_model_code: tempfile.TemporaryDirectory | None = None


def model_code_dir() -> str:
    """cslake as a logged model carries it: the package with its ``conf/`` inside as package data
    (``cslake/_data/conf``, the wheel's layout, cslake.resources), made once per process.

    The package alone is not enough: its modules name tables through the catalog, which reads
    conf/ when first used, so a model served where there is no checkout and no install (``mlflow
    models serve`` in another folder) would stop on a missing conf/."""
    global _model_code
    if _model_code is None:
        import shutil

        from cslake.config import conf_dir

        _model_code = tempfile.TemporaryDirectory(prefix="cslake-model-code-")
        code = Path(_model_code.name) / "cslake"
        shutil.copytree(package_dir(), code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_data"))
        shutil.copytree(conf_dir(), code / "_data" / "conf", ignore=shutil.ignore_patterns("__pycache__"))
    return str(Path(_model_code.name) / "cslake")


def model_files() -> dict[str, Any]:
    """``log_model`` arguments that make a logged model installable offline: pinned requirements
    and the project's code with its configuration."""
    return {"pip_requirements": pinned_requirements(), "code_paths": [model_code_dir()]}


def synthetic_example(frame: "pd.DataFrame", n: int = 5, seed: int = 0) -> "pd.DataFrame":
    """An input example with the frame's columns and dtypes but no real row: each column is drawn on
    its own (numbers uniformly between the column's 10th and 90th percentiles, rounded as the
    column is; anything else its most common value), so no example row is a person's features."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = {}
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            mode = col.mode(dropna=True)
            out[c] = [mode.iloc[0] if len(mode) else None] * n
            continue
        lo, hi = (col.quantile([0.1, 0.9]).tolist() if col.notna().any() else (0.0, 1.0))
        draws = rng.uniform(lo, hi if hi > lo else lo + 1.0, n)
        out[c] = np.round(draws) if pd.api.types.is_integer_dtype(col) else draws
    return pd.DataFrame(out).astype(frame.dtypes.to_dict())


def compute_threads():
    """Cap BLAS/OpenMP threads while fitting (``CSLAKE_MODEL_THREADS``, default 1).

    Measured on a shared 2-core box: gradient boosting ran 3x slower and the GLM 20x
    slower with OpenMP's default thread count than with one thread, because spinning
    threads fight every other process for the cores."""
    return threadpool_limits(int(os.environ.get("CSLAKE_MODEL_THREADS", "1")))


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(Path.cwd() / DEFAULT_DB).resolve()}"


def _artifact_location(uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps artifacts: beside a sqlite db, else the server decides."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        return (db.parent / "mlruns" / experiment).resolve().as_uri()
    return None


def use_store() -> str:
    """Point MLflow's tracking and registry at the configured store; returns its URI."""
    # lazy: MLflow takes seconds to import: only when a run is tracked
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def configure(experiment: str) -> str:
    """Point MLflow at the configured store and select (or create) ``experiment``; returns its id."""
    # lazy: MLflow takes seconds to import: only when a run is tracked
    import mlflow

    uri = use_store()
    # Databricks names experiments by workspace path (/Shared/cslake/...): a bare name is refused.
    folder = os.environ.get("CSLAKE_MLFLOW_EXPERIMENT_DIR", "").rstrip("/")
    if folder:
        experiment = f"{folder}/{experiment}"
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        exp_id = mlflow.create_experiment(experiment, artifact_location=_artifact_location(uri, experiment))
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def git_commit() -> tuple[str | None, bool]:
    """(HEAD commit of the checkout this code runs from, whether the tree has local changes)."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20, check=True).stdout.strip() != ""
        return sha or None, dirty
    except (OSError, subprocess.SubprocessError):
        # An installed wheel has no checkout; the run still records that it had none.
        return None, False


def log_delta_inputs(lake: "Lake", tables: Mapping[str, int], frames: Mapping[str, "pd.DataFrame"] | None = None,
                     context: str = "training") -> None:
    """Record exactly which Delta table versions the run read: as ``mlflow.data`` inputs
    (source = table path + version) and as ``delta.<table>.version`` tags for searching."""
    # lazy: MLflow takes seconds to import: only when a run is tracked
    import mlflow
    from mlflow.data.delta_dataset_source import DeltaDatasetSource

    for name, version in sorted(tables.items()):
        mlflow.set_tag(f"delta.{name}.version", str(version))
        frame = (frames or {}).get(name)
        if frame is None:
            frame = pd.DataFrame()
        source = DeltaDatasetSource(path=lake.path(name), delta_table_version=int(version))
        ds = mlflow.data.from_pandas(frame, source=source, name=f"{name}@v{version}")
        mlflow.log_input(ds, context=context)


@contextlib.contextmanager
def start_run(lake: "Lake | None" = None, *, run_name: str | None = None, tables: Mapping[str, int] | None = None,
              frames: Mapping[str, "pd.DataFrame"] | None = None, tags: Mapping[str, str] | None = None,
              nested: bool = False) -> Iterator[Any]:
    """An MLflow run tagged with the git commit and the lake it read."""
    # lazy: MLflow takes seconds to import: only when a run is tracked
    import mlflow

    sha, dirty = git_commit()
    all_tags = {"cslake.git_dirty": str(dirty).lower()}
    if sha:
        all_tags["mlflow.source.git.commit"] = sha
    if lake is not None:
        all_tags["cslake.lake_root"] = lake.root
    all_tags.update(tags or {})
    with mlflow.start_run(run_name=run_name, nested=nested, tags=all_tags) as run:
        if lake is not None and tables:
            log_delta_inputs(lake, tables, frames)
        yield run


def log_figure(fig: Any, name: str) -> None:
    # lazy: matplotlib and MLflow only when a figure is logged (MLflow takes seconds to import)
    import matplotlib.pyplot as plt
    import mlflow

    mlflow.log_figure(fig, name)
    plt.close(fig)


def log_frame(df: "pd.DataFrame", name: str) -> None:
    """A small result table as a CSV artifact (readable without MLflow's table viewer)."""
    # lazy: MLflow takes seconds to import: only when a run is tracked
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        df.to_csv(path, index=False)
        mlflow.log_artifact(str(path))


# ---------------------------------------------------------------------------
# Registry


@dataclass
class Promotion:
    model_name: str
    version: int
    alias: str                      # champion or challenger: what the new version got
    metric: str
    greater_is_better: bool
    candidate_value: float
    champion_value: float | None    # the champion it was compared with (None: there was none)
    champion_version: int | None
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def _champion(client: Any, model_name: str) -> Any | None:
    # lazy: MLflow takes seconds to import: only when a run is tracked
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


def register_and_promote(model_uri: str, model_name: str, *, metric: str, candidate_value: float,
                         greater_is_better: bool, min_delta: float = 1e-4,
                         tags: Mapping[str, str] | None = None) -> Promotion:
    """Register ``model_uri`` as a new version of ``model_name`` and give it an alias by the
    promotion rule (module docstring). The champion's value is read from its own run's
    metrics, so both sides were measured by the same code on the same protocol."""
    # lazy: MLflow takes seconds to import: only when a run is tracked
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.models import EvaluationResult, MetricThreshold

    client = MlflowClient()
    mv = mlflow.register_model(model_uri, model_name, tags=dict(tags or {}))
    version = int(mv.version)
    client.set_model_version_tag(model_name, str(version), metric, repr(float(candidate_value)))
    describe_version(client, model_name, version, metric, candidate_value, tags)
    champ = _champion(client, model_name)
    if champ is None:
        client.set_registered_model_alias(model_name, CHAMPION, str(version))
        return Promotion(model_name, version, CHAMPION, metric, greater_is_better, float(candidate_value), None, None,
                         "first registered version: nothing to beat")
    champ_value = client.get_run(champ.run_id).data.metrics.get(metric)
    if champ_value is None:
        # A champion without the agreed metric cannot be compared; keep it and let a
        # person decide (promote_version) rather than guess.
        client.set_registered_model_alias(model_name, CHALLENGER, str(version))
        return Promotion(model_name, version, CHALLENGER, metric, greater_is_better, float(candidate_value), None,
                         int(champ.version), f"champion v{champ.version} has no {metric} metric; not compared")
    thresholds = {metric: MetricThreshold(min_absolute_change=float(min_delta), greater_is_better=greater_is_better)}
    try:
        mlflow.validate_evaluation_results(
            thresholds,
            EvaluationResult(metrics={metric: float(candidate_value)}, artifacts={}),
            EvaluationResult(metrics={metric: float(champ_value)}, artifacts={}),
        )
    except MlflowException as exc:
        client.set_registered_model_alias(model_name, CHALLENGER, str(version))
        return Promotion(model_name, version, CHALLENGER, metric, greater_is_better, float(candidate_value),
                         float(champ_value), int(champ.version),
                         f"does not beat champion v{champ.version} by {min_delta}: {str(exc).splitlines()[0]}")
    client.set_registered_model_alias(model_name, CHAMPION, str(version))
    _drop_alias_if_on(client, model_name, CHALLENGER, version)
    return Promotion(model_name, version, CHAMPION, metric, greater_is_better, float(candidate_value),
                     float(champ_value), int(champ.version), f"beats champion v{champ.version}")


def describe_version(client: Any, model_name: str, version: int, metric: str, value: float,
                     tags: Mapping[str, str] | None) -> None:
    """The registered model's description and tags (once) and the version's description."""
    desc = MODEL_DESCRIPTIONS.get(model_name)
    if desc:
        client.update_registered_model(model_name, description=desc)
    client.set_registered_model_tag(model_name, "project", "cslake")
    extra = ", ".join(f"{k} {v}" for k, v in sorted((tags or {}).items()))
    client.update_model_version(model_name, str(version), description=f"{metric} = {float(value):.4f} on its "
                                f"time-ordered test set{'; ' + extra if extra else ''}")


def _drop_alias_if_on(client: Any, model_name: str, alias: str, version: int) -> None:
    # lazy: MLflow takes seconds to import: only when a run is tracked
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return
    if int(mv.version) == int(version):
        client.delete_registered_model_alias(model_name, alias)


def promote_version(model_name: str, version: int, alias: str = CHAMPION) -> None:
    """A person's decision, overriding the automatic rule (e.g. after reviewing a challenger)."""
    # lazy: MLflow takes seconds to import: only when a run is tracked
    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_registered_model_alias(model_name, alias, str(version))
    if alias == CHAMPION:
        _drop_alias_if_on(client, model_name, CHALLENGER, version)


def model_versions(model_name: str) -> "pd.DataFrame":
    """Every registered version of ``model_name``: version, aliases, run, created, and
    the metric tags the promotion gate set (what a reviewer compares before promoting)."""
    # lazy: MLflow takes seconds to import: only when a run is tracked
    from mlflow import MlflowClient

    client = MlflowClient()
    aliases: dict[str, list[str]] = {}
    for alias, version in (client.get_registered_model(model_name).aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name = '{model_name}'"):
        rows.append({"version": int(mv.version), "aliases": ",".join(sorted(aliases.get(str(mv.version), []))),
                     "run_id": mv.run_id, "created": pd.Timestamp(mv.creation_timestamp, unit="ms"),
                     **{k: v for k, v in (mv.tags or {}).items() if not k.startswith("mlflow.")}})
    return pd.DataFrame(rows).sort_values("version").reset_index(drop=True) if rows else pd.DataFrame(rows)


def load_champion(model_name: str, alias: str = CHAMPION) -> tuple[Any, Any]:
    """(pyfunc model, ModelVersion) for ``models:/<name>@<alias>``; raises LookupError if unset."""
    # lazy: MLflow takes seconds to import: only when a run is tracked
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    # the configured store, not whichever store this process last pointed MLflow at (a test suite's
    # earlier module, a notebook): a champion of another store must not score this lake
    use_store()
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        raise LookupError(f"no {model_name!r} model with alias {alias!r} in {tracking_uri()}: train one first") from exc
    return mlflow.pyfunc.load_model(f"models:/{model_name}@{alias}"), mv
