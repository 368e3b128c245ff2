"""Generate a synthetic region: one population, simulated over the years, written as every
LA's real returns into a raw drop zone, with the ground truth kept apart in `_truth/`.

    generate_region("london", [2021, ..., 2025], scale=0.1, seed=42, out=Path("raw"))

Work is spread over LAs in forked worker processes; each writer draws randomness from
streams keyed by what it writes, so the bytes do not depend on the number of workers.
"""

from __future__ import annotations

import importlib
import json
import logging
import multiprocessing as mp
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from cslake.config import Region, region as load_region
from cslake.synth.context import Dirt, GenContext
from cslake.synth.core import FaultLog, synth_conf
from cslake.synth.population import build_population

log = logging.getLogger(__name__)

TRUTH_DIR = "_truth"


def _resolve(ref: str) -> Callable:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class GenerateResult:
    out: Path
    files: list[Path] = field(default_factory=list)
    faults: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        by_coll = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return (f"{len(self.files)} files ({by_coll}), {self.faults} injected faults, "
                f"in {sum(self.seconds.values()):.1f} s → {self.out}")


# The context handed to forked workers (inherited through fork, never pickled).
_WORKER_CTX: GenContext | None = None
_WORKER_PLAN: list[tuple[str, str, int | None]] = []


def _write_la(la_code: str) -> tuple[list[str], list[dict], list[tuple], dict[str, float]]:
    ctx = _WORKER_CTX
    assert ctx is not None
    local = GenContext(pop=ctx.pop, out=ctx.out, seed=ctx.seed, years=ctx.years, dirt=ctx.dirt,
                       events=ctx.events, sen=ctx.sen)
    la = next(x for x in ctx.pop.region.las if x.dfe_code == la_code)
    paths: list[str] = []
    seconds: dict[str, float] = {}
    for collection, ref, from_year in _WORKER_PLAN:
        fn = _resolve(ref)
        t0 = time.perf_counter()
        for year in ctx.years:
            if from_year and year < from_year:
                continue
            for p in fn(local, la, year) or []:
                paths.append(str(p))
        seconds[collection] = time.perf_counter() - t0
    return paths, local.faults.rows, local.truth.rows, seconds


def generate_region(region: str | Region, years: list[int], scale: float = 0.1, seed: int = 42,
                    out: Path | str = "raw", dirt_rate: float | None = None,
                    file_dirt_rate: float | None = None, workers: int | None = None,
                    collections: list[str] | None = None, progress: bool = True,
                    clean: bool = True) -> GenerateResult:
    """Write every return of every LA of `region` for `years` into `out`.

    `collections` limits the writers (default: all in conf/synth.yaml); `clean` empties
    `out` first so that a re-run gives exactly the same tree.
    """
    global _WORKER_CTX, _WORKER_PLAN
    reg = load_region(region) if isinstance(region, str) else region
    conf = synth_conf()
    out = Path(out)
    if clean and out.exists():
        _empty_generated_tree(out)
    out.mkdir(parents=True, exist_ok=True)
    dirt = Dirt(rate=conf["dirt"]["rate"] if dirt_rate is None else dirt_rate,
                file_rate=conf["dirt"]["file_rate"] if file_dirt_rate is None else file_dirt_rate)
    result = GenerateResult(out=out)

    t0 = time.perf_counter()
    pop = build_population(reg, years, scale, seed)
    result.seconds["population"] = time.perf_counter() - t0
    log.info("population: %d people, %d residence spells (%.1f s)", len(pop.people), len(pop.residence),
             result.seconds["population"])

    ctx = GenContext(pop=pop, out=out, seed=seed, years=list(years), dirt=dirt)
    for attr, ref in conf["simulations"].items():
        t0 = time.perf_counter()
        setattr(ctx, attr, _resolve(ref)(pop, seed, list(years)))
        result.seconds[f"simulate_{attr}"] = time.perf_counter() - t0
        log.info("simulated %s (%.1f s)", attr, result.seconds[f"simulate_{attr}"])

    wanted = collections or list(conf["writers"])
    unknown = set(wanted) - set(conf["writers"])
    if unknown:
        raise ValueError(f"unknown collections {sorted(unknown)}; known: {sorted(conf['writers'])}")
    _WORKER_PLAN = [(c, conf["writers"][c]["function"], conf["writers"][c].get("from_year"))
                    for c in conf["writers"] if c in wanted]
    _WORKER_CTX = ctx

    workers = workers or min(2, os.cpu_count() or 1)
    la_codes = reg.la_codes
    t0 = time.perf_counter()
    results: dict[str, tuple] = {}
    with _progress(progress, len(la_codes)) as advance:
        if workers > 1 and len(la_codes) > 1:
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
                futures = {pool.submit(_write_la, code): code for code in la_codes}
                for fut in as_completed(futures):
                    results[futures[fut]] = fut.result()
                    advance(futures[fut])
        else:
            for code in la_codes:
                results[code] = _write_la(code)
                advance(code)
    result.seconds["write_returns"] = time.perf_counter() - t0

    for code in la_codes:  # merge in LA order: the manifest does not depend on scheduling
        paths, faults, truth, secs = results[code]
        result.files.extend(Path(p) for p in paths)
        ctx.faults.rows.extend(faults)
        ctx.truth.rows.extend(truth)
        for k, v in secs.items():
            result.seconds[f"write_{k}"] = result.seconds.get(f"write_{k}", 0.0) + v
    result.seconds.pop("write_returns")

    for collection in wanted:
        after = conf["writers"][collection].get("after")
        if after:
            _resolve(after)(out)

    t0 = time.perf_counter()
    result.files.extend(Path(p) for p in (_resolve(conf["context_writer"])(ctx) or []))
    result.seconds["write_context"] = time.perf_counter() - t0

    _write_truth(ctx, reg, years, scale, seed, dirt)
    result.faults = len(ctx.faults.rows)
    for p in result.files:
        parts = Path(p).relative_to(out).parts
        key = parts[0] if parts[0] == "context" else (parts[1] if len(parts) > 2 else "other")
        result.counts[key] = result.counts.get(key, 0) + 1
    return result


