"""The CIN census writer: XSD-valid clean files, the events read back, faults where the manifest says."""

from __future__ import annotations

import dataclasses
import functools
from datetime import date
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from cslake.config import region
from cslake.schemas import collection_schema
from cslake.synth.cin import write_cin
from cslake.synth.context import Dirt, GenContext
from cslake.synth.population import build_population
from cslake.synth.social_care import simulate_social_care

YEARS = [2021, 2022, 2025]   # before CINPlanDates, with them, and with Sex
SEED = 5
XSD = Path(__file__).parent / "data" / "xsd"  # the sector's XSDs, copied with their licence (issue 15)


@pytest.fixture(scope="module")
def world():
    r = region("london")
    r = dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code in ("202", "203")))
    pop = build_population(r, YEARS, 0.1, SEED)
    return pop, simulate_social_care(pop, SEED, YEARS)


def _write(world, out: Path, rate: float, file_rate: float) -> GenContext:
    pop, ev = world
    ctx = GenContext(pop=pop, out=out, seed=SEED, years=YEARS, dirt=Dirt(rate, file_rate), events=ev)
    for la in pop.region.las:
        for y in YEARS:
            write_cin(ctx, la, y)
    return ctx


@pytest.fixture(scope="module")
def clean(world, tmp_path_factory):
    return _write(world, tmp_path_factory.mktemp("cin_clean"), 0.0, 0.0)


@pytest.fixture(scope="module")
def dirty(world, tmp_path_factory):
    return _write(world, tmp_path_factory.mktemp("cin_dirty"), 0.05, 0.6)


@functools.lru_cache(maxsize=None)
def _schema(year: int) -> xmlschema.XMLSchema:
    avail = sorted(int(p.stem.rsplit("_", 1)[1]) for p in XSD.glob("CIN_schema_*.xsd"))
    return xmlschema.XMLSchema(str(XSD / f"CIN_schema_{max(y for y in avail if y <= year)}.xsd"))


def _files(ctx: GenContext) -> list[Path]:
    return sorted(ctx.out.rglob("*.xml"))


def test_clean_files_validate_and_record_no_faults(clean):
    assert clean.faults.rows == []
    files = _files(clean)
    assert len(files) == 2 * len(YEARS)
    for f in files:
        year = int(f.parent.name)
        assert f.name == f"CIN_{f.parent.parent.parent.name}_{year}.xml"
        _schema(year).validate(str(f))


def _independent_counts(ev, la: str, year: int) -> dict[str, int]:
    ys, ye = date(year - 1, 4, 1), date(year, 3, 31)
    eps = ev.cin_episodes[(ev.cin_episodes["la"] == la) & (ev.cin_episodes["referral_date"] <= ye)]
    eps = eps[eps["closure_date"].map(lambda d: d is None or d >= ys)]
    ids = set(eps["episode_id"])

    def active(df, end_col):
        df = df[df["episode_id"].isin(ids) & (df["start_date"] <= ye)]
        return int(df[end_col].map(lambda d: d is None or d > ye or d >= ys).sum())

    return {"Child": eps["person_id"].nunique(), "CINdetails": len(eps),
            "Assessments": active(ev.assessments, "authorisation_date"),
            "ChildProtectionPlans": active(ev.cp_plans, "end_date"),
            "CINPlanDates": active(ev.cin_plans, "end_date") if year >= 2022 else 0}


def test_parsed_back_matches_events(world, clean):
    _, ev = world
    for f in _files(clean):
        la, year = f.parent.parent.parent.name, int(f.parent.name)
        root = etree.parse(str(f)).getroot()
        got = {tag: len(root.findall(f".//{tag}")) for tag in
               ("Child", "CINdetails", "Assessments", "ChildProtectionPlans", "CINPlanDates")}
        assert got == _independent_counts(ev, la, year), (f, got)
        assert root.findtext("Header/Source/LEA") == la
        assert root.findtext("Header/CollectionDetails/ReferenceDate") == f"{year}-03-31"
        sex_tag = "Sex" if year >= 2025 else "GenderCurrent"
        assert len(root.findall(f".//ChildIdentifiers/{sex_tag}")) == got["Child"]
        # Nothing dated after the reference date.
        for el in root.iter():
            if el.tag.endswith("Date") and el.tag not in ("ExpectedPersonBirthDate",) and el.text:
                assert date.fromisoformat(el.text) <= date(year, 3, 31), (f, el.tag, el.text)


