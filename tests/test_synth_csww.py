"""CSWW writer: XSD validity, the same workers across years, agency share, recorded dirt, determinism."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from cslake.config import region
from cslake.synth.context import Dirt, GenContext
from cslake.synth.csww import simulate_workers, write_csww
from cslake.synth.population import build_population

XSD_DIR = Path(__file__).parent / "data" / "xsd"  # the sector's XSDs, copied with their licence (issue 15)
YEARS = [2021, 2022, 2023, 2024, 2025]
SEED = 17


def _xsd(year: int) -> xmlschema.XMLSchema:
    """Published XSD (2021-2024 take 2022). XSD regexes have no anchors: the 2025 SWENo
    pattern's trailing '$' is dropped so that it can match at all."""
    text = (XSD_DIR / f"CSWW_schema_{2025 if year >= 2025 else 2022}.xsd").read_text(encoding="utf-8")
    return xmlschema.XMLSchema(re.sub(r'pattern value="\^?(.*?)\$?"', r'pattern value="\1"', text))


def _run(out: Path, rate: float, file_rate: float, scale: float = 0.3):
    r = region("london")
    r = dataclasses.replace(r, las=tuple(la for la in r.las if la.dfe_code in ("202", "303")))
    pop = build_population(r, YEARS, scale, SEED)
    ctx = GenContext(pop=pop, out=out, seed=SEED, years=YEARS, dirt=Dirt(rate, file_rate))
    paths = [p for la in r.las for y in YEARS for p in write_csww(ctx, la, y)]
    return ctx, paths


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("csww") / "raw", 0.0, 0.0)


def test_clean_files_validate_with_the_year_layout(clean):
    ctx, paths = clean
    assert not ctx.faults.rows and len(paths) == 10
    for p in paths:
        year = int(p.parent.name)
        _xsd(year).validate(str(p))
        root = etree.parse(str(p)).getroot()
        assert root.findtext("Header/CollectionDetails/Year") == str(year)
        assert root.findtext("Header/CollectionDetails/ReferenceDate") == date(year - 1, 9, 30).isoformat()
        if year >= 2025:
            assert root.find("LALevel") is not None and root.find(".//QualInst") is None
            assert root.find(".//BaseSalary") is not None and root.find(".//GenderCurrent") is None
        else:
            assert root.find("LALevelVacancies") is not None and root.find(".//BaseSalary") is None
            assert all(w.find("QualInst") is not None for w in root.iterfind("CSWWWorker"))


def test_workers_match_simulation_and_persist(clean):
    ctx, paths = clean
    workers = simulate_workers(ctx.pop, SEED, YEARS)
    by_swe = workers.drop_duplicates("swe_no").set_index("swe_no")
    seen: dict[str, set[int]] = {}
    agency, in_post = 0, 0
    for p in paths:
        year, la = int(p.parent.name), p.parts[-4]
        ref = date(year - 1, 9, 30)
        root = etree.parse(str(p)).getroot()
        ws = root.findall("CSWWWorker")
        expected = workers[(workers["la"] == la) & (workers["start"] <= ref) & (workers["end"] >= date(year - 2, 10, 1))]
        expected = expected[(expected["agency"] == 0) | (expected["end"] > ref)]
        assert sorted(w.findtext("SWENo") for w in ws) == sorted(expected["swe_no"])
        head = 0
        for w in ws:
            swe = w.findtext("SWENo")
            assert re.fullmatch(r"[A-Z]{2}\d{10}", swe)
            assert w.findtext("PersonBirthDate") == by_swe.loc[swe, "dob"].isoformat()
            seen.setdefault(swe, set()).add(year)
            if w.find("RoleEndDate") is None:
                in_post += 1
                head += w.findtext("AgencyWorker") == "1"
                agency += w.findtext("AgencyWorker") == "1"
        vac = root.find("LALevel") if year >= 2025 else root.find("LALevelVacancies")
        assert int(vac.findtext("NoAgencyHeadcount")) == head
    assert 0.10 < agency / in_post < 0.30
    assert sum(len(v) >= 3 for v in seen.values()) > 0.3 * len(seen)  # the same workers across years
    truth = {(t[1], t[2], t[4]): t[5] for t in ctx.truth.rows if t[0] == "csww"}
    assert all(truth[(int(p.parent.name), p.parts[-4], w.findtext("SWENo"))] >= 2_000_000_000
               for p in paths for w in etree.parse(str(p)).getroot().iterfind("CSWWWorker"))


def test_dirt_recorded(tmp_path):
    ctx, paths = _run(tmp_path / "raw", 0.1, 0.6)
    assert ctx.faults.rows
    by_path: dict[str, list[dict]] = {}
    for f in ctx.faults.rows:
        by_path.setdefault(f["path"], []).append(f)
    for p in paths:
        faults = by_path.get(ctx.rel(p), [])
        rules = {f["rule"] for f in faults}
        if "FILE_DUPLICATE" in rules:
            continue
        if "FILE_NOT_WELLFORMED" in rules:
            with pytest.raises(etree.XMLSyntaxError):
                etree.parse(str(p))
            continue
        errors = list(_xsd(int(p.parent.name)).iter_errors(str(p)))
        invalid_by_schema = [f for f in faults if f["rule"] != "CODE_CASE"]  # 'sw…' still matches [A-Za-z]{2}
        assert bool(errors) == bool(invalid_by_schema), (p, errors[:2], faults[:2])
        ws = etree.parse(str(p)).getroot().findall("CSWWWorker")
        for f in faults:
            assert ws[f["row"] - 1].findtext(f["column"]) == f["injected"]


def test_same_seed_identical_bytes(clean, tmp_path):
    _, paths = clean
    _, paths2 = _run(tmp_path / "raw", 0.0, 0.0)
    assert [a.read_bytes() for a in paths] == [b.read_bytes() for b in paths2]
