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

    console.rule("3. conform, validate and pseudonymise into silver")
    import os

    from cslake.pseudo import demo_key_file
    from cslake.silver.build import build_silver

    if not (os.environ.get("CSLAKE_HASH_KEY") or os.environ.get("CSLAKE_HASH_KEY_FILE")):
        # A throwaway key for this demo lake, kept outside it; real runs bring their own.
        os.environ["CSLAKE_HASH_KEY_FILE"] = str(demo_key_file(lake_root))
        console.print(f"   no key configured: using a demo key file outside the lake ({os.environ['CSLAKE_HASH_KEY_FILE']})")
    silver = build_silver(lake)
    console.print(f"   {silver.summary()}")
    from cslake.reports.errors import write_error_report

    first_la = sorted(r.la for r in lake.read_table("bronze.files").select("la").distinct().collect() if r.la)[0]
    rep = write_error_report(lake, first_la, workdir / "reports" / "errors")
    console.print(f"   error report for LA {first_la}: {rep.problems} problems → {rep.html_path}")

    console.rule("4. the lake")
    print_status(lake)
    console.print(f"lake at [bold]{Path(lake.root).resolve()}[/bold]; query it with: cslake sql \"select * from bronze.files limit 5\" --lake {lake.root}")
