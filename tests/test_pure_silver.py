"""Silver's pure transforms, one at a time, on small hand-made DataFrames.

Each expected frame is worked out by hand from the rule it tests (the comments say
why each row comes out as it does), not copied from the code's output.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pandas as pd
from chispa import assert_df_equality
from pyspark.sql import functions as F

from cslake import pseudo
from cslake.catalog import SilverTable
from cslake.schemas import ColumnSpec, TableSchema
from cslake.silver import measure
from cslake.silver.build import (apply_rules, current_rows, duplicate_keys, file_counts, flag_rows, mark_latest,
                                 pseudonymise, quarantine_rows, silver_rows, table_rules)
from cslake.silver.conform import ERROR_TYPE, conform_year
from cslake.silver.episodes import absence_flags, care_history_rows, chain_episodes, repair_flags

D = dt.date
# A made-up collection table, so no real table's rules or schema leak in.
DEMO = SilverTable("demo", "episode", "bronze.demo_episode", "silver.demo_episode")


def _eq(actual, expected):
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def _findings(col: str):
    """An _errors / _flags array as one comparable string: rule|column|value (a null value
    left out), findings joined by "; " in array order ("" for none). Sail sorts and hashes no
    array columns, which chispa's row-order-blind comparison needs."""
    return F.array_join(F.transform(col, lambda e: F.concat_ws("|", e["rule"], e["column"], e["value"])), "; ")


# ---------------------------------------------------------------------------
# Care history (cslake.silver.episodes)
# ---------------------------------------------------------------------------

EPISODES = "_la string, CHILD_hash string, DECOM date, DEC date, REC string, _year int, _row bigint"


def test_chain_episodes_closes_open_episodes_and_cuts_overlaps(spark):
    episodes = spark.createDataFrame([
        # LA 201, child A: open, then overlapping, then open with a later return from the LA.
        ("201", "A", D(2020, 1, 10), None, None, 2020, 1),
        ("201", "A", D(2020, 6, 1), D(2020, 12, 1), "E4A", 2021, 2),
        ("201", "A", D(2020, 11, 1), None, None, 2021, 3),
        # LA 201, child B: ends the day the next starts (no overlap); the last is open in the LA's latest year.
        ("201", "B", D(2021, 1, 1), D(2021, 5, 1), "E11", 2022, 4),
        ("201", "B", D(2021, 5, 1), None, None, 2022, 5),
        # LA 202 (same child hash, another LA): open in that LA's latest year (2021).
        ("202", "A", D(2019, 4, 1), None, None, 2021, 1),
    ], EPISODES)
    got = chain_episodes(episodes, "X1").select("_la", "CHILD_hash", "DECOM", "episode_no", "_dec", "_rec",
                                                "repair_rule", "_absent")
    expected = spark.createDataFrame([
        # closed at the next start, REC X1
        ("201", "A", D(2020, 1, 10), 1, D(2020, 6, 1), "X1", "SSDA903_EPI_OPEN", False),
        # DEC 2020-12-01 is after the next start 2020-11-01: cut there, REC as sent
        ("201", "A", D(2020, 6, 1), 2, D(2020, 11, 1), "E4A", "SSDA903_EPI_OVERLAP", False),
        # no next episode, and LA 201 sent 2022 without it: NOT closed (no invented cessation), only marked absent
        ("201", "A", D(2020, 11, 1), 3, None, None, None, True),
        ("201", "B", D(2021, 1, 1), 1, D(2021, 5, 1), "E11", None, False),
        # open in the LA's latest year (2022): simply still open, not absent from anything
        ("201", "B", D(2021, 5, 1), 2, None, None, None, False),
        ("202", "A", D(2019, 4, 1), 1, None, None, None, False),
    ], "_la string, CHILD_hash string, DECOM date, episode_no int, _dec date, _rec string, repair_rule string, "
       "_absent boolean")
    _eq(got, expected)


def test_care_history_rows_keep_the_values_as_sent_and_flag_each_repair(spark):
    chained = spark.createDataFrame(
        [("201", "A", 1, D(2020, 1, 10), None, None, D(2020, 6, 1), "X1", "SSDA903_EPI_OPEN", 2020, "f1", 7),
         ("201", "A", 2, D(2020, 6, 1), D(2020, 12, 1), "E4A", D(2020, 12, 1), "E4A", None, 2021, "f2", 3)],
        "_la string, CHILD_hash string, episode_no int, DECOM date, DEC date, REC string, _dec date, _rec string, "
        "repair_rule string, _year int, _file_sha256 string, _row bigint")
    for c in ("RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REASON_PLACE_CHANGE", "HOME_POST_sector",
              "HOME_POST_district", "HOME_POST_lsoa", "HOME_POST_ward", "PL_POST_sector", "PL_POST_district",
              "PL_POST_lsoa", "PL_POST_ward", "URN"):
        chained = chained.withColumn(c, F.lit(None).cast("string"))
    hist = care_history_rows(chained)
    _eq(hist.select("episode_no", "DEC", "REC", "DEC_as_sent", "REC_as_sent", "repair_rule"),
        spark.createDataFrame([(1, D(2020, 6, 1), "X1", None, None, "SSDA903_EPI_OPEN"),
                               (2, D(2020, 12, 1), "E4A", "01/12/2020", "E4A", None)],
                              "episode_no int, DEC date, REC string, DEC_as_sent string, REC_as_sent string, "
                              "repair_rule string"))
    files = spark.createDataFrame([("f1", "raw/201/ssda903/2020/episodes.csv")], "_file_sha256 string, source_path string")
    flags = repair_flags(hist, files, "silver.care_history", "run-1")
    _eq(flags.select("rule_code", "outcome", "message", "column", "value", "repaired_to", "source_path",
                     "row_number", "la", "collection", "year", "run_id"),
        spark.createDataFrame([("SSDA903_EPI_OPEN", "repair",
                                "DEC: Episode left open and followed by a later one: closed at the next episode's "
                                "start (REC X1)", "DEC", None, "01/06/2020 X1",
                                "raw/201/ssda903/2020/episodes.csv", 7, "201", "ssda903", 2020, "run-1")],
                              "rule_code string, outcome string, message string, column string, value string, "
                              "repaired_to string, source_path string, row_number bigint, la string, "
                              "collection string, year int, run_id string"))


