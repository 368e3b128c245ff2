"""Landing's pure pieces on small hand-made inputs: the ledger decisions (driver-side pandas,
one row per file) and the DataFrame transforms that shape bronze rows.

Each expectation is worked out by hand from the rule it tests, not copied from the code's output.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from chispa import assert_df_equality

from cslake.land import (
    apply_changes,
    arrival_rows,
    bronze_rows,
    decide_outcomes,
    file_set_key,
    landing_paths,
    mark_duplicates,
    parse_tasks,
    reconcile_set_years,
    return_identity,
    split_seen_again,
    staged,
    supersession_changes,
    unlanded,
    with_new_mtimes,
    year_mismatch_rows,
    year_of_dates,
)

NOW = datetime(2025, 5, 1, 12, 0)
T0 = 1_700_000_000.0  # a file modification time (seconds)


def _files(*rows: dict) -> pd.DataFrame:
    """Staged file summaries as land_from_stage has them (defaults for what a test does not set)."""
    base = {"sha256": "h", "path": "raw/202/cin/2024/a.xml", "size_bytes": 10, "format": "xml", "la": "202",
            "collection": "cin", "component": None, "year": 2024, "period": "annual", "mtime": T0, "n_rows": 5,
            "content_ts": None, "rule": None, "message": None}
    return pd.DataFrame([{**base, **r} for r in rows])


def _known(*rows: dict) -> pd.DataFrame:
    """Ledger rows of earlier runs (bronze.files as known_files reads it)."""
    base = {"sha256": "h", "path": "raw/202/cin/2023/a.xml", "size_bytes": 10, "mtime_key": T0, "outcome": "landed",
            "la": "202", "collection": "cin", "component": None, "year": 2024, "period": "annual",
            "received_at": datetime(2025, 1, 1), "content_ts": None, "superseded_by": None, "reason": None,
            "duplicate_of": None, "source_modified_at": pd.Timestamp(T0, unit="s"), "is_new": False}
    return pd.DataFrame([{**base, **r} for r in rows])


NO_KNOWN = pd.DataFrame(columns=["sha256", "path", "size_bytes", "mtime_key", "outcome", "la", "collection",
                                 "component", "year", "period", "received_at", "content_ts"])


# --- listing ---------------------------------------------------------------------------------------


def test_unlanded_skips_only_files_known_by_path_size_and_mtime():
    listing = pd.DataFrame({"path": ["/r/a", "/r/b", "/r/c", "/r/d"], "relpath": ["a", "b", "c", "d"],
                            "size": [10, 11, 10, 10], "mtime": [T0 + 0.0004, T0, T0 + 0.01, T0]})
    known = _known({"path": "a"}, {"path": "b"}, {"path": "c"}, {"path": "d", "mtime_key": None})
    # a: same path, size and mtime within 1 ms; b: size changed; c: touched; d: no recorded time.
    assert list(unlanded(listing, known).relpath) == ["b", "c", "d"]
    assert unlanded(listing, NO_KNOWN) is listing


def test_parse_tasks_deal_the_biggest_files_first_round_robin():
    listing = pd.DataFrame({"path": ["/r/a", "/r/b", "/r/c"], "relpath": ["a", "b", "c"],
                            "size": [10, 30, 20], "mtime": [T0, T0, T0]})
    tasks, n_parts = parse_tasks(listing)
    assert n_parts == 3
    assert list(zip(tasks.relpath, tasks.bucket)) == [("b", 0), ("c", 1), ("a", 2)]


# --- files seen again --------------------------------------------------------------------------------


def test_a_file_with_known_bytes_at_a_known_path_is_seen_again_not_an_arrival():
    files = _files({"sha256": "h1", "path": "p1", "mtime": T0 + 60}, {"sha256": "h2", "path": "p2"},
                   {"sha256": "h1", "path": "p3"})  # h1 at another path: an arrival (maybe a duplicate)
    arrivals, seen_again, new_mtime = split_seen_again(files, _known({"sha256": "h1", "path": "p1"}))
    assert list(arrivals.path) == ["p2", "p3"] and list(arrivals.index) == [0, 1]
    assert seen_again == ["p1"]
    assert new_mtime == {("h1", "p1"): T0 + 60}


def test_files_seen_again_take_their_new_mtime_in_the_ledger():
    ledger = pd.DataFrame({"sha256": ["h1", "h3"], "path": ["p1", "p3"], "outcome": ["superseded", "landed"],
                           "source_modified_at": pd.to_datetime([T0, T0], unit="s"), "is_new": [False, True]})
    known = _known({"sha256": "h1", "path": "p1"}, {"sha256": "h2", "path": "p2"})
    out = with_new_mtimes(ledger, known, {("h1", "p1"): T0 + 60, ("h2", "p2"): T0 + 120})
    # h1 is in this run's ledger (its outcome changes): one row with both updates; h2 is
    # added from the old ledger with the new time and is_new False.
    assert list(zip(out.path, out.outcome, out.is_new)) == [("p1", "superseded", False), ("p3", "landed", True),
                                                         ("p2", "landed", False)]
    assert list(out.source_modified_at) == list(pd.to_datetime([T0 + 60, T0, T0 + 120], unit="s"))
    assert with_new_mtimes(ledger, known, {}) is ledger


def test_landing_paths_leave_out_this_runs_duplicates_rejections_and_files_seen_again():
    ledger = pd.DataFrame({"path": ["a", "b", "c", "d", "e"],
                           "outcome": ["landed", "superseded", "duplicate", "rejected", "superseded"],
                           "is_new": [True, True, True, True, False]})
    assert landing_paths(ledger, ["z"]) == (["a", "b"], ["c", "d", "z"])


# --- outcomes -----------------------------------------------------------------------------------------


def test_arrival_rows_land_or_reject_with_the_rule():
    files = _files({"sha256": "ab12", "path": "raw/202/cin/2024/x.xml"},
                   {"sha256": "cd34", "path": "raw/202/cin/2024/y.xml", "rule": "FILE_EMPTY",
                    "message": "the file is empty", "n_rows": None})
    new = arrival_rows(files, "run9", NOW)
    assert list(new.outcome) == ["landed", "rejected"]
    assert list(new.reason.fillna("-")) == ["-", "FILE_EMPTY: the file is empty"]
    assert list(new.filename) == ["x.xml", "y.xml"]
    assert list(new.stored_path) == ["bronze/_archive/ab/ab12", "bronze/_archive/cd/cd34"]
    assert new.row_count.iloc[0] == 5 and pd.isna(new.row_count.iloc[1])
    assert new.is_new.all() and (new.run_id == "run9").all()


def test_the_later_copy_of_the_same_bytes_for_the_same_return_is_the_duplicate():
    files = _files({"sha256": "h", "path": "raw/202/cin/2024/x (1).xml", "mtime": T0 + 10},
                   {"sha256": "h", "path": "raw/202/cin/2024/x.xml", "mtime": T0},
                   {"sha256": "h", "path": "raw/203/cin/2024/x.xml", "la": "203"},  # another return
                   {"sha256": "h", "path": "raw/202/cin/2024/bad.xml", "rule": "FILE_EMPTY"})
    new = mark_duplicates(arrival_rows(files, "r", NOW), NO_KNOWN)
    assert list(new.outcome) == ["duplicate", "landed", "landed", "rejected"]
    assert new.duplicate_of.iloc[0] == "raw/202/cin/2024/x.xml"
    assert new.reason.iloc[0] == "FILE_DUPLICATE: the same bytes arrived as raw/202/cin/2024/x.xml"


def test_a_resend_of_an_earlier_runs_file_is_a_duplicate_of_its_first_arrival():
    known = _known({"path": "old/x.xml", "received_at": datetime(2025, 2, 1)},
                   {"path": "old/x (copy).xml", "outcome": "duplicate", "received_at": datetime(2025, 1, 1)})
    new = mark_duplicates(arrival_rows(_files({"path": "new/x.xml"}, {"path": "old/x.xml"}), "r", NOW), known)
    # The landed one, though the duplicate arrived first; a file is never a duplicate of itself.
    assert list(new.duplicate_of) == ["old/x.xml", None]
    assert list(new.outcome) == ["duplicate", "landed"]


def test_the_latest_submission_of_a_return_supersedes_the_others():
    known = _known({"sha256": "old", "path": "p0", "content_ts": "2024-05-01"})
    new = arrival_rows(_files({"sha256": "n1", "path": "p1", "content_ts": "2024-06-01"},
                              {"sha256": "n2", "path": "p2", "content_ts": "2024-04-01"},
                              {"sha256": "q", "path": "p3", "la": "203"}), "r", NOW)
    changed = supersession_changes(new, known)
    assert sorted((r.path, r.outcome, r.superseded_by) for r in changed) == [
        ("p0", "superseded", "n1"), ("p2", "superseded", "n1")]
    ledger = apply_changes(new, changed)
    # This run's p2 is changed in place; the earlier run's p0 is appended.
    assert list(zip(ledger.path, ledger.outcome)) == [("p1", "landed"), ("p2", "superseded"), ("p3", "landed"),
                                                      ("p0", "superseded")]
    assert ledger.reason.iloc[1] == "FILE_RESUBMISSION: superseded by p1"


def test_a_superseded_file_that_is_latest_again_lands_again():
    known = _known({"sha256": "a", "path": "p0", "content_ts": "2", "outcome": "superseded", "superseded_by": "b"},
                   {"sha256": "b", "path": "p1", "content_ts": "1"})
    changed = supersession_changes(arrival_rows(_files({"sha256": "z", "path": "px", "la": "209"}), "r", NOW), known)
    assert sorted((r.path, r.outcome, r.superseded_by) for r in changed) == [
        ("p0", "landed", None), ("p1", "superseded", "a")]


def test_decide_outcomes_gives_ledger_columns_and_is_new():
    ledger = decide_outcomes(_files({"sha256": "h", "path": "p1"}, {"sha256": "h", "path": "p2", "mtime": T0 + 1}),
                             NO_KNOWN, "r", NOW)
    assert list(ledger.columns)[:3] == ["sha256", "path", "filename"] and ledger.columns[-1] == "is_new"
    assert "mtime" not in ledger.columns and "n_rows" not in ledger.columns
    assert list(ledger.outcome) == ["landed", "duplicate"]


def test_return_identity_compares_ledger_and_run_values():
    row = pd.Series({"la": "202", "year": 2024.0, "period": float("nan"), "component": None})
    assert return_identity(row, ["la", "year", "period", "component"]) == ("202", 2024, None, None)


# --- 903 sets filed under the wrong year --------------------------------------------------------------


def test_file_set_key_drops_the_words_that_name_a_table():
    words = {"header", "episodes"}
    assert file_set_key("raw/202/ssda903/2023/Header_final.csv", words) == ("raw/202/ssda903/2023", ("final",))
    assert file_set_key("raw/202/ssda903/2023/Episodes_final.csv", words) == ("raw/202/ssda903/2023", ("final",))
    assert file_set_key("raw/202/ssda903/2023/SSDA903_2023-24_Header.csv", words)[1] == ("ssda903", "2023", "24")


def test_year_of_dates_needs_more_later_dates_than_dates_within():
    assert year_of_dates([json.dumps({"2023": 1, "2024": 3}), json.dumps({"2025": 1})], 2023) == (2024, 4, 1)
    assert year_of_dates([json.dumps({"2023": 4, "2024": 3})], 2023) is None  # more within
    assert year_of_dates([json.dumps({"2024": 1})], 2023) is None  # a single later date
    assert year_of_dates([json.dumps({"2024": 2, "2025": 2})], 2023) == (2025, 4, 0)  # a tie: the later year


def test_a_903_set_whose_dates_are_a_later_year_takes_that_year():
    folder = "raw/202/ssda903/2023"
    files = _files({"sha256": "e", "path": f"{folder}/Episodes_final.csv", "collection": "ssda903", "year": 2023,
                    "component": "episodes", "year_evidence": json.dumps({"2024": 5, "2023": 1})},
                   {"sha256": "h", "path": f"{folder}/Header_final.csv", "collection": "ssda903", "year": 2023,
                    "component": "header", "year_evidence": None},
                   {"sha256": "o", "path": f"{folder}/SSDA903_Episodes.csv", "collection": "ssda903", "year": 2023,
                    "component": "episodes", "year_evidence": json.dumps({"2023": 9})})
    out, fixes, findings = reconcile_set_years(files)
    assert fixes == {f"{folder}/Episodes_final.csv": 2024, f"{folder}/Header_final.csv": 2024}
    assert list(out.year) == [2024, 2024, 2023] and list(files.year) == [2023, 2023, 2023]
    assert [(f["path"].rsplit("/", 1)[1], f["rule"], f["year"], f["value"], f["tbl"]) for f in findings] == [
        ("Episodes_final.csv", "FILE_YEAR_MISMATCH", 2024, "2023", "episodes"),
        ("Header_final.csv", "FILE_YEAR_MISMATCH", 2024, "2023", "header")]
    assert findings[0]["message"].startswith("filed as 2023, but 5 of the set's dates fall after 31 March 2023 "
                                             "(against 1 within 2023; 2 file(s)")


def test_year_mismatch_rows_only_for_this_runs_arrivals():
    ledger = pd.DataFrame({"path": ["a", "b", "c", "d"], "outcome": ["landed", "duplicate", "rejected", "landed"],
                           "is_new": [True, True, True, False]})
    finding = {"sha256": "s", "la": "202", "collection": "ssda903", "year": 2024, "rule": "FILE_YEAR_MISMATCH",
               "severity": "warning", "tbl": None, "row": None, "col": None, "value": "2023", "message": "m"}
    out = year_mismatch_rows([{**finding, "path": p} for p in "abcd"], ledger)
    assert list(out.path) == ["a", "b"]
    assert str(out.year.dtype) == "int32" and str(out.row.dtype) == "Int64"
    assert list(out.columns)[:5] == ["sha256", "path", "la", "collection", "year"]


# --- bronze rows (Spark) -----------------------------------------------------------------------------

STAGED = ("kind string, sha256 string, path string, la string, collection string, tbl string, year int, "
          "period string, row bigint, parent_row bigint, rec map<string,string>, extra string")


@pytest.fixture
def stage(spark):
    return spark.createDataFrame([
        ("row", "s1", "p1", "202", "ssda903", "header", 2023, "annual", 2, None, {"CHILD": "7", "SEX": "1"}, None),
        ("row", "s2", "p2", "202", "ssda903", "header", 2023, "annual", 2, None, {"CHILD": "8"}, '{"X": "y"}'),
        ("row", "s2", "p2", "202", "ssda903", "episodes", 2023, "annual", 3, None, {"CHILD": "8"}, None),
        ("finding", "s2", "p2", "202", "ssda903", "header", 2023, "annual", 1, None, None, None),
        ("row", "s3", "p3", "202", "ssda903", "header", 2023, "annual", 4, None, {"CHILD": "9"}, None),
    ], STAGED)


def test_staged_keeps_one_kind_without_the_files_left_out(stage, spark):
    expected = spark.createDataFrame([("s1", 2), ("s2", 2), ("s2", 3)], "sha256 string, row bigint")
    assert_df_equality(staged(stage, "row", ["p3"]).select("sha256", "row"), expected,
                       ignore_row_order=True, ignore_nullable=True)
    assert staged(stage, "finding", []).count() == 1


def test_bronze_rows_are_lineage_then_values_at_the_corrected_year(stage, spark):
    out = bronze_rows(staged(stage, "row", ["p3"]), "ssda903", "header", ["CHILD", "SEX"], "run1", {"p2": 2024})
    expected = spark.createDataFrame([
        # p2's set was read as the 2024 return; a column the file lacked (SEX of s2) is null.
        ("s1", "202", "ssda903", 2023, "annual", 2, None, None, "run1", "7", "1"),
        ("s2", "202", "ssda903", 2024, "annual", 2, None, '{"X": "y"}', "run1", "8", None),
    ], "_file_sha256 string, _la string, _collection string, _year int, _period string, _row bigint, "
       "_parent_row bigint, _extra string, _run_id string, CHILD string, SEX string")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_bronze_rows_without_year_fixes_keep_the_parsed_year(stage, spark):
    out = bronze_rows(stage.filter("kind = 'row'"), "ssda903", "episodes", ["CHILD"], "run1", {})
    expected = spark.createDataFrame([("s2", 2023, "8")], "_file_sha256 string, _year int, CHILD string")
    assert_df_equality(out.select("_file_sha256", "_year", "CHILD"), expected, ignore_nullable=True)


def test_file_times_become_timestamps_at_the_nearest_microsecond():
    """A file time from the file system (float seconds) to the ledger's microsecond timestamp.
    pd.to_datetime(unit="s") on a float column carries the nanoseconds as a double and gave
    .745951 for .7459521; the engines also disagreed on such doubles (now whole microseconds)."""
    from cslake.land import seconds_to_micros, seconds_to_timestamps

    # st_mtime of files whose st_mtime_ns were ...745952058, ...805606167 and ...768250732.
    secs = pd.Series([1796542118.7459521, 1796546197.8056061, 1796542118.7682507, 1700000000.0])
    assert list(seconds_to_micros(secs)) == [1796542118745952, 1796546197805606, 1796542118768250,
                                             1700000000000000]
    got = seconds_to_timestamps(secs)
    assert [t.isoformat() for t in got] == ["2026-12-06T07:28:38.745952", "2026-12-06T08:36:37.805606",
                                            "2026-12-06T07:28:38.768250", "2023-11-14T22:13:20"]
    # The double Sail returned for the first one, through the old conversion: a microsecond early.
    assert pd.to_datetime(pd.Series([1796542118.745952]), unit="s")[0].floor("us").isoformat() \
        == "2026-12-06T07:28:38.745951"


def test_held_rows_of_a_context_file_without_a_year():
    """A held resubmission of a context file (no collection year) is a finding with a null year,
    not a crash (found landing a second region's context files into a lake)."""
    import pandas as pd

    from cslake.land import HELD, held_rows

    ledger = pd.DataFrame({"is_new": [True, True, False], "outcome": [HELD, HELD, HELD],
                           "sha256": ["a", "b", "c"], "path": ["p/a.csv", "p/b.csv", "p/c.csv"],
                           "la": [None, "201", "201"], "collection": ["context_population", "cin", "cin"],
                           "year": [None, 2024, 2023], "component": ["population", "cin", "cin"],
                           "reason": ["FILE_RESUBMISSION_HELD: no data rows", "FILE_RESUBMISSION_HELD: 3 of 20", "x"]})
    out = held_rows(ledger)
    assert list(out.sha256) == ["a", "b"]
    assert pd.isna(out.year[0]) and out.year[1] == 2024
    assert list(out.message) == ["no data rows", "3 of 20"]


# --- header and LA checks (issue 12): each a finding for the LA whose folder the file came in -----------

def _cin_xml(lea: str, year: int, ref: str, dt: str = "2024-05-01T10:00:00", serial: str = "001") -> bytes:
    return (f"<Message><Header><CollectionDetails><Collection>CIN</Collection><Year>{year}</Year>"
            f"<ReferenceDate>{ref}</ReferenceDate></CollectionDetails><Source><SourceLevel>L</SourceLevel>"
            f"<LEA>{lea}</LEA><SoftwareCode>x</SoftwareCode><Release>1</Release><SerialNo>{serial}</SerialNo>"
            f"<DateTime>{dt}</DateTime></Source></Header><Children><Child><ChildIdentifiers>"
            f"<LAchildID>C1</LAchildID></ChildIdentifiers></Child></Children></Message>").encode()


def _parse_rows(tmp_path, rel: str, data: bytes) -> tuple[dict, list[dict]]:
    """(the staged file row, the staged finding rows) of one file parsed as a land task does."""
    from cslake.land import _parse_one

    p = tmp_path / "raw" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    rows, spool = _parse_one(str(p), rel, 0, str(tmp_path / "archive"))
    if spool is not None:  # the file's staged rows, which land's task would read back and delete
        Path(spool).unlink()
    files = [r for r in rows if r["kind"] == "file"]
    assert len(files) == 1
    return files[0], [r for r in rows if r["kind"] == "finding"]


def test_a_header_lea_not_in_la_codes_is_refused_for_the_folders_la_and_kept(tmp_path):
    """LEA 975 is not an LA (conf/la_codes.csv): the file sent in 202's folder is rejected as
    202's (so 202's error report shows it), and its bytes are in the archive."""
    import hashlib

    data = _cin_xml("975", 2024, "2024-03-31")
    file_row, findings = _parse_rows(tmp_path, "202/cin/2024/CIN_202_2024.xml", data)
    assert (file_row["rule"], file_row["la"], file_row["collection"], file_row["year"]) == \
        ("FILE_UNKNOWN_LA", "202", "cin", 2024)
    assert "LA 202's folder" in file_row["message"] and "LA 975" in file_row["message"]
    assert "conf/la_codes.csv" in file_row["message"]
    sha = hashlib.sha256(data).hexdigest()
    assert (tmp_path / "archive" / sha[:2] / sha).read_bytes() == data
    # rejected at the ledger: the file row's rule becomes its outcome (nothing of it reaches bronze tables)
    new = arrival_rows(_files({"path": "202/cin/2024/CIN_202_2024.xml", "rule": file_row["rule"],
                               "message": file_row["message"], "la": "202"}), "r", NOW)
    assert list(new.outcome) == ["rejected"] and new.reason[0].startswith("FILE_UNKNOWN_LA: sent in LA 202")


def test_a_folder_code_not_in_la_codes_is_refused_under_that_code(tmp_path):
    file_row, _ = _parse_rows(tmp_path, "975/cin/2024/x.xml", _cin_xml("975", 2024, "2024-03-31"))
    assert (file_row["rule"], file_row["la"]) == ("FILE_UNKNOWN_LA", "975")
    assert file_row["message"].startswith("sent in folder 975/")


def test_an_unknown_folder_with_a_known_header_lea_lands_as_the_header_la(tmp_path):
    file_row, findings = _parse_rows(tmp_path, "975/cin/2024/x.xml", _cin_xml("202", 2024, "2024-03-31"))
    assert file_row.get("rule") is None and file_row["la"] == "202"
    assert [(f["rule"], f["la"], f["value"]) for f in findings] == [("FILE_PATH_MISMATCH", "202", "975")]


def test_header_la_other_than_the_folders_is_a_finding_for_both_las(tmp_path):
    """Content wins (landed as 202), FILE_PATH_MISMATCH for 202, FILE_LA_MISMATCH for the sender 203."""
    file_row, findings = _parse_rows(tmp_path, "203/cin/2024/x.xml", _cin_xml("202", 2024, "2024-03-31"))
    assert file_row.get("rule") is None and file_row["la"] == "202"
    got = sorted((f["rule"], f["la"], f["col"], f["value"]) for f in findings)
    assert got == [("FILE_LA_MISMATCH", "203", "LA", "202"), ("FILE_PATH_MISMATCH", "202", "LA", "203")]
    mismatch = next(f for f in findings if f["rule"] == "FILE_LA_MISMATCH")
    assert mismatch["message"] == "sent in LA 203's folder, but the file says it is LA 202's return: landed as LA 202's"


@pytest.mark.parametrize("folder_year, ref, year_used, why", [
    # ReferenceDate on 31 March of the wrong year: the folder breaks the tie; else the Year (DfE rule 100)
    (2024, "2023-03-31", 2024, "the folder or file name agrees with the Year"),
    (2023, "2023-03-31", 2023, "the folder or file name agrees with the ReferenceDate"),
    (2022, "2023-03-31", 2024, "the Year, as DfE's rule 100 holds the ReferenceDate to it"),
])
def test_cin_header_year_against_reference_date_is_dfe_rule_100(tmp_path, folder_year, ref, year_used, why):
    file_row, findings = _parse_rows(tmp_path, f"202/cin/{folder_year}/x.xml", _cin_xml("202", 2024, ref))
    assert file_row["year"] == year_used
    f100 = [f for f in findings if f["rule"] == "CIN_100"]
    assert len(f100) == 1 and f100[0]["la"] == "202" and f100[0]["col"] == "ReferenceDate" and f100[0]["value"] == ref
    assert f100[0]["message"] == (f"header Year 2024 but ReferenceDate {ref} falls in the 2023 collection year "
                                  f"(it should be 31 March 2024): read as the {year_used} return ({why})")


def test_cin_reference_date_not_31_march_is_dfe_rule_100(tmp_path):
    file_row, findings = _parse_rows(tmp_path, "202/cin/2024/x.xml", _cin_xml("202", 2024, "2024-03-30"))
    assert file_row["year"] == 2024
    assert [(f["rule"], f["value"], f["message"]) for f in findings] == [
        ("CIN_100", "2024-03-30", "header ReferenceDate 2024-03-30 is not 2024-03-31, 31 March of the header "
                                  "Year 2024: read as the 2024 return")]
    _, clean = _parse_rows(tmp_path, "202/cin/2024/y.xml", _cin_xml("202", 2024, "2024-03-31"))
    assert clean == []


def test_dfe_rule_100_is_the_cin_validators_rule():
    """CIN_100 carries the DfE code of the CIN validator's "Reference Date is incorrect"."""
    from cslake.config import load_yaml

    assert load_yaml("rules.yaml")["rules"]["CIN_100"]["dfe_code"] == "100"


def test_two_different_files_with_the_same_header_datetime_and_serial_are_a_finding():
    from cslake.land import serial_repeated_rows

    ts = "2024-05-01T10:00:00|001"
    files = _files({"sha256": "a1", "path": "raw/202/cin/2024/a.xml", "content_ts": ts, "mtime": T0},
                   {"sha256": "b2", "path": "raw/202/cin/2024/b.xml", "content_ts": ts, "mtime": T0 + 60},
                   {"sha256": "c3", "path": "raw/202/cin/2024/c.xml", "content_ts": "2024-05-02T10:00:00|002",
                    "mtime": T0 - 60},
                   {"sha256": "a1", "path": "raw/202/cin/2024/a (copy).xml", "content_ts": ts, "mtime": T0 + 90},
                   {"sha256": "d4", "path": "raw/203/cin/2024/d.xml", "la": "203", "content_ts": ts})
    ledger = decide_outcomes(files, NO_KNOWN, "r", NOW)
    out = serial_repeated_rows(ledger, NO_KNOWN)
    # a and b: other bytes, same return, same stamp. The copy of a is a duplicate (same bytes), c has
    # its own stamp, d is another LA's return. c (serial 002) is the latest by header: live.
    assert sorted(zip(out.path, out.la)) == [("raw/202/cin/2024/a.xml", "202"), ("raw/202/cin/2024/b.xml", "202")]
    assert set(out.rule) == {"FILE_SERIAL_REPEATED"} and set(out.value) == {ts}
    msg = out.set_index("path").message
    assert msg["raw/202/cin/2024/a.xml"] == (
        "header DateTime 2024-05-01T10:00:00 and SerialNo 001 are the same as in raw/202/cin/2024/b.xml, a "
        "different file for the same return: which was submitted later cannot be told from the header; "
        "ordered by file time, raw/202/cin/2024/c.xml is the live file")


def test_a_repeated_serial_against_an_earlier_runs_file_is_found_for_the_new_file_only():
    from cslake.land import serial_repeated_rows

    ts = "2024-05-01T10:00:00|001"
    known = _known({"sha256": "old", "path": "raw/202/cin/2024/a.xml", "content_ts": ts})
    files = _files({"sha256": "new", "path": "raw/202/cin/2024/b.xml", "content_ts": ts, "mtime": T0 + 60})
    ledger = decide_outcomes(files, known, "r", NOW)
    out = serial_repeated_rows(ledger, known)
    assert list(out.path) == ["raw/202/cin/2024/b.xml"]
    assert "the same as in raw/202/cin/2024/a.xml" in out.message[0]
    assert out.message[0].endswith("raw/202/cin/2024/b.xml is the live file")


# --- a return for a year no specification describes (issue 12) -------------------------------------------

def test_a_903_return_after_the_last_specified_year_is_read_with_the_nearest_earlier_and_said_so():
    from cslake.io import parse_file

    oc3 = b"CHILD,DOB,IN_TOUCH,ACTIV,ACCOM\n1,01/01/2008,YES,F4,B1\n"
    det, parsed = parse_file(oc3, "oc3.csv", "202/ssda903/2027/oc3.csv")
    assert (det.collection, det.la_code, det.year, parsed.year) == ("ssda903", "202", 2027, 2027)
    no_spec = [f for f in parsed.findings if f.rule == "FILE_NO_SPEC"]
    assert len(no_spec) == 1 and no_spec[0].value == "2027"
    assert "checked against the nearest earlier, 2025-26 (2026)" in no_spec[0].message
    assert list(parsed.tables["oc3"]["ACTIV"]) == ["F4"]


def test_a_2018_19_903_return_has_its_own_specification_no_finding():
    from cslake.io import parse_file

    oc3 = b"CHILD,DOB,IN_TOUCH,ACTIV,ACCOM\n1,01/01/2001,YES,F3,B1\n"
    det, parsed = parse_file(oc3, "oc3.csv", "202/ssda903/2019/oc3.csv")
    assert det.year == 2019 and parsed.year == 2019
    assert [f.rule for f in parsed.findings] == []


def test_a_cin_return_before_the_first_specified_year_is_landed_and_said_so(tmp_path):
    """A 2016-17 CIN census: once refused as a parser failure (no schema before the base year),
    now landed, read with the earliest specification (2017-18), and a FILE_NO_SPEC finding."""
    file_row, findings = _parse_rows(tmp_path, "202/cin/2017/x.xml", _cin_xml("202", 2017, "2017-03-31"))
    assert file_row.get("rule") is None and (file_row["la"], file_row["year"]) == ("202", 2017)
    assert [(f["rule"], f["value"]) for f in findings] == [("FILE_NO_SPEC", "2017")]
    assert "checked against the earliest, 2017-18 (2018)" in findings[0]["message"]
    _, none = _parse_rows(tmp_path, "202/cin/2019/y.xml", _cin_xml("202", 2019, "2019-03-31"))
    assert none == []


def test_a_three_digit_folder_that_names_a_collection_is_not_an_unknown_la():
    from cslake.io.detect import claims_from_path

    c = claims_from_path("202_episodes.csv", "raw/903/2024/202_episodes.csv")
    assert (c.collection, c.la_code, c.unknown_la, c.year) == ("ssda903", "202", None, 2024)
    c = claims_from_path("episodes.csv", "raw/975/ssda903/2024/episodes.csv")
    assert (c.collection, c.la_code, c.unknown_la) == ("ssda903", None, "975")
