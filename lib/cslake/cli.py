"""The `cslake` command: one Typer command per entry of the registry in :mod:`cslake.stages`
(the stages, which are also the jobs in jobs/, and the tools), plus `cslake run <job>`.

Nothing here declares an option: each command's parameters, help and the function it calls
come from the registry, so `cslake build silver --force` and `jobs/silver.py --force` parse to
the same :class:`~cslake.stages.Call`.
"""

from __future__ import annotations

import inspect
import logging
import runpy
import sys
from typing import Any, Callable, Literal, Optional

import typer

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


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=stages.LOG_FORMAT,
                        datefmt="%H:%M:%S")


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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(ctx: typer.Context, job: str = typer.Argument(..., help="A job in jobs/ (e.g. land, silver, gold).")) -> None:
    """Run a job entry point from jobs/ exactly as spark-submit would (extra args are passed on)."""
    jobs_dir = find_jobs_dir()  # the checkout's jobs/, or the installed package's copy
    path = jobs_dir / f"{job}.py"
    if job not in STAGES or not path.is_file():
        raise typer.BadParameter(f"no job {job!r} in {jobs_dir}; known: {', '.join(STAGES)}")
    sys.argv = [str(path), *ctx.args]
    sys.path.insert(0, str(jobs_dir))  # as `python jobs/x.py` would: the job's folder first
    runpy.run_path(str(path), run_name="__main__")


if __name__ == "__main__":
    app()
