"""What every command does, one function each, called with the options declared in
:mod:`cslake.stages` (the jobs, the CLI and :func:`run_demo` all call these).

The stages run in order, each reading what the one before wrote and each safe to re-run:
generate → land → silver → linkage → gold → train → score → publish (maintain any time).
Each prints its outcome on stdout and returns its report; a user error is a
:class:`~cslake.stages.StageError` (one line and an exit code, no traceback).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from rich.console import Console
from rich.markup import escape

from cslake import catalog, jars as jars_mod, preflight
from cslake.config import ConfigError, region as load_region
from cslake.delta import history as table_history, maintain as run_maintenance, ops_for, print_history, print_maintenance
from cslake.engine import get_spark
from cslake.gold.build import build_gold
from cslake.gold.conf import gold_conf
from cslake.lake import Lake, print_status
from cslake.land import land_raw
from cslake.linkage import build_linkage
from cslake.models import score_early_warning, score_fire_risk, tracking, train_early_warning, train_fire_risk
from cslake.lock import lake_lock
from cslake.outputs import check_output_file, claim_output_dir, neutralise_frame, refuse_protected_path
from cslake.pseudo import begin_key_rotation, check_lake_key, demo_key_file, end_key_rotation, read_key_file
from cslake.publish.export import export_gold
from cslake.publish.packs import publish_packs
from cslake.publish.register import publish_register
from cslake.publish.research import publish_research
from cslake.query import check_read_only, run_query
from cslake.reports.errors import write_error_report
from cslake.reports.linkage import linkage_report, render_linkage_report
from cslake.reports.parity import compare_lakes
from cslake.reports.silver import render_silver_report, silver_report
from cslake.serve import serve_publish as serve_gold, start_local, stop_local
from cslake.silver import build_silver
from cslake.stages import PUBLISH_OUT, STAGES, StageError, target
from cslake.synth.generate import generate_region
from cslake.unfinished import check_finished

TRAIN = {"fire-risk": train_fire_risk, "early-warning": train_early_warning}
#: Distinct collection years early warning needs: two labelled years (train on the earlier, test on
#: the later), each followed by 12 months of outcome (models.early_warning.time_split).
EARLY_WARNING_YEARS = 3


def run_stage(name: str, **values: Any) -> Any:
    """Run a stage as its job does, with these options and the registry's defaults for the rest."""
    return target(STAGES[name])(**STAGES[name].bind(values).kwargs)


def _lake(root: str | None, *, write: bool = False, create: bool = False, finishing: str | None = None,
          whole: bool = True) -> Lake:
    """The lake on the engine, after checking (before the engine starts) that it exists, unless the
    command ``create``s it, and that a command that ``write``s can write there (cslake.preflight);
    and, when the command reads what silver or linkage wrote (``whole``), that neither stopped
    half-way (cslake.unfinished) but the stage the command is ``finishing``."""
    preflight.check_lake(_lake_root(root), write=write, create=create)
    if whole and not create:
        check_finished(_lake_root(root), finishing=finishing)
    return Lake(root=root, spark=get_spark())


def _lake_root(root: str | None) -> str:
    """The lake root a command will use, without starting an engine."""
    return str(Lake(root=root).root)


def _csv(text: str | None) -> list[str] | None:
    """``"a, b,"`` -> ``["a", "b"]``; nothing -> None (the stage's default)."""
    items = [t.strip() for t in text.split(",") if t.strip()] if text else []
    return items or None


def collection_years(lake: Lake, table: str) -> list[int]:
    """The distinct collection years (``year``) of a lake table, sorted."""
    return sorted(int(r.year) for r in lake.read_table(table).select("year").distinct().collect() if r.year)


def las_in_lake(lake: Lake) -> list[str]:
    """The DfE codes of the LAs with files in the lake, sorted."""
    return sorted(r.la for r in lake.read_table(catalog.bronze.files).select("la").distinct().collect() if r.la)


# ---------------------------------------------------------------------------
# The stages (jobs/<name>.py)
# ---------------------------------------------------------------------------

