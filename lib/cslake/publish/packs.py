"""Data packs: one HTML page per LA, and one for the region, from the published gold tables only.

    report = publish_packs(lake, Path("out/packs"))
    print(report.summary())

Layout under ``out_dir``::

    index.html                 links to every pack
    region/index.html          the regional pack
    <LA code>/index.html       one pack per LA
    <pack>/charts/*.png        matplotlib charts
    <pack>/data/*.csv          the figures behind each chart, exactly as published

Each LA pack: line charts of the LA's RIIA indicators against the region over the
quarters (rate per 10,000, or the percentage for percentage indicators), a
disproportionality chart (RRI by ethnic group for each stage against the population,
latest year), the workforce rates over the years against the region, and the latest
Ofsted judgements, and DfE's headline measures in both views (as submitted and as corrected,
with their difference) when ``gold.dfe_measures`` is there. The regional pack charts the
region with every LA behind it.

Every section says which view of the returns its figures are (issue 12): the view of each
gold table is declared once, as ``view:`` in conf/gold.yaml, and read here (``VIEWS``,
``table_view``); a table a pack shows without a declared view is refused.

Only ``gold.*`` is read: a suppressed cell (``x``) or a not-applicable one (``.``) is a
gap in a line or a missing bar, and appears as such in the CSV, never as a number.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cslake.config import ConfigError
from cslake.gold.conf import table_conf
from cslake.gold.geography import area_members
from cslake.publish.disclosure import check_frame, spec_for

if TYPE_CHECKING:
    from cslake.lake import Lake

log = logging.getLogger(__name__)

# RIIA indicators charted in every pack (ids of cslake.gold.riia.INDICATORS).
PACK_INDICATORS = [2, 3, 6, 8, 9, 10, 11, 15, 16, 22]
WORKFORCE_RATES = {"agency_rate": "Agency rate (%)", "turnover_rate": "Turnover rate (%)",
                   "vacancy_rate": "Vacancy rate (%)", "caseload_per_case_holder": "Cases per case-holder FTE"}
STAGE_ORDER = ["referral", "assessment", "s47", "cp_plan", "looked_after"]
REGION_DIR = "region"

# The views a gold table's figures can be in (conf/gold.yaml ``view:``): the short label each
# section carries, and what it means.
VIEWS: dict[str, tuple[str, str]] = {
    "as_submitted": ("As submitted",
                     "each year's figures from that year's own return, as the LA sent it (comparable with "
                     "DfE's published tables and the LA's own figures)"),
    "as_corrected": ("As corrected",
                     "the chained history, where later returns' corrections and late-reported records "
                     "replace what an earlier return said, so a year's figure can differ from the one the LA "
                     "submitted and DfE published"),
    "both": ("As submitted and as corrected",
             "both views side by side, with the difference (as corrected minus as submitted)"),
    "not_a_return": ("Not from an LA return", "published by another body (Ofsted), neither view applies"),
}
VIEWS_SENTENCE = ("Figures come in two views of the LAs' returns: <b>as submitted</b>, each year's figures from "
                  "that year's own return as the LA sent it, comparable with DfE's published tables; and "
                  "<b>as corrected</b>, the chained history in which later returns' corrections (and records "
                  "reported late) replace what an earlier return said. Each section is labelled with its view.")


def table_view(table: str) -> str:
    """The view of gold table ``table``'s figures, from conf/gold.yaml (``tables.<table>.view``)."""
    view = table_conf(table).get("view")
    if view not in VIEWS:
        raise ConfigError(f"conf/gold.yaml: tables.{table}.view is {view!r}; expected one of {sorted(VIEWS)}")
    return view

CSS = """
body{font-family:Arial,Helvetica,sans-serif;margin:2rem auto;max-width:1100px;color:#1d1d1d;line-height:1.4}
h1{color:#1d4f91}h2{border-bottom:2px solid #1d4f91;padding-bottom:.2rem;margin-top:2rem}
.grid{display:flex;flex-wrap:wrap;gap:1rem}.chart{flex:1 1 480px;border:1px solid #ddd;padding:.5rem}
.chart img{width:100%;height:auto}table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}.note{color:#555;font-size:.9rem}
.view{display:inline-block;background:#f3f2f1;border-left:4px solid #1d4f91;padding:.1rem .5rem;margin:.2rem 0;font-size:.9rem}
"""


@dataclass
class PackReport:
    out_dir: Path
    packs: dict[str, Path] = field(default_factory=dict)  # geog code -> its index.html
    charts: int = 0
    csvs: int = 0
    tables_read: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"packs: {len(self.packs)} pack(s) ({self.charts} charts, {self.csvs} CSVs) in {self.out_dir}; "
                f"read {', '.join(self.tables_read) or 'nothing'}")


