"""The registry of cslake's commands, each declared once: its name, help, options and the
function it calls. Both entry surfaces are built from it:

- ``jobs/<stage>.py`` (spark-submit, ``python jobs/<stage>.py``, ``cslake run <stage>``): a
  few lines calling :func:`job_main`, which builds the job's argparse parser from here;
- ``cslake <command>`` (:mod:`cslake.cli`): one Typer command per entry, built from here.

Both parse their arguments into the same :class:`Call` and hand it to :func:`run`, which calls
the command's function in :mod:`cslake.pipeline` (the stage functions ``cslake demo`` runs too).
A *stage* (``job=True``) is a step of the lake with a job file; the other entries are
command-line tools (status, sql, reports, jars, promote, demo).

Every user mistake ends in one plain line on stderr, ``<prog>: <what was wrong>; <what to do>``,
and a documented exit code (:data:`EXIT_CODES`), with the traceback only when ``CSLAKE_DEBUG`` is
set (``cslake --debug``). A stage raises :class:`StageError` for the mistakes it checks itself;
:func:`explain` turns the known exceptions from deeper down (a missing key, a missing table, a
read-only lake, an SQL analysis error) into the same; anything else is an internal error (exit 1).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from cslake.progress import progress_line

#: An option's default that makes it required (a positional argument without default).
REQUIRED: Any = ...

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Where the commands' functions are (imported only when a command runs: see :func:`target`).
PIPELINE = "cslake.pipeline"


#: Exit codes, the same for every command and job (README "Exit codes").
INTERNAL, USAGE, CONFIG, DATA = 1, 2, 3, 4
EXIT_CODES = {
    0: "done",
    INTERNAL: "internal error (a bug: run again with --debug and report the traceback), or a check found a problem",
    USAGE: "usage: an unknown command or option, a bad value, an unknown table or column in a query",
    CONFIG: "configuration or environment: no key, no lake at the path, unknown region or LA, a lake that "
            "cannot be written, a port in use, no registered model, no database",
    DATA: "bad or insufficient input data: no drop zone or an empty one, too few years, an earlier stage not run",
}
#: Set (to anything but 0 or empty) to print the traceback of an error as well as its line.
DEBUG_ENV = "CSLAKE_DEBUG"


class StageError(Exception):
    """A user error: the surfaces print ``<prog>: <message>`` and exit with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Option:
    """One option of a command, as both the job's argparse and the Typer CLI offer it.

    ``type`` is ``str``, ``int``, ``float`` or ``bool`` (a flag: it sets ``not default``;
    ``negatable`` offers ``--x/--no-x``). Paths are ``str`` on every surface, so an
    ``s3a://`` URI reaches the stage as given.
    """

    name: str
    type: type = str
    default: Any = None
    help: str = ""
    flags: tuple[str, ...] = ()  # how it is spelt; default --<name-with-dashes>
    positional: bool = False
    choices: tuple[str, ...] = ()
    repeatable: bool = False  # --table A --table B -> ["A", "B"]
    negatable: bool = False
    metavar: str | None = None
    envvar: str | None = None  # the CLI reads it; the jobs leave it to the stage (Lake reads $CSLAKE_LAKE)

    @property
    def spellings(self) -> tuple[str, ...]:
        return self.flags or (f"--{self.name.replace('_', '-')}",)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def normalise(self, value: Any) -> Any:
        """The value both surfaces hand on: a repeatable option is a list or None, a flag a bool."""
        if self.repeatable:
            return list(value) if value else None
        if self.type is bool:
            return bool(value)
        return value


@dataclass(frozen=True)
class Call:
    """A parsed command line: which command, with which keyword arguments (every option's)."""

    command: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """A command: ``call`` names its function in :mod:`cslake.pipeline`, called with one keyword
    argument per option; ``cli`` is its place under ``cslake`` (default: its name)."""

    name: str
    help: str
    call: str
    options: tuple[Option, ...] = ()
    cli: tuple[str, ...] = ()
    job: bool = False  # a stage: jobs/<name>.py is its spark-submit entry point

    @property
    def path(self) -> tuple[str, ...]:
        return self.cli or (self.name,)

    @property
    def prog(self) -> str:
        return "cslake " + " ".join(self.path)

    def bind(self, values: Mapping[str, Any]) -> Call:
        """The :class:`Call` for parsed ``values`` (by option name; a missing one is its default)."""
        unknown = set(values) - {o.name for o in self.options}
        if unknown:
            raise TypeError(f"{self.name} has no option {', '.join(sorted(unknown))}")
        return Call(self.name, {o.name: o.normalise(values.get(o.name, o.default)) for o in self.options})


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------

