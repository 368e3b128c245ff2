"""The `cslake` command answers a user's mistake in one plain line and a documented exit code
(cslake.stages.EXIT_CODES: 2 usage, 3 configuration or environment, 4 bad input data, 1 internal
error), with no traceback unless --debug. Each mistake of issue 15's acceptance is made here the
way a new user would make it: the real program in a subprocess, on a real (tiny) lake."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from cslake import catalog
from cslake.lake import Lake
from cslake.stages import CONFIG, DATA, INTERNAL, USAGE

SCRUBBED = ("CSLAKE_HASH_KEY", "CSLAKE_HASH_KEY_FILE", "CSLAKE_LAKE", "CSLAKE_DEBUG", "CSLAKE_PG_DSN",
            "CSLAKE_PG_DSN_FILE", "SPARK_REMOTE", "CSLAKE_ENGINE")


def cslake(*args: str, cwd: Path, env: dict[str, str] | None = None, prefix: list[str] | None = None,
           timeout: int = 300) -> subprocess.CompletedProcess:
    """`cslake ARGS` as a user runs it, in a clean environment (no key, no lake configured)."""
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    base["MLFLOW_TRACKING_URI"] = f"sqlite:///{cwd / 'mlflow.db'}"
    base.update(env or {})
    return subprocess.run([*(prefix or []), sys.executable, "-m", "cslake.cli", *args], cwd=cwd, env=base,
                          capture_output=True, text=True, timeout=timeout)


def one_line(res: subprocess.CompletedProcess, code: int, prog: str, *fragments: str) -> str:
    """The run failed with ``code`` and said so in exactly one line on stderr, naming the command."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == code, (res.returncode, res.stderr[-3000:])
    assert "Traceback" not in res.stderr and "╭" not in res.stderr, res.stderr[-3000:]
    assert len(lines) == 1, res.stderr[-3000:]
    line = lines[0]
    assert line.startswith(f"{prog}: "), line
    for f in fragments:
        assert f.lower() in line.lower(), (f, line)
    return line


def _delta(lake: Lake, table: str, data: dict) -> None:
    from deltalake import write_deltalake

    write_deltalake(lake.path(table), pa.table(data), mode="overwrite")


@pytest.fixture(scope="module")
def tiny_lake(tmp_path_factory) -> Path:
    """A lake with two tables written by delta-rs: a gold table to query and two years of CIN journeys."""
    root = tmp_path_factory.mktemp("cli") / "lake"
    lake = Lake(root)
    _delta(lake, catalog.gold.riia_indicators, {"geog_code": ["201", "202"], "period": ["2024-25 Q1"] * 2})
    _delta(lake, catalog.silver.cin_journey, {"person_id": ["a", "b"], "year": pa.array([2024, 2025], pa.int32())})
    return root


# -- the ten mistakes of the acceptance, one test each ----------------------------------------

def test_missing_key(tiny_lake, tmp_path):
    res = cslake("build", "silver", "--lake", str(tiny_lake), cwd=tmp_path)
    one_line(res, CONFIG, "cslake build silver", "no pseudonymisation key", "CSLAKE_HASH_KEY")


def test_unknown_table(tiny_lake, tmp_path):
    res = cslake("sql", "select * from gold.no_such_table", "--lake", str(tiny_lake), cwd=tmp_path)
    one_line(res, USAGE, "cslake sql", "no_such_table")


def test_unknown_column(tiny_lake, tmp_path):
    res = cslake("sql", f"select no_such_column from {catalog.gold.riia_indicators}", "--lake", str(tiny_lake),
                 cwd=tmp_path)
    one_line(res, USAGE, "cslake sql", "no column no_such_column", "describe")


def test_missing_lake(tmp_path):
    res = cslake("status", "--lake", str(tmp_path / "no-lake-here"), cwd=tmp_path)
    one_line(res, CONFIG, "cslake status", f"no lake at {tmp_path / 'no-lake-here'}", "--lake")
    gold = cslake("build", "gold", "--lake", str(tmp_path / "no-lake-here"), cwd=tmp_path)
    one_line(gold, CONFIG, "cslake build gold", "no lake at")
    assert not (tmp_path / "no-lake-here").exists(), "a missing lake is reported, not created"


def test_empty_drop_zone(tmp_path):
    (tmp_path / "raw" / "202").mkdir(parents=True)
    res = cslake("land", str(tmp_path / "raw"), "--lake", str(tmp_path / "lake"), cwd=tmp_path)
    one_line(res, DATA, "cslake land", "holds no files", "<LA>/<collection>/<year>")
    missing = cslake("land", str(tmp_path / "no-raw"), "--lake", str(tmp_path / "lake"), cwd=tmp_path)
    one_line(missing, DATA, "cslake land", "no raw drop zone at")
    assert not (tmp_path / "lake").exists(), "nothing is written for an empty drop zone"


def test_wrong_region(tmp_path):
    res = cslake("generate", "--region", "atlantis", "--out", str(tmp_path / "raw"), cwd=tmp_path)
    one_line(res, CONFIG, "cslake generate", "unknown region 'atlantis'", "london")
    assert not (tmp_path / "raw").exists()


