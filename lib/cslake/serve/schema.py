"""How a gold table looks in PostgreSQL: typed columns from the catalog's declaration, the
primary key from its keys, indexes on the columns BI filters by (LA, period, indicator), and the
catalog's descriptions as table and column comments (the data dictionary, visible in every BI
tool's field list and in psql's ``\\d+``).

Column names are lower-cased (``LA_order`` → ``la_order``) so that SQL needs no quoting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cslake.publish.typed import STATUS_SUFFIX, measure_columns
from cslake.tables import TableSpec

PG_TYPES = {"string": "text", "int": "integer", "integer": "integer", "bigint": "bigint", "smallint": "smallint",
            "tinyint": "smallint", "double": "double precision", "float": "real", "boolean": "boolean",
            "date": "date", "timestamp": "timestamp", "timestamp_ntz": "timestamp", "binary": "bytea"}
#: Columns BI tools filter and join on, indexed when a table has them (first match per group).
FILTER_GROUPS = (("la", "la_code", "geog_code", "home_la", "new_la_code"),
                 ("period", "collection_year", "year", "quarter_start", "time_period"),
                 ("indicator_id", "indicator", "stage", "task"))
STATUS_COMMENT = ("EES status of {col}: c suppressed (confidential), z not applicable, x not available; "
                  "empty when the number is shown")


#: The views BI users see in their field lists, by table (a table not listed: its name in words).
FRIENDLY = {"riia_indicators": "RIIA indicators", "disproportionality": "Disproportionality (RRI)",
            "cross_border_pupils": "Cross-border pupils", "annual_characteristics": "Annual characteristics",
            "assessment_factors": "Assessment factors", "adolescent_cohort": "Adolescent cohort",
            "cla_outcomes": "Outcomes of children looked after", "workforce": "Social work workforce",
            "ofsted": "Ofsted judgements", "lead_herd": "Lead and herd indicators",
            "fire_risk_area": "Fire risk by area", "la_pressure_forecast": "LA pressure forecast",
            "dfe_measures": "DfE measures", "early_warning_scores": "Early warning scores",
            "fire_prevention_referrals": "Fire prevention referrals"}


def friendly_name(table: str) -> str:
    return FRIENDLY.get(table) or table.replace("_", " ").capitalize()


def pg_type(spark_type: str) -> str:
    t = spark_type.strip().lower()
    m = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", t)
    if m:
        return f"numeric({m.group(1)},{m.group(2)})"
    return PG_TYPES.get(t, "text")


@dataclass(frozen=True)
class PgColumn:
    name: str
    type: str
    nullable: bool
    comment: str


@dataclass(frozen=True)
class PgTable:
    """A table as served: schema-less (the loader places it), with its key, indexes and comments."""

    name: str
    columns: tuple[PgColumn, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[str, ...]
    comment: str

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def served_table(spec: TableSpec, published: bool) -> PgTable:
    """The PostgreSQL shape of a gold table: for a published one, each suppressible measure as a
    number plus its ``_status`` column (cslake.publish.typed)."""
    short = spec.name.split(".", 1)[1]
    measures = measure_columns(short) if published else {}
    cols: list[PgColumn] = []
    for c in spec.columns:
        name = c.name.lower()
        if c.name in measures:
            what = re.sub(r"^As text; x suppressed, \. not applicable\.\s*", "", c.description)
            cols.append(PgColumn(name, pg_type(measures[c.name]), True,
                                 f"{what} (NULL where suppressed or not applicable: see {name}{STATUS_SUFFIX})".strip()))
            cols.append(PgColumn(name + STATUS_SUFFIX, "text", True, STATUS_COMMENT.format(col=name)))
        else:
            cols.append(PgColumn(name, pg_type(c.type), c.nullable, c.description))
    names = {c.name for c in cols}
    keys = tuple(k.lower() for k in spec.keys if k.lower() in names)
    indexes = []
    for group in FILTER_GROUPS:
        hit = next((g for g in group if g in names), None)
        if hit and (not keys or hit != keys[0]):  # the key's first column is indexed by the key
            indexes.append(hit)
    return PgTable(short, tuple(cols), keys, tuple(indexes), spec.description)


def la_column(table: PgTable) -> str | None:
    """The column that says which LA a row belongs to (row-level security), if any."""
    return next((c for c in FILTER_GROUPS[0] if c in table.column_names), None)