def _num(s: pd.Series) -> pd.Series:
    """Published text → numbers; x and . become gaps."""
    return pd.to_numeric(s.where(~s.isin(["x", "."])), errors="coerce")


def _read(lake: "Lake", table: str, report: PackReport) -> pd.DataFrame | None:
    name = f"gold.{table}"
    if not lake.exists(name):
        return None
    report.tables_read.append(name)
    pdf = lake.read_table(name).toPandas()
    check_frame(table, pdf, spec_for(table))  # refused here, whatever wrote it (issue 16)
    return pdf


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in str(text).lower()).strip("_")


class _Pack:
    """One pack's folder: charts and CSVs, and the HTML sections that show them."""

    def __init__(self, root: Path, title: str, report: PackReport):
        self.root = root
        self.title = title
        self.report = report
        (root / "charts").mkdir(parents=True, exist_ok=True)
        (root / "data").mkdir(parents=True, exist_ok=True)
        self.sections: list[tuple[str, str, list[str]]] = []  # (heading, gold table, body)

    def section(self, heading: str, table: str) -> list[str]:
        """A section showing figures of gold table ``table``; labelled with its view when written."""
        table_view(table)  # refused now, before anything is drawn, when conf declares no view
        body: list[str] = []
        self.sections.append((heading, table, body))
        return body

    def chart(self, body: list[str], fig, name: str, data: pd.DataFrame, caption: str) -> None:
        # lazy: matplotlib only when a pack is drawn, after publish_packs has chosen its backend
        import matplotlib.pyplot as plt

        png, csv = f"charts/{name}.png", f"data/{name}.csv"
        fig.savefig(self.root / png, dpi=100, bbox_inches="tight")
        plt.close(fig)
        data.to_csv(self.root / csv, index=False)
        self.report.charts += 1
        self.report.csvs += 1
        body.append(f'<div class="chart"><img src="{png}" alt="{html.escape(caption)}">'
                    f'<p class="note">{html.escape(caption)} <a href="{csv}">Data (CSV)</a></p></div>')

    def write(self, intro: str) -> Path:
        parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>",
                 f"<style>{CSS}</style></head><body><h1>{html.escape(self.title)}</h1><p class='note'>{intro}</p>"]
        for heading, table, body in self.sections:
            view = table_view(table)
            label, meaning = VIEWS[view]
            parts.append(f"<h2>{html.escape(heading)}</h2>"
                         f"<p class='view' data-view='{view}' data-table='{html.escape(table)}'>"
                         f"<b>View: {html.escape(label)}</b> ({html.escape(meaning)}; gold.{html.escape(table)})</p>"
                         f"<div class='grid'>{''.join(body)}</div>")
        parts.append("<h2>About these figures</h2><p class='note'>Figures after DfE disclosure control: "
                     "x = suppressed (small numbers), . = not applicable; regional counts rounded to the nearest 10. "
                     f"{VIEWS_SENTENCE}</p></body></html>")
        path = self.root / "index.html"
        path.write_text("".join(parts), encoding="utf-8")
        return path


