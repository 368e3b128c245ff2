"""The `cslake` command: generate a synthetic region, land returns, build and query the lake."""

from __future__ import annotations

import logging
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="cslake",
    help="Children's-services returns → a safe, linked, analysable regional Delta lake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console(stderr=True)

LakeOpt = typer.Option(None, "--lake", help="Lake root (default: $CSLAKE_LAKE or ./lake).", envvar="CSLAKE_LAKE")


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    _logging(verbose)


@app.command()
def generate(
    region: str = typer.Option("london", help="Region key from conf/regions.yaml (london, east_midlands)."),
    years: str = typer.Option("2021-2025", help="Collection years, e.g. 2021-2025 (N = year ending 31 March N)."),
    scale: float = typer.Option(0.1, help="1.0 ≈ the region's real annual volumes."),
    seed: int = typer.Option(42, help="Same seed → byte-identical files."),
    out: Path = typer.Option(Path("raw"), help="Raw drop zone to write (emptied first if it was generated)."),
    dirt: Optional[float] = typer.Option(None, help="Per-field fault rate (default conf/synth.yaml; 0 = clean)."),
    file_dirt: Optional[float] = typer.Option(None, help="Per-file fault rate (default conf/synth.yaml)."),
    workers: int = typer.Option(0, help="Worker processes (0 = one per core, at most 2)."),
    only: Optional[str] = typer.Option(None, help="Comma-separated collections to write (default: all)."),
    las: Optional[str] = typer.Option(None, help="Comma-separated DfE codes: only these of the region's LAs "
                                                  "(default: all), e.g. 201,202,203 for a small Spark demo."),
) -> None:
    """Generate a synthetic region's returns (every LA, every year) plus ground truth in OUT/_truth."""
    import dataclasses

    from cslake.config import parse_years
    from cslake.config import region as load_region
    from cslake.synth.generate import generate_region

    reg = load_region(region)
    if las:
        wanted = {c.strip() for c in las.split(",") if c.strip()}
        unknown = wanted - {la.dfe_code for la in reg.las}
        if unknown:
            console.print(f"[red]cslake generate:[/red] {', '.join(sorted(unknown))} not LAs of {region}")
            raise typer.Exit(2)
        reg = dataclasses.replace(reg, las=tuple(la for la in reg.las if la.dfe_code in wanted))
    result = generate_region(reg, parse_years(years), scale=scale, seed=seed, out=out,
                             dirt_rate=dirt, file_dirt_rate=file_dirt, workers=workers or None,
                             collections=only.split(",") if only else None)
    console.print(f"[green]generated[/green] {result.summary()}")
    for k, v in result.seconds.items():
        console.print(f"  {k:<28} {v:7.1f} s")


@app.command()
def status(lake: Optional[Path] = LakeOpt,
           history: Optional[str] = typer.Option(None, "--history", metavar="TABLE",
                                                 help="Show this table's Delta history (e.g. silver.cin_child)."),
           as_of_version: Optional[int] = typer.Option(None, "--as-of-version", metavar="N",
                                                       help="With --history: also the table as it was at version N."),
           limit: int = typer.Option(20, help="Commits (and, with --as-of-version, rows) to show."),
           spark: bool = typer.Option(False, "--spark", help="Read the history through the engine "
                                      "(DESCRIBE HISTORY on Spark + Delta) instead of delta-rs.")) -> None:
    """List the lake's tables with row counts and Delta versions (delta-rs only, no Spark);
    --history TABLE shows one table's commits, --as-of-version N its rows at version N (time travel)."""
    from cslake.lake import Lake, print_status

    if history is None:
        if as_of_version is not None:
            raise typer.BadParameter("--as-of-version needs --history TABLE")
        print_status(Lake(root=lake))
        return
    from cslake.delta import history as table_history, ops_for, print_history

    engine = None
    if spark or as_of_version is not None:
        from cslake.engine import get_spark

        engine = get_spark()
    lk = Lake(root=lake, spark=engine)
    commits = table_history(lk, history, limit=limit, spark=engine if spark else None)
    print_history(history, commits, ops_for(engine if spark else None).name, Console())
    if as_of_version is not None:
        df = lk.read_table(history, version=as_of_version)
        typer.echo(f"{history} at version {as_of_version}: {df.count():,} rows")
        typer.echo(df.limit(limit).toPandas().to_string(index=False))


