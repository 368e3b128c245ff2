"""Deployment files are well-formed and name jobs that exist (no cluster here to run them on)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
JOBS = {p.stem for p in (ROOT / "jobs").glob("*.py") if not p.stem.startswith("_")}


def test_shell_scripts_parse():
    for script in DEPLOY.rglob("*.sh"):
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_every_job_path_in_deploy_files_exists():
    named = set()
    for f in DEPLOY.rglob("*"):
        if f.is_file():
            named |= set(re.findall(r"jobs/([a-z_]+)\.py", f.read_text()))
    assert named, "deploy files should name the jobs they run"
    assert named <= JOBS, f"deploy names jobs that do not exist: {named - JOBS}"


def test_yaml_manifests_parse_and_enable_delta():
    k8s = yaml.safe_load((DEPLOY / "kubernetes" / "cslake-land.yaml").read_text())
    assert k8s["spec"]["sparkConf"]["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    bundle = yaml.safe_load((DEPLOY / "databricks" / "databricks.yml").read_text())
    assert {"dev", "prod"} <= set(bundle["targets"])
    assert "CSLAKE_HASH_KEY" in str(bundle) and "{{secrets/" in str(bundle)


def test_no_deploy_file_carries_a_key():
    for f in DEPLOY.rglob("*"):
        if f.is_file():
            assert not re.search(r"CSLAKE_HASH_KEY\s*[=:]\s*['\"]?[A-Za-z0-9+/]{16,}", f.read_text()), f