LAKE = Option("lake", help="Lake root (default: $CSLAKE_LAKE or ./lake).", envvar="CSLAKE_LAKE")
MODEL = Option("model", default=REQUIRED, positional=True, choices=("fire-risk", "early-warning", "all"),
               help="fire-risk, early-warning, or all (each in turn, in one Spark application)")
FORMAT = Option("format", default="text", help="text or json.")

#: The publish stage's output folder for each thing it publishes, when --out is not given.
PUBLISH_OUT = {"packs": "reports/packs", "export": "exports", "research": "research", "register": "reports/register"}

#: Help of the CLI's command groups (``cslake build silver``, ``cslake report errors``, ...).
GROUPS = {
    "build": "Build a layer of the lake from the one below it.",
    "report": "Reports: errors per LA, silver completeness, linkage quality, parity of two lakes.",
    "jars": "Delta's jars for Apache Spark (classic, spark-submit, a cluster, a Connect server).",
    "serve": "The serving database: gold in PostgreSQL for BI tools, with a role per way of sharing "
             "(connection from $CSLAKE_PG_DSN or $CSLAKE_PG_DSN_FILE).",
}

COMMANDS: tuple[Command, ...] = (
    # -- the stages, in the order they run; each is also jobs/<name>.py ------------------------
    Command("generate", "Generate a synthetic region's returns (every LA, every year) plus ground truth in "
            "OUT/_truth.", "generate", job=True, options=(
                Option("region", default="london",
                       help="Region key from conf/regions.yaml: an alliance (london, east_midlands) or a "
                            "group of LAs (england, north_west, …)."),
                Option("years", default="2021-2025",
                       help="Collection years, e.g. 2021-2025 (N = year ending 31 March N)."),
                Option("scale", float, 0.1, "1.0 ≈ the region's real annual volumes."),
                Option("seed", int, 42, "Same seed → byte-identical files."),
                Option("out", default="raw", help="Raw drop zone to write (emptied first if it was generated)."),
                Option("dirt", float, None, "Per-field fault rate (default conf/synth.yaml; 0 = clean)."),
                Option("file_dirt", float, None, "Per-file fault rate (default conf/synth.yaml)."),
                Option("workers", int, 0, "Worker processes (0 = one per core, at most 2)."),
                Option("only", help="Comma-separated collections to write (default: all)."),
                Option("las", help="Comma-separated DfE codes: only these of the region's LAs (default: all), "
                                   "e.g. 201,202,203 for a small Spark demo."))),
    Command("land", "Land the raw drop zone into bronze: every new file (idempotent: known files are skipped).",
            "land", job=True, options=(
                Option("raw", default="raw", positional=True, metavar="RAW",
                       help="The raw drop zone (raw/<LA>/<collection>/<year>/… or any layout; s3a:// too)."),
                LAKE,
                Option("accept", repeatable=True, metavar="PATH",
                       help="A held resubmission (as bronze.files and the error report name it) that replaces the "
                            "live file of its return (repeatable)."))),
    Command("silver", "Build silver from bronze: typed, validated, pseudonymised; failing rows to quarantine.rows. "
            "The key comes from $CSLAKE_HASH_KEY or the file named by $CSLAKE_HASH_KEY_FILE.",
            "silver", cli=("build", "silver"), job=True, options=(
                LAKE,
                Option("force", bool, False, "Rebuild every table even if its inputs are unchanged.", negatable=True),
                Option("full", bool, False, "Rebuild each changed table whole, not only the LAs whose live files "
                                            "changed (the default, incremental build)."))),
    Command("linkage", "Link silver records into persons: one pseudonymous person_id per child across years, LAs "
            "and collections (spine, persons, conflicts, journeys).", "linkage", cli=("build", "linkage"), job=True,
            options=(LAKE,
                     Option("full", bool, False, "Link every record again, not only those a silver change since the "
                                                 "last build can reach (the default, incremental build)."))),
    Command("gold", "Build gold from silver: restricted (unsuppressed) and published (DfE disclosure control) tables.",
            "gold", cli=("build", "gold"), job=True, options=(
                LAKE,
                Option("tables", help="Comma-separated gold tables (default: all in conf/gold.yaml)."),
                Option("region", help="Keep one alliance's regional rows, or the areas inside a group (a "
                                      "conf/regions.yaml key; default: every alliance and English region of the "
                                      "lake's LAs, England when all are there)."),
                Option("full", bool, False, "Build every table asked for, not only those whose inputs changed since "
                                            "their last build (the default, incremental build)."))),
    Command("refresh", "Land what is new in the drop zone, then build silver (incremental), linkage and gold, "
            "each only when something it reads changed.", "refresh", job=True, options=(
                Option("raw", default="raw", positional=True, metavar="RAW",
                       help="The raw drop zone (as for `cslake land`)."),
                LAKE,
                Option("full", bool, False, "Build silver, linkage and gold whole (as `cslake build silver --full`, "
                                            "`cslake build linkage --full` and `cslake build gold --full`)."))),
    Command("train", "Train a model on the lake's tables and register it in MLflow (champion/challenger by the "
            "promotion gate; MLFLOW_TRACKING_URI, default sqlite:///mlflow.db).", "train", job=True, options=(
                MODEL, LAKE,
                Option("algorithms", help="Comma-separated: glm,gbm (fire-risk) or gbm,logit (early-warning)."),
                Option("register", bool, True, "Log the runs but do not register or promote.",
                       flags=("--no-register",)))),
    Command("score", "Score with the model registered under an alias (default `champion`) and write its gold table.",
            "score", job=True, options=(
                MODEL, LAKE,
                Option("alias", default="champion", help="The registered model's alias to score with."),
                Option("year", int, None, "fire-risk: year of the area factors (default: the latest)."))),
    Command("publish", "Publish from published gold only: HTML data packs per LA and the region, Parquet/CSV "
            "exports for BI, the k-anonymous research extract, or the data register (from the catalog and conf/).",
            "publish", job=True, options=(
                Option("what", default=REQUIRED, positional=True, choices=tuple(PUBLISH_OUT),
                       help="packs, export, research or register (the data register: HTML + CSV)"),
                LAKE,
                Option("out", help="Output folder (default: " + ", ".join(f"{v} for {k}" for k, v in PUBLISH_OUT.items())
                       + "; research's is replaced)."),
                Option("las", flags=("--la", "--las"), help="packs: comma-separated DfE codes (default: every LA "
                                                            "and the region)."),
                Option("formats", default="parquet,csv", help="export: parquet and/or csv."),
                Option("k", int, None, "research: k-anonymity threshold (default conf/linkage.yaml)."))),
    Command("maintain", "OPTIMIZE and/or VACUUM the lake's Delta tables: Delta's SQL on Spark + Delta, "
            "delta-rs on Sail.", "maintain", job=True, options=(
                LAKE,
                Option("optimize", bool, False, "Compact small files (OPTIMIZE)."),
                Option("vacuum", bool, False, "Delete files no longer referenced (VACUUM)."),
                Option("retain_hours", int, 168, "VACUUM keeps files needed by versions newer than this; "
                                                 "time travel further back stops working."),
                Option("table", repeatable=True, metavar="TABLE", help="Only this table (repeatable)."))),
    Command("rotate_key", "Re-pseudonymise the lake under a new key, in one go: silver rebuilt whole from bronze, "
            "the linkage spine, the gold tables the lake has, and the score tables of keyed ids; the lake then records the "
            "new key. Run it with the NEW key in $CSLAKE_HASH_KEY or $CSLAKE_HASH_KEY_FILE; every other run refuses "
            "until it ends (run it again to finish one that stopped).", "rotate_key", cli=("rotate-key",), job=True,
            options=(
                LAKE,
                Option("old_key_file", metavar="FILE", help="File holding the lake's present key (proof that you "
                                                            "hold it; not needed to resume a rotation)."),
                Option("research", metavar="DIR", help="Also rebuild the research extract in DIR (its ids are "
                                                       "keyed too)."))),
    # -- command-line tools ------------------------------------------------------------------
    Command("status", "List the lake's tables with row counts and Delta versions (delta-rs only, no Spark); "
            "--history TABLE shows one table's commits, --as-of-version N its rows at version N (time travel).",
            "status", options=(
                LAKE,
                Option("history", metavar="TABLE", help="Show this table's Delta history (e.g. silver.cin_child)."),
                Option("as_of_version", int, None, "With --history: also the table as it was at version N.",
                       metavar="N"),
                Option("limit", int, 20, "Commits (and, with --as-of-version, rows) to show."),
                Option("spark", bool, False, "Read the history through the engine (DESCRIBE HISTORY on "
                                             "Spark + Delta) instead of delta-rs."))),
    Command("sql", "Query any table of the lake by name, e.g. cslake sql \"select la, count(*) from bronze.files "
            "group by la\"; time travel: \"select * from silver.cin_child VERSION AS OF 3\".", "sql", options=(
                Option("query", default=REQUIRED, positional=True,
                       help="A Spark SQL query; tables are registered by name."),
                LAKE,
                Option("limit", int, 50, "Rows to show."),
                Option("csv", help="Write the full result to this CSV instead."))),
    Command("report_errors", "Write the error report (CSV + HTML) an LA analyst can act on: file, row, column, "
            "value, rule, message.", "report_errors", cli=("report", "errors"), options=(
                Option("la", help="DfE code of the LA (default: every LA with files)."),
                Option("out", default="reports/errors", help="Folder for errors_<LA>.csv and .html."),
                LAKE)),
    Command("report_silver", "Completeness: every raw file in bronze.files; per file and table, bronze rows = "
            "silver + quarantined (exit 1 if not).", "report_silver", cli=("report", "silver"), options=(
                Option("raw", help="The drop zone, to check every file has a bronze.files row (and, for a "
                                   "generated region, fault recall)."),
                FORMAT, LAKE)),
    Command("report_linkage", "Linkage quality: match rates by collection pair, year, LA, age band; conflicts; "
            "precision/recall on generated data.", "report_linkage", cli=("report", "linkage"), options=(
                LAKE,
                Option("truth", help="A generated region's raw folder (or its _truth/) to measure precision "
                                     "and recall."),
                FORMAT)),
    Command("report_parity", "Compare two lakes cell for cell (run ids and timestamps aside); exit 1 if any "
            "table differs.", "report_parity", cli=("report", "parity"), options=(
                Option("lake_a", default=REQUIRED, positional=True, help="A lake root (e.g. built on embedded Sail)."),
                Option("lake_b", default=REQUIRED, positional=True,
                       help="Another lake root from the same drop zone (e.g. on Spark + Delta)."),
                Option("layers", help="Comma-separated layers to compare (default: all)."))),
    Command("jars_fetch", "Resolve Delta and hadoop-aws (conf/spark.yaml) with Maven into $CSLAKE_JARS "
            "(default ~/.cache/cslake/jars), once.", "jars_fetch", cli=("jars", "fetch"), options=(
                Option("force", bool, False, "Fetch again even if the folder is complete."),)),
    Command("jars_path", "Print the jars folder (for scripts).", "jars_path", cli=("jars", "path")),
    Command("jars_classpath", "Print the fetched jars comma-separated, for spark-submit --jars or spark.jars.",
            "jars_classpath", cli=("jars", "classpath")),
    Command("promote", "A reviewer's decision: point an alias at a registered version (e.g. promote a "
            "challenger); without VERSION, list the versions with their aliases and the gate's metrics.",
            "promote", options=(
                Option("model", default=REQUIRED, positional=True, metavar="MODEL",
                       help="fire-risk or early-warning, as train and score name them (a registered name such "
                            "as cslake_ew_rereferral works too)."),
                Option("version", int, None, "Version to point the alias at; omit to list the versions.",
                       positional=True),
                Option("task", choices=("rereferral", "escalation"),
                       help="early-warning: which of its two registered models (needed with VERSION)."),
                Option("alias", default="champion", help="Alias to set (scoring reads `champion`)."))),
    Command("serve_publish", "Load published gold into PostgreSQL (schema gold), and with --restricted the "
            "restricted tables (gold_restricted, row-level security per LA), with --research DIR the research "
            "extract: typed columns, keys, indexes, comments; only tables whose Delta version changed, swapped in "
            "atomically.", "serve_publish", cli=("serve", "publish"), options=(
                LAKE,
                Option("restricted", bool, False, "Also serve gold_restricted (each LA role sees its own LA's rows)."),
                Option("research", metavar="DIR", help="Also serve the research extract in DIR "
                                                       "(from `cslake publish research`)."),
                Option("force", bool, False, "Reload every table, changed or not."))),
    Command("serve_start", "Start a local PostgreSQL server on 127.0.0.1 for the serving database (initdb on "
            "first use); prints the CSLAKE_PG_DSN to export.", "serve_start", cli=("serve", "start"), options=(
                Option("dir", default=".cslake-pg", help="The server's data folder."),
                Option("port", int, 5433, "TCP port on 127.0.0.1."))),
    Command("serve_stop", "Stop the local PostgreSQL server started by `cslake serve start`.", "serve_stop",
            cli=("serve", "stop"), options=(Option("dir", default=".cslake-pg", help="The server's data folder."),)),
    Command("demo", "End to end on the embedded engine: synthetic region → raw drop zone → lake; prints where "
            "the tables are.", "demo", options=(
                Option("scale", float, 0.01, "Scale of the synthetic region (1.0 ≈ real volumes)."),
                Option("years", default="2023-2025", help="Collection years."),
                Option("region", default="london", help="Region key."),
                Option("workdir", default=".", help="Where raw/ and lake/ are written."))),
)