@app.command()
def sql(query: str = typer.Argument(..., help="A Spark SQL query; tables are registered by name."),
        lake: Optional[Path] = LakeOpt,
        limit: int = typer.Option(50, help="Rows to show."),
        csv: Optional[Path] = typer.Option(None, help="Write the full result to this CSV instead.")) -> None:
    """Query any table of the lake, e.g. cslake sql "select la, count(*) from bronze.files group by la".

    Time travel: "select * from silver.cin_child VERSION AS OF 3" (Sail and Spark + Delta)."""
    from cslake.engine import get_spark
    from cslake.lake import Lake

    lk = Lake(root=lake, spark=get_spark())
    lk.register_all()
    df = lk.spark.sql(query)
    if csv:
        df.toPandas().to_csv(csv, index=False)
        console.print(f"wrote {csv}")
    else:
        pdf = df.limit(limit).toPandas()
        typer.echo(pdf.to_string(index=False))


@app.command()
def land(raw: Path = typer.Argument(Path("raw"), help="The raw drop zone (raw/<LA>/<collection>/<year>/… or any layout)."),
         lake: Optional[Path] = LakeOpt) -> None:
    """Land every new file of the drop zone into bronze (idempotent: known files are skipped)."""
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.land import land_raw

    report = land_raw(Lake(root=lake, spark=get_spark()), raw)
    console.print(f"[green]landed[/green] {report.summary()}")
    for path, reason in report.rejected:
        console.print(f"  [red]rejected[/red] {path}: {reason}")


build_app = typer.Typer(help="Build a layer of the lake from the one below it.", no_args_is_help=True)
app.add_typer(build_app, name="build")


@build_app.command("silver")
def build_silver_cmd(lake: Optional[Path] = LakeOpt,
                     force: bool = typer.Option(False, help="Rebuild every table even if its inputs are unchanged.")) -> None:
    """Bronze → silver: typed, validated, pseudonymised; failing rows to quarantine.rows."""
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.silver.build import build_silver

    report = build_silver(Lake(root=lake, spark=get_spark()), force=force)
    console.print(f"[green]silver[/green] {report.summary()}")


@build_app.command("gold")
def build_gold_cmd(lake: Optional[Path] = LakeOpt,
                   tables: Optional[str] = typer.Option(None, help="Comma-separated gold tables (default: all in conf/gold.yaml)."),
                   region: Optional[str] = typer.Option(None, help="Region key (default: from the lake's LAs).")) -> None:
    """Silver → gold: restricted (unsuppressed) and published (DfE disclosure control) tables."""
    from cslake.engine import get_spark
    from cslake.gold.build import build_gold
    from cslake.lake import Lake

    report = build_gold(Lake(root=lake, spark=get_spark()), tables=tables.split(",") if tables else None, region=region)
    console.print(f"[green]gold[/green] {report.summary()}")


@build_app.command("linkage")
def build_linkage_cmd(lake: Optional[Path] = LakeOpt) -> None:
    """Silver → person spine: one pseudonymous person_id per child across years, LAs and collections."""
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.linkage.build import build_linkage

    report = build_linkage(Lake(root=lake, spark=get_spark()))
    console.print(f"[green]linkage[/green] {report.summary()}")


