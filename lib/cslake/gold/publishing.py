"""The write edge of every gold table: the unsuppressed frame to ``gold_restricted.<table>``, its
copy after DfE disclosure control to ``gold.<table>``, both through ``Lake.write_table``.

Gold tables are small aggregates, collected to the driver, so disclosure control
(``cslake.gold.suppression``: primary and secondary suppression over rows and columns)
runs in pandas; both writes are whole-table overwrites (one Delta commit each).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from cslake.catalog import table_spec
from cslake.gold.suppression import SuppressionSpec, suppress
from cslake.lake import frame_to_spark

if TYPE_CHECKING:
    from cslake.lake import Lake


def to_spark(spark, pdf: pd.DataFrame, table: str):
    """A pandas frame as a Spark DataFrame with ``table``'s declared schema (NaN → null)."""
    return frame_to_spark(spark, pdf, table_spec(table).spark_schema())


def publish(lake: "Lake", table: str, restricted: pd.DataFrame, spec: SuppressionSpec) -> pd.DataFrame:
    """Write ``restricted`` to gold_restricted.<table> and its suppressed copy to gold.<table>."""
    lake.write_table(to_spark(lake.spark, restricted, f"gold_restricted.{table}"), f"gold_restricted.{table}",
                     mode="overwrite")
    return publish_suppressed(lake, table, restricted, spec)


def publish_suppressed(lake: "Lake", table: str, restricted: pd.DataFrame, spec: SuppressionSpec) -> pd.DataFrame:
    """Only the published copy: ``restricted`` through disclosure control to gold.<table>."""
    published = suppress(restricted, spec)
    lake.write_table(to_spark(lake.spark, published, f"gold.{table}"), f"gold.{table}", mode="overwrite")
    return published
