"""conf/gold.yaml: which gold tables are built, in what order, and each one's disclosure-control spec.

A leaf module: the builders (ofsted, lead_herd), the gold job (``cslake.gold.build``) and
the models that publish through gold (``cslake.models.forecast``) all read it from here.
"""

from __future__ import annotations

from cslake.config import ConfigError, load_yaml
from cslake.gold.suppression import SuppressionSpec, specs_from_conf


def gold_conf() -> dict:
    raw = load_yaml("gold.yaml") or {}
    if not isinstance(raw.get("tables"), dict):
        raise ConfigError("conf/gold.yaml: expected a top-level 'tables:' mapping")
    return raw


def table_conf(table: str) -> dict:
    """``tables.<table>`` of conf/gold.yaml (empty when the table has no settings)."""
    return gold_conf()["tables"].get(table) or {}


def suppression_spec(table: str) -> SuppressionSpec:
    """The disclosure-control spec of gold table ``table`` (its name without ``gold.``)."""
    return specs_from_conf(gold_conf())[table]
