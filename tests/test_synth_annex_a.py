"""Annex A writer: read the workbooks back with openpyxl and check them against the events
and against the header patterns and code lists of conf/collections/annex_a."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from cslake.schemas import collection_schema
from cslake.synth.annex_a import LISTS, write_annex_a
from cslake.synth.core import year_end
from tests.test_synth_ssda903 import SEED, YEARS, build_population, hand_made_events, make_ctx, small_region


@pytest.fixture(scope="module")
def pop():
    return build_population(small_region(), YEARS, 0.02, SEED)


@pytest.fixture(scope="module")
def events(pop):
    return hand_made_events(pop, YEARS)


def generate(ctx) -> list[Path]:
    return [p for la in ctx.pop.region.las for y in ctx.years for p in write_annex_a(ctx, la, y)]


def sheet_table(title: str) -> str:
    m = re.match(r"list\s*0?(\d+)", title, re.I)
    return f"list_{int(m.group(1))}"


def read(path: Path) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(path)
    return {sheet_table(ws.title): list(ws.iter_rows(values_only=True)) for ws in wb.worksheets}


def map_headers(tschema, header: tuple) -> dict[str, int]:
    """Schema column → header position, first header matching the column's pattern."""
    out = {}
    for name, spec in tschema.columns.items():
        for i, h in enumerate(header):
            if h is not None and re.search(spec.path, str(h), re.I):
                out[name] = i
                break
    return out


@pytest.fixture(scope="module")
def clean(pop, events, tmp_path_factory):
    ctx = make_ctx(pop, events, tmp_path_factory.mktemp("annexa_clean"), 0.0, 0.0)
    return ctx, generate(ctx)


def test_one_workbook_per_la_year_with_eleven_lists(clean):
    ctx, paths = clean
    assert len(paths) == len(ctx.pop.region.las) * len(YEARS)
    assert not ctx.faults.rows
    for p in paths:
        assert p.suffix == ".xlsx" and p.parts[-3] == "annex_a"
        assert set(read(p)) == {f"list_{i}" for i in range(1, 12)}
        wb = openpyxl.load_workbook(p)
        assert wb.properties.created == wb.properties.modified == datetime(int(p.parts[-2]), 5, 15, 9, 30)


def test_headers_match_their_own_pattern_and_vary_between_las(clean):
    ctx, paths = clean
    seen = {}
    for p in paths:
        schema = collection_schema("annex_a", int(p.parts[-2]))
        for key, rows in read(p).items():
            header = rows[0]
            mapping = map_headers(schema.tables[key], header)
            cols = [c for c, _ in LISTS[key][1]]
            # every column is found, at its own position (first-match semantics hold)
            assert mapping == {c: i for i, c in enumerate(cols)}, (p.name, key)
            seen.setdefault(key, set()).add(tuple(header))
    assert any(len(v) > 1 for v in seen.values())


def test_category_values_canonicalise_and_dates_are_dates(clean):
    ctx, paths = clean
    styles = Counter()
    for p in paths:
        schema = collection_schema("annex_a", int(p.parts[-2]))
        for key, rows in read(p).items():
            tschema = schema.tables[key]
            mapping = map_headers(tschema, rows[0])
            for r in rows[1:]:
                for name, i in mapping.items():
                    spec, v = tschema.columns[name], r[i]
                    if v is None:
                        continue
                    if spec.codes is not None and name != "primary_need":
                        assert spec.canonical(v) is not None, (key, name, v)
                        styles[(name, str(v)[:3])] += 1
                    if spec.type == "date":
                        assert isinstance(v, datetime) or datetime.strptime(v, "%d/%m/%Y"), (key, name, v)
                    if name == "child_id":
                        assert isinstance(v, str) and v
    assert len({k for k in styles if k[0] == "gender"}) >= 2


def test_lists_follow_the_events(clean, events, pop):
    ctx, paths = clean
    for p in paths:
        la, y = p.parts[-4], int(p.parts[-2])
        snap = year_end(y)
        ws0 = snap - timedelta(days=182)
        res = pop.residence[pop.residence["la"] == la]
        id_of = dict(zip(res["person_id"], res["la_child_id"]))
        lists = read(p)
        c = events.contacts[events.contacts["la"] == la]
        want = sorted(id_of[pid] for pid, d in zip(c["person_id"], c["contact_date"]) if ws0 <= d <= snap)
        assert sorted(r[0] for r in lists["list_1"][1:]) == want
        # current CLA (not short breaks) are all in list 8
        ce = events.care_episodes[events.care_episodes["la"] == la]
        current = {id_of[e["person_id"]] for e in ce.to_dict("records")
                   if e["decom"] <= snap and (e["dec"] is None or e["dec"] > snap) and e["ls"] not in ("V3", "V4")}
        assert current <= {r[0] for r in lists["list_8"][1:]}
        oc3 = events.oc3[(events.oc3["la"] == la) & (events.oc3["year"] == y)]
        assert sorted(r[0] for r in lists["list_9"][1:]) == sorted(id_of[x] for x in oc3["person_id"])
        # worker names are present (and made up: two words)
        workers = [r[-1] for r in lists["list_3"][1:]]
        assert all(isinstance(w, str) and len(w.split()) == 2 for w in workers)


