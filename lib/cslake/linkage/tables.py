"""The linkage stage's tables (declared in conf/tables/silver.yaml, like every fixed table)."""

from __future__ import annotations

from cslake import catalog
from cslake.catalog import table_spec
from cslake.tables import TableSpec

LINKAGE_TABLES = (
    catalog.silver.person_spine,
    catalog.silver.person,
    catalog.silver.linkage_conflicts,
    catalog.silver.cin_journey,
    catalog.silver.care_journey,
    catalog.silver.send_journey,
)


def ensure_specs() -> dict[str, TableSpec]:
    return {name: table_spec(name) for name in LINKAGE_TABLES}
