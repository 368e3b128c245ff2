"""MLflow tracking stores for tests, made from one template.

A new sqlite tracking store runs every MLflow schema migration when it is first opened
(1.5-2 s of CPU each); a copy of an empty store that has already run them opens in a few
milliseconds. ``mlflow_store(path)`` puts such a copy at ``path`` and returns its tracking URI.
A test that checks that the store itself gets created where the URI points (the fire-risk
module, the notebooks) keeps making its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory) -> Path:
    """An empty sqlite tracking store, migrated once per session (made from its own folder,
    so its Default experiment points there, never at the checkout)."""
    import mlflow

    folder = tmp_path_factory.mktemp("mlflow_template")
    db = folder / "mlflow.db"
    here = os.getcwd()
    os.chdir(folder)
    try:
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    finally:
        os.chdir(here)
    return db


@pytest.fixture(scope="session")
def mlflow_store(_mlflow_template):
    """``mlflow_store(path)``: an empty, migrated sqlite store copied to ``path`` (a file that
    must not exist yet); returns its tracking URI (``sqlite:///<path>``)."""

    def make(path: Path) -> str:
        path = Path(path)
        assert not path.exists(), path
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_mlflow_template, path)
        return f"sqlite:///{path}"

    return make
