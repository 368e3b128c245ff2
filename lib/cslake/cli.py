"""The `cslake` command: one Typer command per entry of the registry in :mod:`cslake.stages`
(the stages, which are also the jobs in jobs/, and the tools), plus `cslake run <job>`.

Nothing here declares an option: each command's parameters, help and the function it calls
come from the registry, so `cslake build silver --force` and `jobs/silver.py --force` parse to
the same :class:`~cslake.stages.Call`.
"""

from __future__ import annotations

import inspect
import logging
import os
import runpy
import sys
from importlib import metadata
from typing import Any, Callable, Literal, Optional, Sequence

import typer
from typer.exceptions import TyperException

import cslake
from cslake import stages
from cslake.resources import jobs_dir as find_jobs_dir
from cslake.stages import COMMANDS, GROUPS, STAGES, Command, Option

app = typer.Typer(
    name="cslake",
    help="Children's-services returns → a safe, linked, analysable regional Delta lake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _show_version(value: bool) -> None:
    if value:
        print(f"cslake {version()}")
        raise typer.Exit()


def version() -> str:
    """The installed distribution's version (the package's own when run from a checkout)."""
    try:
        return metadata.version("cslake")
    except metadata.PackageNotFoundError:
        return cslake.__version__


@app.callback()
def _root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True,
                                help="-v: progress messages (INFO); -vv: debug logging. Default: warnings only."),
    debug: bool = typer.Option(False, "--debug", help="On an error, print the traceback as well as its one line.",
                               envvar=stages.DEBUG_ENV),
    show_version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                      help="Print cslake's version and exit."),
) -> None:
    """Quiet by default: each command prints its summary and any warnings."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format=stages.LOG_FORMAT, datefmt="%H:%M:%S", force=True)
    if verbose < 2:  # the engine's client and MLflow chatter at INFO: only with -vv
        for noisy in ("py4j", "pyspark", "mlflow", "alembic", "urllib3", "matplotlib"):
            logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
        # MLflow sets its own handler and level when imported (later, lazily): tell it through its setting
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    if debug:
        os.environ[stages.DEBUG_ENV] = "1"


def _annotation(opt: Option) -> Any:
    kind: Any = Literal[opt.choices] if opt.choices else opt.type
    if opt.repeatable:
        kind = list[kind]
    return Optional[kind] if opt.default is None else kind


def _parameter(opt: Option) -> inspect.Parameter:
    """The Typer parameter for a registry option: an Argument or an Option, with its help and default."""
    if opt.positional:
        info = typer.Argument(opt.default, help=opt.help, metavar=opt.metavar)
    else:
        decls = opt.spellings
        if opt.type is bool and opt.negatable:
            decls = tuple(f"{d}/--no-{d[2:]}" for d in decls)
        elif opt.type is bool and opt.default:  # a flag that turns it off (--no-register): click's " /off"
            decls = tuple(f" /{d}" for d in decls)
        # A one-way flag (--no-register, --force) shows no default: its name says what it does.
        info = typer.Option(opt.default, *decls, help=opt.help, envvar=opt.envvar, metavar=opt.metavar,
                            show_default=not (opt.type is bool and not opt.negatable))
    return inspect.Parameter(opt.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=_annotation(opt))


def _callback(command: Command) -> Callable[..., None]:
    """A function whose signature Typer reads as the command's parameters; it runs the registry's call."""

    def callback(**values: Any) -> None:
        stages.run(command.bind(values), prog=command.prog)

    params = [_parameter(o) for o in command.options]
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__annotations__ = {p.name: p.annotation for p in params}
    callback.__name__ = command.name
    callback.__doc__ = command.help
    return callback


def _build(root: typer.Typer) -> None:
    groups: dict[str, typer.Typer] = {}
    for command in COMMANDS:
        *parents, name = command.path
        parent = root
        for group in parents:  # one level today: build, report, jars
            if group not in groups:
                groups[group] = typer.Typer(help=GROUPS[group], no_args_is_help=True)
                root.add_typer(groups[group], name=group)
            parent = groups[group]
        parent.command(name=name, help=command.help)(_callback(command))


_build(app)


# No --help of its own: `cslake run land --help` is the job's help, not this command's.
@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def run(ctx: typer.Context, job: Optional[str] = typer.Argument(None, help="A job in jobs/ (e.g. land, silver, gold).")) -> None:
    """Run a job entry point from jobs/ exactly as spark-submit would (extra args, --help too, go to the job)."""
    if job in (None, "--help", "-h"):
        print(ctx.get_help())
        raise typer.Exit(0 if job else 2)
    jobs_dir = find_jobs_dir()  # the checkout's jobs/, or the installed package's copy
    path = jobs_dir / f"{job}.py"
    if job not in STAGES or not path.is_file():
        raise typer.BadParameter(f"no job {job!r} in {jobs_dir}; known: {', '.join(STAGES)}")
    sys.argv = [str(path), *ctx.args]
    sys.path.insert(0, str(jobs_dir))  # as `python jobs/x.py` would: the job's folder first
    runpy.run_path(str(path), run_name="__main__")


def main(argv: Sequence[str] | None = None) -> int:
    """The `cslake` program: the app, with click's usage errors as one plain line (exit 2) instead of
    a usage box. User errors inside a command are one line too (:func:`cslake.stages.run`)."""
    try:
        rv = app(args=list(argv) if argv is not None else None, prog_name="cslake", standalone_mode=False)
    except typer.Abort:
        print("cslake: aborted", file=sys.stderr)
        return 130
    except TyperException as exc:  # click's errors, as typer vendors them (UsageError, NoSuchOption, ...)
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            print(ctx.get_help() if ctx else "", file=sys.stderr)
            return stages.USAGE
        path = ctx.command_path if ctx else "cslake"
        print(f"{path}: {exc.format_message()} (see `{path} --help`)", file=sys.stderr)  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", stages.USAGE))
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