def test_absence_flags_mark_open_episodes_missing_from_the_las_next_return(spark):
    hist = spark.createDataFrame([
        # LA 201 sent 2021 and 2022: A's episode open in 2021's return only -> absent (a finding)
        ("201", "A", None, 2021, "f1", 4),
        # B's open episode is in 2022's return, the LA's latest: nothing to say
        ("201", "B", None, 2022, "f2", 2),
        # C's episode was closed by the LA in 2021's return: not open, nothing to say
        ("201", "C", D(2021, 1, 5), 2021, "f1", 5),
        # LA 202 sent only 2021: its open episode is in its latest return
        ("202", "A", None, 2021, "f3", 1),
    ], "_la string, CHILD_hash string, DEC date, _year int, _file_sha256 string, _row bigint")
    files = spark.createDataFrame([("f1", "raw/201/ssda903/2021/episodes.csv")], "_file_sha256 string, source_path string")
    got = absence_flags(hist, files, "silver.care_history", "run-1")
    _eq(got.select("rule_code", "outcome", "column", "value", "repaired_to", "source_path", "row_number", "la", "year"),
        spark.createDataFrame([("SSDA903_EPI_ABSENT", "flag", "DEC", None, None, "raw/201/ssda903/2021/episodes.csv",
                                4, "201", 2021)],
                              "rule_code string, outcome string, column string, value string, repaired_to string, "
                              "source_path string, row_number bigint, la string, year int"))
    assert "never as a cessation" in got.first()["message"]


# ---------------------------------------------------------------------------
# Conforming one year (cslake.silver.conform)
# ---------------------------------------------------------------------------

CHILD = TableSchema("child", {
    "LAchildID": ColumnSpec("LAchildID", identifier="la_child_id", mandatory=True),
    "Sex": ColumnSpec("Sex", codes=["M", "F"], aliases={"1": "M", "2": "F"}),
    "Count": ColumnSpec("Count", type="int"),
    "Start": ColumnSpec("Start", type="date"),
    "Parent": ColumnSpec("Parent", type="int", from_table="parent"),  # carried down: typed, not checked
}, keys=["LAchildID"])


def test_conform_year_types_values_and_collects_errors_and_flags(spark):
    bronze = spark.createDataFrame([
        ("f", 1, 2021, " 123.0 ", "1", "4", "05/04/2021", "7"),
        ("f", 2, 2021, "", "x", "four", "2021-04-05", "zz"),
        ("f", 3, 2021, "456", "f", None, None, None),
        ("f", 4, 2021, "789", "2", "5", "13/04/1066", None),
        ("f", 5, 2021, "790", "zz", None, "01/01/1900", None),
        ("f", 6, 2021, "791", None, None, "31/12/2022", None),
        ("f", 7, 2021, "792", None, None, "01/01/2023", None),
    ], "_file_sha256 string, _row bigint, _year int, LAchildID string, Sex string, Count string, Start string, "
       "Parent string")
    # "Later" is a column of another year: this year's frame leaves it to the caller.
    out = conform_year(bronze, CHILD, "%d/%m/%Y", ["LAchildID", "Sex", "Count", "Start", "Parent", "Later"],
                       event_dates=("Start",))
    assert out.columns == ["_file_sha256", "_row", "_year", "LAchildID", "Sex", "Count", "Start", "Parent",
                           "_errors", "_flags", "_record", "_nulled"]
    got = out.select("_row", "LAchildID", "Sex", "Count", "Start", "Parent", _findings("_errors").alias("errors"),
                     _findings("_flags").alias("flags"), _findings("_nulled").alias("nulled"))
    expected = spark.createDataFrame([
        # trimmed id (hashed later), alias 1 -> M, int, dd/mm/yyyy date; 123.0 is tolerated as ID_FLOAT
        (1, "123.0", "M", 4, D(2021, 4, 5), 7, "", "ID_FLOAT|LAchildID| 123.0 ", ""),
        # blank mandatory id: the row's error. Unknown code, not a number, ISO date in a dd/mm/yyyy year:
        # none of them key, mandatory or an identifier, so each is nulled and flagged (cell-level);
        # Parent is carried down, unchecked
        (2, None, None, None, None, None, "MANDATORY_MISSING|LAchildID|", "",
         "CODE_INVALID|Sex|x; TYPE_NUMBER|Count|four; TYPE_DATE|Start|2021-04-05"),
        # lower-case code: normalised, reported as CODE_CASE
        (3, "456", "F", None, None, None, "", "CODE_CASE|Sex|f", ""),
        # a year-1066 date is in the format but implausible: not read (never parsed), nulled, the row kept
        (4, "789", "F", 5, None, None, "", "", "DATE_IMPLAUSIBLE|Start|13/04/1066"),
        # 1900 is the first plausible year; a bad code alone costs only its cell
        (5, "790", None, None, D(1900, 1, 1), None, "", "", "CODE_INVALID|Sex|zz"),
        # a 2021 return: dates up to the end of 2022 are plausible, 2023 is not (nulled: not a key column)
        (6, "791", None, None, D(2022, 12, 31), None, "", "", ""),
        (7, "792", None, None, None, None, "", "", "DATE_IMPLAUSIBLE|Start|01/01/2023"),
    ], "_row bigint, LAchildID string, Sex string, Count int, Start date, Parent int, errors string, flags string, "
       "nulled string")
    _eq(got, expected)
    msgs = out.filter("_row = 2").select(F.col("_nulled")[2]["message"]).first()[0]
    assert msgs == "Start: Not a valid date in the collection's date format (expected DD/MM/YYYY)"
    msgs = out.filter("_row = 4").select(F.col("_nulled")[0]["message"]).first()[0]
    assert msgs == ("Start: Date not plausible (before 1900, after 2100, or after the year following the return's "
                    "year); not read")
    record = out.filter("_row = 1").select("_record").first()[0]
    assert record == '{"LAchildID":" 123.0 ","Sex":"1","Count":"4","Start":"05/04/2021","Parent":"7"}'


