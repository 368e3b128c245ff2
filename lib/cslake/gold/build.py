"""The gold job: silver (+ person spine) → restricted aggregates → disclosure control → published.

    report = build_gold(lake)                  # every table in conf/gold.yaml
    report = build_gold(lake, ["riia_indicators"])
    print(report.summary())

Each table is aggregated in Spark, collected (gold tables are small aggregates),
written unsuppressed to ``gold_restricted.<table>``, passed through
``cslake.gold.suppression.suppress`` with its spec from ``conf/gold.yaml`` and
written to ``gold.<table>``. Both writes are whole-table overwrites (one Delta
commit each), so a rebuild gives the same tables and a failed one leaves the last.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import pandas as pd

from cslake import catalog
from cslake.config import ConfigError
from cslake.gold.adolescents import build_adolescent_cohort
from cslake.gold.characteristics import build_annual_characteristics
from cslake.gold.conf import gold_conf
from cslake.gold.cross_border import build_cross_border_pupils
from cslake.gold.dataset2 import build_dataset2_measures
from cslake.gold.dfe import build_dfe_measures
from cslake.gold.disproportionality import build_disproportionality
from cslake.gold.factors import build_assessment_factors
from cslake.gold.incremental import (Fingerprints, Reads, inputs_unchanged, read_gold_state, recorded_inputs,
                                     table_wide, write_gold_state)
from cslake.gold.lead_herd import build_lead_herd
from cslake.gold.ofsted import build_ofsted
from cslake.gold.outcomes import build_cla_outcomes
from cslake.gold.publishing import publish, to_spark
from cslake.gold.riia import build_riia_indicators
from cslake.gold.suppression import specs_from_conf, suppression_summary
from cslake.gold.workforce import build_workforce
from cslake.lake import new_run_id

if TYPE_CHECKING:
    from cslake.lake import Lake

log = logging.getLogger(__name__)


__all__ = ["GoldReport", "TableResult", "build_gold", "gold_conf", "publish", "to_spark"]


def _builders() -> dict[str, Callable[["Lake", str], pd.DataFrame]]:
    return {
        "riia_indicators": build_riia_indicators,
        "disproportionality": build_disproportionality,
        "cross_border_pupils": build_cross_border_pupils,
        "annual_characteristics": build_annual_characteristics,
        "assessment_factors": build_assessment_factors,
        "workforce": build_workforce,
        "ofsted": build_ofsted,
        "adolescent_cohort": build_adolescent_cohort,
        "cla_outcomes": build_cla_outcomes,
        "dfe_measures": build_dfe_measures,
        "dataset2_measures": build_dataset2_measures,
        # reads gold_restricted.riia_indicators: listed after it in conf/gold.yaml
        "lead_herd": build_lead_herd,
    }


@dataclass
class TableResult:
    table: str
    rows: int
    cells: int
    suppressed: int
    not_applicable: int
    seconds: float


@dataclass
class GoldReport:
    results: list[TableResult] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)  # left as they were: nothing they read has changed
    why: dict[str, str] = field(default_factory=dict)  # table built -> why it was (incremental builds)
    seconds: float = 0.0  # the whole build, checks and state included

    def summary(self) -> str:
        lines = [f"gold: {len(self.results)} table(s) built, {len(self.unchanged)} unchanged in {self.seconds:.1f}s"]
        for r in self.results:
            because = f" ({self.why[r.table]})" if r.table in self.why else ""
            lines.append(f"  {r.table}: {r.rows} rows, {r.suppressed}/{r.cells} cells suppressed, "
                         f"{r.not_applicable} not applicable, {r.seconds:.1f}s{because}")
        for t in self.unchanged:
            lines.append(f"  {t}: unchanged (nothing it reads has changed since its last build)")
        for t, why in self.skipped.items():
            lines.append(f"  {t}: skipped ({why})")
        return "\n".join(lines)


def build_gold(lake: "Lake", tables: Sequence[str] | None = None, region: str | None = None,
               full: bool = False, run_id: str | None = None) -> GoldReport:
    """Build the gold tables (every one in conf/gold.yaml by default). Incremental unless ``full``: a
    table whose inputs have not changed since its last build is left as it is
    (``cslake.gold.incremental``)."""
    conf = gold_conf()
    specs = specs_from_conf(conf)
    # The regional rows come from the LAs each table holds (cslake.gold.geography); ``region``
    # (--region) keeps one alliance's, never a configured default.
    builders = _builders()
    wanted = list(tables) if tables else [t for t in conf["tables"] if t in builders]
    unknown = [t for t in wanted if t not in builders or t not in specs]
    if unknown:
        raise ConfigError(f"gold table(s) {', '.join(unknown)} unknown; known: {', '.join(sorted(builders))}")
    report, started = GoldReport(), time.time()
    state = read_gold_state(lake)
    fps = Fingerprints(lake, state)
    for i, table in enumerate(wanted, 1):
        t0 = time.time()
        progress = {"progress": (i, len(wanted), "gold tables")}
        wide = table_wide(table, region)
        why = "asked (--full)" if full else (
            inputs_unchanged(state.tables.get(table), wide, fps) or _outputs_missing(lake, table))
        if why is None:
            report.unchanged.append(table)
            log.info("gold.%s: unchanged", table, extra=progress)
            continue
        reads = Reads(lake)
        restricted = builders[table](reads, region)
        state.tables.pop(table, None)
        if restricted is None or not len(restricted):
            report.skipped[table] = "no input in silver"
            log.info("gold.%s: skipped, no input in silver", table, extra=progress)
            continue
        published = publish(lake, table, restricted, specs[table])
        inputs = recorded_inputs(reads.inputs(), wide, fps)
        if inputs is not None:
            state.tables[table] = inputs
        s = suppression_summary(published, specs[table])
        report.results.append(TableResult(table, len(published), s["cells"], s["suppressed"], s["not_applicable"],
                                          time.time() - t0))
        report.why[table] = why
        log.info("gold.%s: %d rows in %.1fs (%s)", table, len(published), time.time() - t0, why, extra=progress)
    if report.results or report.skipped:
        write_gold_state(lake, state, run_id or new_run_id())
    report.seconds = time.time() - started
    return report


def _outputs_missing(lake: "Lake", table: str) -> str | None:
    for name in (catalog.gold_restricted[table], catalog.gold[table]):
        if not lake.exists(name):
            return f"{name} is missing"
    return None
