"""Deployment files say true things: the jobs they name exist, the Kubernetes image and
manifests agree with each other and with cslake.jars, the Databricks bundle's paths are
ones the Databricks CLI accepts. No cluster here: the Docker image is built only where a
Docker daemon can pull its base images (skipped with the reason otherwise)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cslake.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
BUNDLE_DIR = DEPLOY / "databricks"
JOBS = {p.stem for p in (ROOT / "jobs").glob("*.py") if not p.stem.startswith("_")}
PIPELINE = ["land", "silver", "linkage", "gold", "train", "score"]


def _pinned_pyspark() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(r'"pyspark(?:\[[^\]]*\])?==([0-9.]+)"', text).group(1)


def _job_choices(job: str) -> set[str]:
    """The choices of a job's first positional argument (train/score: fire-risk, early-warning),
    from the registry the job's parser is built from."""
    first = next((o for o in STAGES[job].options if o.positional), None)
    return set(first.choices) if first else set()


# -- every target ----------------------------------------------------------------------


def test_shell_scripts_parse():
    for script in DEPLOY.rglob("*.sh"):
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_every_job_path_in_deploy_files_exists():
    named = set()
    for f in DEPLOY.rglob("*"):
        if f.is_file():
            named |= set(re.findall(r"jobs/([a-z_]+)\.py", f.read_text()))
    assert named & JOBS, "deploy files should name the jobs they run"
    missing = {n for n in named if not (ROOT / "jobs" / f"{n}.py").is_file()}
    assert not missing, f"deploy names jobs that do not exist: {missing}"


def test_no_deploy_file_carries_a_key():
    for f in [*DEPLOY.rglob("*"), ROOT / ".dockerignore"]:
        if f.is_file():
            text = f.read_text()
            assert not re.search(r"CSLAKE_HASH_KEY\s*[=:]\s*['\"]?[A-Za-z0-9+/]{16,}", text), f
            assert not re.search(r"AWS_SECRET_ACCESS_KEY\s*[=:]\s*['\"]?[A-Za-z0-9+/]{30,}", text), f


# -- Kubernetes: .dockerignore, Dockerfile, SparkApplications ---------------------------


def _dockerignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            neg = line.startswith("!")
            rules.append((neg, line[1:].strip("/") if neg else line.strip("/")))
    return rules


def _ignored(path: str, rules) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent folders, decides."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for neg, pat in rules:
        if pat.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(p.rsplit("/", 1)[-1], pat[3:]) or fnmatch.fnmatchcase(p, pat[3:])
                      for p in prefixes)
        else:
            hit = any(fnmatch.fnmatchcase(p, pat) and p.count("/") == pat.count("/") for p in prefixes)
        if hit:
            out = not neg
    return out


@pytest.mark.parametrize("path", [
    ".venv/bin/python", "raw/202/cin/2025/x.xml", "lake/gold/riia_indicators/_delta_log/0.json",
    "mlruns/1/meta.yaml", "mlflow.db", "reports/errors/errors_202.html", "exports/a.parquet",
    "research/extract.csv", "out/packs/index.html", "bench/results/x.json", ".git/HEAD",
    "notebooks/fire_risk.ipynb", "tests/test_land.py", "dist/cslake-0.1.0-py3-none-any.whl",
    "build/lib/cslake/cli.py", "lib/cslake/__pycache__/cli.cpython-311.pyc", "lib/cslake.egg-info/PKG-INFO",
    "lib/cslake/_data/conf/regions.yaml", "hash.key", "spark-warehouse/x", "deploy/kubernetes/Dockerfile",
])
def test_dockerignore_keeps_data_and_checkout_clutter_out(path):
    assert _ignored(path, _dockerignore_rules()), f"{path} would reach the image's build context"


def _dockerfile() -> str:
    return (K8S / "Dockerfile").read_text()


def test_dockerfile_copies_only_what_the_context_has_and_builds_from_the_wheel():
    text, rules = _dockerfile(), _dockerignore_rules()
    sources = []
    for line in text.splitlines():
        m = re.match(r"COPY\s+(?!--from)(.+)\s+\S+$", line.strip())
        if m:
            sources += m.group(1).split()
    assert sources and "." not in sources, "no COPY of the whole context"
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not _ignored(src, rules), f"{src} is COPY'd but .dockerignore keeps it out"
    for f in [*(ROOT / "lib").rglob("*.py"), *(ROOT / "conf").rglob("*.yaml"), *(ROOT / "jobs").glob("*.py")]:
        if "__pycache__" not in f.parts and "_data" not in f.parts:
            assert not _ignored(str(f.relative_to(ROOT)), rules), f
    assert re.search(r"pip wheel .*-w /dist \.", text) and re.search(r"pip install .*/dist/cslake-\*\.whl", text)
    assert "cslake jars fetch" in text, "jars come from the same fetch as everywhere else"