def generate(region: str, years: str, scale: float, seed: int, out: str, dirt: float | None,
             file_dirt: float | None, workers: int, only: str | None, las: str | None) -> Any:
    span = preflight.years_option(years)
    reg = load_region(region)
    if las:
        wanted = set(_csv(las) or ())
        unknown = wanted - {la.dfe_code for la in reg.las}
        if unknown:
            raise StageError(f"{', '.join(sorted(unknown))} not LAs of {region}")
        reg = dataclasses.replace(reg, las=tuple(la for la in reg.las if la.dfe_code in wanted))
    result = generate_region(reg, span, scale=scale, seed=seed, out=out, dirt_rate=dirt,
                             file_dirt_rate=file_dirt, workers=workers or None, collections=_csv(only))
    print(f"generated {result.summary()}")
    for k, v in result.seconds.items():
        print(f"  {k:<28} {v:7.1f} s")
    return result


def land(raw: str, lake: str | None, accept: list[str] | None = None) -> Any:
    preflight.check_drop_zone(raw)
    report = land_raw(_lake(lake, create=True), raw, accept=accept)  # holds the lake lock itself
    print(f"landed {report.summary()}")
    if report.rejected:  # each was logged as a warning as it was rejected
        print(f"  {len(report.rejected)} file(s) rejected: `cslake report errors` lists why, per LA")
    return report


def silver(lake: str | None, force: bool, full: bool = False) -> Any:
    preflight.check_lake(_lake_root(lake), write=True)  # before the lock, which would create the folder
    with lake_lock(_lake_root(lake), "cslake build silver"):
        check_lake_key(_lake_root(lake))  # one key per lake: another key refuses here
        report = build_silver(_lake(lake, write=True, whole=False), force=force, full=full)
    print(f"silver {report.summary()}")
    return report


def refresh(raw: str, lake: str | None, full: bool = False) -> dict[str, Any]:
    """land → silver and linkage (incremental unless ``full``) → gold, a stage skipped when nothing it
    reads changed: linkage when silver rebuilt nothing and the spine exists, gold when linkage did not
    run and gold exists. Returns each stage's report (None: skipped)."""
    out: dict[str, Any] = {"land": land(raw, lake)}
    out["silver"] = silver(lake, force=False, full=full)
    handle = _lake(lake)
    if out["silver"].tables or not handle.exists(catalog.silver.person_spine):
        out["linkage"] = linkage(lake, full=full)
    else:
        out["linkage"] = None
        print("linkage: skipped (silver unchanged)")
    if out["linkage"] is not None or not any(t.startswith("gold.") for t in handle.tables()):
        out["gold"] = gold(lake, tables=None, region=None, full=full)
    else:
        out["gold"] = None
        print("gold: skipped (linkage unchanged)")
    return out


def linkage(lake: str | None, full: bool = False) -> Any:
    preflight.check_lake(_lake_root(lake), write=True)  # before the lock, which would create the folder
    with lake_lock(_lake_root(lake), "cslake build linkage"):
        report = build_linkage(_lake(lake, write=True, finishing="linkage"), full=full)
    print(f"linkage {report.summary()}")
    return report


def gold(lake: str | None, tables: str | None, region: str | None, full: bool = False) -> Any:
    preflight.check_lake(_lake_root(lake), write=True)  # before the lock, which would create the folder
    with lake_lock(_lake_root(lake), "cslake build gold"):
        report = build_gold(_lake(lake, write=True), tables=_csv(tables), region=region, full=full)
    print(f"gold {report.summary()}")
    return report


def rotate_key(lake: str | None, old_key_file: str | None, research: str | None) -> dict[str, Any]:
    """Every keyed value of the lake rebuilt under the key in use (the new one), recorded only at the end.

    Bronze keeps what was landed, so silver is rebuilt whole from it (every table: each hashed
    column, the spine's record keys, and the person ids made from them), then linkage, then the
    gold tables the lake has (restricted tables hold person ids) and the score tables whose rows
    are keyed ids (:data:`KEYED_SCORES`): re-scored with the champions, or emptied when their
    scoring cannot write them. Models hold no ids (they learn from features), so they are kept. The research
    extract lives outside the lake: ``research`` names it to rebuild it too."""
    root = _lake_root(lake)
    preflight.check_lake(root, write=True)
    old_key = read_key_file(old_key_file, "--old-key-file") if old_key_file else None
    with lake_lock(root, "cslake rotate-key"):
        old, new = begin_key_rotation(root, old_key)
        print(f"rotating the lake's key: fingerprint {old} -> {new}")
        lk = _lake(lake, write=True, whole=False)  # rebuilds silver and linkage whole first
        out: dict[str, Any] = {"silver": build_silver(lk, force=True, full=True)}
        print(f"  silver {out['silver'].summary()}")
        out["linkage"] = build_linkage(lk, full=True)
        print(f"  linkage {out['linkage'].summary()}")
        # the gold tables this lake has (none: none built; build_gold given no tables would build all)
        present = [t for t in gold_conf()["tables"] if lk.exists(catalog.gold[t])]
        out["gold"] = build_gold(lk, tables=present, full=True) if present else None
        if out["gold"] is not None:
            print(f"  gold {out['gold'].summary()}")
        out["scores"] = rescore_after_rotation(lk)
        end_key_rotation(root)
    print(f"the lake's key is now fingerprint {new} (was {old})")
    if research:
        out["research"] = publish(what="research", lake=lake, out=research, las=None, formats="", k=None)
    return out