LISTS = TableSchema("lists", {
    "ID": ColumnSpec("ID", mandatory=True),
    "Code": ColumnSpec("Code", codes=["SIC", "TRN"]),
    "Codes": ColumnSpec("Codes", codes=["SIC", "TRN"], repeatable=True),
}, keys=["ID"])


def test_conform_year_code_case_in_repeatable_code_columns_follows_the_collections_decision(spark):
    """A repeatable coded column (a CSWW list such as ReasonAbsence) gets the CODE_CASE decision a
    single code gets (conf/rules.yaml CODE_CASE rejected: CIN case and padding, SSDA903 padding,
    others neither): the list cell is nulled where the collection rejects, flagged where it
    tolerates, and the list's own value is the same finding as the single code beside it."""
    bronze = spark.createDataFrame([
        ("f", 1, 2021, "a", "SIC", "SIC|TRN"),    # as written
        ("f", 2, 2021, "b", "trn", "SIC|trn"),    # case only
        ("f", 3, 2021, "c", " TRN", "SIC| TRN"),  # padding only
        ("f", 4, 2021, "d", "XX", "SIC|XX"),      # not a code: CODE_INVALID, whatever the collection
    ], "_file_sha256 string, _row bigint, _year int, ID string, Code string, Codes string")

    def findings(collection):
        out = conform_year(bronze, LISTS, "%d/%m/%Y", ["ID", "Code", "Codes"], collection=collection)
        rows = out.select("_row", F.array_join("Codes", "|").alias("codes"), _findings("_flags").alias("f"),
                          _findings("_nulled").alias("n")).orderBy("_row").collect()
        return [(r["codes"], r["f"], r["n"]) for r in rows]

    tolerated = [("SIC|TRN", "", ""),
                 ("SIC|TRN", "CODE_CASE|Code|trn; CODE_CASE|Codes|SIC|trn", ""),
                 ("SIC|TRN", "CODE_CASE|Code| TRN; CODE_CASE|Codes|SIC| TRN", ""),
                 (None, "", "CODE_INVALID|Code|XX; CODE_INVALID|Codes|SIC|XX")]
    assert findings("csww") == tolerated
    assert findings(None) == tolerated
    assert findings("cin") == [("SIC|TRN", "", ""),
                               (None, "", "CODE_CASE|Code|trn; CODE_CASE|Codes|SIC|trn"),
                               (None, "", "CODE_CASE|Code| TRN; CODE_CASE|Codes|SIC| TRN"),
                               tolerated[3]]
    assert findings("ssda903") == [("SIC|TRN", "", ""),
                                   ("SIC|TRN", "CODE_CASE|Code|trn; CODE_CASE|Codes|SIC|trn", ""),
                                   (None, "", "CODE_CASE|Code| TRN; CODE_CASE|Codes|SIC| TRN"),
                                   tolerated[3]]


# ---------------------------------------------------------------------------
# Rules and keys (cslake.silver.build)
# ---------------------------------------------------------------------------

RULES = {"rules": [
    {"rule": "CIN_8620", "table": "episode", "column": "Closed", "fails": "Closed < Referred"},
    {"rule": "CIN_8640", "table": "demo_episode", "column": "Missing", "fails": "Referred > make_date(_year, 3, 31)"},
    {"rule": "CIN_8630", "table": "another_table", "column": "Closed", "fails": "true"},
]}


def _typed(spark, rows, schema):
    return spark.createDataFrame(rows, f"{schema}, _errors {ERROR_TYPE}")


def test_apply_rules_adds_the_failures_of_this_tables_rules_only(spark):
    assert [r["rule"] for r in table_rules(DEMO, RULES)] == ["CIN_8620", "CIN_8640"]
    typed = _typed(spark, [
        ("a", 2021, D(2020, 5, 1), D(2020, 4, 1), []),  # closed before referred
        ("b", 2021, D(2021, 5, 1), None, []),  # no closure (null passes); referred after 31/03/2021
        ("c", 2021, D(2020, 1, 1), D(2020, 2, 1), [("X", "col", "v", "m")]),  # passes both; keeps its error
    ], "id string, _year int, Referred date, Closed date")
    got = apply_rules(typed, DEMO, RULES).select("id", _findings("_errors").alias("errors"))
    _eq(got, spark.createDataFrame([("a", "CIN_8620|Closed|2020-04-01"), ("b", "CIN_8640|Missing"),
                                    ("c", "X|col|v")], "id string, errors string"))
    msg = apply_rules(typed, DEMO, RULES).filter("id = 'a'").select(F.col("_errors")[0]["message"]).first()[0]
    assert msg == "Closed: CIN closure date cannot be before the CIN referral date"
    assert apply_rules(typed, DEMO, {"rules": []}) is typed


HISTORY = {"ID": ColumnSpec("ID", identifier="la_child_id"), "N": ColumnSpec("N", type="int")}


