"""Data packs from a small hand-made gold schema: pages, charts and CSVs, only published figures.

The gold tables are written through the same publish step as build_gold (restricted,
then suppressed), from figures small enough to check by eye; the restricted schema is
then deleted, so a pack that reached for it would fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import pandas as pd
import pytest

from cslake.lake import Lake

LAS = {"201": "City of London", "202": "Camden"}
PERIODS = ["2023-24 Q1", "2023-24 Q2", "2023-24 Q3", "2023-24 Q4"]
# Referrals per quarter: 201's first quarter (3) must never be shown.
REFERRALS = {"201": [3, 40, 50, 60], "202": [30, 35, 45, 55]}
POP = {"201": 1000.0, "202": 50000.0}


def _riia() -> pd.DataFrame:
    from cslake.gold.riia import RESTRICTED_COLUMNS

    rows = []
    for la, nums in REFERRALS.items():
        for p, n in zip(PERIODS, nums):
            rows.append(dict(geog_level="la", geog_code=la, geog_name=LAS[la], period=p, indicator_id=2,
                             indicator="Referrals", breakdown="all", kind="rate", number=float(n),
                             population_0_17=POP[la], rate_per_10k=n / POP[la] * 1e4))
            done = float(n - 2)
            rows.append(dict(geog_level="la", geog_code=la, geog_name=LAS[la], period=p, indicator_id=6,
                             indicator="Assessments completed within 45 working days", breakdown="all", kind="pct",
                             number=done, denominator=float(n), percentage=100 * done / n, population_0_17=POP[la]))
    df = pd.DataFrame(rows)
    reg = df.groupby(["period", "indicator_id", "indicator", "breakdown", "kind"], as_index=False)[
        ["number", "denominator", "population_0_17"]].sum(min_count=1)
    reg = reg.assign(geog_level="region", geog_code="london", geog_name="London")
    reg["rate_per_10k"] = (reg["number"] / reg["population_0_17"] * 1e4).where(reg["kind"] == "rate")
    reg["percentage"] = (100 * reg["number"] / reg["denominator"]).where(reg["kind"] == "pct")
    df = pd.concat([df, reg], ignore_index=True)
    df["collection_year"] = 2024
    df["quarter_start"] = date(2023, 4, 1)
    df["quarter_end"] = date(2023, 6, 30)
    df["population_year"] = 2023
    df["population_latest_flag"] = False
    df["source"] = "child-level"
    return df.reindex(columns=RESTRICTED_COLUMNS)


def _disproportionality() -> pd.DataFrame:
    from cslake.gold.disproportionality import rri_table

    rows = []
    for code, level, k in (("201", "la", 1), ("202", "la", 2), ("london", "region", 3)):
        for stage, group, n in (("population", "White", 1000), ("population", "Black", 500),
                                ("referral", "White", 50), ("referral", "Black", 50),
                                ("assessment", "White", 40), ("assessment", "Black", 30)):
            rows.append((level, code, "x", 2024, stage, group, n * k))
    counts = pd.DataFrame(rows, columns=["geog_level", "geog_code", "geog_name", "collection_year", "stage",
                                         "ethnic_group", "count"])
    return rri_table(counts, "White")


def _ofsted() -> pd.DataFrame:
    from cslake.gold.ofsted import ofsted_table

    j = pd.DataFrame([("201", "ILACS", "2019-06-08", "2"), ("202", "ILACS", "2022-03-01", "3"),
                      ("202", "SEND", "2023-01-10", "SEND_POS")],
                     columns=["la_code", "inspection_type", "inspection_end_date", "overall"])
    return ofsted_table(j, list(LAS), date(2024, 3, 31))


def build_small_gold(lake: Lake) -> dict[str, pd.DataFrame]:
    """Restricted + published gold tables for two LAs and the region; returns the restricted frames."""
    from cslake.gold.build import gold_conf, publish
    from cslake.gold.suppression import specs_from_conf

    specs = specs_from_conf(gold_conf())
    frames = {"riia_indicators": _riia(), "disproportionality": _disproportionality(), "ofsted": _ofsted()}
    for table, df in frames.items():
        publish(lake, table, df, specs[table])
    return frames


# DfE's headline measures (gold.dfe_measures): 202's CLA at 31 March is 120 as submitted, 132 as corrected.
DFE_SUBMITTED = {("201", "cla_31_march"): 40, ("202", "cla_31_march"): 120, ("201", "referrals"): 300,
                 ("202", "referrals"): 800}


def _dfe_measures() -> pd.DataFrame:
    from cslake.gold.dfe import measures_table

    sub = pd.DataFrame([(la, 2024, m, float(v)) for (la, m), v in DFE_SUBMITTED.items()],
                       columns=["_la", "collection_year", "measure", "value"])
    cor = sub.assign(value=sub["value"] * 1.1)
    presence = pd.DataFrame([(la, 2024, c) for la in LAS for c in ("ssda903", "cin")],
                            columns=["_la", "_year", "collection"])
    return measures_table(sub, cor, presence, 0.05, None)


@pytest.fixture(scope="module")
def packs(spark, tmp_path_factory):
    from cslake.gold.build import gold_conf, publish
    from cslake.gold.suppression import specs_from_conf
    from cslake.publish.packs import publish_packs

    root = tmp_path_factory.mktemp("packs")
    lake = Lake(root / "lake", spark=spark)
    build_small_gold(lake)
    # here, not in build_small_gold, which other tests share
    publish(lake, "dfe_measures", _dfe_measures(), specs_from_conf(gold_conf())["dfe_measures"])
    shutil.rmtree(root / "lake" / "gold_restricted")  # packs must not need it
    out = root / "out"
    report = publish_packs(lake, out)
    return report, out


def test_a_pack_per_la_and_the_region(packs):
    report, out = packs
    assert set(report.packs) == {"region", "201", "202"}
    assert all(t.startswith("gold.") for t in report.tables_read) and "gold.riia_indicators" in report.tables_read
    index = (out / "index.html").read_text()
    for code in ("region", "201", "202"):
        assert f"{code}/index.html" in index
    page = (out / "202" / "index.html").read_text()
    assert "Camden" in page and "Referrals" in page and "Disproportionality" in page and "Ofsted" in page


def _referenced(page: str, attr: str, ext: str) -> list[str]:
    return re.findall(rf'{attr}=["\']([^"\']+\.{ext})["\']', page)


def test_every_referenced_image_and_csv_exists(packs):
    import matplotlib.image as mpimg

    _, out = packs
    images = 0
    for page in out.glob("*/index.html"):
        html = page.read_text()
        imgs = _referenced(html, "src", "png")
        csvs = _referenced(html, "href", "csv")
        assert len(imgs) >= 3 and len(csvs) >= len(imgs), page  # 2 indicators + RRI chart at least; a CSV per chart
        for rel in imgs:
            png = page.parent / rel
            assert png.stat().st_size > 5_000, png
            pixels = mpimg.imread(png)
            assert pixels.std() > 0.05, png  # something drawn, not a blank canvas
            images += 1
        for rel in csvs:
            assert len(pd.read_csv(page.parent / rel)) > 0, rel
    assert images >= 9


def test_csvs_carry_published_figures_only(packs):
    _, out = packs
    data = pd.read_csv(out / "201" / "data" / "indicator_02.csv", dtype=str, keep_default_na=False)
    la = data[data.geog_code == "201"].set_index("period")
    assert la.loc["2023-24 Q1", "number"] == "x" and la.loc["2023-24 Q1", "rate_per_10k"] == "x"
    assert la.loc["2023-24 Q4", "number"] == "60" and la.loc["2023-24 Q4", "rate_per_10k"] == "600.0"
    # region: 3 + 30 = 33 rounded to 30, rate from the unrounded 33 over 51,000 children
    reg = data[data.geog_code == "london"].set_index("period")
    assert reg.loc["2023-24 Q1", "number"] == "30" and reg.loc["2023-24 Q1", "rate_per_10k"] == "6.5"
    every = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in out.glob("*/data/indicator_*.csv")])
    numbers = pd.to_numeric(every["number"], errors="coerce").dropna()
    assert not numbers.between(1, 5).any()
    rri = pd.read_csv(out / "202" / "data" / "disproportionality.csv", dtype=str).set_index(["stage", "ethnic_group"])
    # referrals: (100/1000) / (100/2000) = 2.00
    assert rri.loc[("referral", "Black"), "rri"] == "2.00"


def test_a_pack_page_renders(packs, tmp_path):
    """The page a browser would load: well-formed, its images and CSVs next to it; and, when
    Chromium is installed (.ci/run installs it where it can), a headless screenshot of it."""
    _, out = packs
    page = out / "201" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<meta charset='utf-8'>" in html and "<title>" in html
    imgs = _referenced(html, "src", "png")
    assert imgs and all((page.parent / i).stat().st_size > 5_000 for i in imgs)
    # links stay inside the pack folder, so the page works opened from disk or copied elsewhere
    assert all(not i.startswith(("/", "http")) for i in imgs + _referenced(html, "href", "csv"))

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        return
    import matplotlib.image as mpimg
    import numpy as np

    shot = tmp_path / "shot.png"
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                           "--window-size=1200,1600", page.as_uri()], timeout=180, capture_output=True, text=True)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (1600, 1200)  # the window asked for, at 1 device pixel per CSS pixel
    assert pixels.std() > 0.05  # not a blank page
    rgb = (pixels[..., :3] * 255).round().astype(int)

    def near(colour, tol=20):
        return int((np.abs(rgb - np.array(colour)).max(axis=2) <= tol).sum())

    # The LA's line (#d4351c) is drawn only inside the charts, so red on screen means the chart
    # images loaded and were laid out (a broken image shows its alt text: no red at all); the
    # page's own blue (#1d4f91: title, rules) and the region's line are there too.
    assert near((0xD4, 0x35, 0x1C)) > 300
    assert near((0x1D, 0x4F, 0x91)) > 1_000
    assert near((0x1F, 0x77, 0xB4)) > 1_000  # the RRI chart's first bars, further down the page
    # and the page is mostly the white background with dark text on it, as designed
    assert near((255, 255, 255), tol=8) > 0.5 * 1600 * 1200
    assert near((0x1D, 0x1D, 0x1D), tol=60) > 500


def _labelled_sections(page: str) -> list[tuple[str, str, str]]:
    """(heading, gold table, view) of every figure section, from the label that follows its heading."""
    found = re.findall(r"<h2>([^<]+)</h2><p class='view' data-view='(\w+)' data-table='(\w+)'>", page)
    return [(h, t, v) for h, v, t in found]


def test_every_section_says_its_view_as_conf_declares(packs):
    """Issue 12: each figure section is labelled as submitted / as corrected / both, as conf/gold.yaml
    declares for the table it shows; the about part explains the two views; dfe_measures shows both."""
    from cslake.gold.conf import gold_conf
    from cslake.publish.packs import VIEWS

    report, out = packs
    declared = {t: c.get("view") for t, c in gold_conf()["tables"].items()}
    assert all(v in VIEWS for v in declared.values()), declared  # every gold table declares a known view
    for key, path in report.packs.items():
        page = path.read_text(encoding="utf-8")
        headings = re.findall(r"<h2>([^<]+)</h2>", page)
        sections = _labelled_sections(page)
        # every heading but the closing "About these figures" is a labelled figure section
        assert [h for h, _, _ in sections] == [h for h in headings if h != "About these figures"], key
        shown = {t: v for _, t, v in sections}
        assert {"riia_indicators", "disproportionality", "ofsted", "dfe_measures"} <= set(shown), key
        assert all(v == declared[t] for t, v in shown.items()), (key, shown)
        # by hand: the RIIA indicators are the chained history, dfe_measures both views
        assert shown["riia_indicators"] == "as_corrected" and shown["dfe_measures"] == "both"
        assert "<b>View: As corrected</b>" in page and "<b>View: As submitted and as corrected</b>" in page
        about = page[page.index("<h2>About these figures</h2>"):]
        assert "<b>as submitted</b>" in about and "<b>as corrected</b>" in about
    # dfe_measures: both columns and their difference, the LA's own figures
    page = (out / "202" / "index.html").read_text(encoding="utf-8")
    dfe = page[page.index("data-table='dfe_measures'"):]
    for col in ("as_submitted", "as_corrected", "difference"):
        assert f"<th data-column='{col}'>" in dfe
    data = pd.read_csv(out / "202" / "data" / "dfe_measures.csv", dtype=str).set_index("measure")
    assert (data.loc["cla_31_march", "as_submitted"], data.loc["cla_31_march", "as_corrected"],
            data.loc["cla_31_march", "difference"]) == ("120", "132", "12")
