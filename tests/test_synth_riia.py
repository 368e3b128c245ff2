"""RIIA quarterly template writer: four files per LA-year, figures close to an independent
count from the events, truth file consistent with what was written."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from cslake.schemas import collection_schema
from cslake.synth.core import quarters
from cslake.synth.riia_template import COLUMNS, merge_riia_truth, write_riia_template
from tests.test_synth_ssda903 import SEED, YEARS, build_population, hand_made_events, make_ctx, small_region


@pytest.fixture(scope="module")
def pop():
    return build_population(small_region(), YEARS, 0.02, SEED)


@pytest.fixture(scope="module")
def events(pop):
    return hand_made_events(pop, YEARS)


@pytest.fixture(scope="module")
def run(pop, events, tmp_path_factory):
    ctx = make_ctx(pop, events, tmp_path_factory.mktemp("riia"), 0.0, 0.0)
    paths = [p for la in pop.region.las for y in YEARS for p in write_riia_template(ctx, la, y)]
    return ctx, paths


def read(path: Path) -> list[dict]:
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path)
        ws = wb["RIIA"]
        rows = list(ws.iter_rows(values_only=True))
        return [dict(zip(rows[0], r)) for r in rows[1:]]
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_four_files_per_la_year_matching_the_schema(run):
    ctx, paths = run
    assert len(paths) == 4 * len(ctx.pop.region.las) * len(YEARS)
    spec = collection_schema("riia_quarterly", 2024).tables["indicators"]
    for p in paths:
        rows = read(p)
        assert list(rows[0]) == COLUMNS == list(spec.columns)
        assert [int(r["IndicatorID"]) for r in rows] == list(range(1, 25))
        periods = {r["Period"] for r in rows}
        assert len(periods) == 1 and re.fullmatch(spec.columns["Period"].pattern, periods.pop())
        assert {r["LA"] for r in rows} == {p.parts[-4]}
    assert {p.suffix for p in paths} >= {".csv"} or {p.suffix for p in paths} >= {".xlsx"}


def test_counts_close_to_an_independent_count(run, events):
    ctx, paths = run
    checked = 0
    for p in paths:
        la, y = p.parts[-4], int(p.parts[-2])
        rows = {int(r["IndicatorID"]): r for r in read(p)}
        period = next(iter(rows.values()))["Period"]
        q0, q1 = next((a, b) for lbl, a, b in quarters(y) if lbl == period)
        ce = events.care_episodes[events.care_episodes["la"] == la]
        current = {e["person_id"] for e in ce.to_dict("records")
                   if e["decom"] <= q1 and (e["dec"] is None or e["dec"] > q1) and e["ls"] not in ("V3", "V4")}
        new = sum(1 for e in ce.to_dict("records") if q0 <= e["decom"] <= q1 and e["rne"] == "S")
        c = events.contacts[events.contacts["la"] == la]
        contacts = sum(1 for d in c["contact_date"] if q0 <= d <= q1)
        for ind, true in ((15, len(current)), (16, new), (1, contacts)):
            reported = float(rows[ind]["Numerator"])
            assert abs(reported - true) <= max(1, 0.03 * true + 0.5), (p.name, ind, reported, true)
            checked += 1
    assert checked > 50


def test_truth_file_records_reported_and_true(run):
    ctx, paths = run
    merged = merge_riia_truth(ctx.out)
    truth = list(csv.DictReader(merged.open(encoding="utf-8")))
    assert len(truth) == 24 * len(paths)
    by_key = {(t["la"], t["period"], t["indicator_id"]): t for t in truth}
    differ = 0
    for p in paths:
        for r in read(p):
            t = by_key[(r["LA"], r["Period"], str(r["IndicatorID"]))]
            assert float(t["reported_numerator"]) == float(r["Numerator"])
            if t["reported_numerator"] != t["true_numerator"]:
                differ += 1
                assert t["source"] != "invented"
    assert any(t["source"] == "invented" and t["indicator_id"] == "21" for t in truth)
    assert differ > 0


def test_same_seed_same_bytes(pop, events, tmp_path):
    out = []
    for k in range(2):
        ctx = make_ctx(pop, events, tmp_path / str(k), 0.0, 0.0)
        out.append([p.read_bytes() for la in pop.region.las for p in write_riia_template(ctx, la, 2024)])
    assert out[0] == out[1]