def test_duplicate_keys_flags_later_rows_with_the_same_normalised_key_in_one_file(spark):
    typed = _typed(spark, [
        ("f1", "201", 2021, "annual", 1, "123", 1, []),
        ("f1", "201", 2021, "annual", 2, "124", 1, []),
        ("f1", "201", 2021, "annual", 3, " 123.0", 1, []),  # same id once normalised: duplicate of row 1
        ("f1", "201", 2021, "annual", 4, "123", 2, []),  # another N
        ("f2", "201", 2021, "annual", 1, "123", 1, []),  # another file
        ("f1", "201", 2021, "annual", 5, "123", None, []),  # incomplete key
        ("f1", "201", 2021, "annual", 6, "123", 1, [("X", "c", "v", "m")]),  # already failed: not counted
        ("f1", "201", 2021, "annual", 7, "123", 1, []),  # duplicate of row 1
        ("f1", "201", 2021, "annual", 8, "123", 1, [("Y", "c", "w", "m")]),  # failed too: no duplicate either
    ], "_file_sha256 string, _la string, _year int, _period string, _row bigint, ID string, N int")
    got = duplicate_keys(typed, ["ID", "N"], HISTORY).select("_file_sha256", "_row", _findings("_errors").alias("e"))
    _eq(got, spark.createDataFrame([
        ("f1", 1, ""), ("f1", 2, ""), ("f1", 3, "DUPLICATE_KEY|ID,N| 123.0|1"), ("f1", 4, ""), ("f2", 1, ""),
        ("f1", 5, ""), ("f1", 6, "X|c|v"), ("f1", 7, "DUPLICATE_KEY|ID,N|123|1"), ("f1", 8, "Y|c|w"),
    ], "_file_sha256 string, _row bigint, e string"))
    assert duplicate_keys(typed, [], HISTORY) is typed


def test_mark_latest_takes_the_latest_year_then_file_then_row(spark):
    good = spark.createDataFrame([
        ("201", 2021, "a", 1, "5"),
        ("201", 2022, "b", 1, "5.0"),  # latest submission of id 5 in LA 201 (5.0 is 5)
        ("202", 2021, "c", 1, "5"),  # LA 202's own id 5
        ("201", 2022, "b", 2, "6"),
        ("201", 2022, "c", 1, "6"),  # same year: file c sorts after b
        ("201", None, "z", 9, "7"),  # no year: last
        ("201", 2020, "a", 1, "7"),
    ], "_la string, _year int, _file_sha256 string, _row bigint, ID string")
    got = mark_latest(good, ["ID"], HISTORY).select("_la", "_file_sha256", "_row", "ID", "_latest")
    _eq(got, spark.createDataFrame([
        ("201", "a", 1, "5", False), ("201", "b", 1, "5.0", True), ("202", "c", 1, "5", True),
        ("201", "b", 2, "6", False), ("201", "c", 1, "6", True), ("201", "z", 9, "7", False),
        ("201", "a", 1, "7", True),
    ], "_la string, _file_sha256 string, _row bigint, ID string, _latest boolean"))
    assert mark_latest(good, [], HISTORY).filter(~F.col("_latest")).count() == 0


def test_current_rows_are_rows_of_landed_returns_with_their_path(spark):
    files = spark.createDataFrame([
        ("s1", "201", "2021", "annual", "p2021", "landed"),
        ("s1", "201", "2021", "annual", "p2021", "landed"),  # the ledger row twice: still one match
        ("s1", "201", "2022", "annual", "p2022", "landed"),  # the same bytes as next year's return
        ("s2", "201", "2021", "annual", "p-old", "superseded"),
    ], "sha256 string, la string, year string, period string, path string, outcome string")
    bronze = spark.createDataFrame([
        ("s1", "201", 2021, "annual", 1, "x"), ("s1", "201", 2022, "annual", 1, "x"),
        ("s2", "201", 2021, "annual", 1, "y"), ("s3", "201", 2021, "annual", 1, "z"),
    ], "_file_sha256 string, _la string, _year int, _period string, _row bigint, v string")
    _eq(current_rows(bronze, files),
        spark.createDataFrame([("s1", "201", 2021, "annual", 1, "x", "p2021"),
                               ("s1", "201", 2022, "annual", 1, "x", "p2022")],
                              "_file_sha256 string, _la string, _year int, _period string, _row bigint, v string, "
                              "_path string"))


# ---------------------------------------------------------------------------
# Silver rows and the side tables
# ---------------------------------------------------------------------------

def _staged(spark):
    return spark.createDataFrame([
        ("f1", "p1", "201", 2021, 1, [("MANDATORY_MISSING", "ID", "", "m1"), ("TYPE_NUMBER", "N", "x", "m2")],
         [("CODE_CASE", "Sex", "f", "m3")], '{"ID":""}', None, "x"),
        ("f1", "p1", "201", 2021, 2, [], [("UPN_INVALID", "UPN", "X1", "m4"), ("CODE_CASE", "Sex", "m", "m5"),
                                          ("CODE_CASE", "Sex2", "f", "m6")], '{"ID":"7"}', "7", None),
        ("f1", "p1", "201", 2021, 3, [], [], '{"ID":"8"}', "8", None),
        ("f2", "p2", "201", 2022, 1, [], [], '{"ID":"7"}', "7", None),
    ], f"_file_sha256 string, _path string, _la string, _year int, _row bigint, _errors {ERROR_TYPE}, "
       f"_flags {ERROR_TYPE}, _record string, ID string, N string")


def test_silver_rows_keep_clean_rows_with_their_flags_and_latest_mark(spark):
    history = {"ID": ColumnSpec("ID"), "N": ColumnSpec("N")}  # no identifiers: nothing to pseudonymise
    got = silver_rows(_staged(spark), ["ID"], history).select("_file_sha256", "_row", "ID", "_latest", "_flags")
    _eq(got, spark.createDataFrame([
        # row 1 failed: not in silver; row 2's id 7 comes again in 2022 (f2)
        ("f1", 2, "7", False, "UPN_INVALID,CODE_CASE"), ("f1", 3, "8", True, None), ("f2", 1, "7", True, None),
    ], "_file_sha256 string, _row bigint, ID string, _latest boolean, _flags string"))