REGISTRY: dict[str, Command] = {c.name: c for c in COMMANDS}
#: The stages: the commands with a job file, by name (== the files in jobs/).
STAGES: dict[str, Command] = {c.name: c for c in COMMANDS if c.job}
assert len(REGISTRY) == len(COMMANDS), "command names are unique"


# ---------------------------------------------------------------------------
# Running a command, and the jobs' surface
# ---------------------------------------------------------------------------

def target(command: Command) -> Callable[..., Any]:
    """The function a command calls. cslake.pipeline imports every stage module (pyspark, pandas,
    scikit-learn: seconds), so it is imported here, when a command runs, and not at the top: the
    registry, `cslake --help` and a job's --help stay fast."""
    return getattr(importlib.import_module(PIPELINE), command.call)


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _sql_error(exc: BaseException) -> StageError | None:
    """An engine's analysis error (Sail or Spark wording) as a usage error naming the table or column."""
    text = str(exc)
    table = (re.search(r"table or view ([\w.`]+) cannot be found", text, re.S | re.I)  # Spark
             or re.search(r"TABLE_OR_VIEW_NOT_FOUND.*?not found: *([\w.`]+)", text, re.S))  # Sail
    if table:
        name = table.group(1).replace("`", "").rstrip(".")
        return StageError(f"no table {name} in this lake; `cslake status` lists its tables "
                          "(name them layer.table)", USAGE)
    column = (re.search(r'Identifier\("([^"]+)"\)\]\) is missing from the schema', text)
              or re.search(r"UNRESOLVED_COLUMN.*?name `([^`]+)` cannot be resolved", text, re.S))
    if column:
        return StageError(f"no column {column.group(1)} in the query's tables; "
                          "`cslake sql \"describe TABLE\"` lists a table's columns", USAGE)
    return StageError(f"the query failed: {_first_line(text)}", USAGE)