report_app = typer.Typer(help="Reports: errors per LA (more join as the lake grows).", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("errors")
def report_errors(la: Optional[str] = typer.Option(None, "--la", help="DfE code of the LA (default: every LA with files)."),
                  out: Path = typer.Option(Path("reports/errors"), help="Folder for errors_<LA>.csv and .html."),
                  lake: Optional[Path] = LakeOpt) -> None:
    """Write the error report (CSV + HTML) an LA analyst can act on: file, row, column, value, rule, message."""
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.reports.errors import write_error_report

    lk = Lake(root=lake, spark=get_spark())
    codes = [la] if la else sorted(r.la for r in lk.read_table("bronze.files").select("la").distinct().collect() if r.la)
    for code in codes:
        rep = write_error_report(lk, code, out)
        console.print(f"{rep.la}: {rep.problems} problems in {rep.files} files → {rep.html_path}")


@report_app.command("silver")
def report_silver(raw: Optional[Path] = typer.Option(None, help="The drop zone, to check every file has a bronze.files row "
                                                                "(and, for a generated region, fault recall)."),
                  format: str = typer.Option("text", "--format", help="text or json."),
                  lake: Optional[Path] = LakeOpt) -> None:
    """Completeness: every raw file in bronze.files; per file and table, bronze rows = silver + quarantined."""
    import json

    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.reports.silver import render_silver_report, silver_report

    rep = silver_report(Lake(root=lake, spark=get_spark()), raw)
    typer.echo(json.dumps(rep, indent=2, default=str) if format == "json" else render_silver_report(rep))
    if rep["files_unbalanced"] or rep.get("raw_files_without_ledger_row"):
        raise typer.Exit(1)


@report_app.command("linkage")
def report_linkage(lake: Optional[Path] = LakeOpt,
                   truth: Optional[Path] = typer.Option(None, help="A generated region's raw folder (or its _truth/) to measure precision and recall."),
                   format: str = typer.Option("text", "--format", help="text or json.")) -> None:
    """Linkage quality: match rates by collection pair, year, LA, age band; conflicts; precision/recall on generated data."""
    import json

    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.reports.linkage import linkage_report, render_linkage_report

    rep = linkage_report(Lake(root=lake, spark=get_spark()), truth)
    typer.echo(json.dumps(rep, indent=2, default=str) if format == "json" else render_linkage_report(rep))


@report_app.command("parity")
def report_parity(lake_a: Path = typer.Argument(..., help="A lake root (e.g. built on embedded Sail)."),
                  lake_b: Path = typer.Argument(..., help="Another lake root from the same drop zone (e.g. on Spark + Delta)."),
                  layers: Optional[str] = typer.Option(None, help="Comma-separated layers to compare (default: all).")) -> None:
    """Compare two lakes cell for cell (run ids and timestamps aside); exit 1 if any table differs."""
    from cslake.reports.parity import compare_lakes

    for root in (lake_a, lake_b):
        if not root.is_dir():
            console.print(f"[red]cslake report parity:[/red] no lake at {root}")
            raise typer.Exit(2)
    rep = compare_lakes(lake_a, lake_b, layers=tuple(layers.split(",")) if layers else None)
    typer.echo(rep.summary())
    raise typer.Exit(1 if rep.differing else 0)


jars_app = typer.Typer(help="Delta's jars for Apache Spark (classic, spark-submit, a cluster, a Connect server).",
                        no_args_is_help=True)
app.add_typer(jars_app, name="jars")


@jars_app.command("fetch")
def jars_fetch(force: bool = typer.Option(False, "--force", help="Fetch again even if the folder is complete.")) -> None:
    """Resolve Delta and hadoop-aws (conf/spark.yaml) with Maven into $CSLAKE_JARS (default ~/.cache/cslake/jars), once."""
    from cslake import jars
    from cslake.config import ConfigError

    try:
        dest = jars.fetch(force=force)
    except ConfigError as exc:
        console.print(f"[red]cslake jars fetch:[/red] {exc}")
        raise typer.Exit(3) from None
    found = jars.jar_paths(dest)
    console.print(f"{len(found)} jars in {dest} ({sum(p.stat().st_size for p in found) / 1e6:.0f} MB): "
                  + ", ".join(p.name for p in found if p.name.startswith(("delta-spark", "hadoop-aws"))))


@jars_app.command("path")
def jars_path() -> None:
    """Print the jars folder (for scripts: --jars "$(cslake jars classpath)")."""
    from cslake import jars

    print(jars.jars_dir())


@jars_app.command("classpath")
def jars_classpath() -> None:
    """Print the fetched jars comma-separated, for spark-submit --jars or spark.jars."""
    from cslake import jars
    from cslake.config import ConfigError

    try:
        print(jars.classpath())
    except ConfigError as exc:
        console.print(f"[red]cslake jars:[/red] {exc}")
        raise typer.Exit(3) from None


publish_app = typer.Typer(help="Outputs that leave the lake: data packs, BI exports, the research extract.", no_args_is_help=True)
app.add_typer(publish_app, name="publish")


@publish_app.command("packs")
def publish_packs_cmd(lake: Optional[Path] = LakeOpt, out: Path = typer.Option(Path("reports/packs"), help="Output folder."),
                      la: Optional[str] = typer.Option(None, help="Comma-separated LA codes (default: all + region).")) -> None:
    """One HTML data pack per LA plus the region (charts + the CSVs behind them), from published gold only."""
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.publish.packs import publish_packs

    rep = publish_packs(Lake(root=lake, spark=get_spark()), out, las=la.split(",") if la else None)
    console.print(f"[green]packs[/green] {rep}")


@publish_app.command("export")
def publish_export_cmd(lake: Optional[Path] = LakeOpt, out: Path = typer.Option(Path("exports"), help="Output folder."),
                       formats: str = typer.Option("parquet,csv", help="parquet and/or csv.")) -> None:
    """Published gold tables as Parquet and CSV, for BI tools that cannot read Delta."""
    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.publish.export import export_gold

    rep = export_gold(Lake(root=lake, spark=get_spark()), out, formats=tuple(formats.split(",")))
    console.print(f"[green]exported[/green] {rep}")


@publish_app.command("research")
def publish_research_cmd(lake: Optional[Path] = LakeOpt, out: Path = typer.Option(Path("research"), help="Output folder (replaced)."),
                         k: Optional[int] = typer.Option(None, help="k-anonymity threshold (default conf/linkage.yaml).")) -> None:
    """The pseudonymised, linked research extract with its k-anonymity check."""
    import json

    from cslake.engine import get_spark
    from cslake.lake import Lake
    from cslake.publish.research import publish_research

    rep = publish_research(Lake(root=lake, spark=get_spark()), out, k=k)
    typer.echo(json.dumps(rep, indent=2, default=str))


MODELS = {"fire-risk": "fire_risk", "early-warning": "early_warning"}


@app.command()
def train(model: str = typer.Argument(..., help="fire-risk or early-warning"), lake: Optional[Path] = LakeOpt) -> None:
    """Train a model on the lake's tables, tracked in MLflow (MLFLOW_TRACKING_URI, default sqlite:///mlflow.db)."""
    import cslake.models as models
    from cslake.engine import get_spark
    from cslake.lake import Lake

    if model not in MODELS:
        raise typer.BadParameter(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    result = getattr(models, f"train_{MODELS[model]}")(Lake(root=lake, spark=get_spark()))
    console.print(f"[green]trained[/green] {result.summary() if hasattr(result, 'summary') else result}")


@app.command()
def score(model: str = typer.Argument(..., help="fire-risk or early-warning"), lake: Optional[Path] = LakeOpt) -> None:
    """Score with the model registered under the `champion` alias and write its gold table."""
    import cslake.models as models
    from cslake.engine import get_spark
    from cslake.lake import Lake

    if model not in MODELS:
        raise typer.BadParameter(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    result = getattr(models, f"score_{MODELS[model]}")(Lake(root=lake, spark=get_spark()))
    console.print(f"[green]scored[/green] {result}")


@app.command()
def promote(
    model_name: str = typer.Argument(..., help="Registered model, e.g. cslake_fire_risk_area, cslake_ew_rereferral."),
    version: Optional[int] = typer.Argument(None, help="Version to point the alias at; omit to list the versions."),
    alias: str = typer.Option("champion", help="Alias to set (scoring reads `champion`)."),
) -> None:
    """A reviewer's decision: point an alias at a registered version (e.g. promote a challenger).

    Without VERSION, lists the versions with their aliases and the gate's metrics.
    """
    from cslake.models import tracking

    tracking.use_store()
    if version is not None:
        before = tracking.model_versions(model_name)
        if before.empty or version not in set(before.version):
            raise typer.BadParameter(f"{model_name} has no version {version} "
                                     f"(versions: {', '.join(map(str, before.version)) or 'none'})")
        tracking.promote_version(model_name, version, alias)
        console.print(f"[green]{model_name}@{alias}[/green] -> version {version}")
    console.print(tracking.model_versions(model_name).to_string(index=False))


@app.command()
def demo(
    scale: float = typer.Option(0.01, help="Scale of the synthetic region (1.0 ≈ real volumes)."),
    years: str = typer.Option("2023-2025", help="Collection years."),
    region: str = typer.Option("london", help="Region key."),
    workdir: Path = typer.Option(Path("."), help="Where raw/ and lake/ are written."),
) -> None:
    """End to end on the embedded engine: synthetic region → raw drop zone → lake; prints where the tables are."""
    from cslake.config import parse_years
    from cslake.pipeline import run_demo

    t0 = time.perf_counter()
    run_demo(region=region, years=parse_years(years), scale=scale, workdir=workdir, console=console)
    console.print(f"[green]demo finished[/green] in {time.perf_counter() - t0:.0f} s")


@app.command()
def maintain(lake: Optional[Path] = LakeOpt,
             optimize: bool = typer.Option(False, "--optimize", help="Compact small files (OPTIMIZE)."),
             vacuum: bool = typer.Option(False, "--vacuum", help="Delete files no longer referenced (VACUUM)."),
             retain_hours: int = typer.Option(168, "--retain-hours", help="VACUUM keeps files needed by versions "
                                              "newer than this; time travel further back stops working."),
             table: Optional[list[str]] = typer.Option(None, "--table", help="Only this table (repeatable).")) -> None:
    """OPTIMIZE and/or VACUUM the lake's tables: Delta's SQL on Spark + Delta, delta-rs on Sail."""
    from cslake.delta import maintain as run_maintenance, print_maintenance
    from cslake.engine import get_spark
    from cslake.lake import Lake

    if not (optimize or vacuum):
        raise typer.BadParameter("say what to do: --optimize and/or --vacuum")
    lk = Lake(root=lake, spark=get_spark())
    print_maintenance(run_maintenance(lk, list(table) if table else None, optimize=optimize, vacuum=vacuum,
                                      retain_hours=retain_hours), Console())


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(ctx: typer.Context, job: str = typer.Argument(..., help="A job in jobs/ (e.g. land, silver, gold).")) -> None:
    """Run a job entry point from jobs/ exactly as spark-submit would (extra args are passed on)."""
    from cslake.resources import job_names, jobs_dir as find_jobs

    jobs_dir = find_jobs()  # the checkout's jobs/, or the installed package's copy
    path = jobs_dir / f"{job}.py"
    if job.startswith("_") or not path.is_file():
        raise typer.BadParameter(f"no job {job!r} in {jobs_dir}; known: {', '.join(job_names())}")
    sys.argv = [str(path), *ctx.args]
    sys.path.insert(0, str(jobs_dir))  # as `python jobs/x.py` would: the job's folder first
    runpy.run_path(str(path), run_name="__main__")


if __name__ == "__main__":
    app()
