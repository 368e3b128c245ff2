"""Parsers and detection on tiny hand-written synthetic fixtures (tests/data_parsers; made-up values only)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import pytest

from cslake.io import FileFault, parse_file
from cslake.io.detect import detect_file, year_from_text
from cslake.io.parse_csv import parse_csv
from cslake.io.parse_xlsx import parse_xlsx
from cslake.io.parse_xml import parse_xml

DATA = Path(__file__).parent / "data_parsers"
XSD_DIR = Path(__file__).parent / "data" / "xsd"  # copied into the repo with their licence: see its README.md


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _xsd_errors(xml_name: str, xsd_name: str) -> list[str]:
    """Validation errors, ignoring XSD patterns written with ^...$ (literal characters in XSD regex:
    the 2025 CSWW SWENo and SEN2 URN patterns can match nothing real; a known fault of those XSDs)."""
    import xmlschema

    xsd = XSD_DIR / xsd_name
    assert xsd.is_file(), f"the XSD oracle {xsd} is missing from tests/data/xsd/"
    out = []
    for e in xmlschema.XMLSchema(str(xsd)).iter_errors(str(DATA / xml_name)):
        patterns = getattr(getattr(e, "validator", None), "regexps", None) or []
        if "pattern" in str(e.reason or "") and any(p.startswith("^") or p.endswith("$") for p in patterns):
            continue
        out.append(str(e))
    return out


@pytest.mark.parametrize(
    "xml_name,xsd_name",
    [
        ("cin_2024_valid.xml", "CIN_schema_2024.xsd"),
        ("cin_2025_valid.xml", "CIN_schema_2025.xsd"),
        ("csww_2022_valid.xml", "CSWW_schema_2022.xsd"),
        ("csww_2025_valid.xml", "CSWW_schema_2025.xsd"),
        ("sen2_2025_valid.xml", "SEN2_schema_2025.xsd"),
    ],
)
def test_fixtures_validate_against_their_xsd(xml_name, xsd_name):
    assert _xsd_errors(xml_name, xsd_name) == []


def test_cin_2024_flattens_into_rows_with_parent_keys():
    p = parse_xml(_read("cin_2024_valid.xml"))
    assert (p.collection, p.year) == ("cin", 2024)
    t = p.tables
    assert {k: len(v) for k, v in t.items()} == {
        "cin_child": 2, "cin_disability": 2, "cin_episode": 3, "cin_assessment": 2, "cin_assessment_factor": 2,
        "cin_plan": 1, "cin_s47": 1, "cin_cpp": 1, "cin_cpp_review": 2,
    }
    child = t["cin_child"]
    assert list(child["LAchildID"]) == ["TEST001", "TEST002"]
    assert list(child["GenderCurrent"]) == ["1", "0"]
    assert child.loc[1, "UPN"] is None and child.loc[1, "UPNunknown"] == "UN1"
    ep = t["cin_episode"]
    assert list(ep["_row"]) == [1, 2, 3] and list(ep["_parent_row"]) == [1, 2, 2]
    assert list(ep["LAchildID"]) == ["TEST001", "TEST002", "TEST002"]
    assert list(ep["ReferralSource"]) == ["2A", "3D", "5D"]
    f = t["cin_assessment_factor"]
    assert list(f["AssessmentFactors"]) == ["3A", "24A"]
    assert set(f["AssessmentActualStartDate"]) == {"2023-05-03"} and set(f["CINreferralDate"]) == {"2023-05-02"}
    rv = t["cin_cpp_review"]
    assert list(rv["CPPreviewDate"]) == ["2023-08-20", "2023-11-15"] and set(rv["CPPstartDate"]) == {"2023-06-01"}
    # the second episode's assessment points at episode row 3
    assert list(t["cin_assessment"]["_parent_row"]) == [1, 3]
    assert p.meta["header"]["Source/LEA"] == "202"
    assert all(v["_extra"].isna().all() for v in t.values())
    assert p.findings == []


def test_cin_2025_reads_sex():
    p = parse_xml(_read("cin_2025_valid.xml"))
    assert p.year == 2025
    assert list(p.tables["cin_child"]["Sex"]) == ["M", "U"]
    assert "GenderCurrent" not in p.tables["cin_child"].columns


def test_values_are_kept_raw_not_trimmed():
    xml = _read("cin_2024_valid.xml").replace(b"<Ethnicity>WBRI</Ethnicity>", b"<Ethnicity> wbri </Ethnicity>")
    p = parse_xml(xml, "cin", 2024)
    assert p.tables["cin_child"].loc[0, "Ethnicity"] == " wbri "


def test_unknown_elements_go_to_extra_and_are_reported():
    xml = _read("cin_2024_valid.xml").replace(
        b"<ReferralNFA>1</ReferralNFA>", b"<ReferralNFA>1</ReferralNFA><LocalFlag>yes</LocalFlag>"
    )
    p = parse_xml(xml, "cin", 2024)
    ep = p.tables["cin_episode"]
    assert json.loads(ep.loc[1, "_extra"]) == {"LocalFlag": "yes"}
    assert ep.loc[0, "_extra"] is None
    (finding,) = p.findings
    assert (finding.rule, finding.table, finding.row, finding.column) == ("COLUMN_EXTRA", "cin_episode", 2, "LocalFlag")


def test_truncated_xml_raises_file_fault_with_line():
    xml = _read("cin_2024_valid.xml")
    cut = xml[: xml.index(b"<CINPlanDates>") + 20]
    with pytest.raises(FileFault) as e:
        parse_xml(cut, "cin", 2024, source="raw/202/cin/2024/cin.xml")
    assert e.value.rule == "FILE_NOT_WELLFORMED"
    assert e.value.line == cut.count(b"\n") + 1
    assert e.value.location["file"] == "raw/202/cin/2024/cin.xml"


def test_csww_2022_qualifications_and_repeats():
    p = parse_xml(_read("csww_2022_valid.xml"))
    assert (p.collection, p.year) == ("csww", 2022)
    assert p.tables["csww_vacancies"].loc[0, "NumberOfVacancies"] == "12.50"
    w = p.tables["csww_worker"]
    assert list(w["SWENo"]) == ["ZZ0000000001", "ZZ0000000002"]
    assert w.loc[0, "ReasonAbsence"] == "SIC|TRN"
    q = p.tables["csww_qualification"]
    assert list(q["QualInst"]) == ["Example University", "Other College", "Example University"]
    assert list(q["SWENo"]) == ["ZZ0000000001", "ZZ0000000001", "ZZ0000000002"]
    assert list(q["_parent_row"]) == [1, 1, 2]


def test_csww_2025_lalevel_and_pay():
    p = parse_xml(_read("csww_2025_valid.xml"))
    v = p.tables["csww_vacancies"]
    assert len(v) == 1 and v.loc[0, "RetentionBonus"] == "2"
    w = p.tables["csww_worker"]
    assert w.loc[0, "BaseSalary"] == "41000.00" and w.loc[0, "Sex"] == "F"
    assert "csww_qualification" not in p.tables


def test_sen2_2025_person_tree():
    p = parse_xml(_read("sen2_2025_valid.xml"))
    assert (p.collection, p.year) == ("sen2", 2025)
    t = p.tables
    assert t["sen2_person"].loc[0, "Surname"] == "Testperson"
    assert t["sen2_request"].loc[0, "RequestSource"] == "2"
    assert list(t["sen2_plan_detail"]["PlacementRank"]) == ["1", "2"]
    assert set(t["sen2_plan_detail"]["StartDate"]) == {"2024-07-01"}
    assert list(t["sen2_sen_need"]["SENtype"]) == ["DS", "SLCN"]
    assert set(t["sen2_sen_need"]["UPN"]) == {"X00000000009B"}
    assert t["sen2_active_plan"].loc[0, "ReviewOutcome"] == "M"
    assert len(t["sen2_placement"]) == 1 and len(t["sen2_named_plan"]) == 1


def test_903_episodes_dirty_csv():
    p = parse_csv(_read("ssda903_episodes_dirty.csv"), year=2025, source="x.csv")
    assert (p.collection, p.table_name) == ("ssda903", "episodes")
    df = p.tables["episodes"]
    # file lines: header 1, data 2, blank 3, data 4, blank 5-6, data 7
    assert list(df["_row"]) == [2, 4, 7]
    assert list(df["CHILD"]) == ["12345.0", "12345.0", "67890"]  # raw: silver normalises ids and codes
    assert list(df["PLACE"]) == ["u1", "k2", "A3"]
    assert list(df["RNE"]) == ["s", "P", "S"]
    assert json.loads(df.loc[0, "_extra"]) == {"LA_NOTES ": "made up"}
    rules = {f.rule for f in p.findings}
    assert {"FILE_ENCODING", "COLUMN_EXTRA", "CSV_BLANK_LINE"} <= rules
    (blank,) = [f for f in p.findings if f.rule == "CSV_BLANK_LINE"]
    assert blank.row == 3 and "3 blank" in blank.message
    assert "COLUMN_MISSING" not in rules


def test_misspelt_and_case_headers_and_cp1252():
    text = "child,  Sex ,DOB,ETHNC,UPN,MOTHER,MC_DOB\n9001,1,01/01/2010,WBRI,,,\n9002,2,02/02/2011,AOTH,,,Zoë\n"
    p = parse_csv(text.encode("cp1252"), "ssda903", 2024)
    assert p.table_name == "header"
    df = p.tables["header"]
    assert list(df["ETHNIC"]) == ["WBRI", "AOTH"] and list(df["SEX"]) == ["1", "2"]
    assert df.loc[1, "MC_DOB"] == "Zoë"
    (mis,) = [f for f in p.findings if f.rule == "COLUMN_MISSPELT"]
    assert (mis.column, mis.value) == ("ETHNIC", "ETHNC")
    assert p.meta["encoding"] == "cp1252"


def test_csv_recognised_by_header_not_name():
    uasc = b"CHILD,SEX,DOB,DUC\n1,1,01/01/2008,01/01/2026\n"
    assert parse_csv(uasc, "ssda903", 2024).table_name == "uasc"
    sw = b"CHILD,DOB,SW_ID,SW_DECOM,SW_DEC,SW_REASON\n1,01/01/2008,SW1,01/04/2024,,\n"
    assert parse_csv(sw, "ssda903", 2024).table_name == "social_worker"
    with pytest.raises(FileFault) as e:
        parse_csv(b"foo,bar,baz\n1,2,3\n", "ssda903", 2024)
    assert e.value.rule == "FILE_UNRECOGNISED"


@pytest.mark.parametrize(
    "text,year",
    [("2023", 2023), ("2022-23", 2023), ("2022/23", 2023), ("2223", 2023), ("22-23", 2023), ("FY2023", 2023),
     ("cin_census_2024.xml", 2024), ("202_ssda903_2324_header.csv", 2024), ("2022-2023", 2023), ("notes", None)],
)
def test_year_forms(text, year):
    assert year_from_text(text) == year


def test_detection_content_beats_wrong_folder():
    d = detect_file(_read("cin_2024_valid.xml"), "cin.xml", "raw/203/cin/2023/cin.xml")
    assert (d.collection, d.la_code, d.year) == ("cin", "202", 2024)
    assert "cin_child" in d.tables
    assert any("LA" in r and "203" in r for r in d.reasons) and any("year" in r for r in d.reasons)
    # the LA the file is landed as hears of the path, the LA whose folder it came in of the LA
    assert {(f.rule, f.la) for f in d.findings} == {("FILE_PATH_MISMATCH", None), ("FILE_LA_MISMATCH", "203")}


def test_detection_of_903_csv_in_the_wrong_collection_folder():
    d = detect_file(_read("ssda903_episodes_dirty.csv"), "annex.csv", "raw/202/annex_a/2022-23/annex.csv")
    assert (d.collection, d.table, d.la_code, d.year) == ("ssda903", "episodes", "202", 2023)
    assert any("collection" in r for r in d.reasons)


def test_detection_from_file_name_only():
    d = detect_file(_read("ssda903_episodes_dirty.csv"), "202_903_episodes_FY2024.csv", "")
    assert (d.collection, d.la_code, d.year) == ("ssda903", "202", 2024)
    assert d.findings == []


def test_empty_file():
    with pytest.raises(FileFault) as e:
        detect_file(b"  \n", "x.csv", "raw/202/ssda903/2024/x.csv")
    assert e.value.rule == "FILE_EMPTY"


def _annex_a_workbook() -> bytes:
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "List 1"
    ws.append(["Annex A list 1: contacts (synthetic)"])
    ws.append(["Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)",
               "Date of Contact", "Contact Source", "Local note"])
    ws.append(["T-1", "a) Male", "a) WBRI", datetime(2015, 6, 1), 8, datetime(2024, 1, 5), "Police", "x"])
    ws.append([None] * 8)
    ws.append(["T-2", "2", "BAFR", "03/03/2016", 7, datetime(2024, 2, 1), "School", None])
    ws3 = wb.create_sheet("List 3")
    ws3.append(["Child ID", "Sex", "Ethnicity", "DOB", "Age", "Date of referral", "Referral Source",
                "Referral NFA?", "Number of Referrals in Last 12 Months", "Allocated Team", "Allocated Worker"])
    ws3.append(["T-1", "M", "WBRI", datetime(2015, 6, 1), 8, datetime(2024, 1, 6), "1A", "No", 1, "Team A", "A Worker"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_annex_a_xlsx():
    data = _annex_a_workbook()
    p = parse_xlsx(data, "annex_a", source="annex.xlsx")
    l1 = p.tables["list_1"]
    assert list(l1["_row"]) == [3, 5]
    assert list(l1["child_id"]) == ["T-1", "T-2"]
    assert list(l1["gender"]) == ["a) Male", "2"]
    assert l1.loc[0, "dob"] == "01/06/2015" and l1.loc[1, "dob"] == "03/03/2016"
    assert l1.loc[0, "contact_date"] == "05/01/2024"
    assert json.loads(l1.loc[0, "_extra"]) == {"Local note": "x"}
    l3 = p.tables["list_3"]
    assert l3.loc[0, "allocated_worker"] == "A Worker" and l3.loc[0, "referral_nfa"] == "No"
    assert len(p.tables["list_5"]) == 0
    d = detect_file(data, "Annex_A_202_2024.xlsx", "")
    assert (d.collection, d.la_code, d.year) == ("annex_a", "202", 2024)
    assert d.tables == ["list_1", "list_3"]


def test_parse_file_end_to_end():
    det, parsed = parse_file(_read("sen2_2025_valid.xml"), "sen2.xml", "raw/205/sen2/2025/sen2.xml")
    assert det.la_code == "205" and det.findings == []
    assert len(parsed.tables["sen2_person"]) == 1


# --- faults the generator's manifest names that the readers missed (issue 3: recall) ---------

def test_xml_with_a_byte_order_mark_reports_file_encoding():
    plain = _read("cin_2024_valid.xml")
    _, parsed = parse_file(plain, "cin.xml", "raw/202/cin/2024/cin.xml")
    assert "FILE_ENCODING" not in {f.rule for f in parsed.findings}
    _, parsed = parse_file(b"\xef\xbb\xbf" + plain, "cin.xml", "raw/202/cin/2024/cin.xml")
    (enc,) = [f for f in parsed.findings if f.rule == "FILE_ENCODING"]
    assert enc.value == "utf-8-sig"
    assert len(parsed.tables["cin_child"]) == len(parse_xml(plain).tables["cin_child"])  # decoded all the same


def test_file_name_year_disagreeing_with_the_header_is_a_path_mismatch():
    data = _read("sen2_2025_valid.xml")  # header: LEA 205, Year 2025
    right = detect_file(data, "SEN2_2025_205.xml", "raw/205/sen2/2025/SEN2_2025_205.xml")
    assert right.findings == [] and right.year == 2025
    # The folder agrees with the header; the file name says the year the census began.
    wrong = detect_file(data, "SEN2_2024_205.xml", "raw/205/sen2/2025/SEN2_2024_205.xml")
    assert wrong.year == 2025  # content wins
    (f,) = wrong.findings
    assert f.rule == "FILE_PATH_MISMATCH" and f.value == "2024"


def test_903_header_with_a_word_added_is_read_as_that_column():
    text = ("CHILD,SEX,DOB,ETHNIC,UPN_NO,MOTHER,MC_DOB\n"
            "9001,1,01/01/2010,WBRI,A123456789012,,\n")
    p = parse_csv(text.encode(), "ssda903", 2024)
    assert p.tables["header"].loc[0, "UPN"] == "A123456789012"
    rules = [(f.rule, f.column, f.value) for f in p.findings]
    assert ("COLUMN_MISSPELT", "UPN", "UPN_NO") in rules
    assert not [r for r in rules if r[0] in ("COLUMN_EXTRA", "COLUMN_MISSING")]
    p = parse_csv(b"CHILD,SEX,DOB,DUC_DATE\n1,1,01/01/2008,01/01/2026\n", "ssda903", 2024)
    assert p.tables["uasc"].loc[0, "DUC"] == "01/01/2026"
    # An extra column that merely shares a word with a column is not taken for it.
    p = parse_csv(b"CHILD,DOB,PREV_PERM,LA,DATE_PERM\n1,01/01/2008,Z1,202,\n", "ssda903", 2024)
    rules = {(f.rule, f.column) for f in p.findings}
    assert ("COLUMN_EXTRA", "LA") in rules and ("COLUMN_MISSING", "LA_PERM") in rules


def _workbook(sheets: dict[str, list[list]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_annex_a_headers_misspelt_in_the_word_their_pattern_needs():
    child = ["Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)"]
    data = _workbook({
        "List 5": [child + ["Strategy discussion initiating Secton 47 Enquiry Start Date", "Date of ICPC",
                            "Number of S47 Enquiries in the last 12 months", "Number of ICPCs in the last 12 months"],
                   ["T-1", "M", "WBRI", datetime(2015, 6, 1), 8, datetime(2024, 1, 5), None, 2, 0]],
        "List 7": [child + ["CP Plan Strat Date", "Initial Category of Abuse", "CP Plan End Date"],
                   ["T-2", "F", "WBRI", datetime(2012, 3, 1), 11, datetime(2023, 11, 2), "NEG", None]],
    })
    p = parse_xlsx(data, "annex_a", 2024, source="annex.xlsx")
    l5, l7 = p.tables["list_5"], p.tables["list_7"]
    # "Number of S47 ..." is the count column, not the (misspelt) enquiry start.
    assert (l5.loc[0, "s47_start"], l5.loc[0, "s47_last_12m"]) == ("05/01/2024", "2")
    assert l7.loc[0, "cp_start"] == "02/11/2023" and l7.loc[0, "cp_end"] is None
    misspelt = {(f.table, f.column) for f in p.findings if f.rule == "COLUMN_MISSPELT"}
    assert misspelt == {("list_5", "s47_start"), ("list_7", "cp_start")}
    missing = {(f.table, f.column) for f in p.findings if f.rule == "COLUMN_MISSING"}
    assert ("list_5", "s47_start") not in missing and ("list_7", "cp_start") not in missing


def test_903_csv_counts_its_event_dates_by_collection_year():
    text = ("CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\n"
            "1,01/05/2023,S,C2,N1,U1,PR1,02/04/2024,E11,,,,\n"
            "2,31/03/2024,S,C2,N1,U1,PR1,not a date,,,,,\n")
    p = parse_csv(text.encode(), "ssda903", 2024)
    assert p.meta["year_evidence"] == {2024: 2, 2025: 1}
    assert "year_evidence" not in parse_csv(b"CHILD,SEX,DOB,DUC\n1,1,01/01/2008,\n", "ssda903", 2024).meta


def test_workbook_rows_start_at_a1_wherever_the_sheets_data_starts():
    """cslake.io.workbook reads a sheet one row at a time; every row still starts at column A and
    the first row is Excel row 1, as openpyxl (the oracle here) reads the same cells, for a sheet
    whose used area starts at A1, below it, right of it, and one with no cell at all."""
    import openpyxl

    from cslake.io.workbook import Workbook

    cells = {
        "at_a1": {"A1": "h", "B2": 1},
        "below": {"A5": "h", "C7": 2},
        "right": {"E1": "h", "F9": 3, "G3": "x"},
        "both": {"C3": "x", "D4": 5, "C6": "y"},
        "empty": {},
    }
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, values in cells.items():
        ws = wb.create_sheet(title)
        for ref, v in values.items():
            ws[ref] = v
    buf = io.BytesIO()
    wb.save(buf)
    ours = Workbook(buf.getvalue(), "t.xlsx")
    oracle = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    for title, values in cells.items():
        got = list(ours.rows(title))
        ws = oracle[title]
        want = [] if not values else [tuple(c.value for c in row) for row in
                                      ws.iter_rows(min_row=1, min_col=1, max_row=ws.max_row, max_col=ws.max_column)]
        assert [tuple(float(v) if isinstance(v, int) else v for v in r) for r in want] == got, title


def test_an_xlsx_workbook_streams_in_chunks_that_add_up_to_the_whole_parse():
    """An Annex A workbook read through open_parse comes a chunk of records at a time (a sheet's
    records were held whole, issue 16), and the chunks of each table, put together, are the
    workbook parsed whole: same rows, values, row numbers and findings; a table whose sheet has a
    header and no row, or no sheet at all, still comes (empty)."""
    import pandas as pd

    from cslake.io import Source, open_parse

    child = ["Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)"]
    l5 = [child + ["Strategy discussion initiating Section 47 Enquiry Start Date", "Date of ICPC",
                   "Number of S47 Enquiries in the last 12 months", "Number of ICPCs in the last 12 months",
                   "A column nobody asked for"]]
    l5 += [[f"T-{i}", "M", "WBRI", datetime(2015, 6, 1 + i % 28), 8, datetime(2024, 1, 1 + i % 28), None, 2, 0, i]
           for i in range(23)]
    l5.insert(10, [None] * 10)  # an empty row: no record, its number skipped
    data = _workbook({"List 5": l5, "List 7": [child + ["CP Plan Start Date", "Initial Category of Abuse",
                                                        "CP Plan End Date"]]})
    whole = parse_xlsx(data, "annex_a", 2024, source="annex.xlsx")
    _, stream = open_parse(Source.of_bytes(data), "annex.xlsx", "201/annex_a/2024/annex.xlsx")
    got: dict[str, list[pd.DataFrame]] = {}
    for table, df in stream.chunks(5):
        assert len(df) <= 5
        got.setdefault(table, []).append(df)
    assert len(got["list_5"]) == 5  # 23 records, 5 at a time
    assert set(got) == set(whole.tables)
    for table, frames in got.items():
        pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), whole.tables[table], check_dtype=False)
    assert len(whole.tables["list_5"]) == 23 and whole.tables["list_5"]._row.tolist()[8:10] == [10, 12]
    assert whole.tables["list_7"].empty and whole.tables["list_1"].empty
    first = whole.tables["list_5"].iloc[0]
    assert (first["_row"], first["child_id"], first["s47_start"]) == (2, "T-0", "01/01/2024")
    assert [(f.rule, f.table, f.column) for f in stream.findings[-len(whole.findings):]] == \
        [(f.rule, f.table, f.column) for f in whole.findings]
    assert ("COLUMN_EXTRA", "list_5", "A column nobody asked for") in {(f.rule, f.table, f.column) for f in whole.findings}