def test_truth_and_same_seed_same_bytes(pop, events, tmp_path):
    a = make_ctx(pop, events, tmp_path / "a", 0.2, 0.5)
    b = make_ctx(pop, events, tmp_path / "b", 0.2, 0.5)
    pa, pb = generate(a), generate(b)
    assert [p.read_bytes() for p in pa] == [p.read_bytes() for p in pb]
    assert a.faults.rows == b.faults.rows
    keys = {(r[1], r[2], r[3], r[4]) for r in a.truth.rows}
    for p in pa:
        la, y = p.parts[-4], int(p.parts[-2])
        for key, rows in read(p).items():
            if key != "list_11":
                for r in rows[1:]:
                    assert (y, la, key, r[0]) in keys


def test_every_fault_is_where_the_manifest_says_and_nothing_else_changed(pop, events, clean, tmp_path):
    cctx, cpaths = clean
    ctx = make_ctx(pop, events, tmp_path, 0.15, 0.5)
    paths = generate(ctx)
    rules = Counter(f["rule"] for f in ctx.faults.rows)
    for rule in ("MANDATORY_MISSING", "CODE_INVALID", "TYPE_DATE", "COLUMN_EXTRA", "COLUMN_MISSPELT"):
        assert rules[rule] > 0, rule
    by_file = {}
    for f in ctx.faults.rows:
        by_file.setdefault((f["path"], f["table"]), []).append(f)
    changed = 0
    for p, cp in zip(paths, cpaths):
        assert p.name == cp.name
        dirty, clean_lists = read(p), read(cp)
        for key in dirty:
            faults = by_file.get((ctx.rel(p), key), [])
            extra = [f["column"] for f in faults if f["rule"] == "COLUMN_EXTRA"]
            misspelt = {f["injected"]: f["original"] for f in faults if f["rule"] == "COLUMN_MISSPELT"}
            header = list(dirty[key][0])
            keep = [i for i, h in enumerate(header) if h not in extra]
            assert len(keep) == len(header) - len(extra)
            rows = [[r[i] for i in keep] for r in dirty[key]]
            assert [misspelt.get(h, h) for h in rows[0]] == list(clean_lists[key][0])
            cells = {(f["row"], f["column"]): f for f in faults if f["row"] != 1}
            cols = [c for c, _ in LISTS[key][1]]
            assert len(rows) == len(clean_lists[key])
            tschema = collection_schema("annex_a", int(p.parts[-2])).tables[key]
            for excel_row, (r, c) in enumerate(zip(rows[1:], clean_lists[key][1:]), 2):
                for col, v, cv in zip(cols, r, c):
                    f = cells.get((excel_row, col))
                    if f is None:
                        assert v == cv, (p.name, key, excel_row, col)
                        continue
                    changed += 1
                    assert v != cv
                    if f["rule"] == "MANDATORY_MISSING":
                        assert v is None and tschema.columns[col].mandatory
                    elif f["rule"] == "CODE_INVALID":
                        assert tschema.columns[col].canonical(v) is None, (col, v)
                    else:
                        assert isinstance(v, str)
                        with pytest.raises(ValueError):
                            datetime.strptime(v, "%d/%m/%Y")
    assert changed == sum(rules[r] for r in ("MANDATORY_MISSING", "CODE_INVALID", "TYPE_DATE"))


def test_real_simulation_workbooks_read_back(pop, tmp_path):
    from cslake.synth.social_care import simulate_social_care

    ev = simulate_social_care(pop, SEED, YEARS)
    ctx = make_ctx(pop, ev, tmp_path, 0.0, 0.0)
    paths = generate(ctx)
    rows_seen = 0
    for p in paths:
        la, y = p.parts[-4], int(p.parts[-2])
        schema = collection_schema("annex_a", y)
        lists = read(p)
        for key, rows in lists.items():
            tschema = schema.tables[key]
            mapping = map_headers(tschema, rows[0])
            assert len(mapping) == len(tschema.columns), (p.name, key)
            for r in rows[1:]:
                rows_seen += 1
                for name, i in mapping.items():
                    spec = tschema.columns[name]
                    if r[i] is not None and name in ("gender", "ethnicity"):
                        assert spec.canonical(r[i]) is not None, (key, name, r[i])
        snap = year_end(y)
        c = ev.contacts[ev.contacts["la"] == la]
        in_window = sum(1 for d in pd.to_datetime(c["contact_date"]).dt.date
                        if snap - timedelta(days=182) <= d <= snap)
        assert len(lists["list_1"]) - 1 == in_window
    assert rows_seen > 0


def test_each_misspelt_header_breaks_its_pattern_and_is_read_as_misspelt():
    """A COLUMN_MISSPELT fault is a header the column's pattern no longer finds (a typo in a
    word the pattern does not look at is read without guessing: no fault), and the reader
    still finds the column, flagged as misspelt, with every other column in its place."""
    from cslake.io.parse_xlsx import _close_headers, _map_header
    from cslake.synth.annex_a import MISSPELLINGS

    checked = 0
    for year in (YEARS[0], YEARS[-1]):
        schema = collection_schema("annex_a", year)
        for key, (_, columns) in LISTS.items():
            t = schema.tables[key]
            keys = [c for c, _ in columns]
            for j, (col, variants) in enumerate(columns):
                if col not in MISSPELLINGS:
                    continue
                assert not re.search(t.columns[col].path, MISSPELLINGS[col], re.I), (key, col)
                for style in range(len(variants)):
                    header = [v[style % len(v)] for _, v in columns]
                    header[j] = MISSPELLINGS[col]
                    found = _map_header(header, t)
                    found.update(_close_headers(header, found, t))
                    assert found == dict(enumerate(keys)), (key, col, style)
                    checked += 1
    assert checked > 10
