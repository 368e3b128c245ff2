"""Collection schemas: diffs apply year by year, and the XML ones agree with the sector's XSDs.

The XSDs in tests/data/xsd (published by the sector, MIT, copied as test data
with their source and licence in its README.md) are an independent oracle: every element they declare under the child / worker / person
structures must map to a column, every column must exist in the XSD, and every
XSD enumeration must equal our code list, apart from the documented
XSD_ALLOWED_DIFFERENCES below.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cslake.config import ConfigError
from cslake.schemas import CollectionSchema, ColumnSpec, TableSchema, collection_schema, collections

XSD_DIR = Path(__file__).parent / "data" / "xsd"  # copied into the repo with their licence: see its README.md
XSD_FILES = {"cin": "CIN_schema_{}.xsd", "csww": "CSWW_schema_{}.xsd", "sen2": "SEN2_schema_{}.xsd"}
YEARS = {"cin": range(2021, 2027), "csww": range(2022, 2027), "sen2": range(2023, 2027)}

# (collection, element path) -> why our code list deliberately differs from the XSD's enumeration.
XSD_ALLOWED_DIFFERENCES = {
    ("sen2", "Message/Persons/Person/Requests/Exported"): (
        "the XSD (liia-tools, a London tool) enumerates the 33 London LA codes + XXX; cslake serves any "
        "region, so the column takes any 3-digit DfE LA code or XXX (pattern, no code list)"
    ),
    ("sen2", "Message/Persons/Person/Requests/ActivePlans/TransferLA"): "as Exported",
}


def _xsd_for(collection: str, year: int) -> Path | None:
    """The XSD for a year, else the nearest earlier one; None when there is none."""
    for y in range(year, 2000, -1):
        p = XSD_DIR / XSD_FILES[collection].format(y)
        if p.is_file():
            return p
    return None


def _xsd_elements(path: Path) -> dict[str, dict]:
    """Every element of the XSD by full path: {simple, enum}."""
    import xmlschema
    schema = xmlschema.XMLSchema(str(path))
    out: dict[str, dict] = {}

    def enum_of(t):
        while t is not None:
            e = getattr(t, "enumeration", None)
            if e is not None:
                return [str(v) for v in e]
            t = getattr(t, "base_type", None)
        return None

    def walk(el, p):
        simple = el.type.is_simple()
        out[p] = {"simple": simple, "enum": enum_of(el.type) if simple else None}
        if not simple:
            for child in el.type.content.iter_elements():
                walk(child, f"{p}/{child.name}")

    for name, el in schema.elements.items():
        walk(el, name)
    return out


def _record_roots(s: CollectionSchema) -> list[str]:
    rp = s.meta["record_path"]
    return [rp] if isinstance(rp, str) else list(rp)


def _column_paths(s: CollectionSchema) -> dict[str, tuple[str, ColumnSpec]]:
    """Full element path -> (table, column) for every column read from the file."""
    out = {}
    for t in s.tables.values():
        for c in t.columns.values():
            if c.from_table:
                continue
            full = t.row_path if c.path == "." else f"{t.row_path}/{c.path}"
            assert full not in out, f"{s.collection} {s.year}: {full} mapped twice"
            out[full] = (t.name, c)
    return out


# Only years that have an XSD of their own or an earlier one (SEN2 2023 has neither).
XSD_CASES = [(c, y) for c in XSD_FILES for y in YEARS[c] if _xsd_for(c, y) is not None]


def test_the_xsd_oracle_covers_every_collection():
    assert {c for c, _ in XSD_CASES} == set(XSD_FILES)
    assert len(XSD_CASES) >= 10


@pytest.mark.parametrize("collection,year", XSD_CASES)
def test_every_xsd_element_maps_to_a_column_with_the_same_codes(collection, year):
    xsd = _xsd_for(collection, year)
    s = collection_schema(collection, year)
    elements = _xsd_elements(xsd)
    roots = _record_roots(s)
    row_paths = {t.row_path for t in s.tables.values()}
    cols = _column_paths(s)
    under = {p: e for p, e in elements.items() if any(p == r or p.startswith(r + "/") for r in roots)}
    assert under, f"{xsd.name}: none of {roots} found"
    problems = []
    for p, e in sorted(under.items()):
        if not e["simple"]:
            continue  # containers and row elements; their leaves are checked
        if p not in cols:
            problems.append(f"{p}: declared in {xsd.name}, no column in {collection} {year}")
            continue
        table, col = cols[p]
        if e["enum"] is None or (collection, p) in XSD_ALLOWED_DIFFERENCES:
            continue
        if sorted(e["enum"]) != sorted(col.codes or []):
            extra = sorted(set(col.codes or []) - set(e["enum"]))
            missing = sorted(set(e["enum"]) - set(col.codes or []))
            problems.append(f"{table}.{col.name}: codes differ from {xsd.name}: ours only {extra}, XSD only {missing}")
    for p, (table, col) in cols.items():
        if p not in under:
            problems.append(f"{table}.{col.name}: path {p} not declared in {xsd.name}")
        elif not under[p]["simple"]:
            problems.append(f"{table}.{col.name}: {p} is a complex element in {xsd.name}")
    for rp in row_paths:
        if rp not in under:
            problems.append(f"row path {rp} not declared in {xsd.name}")
    assert not problems, "\n".join(problems)


def test_allowed_differences_are_real():
    """An allow-list entry that no longer differs is stale and must go."""
    for (collection, p) in XSD_ALLOWED_DIFFERENCES:
        s = collection_schema(collection, 2025)
        table, col = _column_paths(s)[p]
        enum = _xsd_elements(_xsd_for(collection, 2025))[p]["enum"]
        assert enum and sorted(enum) != sorted(col.codes or []), (collection, p)


def test_place_codes_follow_the_years():
    place = {y: collection_schema("ssda903", y).tables["episodes"].columns["PLACE"].codes for y in (2024, 2025, 2026)}
    assert {"P2", "H5"} <= set(place[2024]) and "K3" not in place[2024]
    assert "K3" in place[2025] and not {"P2", "H5"} & set(place[2025])
    assert place[2025].index("K3") == place[2025].index("K2") + 1
    assert set(place[2026]) - set(place[2025]) == {"Z11", "Z12", "Z13", "Z14"}


def test_cin_sex_replaces_gender_in_2025():
    c24 = collection_schema("cin", 2024).tables["cin_child"]
    c25 = collection_schema("cin", 2025).tables["cin_child"]
    assert "GenderCurrent" in c24.columns and "Sex" not in c24.columns
    assert "Sex" in c25.columns and "GenderCurrent" not in c25.columns
    assert c25.columns["Sex"].codes == ["M", "F", "U"]
    assert c25.columns["Sex"].path == "ChildIdentifiers/Sex"
    # the rename keeps the column where it was
    assert list(c25.columns).index("Sex") == list(c24.columns).index("GenderCurrent")
    assert c25.columns["Sex"].canonical("1") == "M"


def test_cin_plan_from_2022():
    assert "cin_plan" not in collection_schema("cin", 2021).tables
    assert collection_schema("cin", 2022).tables["cin_plan"].keys == ["LAchildID", "CINreferralDate", "CINPlanStartDate"]


def test_903_social_worker_from_2024_and_sex_2025():
    assert "social_worker" not in collection_schema("ssda903", 2023).table_names
    assert "social_worker" in collection_schema("ssda903", 2024).table_names
    assert collection_schema("ssda903", 2024).tables["header"].columns["SEX"].codes == ["1", "2"]
    assert collection_schema("ssda903", 2025).tables["header"].columns["SEX"].codes == ["M", "F", "U"]


def test_csww_2025_changes():
    w22 = collection_schema("csww", 2022)
    w25 = collection_schema("csww", 2025)
    assert "csww_qualification" in w22.tables and "csww_qualification" not in w25.tables
    assert {"BaseSalary", "RRPayments", "OtherPayments"} <= set(w25.tables["csww_worker"].columns)
    assert not {"BaseSalary", "RRPayments"} & set(w22.tables["csww_worker"].columns)
    assert w25.tables["csww_vacancies"].row_path == "Message/LALevel"


def test_year_bounds():
    with pytest.raises(ConfigError, match="earliest year"):
        collection_schema("cin", 2017)  # CIN is described from the 2017-18 return (2018)
    with pytest.raises(ConfigError, match="earliest year"):
        collection_schema("sen2", 2022)
    assert collection_schema("ssda903", 2040).tables["episodes"].columns["PLACE"].codes == (
        collection_schema("ssda903", 2026).tables["episodes"].columns["PLACE"].codes
    )
    with pytest.raises(ConfigError, match="unknown collection"):
        collection_schema("nope", 2024)


def test_every_collection_loads_with_the_public_api():
    names = collections()
    for expected in ("cin", "ssda903", "annex_a", "csww", "sen2", "school_census", "riia_quarterly",
                     "context_population", "context_ofsted", "context_areas", "context_partner_people"):
        assert expected in names
    for name in names:
        s = collection_schema(name, 2026)
        assert s.collection == name and s.year == 2026 and s.format in ("csv", "xml", "xlsx")
        assert s.table_names
        for t in s.tables.values():
            assert isinstance(t, TableSchema) and t.columns
            assert set(t.keys) <= set(t.columns)
            assert set(t.mandatory_columns) <= set(t.columns)
            for c in t.columns.values():
                assert isinstance(c, ColumnSpec)
                if c.type == "date":
                    assert c.date_format, f"{name}.{t.name}.{c.name} has no date format"
                if c.pattern:
                    re.compile(c.pattern)
                if s.format == "xlsx":
                    re.compile(c.path)
                if s.format == "xml" and not c.from_table:
                    assert c.path, (name, t.name, c.name)


def test_schema_is_cached():
    assert collection_schema("cin", 2024) is collection_schema("cin", 2024)


def test_annex_a_aliases():
    gender = collection_schema("annex_a", 2024).tables["list_1"].columns["gender"]
    for raw in ("a) Male", "M", "1", "1 - Male", " male "):
        assert gender.canonical(raw) == "M", raw
    assert gender.canonical("b) Female") == "F"
    assert gender.canonical("banana") is None
    eth = collection_schema("annex_a", 2024).tables["list_1"].columns["ethnicity"]
    assert eth.canonical("a) WBRI - White British") == "WBRI"


def test_identifiers_are_classified():
    cin = collection_schema("cin", 2025).tables["cin_child"].identifier_columns
    assert cin["LAchildID"] == "la_child_id" and cin["UPN"] == "upn" and cin["PersonBirthDate"] == "dob"
    assert collection_schema("csww", 2025).tables["csww_worker"].columns["SWENo"].identifier == "swe_no"
    sen = collection_schema("sen2", 2025).tables["sen2_person"].identifier_columns
    assert sen["Surname"] == "name" and sen["PostCode"] == "postcode" and sen["UniqueLearnerNumber"] == "uln"


# --- every landed year has a specification (issue 12) --------------------------------------------------

def test_903_and_cin_are_described_from_the_2017_18_return():
    from cslake.schemas import base_year, last_year

    assert (base_year("ssda903"), last_year("ssda903")) == (2018, 2026)
    assert (base_year("cin"), last_year("cin")) == (2018, 2026)
    for y in (2018, 2019, 2020):
        assert set(collection_schema("ssda903", y).tables) == set(collection_schema("ssda903", 2021).tables)
        assert collection_schema("cin", y).tables.keys() == collection_schema("cin", 2021).tables.keys()


def test_oc3_activity_f3_p3_until_2020_then_f4_p4_f5_p5():
    """Training or employment, F3/P3 to 2019-20, split into employment F4/P4 and training F5/P5 in 2020-21
    (the list from 2021 is DfE's validator rule 132's, csc-validator-be-903)."""
    def activ(y):
        return collection_schema("ssda903", y).tables["oc3"].columns["ACTIV"]

    old = ["F1", "P1", "F2", "P2", "F3", "P3", "G4", "G5", "G6", "0"]
    new = ["F1", "P1", "F2", "P2", "F4", "P4", "F5", "P5", "G4", "G5", "G6", "0"]
    assert activ(2018).codes == old and activ(2019).codes == old and activ(2020).codes == old
    assert activ(2021).codes == new and activ(2026).codes == new
    assert activ(2019).canonical("f3") == "F3" and activ(2019).canonical("F4") is None
    assert activ(2021).canonical("F3") is None and activ(2021).canonical("P5") == "P5"


def test_the_2021_shape_is_unchanged_by_the_earlier_base():
    """Lowering the base to 2018 changed no later year: 2021's OC3 is the list it had as base."""
    t = collection_schema("ssda903", 2021).tables
    assert list(t["oc3"].columns) == ["CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"]
    assert "social_worker" not in t and "social_worker" in collection_schema("ssda903", 2024).tables


@pytest.mark.parametrize("collection, year, used, says", [
    ("ssda903", 2027, 2026, "no ssda903 specification for 2026-27 (conf/collections/ssda903 describes 2018 to "
                            "2026): checked against the nearest earlier, 2025-26 (2026)"),
    ("cin", 2017, 2018, "no cin specification for 2016-17 (conf/collections/cin describes 2018 to 2026): "
                        "checked against the earliest, 2017-18 (2018)"),
    ("ssda903", 2019, 2019, None),
    ("cin", 2026, 2026, None),
    ("sen2", 2030, 2030, None),  # SEN2 declares no last year: base + every diff, as before
])
def test_spec_year_names_the_specification_a_return_is_checked_against(collection, year, used, says):
    from cslake.schemas import spec_year

    got, why = spec_year(collection, year)
    assert got == used
    assert (why is None) if says is None else why.startswith(says)
