"""Landing's pure pieces on small hand-made inputs: the ledger decisions (driver-side pandas,
one row per file) and the DataFrame transforms that shape bronze rows.

Each expectation is worked out by hand from the rule it tests, not copied from the code's output.
"""

from __future__ import annotations

import json
from datetime import datetime

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
