"""The LA error report: every rejected file, finding and quarantined row, with where and why."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from cslake.lake import Lake
from cslake.land import land_raw
from cslake.reports.errors import write_error_report

FIXTURES = Path(__file__).parent / "data_parsers"


def test_error_report_lists_file_and_table_problems(spark, tmp_path):
    raw = tmp_path / "raw"
    cin_dir = raw / "202" / "cin" / "2024"
    cin_dir.mkdir(parents=True)
    shutil.copy(FIXTURES / "cin_2024_valid.xml", cin_dir / "CIN_202_2024.xml")
    shutil.copy(FIXTURES / "cin_2024_valid.xml", cin_dir / "CIN_202_2024_copy.xml")
    whole = (FIXTURES / "cin_2024_valid.xml").read_bytes()
    (cin_dir / "CIN_202_2024_cut.xml").write_bytes(whole[: len(whole) // 2])
    eps = raw / "202" / "ssda903" / "2024"
    eps.mkdir(parents=True)
    shutil.copy(FIXTURES / "ssda903_episodes_dirty.csv", eps / "episodes.csv")
    lake = Lake(root=tmp_path / "lake", spark=spark)
    land_raw(lake, raw)

    rep = write_error_report(lake, "202", tmp_path / "reports")
    rows = list(csv.DictReader(rep.csv_path.open()))
    by_file = {(r["file"], r["rule"]) for r in rows}
    assert ("202/cin/2024/CIN_202_2024_cut.xml", "FILE_NOT_WELLFORMED") in by_file
    dup = [r for r in rows if r["rule"] == "FILE_DUPLICATE"]
    # Whichever of the two identical files is seen second is the duplicate; exactly one is.
    assert len(dup) == 1
    assert dup[0]["file"] in {"202/cin/2024/CIN_202_2024.xml", "202/cin/2024/CIN_202_2024_copy.xml"}
    extra = [r for r in rows if r["rule"] == "COLUMN_EXTRA"]
    assert extra and extra[0]["file"] == "202/ssda903/2024/episodes.csv" and extra[0]["column"].strip()
    cut = next(r for r in rows if r["rule"] == "FILE_NOT_WELLFORMED")
    assert "line" in cut["message"]
    page = rep.html_path.read_text()
    assert "CIN_202_2024_cut.xml" in page and "FILE_NOT_WELLFORMED" in page
    assert '<img alt="problems by rule" src="data:image/png;base64,' in page
    assert rep.files == 4
