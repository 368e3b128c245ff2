"""The generator as a whole: every return for every LA and year, determinism, the manifest."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
import yaml

from cslake.config import conf_dir
from cslake.upn import is_valid_upn
from tests.fixtures_synth import SMALL_LAS, SMALL_YEARS, generate_small

SEN2_FIRST_YEAR = 2023


def _tree_digest(root: Path, include_truth: bool) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and (include_truth or "_truth" not in p.parts) and p.suffix != ".parquet":
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_every_collection_for_every_la_and_year(synth_raw):
    writers = yaml.safe_load((conf_dir() / "synth.yaml").read_text())["writers"]
    missing = []
    for la in SMALL_LAS:
        for year in SMALL_YEARS:
            for coll, spec in writers.items():
                if year < spec.get("from_year", 0):
                    continue
                folder = synth_raw / la / coll / str(year)
                if not folder.is_dir() or not any(folder.iterdir()):
                    # A file may have been put in the wrong folder on purpose: the manifest says so.
                    missing.append(f"{la}/{coll}/{year}")
    faults = list(csv.DictReader((synth_raw / "_truth" / "faults.csv").open()))
    moved = {(f["la"], f["collection"], f["year"]) for f in faults if f["rule"] in ("FILE_PATH_MISMATCH", "FILE_YEAR_MISMATCH")}
    unexplained = [m for m in missing if tuple(m.split("/")) not in moved]
    assert not unexplained, f"no files for {unexplained}"
    assert (synth_raw / "context").is_dir() and any((synth_raw / "context").rglob("*.csv"))


def test_same_seed_is_byte_identical_and_independent_of_workers(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_small(a, seed=11, years=[2024, 2025], scale=0.01, workers=1)
    generate_small(b, seed=11, years=[2024, 2025], scale=0.01, workers=2)
    generate_small(c, seed=12, years=[2024, 2025], scale=0.01, workers=1)
    da, db, dc = (_tree_digest(x, include_truth=True) for x in (a, b, c))
    assert da == db
    assert da != dc


def test_regeneration_replaces_output_but_refuses_foreign_folders(tmp_path):
    out = tmp_path / "raw"
    generate_small(out, seed=3, years=[2025], scale=0.01, collections=["cin"])
    (out / "stray.txt").write_text("left from before")
    generate_small(out, seed=3, years=[2025], scale=0.01, collections=["cin"])
    assert not (out / "stray.txt").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("do not delete")
    with pytest.raises(FileExistsError):
        generate_small(foreign, seed=3, years=[2025], scale=0.01, collections=["cin"])
    assert (foreign / "notes.txt").exists()


def test_manifest_names_known_rules_and_real_files(synth_raw):
    rules = yaml.safe_load((conf_dir() / "rules.yaml").read_text())["rules"]
    faults = list(csv.DictReader((synth_raw / "_truth" / "faults.csv").open()))
    assert faults, "the default dirt rate must inject faults"
    for f in faults:
        assert f["rule"] in rules, f
        assert f["outcome"] == rules[f["rule"]]["outcome"], f
        assert (synth_raw / f["path"]).is_file(), f"manifest points at a missing file: {f}"
    ids = [int(f["fault_id"]) for f in faults]
    assert ids == list(range(1, len(faults) + 1))


def test_clean_generation_injects_nothing(synth_clean_raw):
    faults = list(csv.DictReader((synth_clean_raw / "_truth" / "faults.csv").open()))
    assert faults == []


def test_truth_people_have_valid_upns_and_records_map_to_people(synth_raw):
    people = {r["person_id"]: r for r in csv.DictReader((synth_raw / "_truth" / "people.csv").open())}
    assert all(is_valid_upn(p["upn"]) for p in people.values())
    assert all(is_valid_upn(p["upn2"]) for p in people.values() if p["upn2"])
    records = list(csv.DictReader((synth_raw / "_truth" / "records.csv").open()))
    collections = {r["collection"] for r in records}
    assert {"cin", "ssda903", "sen2"} <= collections
    # Social workers (csww) are not children; pupils living outside the region (ids from
    # 1e9, school census only) are simulated by the school census alone.
    outside = [r for r in records if r["collection"] != "csww" and r["person_id"] not in people]
    assert outside, "the cross-border extract should include pupils living outside the region"
    assert {r["collection"] for r in outside} == {"school_census"}
    assert all(int(r["person_id"]) >= 10**9 for r in outside)
