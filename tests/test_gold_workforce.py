"""workforce (lib/cslake/gold/workforce.py) when an LA resubmits a CSWW census: the year is counted
once, from the resubmission, never the two files added together (issue 12).

workforce reads silver csww_worker / csww_vacancies without ``_latest``, on purpose: ``_latest``
marks a worker's latest census across years, so filtering on it would drop every earlier year of a
worker still in post. A resubmission of the same (LA, year) is instead superseded at landing
(bronze.files outcome ``superseded``), and silver reads only ``landed`` files. This test holds the
two together on one generated LA-year and a hand-made resubmission; the expected figures are
counted from the resubmitted XML here, following DfE's workforce definitions (as
tests/test_gold_tables.py::test_workforce): in post = no RoleEndDate or one after 30 September Y-1;
headcount and FTE (FTE30, else FTE) of employed (non-agency) workers in post.

One LA, one year, CSWW only: about 40 s of engine time.
"""

from __future__ import annotations

import dataclasses
import os
import re

import pandas as pd
import pytest
from lxml import etree

from cslake import pseudo
from cslake.config import region
from cslake.lake import Lake

pytestmark = pytest.mark.slow

KEY = "workforce-resubmission-test-key-0123456789"
LA, YEAR = "201", 2024


def _t(el, name):
    found = el.find(name)
    return None if found is None or found.text is None or not found.text.strip() else found.text.strip()


def census(path) -> dict[str, float]:
    """Employed workers in post at 30 September YEAR-1 from one CSWW XML: headcount, FTE."""
    ref = pd.Timestamp(YEAR - 1, 9, 30)
    head = fte = 0.0
    for w in etree.parse(str(path)).getroot().iter("CSWWWorker"):
        end = _t(w, "RoleEndDate")
        if _t(w, "AgencyWorker") != "1" and (end is None or pd.Timestamp(end) > ref):
            head += 1
            fte += float(_t(w, "FTE30") or _t(w, "FTE") or 0)
    return {"headcount": head, "fte": fte}


def _workforce(lake: Lake) -> pd.Series:
    from cslake.gold.build import build_gold
    from cslake.silver import build_silver

    build_silver(lake, collections=["csww"])
    build_gold(lake, ["workforce"])
    t = lake.read_table("gold_restricted.workforce").toPandas()
    return t[(t.geog_level == "la") & (t.geog_code == LA) & (t.collection_year == YEAR)].iloc[0]


def test_a_resubmitted_csww_year_is_counted_once(spark, tmp_path, monkeypatch):
    from cslake.land import land_raw
    from cslake.synth.generate import generate_region

    r = region("london")
    r = dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code == LA))
    raw = tmp_path / "raw"
    generate_region(r, [YEAR], scale=5.0, seed=12, out=raw, dirt_rate=0.0, file_dirt_rate=0.0, workers=1,
                    collections=["csww"], progress=False)
    (first,) = sorted(raw.glob(f"{LA}/csww/{YEAR}/*.xml"))
    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    lake = Lake(tmp_path / "lake", spark=spark)
    land_raw(lake, raw)
    before = _workforce(lake)
    sent = census(first)
    assert (before.headcount, before.fte) == (sent["headcount"], pytest.approx(sent["fte"])), "first census"
    assert sent["headcount"] >= 10  # LA 201 (City of London) is tiny: scale 5 gives it ~25 workers

    # The LA corrects its census and sends the whole return again, later: one employed worker in post
    # gets FTE30 0.5 (a part-timer recorded as full time), the header says a later DateTime.
    text = first.read_text(encoding="utf-8")
    doc = etree.fromstring(text.encode())
    ref = pd.Timestamp(YEAR - 1, 9, 30)
    fixed = next(w for w in doc.iter("CSWWWorker") if _t(w, "AgencyWorker") != "1" and _t(w, "FTE30")
                 and float(_t(w, "FTE30")) != 0.5
                 and (_t(w, "RoleEndDate") is None or pd.Timestamp(_t(w, "RoleEndDate")) > ref))
    fixed.find("FTE30").text = "0.5"
    for stamp in doc.iter("DateTime"):
        stamp.text = re.sub(r"^\d{4}", lambda m: str(int(m.group(0)) + 1), stamp.text or "2030-01-01T00:00:00")
    resub = first.with_name(first.stem + "_resubmitted.xml")
    resub.write_bytes(etree.tostring(doc, xml_declaration=True, encoding="utf-8"))
    later = first.stat().st_mtime + 3600
    os.utime(resub, (later, later))
    land_raw(lake, raw)
    files = lake.read_table("bronze.files").toPandas().set_index("path")
    rel = lambda p: p.relative_to(raw).as_posix()  # noqa: E731
    assert (files.loc[rel(first), "outcome"], files.loc[rel(resub), "outcome"]) == ("superseded", "landed")
    # bronze keeps both files' rows (history); silver holds the resubmission's only
    bronze = lake.read_table("bronze.csww_worker").toPandas()
    assert bronze._file_sha256.nunique() == 2
    after = _workforce(lake)
    silver = lake.read_table("silver.csww_worker").toPandas()
    assert set(silver._file_sha256) == {files.loc[rel(resub), "sha256"]}
    assert len(silver) == len(list(doc.iter("CSWWWorker")))
    now = census(resub)
    assert now["fte"] != pytest.approx(sent["fte"])  # the correction shows
    assert (after.headcount, after.fte) == (now["headcount"], pytest.approx(now["fte"]))
    assert after.headcount != sent["headcount"] + now["headcount"]  # not the two files added together
