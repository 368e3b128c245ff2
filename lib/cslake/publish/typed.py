"""Published gold as typed frames, for the tools that want numbers: the serving database and the
DfE open-data (EES) exports.

In the lake, a published measure that disclosure control may suppress is text (``gold.yaml``:
numbers, ``x`` suppressed, ``.`` not applicable), so that a suppressed cell can never be read as a
number. Here each such measure becomes a number column (empty where suppressed) and a status
column beside it holding the DfE symbol of Explore Education Statistics' open-data standards:
``c`` confidential (suppressed), ``z`` not applicable, ``x`` not available (no figure); empty when
the number is shown.

A measure is found from the catalog, not listed: a published column declared ``string`` whose
restricted twin (``gold_restricted.<table>``) is numeric.
"""

from __future__ import annotations

import pandas as pd

from cslake.catalog import has_table_spec, table_spec

PUBLISHED, RESTRICTED = "gold", "gold_restricted"
#: The gold symbols (cslake.gold.suppression) as EES writes them.
EES_SYMBOLS = {"x": "c", ".": "z"}
NOT_AVAILABLE = "x"  # EES: no figure (the source had none)
NUMERIC = ("tinyint", "smallint", "int", "integer", "bigint", "float", "double", "decimal")
STATUS_SUFFIX = "_status"


def is_numeric_type(spark_type: str) -> bool:
    return spark_type.strip().lower().startswith(NUMERIC)


def measure_columns(table: str) -> dict[str, str]:
    """Published text columns of ``gold.<table>`` that hold suppressible numbers: column -> the
    numeric Spark type of its restricted twin (double when it has none)."""
    pub = table_spec(f"{PUBLISHED}.{table}")
    twin = {c.name: c.type for c in table_spec(f"{RESTRICTED}.{table}").columns} \
        if has_table_spec(f"{RESTRICTED}.{table}") else {}
    out = {}
    for c in pub.columns:
        if c.type.lower() == "string" and c.name in twin and is_numeric_type(twin[c.name]):
            out[c.name] = twin[c.name]
    return out


def status_of(values: pd.Series) -> pd.Series:
    """The EES status of each published cell: ``c`` suppressed, ``z`` not applicable, ``x`` no figure
    (not available), None when a number is shown."""
    text = values.astype(object).map(lambda v: None if v is None or (isinstance(v, float) and v != v)
                                     else str(v).strip())
    return text.map(lambda v: NOT_AVAILABLE if v in (None, "") else EES_SYMBOLS.get(v)).astype(object)


def typed_frame(pdf: pd.DataFrame, table: str) -> tuple[pd.DataFrame, list[str]]:
    """(frame with each measure as a float column followed by ``<measure>_status``, the measures).
    Non-measure columns are unchanged and keep their order."""
    measures = [c for c in measure_columns(table) if c in pdf.columns]
    out = {}
    for c in pdf.columns:
        if c in measures:
            text = pdf[c].astype("string").str.strip()
            out[c] = pd.to_numeric(text.where(~text.isin(list(EES_SYMBOLS))), errors="coerce").astype("float64")
            out[c + STATUS_SUFFIX] = status_of(pdf[c])
        else:
            out[c] = pdf[c]
    return pd.DataFrame(out, index=pdf.index), measures