def test_too_few_years(tiny_lake, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(tiny_lake, lake)  # train writes: a copy
    res = cslake("train", "early-warning", "--lake", str(lake), cwd=tmp_path)
    one_line(res, DATA, "cslake train", "needs at least 3 collection years", "has 2 (2024, 2025)")


def test_bad_years(tmp_path):
    for years in ("2025-2021", "twenty"):
        res = cslake("generate", "--years", years, "--out", str(tmp_path / "raw"), cwd=tmp_path)
        one_line(res, USAGE, "cslake generate", f"bad --years '{years}'", "2021-2025")
    assert not (tmp_path / "raw").exists()


def _read_only(path: Path) -> list[str] | None:
    """A command prefix under which ``path`` is read-only, even for root (a private read-only bind
    mount); None where this machine allows neither that nor permissions to do it."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        return []
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind -o ro "$0" "$0" && exec "$@"', str(path)]


def test_read_only_lake(tiny_lake, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(tiny_lake, lake)
    prefix = _read_only(lake)
    if prefix is None:
        pytest.skip("running as root without mount namespaces: cannot make a folder read-only here")
    res = cslake("build", "silver", "--lake", str(lake), cwd=tmp_path, prefix=prefix,
                 env={"CSLAKE_HASH_KEY": "a-test-key-that-is-long-enough-0123456789"})
    one_line(res, CONFIG, "cslake build silver", "read-only", "--lake")


def test_occupied_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = cslake("serve", "start", "--dir", str(tmp_path / "pg"), "--port", str(port), cwd=tmp_path)
    one_line(res, CONFIG, "cslake serve start", f"port {port} on 127.0.0.1 is already in use", "--port")
    assert not (tmp_path / "pg").exists(), "nothing is initialised on a busy port"


# -- the rest of the manners ---------------------------------------------------------------

def test_usage_error_is_one_line(tmp_path):
    res = cslake("build", "silver", "--no-such-option", cwd=tmp_path)
    one_line(res, USAGE, "cslake build silver", "no such option: --no-such-option", "--help")


def test_version(tmp_path):
    from cslake.cli import version

    res = cslake("--version", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == f"cslake {version()}"


def test_internal_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    from cslake import stages
    from cslake.cli import main

    def broken(**kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(stages, "target", lambda command: broken)
    monkeypatch.setenv(stages.DEBUG_ENV, "0")  # recorded, so --debug's setting is undone after the test
    with pytest.raises(SystemExit) as exc:
        main(["status"])
    assert exc.value.code == INTERNAL
    err = capsys.readouterr().err
    assert err.splitlines() == ["cslake status: internal error: KeyError: 'a bug' (run again with --debug for "
                                "the traceback, and report it)"]
    with pytest.raises(SystemExit):
        main(["--debug", "status"])
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].startswith("cslake status: internal error: KeyError")


def test_run_passes_help_to_the_job(tmp_path):
    res = cslake("run", "land", "--help", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("usage: land.py")


def test_promote_takes_the_model_names_of_train_and_score(tmp_path):
    res = cslake("promote", "early-warning", "3", cwd=tmp_path)
    one_line(res, USAGE, "cslake promote", "cslake_ew_rereferral, cslake_ew_escalation", "--task")
    res = cslake("promote", "fire-risk", cwd=tmp_path)
    one_line(res, CONFIG, "cslake promote", "no registered model cslake_fire_risk_area", "cslake train fire-risk")


def test_score_prints_a_summary_not_a_dict():
    from cslake.pipeline import score_summary

    fire = {"table": "gold.fire_risk_area", "version": 3, "rows": 4835, "year": 2025, "model_version": 2,
            "bands": {"high": 500, "low": 4335}, "referrals": {"table": "t", "people": 120}}
    text = score_summary("fire-risk", "champion", fire)
    assert text.splitlines() == [
        "scored fire-risk with @champion into gold.fire_risk_area (version 3)",
        "  4,835 areas for 2025 (model version 2); bands: high 500, low 4,335",
        "  prevention referrals: 120 people into t"]
    ew = {"table": "x", "version": 1, "tasks": {"rereferral": {"rows": 1200, "flagged": 240, "model_version": 4}}}
    assert score_summary("early-warning", "champion", ew).splitlines()[1] == \
        "  rereferral: 1,200 open cases scored, 240 flagged (model version 4)"
    assert "{" not in text


def test_scoring_without_a_trained_model_says_to_train_one(tiny_lake, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(tiny_lake, lake)
    res = cslake("score", "fire-risk", "--lake", str(lake), cwd=tmp_path)
    one_line(res, CONFIG, "cslake score", "cslake_fire_risk_area", "cslake train fire-risk")


def test_train_all_refuses_one_models_algorithms(tmp_path):
    """`train all --algorithms` names one model's algorithms for two models: a usage error, given
    before any engine starts or lake is read (`all` itself is run by the engine parity build)."""
    res = cslake("train", "all", "--algorithms", "glm", "--lake", str(tmp_path / "lake"), cwd=tmp_path)
    one_line(res, USAGE, "cslake train", "--algorithms", "not all")
    assert not (tmp_path / "lake").exists()


def test_too_little_labelled_history_inside_training_is_a_data_error():
    from cslake.stages import explain

    err = explain(ValueError("only one labelled year (2024); a time-ordered split needs two"))
    assert err.exit_code == DATA and "land more collection years" in str(err)