#: What scoring writes with keyed ids in its rows (person ids, partners' person hashes), and the
#: model whose scoring writes it again.
KEYED_SCORES = {catalog.gold_restricted.early_warning_scores: "early-warning",
                catalog.gold_restricted.fire_prevention_referrals: "fire-risk"}


def rescore_after_rotation(lk: Lake) -> dict[str, str]:
    """Every keyed score table the lake has scored again under the new key, or emptied when its
    model's scoring cannot write it (no champion, or no partner data to score): ids made with the
    old key must not outlive it. Returns what happened to each table."""
    scorers = {"early-warning": score_early_warning, "fire-risk": score_fire_risk}
    out = {}
    for table, model in KEYED_SCORES.items():
        if not lk.exists(table):
            continue
        before = lk.version(table)
        try:
            scorers[model](lk)
            why = None if lk.version(table) != before else "its scoring did not write it"
        except LookupError as exc:  # no champion (tracking.load_champion)
            why = str(exc)
        if why is None:
            out[table] = "re-scored"
        else:
            lk.write_pandas(lk.read_table(table).limit(0).toPandas(), table, mode="overwrite")
            out[table] = f"emptied ({why}): `cslake score {model}` writes it again"
        print(f"  {table} {out[table]}")
    return out


def train(model: str, lake: str | None, algorithms: str | None, register: bool) -> Any:
    if model == "all":  # every model in one engine session: one Spark application, not one per model
        if _csv(algorithms):
            raise StageError("--algorithms names one model's algorithms: give the model (fire-risk or "
                             "early-warning), not all")
        return {m: train(m, lake, None, register) for m in TRAIN}
    kwargs: dict[str, Any] = {"register": register}
    if _csv(algorithms):
        kwargs["algorithms"] = _csv(algorithms)
    lk = _lake(lake, write=True)
    if model == "early-warning":
        preflight.check_training_years(collection_years(lk, catalog.silver.cin_journey), EARLY_WARNING_YEARS, model)
    result = TRAIN[model](lk, **kwargs)
    print(f"trained {result.summary()}")
    forecast = getattr(result, "forecast", None)
    if forecast:
        print("LA forecast vs naive: " + ", ".join(f"{k} {v:.3f}" for k, v in forecast["metrics"].items()))
    return result


def score(model: str, lake: str | None, alias: str, year: int | None) -> Any:
    if model == "all":
        return {m: score(m, lake, alias, year) for m in TRAIN}
    lk = _lake(lake, write=True)
    try:
        if model == "fire-risk":
            result = score_fire_risk(lk, year=year, alias=alias)
        else:
            result = score_early_warning(lk, alias=alias)
    except LookupError as exc:  # no model under that alias (tracking.load_champion)
        raise StageError(f"{exc} (`cslake train {model}`, or `cslake promote {model}` lists the versions)", 3) from None
    print(score_summary(model, alias, result))
    return result


