"""The data register (issue 18; MoU section 6.4): generated from the catalog and conf/, so it lists
every silver and gold table, says how each identifier is treated, what each table reaches and how
it is shared, and stops when a table is added without a purpose."""

from __future__ import annotations

import csv

import pytest

from cslake import catalog
from cslake.publish.register import COLUMNS, RegisterError, publish_register, register_rows
from cslake.tables import TableSpec


@pytest.fixture(scope="module")
def rows():
    return {r["dataset"]: r for r in register_rows()}


def test_every_silver_and_gold_table_has_an_entry(rows):
    for layer in ("silver", "gold", "gold_restricted"):
        names = {s.name for s in catalog.specs_in_layer(layer)}
        assert names and names <= set(rows), layer
        assert all(rows[n]["purpose"] for n in names)
    assert rows[catalog.gold.dataset2_measures]["layer"] == "gold"


def test_a_table_added_without_a_purpose_stops_the_register():
    name = "gold_restricted.register_probe_without_purpose"
    catalog.register_table_spec(TableSpec.from_dict(name, {"description": "probe", "columns": [
        {"name": "geog_code", "type": "string"}]}))
    try:
        with pytest.raises(RegisterError, match="register_probe_without_purpose"):
            register_rows()
    finally:
        catalog.unregister([name])
    assert register_rows()  # and without it the register is whole again


def test_identifier_treatment_follows_the_collection_schemas(rows):
    child = rows[catalog.silver.cin_child]["identifiers"]
    assert "UPN: keyed hash" in child and "PersonBirthDate: cut to the month, exact date only as a keyed hash" in child
    person = rows[catalog.silver.sen2_person]["identifiers"]
    assert "Surname: dropped" in person and "PostCode: degraded" in person
    assert rows[catalog.bronze.cin_child]["identifiers"].startswith("as received")
    assert rows[catalog.bronze.cin_child]["sharing"].startswith("none")


def test_reach_sharing_and_disclosure(rows):
    # the Dataset 2 builder names these silver tables; the register says so
    for t in (catalog.silver.annex_a_list_8, catalog.silver.ssda903_oc2, catalog.silver.ssda903_ad1):
        assert "dataset2_measures" in rows[t]["gold_tables"].split(", ")
    assert "2:" in rows[catalog.silver.ssda903_oc2]["sharing"]
    assert rows[catalog.silver.person_spine]["sharing"].count("3:") == 1
    gold = rows[catalog.gold.riia_indicators]
    assert gold["sharing"].startswith("1:") and "2:" in gold["sharing"]
    assert "DfE disclosure control" in gold["disclosure_control"] and "rounded to 10" in gold["disclosure_control"]
    assert rows[catalog.gold_restricted.riia_indicators]["disclosure_control"].startswith("unsuppressed")
    assert "record_key=CHILD_hash" in rows[catalog.silver.ssda903_header]["linkage_use"]
    assert rows[catalog.silver.cin_child]["retention"]


def test_publish_writes_the_csv_and_html(tmp_path, rows):
    report = publish_register(tmp_path)
    with (tmp_path / "register.csv").open(encoding="utf-8-sig", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert list(got[0]) == COLUMNS and len(got) == len(rows) == report.rows
    page = (tmp_path / "register.html").read_text("utf-8")
    assert page.count("<tr>") == len(rows) + 1 and "Lawful basis" in page
