"""The stages of the lake in order, as one call each, for `cslake demo` and the jobs.

Each stage reads what the previous one wrote; each is safe to re-run (idempotent):
generate → land → silver → linkage → gold → packs.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console


@contextmanager
def _stage(console: Console, title: str, timings: dict):
    console.rule(title)
    t0 = time.perf_counter()
    yield
    timings[title] = time.perf_counter() - t0
    console.print(f"   [dim]{timings[title]:.1f} s[/dim]")


def ensure_demo_key(lake_root: Path, console: Console) -> None:
    """A throwaway pseudonymisation key for a demo lake, kept outside it; real runs bring their own."""
    from cslake.pseudo import demo_key_file

    if not (os.environ.get("CSLAKE_HASH_KEY") or os.environ.get("CSLAKE_HASH_KEY_FILE")):
        os.environ["CSLAKE_HASH_KEY_FILE"] = str(demo_key_file(lake_root))
        console.print(f"   no key configured: a demo key file outside the lake ({os.environ['CSLAKE_HASH_KEY_FILE']})")


def run_demo(region: str, years: list[int], scale: float, workdir: Path, console: Console | None = None) -> dict:
    from cslake.engine import get_spark
    from cslake.lake import Lake, print_status
    from cslake.synth.generate import generate_region

    console = console or Console(stderr=True)
    raw, lake_root, reports = workdir / "raw", workdir / "lake", workdir / "reports"
    timings: dict[str, float] = {}

    with _stage(console, f"1. generate a synthetic {region} region (scale {scale}, {years[0]}–{years[-1]})", timings):
        result = generate_region(region, years, scale=scale, out=raw)
        console.print(f"   {result.summary()}")

    with _stage(console, "2. start the embedded engine and land every file into bronze", timings):
        from cslake.land import land_raw

        lake = Lake(root=lake_root, spark=get_spark())
        console.print(f"   {land_raw(lake, raw).summary()}")

    with _stage(console, "3. conform, validate and pseudonymise into silver", timings):
        from cslake.reports.errors import write_error_report
        from cslake.silver.build import build_silver

        ensure_demo_key(lake_root, console)
        console.print(f"   {build_silver(lake).summary()}")
        first_la = sorted(r.la for r in lake.read_table("bronze.files").select("la").distinct().collect() if r.la)[0]
        rep = write_error_report(lake, first_la, reports / "errors")
        console.print(f"   error report for LA {first_la}: {rep.problems} problems → {rep.html_path}")

    with _stage(console, "4. link every child across years, LAs and collections", timings):
        from cslake.linkage.build import build_linkage
        from cslake.reports.linkage import linkage_report

        console.print(f"   {build_linkage(lake).summary()}")
        lq = linkage_report(lake, raw / "_truth")
        console.print(f"   against the generator's truth: precision {lq['precision']:.4f}, recall {lq['recall']:.4f} "
                      "(records with a valid UPN)")

    with _stage(console, "5. gold: indicators, disproportionality, … with disclosure control; data packs", timings):
        from cslake.gold.build import build_gold
        from cslake.publish.packs import publish_packs

        console.print(f"   {build_gold(lake, region=region).summary()}")
        # The demo shows a few LAs' packs (each pack is a page of charts); `cslake publish packs` does all.
        las = sorted(r.la for r in lake.read_table("bronze.files").select("la").distinct().collect() if r.la)[:3]
        packs = publish_packs(lake, reports / "packs", las=las)
        console.print(f"   data packs for the region and LAs {', '.join(las)} → {reports / 'packs'} "
                      f"({getattr(packs, 'charts', '?')} charts)")

    console.rule("the lake")
    print_status(lake)
    console.print(f"lake at [bold]{Path(lake.root).resolve()}[/bold]; try: "
                  f"cslake sql \"select * from gold.riia_indicators limit 5\" --lake {lake.root}")
    console.print("stage seconds: " + ", ".join(f"{k.split('.')[0]}: {v:.0f}" for k, v in timings.items()))
    return timings