def _indicator_charts(pack: _Pack, riia: pd.DataFrame, code: str | None, region_code: str) -> None:
    # lazy: matplotlib only when a pack is drawn, after publish_packs has chosen its backend
    import matplotlib.pyplot as plt

    body = pack.section("Quarterly indicators against the region", "riia_indicators")
    r = riia[(riia["breakdown"] == "all") & riia["indicator_id"].isin(PACK_INDICATORS)].copy()
    r["value"] = _num(r["percentage"]).where(r["kind"] == "pct", _num(r["rate_per_10k"]))
    periods = sorted(set(r["period"]))
    for ind in PACK_INDICATORS:
        g = r[r["indicator_id"] == ind]
        if not len(g):
            continue
        name, kind = g["indicator"].iloc[0], g["kind"].iloc[0]
        unit = "%" if kind == "pct" else "per 10,000 children"
        reg = g[(g["geog_level"] == "region") & (g["geog_code"] == region_code)].set_index("period")["value"].reindex(periods)
        fig, ax = plt.subplots(figsize=(7, 3.4))
        x = range(len(periods))
        if code is None:
            members = area_members(region_code)
            las = g[(g["geog_level"] == "la") & (g["geog_code"].isin(members) if members else True)]
            g = pd.concat([las, g[g["geog_code"] == region_code]])
            for la, lg in las.groupby("geog_code"):
                ax.plot(x, lg.set_index("period")["value"].reindex(periods).to_numpy(), color="#bbbbbb", lw=0.8)
            cols = ["period", "geog_code", "geog_name", "number", "percentage", "rate_per_10k"]
            data = g[cols].sort_values(["geog_code", "period"])
        else:
            mine = g[(g["geog_level"] == "la") & (g["geog_code"] == code)].set_index("period")
            ax.plot(x, mine["value"].reindex(periods).to_numpy(), marker="o", color="#d4351c", lw=2,
                    label=str(mine["geog_name"].iloc[0]) if len(mine) else code)
            cols = ["period", "geog_code", "geog_name", "number", "denominator", "percentage", "rate_per_10k",
                    "la_reported_number", "la_reported_value"]
            data = g[g["geog_code"].isin([code, region_code])][cols].sort_values(["geog_code", "period"])
        ax.plot(x, reg.to_numpy(), marker="s", color="#1d4f91", lw=2, label="Region")
        ax.set_title(f"{ind}. {name}", fontsize=11)
        ax.set_ylabel(unit)
        step = max(1, len(periods) // 8)
        ax.set_xticks(list(x)[::step])
        ax.set_xticklabels(periods[::step], rotation=30, ha="right", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        pack.chart(body, fig, f"indicator_{ind:02d}", data,
                   f"{name} ({unit}) by financial quarter; gaps are suppressed or not applicable.")


def _rri_chart(pack: _Pack, dis: pd.DataFrame, code: str) -> None:
    # lazy: matplotlib only when a pack is drawn, after publish_packs has chosen its backend
    import matplotlib.pyplot as plt

    d = dis[(dis["geog_code"] == code) & (dis["comparison"] == "population")]
    if not len(d):
        return
    year = int(d["collection_year"].max())
    d = d[d["collection_year"] == year].copy()
    d["rri_value"] = _num(d["rri"])
    body = pack.section(f"Disproportionality {year - 1}-{year % 100:02d}", "disproportionality")
    groups = sorted(set(d["ethnic_group"]))
    stages = [s for s in STAGE_ORDER if s in set(d["stage"])]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(1, len(groups))
    for i, grp in enumerate(groups):
        vals = d[d["ethnic_group"] == grp].set_index("stage")["rri_value"].reindex(stages).to_numpy(float)
        ax.bar(np.arange(len(stages)) + i * width - 0.4 + width / 2, np.nan_to_num(vals, nan=0.0), width, label=grp)
    ax.axhline(1.0, color="black", lw=1, ls="--")
    ax.set_xticks(range(len(stages)))
    ax.set_xticklabels([s.replace("_", " ") for s in stages])
    ax.set_ylabel("Relative rate index (1 = parity)")
    ax.set_title(f"RRI by ethnic group against the child population, {year}", fontsize=11)
    ax.legend(fontsize=8, ncol=len(groups))
    ax.grid(axis="y", alpha=0.3)
    cols = ["collection_year", "stage", "ethnic_group", "reference_group", "group_count", "group_base", "rri"]
    pack.chart(body, fig, "disproportionality", d[cols].sort_values(["stage", "ethnic_group"]),
               "Relative rate index; a missing bar is suppressed (small numbers) or not applicable.")


def _workforce_chart(pack: _Pack, wf: pd.DataFrame, code: str, region_code: str) -> None:
    # lazy: matplotlib only when a pack is drawn, after publish_packs has chosen its backend
    import matplotlib.pyplot as plt

    w = wf[wf["geog_code"].isin([code, region_code])].copy()
    if not len(w):
        return
    body = pack.section("Workforce", "workforce")
    years = sorted(set(w["collection_year"]))
    fig, axes = plt.subplots(1, len(WORKFORCE_RATES), figsize=(11, 2.8))
    for ax, (col, label) in zip(axes, WORKFORCE_RATES.items()):
        for geo, style in ((code, dict(color="#d4351c", marker="o")), (region_code, dict(color="#1d4f91", marker="s"))):
            s = w[w["geog_code"] == geo].set_index("collection_year")[col]
            ax.plot(years, _num(s.reindex(years)).to_numpy(), label="Region" if geo == region_code else geo, **style)
        ax.set_title(label, fontsize=9)
        ax.set_xticks(years)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    cols = ["geog_code", "geog_name", "collection_year", "headcount", "fte"] + list(WORKFORCE_RATES)
    pack.chart(body, fig, "workforce", w[cols].sort_values(["geog_code", "collection_year"]),
               "Children's social workers by census year (30 September).")


def _ofsted_table(pack: _Pack, ofs: pd.DataFrame, code: str | None) -> None:
    o = ofs if code is None else ofs[ofs["geog_code"] == code]
    if not len(o):
        return
    body = pack.section("Ofsted", "ofsted")
    cols = ["geog_code", "geog_name", "ilacs_date", "ilacs_overall", "send_date", "send_outcome", "ilacs_next_rank"]
    data = o[cols].sort_values("ilacs_next_rank")
    data.to_csv(pack.root / "data" / "ofsted.csv", index=False)
    pack.report.csvs += 1
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape('' if pd.isna(v) else str(v))}</td>" for v in r) + "</tr>"
                   for r in data.itertuples(index=False))
    body.append(f"<div><table><tr>{head}</tr>{rows}</table><p class='note'>ilacs_next_rank 1 = longest since the "
                f"last full inspection. <a href='data/ofsted.csv'>Data (CSV)</a></p></div>")