def score_summary(model: str, alias: str, result: dict) -> str:
    """A few lines saying what scoring wrote (the result dicts of the two models)."""
    lines = [f"scored {model} with @{alias} into {result.get('table')} (version {result.get('version')})"]
    if "tasks" in result:
        for task, t in result["tasks"].items():
            lines.append(f"  {task}: {t['rows']:,} open cases scored, {t['flagged']:,} flagged "
                         f"(model version {t['model_version']})")
    else:
        bands = ", ".join(f"{k} {v:,}" for k, v in sorted(result.get("bands", {}).items()))
        lines.append(f"  {result.get('rows', 0):,} areas for {result.get('year')} (model version "
                     f"{result.get('model_version')}); bands: {bands or 'none'}")
        if isinstance(result.get("referrals"), dict):
            ref = result["referrals"]
            lines.append(f"  prevention referrals: {ref.get('people', 0):,} people into {ref.get('table')}")
    return "\n".join(lines)


def publish(what: str, lake: str | None, out: str | None, las: str | None, formats: str, k: int | None) -> Any:
    out = out or PUBLISH_OUT[what]
    if what != "research":  # research builds a fresh folder and swaps it in (its own guard)
        claim_output_dir(out, _lake_root(lake), command=f"cslake publish {what}")
    if what == "packs":
        report = publish_packs(_lake(lake), out, las=_csv(las))
    elif what == "export":
        report = export_gold(_lake(lake), out, formats=tuple(_csv(formats) or ()))
    elif what == "register":  # from the catalog and conf/: no lake read
        report = publish_register(out)
    else:
        report = publish_research(_lake(lake), out, k=k)
        print(json.dumps(report, indent=2, default=str))
        return report
    print(report.summary())
    return report


def maintain(lake: str | None, optimize: bool, vacuum: bool, retain_hours: int, table: list[str] | None) -> Any:
    if not (optimize or vacuum):
        raise StageError("say what to do: --optimize and/or --vacuum")
    results = run_maintenance(_lake(lake, write=True, whole=False), table, optimize=optimize, vacuum=vacuum, retain_hours=retain_hours)
    print_maintenance(results, Console(markup=False))
    return results


# ---------------------------------------------------------------------------
# Command-line tools
# ---------------------------------------------------------------------------

def status(lake: str | None, history: str | None, as_of_version: int | None, limit: int, spark: bool) -> None:
    if history is None:
        if as_of_version is not None:
            raise StageError("--as-of-version needs --history TABLE")
        preflight.check_lake(_lake_root(lake))
        # delta-rs only: no engine starts; wide enough that long table names are not cut
        print_status(Lake(root=lake), Console(width=max(Console().width, 130), markup=False))
        return
    preflight.check_lake(_lake_root(lake))
    engine = get_spark() if spark or as_of_version is not None else None
    lk = Lake(root=lake, spark=engine)
    commits = table_history(lk, history, limit=limit, spark=engine if spark else None)
    print_history(history, commits, ops_for(engine if spark else None).name, Console(markup=False))
    if as_of_version is not None:
        df = lk.read_table(history, version=as_of_version)
        print(f"{history} at version {as_of_version}: {df.count():,} rows")
        print(df.limit(limit).toPandas().to_string(index=False))


def sql(query: str, lake: str | None, limit: int, csv: str | None) -> None:
    check_read_only(query)  # refused before any engine starts
    lk = _lake(lake)
    if csv:
        check_output_file(csv, lk.root)
    df = run_query(lk, query)
    if csv:
        neutralise_frame(df.toPandas()).to_csv(csv, index=False)
        print(f"wrote {csv}")
    else:
        print(df.limit(limit).toPandas().to_string(index=False))


def report_errors(la: str | None, out: str, lake: str | None) -> None:
    lk = _lake(lake)
    refuse_protected_path(out, lk.root)
    for code in [la] if la else las_in_lake(lk):
        rep = write_error_report(lk, code, out)
        print(f"{rep.la}: {rep.problems} problems in {rep.files} files → {rep.html_path}")


def report_silver(raw: str | None, format: str, lake: str | None) -> None:
    rep = silver_report(_lake(lake), raw)
    print(json.dumps(rep, indent=2, default=str) if format == "json" else render_silver_report(rep))
    missing = rep.get("raw_files_without_ledger_row") or 0
    if rep["files_unbalanced"] or missing:
        raise StageError(f"incomplete: {len(rep['files_unbalanced'])} file/table pair(s) unbalanced, "
                         f"{missing} raw file(s) without a {catalog.bronze.files} row", exit_code=1)


def report_linkage(lake: str | None, truth: str | None, format: str) -> None:
    rep = linkage_report(_lake(lake), truth)
    print(json.dumps(rep, indent=2, default=str) if format == "json" else render_linkage_report(rep))