def test_quarantine_flag_and_count_rows(spark):
    staged = _staged(spark)
    now = dt.datetime(2024, 5, 1, 12, 0)
    q = quarantine_rows(staged, DEMO, "run-1", now).select(
        "table", "rule_code", "column", "value", "message", "record_json", "source_path", "row_number", "la",
        "collection", "year", "run_id", "quarantined_at")
    _eq(q, spark.createDataFrame([
        ("silver.demo_episode", "MANDATORY_MISSING", "ID", "", "m1", '{"ID":""}', "p1", 1, "201", "demo", 2021,
         "run-1", now),
        ("silver.demo_episode", "TYPE_NUMBER", "N", "x", "m2", '{"ID":""}', "p1", 1, "201", "demo", 2021, "run-1", now),
    ], "table string, rule_code string, column string, value string, message string, record_json string, "
       "source_path string, row_number bigint, la string, collection string, year int, run_id string, "
       "quarantined_at timestamp"))
    # Flags of every row, quarantined or not, with the outcome conf/rules.yaml gives the rule.
    fl = flag_rows(staged, DEMO, "run-1").select("rule_code", "outcome", "column", "value", "repaired_to", "row_number")
    _eq(fl, spark.createDataFrame([
        ("CODE_CASE", "tolerate", "Sex", "f", None, 1), ("UPN_INVALID", "flag", "UPN", "X1", None, 2),
        ("CODE_CASE", "tolerate", "Sex", "m", None, 2), ("CODE_CASE", "tolerate", "Sex2", "f", None, 2),
    ], "rule_code string, outcome string, column string, value string, repaired_to string, row_number bigint"))
    _eq(file_counts(staged), spark.createDataFrame(
        [("f1", "p1", "201", 2021, 3, 2, 1), ("f2", "p2", "201", 2022, 1, 1, 0)],
        "_file_sha256 string, _path string, _la string, _year int, bronze_rows bigint, silver_rows bigint, "
        "quarantined_rows bigint"))


def test_cell_level_failures_null_the_cell_keep_the_row_and_are_flagged(spark):
    staged = spark.createDataFrame([
        # kept: one cell nulled (ACTIV F3), reported as a flag with outcome "nulled"
        ("f1", "p1", "201", 2021, 1, [], [], [("CODE_INVALID", "ACTIV", "F3", "m1")], '{"ID":"7"}', "7"),
        # rejected for its key: its cell failure goes to quarantine.rows with the rest, not to the flags
        ("f1", "p1", "201", 2021, 2, [("MANDATORY_MISSING", "ID", "", "m2")], [],
         [("TYPE_DATE", "START", "2021-13-01", "m3")], '{"ID":""}', None),
        ("f1", "p1", "201", 2021, 3, [], [], None, '{"ID":"8"}', "8"),
    ], f"_file_sha256 string, _path string, _la string, _year int, _row bigint, _errors {ERROR_TYPE}, "
       f"_flags {ERROR_TYPE}, _nulled {ERROR_TYPE}, _record string, ID string")
    fl = flag_rows(staged, DEMO, "run-1").select("rule_code", "outcome", "column", "value", "row_number")
    _eq(fl, spark.createDataFrame([("CODE_INVALID", "nulled", "ACTIV", "F3", 1)],
                                  "rule_code string, outcome string, column string, value string, row_number bigint"))
    q = quarantine_rows(staged, DEMO, "run-1", dt.datetime(2024, 5, 1)).select("rule_code", "column", "row_number")
    _eq(q, spark.createDataFrame([("MANDATORY_MISSING", "ID", 2), ("TYPE_DATE", "START", 2)],
                                 "rule_code string, column string, row_number bigint"))
    got = silver_rows(staged, ["ID"], {"ID": ColumnSpec("ID")}).select("_row", "_flags")
    _eq(got, spark.createDataFrame([(1, "CODE_INVALID"), (3, None)], "_row bigint, _flags string"))
    # per file: 3 in = 2 silver + 1 quarantined
    _eq(file_counts(staged).select("bronze_rows", "silver_rows", "quarantined_rows"),
        spark.createDataFrame([(3, 2, 1)], "bronze_rows bigint, silver_rows bigint, quarantined_rows bigint"))


KEY = "pure-silver-test-key-0123456789ab"