def _dfe_table(pack: _Pack, dfe: pd.DataFrame, code: str) -> None:
    """DfE's headline measures for ``code`` (an LA or the region) per year, both views and their difference."""
    d = dfe[dfe["geog_code"] == code]
    if not len(d):
        return
    body = pack.section("DfE headline measures: as submitted and as corrected", "dfe_measures")
    cols = ["collection_year", "measure", "unit", "as_submitted", "as_corrected", "difference", "differs", "definition"]
    data = d[cols].sort_values(["collection_year"], kind="stable")
    data.to_csv(pack.root / "data" / "dfe_measures.csv", index=False)
    pack.report.csvs += 1
    heads = {"collection_year": "Year", "measure": "Measure", "unit": "Unit", "as_submitted": "As submitted",
             "as_corrected": "As corrected", "difference": "Difference (corrected - submitted)",
             "differs": "Differs beyond threshold"}
    shown = list(heads)
    head = "".join(f"<th data-column='{c}'>{html.escape(heads[c])}</th>" for c in shown)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape('' if pd.isna(v) else str(v))}</td>" for v in r) + "</tr>"
                   for r in data[shown].itertuples(index=False))
    body.append(f"<div><table><tr>{head}</tr>{rows}</table><p class='note'>As submitted: the year's own return, "
                f"comparable with DfE's published tables; as corrected: the chained history. Definitions in the CSV. "
                f"<a href='data/dfe_measures.csv'>Data (CSV)</a></p></div>")


def publish_packs(lake: "Lake", out_dir: Path | str, las: list[str] | None = None) -> PackReport:
    # lazy: matplotlib only when packs are drawn; the backend is set before pyplot loads
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    report = PackReport(out_dir)
    riia = _read(lake, "riia_indicators", report)
    dis = _read(lake, "disproportionality", report)
    wf = _read(lake, "workforce", report)
    ofs = _read(lake, "ofsted", report)
    dfe = _read(lake, "dfe_measures", report)
    if riia is None:
        raise FileNotFoundError("gold.riia_indicators is not in the lake: build gold first")
    # One regional pack per alliance / region in gold (cslake.gold.geography); each LA against its own.
    region = riia[riia["geog_level"] == "region"].drop_duplicates("geog_code")
    region_names = dict(zip(region["geog_code"].astype(str), region["geog_name"].astype(str))) or {"region": "Region"}
    names = riia[riia["geog_level"] == "la"].drop_duplicates("geog_code").set_index("geog_code")["geog_name"]
    codes = [c for c in sorted(names.index) if las is None or c in las]
    region_dir = {r: REGION_DIR if len(region_names) == 1 else f"{REGION_DIR}_{r}" for r in region_names}
    region_of = {c: next((r for r in region_names if c in (area_members(r) or ())), next(iter(region_names)))
                 for c in codes}
    region_name = " and ".join(region_names.values())

    for code, region_code in [(None, r) for r in region_names] + [(c, region_of[c]) for c in codes]:
        title = (f"{region_names[region_code]}: regional data pack" if code is None
                 else f"{names[code]} ({code}): data pack")
        pack = _Pack(out_dir / (region_dir[region_code] if code is None else code), title, report)
        _indicator_charts(pack, riia, code, region_code)
        if dis is not None:
            _rri_chart(pack, dis, region_code if code is None else code)
        if wf is not None and code is not None:
            _workforce_chart(pack, wf, code, region_code)
        if ofs is not None:
            _ofsted_table(pack, ofs, code)
        if dfe is not None:
            _dfe_table(pack, dfe, region_code if code is None else code)
        intro = ("Benchmarks from the regional children's services lake; each section says whether its figures "
                 "are as submitted or as corrected (see About these figures). " +
                 ("Each chart shows the LA (red) against the region (blue)." if code else
                  "The region (blue) with every LA behind it (grey)."))
        key = code or region_dir[region_code]
        report.packs[key] = pack.write(intro)
        log.info("pack %s written", key,
                 extra={"progress": (len(report.packs), len(region_names) + len(codes), "packs")})

    labels = {region_dir[r]: n for r, n in region_names.items()}
    links = "".join(f"<li><a href='{p.parent.name}/index.html'>{html.escape(labels.get(k) or f'{names[k]} ({k})')}</a></li>"
                    for k, p in report.packs.items())
    (out_dir / "index.html").write_text(
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Data packs</title><style>{CSS}</style></head>"
        f"<body><h1>{html.escape(region_name)} data packs</h1><ul>{links}</ul></body></html>", encoding="utf-8")
    return report
