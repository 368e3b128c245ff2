"""One entry surface: the jobs in jobs/ and the `cslake` commands are built from the registry in
cslake.stages, and both parse the same arguments into the same call. No lake and no engine:
these tests call the parsers (the pipeline is not run), except for user errors that the stage
raises before it touches a lake."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from cslake import pipeline, stages
from cslake.cli import app
from cslake.stages import COMMANDS, REGISTRY, STAGES, Call, StageError, parse_job

ROOT = Path(__file__).resolve().parents[1]
JOB_FILES = {p.stem: p for p in (ROOT / "jobs").glob("*.py") if not p.stem.startswith("_")}


def _cli_tree() -> dict[tuple[str, ...], object]:
    """Every leaf command of `cslake`, by its path, as click sees it."""
    leaves: dict[tuple[str, ...], object] = {}

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, (*path, name))
        else:
            leaves[path] = cmd

    walk(typer.main.get_command(app), ())
    return leaves


@pytest.fixture
def cli_calls(monkeypatch):
    """Invoke `cslake ARGS` and return the Call the command handed to stages.run (nothing runs)."""
    seen: list[tuple[Call, str]] = []
    monkeypatch.setattr(stages, "run", lambda call, prog: seen.append((call, prog)))

    def invoke(argv: list[str]) -> Call:
        res = CliRunner().invoke(app, argv)
        assert res.exit_code == 0, res.output
        call, prog = seen.pop()
        assert prog == "cslake " + " ".join(REGISTRY[call.command].path)
        return call

    return invoke


# -- jobs/ is the registry's stages, each a thin entry point -------------------------------

def test_job_files_are_exactly_the_registry_stages():
    assert set(JOB_FILES) == set(STAGES)
    assert list(STAGES)[:5] == ["generate", "land", "silver", "linkage", "gold"]  # in the order they run


@pytest.mark.parametrize("name", sorted(JOB_FILES))
def test_job_file_is_a_thin_entry_point_for_its_own_stage(name):
    tree = ast.parse(JOB_FILES[name].read_text())
    body = tree.body[1:] if isinstance(tree.body[0], ast.Expr) else tree.body  # the docstring aside
    assert len(body) <= 4, f"jobs/{name}.py should only import and call job_main"
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "job_main"]
    assert [[a.value for a in c.args] for c in calls] == [[name]]
    assert not any(isinstance(n, ast.FunctionDef) for n in ast.walk(tree)), "no parser or logic in a job file"


def test_every_job_help_lists_its_registry_options():
    """`python jobs/<job>.py --help` (the file itself, as spark-submit runs it) offers every option."""
    for name, stage in STAGES.items():
        done = subprocess.run([sys.executable, str(JOB_FILES[name]), "--help"], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        text = " ".join(done.stdout.split())
        assert " ".join(stage.help.split()[:6]) in text
        for opt in stage.options:
            for spelling in ([] if opt.positional else opt.spellings):
                assert spelling in text, (name, spelling)
            for choice in opt.choices:
                assert choice in text, (name, choice)


# -- the CLI is the registry's commands ----------------------------------------------------

def test_every_cli_command_comes_from_the_registry():
    tree = _cli_tree()
    assert set(tree) == {c.path for c in COMMANDS} | {("run",)}
    for command in COMMANDS:
        click_cmd = tree[command.path]
        params = {p.name: p for p in click_cmd.params if p.name != "help"}
        assert set(params) == {o.name for o in command.options}, command.name
        for opt in command.options:
            p = params[opt.name]
            spelt = {*p.opts, *p.secondary_opts}
            assert opt.positional or set(opt.spellings) <= spelt, (command.name, opt.name, spelt)
            assert p.required == opt.required, (command.name, opt.name)
            if not opt.required and opt.type is not bool:
                assert p.default == opt.default, (command.name, opt.name)


def test_every_command_calls_a_pipeline_function_taking_exactly_its_options():
    for command in COMMANDS:
        fn = stages.target(command)
        assert list(inspect.signature(fn).parameters) == [o.name for o in command.options], command.name


# -- job and CLI parse the same arguments to the same call ---------------------------------

CASES = [
    # (stage, arguments, what the stage is called with besides the defaults)
    ("land", ["RAW", "--lake", "LAKE"], {"raw": "RAW", "lake": "LAKE"}),
    ("land", [], {"raw": "raw"}),
    ("land", ["s3a://bucket/raw", "--lake", "s3a://bucket/lake"], {"raw": "s3a://bucket/raw", "lake": "s3a://bucket/lake"}),
    ("silver", ["--lake", "LAKE", "--force"], {"lake": "LAKE", "force": True}),
    ("silver", ["--no-force"], {"force": False}),
    ("linkage", ["--lake", "LAKE"], {"lake": "LAKE"}),
    ("gold", ["--tables", "riia_indicators,workforce", "--region", "london"],
     {"tables": "riia_indicators,workforce", "region": "london"}),
    ("gold", ["--full"], {"full": True}),
    ("train", ["fire-risk", "--lake", "LAKE"], {"model": "fire-risk", "lake": "LAKE"}),
    ("train", ["early-warning", "--algorithms", "gbm", "--no-register"],
     {"model": "early-warning", "algorithms": "gbm", "register": False}),
    ("score", ["early-warning", "--lake", "LAKE"], {"model": "early-warning", "lake": "LAKE"}),
    ("score", ["fire-risk", "--year", "2024", "--alias", "challenger"],
     {"model": "fire-risk", "year": 2024, "alias": "challenger"}),
    ("publish", ["packs", "--las", "201,202"], {"what": "packs", "las": "201,202"}),
    ("publish", ["packs", "--la", "203"], {"what": "packs", "las": "203"}),
    ("publish", ["research", "--k", "5", "--out", "R"], {"what": "research", "k": 5, "out": "R"}),
    ("maintain", ["--optimize", "--vacuum", "--retain-hours", "0", "--table", "a.b", "--table", "c.d"],
     {"optimize": True, "vacuum": True, "retain_hours": 0, "table": ["a.b", "c.d"]}),
    ("generate", ["--scale", "0.02", "--years", "2023-2025", "--las", "201,202", "--file-dirt", "0"],
     {"scale": 0.02, "years": "2023-2025", "las": "201,202", "file_dirt": 0.0}),
]

DEFAULTS = {
    "generate": {"region": "london", "years": "2021-2025", "scale": 0.1, "seed": 42, "out": "raw", "dirt": None,
                 "file_dirt": None, "workers": 0, "only": None, "las": None},
    "land": {"raw": "raw", "lake": None, "accept": None},
    "silver": {"lake": None, "force": False, "full": False},
    "refresh": {"raw": "raw", "lake": None, "full": False},
    "linkage": {"lake": None, "full": False},
    "gold": {"lake": None, "tables": None, "region": None, "full": False},
    "train": {"lake": None, "algorithms": None, "register": True},
    "score": {"lake": None, "alias": "champion", "year": None},
    "publish": {"lake": None, "out": None, "las": None, "formats": "parquet,csv", "k": None},
    "maintain": {"lake": None, "optimize": False, "vacuum": False, "retain_hours": 168, "table": None},
    "rotate_key": {"lake": None, "old_key_file": None, "research": None},
}


def test_defaults_are_what_they_were():
    for name, defaults in DEFAULTS.items():
        assert {o.name: o.default for o in STAGES[name].options if not o.required} == defaults, name


@pytest.mark.parametrize("name,argv,expected", CASES, ids=[f"{c[0]}:{' '.join(c[1])}" for c in CASES])
def test_job_and_cli_parse_the_same_arguments_to_the_same_call(cli_calls, name, argv, expected):
    want = Call(name, {**DEFAULTS[name], **expected})
    assert parse_job(name, argv) == want
    assert cli_calls([*STAGES[name].path, *argv]) == want


def test_bad_arguments_are_usage_errors_on_both_surfaces(capsys):
    for name, argv in [("train", ["nope"]), ("score", []), ("maintain", ["--retain-hours", "x"]),
                       ("land", ["--no-such-option"])]:
        with pytest.raises(SystemExit) as exc:
            parse_job(name, argv)
        assert exc.value.code == 2
        res = CliRunner().invoke(app, [*STAGES[name].path, *argv])
        assert res.exit_code == 2, (name, argv, res.output)
    assert "invalid choice: 'nope'" in capsys.readouterr().err


# -- user errors: one plain line and the exit code, no traceback -----------------------------

def test_stage_error_is_one_line_and_its_exit_code_on_both_surfaces(tmp_path):
    job = subprocess.run([sys.executable, str(JOB_FILES["maintain"]), "--lake", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert job.returncode == 2
    assert job.stderr.strip().splitlines()[-1] == "jobs/maintain.py: say what to do: --optimize and/or --vacuum"
    assert "Traceback" not in job.stderr

    for argv, line in [(["maintain", "--lake", str(tmp_path)], "cslake maintain: say what to do: --optimize and/or --vacuum"),
                       (["generate", "--las", "999,201", "--out", str(tmp_path / "raw")],
                        "cslake generate: 999 not LAs of london"),
                       (["status", "--as-of-version", "3"], "cslake status: --as-of-version needs --history TABLE")]:
        res = CliRunner().invoke(app, argv)
        assert res.exit_code == 2, res.output
        assert res.output == line + "\n"  # no traceback, no usage box
        assert isinstance(res.exception, SystemExit)
    assert not (tmp_path / "raw").exists(), "an unknown LA is refused before anything is written"


def test_run_turns_a_stage_error_into_its_line_and_code(monkeypatch, capsys):
    def fails(**kwargs):
        raise StageError("3 table(s) differ", exit_code=1)

    monkeypatch.setattr(stages, "target", lambda command: fails)
    with pytest.raises(SystemExit) as exc:
        stages.run(Call("report_parity", {}), prog="cslake report parity")
    assert exc.value.code == 1
    assert capsys.readouterr().err == "cslake report parity: 3 table(s) differ\n"


# -- `cslake run <job>` ----------------------------------------------------------------------

def test_cslake_run_runs_the_job_file_and_knows_only_registry_jobs(monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    res = CliRunner().invoke(app, ["run", "land", "--", "--help"])
    assert res.exit_code == 0 and "Land the raw drop zone" in res.output
    unknown = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["run", "_bootstrap"])
    assert unknown.exit_code == 2
    assert "known: generate, land, silver, linkage, gold, refresh, train, score, publish, maintain, rotate_key" in unknown.output


# -- the demo runs the same stages, through the registry --------------------------------------

def test_run_demo_runs_the_registry_stages_in_order(monkeypatch, tmp_path):
    ran: list[Call] = []
    monkeypatch.setattr(pipeline, "target", lambda command: lambda **kw: ran.append(Call(command.name, kw)))
    fake_lake = SimpleNamespace(root=str(tmp_path / "lake"))
    monkeypatch.setattr(pipeline, "_lake", lambda root: fake_lake)
    monkeypatch.setattr(pipeline, "las_in_lake", lambda lake: ["201", "202", "203", "204"])
    monkeypatch.setattr(pipeline, "write_error_report",
                        lambda lake, la, out: SimpleNamespace(problems=0, html_path=out / f"errors_{la}.html"))
    monkeypatch.setattr(pipeline, "linkage_report", lambda lake, truth: {"precision": 1.0, "recall": 1.0})
    monkeypatch.setattr(pipeline, "print_status", lambda lake, console=None: None)
    monkeypatch.setenv("CSLAKE_HASH_KEY", "k" * 32)

    pipeline.run_demo(region="london", years="2024-2025", scale=0.01, workdir=tmp_path)
    lake, raw = str(tmp_path / "lake"), str(tmp_path / "raw")
    assert ran == [
        Call("generate", {**DEFAULTS["generate"], "years": "2024-2025", "scale": 0.01, "out": raw}),
        Call("land", {"raw": raw, "lake": lake, "accept": None}),
        Call("silver", {"lake": lake, "force": False, "full": False}),
        Call("linkage", {"lake": lake, "full": False}),
        Call("gold", {"lake": lake, "tables": None, "region": "london", "full": False}),
        Call("publish", {**DEFAULTS["publish"], "what": "packs", "lake": lake, "las": "201,202,203",
                         "out": str(tmp_path / "reports" / "packs")}),
    ]
