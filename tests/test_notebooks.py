"""The notebooks run top to bottom, headless, at small scale, leaving nothing in the checkout."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fire_risk.ipynb", "early_warning.ipynb"])
def test_notebook_runs_headless(name, tmp_path, monkeypatch):
    monkeypatch.setenv("CSLAKE_NB_WORKDIR", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("CSLAKE_HASH_KEY", "notebook-test-key-0123456789abcdef")
    before = set(NOTEBOOKS.iterdir())
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # Every code cell ran, and the figures the notebook promises were drawn.
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    assert images >= (1 if name == "fire_risk.ipynb" else 3)
    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "lake").is_dir()
    assert set(NOTEBOOKS.iterdir()) == before
