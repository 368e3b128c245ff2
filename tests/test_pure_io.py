"""The parsers' pure pieces on tiny hand-written inputs, and collection recognition as conf data."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from lxml import etree

from cslake.config import conf_dir
from cslake.io import FileFault, Finding
from cslake.io.detect import (
    ContentClaims,
    PathClaims,
    claims_from_path,
    reconcile_claims,
    xml_collection,
    xml_header,
    xml_year,
)
from cslake.io.parse_csv import (
    blank_line_findings,
    encoding_findings,
    header_findings,
    read_records,
    record_of,
    resolve_table,
    schema_with_table,
)
from cslake.io.parse_xlsx import find_header, sheet_columns, sheet_record
from cslake.io.parse_xml import XmlPlan, XmlTables, end_elements, read_body, row_values
from cslake.io.recognition import (
    checks_year_against_reference_date,
    csv_recognition_order,
    path_names,
    record_top_elements,
    workbook_collections,
    xml_collection_codes,
    xml_markers,
)
from cslake.schemas import collection_schema

# --- recognition: conf data --------------------------------------------------------------------


def test_recognition_tables_come_from_the_collections_conf():
    assert xml_collection_codes() == {"CIN": "cin", "CSWW": "csww", "SEN2": "sen2"}
    # LALevel is the vacancies element from 2025 on: only a diff's record_path names it.
    assert xml_markers() == {"Children": "cin", "CSWWWorker": "csww", "LALevelVacancies": "csww",
                             "LALevel": "csww", "Persons": "sen2"}
    names = path_names()
    assert names["903"] == "ssda903" and names["children_in_need"] == "cin" and names["annex-a"] == "annex_a"
    assert names["cross_border"] == "school_census" and names["riia"] == "riia_quarterly"
    assert csv_recognition_order()[:3] == ("ssda903", "school_census", "riia_quarterly")
    assert workbook_collections() == ("annex_a", "riia_quarterly")
    assert not checks_year_against_reference_date("csww") and checks_year_against_reference_date("cin")


def test_record_top_elements():
    assert record_top_elements("Message/Children/Child") == ["Children"]
    assert record_top_elements(["Message/LALevel", "Message/CSWWWorker"]) == ["LALevel", "CSWWWorker"]
    assert record_top_elements(None) == []
    assert record_top_elements("Message") == []


def test_a_new_collection_is_recognised_from_its_conf_alone(tmp_path):
    """Copy conf/, add a collection folder, and the path and header recognisers know it."""
    conf = tmp_path / "conf"
    shutil.copytree(conf_dir(), conf)
    (conf / "collections" / "youth_justice").mkdir()
    (conf / "collections" / "youth_justice" / "base.yaml").write_text(textwrap.dedent("""\
        collection: youth_justice
        format: csv
        base_year: 2021
        date_format: "%Y-%m-%d"
        path_names: [youth_justice, yjs]
        csv_recognition_rank: 0
        tables:
          orders:
            keys: [CHILD_REF]
            columns:
              CHILD_REF: {type: string, mandatory: true}
              ORDER_TYPE: {type: string}
              ORDER_START: {type: date}
        """))
    script = textwrap.dedent("""\
        from cslake.io.detect import claims_from_path
        from cslake.io.parse_csv import recognise_csv
        from cslake.io.recognition import csv_recognition_order
        print(claims_from_path("YJS_2024.csv", "raw/202/misc/2024/YJS_2024.csv").collection)
        print(recognise_csv(b"CHILD_REF,ORDER_TYPE,ORDER_START\\n1,YRO,2024-01-02\\n")[:2])
        print(csv_recognition_order()[0])
        """)
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, "CSLAKE_CONF": str(conf)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["youth_justice", "('youth_justice', 'orders')", "youth_justice"]


# --- detect ------------------------------------------------------------------------------------


def test_xml_header_reads_only_the_header():
    data = (b"<Message><Header><CollectionDetails><Collection>CIN</Collection><Year>2024</Year>"
            b"</CollectionDetails><Source><LEA>202</LEA></Source></Header><Children><Child/></Children></Message>")
    assert xml_header(data) == {"_root": "Message", "CollectionDetails/Collection": "CIN",
                                "CollectionDetails/Year": "2024", "Source/LEA": "202", "_first": "Children"}


def test_xml_collection_by_code_then_by_first_element():
    assert xml_collection({"CollectionDetails/Collection": "sen2"}) == "sen2"
    assert xml_collection({"_first": "CSWWWorker"}) == "csww"
    assert xml_collection({"_first": "Elsewhere"}) is None


def test_xml_year_from_year_or_reference_date():
    ref_only = {"CollectionDetails/ReferenceDate": "2024-03-31"}
    assert xml_year(ref_only, "cin") == (2024, ["year 2024 from header ReferenceDate 2024-03-31"], [])
    both = {"CollectionDetails/Year": "2024", "CollectionDetails/ReferenceDate": "2024-09-30"}
    # CIN's ReferenceDate is 31 March of its Year (DfE rule 100): 30 September 2024 falls in 2025's year
    msg = ("header Year 2024 but ReferenceDate 2024-09-30 falls in the 2025 collection year (it should be "
           "31 March 2024): read as the 2024 return (the Year, as DfE's rule 100 holds the ReferenceDate to it)")
    assert xml_year(both, "cin") == (2024, [msg], [Finding("CIN_100", "warning", None, None, "ReferenceDate",
                                                           "2024-09-30", msg)])
    assert xml_year(both, "cin", path_year=2025)[0] == 2025  # the folder sides with the ReferenceDate
    assert xml_year(both, "csww") == (2024, [], [])  # CSWW's year is its reference date's calendar year
    # SEN2's census day moves: only the year is held to the ReferenceDate, without a finding
    assert xml_year(both, "sen2") == (2024, ["header Year 2024 and ReferenceDate 2024-09-30 disagree; Year used"], [])
    assert xml_year({}, "cin") == (None, [], [])


def test_content_wins_over_the_path_and_the_disagreement_is_a_finding():
    content = ContentClaims("cin", ["cin_child"], la_code="202", year=2024)
    det = reconcile_claims("xml", content, PathClaims(la_code="203", collection="cin", year=2023, name_year=2023))
    assert (det.collection, det.la_code, det.year) == ("cin", "202", 2024)
    assert det.findings == [Finding("FILE_PATH_MISMATCH", "warning", None, None, "LA", "203",
                                    "path says LA 203, content says 202: content used"),
                            # and the LA whose folder it came in hears of it too
                            Finding("FILE_LA_MISMATCH", "warning", None, None, "LA", "202",
                                    "sent in LA 203's folder, but the file says it is LA 202's return: "
                                    "landed as LA 202's", la="203"),
                            Finding("FILE_PATH_MISMATCH", "warning", None, None, "year", "2023",
                                    "path says year 2023, content says 2024: content used")]
    assert det.reasons == ["FILE_PATH_MISMATCH: path says LA 203, content says 202: content used",
                           "FILE_PATH_MISMATCH: path says year 2023, content says 2024: content used"]


def test_a_file_name_year_against_folder_and_content_is_reported():
    content = ContentClaims("sen2", ["sen2_person"], la_code="209", year=2025)
    det = reconcile_claims("xml", content, PathClaims(la_code="209", collection="sen2", year=2025, name_year=2024))
    assert [f.column for f in det.findings] == ["year (file name)"]


def test_a_csv_takes_its_year_from_the_path_and_says_so():
    content = ContentClaims("ssda903", ["episodes"])
    det = reconcile_claims("csv", content, PathClaims(la_code=None, collection="cin", year=2023, period="Q2"))
    assert (det.collection, det.year, det.period, det.la_code) == ("ssda903", 2023, "Q2", None)
    assert det.reasons[1:] == ["year 2023 from the path (the file carries no year)",
                               "no LA code in the content or the path"]


def test_path_claims_use_conf_path_names():
    c = claims_from_path("Episodes.csv", "raw/202/cla/2023-24/Episodes.csv")
    assert (c.la_code, c.collection, c.year) == ("202", "ssda903", 2024)


# --- CSV ---------------------------------------------------------------------------------------


def test_encoding_findings_only_for_what_is_not_plain_utf8():
    assert encoding_findings("utf-8", False) == []
    assert [f.message for f in encoding_findings("utf-8", True)] == ["decoded as utf-8 (byte-order mark removed)"]
    assert [f.value for f in encoding_findings("cp1252", False)] == ["cp1252"]


def test_resolve_table_recognises_what_the_caller_did_not_say():
    text = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n1,1,01/01/2010,WBRI,,,\n"
    assert resolve_table(text, None, None, None, "x.csv") == ("ssda903", "header", 2026)
    assert resolve_table(text, "ssda903", 2023, None, "x.csv") == ("ssda903", "header", 2023)
    assert resolve_table(text, "ssda903", 2023, "uasc", "x.csv") == ("ssda903", "uasc", 2023)


def test_a_table_missing_from_the_claimed_year_is_read_with_the_nearest_year():
    schema, findings = schema_with_table("ssda903", 2023, "social_worker", "x.csv")
    assert schema.year == 2024
    assert [(f.rule, f.table, f.value) for f in findings] == [("FILE_YEAR_MISMATCH", "social_worker", "2023")]
    schema, findings = schema_with_table("ssda903", 2024, "episodes", "x.csv")
    assert (schema.year, findings) == (2024, [])
    with pytest.raises(FileFault) as err:
        schema_with_table("ssda903", 2024, "no_such_table", "x.csv")
    assert err.value.rule == "FILE_UNRECOGNISED"


def test_header_findings_for_misspelt_extra_and_missing_columns():
    t = collection_schema("ssda903", 2024).tables["missing"]
    header = ["CHILD", "MIS_STRT", "NOTES", ""]
    by_pos, extra_names, findings = header_findings(header, 1, t, "ssda903", 2024)
    assert by_pos == {0: "CHILD", 1: "MIS_START"}
    assert extra_names == {2: "NOTES", 3: "_col4"}
    assert [(f.rule, f.column) for f in findings] == [
        ("COLUMN_MISSPELT", "MIS_START"), ("COLUMN_EXTRA", "NOTES"), ("COLUMN_EXTRA", "_col4"),
        *[("COLUMN_MISSING", c) for c in t.columns if c not in ("CHILD", "MIS_START")]]


def test_record_of_keeps_unknown_cells_in_extra():
    rec = record_of(["7", "x", "", "", "late"], 3, ["A", "B", "C"], {0: "A", 1: "B"}, {2: "NOTE"})
    assert rec == {"_row": 3, "A": "7", "B": "x", "C": None, "_extra": '{"NOTE": "", "_col5": "late"}'}
    assert record_of(["1", ""], 2, ["A"], {0: "A"}, {})["_extra"] is None


def test_read_records_numbers_lines_and_skips_blank_ones():
    reader = csv.reader(io.StringIO('A,B\n1,"two\nlines"\n\n , \n3,4\n'))
    next(reader)
    rows, blanks = read_records(reader, ["A", "B"], {0: "A", 1: "B"}, {})
    assert [(r["_row"], r["A"], r["B"]) for r in rows] == [(2, "1", "two\nlines"), (6, "3", "4")]
    assert blanks == [4, 5]
    assert [f.row for f in blank_line_findings("t", blanks)] == [4]
    assert blank_line_findings("t", []) == []


# --- XML ---------------------------------------------------------------------------------------

CIN_CHILD = (b"<Child><ChildIdentifiers><LAchildID>C1</LAchildID><UPN> A1 </UPN><Nickname>x</Nickname>"
             b"</ChildIdentifiers><ChildCharacteristics><Ethnicity>WBRI</Ethnicity><Disabilities>"
             b"<Disability>MOB</Disability><Disability>HAND</Disability></Disabilities>"
             b"</ChildCharacteristics></Child>")


def test_row_values_reads_columns_raw_and_keeps_the_unknown():
    plan = XmlPlan(collection_schema("cin", 2024))
    t = plan.schema.tables["cin_child"]
    row, extra = row_values(plan, t, etree.fromstring(CIN_CHILD), {})
    assert (row["LAchildID"], row["UPN"], row["Ethnicity"], row["PersonBirthDate"]) == ("C1", " A1 ", "WBRI", None)
    assert extra == {"ChildIdentifiers/Nickname": "x"}


def test_emit_writes_child_tables_with_parent_rows_and_carried_keys():
    plan = XmlPlan(collection_schema("cin", 2024))
    out = XmlTables(plan, "cin", 2024)
    out.emit(plan.schema.tables["cin_child"], etree.fromstring(CIN_CHILD), {}, None)
    assert [(r["_row"], r["_parent_row"], r["LAchildID"], r["Disability"]) for r in out.rows["cin_disability"]] == [
        (1, 1, "C1", "MOB"), (2, 1, "C1", "HAND")]
    assert [(f.rule, f.table, f.column) for f in out.findings] == [
        ("COLUMN_EXTRA", "cin_child", "ChildIdentifiers/Nickname")]
    assert list(out.frames()["cin_child"]["_extra"]) == ['{"ChildIdentifiers/Nickname": "x"}']


def test_read_body_streams_records_and_reports_stray_elements():
    data = (b"<Message><Header><Source><LEA>202</LEA></Source></Header><Stray>1</Stray>"
            b"<Children>" + CIN_CHILD + CIN_CHILD.replace(b"C1", b"C2") + b"</Children></Message>")
    plan = XmlPlan(collection_schema("cin", 2024))
    out = XmlTables(plan, "cin", 2024)
    assert read_body(data, plan, out, "f.xml") == {"Source/LEA": "202"}
    assert [r["LAchildID"] for r in out.rows["cin_child"]] == ["C1", "C2"]
    assert [(f.rule, f.column) for f in out.findings if f.table is None] == [("COLUMN_EXTRA", "Message/Stray")]


def test_end_elements_in_document_order_and_faults_for_broken_files():
    assert [p for p, _, _ in end_elements(b"<a><b><c/></b><d/></a>", None)] == ["a/b/c", "a/b", "a/d", "a"]
    with pytest.raises(FileFault) as err:
        list(end_elements(b"<a><b></a>", "f.xml"))
    assert err.value.rule == "FILE_NOT_WELLFORMED" and err.value.line == 1


# --- xlsx --------------------------------------------------------------------------------------


def test_find_header_picks_the_row_matching_most_columns_and_leaves_the_rest():
    t = collection_schema("annex_a", 2024).tables["list_1"]
    rows = iter([("Annex A", None, None), (None, None, None), ("Child Unique ID", "Gender", "Ethnicity"),
                 ("C1", "a) Male", "WBRI"), ("C2", "b) Female", "WIRI")])
    buffered, header_at, header_map = find_header(rows, t, regex=True)
    assert header_at == 3
    assert header_map == {0: "child_id", 1: "gender", 2: "ethnicity"}
    assert len(buffered) == 5 and next(rows, None) is None


def test_sheet_columns_and_records():
    t = collection_schema("annex_a", 2024).tables["list_1"]
    cells = ("Child Unique ID", "Gendr", "Ethnicity", "Notes")
    header_map, extra_cols, findings = sheet_columns(cells, {0: "child_id", 2: "ethnicity"}, t, "List 1", 4)
    assert header_map[1] == "gender" and extra_cols == {3: "Notes"}
    assert [(f.rule, f.column) for f in findings][:2] == [("COLUMN_MISSPELT", "gender"), ("COLUMN_EXTRA", "Notes")]
    rec = sheet_record(5, (123.0, "M", None, "n", "z"), ["child_id", "gender", "ethnicity"], header_map, extra_cols,
                       "%d/%m/%Y")
    assert rec == {"_row": 5, "child_id": "123", "gender": "M", "ethnicity": None,
                   "_extra": '{"Notes": "n", "_col5": "z"}'}
    assert sheet_record(6, (None, " ", None), ["child_id"], header_map, extra_cols, "%d/%m/%Y") is None
