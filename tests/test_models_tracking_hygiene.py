"""MLflow hygiene (issue 15): a logged model's input example is synthetic (never a real row), its
requirements are pinned, the project's code travels with it, and registered models say what they are."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from cslake.models import tracking


class _Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input.select_dtypes("number").sum(axis=1) * 2


def _features(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"age_years": rng.uniform(0, 17, n), "prior_referrals": rng.integers(0, 9, n),
                         "sex": rng.choice(["1", "2"], n), "flag": rng.random(n) > 0.5})


def test_synthetic_example_has_the_columns_and_types_but_no_real_row():
    real = _features()
    ex = tracking.synthetic_example(real, n=5)
    assert list(ex.columns) == list(real.columns) and (ex.dtypes == real.dtypes).all()
    assert len(ex) == 5
    rows = {tuple(r) for r in real.itertuples(index=False)}
    assert not any(tuple(r) in rows for r in ex.itertuples(index=False))
    assert not ex["age_years"].isin(real["age_years"]).any()  # every number drawn, none copied
    assert ex["age_years"].between(real["age_years"].quantile(0.1), real["age_years"].quantile(0.9)).all()


def test_model_files_pin_every_requirement_and_carry_the_code():
    files = tracking.model_files()
    reqs = files["pip_requirements"]
    assert reqs and all("==" in r for r in reqs) and not any(r.split("==")[0] == "cslake" for r in reqs)
    assert {r.split("==")[0] for r in reqs} >= {"scikit-learn", "pandas", "numpy", "pyspark"}
    code = Path(files["code_paths"][0])
    assert code.name == "cslake" and (code / "models" / "tracking.py").is_file()


def test_a_logged_model_has_a_synthetic_example_pinned_requirements_and_the_code(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking.configure("hygiene-test")
    real = _features()
    with tracking.start_run(run_name="hygiene"):
        info = mlflow.pyfunc.log_model(name="model", python_model=_Doubler(),
                                       input_example=tracking.synthetic_example(real), **tracking.model_files())
    local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "m")))
    assert (local / "code" / "cslake" / "models" / "tracking.py").is_file()
    reqs = [ln for ln in (local / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("mlflow")]
    assert reqs and all("==" in r for r in reqs), reqs
    example = json.loads((local / "input_example.json").read_text())
    ex = pd.DataFrame(example["data"], columns=example["columns"])
    assert not ex["age_years"].isin(real["age_years"]).any()
    assert len(mlflow.pyfunc.load_model(info.model_uri).predict(real.head(3))) == 3


def test_registered_models_carry_descriptions(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tracking.configure("describe-test")
    with tracking.start_run(run_name="d"):
        mlflow.log_metric("test_average_precision", 0.4)
        uri = mlflow.pyfunc.log_model(name="model", python_model=_Doubler(), pip_requirements=["pandas"]).model_uri
    name = "cslake_ew_rereferral"
    tracking.register_and_promote(uri, name, metric="test_average_precision", candidate_value=0.4,
                                  greater_is_better=True, tags={"algorithm": "gbm"})
    client = mlflow.MlflowClient()
    model = client.get_registered_model(name)
    assert model.description == tracking.MODEL_DESCRIPTIONS[name] and model.tags["project"] == "cslake"
    assert client.get_model_version(name, "1").description.startswith("test_average_precision = 0.4000")


@pytest.mark.parametrize("module", ["cslake.models.early_warning", "cslake.models.fire_risk"])
def test_the_models_log_synthetic_examples_with_model_files(module):
    import importlib
    import inspect

    src = inspect.getsource(importlib.import_module(module))
    assert "input_example=tracking.synthetic_example(" in src and "**tracking.model_files()" in src