def test_dockerfile_spark_matches_the_pin():
    text = _dockerfile()
    pin = _pinned_pyspark()
    spark_image = re.search(r"ARG SPARK_IMAGE=(\S+)", text).group(1)
    assert spark_image.split(":")[1].startswith(pin + "-"), (spark_image, pin)
    py = re.search(r"ARG PYTHON_IMAGE=python:(\d+\.\d+)", text).group(1)
    assert f"SPARK_HOME=/opt/venv/lib/python{py}/site-packages/pyspark" in text


def _image_env() -> dict[str, str]:
    env = {}
    for block in re.findall(r"^ENV (.+?)(?<!\\)$", _dockerfile(), flags=re.M | re.S):
        for k, v in re.findall(r"(\w+)=(\S+)", block.replace("\\\n", " ")):
            env[k] = v
    return env


def _stages() -> list[tuple[str, dict]]:
    files = sorted((K8S / "pipeline").glob("[0-9][0-9]-*.yaml"))
    return [(f.stem, yaml.safe_load(f.read_text())) for f in files]


def test_spark_applications_run_the_whole_pipeline_in_order():
    stages = _stages()
    assert not (K8S / "cslake-land.yaml").exists()
    steps = []
    for stem, app in stages:
        assert app["kind"] == "SparkApplication" and app["apiVersion"].startswith("sparkoperator.k8s.io/")
        assert app["metadata"]["name"] == f"cslake-{stem[3:]}"  # run-pipeline.sh derives the name so
        spec = app["spec"]
        m = re.fullmatch(r"local:///opt/cslake/jobs/([a-z_]+)\.py", spec["mainApplicationFile"])
        assert m and m.group(1) in JOBS, spec["mainApplicationFile"]
        job, args = m.group(1), [str(a) for a in spec.get("arguments", [])]
        if _job_choices(job):
            assert args[0] in _job_choices(job), (stem, args)
        assert "--lake" in args and args[args.index("--lake") + 1].startswith("s3a://")
        if job == "land":
            assert args[0].startswith("s3a://")
        steps.append((job, args[0] if _job_choices(job) else None))
    order = [j for j, _ in steps]
    assert [j for i, j in enumerate(order) if i == 0 or order[i - 1] != j] == PIPELINE
    for model in ("fire-risk", "early-warning"):
        assert steps.index(("train", model)) < steps.index(("score", model))


def test_spark_applications_key_and_credentials_on_driver_and_executors():
    for stem, app in _stages():
        conf = {k: str(v) for k, v in app["spec"]["sparkConf"].items()}
        mounts = {}
        for role in ("driver", "executor"):
            (secret_mount,) = [(k.rsplit(".", 1)[1], v) for k, v in conf.items()
                               if k.startswith(f"spark.kubernetes.{role}.secrets.")]
            mounts[role] = secret_mount
        assert mounts["driver"] == mounts["executor"], stem
        key_file = conf["spark.kubernetes.driverEnv.CSLAKE_HASH_KEY_FILE"]
        assert conf["spark.executorEnv.CSLAKE_HASH_KEY_FILE"] == key_file, stem
        assert key_file.startswith(mounts["driver"][1].rstrip("/") + "/"), (stem, key_file, mounts)
        assert not any("CSLAKE_HASH_KEY" in k and not k.endswith("_FILE") for k in conf), "no key in a conf"
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            for role in ("driver", "executor"):
                secret, _, key = conf[f"spark.kubernetes.{role}.secretKeyRef.{var}"].partition(":")
                assert secret and key == var, (stem, role, var)


def test_spark_applications_jars_delta_and_spark_agree_with_cslake():
    from cslake.jars import delta_settings

    _, delta_conf = delta_settings()
    image = _image_env()
    assert image["CSLAKE_JARS"], "the image says where its jars are"
    confs = []
    for stem, app in _stages():
        conf = {k: str(v) for k, v in app["spec"]["sparkConf"].items()}
        confs.append(conf)
        for k, v in delta_conf.items():
            assert conf[k] == v, (stem, k)
        for role in ("driver", "executor"):
            assert conf[f"spark.{role}.extraClassPath"] == f"{image['CSLAKE_JARS']}/*", (stem, role)
        assert str(app["spec"]["sparkVersion"]) == _pinned_pyspark()
    assert all(c == confs[0] for c in confs), "every stage runs with the same Spark settings"


