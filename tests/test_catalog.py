"""The catalog: every lake table declared once, in conf, and named through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from cslake import catalog
from cslake.config import conf_dir
from cslake.lake import Lake
from cslake.schemas import collection_schema, collections, diff_years
from cslake.tables import TableSpecError

LIB = Path(catalog.__file__).parent


def test_fixed_tables_are_exactly_conf_tables():
    """Each conf/tables/<layer>.yaml entry is a catalog table with that origin, and nothing
    outside the collection schemas and conf/tables is declared."""
    declared = {}
    for path in sorted((conf_dir() / "tables").glob("*.yaml")):
        for name in (yaml.safe_load(path.read_text())["tables"] or {}):
            declared[name] = f"conf/tables/{path.name}"
    specs = {s.name: s for s in catalog.all_table_specs()}
    for name, origin in declared.items():
        assert specs[name].origin == origin
    others = {n: s.origin for n, s in specs.items() if n not in declared}
    assert others and all(o.startswith("conf/collections/") for o in others.values()), others
    # The tables the stages write beside the collection tables, each declared in conf:
    for name in ("bronze.files", "bronze.findings", "quarantine.rows", "quarantine.row_flags",
                 "silver.care_history", "silver.person_spine", "silver.build_log",
                 "gold_restricted.early_warning_scores", "gold.fire_risk_area"):
        assert declared[name] == f"conf/tables/{name.split('.')[0]}.yaml"


def test_every_collection_table_of_every_year_has_bronze_and_silver_specs():
    for coll in collections():
        years = sorted({*diff_years(coll), min(catalog.schema_years(coll))})
        for year in years:
            for table, schema in collection_schema(coll, year).tables.items():
                bronze = catalog.table_spec(catalog.bronze_name(coll, table))
                # Bronze holds every column any year had, as text, after the lineage.
                assert set(schema.columns) <= set(bronze.column_names)
                assert all(c.type == "string" for c in bronze.columns if not c.name.startswith("_"))
                silver = catalog.table_spec(catalog.silver_name(coll, table))
                assert silver.keys == catalog.ROW_KEYS == bronze.keys


def test_silver_columns_follow_the_identifier_treatment():
    """Hand-picked columns of the CIN child table: the UPN only as a keyed hash, the name
    gone, the date of birth to the month plus a hash of the exact date."""
    cols = set(catalog.table_spec(catalog.silver.cin_child).column_names)
    assert {"UPN_hash", "PersonBirthDate", "PersonBirthDate_hash"} <= cols
    assert not {"UPN", "FormerUPN"} & cols
    assert not any("name" in c.lower() for c in cols if not c.startswith("_")), cols


def test_names_come_from_the_accessor_and_unknown_names_fail_where_written():
    assert catalog.silver.cin_child == "silver.cin_child"
    assert catalog.bronze["files"] == "bronze.files"
    assert catalog.gold_restricted.early_warning_scores == "gold_restricted.early_warning_scores"
    assert "quarantine.rows" in set(catalog.quarantine)
    with pytest.raises(AttributeError, match="silver.cin_chlid"):
        catalog.silver.cin_chlid  # noqa: B018  (a typo is caught at the point of use)
    assert catalog.bronze_name("cin", "child") == "bronze.cin_child"
    assert catalog.silver_name("riia_quarterly", "riia_quarterly_indicators") == "silver.riia_quarterly_indicators"


def test_a_table_the_catalog_does_not_declare_cannot_be_written(spark, tmp_path):
    lake = Lake(tmp_path / "lake", spark=spark)
    df = spark.createDataFrame([(1,)], "id bigint")
    with pytest.raises(TableSpecError, match="silver.not_in_the_catalog"):
        lake.write_table(df, "silver.not_in_the_catalog")
    assert not (tmp_path / "lake" / "silver" / "not_in_the_catalog").exists()


def test_a_table_in_conf_and_in_a_collection_schema_is_refused(monkeypatch):
    real = catalog._fixed_specs

    def with_clash():
        out = real()
        out["bronze.cin_child"] = catalog.derive_bronze_spec("cin", "child")
        return out

    monkeypatch.setattr(catalog, "_fixed_specs", with_clash)
    try:
        with pytest.raises(TableSpecError, match="bronze.cin_child"):
            catalog.load(reload=True)
    finally:
        monkeypatch.undo()
        catalog.load(reload=True)
    assert catalog.has_table_spec("bronze.cin_child")


def test_only_the_catalog_declares_tables():
    """No module registers a table spec of its own (they once did at import time, so a spec
    existed only if its module happened to be imported)."""
    offenders = []
    for path in LIB.rglob("*.py"):
        if path.name == "catalog.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name == "register_table_spec":
                    offenders.append(f"{path.relative_to(LIB)}:{node.lineno}")
    assert not offenders, offenders