def _write_truth(ctx: GenContext, reg: Region, years, scale, seed, dirt: Dirt) -> None:
    truth = ctx.out / TRUTH_DIR
    truth.mkdir(parents=True, exist_ok=True)
    people = ctx.pop.people.drop(columns=["risk", "sen", "deprivation"])
    people.to_csv(truth / "people.csv", index=False, date_format="%Y-%m-%d")
    ctx.pop.residence.to_csv(truth / "residence.csv", index=False, date_format="%Y-%m-%d")
    ctx.faults.write(truth / "faults.csv")
    ctx.truth.write(truth / "records.csv")
    if ctx.events is not None:
        events_dir = truth / "events"
        events_dir.mkdir(exist_ok=True)
        for name in ctx.events.__dataclass_fields__:
            df = getattr(ctx.events, name)
            _to_parquet(df, events_dir / f"{name}.parquet")
    meta = {"region": reg.key, "years": list(years), "scale": scale, "seed": seed,
            "dirt_rate": dirt.rate, "file_dirt_rate": dirt.file_rate,
            "people": int(len(ctx.pop.people)), "faults": len(ctx.faults.rows)}
    (truth / "generation.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _to_parquet(df: pd.DataFrame, path: Path) -> None:
    # Lists (factors, review dates) and mixed objects become JSON text: parquet stays simple.
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            sample = out[col].dropna().head(1).tolist()
            if sample and isinstance(sample[0], (list, tuple, dict)):
                out[col] = out[col].map(lambda v: json.dumps(v, default=str) if v is not None else None)
            elif sample and not isinstance(sample[0], str):
                out[col] = out[col].map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))
    out.to_parquet(path, index=False)


def _empty_generated_tree(out: Path) -> None:
    """Empty an earlier output. Refuse to wipe a folder that does not look generated."""
    entries = [p for p in out.iterdir()]
    if not entries:
        return
    if not (out / TRUTH_DIR / "generation.json").exists():
        raise FileExistsError(f"{out} is not empty and was not made by `cslake generate`; "
                              "choose an empty --out or remove it yourself")
    for p in entries:
        shutil.rmtree(p) if p.is_dir() else p.unlink()


class _progress:
    """A rich progress bar over LAs, or nothing when not wanted (tests, CI logs)."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda code: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self._bar = Progress(TextColumn("writing returns"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("LA {task.fields[la]}"), TimeElapsedColumn())
        self._bar.start()
        task = self._bar.add_task("las", total=self.total, la="")
        return lambda code: self._bar.update(task, advance=1, la=code)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False