def test_run_pipeline_script_applies_every_stage():
    text = (K8S / "run-pipeline.sh").read_text()
    assert "pipeline/[0-9][0-9]-*.yaml" in text and "COMPLETED" in text and "FAILED" in text


def test_cslake_jars_fetch_command_exists():
    """The Dockerfile's `cslake jars fetch` is a real command."""
    from typer.testing import CliRunner

    from cslake.cli import app

    res = CliRunner().invoke(app, ["jars", "fetch", "--help"])
    assert res.exit_code == 0, res.output


def _docker_ok() -> str | None:
    """None when images can be built here, else why not."""
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        return "no Docker daemon reachable (`docker info` fails)"
    args = dict(re.findall(r"ARG (\w+_IMAGE)=(\S+)", _dockerfile()))
    for image in args.values():
        have = subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0
        if not have and subprocess.run(["docker", "pull", "-q", image], capture_output=True,
                                       timeout=600).returncode != 0:
            return f"the Docker daemon cannot pull the base image {image} (no registry access)"
    return None


def test_docker_image_builds_lean_and_runs_a_job(tmp_path):
    why = _docker_ok()
    if why:
        pytest.skip(why)
    tag = "cslake-test:deploy"
    subprocess.run(["docker", "build", "-q", "-f", str(K8S / "Dockerfile"), "-t", tag, str(ROOT)],
                   check=True, timeout=3600)
    try:
        def in_image(*cmd):
            return subprocess.run(["docker", "run", "--rm", "--entrypoint", cmd[0], tag, *cmd[1:]],
                                  capture_output=True, text=True, check=True, timeout=300).stdout

        listing = in_image("sh", "-c", "ls /opt/cslake/jars; ls -A /opt/cslake/work; ls /opt")
        assert "delta-spark_" in listing and "hadoop-aws-" in listing
        for data in ("raw", "lake", "mlruns", "mlflow.db", ".venv"):
            assert f"\n{data}\n" not in f"\n{listing}", data
        assert "Land the raw drop zone" in in_image("cslake", "run", "land", "--", "--help")
        assert "/opt/venv/lib/" in in_image("python", "-c", "import cslake.config as c; print(c.conf_dir())")
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)


# -- Databricks bundle ---------------------------------------------------------------


def _bundle() -> dict:
    return yaml.safe_load((BUNDLE_DIR / "databricks.yml").read_text())


def _sync_root(bundle: dict) -> Path:
    """As the Databricks CLI infers it: the innermost folder holding the bundle root and every sync path."""
    root = BUNDLE_DIR.resolve()
    for p in bundle.get("sync", {}).get("paths", []):
        target = (BUNDLE_DIR / p).resolve()
        while not target.is_relative_to(root):
            root = root.parent
    return root


def _tasks(bundle: dict) -> list[dict]:
    (job,) = bundle["resources"]["jobs"].values()
    return job["tasks"]


def test_bundle_python_files_are_synced_jobs():
    bundle = _bundle()
    synced = [(BUNDLE_DIR / p).resolve() for p in bundle["sync"]["paths"]]
    assert all(p.is_dir() for p in synced), synced
    sync_root = _sync_root(bundle)
    assert sync_root == ROOT
    for task in _tasks(bundle):
        f = (BUNDLE_DIR / task["spark_python_task"]["python_file"]).resolve()
        assert f.is_file(), f
        assert f.is_relative_to(sync_root), f"{f} is not contained in sync root path"
        assert any(f.is_relative_to(p) for p in synced), f"{f} is not synced"
        assert f.parent == ROOT / "jobs" and f.stem in JOBS
    # What the jobs import and read is synced with them: cslake's code and its conf.
    assert {ROOT / "lib", ROOT / "jobs", ROOT / "conf"} <= set(synced)


def test_bundle_jobs_are_valid_databricks_jobs_in_every_target():
    """Each job, as every target would deploy it (the target's resource overrides merged in), read by
    Databricks' own typed job models (databricks-bundles): an unknown or misspelt field anywhere in it
    (a task, its cluster, a library) or a value of the wrong type is refused, as the CLI would."""
    from databricks.bundles.jobs import Job

    bundle = _bundle()
    for target, spec in bundle["targets"].items():
        overrides = (spec or {}).get("resources", {}).get("jobs", {})
        for name, job in bundle["resources"]["jobs"].items():
            merged = {**job, **overrides.get(name, {})}
            parsed = Job.from_dict(merged)
            assert [t.task_key for t in parsed.tasks] == [t["task_key"] for t in job["tasks"]], (target, name)
    # The check can fail: a misspelt field deep in a task is refused.
    (job,) = bundle["resources"]["jobs"].values()
    broken = {**job, "tasks": [{**job["tasks"][0], "spark_python_task": {"pyfile": "jobs/land.py"}}]}
    with pytest.raises(ValueError, match="pyfile"):
        Job.from_dict(broken)