def report_parity(lake_a: str, lake_b: str, layers: str | None) -> None:
    for root in (lake_a, lake_b):
        if not Path(root).is_dir():
            raise StageError(f"no lake at {root}")
    layer_list = _csv(layers)
    rep = compare_lakes(Path(lake_a), Path(lake_b), layers=tuple(layer_list) if layer_list else None)
    print(rep.summary())
    if rep.differing:
        raise StageError(f"{len(rep.differing)} table(s) differ", exit_code=1)


def jars_fetch(force: bool) -> None:
    try:
        dest = jars_mod.fetch(force=force)
    except ConfigError as exc:
        raise StageError(str(exc), exit_code=3) from None
    found = jars_mod.jar_paths(dest)
    print(f"{len(found)} jars in {dest} ({sum(p.stat().st_size for p in found) / 1e6:.0f} MB): "
          + ", ".join(p.name for p in found if p.name.startswith(("delta-spark", "hadoop-aws"))))


def jars_path() -> None:
    print(jars_mod.jars_dir())


def jars_classpath() -> None:
    try:
        print(jars_mod.classpath())
    except ConfigError as exc:
        raise StageError(str(exc), exit_code=3) from None


def serve_publish(lake: str | None, restricted: bool, research: str | None, force: bool) -> Any:
    report = serve_gold(_lake(lake), restricted=restricted, research=research, force=force)
    print(report.summary())
    return report


def serve_start(dir: str, port: int) -> None:
    server = start_local(Path(dir), port=port)
    print(f"PostgreSQL is listening on {server.host}:{server.port} (data in {server.data_dir}); to load gold:\n"
          f"  export CSLAKE_PG_DSN=\"{server.dsn}\"\n  cslake serve publish --restricted\n"
          f"stop it with: cslake serve stop --dir {dir}")


def serve_stop(dir: str) -> None:
    stop_local(Path(dir))
    print(f"stopped the PostgreSQL server in {dir} (if it was running)")


def registered_names(model: str, task: str | None = None) -> list[str]:
    """The MLflow registered model(s) behind a model's name as train and score take it
    (``fire-risk``, ``early-warning`` [``task``]); a registered name stands for itself."""
    # lazy: the model modules import scikit-learn (seconds); only promote needs their names
    from cslake.models.early_warning import MODEL_NAMES as EW_NAMES
    from cslake.models.fire_risk import MODEL_NAME as FIRE_NAME

    names = {"fire-risk": [FIRE_NAME], "early-warning": [EW_NAMES[t] for t in ([task] if task else EW_NAMES)]}
    return names.get(model, [model])


def registered_versions(name: str, model: str) -> Any:
    """``tracking.model_versions(name)``, or a configuration error saying how to get a model."""
    try:
        return tracking.model_versions(name)
    except Exception as exc:  # noqa: BLE001 - MLflow's "not found" has no narrower type
        hint = f"train it first (`cslake train {model}`)" if model in TRAIN else \
            "say fire-risk or early-warning (the names train and score take), or a registered model's name"
        raise StageError(f"no registered model {name} in {tracking.tracking_uri()}: {hint}", 3) from exc


def promote(model: str, version: int | None, task: str | None, alias: str) -> None:
    names = registered_names(model, task)
    tracking.use_store()
    if version is not None:
        if len(names) > 1:
            raise StageError(f"{model} registers {len(names)} models ({', '.join(names)}): say which with --task")
        before = registered_versions(names[0], model)
        if before.empty or version not in set(before.version):
            raise StageError(f"{names[0]} has no version {version} "
                             f"(versions: {', '.join(map(str, before.version)) or 'none'})", 3)
        tracking.promote_version(names[0], version, alias)
        print(f"{names[0]}@{alias} -> version {version}")
    for name in names:
        print(f"{name}:\n{registered_versions(name, model).to_string(index=False)}")


def demo(scale: float, years: str, region: str, workdir: str) -> dict[str, float]:
    t0 = time.perf_counter()
    timings = run_demo(region=region, years=years, scale=scale, workdir=Path(workdir))
    print(f"demo finished in {time.perf_counter() - t0:.0f} s")
    return timings


# ---------------------------------------------------------------------------
# The demo: the stages above in order, on a small region
# ---------------------------------------------------------------------------

