"""MLflow plumbing: where the store goes, and the promotion gate on its own (no Spark)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from cslake.models import tracking


class _Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):  # noqa: ARG002
        return pd.Series([1.0] * len(model_input))


def _logged_run(value: float | None) -> str:
    with tracking.start_run(run_name="gate") as run:
        if value is not None:
            mlflow.log_metric("score", value)
        info = mlflow.pyfunc.log_model(name="model", python_model=_Constant(), pip_requirements=["pandas"])
    return info.model_uri


def test_default_store_is_mlflow_db_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert tracking.tracking_uri() == "http://tracking.example:5000"
    assert tracking._artifact_location("http://tracking.example:5000", "x") is None


def test_gate_promotes_only_a_strictly_better_challenger(tmp_path, monkeypatch, mlflow_store):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store(tmp_path / "mlflow.db"))
    monkeypatch.chdir(tmp_path)
    tracking.configure("gate-test")
    name = "gate_model"

    def reg(value, greater=True):
        return tracking.register_and_promote(_logged_run(value), name, metric="score", candidate_value=value,
                                             greater_is_better=greater, min_delta=0.01)

    first = reg(0.50)
    assert (first.alias, first.version, first.champion_version) == ("champion", 1, None)
    tie = reg(0.505)            # better, but by less than min_delta
    assert tie.alias == "challenger" and tie.champion_value == 0.50
    worse = reg(0.40)
    assert worse.alias == "challenger"
    better = reg(0.60)
    assert better.alias == "champion" and better.champion_version == 1
    client = mlflow.MlflowClient()
    assert int(client.get_model_version_by_alias(name, "champion").version) == better.version
    # The challenger alias still points at the last loser, not at the new champion.
    assert int(client.get_model_version_by_alias(name, "challenger").version) == worse.version
    # Lower-is-better metrics compare the other way.
    lower = tracking.register_and_promote(_logged_run(0.30), name, metric="score", candidate_value=0.30,
                                          greater_is_better=False, min_delta=0.01)
    assert lower.alias == "champion"
    # A person can overrule the rule; load_champion follows the alias.
    tracking.promote_version(name, first.version)
    model, mv = tracking.load_champion(name)
    assert int(mv.version) == first.version and list(model.predict(pd.DataFrame({"x": [1, 2]}))) == [1.0, 1.0]
    with pytest.raises(LookupError):
        tracking.load_champion("no_such_model")
    # Nothing landed in the checkout.
    assert not (Path(__file__).resolve().parents[1] / "mlruns" / "gate-test").exists()


def test_runs_carry_the_git_commit(tmp_path, monkeypatch, mlflow_store):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store(tmp_path / "mlflow.db"))
    tracking.configure("commit-test")
    with tracking.start_run(run_name="c") as run:
        pass
    tags = mlflow.get_run(run.info.run_id).data.tags
    sha, dirty = tracking.git_commit()
    assert sha and tags["mlflow.source.git.commit"] == sha
    assert tags["cslake.git_dirty"] == str(dirty).lower()


def test_promote_command_points_the_alias_at_a_reviewed_challenger(tmp_path, monkeypatch, mlflow_store):
    from typer.testing import CliRunner

    from cslake.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store(tmp_path / "mlflow.db"))
    monkeypatch.chdir(tmp_path)
    tracking.configure("promote-test")
    name = "promote_model"
    for value in (0.50, 0.40):  # v1 champion, v2 challenger (worse on the gate's metric)
        tracking.register_and_promote(_logged_run(value), name, metric="score", candidate_value=value,
                                      greater_is_better=True)
    runner = CliRunner()
    listing = runner.invoke(app, ["promote", name])
    assert listing.exit_code == 0, listing.output
    versions = tracking.model_versions(name)
    assert dict(zip(versions.version, versions.aliases)) == {1: "champion", 2: "challenger"}
    assert "challenger" in listing.output and "champion" in listing.output

    done = runner.invoke(app, ["promote", name, "2"])
    assert done.exit_code == 0, done.output
    client = mlflow.MlflowClient()
    assert int(client.get_model_version_by_alias(name, "champion").version) == 2
    versions = tracking.model_versions(name)
    assert dict(zip(versions.version, versions.aliases)) == {1: "", 2: "champion"}

    missing = runner.invoke(app, ["promote", name, "7"])
    assert missing.exit_code != 0 and "no version 7" in missing.output