def test_bundle_tasks_form_the_pipeline_chain():
    tasks = {t["task_key"]: t for t in _tasks(_bundle())}
    deps = {k: [d["task_key"] for d in t.get("depends_on", [])] for k, t in tasks.items()}
    assert [k for k, d in deps.items() if not d] == ["land"]
    assert all(d in tasks for ds in deps.values() for d in ds)

    def stage(key):
        return Path(tasks[key]["spark_python_task"]["python_file"]).stem

    def upstream(key, seen=()):
        assert key not in seen, f"cycle through {key}"
        return {key} | {u for d in deps[key] for u in upstream(d, (*seen, key))}

    for key in tasks:
        before = {stage(u) for u in upstream(key)} - {stage(key)}
        assert before == set(PIPELINE[: PIPELINE.index(stage(key))]), (key, before)
        params = tasks[key]["spark_python_task"].get("parameters", [])
        if _job_choices(stage(key)):
            assert params[0] in _job_choices(stage(key)), (key, params)
    for model in ("fire_risk", "early_warning"):
        assert f"train_{model}" in upstream(f"score_{model}")


def test_bundle_targets_tables_on_unity_catalog_and_key_from_secret_scope():
    bundle = _bundle()
    targets = bundle["targets"]
    assert targets["dev"]["mode"] == "development" and targets["prod"]["mode"] == "production"
    variables = bundle["variables"]
    used = set(re.findall(r"\$\{var\.(\w+)\}", (BUNDLE_DIR / "databricks.yml").read_text()))
    assert used <= set(variables), used - set(variables)

    def value(name, target):
        return targets[target].get("variables", {}).get(name, variables[name].get("default"))

    for target in ("dev", "prod"):
        lake = value("lake_path", target)
        assert not re.match(r"(dbfs:)?/Volumes/", lake) and "://" in lake, (target, lake)
        from cslake.storage import is_s3

        assert is_s3(lake), f"cslake's file access cannot reach {lake}"
    assert value("catalog", "dev") != value("catalog", "prod")
    (job,) = bundle["resources"]["jobs"].values()
    (cluster,) = job["job_clusters"]
    new = cluster["new_cluster"]
    assert new["spark_conf"]["spark.databricks.sql.initial.catalog.name"] == "${var.catalog}"
    env = new["spark_env_vars"]
    assert re.fullmatch(r"\{\{secrets/\$\{var\.secret_scope\}/[\w-]+\}\}", env["CSLAKE_HASH_KEY"])
    assert "CSLAKE_HASH_KEY_FILE" not in env
    assert env["CSLAKE_LAKE"] == "${var.lake_path}"
    for task in _tasks(bundle):
        params = task["spark_python_task"].get("parameters", [])
        assert params[params.index("--lake") + 1] == "${var.lake_path}", task["task_key"]


def test_bundle_libraries_are_declared_dependencies_and_leave_spark_alone():
    text = (ROOT / "pyproject.toml").read_text()
    declared = {re.split(r"[\[<>=!~ ]", d, maxsplit=1)[0].lower()
                for d in re.findall(r'^\s*"([A-Za-z0-9_.\-\[\]]+[^"]*)",', text, flags=re.M)}
    for task in _tasks(_bundle()):
        for lib in task.get("libraries", []):
            assert set(lib) == {"pypi"}, "no wheel of cslake: it would bring its own pyspark"
            name = re.split(r"[\[<>=!~ ]", lib["pypi"]["package"], maxsplit=1)[0].lower()
            assert name in declared and name not in {"pyspark", "pysail", "delta-spark"}, name


def test_synced_tree_finds_its_conf_without_an_install(tmp_path):
    """The workspace files a bundle deploys (lib/, jobs/, conf/ side by side) are enough:
    jobs/_bootstrap.py puts lib/ first and cslake reads conf/ beside it."""
    ws = tmp_path / "files"
    for name in ("lib", "jobs", "conf"):
        shutil.copytree(ROOT / name, ws / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "_data"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSLAKE_") and k != "PYTHONPATH"}
    code = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); import _bootstrap, cslake, cslake.config as c;"
            "print(cslake.__file__); print(c.conf_dir())")
    out = subprocess.run([sys.executable, "-c", code, str(ws / "jobs")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(ws / "lib" / "cslake" / "__init__.py"), str(ws / "conf")]
