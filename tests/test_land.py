"""Landing the generated region into bronze: nothing lost, every file kept, idempotent."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest
from lxml import etree

from cslake.lake import Lake
from cslake.land import land_raw, list_raw


@pytest.fixture(scope="module")
def landed(spark, synth_raw, tmp_path_factory):
    root = tmp_path_factory.mktemp("lake_land")
    lake = Lake(root=root, spark=spark)
    first = land_raw(lake, synth_raw)
    versions = {t: lake.version(t) for t in lake.tables()}
    second = land_raw(lake, synth_raw)
    files = lake.read_table("bronze.files").toPandas()
    return lake, first, second, versions, files


def _faults(raw: Path) -> list[dict]:
    return list(csv.DictReader((raw / "_truth" / "faults.csv").open()))


def test_every_raw_file_has_a_ledger_row_and_an_archived_copy(landed, synth_raw):
    lake, first, _, _, files = landed
    listing = list_raw(synth_raw)
    assert sorted(files["path"]) == sorted(listing["relpath"])
    for rel, sha, stored in zip(files["path"], files["sha256"], files["stored_path"]):
        data = (synth_raw / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
        assert (Path(lake.root) / stored).read_bytes() == data  # kept byte for byte


def test_second_run_commits_nothing(landed):
    lake, first, second, versions, _ = landed
    assert second.files_skipped == second.files_seen == first.files_seen
    assert second.outcomes == {}
    assert {t: lake.version(t) for t in lake.tables()} == versions


def test_file_level_faults_get_their_outcome(landed, synth_raw):
    _, _, _, _, files = landed
    by_path = files.set_index("path")
    expected = {"FILE_NOT_WELLFORMED": "rejected", "FILE_DUPLICATE": "duplicate", "FILE_RESUBMISSION": "superseded"}
    checked = 0
    for f in _faults(synth_raw):
        if f["rule"] in expected:
            row = by_path.loc[f["path"]]
            assert row["outcome"] == expected[f["rule"]], (f, row["reason"])
            checked += 1
    assert checked, "the dirty fixture should contain file-level faults"


def test_rejected_files_say_why(landed):
    _, _, _, _, files = landed
    rejected = files[files.outcome == "rejected"]
    assert rejected["reason"].str.match(r"^FILE_[A-Z_]+: .+").all()


def test_path_mismatch_is_reported_and_content_wins(landed, synth_raw):
    lake, _, _, _, files = landed
    findings = lake.read_table("bronze.findings").toPandas()
    for f in _faults(synth_raw):
        if f["rule"] == "FILE_PATH_MISMATCH":
            hits = findings[(findings.path == f["path"]) & (findings.rule == "FILE_PATH_MISMATCH")]
            assert len(hits), f"no FILE_PATH_MISMATCH finding for {f['path']}"
            assert files.set_index("path").loc[f["path"], "la"] == f["la"]


def test_cin_children_in_equal_bronze_rows_out(landed, synth_raw):
    """Counted independently with lxml from the raw files, per landed CIN file."""
    lake, _, _, _, files = landed
    cin = files[(files.collection == "cin") & files.outcome.isin(["landed", "superseded"])]
    assert len(cin)
    bronze = lake.read_table("bronze.cin_child").groupBy("_file_sha256").count().toPandas()
    got = dict(zip(bronze["_file_sha256"], bronze["count"]))
    for rel, sha in zip(cin["path"], cin["sha256"]):
        tree = etree.parse(str(synth_raw / rel))
        n_children = len(tree.xpath("//*[local-name()='Child']"))
        assert got.get(sha, 0) == n_children, rel


def test_903_csv_rows_in_equal_bronze_rows_out(landed, synth_raw):
    lake, _, _, _, files = landed
    eps = files[(files.collection == "ssda903") & (files.component == "episodes") & files.outcome.isin(["landed", "superseded"])]
    assert len(eps)
    bronze = lake.read_table("bronze.ssda903_episodes").groupBy("_file_sha256").count().toPandas()
    got = dict(zip(bronze["_file_sha256"], bronze["count"]))
    for rel, sha in zip(eps["path"], eps["sha256"]):
        text = (synth_raw / rel).read_bytes().decode("utf-8-sig", errors="replace")
        data_lines = [ln for ln in text.splitlines()[1:] if ln.strip().strip(",")]
        assert got.get(sha, 0) == len(data_lines), rel


def test_a_later_resubmission_supersedes_without_deleting(spark, synth_clean_raw, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(synth_clean_raw, raw)
    lake = Lake(root=tmp_path / "lake", spark=spark)
    land_raw(lake, raw)
    cin_file = sorted(raw.glob("202/cin/2024/*.xml"))[0]
    text = cin_file.read_text(encoding="utf-8")
    # The LA corrects its return: same LA, collection and year, a later header timestamp.
    newer = text.replace("<DateTime>", "<DateTime>9", 1) if "<DateTime>2" in text else text + "\n"
    resub = cin_file.with_name(cin_file.stem + "_resubmitted.xml")
    resub.write_text(newer, encoding="utf-8")
    report = land_raw(lake, raw)
    assert report.outcomes.get("landed") == 1
    files = lake.read_table("bronze.files").toPandas().set_index("path")
    old_rel = cin_file.relative_to(raw).as_posix()
    new_rel = resub.relative_to(raw).as_posix()
    assert files.loc[old_rel, "outcome"] == "superseded"
    assert files.loc[old_rel, "superseded_by"] == files.loc[new_rel, "sha256"]
    # History stays queryable: the old file's rows are still in bronze.
    child = lake.read_table("bronze.cin_child").toPandas()
    assert (child["_file_sha256"] == files.loc[old_rel, "sha256"]).sum() > 0


def test_parse_in_helper_processes_gives_the_rows_of_parsing_in_the_task(synth_raw, tmp_path):
    """Embedded Sail parses in helper processes; Spark and remote engines parse in the task
    itself. Both must stage exactly the same rows (one file of each format is enough)."""
    import pyarrow as pa

    from cslake import land

    listing = land.list_raw(synth_raw)
    picks = []
    for ext in (".xml", ".csv", ".xlsx"):
        mine = listing[listing.relpath.str.endswith(ext) & ~listing.relpath.str.startswith("_truth")]
        picks.append(mine.sort_values("size").iloc[-1])
    import pandas as pd

    chosen = pd.DataFrame(picks)[["path", "relpath", "mtime"]]
    batch = pa.RecordBatch.from_pandas(chosen, preserve_index=False)

    def staged(processes):
        out = pa.Table.from_batches(list(land._parse_files(iter([batch]), str(tmp_path / f"a{processes}"), processes)))
        df = out.to_pandas()
        df["rec"] = df["rec"].map(lambda m: None if m is None else tuple(sorted(m)))
        return df.astype(str).sort_values(list(df.columns)).reset_index(drop=True)

    in_task, in_helpers = staged(1), staged(2)
    land.shutdown_parse_pool()
    assert len(in_task) > 100 and set(in_task.kind) >= {"row", "file"}
    assert in_task.equals(in_helpers)
    # Every value of the table rows is what the file's own parser returned.
    from cslake.io import parse_file

    row = chosen.iloc[0]
    _, parsed = parse_file(Path(row.path).read_bytes(), Path(row.path).name, row.relpath)
    n = sum(len(df) for df in parsed.tables.values())
    assert (in_task[(in_task.kind == "row") & (in_task.path == row.relpath)].shape[0]) == n
