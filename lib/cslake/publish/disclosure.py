"""The disclosure check every publisher runs on what it is about to ship, whatever wrote the table.

    problems = disclosure_problems(published_frame, suppression_spec("riia_indicators"))
    ensure_publishable(lake, "riia_indicators")   # raises DisclosureError with the first problems

``cslake.gold.suppression`` makes a table publishable; this module checks the result cell by cell
against the same rules, from the published strings alone (no restricted figures needed), so a
published table rewritten by hand (an ``INSERT OVERWRITE gold.x SELECT … FROM gold_restricted.x``)
is refused at the door instead of shipped:

- a shown count or numerator is a whole number of at least 6 (0-5 are ``x``, zeros too);
- a shown denominator is 0 or at least 6;
- a measure computed from a hidden cell (a percentage, rate, sum, average or derived figure whose
  numerator, denominator or ``depends_on`` is ``x`` in the same row) is hidden too;
- in every group of an additive relation (parts and their total), a lone hidden cell beside a
  shown one is a failure: it could be recovered by subtraction (secondary suppression);
- the copies of one figure (an equal relation) are all shown or all hidden;
- a measure cell holds a figure, ``x``, ``.`` or nothing: any other text is refused.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from cslake.gold.conf import gold_conf
from cslake.gold.suppression import NOT_APPLICABLE, SUPPRESSED, SuppressionSpec, additive_groups, specs_from_conf
from cslake.stages import StageError

#: Problems listed in the one-line refusal (the rest are counted).
SHOWN_PROBLEMS = 3


class DisclosureError(StageError):
    """A published table that fails disclosure control: nothing of it is shipped."""


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v == "")


def _number(v: Any) -> float | None:
    """The figure a published cell shows, None for x / . / nothing; ValueError for other text."""
    if _missing(v) or (isinstance(v, str) and v in (SUPPRESSED, NOT_APPLICABLE)):
        return None
    return float(v)


def _hidden(v: Any) -> bool:
    return isinstance(v, str) and v == SUPPRESSED


def _rounded_rows(df: pd.DataFrame, spec: SuppressionSpec) -> list[bool]:
    rounded = pd.Series(False, index=df.index)
    for c, values in spec.rounded_rows.items():
        if c in df.columns:
            rounded |= df[c].isin(list(values))
    return rounded.tolist()


def _primary_problems(df: pd.DataFrame, spec: SuppressionSpec) -> list[str]:
    out = []
    rounded = _rounded_rows(df, spec)
    for m in spec.measures:
        if m.kind == "public":
            continue
        for i, v in enumerate(df[m.column].tolist()):
            try:
                x = _number(v)
            except ValueError:
                out.append(f"row {i + 1} {m.column}: not a published figure")
                continue
            if x is None:
                continue
            if m.kind in ("count", "numerator") and x < 6:
                out.append(f"row {i + 1} {m.column}: a count of {x:g} is shown (0-5 must be x)")
            elif m.kind == "denominator" and 0 < x < 6:
                out.append(f"row {i + 1} {m.column}: a denominator of {x:g} is shown (1-5 must be x)")
            elif (m.kind == "percentage" and not rounded[i]
                  and 0 < (_safe_number(df[m.denominator].iat[i]) or 0) <= 10):
                out.append(f"row {i + 1} {m.column}: a percentage of a denominator of 10 or fewer is shown")
            elif m.sources and any(_hidden(df[s].iat[i]) for s in m.sources):
                out.append(f"row {i + 1} {m.column}: shown although a figure it is computed from is hidden")
    return out


def _group_keys(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    return df[columns].astype(str).agg("\x1f".join, axis=1) if columns else pd.Series("", index=df.index)


def _additive_problems(df: pd.DataFrame, spec: SuppressionSpec) -> list[str]:
    # The same groups suppression protected (cslake.gold.suppression.additive_groups): each area's
    # total with its own LAs only, England's row with every LA.
    out = []
    rounded = _rounded_rows(df, spec)
    for rel in spec.additive:
        for members, totals in additive_groups(df, spec, rel):
            for t in totals:
                where = " / ".join(str(df[k].iloc[t]) for k in spec.keys if k != rel.over and k in df.columns)
                for col in rel.columns:
                    problem = _group_problem(df[col].iloc[members].tolist(), df[col].iloc[t], not rounded[t])
                    if problem:
                        out.append(f"{col}: {problem} ({rel.over} group {where})")
    return out


def _group_problem(parts: list[Any], total: Any, exact: bool) -> str | None:
    """What one group of parts and their total gives away, if anything."""
    if _missing(total):
        return None  # no total figure: nothing to subtract from
    cells = parts + [total]
    hidden = sum(_hidden(v) for v in cells)
    shown = [_safe_number(v) for v in cells if not _hidden(v)]
    if hidden == 1 and any(x is not None for x in shown):
        return "one hidden cell among its parts and total can be recovered by subtraction"
    t = _safe_number(total)
    part_values = [_safe_number(v) for v in parts if not _hidden(v)]
    if (hidden and exact and t is not None and not _hidden(total) and None not in part_values
            and abs(t - sum(part_values)) < 1e-9):
        return "the hidden parts of an exact total add up to 0, so each is 0"
    return None


def _safe_number(v: Any) -> float | None:
    try:
        return _number(v)
    except ValueError:
        return None


def _equal_problems(df: pd.DataFrame, spec: SuppressionSpec) -> list[str]:
    out = []
    for rel in spec.equal:
        named = {c for cell in rel.cells for c in cell.where}
        keys = _group_keys(df, [k for k in spec.keys if k not in named])
        groups: dict[str, list[Any]] = {}
        for cell in rel.cells:
            match = pd.Series(True, index=df.index)
            for c, values in cell.where.items():
                match &= df[c].isin(list(values))
            for i in df.index[match]:
                groups.setdefault(keys[i], []).append(df.at[i, cell.column])
        for key, values in sorted(groups.items()):
            if any(_hidden(v) for v in values) and any(_safe_number(v) is not None for v in values):
                out.append(f"one figure shown in one place and hidden in another ({key.replace(chr(31), ' / ')})")
    return out


def disclosure_problems(published: pd.DataFrame, spec: SuppressionSpec) -> list[str]:
    """Every way ``published`` breaks disclosure control under ``spec`` (empty: it may be shipped)."""
    missing = [m.column for m in spec.measures if m.column not in published.columns]
    if missing:
        return [f"measure column(s) missing: {', '.join(missing)}"]
    df = published.reset_index(drop=True)
    return _primary_problems(df, spec) + _additive_problems(df, spec) + _equal_problems(df, spec)


def check_frame(table: str, published: pd.DataFrame, spec: SuppressionSpec | None) -> None:
    """Raise :class:`DisclosureError` (one line) if ``published`` (gold.<table>) fails its spec."""
    if spec is None:
        return
    problems = disclosure_problems(published, spec)
    if problems:
        more = f" (and {len(problems) - SHOWN_PROBLEMS} more)" if len(problems) > SHOWN_PROBLEMS else ""
        raise DisclosureError(f"gold.{table} fails disclosure control, not shipped: "
                              f"{'; '.join(problems[:SHOWN_PROBLEMS])}{more}", exit_code=1)


def spec_for(table: str) -> SuppressionSpec | None:
    """The table's disclosure spec from conf/gold.yaml, None for a table declared without one."""
    return specs_from_conf(gold_conf()).get(table)