def _os_error(exc: OSError) -> StageError | None:
    where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StageError(f"cannot write{where}: {exc.strerror or 'read-only'}; point --lake (or $CSLAKE_LAKE) "
                          "at a folder you can write, or fix its permissions", CONFIG)
    if exc.errno == errno.ENOSPC:
        return StageError(f"no space left on the device{where}; free some space or point --lake elsewhere", CONFIG)
    if exc.errno == errno.EADDRINUSE:
        return StageError(f"{exc.strerror}: choose another port", CONFIG)
    return None


def explain(exc: BaseException) -> StageError | None:
    """The one-line user error an exception raised under a command stands for; None when it is
    not a user's mistake (an internal error: a bug to report)."""
    if isinstance(exc, StageError):
        return exc
    kind = type(exc).__name__
    text = str(exc)
    if kind == "MissingHashKey":
        return StageError(text, CONFIG)
    if kind in ("ConfigError", "JarsMissingError", "TableSpecError"):
        return StageError(text, CONFIG)
    if kind == "TableNotFoundError":
        return StageError(f"{_first_line(text)}; run the stages before this one first "
                          "(land → build silver → build linkage → build gold; `cslake status` shows what is built)", DATA)
    if kind == "ValueError" and "labelled" in text:  # models.early_warning.time_split: too little history
        return StageError(f"{_first_line(text)}: land more collection years (early warning needs at least 3) "
                          "and rebuild silver and linkage", DATA)
    if kind == "AnalysisException" or "TABLE_OR_VIEW_NOT_FOUND" in text or "UNRESOLVED_COLUMN" in text:
        return _sql_error(exc)
    if isinstance(exc, OSError):
        return _os_error(exc)
    for marker, err in (("Read-only file system", errno.EROFS), ("Permission denied", errno.EACCES),
                        ("No space left on device", errno.ENOSPC)):
        if marker in text:  # the engine's own I/O error, as text from the server
            return _os_error(OSError(err, marker))
    return None