def _hmac(message: str) -> str:
    return hmac.new(KEY.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_pseudonymise_hashes_drops_and_degrades(spark, monkeypatch):
    monkeypatch.setenv(pseudo.KEY_ENV, KEY)
    history = {
        "UPN": ColumnSpec("UPN", identifier="upn"),
        "Child": ColumnSpec("Child", identifier="la_child_id"),
        "Name": ColumnSpec("Name", identifier="name"),
        "DOB": ColumnSpec("DOB", type="date", identifier="dob"),
        "PC": ColumnSpec("PC", identifier="postcode"),
        "Code": ColumnSpec("Code"),
    }
    df = spark.createDataFrame([("201", " a123456789012 ", "c9", "Ann", D(2012, 7, 14), "ab1 2cd", "X")],
                               "_la string, UPN string, Child string, Name string, DOB date, PC string, Code string")
    lookup = spark.createDataFrame([("AB12CD", "E01000001", "E05000001")], "_pc string, _lsoa string, _ward string")
    got = pseudonymise(df, history, lookup)
    assert sorted(got.columns) == sorted(["_la", "UPN_hash", "Child_hash", "DOB", "DOB_hash", "PC_sector",
                                          "PC_district", "PC_lsoa", "PC_ward", "Code"])
    row = got.first().asDict()
    # UPNs hash upper-cased without spaces in the upn domain; LA child ids carry their LA.
    assert row["UPN_hash"] == _hmac("upn\x1fA123456789012")
    assert row["Child_hash"] == _hmac("la_child_id\x1f201:c9")
    assert row["DOB"] == D(2012, 7, 1) and row["DOB_hash"] == _hmac("dob\x1f2012-07-14")
    assert (row["PC_sector"], row["PC_district"], row["PC_lsoa"], row["PC_ward"]) == ("AB1 2", "AB1", "E01000001", "E05000001")
    assert row["Code"] == "X"
    no_lookup = pseudonymise(df, history, None).first().asDict()
    assert no_lookup["PC_lsoa"] is None and no_lookup["PC_sector"] == "AB1 2"


# ---------------------------------------------------------------------------
# Fault recall against a manifest (pandas: report-sized)
# ---------------------------------------------------------------------------

def test_measure_steps_on_a_hand_made_ledger_and_quarantine():
    files = pd.DataFrame([
        ("s1", "p1", "landed", None, "csv"),
        ("s2", "p2", "rejected", "FILE_BAD_HEADER: no header", "xml"),
        ("s3", "p3", "duplicate", None, "csv"),
        ("s4", "p4", "landed", None, "xml"),
    ], columns=["sha256", "path", "outcome", "reason", "format"])
    findings = pd.DataFrame([("p1", "CSV_BLANK_LINE")], columns=["path", "rule"])
    hits = pd.DataFrame([
        ("silver.demo_t", "CODE_INVALID", "p1", "s1", 12),
        ("silver.care_history", "SSDA903_EPI_OPEN", "p1", "s1", 13),
        ("silver.demo_t", "MANDATORY_MISSING", "p4", "s4", 2),
    ], columns=measure.HIT_COLUMNS)
    raised, care = measure.raised_rules(files, findings, hits)
    assert raised == {("p2", "FILE_BAD_HEADER"), ("p3", "FILE_DUPLICATE"), ("p1", "CSV_BLANK_LINE"),
                      ("p1", "CODE_INVALID"), ("p1", "SSDA903_EPI_OPEN"), ("p4", "MANDATORY_MISSING"),
                      ("p1", "silver.demo_t", 12, "CODE_INVALID"), ("p1", "", 13, "SSDA903_EPI_OPEN"),
                      ("p4", "silver.demo_t", 2, "MANDATORY_MISSING")}
    assert care == {("p1", 13, "SSDA903_EPI_OPEN")}
    # p1 is a CSV: its k-th data row is bronze row row_map[k-1] (the header and a blank line shift them).
    rows = measure.BronzeRows(files, {("s1", "bronze.demo_t"): [2, 3, 12, 13]})
    faults = pd.DataFrame([
        ("p1", "demo", "t", "3", "CODE_INVALID"),  # 3rd data row = bronze row 12: caught
        ("p1", "demo", "t", "4", "SSDA903_EPI_OPEN"),  # 4th = row 13, caught through care history
        ("p1", "demo", "t", "1", "CODE_INVALID"),  # row 2: nothing raised there
        ("p4", "demo", "t", "2", "MANDATORY_MISSING"),  # XML: the row number is bronze's
        ("p3", "demo", "t", "1", "CODE_INVALID"),  # a duplicate file: never validated
        ("p2", "demo", "t", None, "FILE_BAD_HEADER"),  # file-level
        ("p1", "demo", "t", "9", "CSV_BLANK_LINE"),  # file-level whatever row
    ], columns=["path", "collection", "table", "row", "rule"])
    status = measure.fault_status(faults, rows, raised, care, {"FILE_BAD_HEADER", "CSV_BLANK_LINE"})
    assert status == ["caught", "caught", "missed", "caught", "not_applicable", "caught", "caught"]
    row_faults = faults[faults.row.notna()]
    faulty = measure.fault_rows(row_faults, rows)
    # p1 row 9 lies past the file's 4 data rows: no bronze row.
    assert faulty == {("p1", "silver.demo_t", 12), ("p1", "silver.demo_t", 13), ("p1", "silver.demo_t", 2),
                      ("p4", "silver.demo_t", 2)}
    q = pd.DataFrame([("silver.demo_t", "p1", "s1", 12), ("silver.demo_t", "p1", "s1", 5),
                      ("silver.demo_t", "p4", "s4", 7)],
                     columns=["table", "source_path", "source_file_sha256", "row_number"])
    false_q = measure.false_quarantine(q, faults, faulty)
    assert list(zip(false_q.source_path, false_q.row_number, false_q.file_fault)) == [("p1", 5, False), ("p4", 7, False)]


def test_only_event_dates_are_held_to_the_return_year(spark):
    bronze = spark.createDataFrame([("f", 1, 2021, "1", "01/01/2030")],
                                   "_file_sha256 string, _row bigint, _year int, LAchildID string, Start string")
    # not an event date (e.g. a UASC child's DUC, their 18th birthday): a 2030 date is read
    out = conform_year(bronze, CHILD, "%d/%m/%Y", ["LAchildID", "Start"])
    assert out.select("Start", F.size("_nulled")).first() == (D(2030, 1, 1), 0)
    out = conform_year(bronze, CHILD, "%d/%m/%Y", ["LAchildID", "Start"], event_dates=("Start",))
    assert out.select("Start", F.size("_nulled")).first() == (None, 1)
    # the event dates are the collection's year_evidence: the 903 episode's start and end, not UASC's DUC
    from cslake.silver.build import event_dates

    assert event_dates(SilverTable("ssda903", "episodes", "bronze.x", "silver.x")) == ("DECOM", "DEC")
    assert event_dates(SilverTable("ssda903", "uasc", "bronze.x", "silver.x")) == ()


def test_conform_year_keeps_only_the_columns_this_year_has(spark):
    bronze = spark.createDataFrame([], "_file_sha256 string, _row bigint, LAchildID string, Sex string")
    out = conform_year(bronze, CHILD, None, ["LAchildID", "Sex"])
    assert out.count() == 0
    assert out.columns == ["_file_sha256", "_row", "LAchildID", "Sex", "_errors", "_flags", "_record", "_nulled"]


def test_rule_outcome_lookup_gives_each_rule_its_outcome_and_null_for_an_unknown_one(spark, monkeypatch):
    """flag_rows's outcome is one map lookup, not a CASE per rule (70 nested CASEs exceeded Spark
    Connect's plan nesting limit when issue 13's DfE rules were added): every listed rule gets
    its outcome, an unlisted one null, however many rules there are."""
    from cslake.silver import build as silver_build

    many = {f"R{i:03d}": ("quarantine" if i % 2 else "flag") for i in range(150)}
    monkeypatch.setattr(silver_build, "rule_outcomes", lambda: many)
    df = spark.createDataFrame([("R000",), ("R001",), ("R149",), ("NOPE",), (None,)], "rule string")
    got = [r[0] for r in df.select(silver_build.rule_outcome_col(F.col("rule"))).collect()]
    assert got == ["flag", "quarantine", "quarantine", None, None]


# ---------------------------------------------------------------------------
# Rules as data (cslake.silver.rules): severity, years, joins (issue 13)
# ---------------------------------------------------------------------------

def test_a_flag_rule_flags_the_row_and_a_quarantine_rule_rejects_it_within_its_years(spark):
    # DFE_CIN_8600 is a DfE error whose outcome is flag (conf/rules.yaml); CIN_8620 quarantines.
    conf = {"rules": [
        {"rule": "DFE_CIN_8600", "table": "demo_episode", "column": "Referred", "years": {"from": 2022},
         "fails": "Referred > make_date(_year, 3, 31)"},
        {"rule": "CIN_8620", "table": "demo_episode", "column": "Closed", "fails": "Closed < Referred"},
    ]}
    typed = spark.createDataFrame([
        ("a", 2022, D(2022, 5, 1), None, [], []),  # referred after 31/03/2022: flagged, kept
        ("b", 2021, D(2021, 5, 1), None, [], []),  # the same fault in 2021, before the rule's years: nothing
        ("c", 2022, D(2021, 5, 1), D(2021, 4, 1), [], []),  # closed before referred: quarantined only
    ], f"id string, _year int, Referred date, Closed date, _errors {ERROR_TYPE}, _flags {ERROR_TYPE}")
    got = apply_rules(typed, DEMO, conf).select("id", _findings("_errors").alias("e"), _findings("_flags").alias("f"))
    _eq(got, spark.createDataFrame([("a", "", "DFE_CIN_8600|Referred|2022-05-01"), ("b", "", ""),
                                    ("c", "CIN_8620|Closed|2021-04-01", "")], "id string, e string, f string"))


def test_join_rules_read_other_tables_of_the_same_return_and_only_flag(spark):
    from cslake.silver.rules import join_flagged

    ep = SilverTable("demo", "episode", "bronze.demo_episode", "silver.demo_episode")
    conf = {"rules": [
        # DfE 8565 on the episode: closed before one of its assessments started
        {"rule": "DFE_CIN_8565", "table": "demo_episode", "column": "Closed", "with": ["assessments"],
         "fails": "exists(assessments, a -> Closed < a.Start)"},
        # DfE 8790-like, on the same table through a self-join by child
        {"rule": "DFE_CIN_8790", "table": "demo_episode", "column": "Code", "with": ["siblings"],
         "fails": "Code <> 'NONE' AND exists(siblings, s -> s.Code = 'NONE')"}],
        "joins": {"demo_episode": {"assessments": {"table": "demo_assessment", "match": {"_row": "_parent_row"}},
                                   "siblings": {"table": "demo_episode", "match": {"Child": "Child"}}}}}
    lineage = f"_la string, _year int, _period string, _row bigint, _errors {ERROR_TYPE}, _flags {ERROR_TYPE}"
    episodes = spark.createDataFrame([
        ("201", 2022, None, 1, [], [], "A", D(2021, 6, 1), "NONE"),   # assessment 1 starts after closure: 8565
        ("201", 2022, None, 2, [], [], "A", D(2021, 9, 1), "LD"),     # its assessment starts before; LD + NONE: 8790
        ("201", 2022, None, 3, [("X", "c", "v", "m")], [], "B", None, "LD"),  # quarantined row, still judged: nothing
        ("202", 2022, None, 1, [], [], "A", D(2021, 6, 1), "LD"),     # another LA: its _row 1 is not LA 201's
    ], f"{lineage}, Child string, Closed date, Code string")
    assessments = spark.createDataFrame([
        ("201", 2022, None, 1, [], [], 1, D(2021, 7, 1)),
        ("201", 2022, None, 2, [], [], 2, D(2021, 8, 1)),
        ("202", 2022, None, 1, [], [], 5, D(2021, 7, 1)),  # parent row 5 of LA 202: none
    ], f"{lineage}, _parent_row bigint, Start date")
    staged = {"demo_episode": episodes, "demo_assessment": assessments}
    got = join_flagged(episodes, ep, conf, staged.get).select("_la", "_row", _findings("_flags").alias("f"),
                                                               F.size("_errors").alias("n_errors"))
    _eq(got, spark.createDataFrame([("201", 1, "DFE_CIN_8565|Closed|2021-06-01", 0), ("201", 2, "DFE_CIN_8790|Code|LD", 0)],
                                   "_la string, _row bigint, f string, n_errors int"))
    # and through flag_rows they become row flags with the outcome conf/rules.yaml gives (flag)
    flagged = join_flagged(episodes, ep, conf, staged.get).withColumn("_file_sha256", F.lit("f1")).withColumn(
        "_path", F.lit("p1"))
    fl = flag_rows(flagged, ep, "run-1").select("rule_code", "outcome", "row_number")
    _eq(fl, spark.createDataFrame([("DFE_CIN_8565", "flag", 1), ("DFE_CIN_8790", "flag", 2)],
                                  "rule_code string, outcome string, row_number bigint"))


def test_the_rules_as_data_are_checked():
    from cslake.silver.rules import check_rules

    catalog = {"Q": {"outcome": "quarantine", "severity": "query"}, "J": {"outcome": "quarantine"},
               "F": {"outcome": "flag", "severity": "error"}, "T": {"outcome": "tolerate"}}
    conf = {"rules": [{"rule": "Q", "table": "t", "fails": "true"},
                      {"rule": "J", "table": "t", "fails": "true", "with": ["x"]},
                      {"rule": "F", "table": "t", "fails": "true", "with": ["y"]},
                      {"rule": "T", "table": "t", "fails": "true"},
                      {"rule": "GONE", "table": "t", "fails": "true"}],
            "joins": {"t": {"x": {"table": "u", "match": {"a": "a"}}, "z": {"table": "u", "on": {"a": "a"}}}}}
    problems = check_rules(conf, catalog)
    assert any(p.startswith("Q: a DfE query only flags") for p in problems)
    assert any(p.startswith("J: a rule reading other tables only flags") for p in problems)
    assert any(p.startswith("F: join 'y' is not declared") for p in problems)
    assert any(p.startswith("T: outcome 'tolerate'") for p in problems)
    assert any(p.startswith("GONE: in conf/silver.yaml rules but not in conf/rules.yaml") for p in problems)
    assert any(p.startswith("join t.z: needs a table and a match") for p in problems)
    assert len(problems) == 6
    from cslake.catalog import silver_conf

    assert check_rules(silver_conf()) == []  # the shipped rules


def test_a_previous_year_join_reads_the_las_return_for_the_year_before(spark):
    from cslake.silver.rules import join_flagged

    hd = SilverTable("demo", "header", "bronze.demo_header", "silver.demo_header")
    # DfE 203: the date of birth disagrees with last year's header for the same child
    conf = {"rules": [{"rule": "DFE_903_203", "table": "demo_header", "column": "DOB", "with": ["last_header"],
                       "fails": "exists(last_header, h -> NOT (h.DOB <=> DOB))"}],
            "joins": {"demo_header": {"last_header": {"table": "demo_header", "match": {"CHILD": "CHILD"},
                                                      "year": "previous"}}}}
    lineage = f"_la string, _year int, _period string, _row bigint, _errors {ERROR_TYPE}, _flags {ERROR_TYPE}"
    header = spark.createDataFrame([
        ("201", 2023, "annual", 2, [], [], "A", D(2010, 1, 1)),
        ("201", 2023, "annual", 3, [], [], "B", D(2011, 1, 1)),
        ("201", 2024, "annual", 2, [], [], "A", D(2010, 1, 2)),  # A's DOB changed since 2023: 203
        ("201", 2024, "annual", 3, [], [], "B", D(2011, 1, 1)),  # B's unchanged: nothing
        ("201", 2024, "annual", 4, [], [], "C", D(2012, 1, 1)),  # C new this year: nothing to compare
        ("202", 2024, "annual", 2, [], [], "B", D(2015, 1, 1)),  # another LA's B, no 2023 return: nothing
        ("201", 2022, "annual", 2, [], [], "A", D(2009, 1, 1)),  # 2022 vs 2023: A differs, so A's 2023 row is 203
    ], f"{lineage}, CHILD string, DOB date")
    got = join_flagged(header, hd, conf, {"demo_header": header}.get).select("_la", "_year", "_row")
    _eq(got, spark.createDataFrame([("201", 2024, 2), ("201", 2023, 2)], "_la string, _year int, _row bigint"))


def test_dfe_202_reads_sex_as_written_but_across_the_2025_code_change(spark):
    """The shipped DFE_903_202 (conf/silver.yaml): a different sex from last year's header, compared
    as DfE reads it (upper-cased, not trimmed), 1/2 before 2025 being M/F from 2025."""
    from cslake.catalog import silver_conf
    from cslake.silver.rules import join_flagged

    hd = SilverTable("ssda903", "header", "bronze.ssda903_header", "silver.ssda903_header")
    conf = silver_conf()
    conf = {"rules": [r for r in conf["rules"] if r["rule"] == "DFE_903_202"], "joins": conf["joins"]}
    lineage = f"_la string, _year int, _period string, _row bigint, _errors {ERROR_TYPE}, _flags {ERROR_TYPE}"
    rows = [("A", "1", 2024, "M", 2025),    # 1 then M: the same sex, new code: nothing
            ("B", "1", 2024, "2", 2025),    # 1 then 2 in 2025 (old code, other sex): 202
            ("C", "2", 2023, "2 ", 2024),   # padded: DfE reads '2 ' as another value: 202
            ("D", "2", 2023, "2", 2024)]    # unchanged: nothing
    data = []
    for i, (child, before, y0, after, y1) in enumerate(rows):
        data.append(("201", y0, "annual", i + 2, [], [], child, f'{{"SEX":"{before}"}}'))
        data.append(("201", y1, "annual", i + 2, [], [], child, f'{{"SEX":"{after}"}}'))
    header = spark.createDataFrame(data, f"{lineage}, CHILD string, _record string")
    got = join_flagged(header, hd, conf, {"ssda903_header": header, "ssda903_episodes": None,
                                          "ssda903_oc3": None}.get).select("CHILD", "_year")
    _eq(got, spark.createDataFrame([("B", 2025), ("C", 2024)], "CHILD string, _year int"))
