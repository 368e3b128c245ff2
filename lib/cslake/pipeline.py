"""The stages of the lake in order, as one call each, for `cslake demo` and the jobs.

Each stage reads what the previous one wrote; each is safe to re-run (idempotent).
Stages join this module as they are built: generate → land → silver → linkage → gold → models.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console


def run_demo(region: str, years: list[int], scale: float, workdir: Path, console: Console | None = None) -> None:
    from cslake.engine import get_spark
    from cslake.lake import Lake, print_status
    from cslake.synth.generate import generate_region

    console = console or Console(stderr=True)
    raw = workdir / "raw"
    lake_root = workdir / "lake"
    console.rule(f"1. generate a synthetic {region} region (scale {scale}, {years[0]}–{years[-1]})")
    result = generate_region(region, years, scale=scale, out=raw)
    console.print(f"   {result.summary()}")

    console.rule("2. start the embedded engine and land the returns")
    spark = get_spark()
    lake = Lake(root=lake_root, spark=spark)
    from cslake.land import land_raw

    report = land_raw(lake, raw)
    console.print(f"   {report.summary()}")

    console.rule("3. the lake")
    print_status(lake)
    console.print(f"lake at [bold]{lake.root.resolve()}[/bold]; query it with: cslake sql \"select * from bronze.files limit 5\" --lake {lake.root}")