def run(call: Call, prog: str) -> None:
    """Call the command's function. A user mistake (:func:`explain`) becomes one line on stderr and
    its exit code; anything else one line and exit 1; the traceback too only when debugging."""
    try:
        with progress_line(prog):  # a transient status line on a terminal (cslake.progress)
            target(REGISTRY[call.command])(**call.kwargs)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 - every error ends in one line and a documented code
        err = explain(exc)
        if debugging():
            traceback.print_exc()
        if err is None:
            print(f"{prog}: internal error: {type(exc).__name__}: {_first_line(str(exc))} "
                  f"(run again with --debug for the traceback, and report it)", file=sys.stderr)
            raise SystemExit(INTERNAL) from None
        print(f"{prog}: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None


def _help(opt: Option) -> str:
    shown = opt.default not in (None, REQUIRED, False, True, "")
    return f"{opt.help} (default: {opt.default})" if shown and "default" not in opt.help else opt.help


def _add_argument(ap: argparse.ArgumentParser, opt: Option) -> None:
    kw: dict[str, Any] = {"help": _help(opt)}
    if opt.choices:
        kw["choices"] = opt.choices
    elif opt.type is not bool:
        kw["type"] = opt.type
    if opt.metavar:
        kw["metavar"] = opt.metavar
    if opt.positional:
        if not opt.required:
            kw.update(nargs="?", default=opt.default)
        ap.add_argument(opt.name, **kw)
        return
    if opt.type is bool:
        kw["action"] = argparse.BooleanOptionalAction if opt.negatable else (
            "store_false" if opt.default else "store_true")
    elif opt.repeatable:
        kw["action"] = "append"
    ap.add_argument(*opt.spellings, dest=opt.name, default=opt.default, **kw)


def job_parser(name: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The argparse parser of ``jobs/<name>.py``, from the registry."""
    command = STAGES[name]
    ap = argparse.ArgumentParser(prog=prog, description=command.help,
                                 epilog=f"The same as `{command.prog}`; `cslake run {name}` runs this file.")
    for opt in command.options:
        _add_argument(ap, opt)
    return ap


def parse_job(name: str, argv: Sequence[str] | None = None, prog: str | None = None) -> Call:
    """What ``jobs/<name>.py ARGS`` calls (argparse's usage error, exit 2, on a bad argument)."""
    return STAGES[name].bind(vars(job_parser(name, prog).parse_args(argv)))


def job_main(name: str, argv: Sequence[str] | None = None) -> None:
    """A job file's whole body: parse its arguments, log at INFO, run the stage."""
    call = parse_job(name, argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    run(call, prog=f"jobs/{name}.py")
