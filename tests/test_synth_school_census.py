"""School census cross-border extract: every row crosses a border, codes valid unless a fault says so."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from cslake.config import region
from cslake.schemas import collection_schema
from cslake.synth.context import Dirt, GenContext
from cslake.synth.context_files import OUTSIDE_LAS, write_postcode_lookup
from cslake.synth.population import build_population
from cslake.synth.send import census_date, simulate_send
from cslake.synth.school_census import HEADER, write_school_census
from cslake.upn import is_valid_upn

YEARS = [2023, 2024, 2025]
SEED = 13


def _run(out: Path, rate: float, file_rate: float):
    r = region("london")
    r = dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code in ("202", "203", "302")))
    pop = build_population(r, YEARS, 0.05, SEED)
    ctx = GenContext(pop=pop, out=out, seed=SEED, years=YEARS, dirt=Dirt(rate, file_rate),
                     sen=simulate_send(pop, SEED, YEARS))
    paths = [p for la in r.las for y in YEARS for p in write_school_census(ctx, la, y)]
    write_postcode_lookup(ctx, out / "context" / "postcode_lookup")
    return ctx, paths


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("sc") / "raw", 0.0, 0.0)


def _read(p: Path) -> pd.DataFrame:
    return pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def test_every_row_is_cross_border(clean):
    ctx, paths = clean
    assert not ctx.faults.rows
    lookup = _read(ctx.out / "context" / "postcode_lookup" / "postcode_lookup.csv").set_index("postcode")["la_code"]
    outside_codes = {c for c, _, _ in OUTSIDE_LAS["london"]}
    n_outside = 0
    for p in paths:
        df = _read(p)
        assert list(df.columns) == HEADER
        school_la = p.parts[-4]
        assert (df["SchoolLAEstab"].str[:3] == school_la).all()
        assert df["SchoolLAEstab"].str.fullmatch(r"\d{7}").all()
        home = df["HomePostcode"].map(lookup)
        assert home.notna().all()
        assert (home != school_la).all()
        n_outside += home.isin(outside_codes).sum()
        assert (df["CensusDate"] == census_date(int(p.parent.name)).isoformat()).all()
    assert n_outside > 0


def test_codes_valid_and_truth_maps_rows(clean):
    ctx, paths = clean
    schema = collection_schema("school_census", 2025).tables["pupils"].columns
    truth = {(t[1], t[2], t[4]): t[5] for t in ctx.truth.rows if t[0] == "school_census"}
    people = ctx.pop.people.set_index("person_id")
    for p in paths:
        df = _read(p)
        year, la = int(p.parent.name), p.parts[-4]
        for col in ("Sex", "SENprovision", "NCyearActual", "EnrolStatus", "CensusTerm", "Ethnicity"):
            assert set(df[col]) <= set(schema[col].codes), col
        assert df["UPN"].map(is_valid_upn).all()
        for row in df.itertuples(index=False):
            pid = truth[(year, la, row.UPN)]
            if pid in people.index:
                assert row.PersonBirthDate == people.loc[pid, "dob"].date().isoformat()
            else:
                assert pid >= 1_000_000_000  # a pupil living beyond the region


def test_ehcp_flag_agrees_with_sen2_plans(clean):
    ctx, paths = clean
    plans = ctx.sen.plans
    truth = {(t[1], t[2], t[4]): t[5] for t in ctx.truth.rows if t[0] == "school_census"}
    for p in paths:
        year, la = int(p.parent.name), p.parts[-4]
        cd = census_date(year)
        active = set(plans[(plans["start_date"] <= cd) & plans["cease_date"].map(lambda c: c is None or c > cd)]["person_id"])
        df = _read(p)
        pids = df["UPN"].map(lambda u: truth[(year, la, u)])
        assert ((df["SENprovision"] == "E") == pids.isin(active)).all()


def test_dirt_recorded(tmp_path):
    ctx, paths = _run(tmp_path / "raw", 0.05, 0.5)
    assert {f["rule"] for f in ctx.faults.rows} >= {"CODE_CASE", "UPN_INVALID"}
    for f in ctx.faults.rows:
        p = ctx.out / f["path"]
        raw = p.read_bytes()
        if f["rule"] == "FILE_ENCODING":
            assert raw.startswith(b"\xef\xbb\xbf")
        elif f["rule"] == "FILE_DUPLICATE":
            assert any(q.read_bytes() == raw for q in paths if q != p)
        else:
            row = list(csv.reader(raw.decode("utf-8-sig").splitlines()))[f["row"]]
            assert row[HEADER.index(f["column"])] == f["injected"]
            if f["rule"] == "UPN_INVALID":
                assert not is_valid_upn(f["injected"])


def test_same_seed_identical_bytes(clean, tmp_path):
    ctx, paths = clean
    ctx2, paths2 = _run(tmp_path / "raw", 0.0, 0.0)
    for a, b in zip(paths, paths2):
        assert a.read_bytes() == b.read_bytes()