@contextmanager
def _section(console: Console, title: str, timings: dict) -> Iterator[None]:
    console.rule(title)
    t0 = time.perf_counter()
    yield
    timings[title] = time.perf_counter() - t0
    console.print(f"   [dim]{timings[title]:.1f} s[/dim]")


def ensure_demo_key(lake_root: Path, console: Console) -> None:
    """A throwaway pseudonymisation key for a demo lake, kept outside it; real runs bring their own."""
    if not (os.environ.get("CSLAKE_HASH_KEY") or os.environ.get("CSLAKE_HASH_KEY_FILE")):
        os.environ["CSLAKE_HASH_KEY_FILE"] = str(demo_key_file(lake_root))
        console.print(f"   no key configured: a demo key file outside the lake "
                      f"({escape(os.environ['CSLAKE_HASH_KEY_FILE'])})")


def run_demo(region: str, years: str, scale: float, workdir: Path, console: Console | None = None) -> dict:
    """generate → land → silver (+ an LA's error report) → linkage (+ quality against the generator's
    truth) → gold → a few LAs' data packs, through the same stage functions as the jobs and the CLI."""
    console = console or Console(stderr=True)
    raw, lake_root, reports = workdir / "raw", str(workdir / "lake"), workdir / "reports"
    timings: dict[str, float] = {}

    span = preflight.years_option(years)
    with _section(console, f"1. generate a synthetic {region} region (scale {scale}, {span[0]}–{span[-1]})", timings):
        run_stage("generate", region=region, years=years, scale=scale, out=str(raw))
    with _section(console, "2. start the embedded engine and land every file into bronze", timings):
        run_stage("land", raw=str(raw), lake=lake_root)
    with _section(console, "3. conform, validate and pseudonymise into silver", timings):
        ensure_demo_key(Path(lake_root), console)
        run_stage("silver", lake=lake_root)
        lake = _lake(lake_root)
        first_la = las_in_lake(lake)[0]
        rep = write_error_report(lake, first_la, reports / "errors")
        console.print(f"   error report for LA {escape(str(first_la))}: {rep.problems} problems → "
                      f"{escape(str(rep.html_path))}")
    with _section(console, "4. link every child across years, LAs and collections", timings):
        run_stage("linkage", lake=lake_root)
        lq = linkage_report(lake, raw / "_truth")
        console.print(f"   against the generator's truth: precision {lq['precision']:.4f}, recall {lq['recall']:.4f} "
                      "(records with a valid UPN)")
    with _section(console, "5. gold: indicators, disproportionality, … with disclosure control; data packs", timings):
        run_stage("gold", lake=lake_root, region=region)
        # The demo shows a few LAs' packs (each pack is a page of charts); `cslake publish packs` does all.
        run_stage("publish", what="packs", lake=lake_root, out=str(reports / "packs"), las=",".join(las_in_lake(lake)[:3]))

    console.rule("the lake")
    print_status(lake, Console(markup=False, width=max(Console().width, 130)))  # table names uncut
    console.print("stage seconds: " + ", ".join(f"{k.split('.')[0]}: {v:.0f}" for k, v in timings.items()))
    console.rule("to continue")
    print(next_steps(Path(lake.root).resolve(), raw.resolve()))
    return timings


def next_steps(lake_root: Path, raw: Path) -> str:
    """The lines a newcomer pastes into their shell after the demo: the key and lake to use, and what to run."""
    key_file = os.environ.get("CSLAKE_HASH_KEY_FILE")
    key = (f"export CSLAKE_HASH_KEY_FILE={key_file}   # the demo's key: every later run on this lake needs it"
           if key_file and not os.environ.get("CSLAKE_HASH_KEY") else "# your CSLAKE_HASH_KEY stays set")
    return "\n".join([
        "Paste these lines to carry on with this lake:",
        f"  {key}",
        f"  export CSLAKE_LAKE={lake_root}",
        "  cslake status",
        f"  cslake report linkage --truth {raw}",
        f"  cslake sql \"select geog_code, period, indicator_id, number from {catalog.gold.riia_indicators} limit 5\"",
        "  cslake publish export          # Parquet + CSV in the DfE open-data layout, in ./exports",
        "  cslake serve publish --help    # load gold into PostgreSQL for BI tools",
    ])