def test_every_s47_of_a_closed_episode_says_whether_its_icpc_was_held(clean):
    """DfE 8868, written out independently: in a closed episode every Section47 has a
    DateOfInitialCPC or ICPCnotRequired true (an S47 whose episode closed before its ICPC,
    the child having moved away, is recorded as not required)."""
    closed_s47 = 0
    for f in _files(clean):
        for det in etree.parse(str(f)).getroot().iter("CINdetails"):
            if not det.findtext("CINclosureDate"):
                continue
            for s in det.findall("Section47"):
                closed_s47 += 1
                held = bool(s.findtext("DateOfInitialCPC"))
                not_required = s.findtext("ICPCnotRequired") in ("1", "true")
                assert held != not_required, (f.name, det.findtext("CINreferralDate"), held, not_required)
    assert closed_s47 > 0


def test_truth_maps_child_ids_to_people(world, clean):
    pop, _ = world
    ids = {(r.la, r.la_child_id): r.person_id for r in pop.residence.itertuples()}
    rows = [r for r in clean.truth.rows if r[0] == "cin"]
    assert rows
    for coll, year, la, table, key, pid in rows:
        assert ids[(la, key)] == pid
    f = next(p for p in _files(clean) if p.parent.name == "2025")
    written = {el.text for el in etree.parse(str(f)).getroot().iter("LAchildID")}
    la = f.parent.parent.parent.name
    assert written == {r[4] for r in rows if r[1] == 2025 and r[2] == la}


def test_same_seed_byte_identical(world, dirty, tmp_path):
    again = _write(world, tmp_path, 0.05, 0.6)
    a = {p.relative_to(dirty.out): p.read_bytes() for p in _files(dirty)}
    b = {p.relative_to(again.out): p.read_bytes() for p in _files(again)}
    assert a == b
    assert again.faults.rows == dirty.faults.rows


def _row_elements(root, table: str):
    schema = collection_schema("cin", 2025)
    row_path = schema.tables[table].row_path.split("/")[-1]
    return list(root.iter(row_path))


def test_every_fault_points_at_the_file_and_value(dirty):
    rows = dirty.faults.rows
    rules = {r["rule"] for r in rows}
    assert {"CODE_CASE", "UPN_INVALID", "CIN_8608"} <= rules
    assert rules & {"FILE_DUPLICATE", "FILE_RESUBMISSION", "FILE_ENCODING", "FILE_NOT_WELLFORMED",
                    "FILE_PATH_MISMATCH"}
    roots: dict[str, etree._Element] = {}
    for r in rows:
        path = dirty.out / r["path"]
        assert path.is_file(), r
        data = path.read_bytes()
        if r["rule"] == "FILE_NOT_WELLFORMED":
            with pytest.raises(etree.XMLSyntaxError):
                etree.fromstring(data)
            continue
        if r["rule"] == "FILE_DUPLICATE":
            assert data == (dirty.out / r["original"]).read_bytes()
            continue
        if r["rule"] == "FILE_ENCODING":
            assert data.startswith(b"\xef\xbb\xbf")
            continue
        if r["rule"] == "FILE_PATH_MISMATCH":
            assert r["path"] != r["original"]
            la, _, year = r["path"].split("/")[:3]
            assert la != r["la"] or int(year) != r["year"]
            continue
        if r["rule"] == "FILE_RESUBMISSION":
            root = etree.fromstring(data)
            assert root.findtext("Header/Source/SerialNo") == "001"
            continue
        if r["path"] not in roots:
            roots[r["path"]] = etree.fromstring(data)
        el = _row_elements(roots[r["path"]], r["table"])[r["row"] - 1]
        col = collection_schema("cin", r["year"]).tables[r["table"]].columns[r["column"]]
        value = el.findtext(col.path)
        assert value == r["injected"], r


def test_dirty_files_break_the_xsd_only_where_faults_were_injected(dirty):
    with_cell_faults = {r["path"] for r in dirty.faults.rows if r["table"]}
    for f in _files(dirty):
        rel = dirty.rel(f)
        year = int(f.stem.split("_")[2][:4])
        try:
            etree.fromstring(f.read_bytes())
        except etree.XMLSyntaxError:
            assert any(r["path"] == rel and r["rule"] == "FILE_NOT_WELLFORMED" for r in dirty.faults.rows)
            continue
        errors = list(_schema(year).iter_errors(f.read_bytes().lstrip(b"\xef\xbb\xbf").decode()))
        if errors:
            assert rel in with_cell_faults or any(r["path"] == rel and r["rule"] == "FILE_DUPLICATE"
                                                  for r in dirty.faults.rows), (rel, errors[0])
