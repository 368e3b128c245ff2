"""DfE disclosure control: the one place a gold table becomes publishable.

Every published gold table goes through ``suppress(df, spec)``: the unsuppressed
figures (restricted gold) go in as numbers, publishable cells come out as strings.
The rules are those of shared/specs/indicators.md (DfE practice for LA-level releases):

- zero denominator: the denominator shows ``0``; its numerators, percentages,
  rates, sums and averages show ``.`` (not applicable);
- denominator 1-5: ``x``;
- numerator (any count of children) 0-5, zeros included: ``x``;
- percentage: ``x`` where its denominator is 1-10 or its numerator 0-5;
- sum and average: ``x`` where the denominator is 1-5;
- regional / national rows: counts of children rounded to the nearest 10
  (after the small-number rule, so a regional 3 is still ``x``, never ``0``);
  percentages and rates are computed from unrounded figures and rounded to
  their published decimals;
- secondary suppression: where a table holds a total and its parts (an
  ``Additive`` relation), a group with exactly one unknown cell would let anyone
  recover it by subtraction, so the next smallest shown part is suppressed too,
  over every relation, until nothing changes. Likewise where the hidden parts of an
  exact (unrounded) shown total add up to 0 (each of them is then 0). Rounded totals
  count as known: rounding to 10 narrows a 1-5 cell to a handful of values, which is
  too much.
- one figure in two places (an ``Equal`` relation: indicator 3's denominator is
  indicator 2's number) is shown in both or hidden in both, or the shown copy
  gives the hidden one away; this runs inside the same iteration, so a hide that
  one relation forces is carried through the others.
- anything computed from a suppressed cell (a rate from a count, a percentage
  from a numerator or denominator, a difference) is suppressed with it, or the
  cell could be recovered from it with the public population; and a ``.`` that
  says a hidden denominator is 0 is hidden with it.

Pure pandas: published tables are small aggregates, collected after the Spark
aggregation. Nothing here reads or writes the lake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import pandas as pd

from cslake.gold.geography import area_members

SUPPRESSED = "x"
NOT_APPLICABLE = "."

KINDS = ("count", "numerator", "denominator", "percentage", "rate", "sum", "average", "derived", "public")
# Kinds that are counts of children (rounded on regional rows, 0-5 / 1-5 rules).
_COUNT_KINDS = ("count", "numerator", "denominator")


class SuppressionSpecError(ValueError):
    """A suppression spec that names missing columns or unknown kinds."""


@dataclass(frozen=True)
class Measure:
    """How one published column is controlled.

    kind: ``count``/``numerator`` (a count of children: 0-5 → x), ``denominator``
    (eligible children: 0 shown, 1-5 → x), ``percentage`` (of ``numerator`` over
    ``denominator``), ``rate`` (of ``numerator`` per a public population, e.g. per
    10,000 children), ``sum``/``average`` (over ``denominator`` children),
    ``derived`` (shown only when every column in ``depends_on`` is shown, e.g. a
    difference of two counts), ``public`` (not about children: shown as is).
    """

    column: str
    kind: str
    numerator: str | None = None
    denominator: str | None = None
    depends_on: tuple[str, ...] = ()
    decimals: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "depends_on", tuple(self.depends_on))
        if self.kind not in KINDS:
            raise SuppressionSpecError(f"measure {self.column!r}: kind {self.kind!r}, expected one of {', '.join(KINDS)}")
        if self.kind == "percentage" and not (self.numerator and self.denominator):
            raise SuppressionSpecError(f"percentage {self.column!r} needs numerator and denominator columns")
        if self.kind == "rate" and not self.numerator:
            raise SuppressionSpecError(f"rate {self.column!r} needs its numerator column")
        if self.kind in ("sum", "average") and not self.denominator:
            raise SuppressionSpecError(f"{self.kind} {self.column!r} needs its denominator column")
        if self.kind == "derived" and not self.depends_on:
            raise SuppressionSpecError(f"derived {self.column!r} needs depends_on")

    @property
    def sources(self) -> tuple[str, ...]:
        """Columns whose suppression hides this one too."""
        own = [c for c in (self.numerator, self.denominator) if c and self.kind != "numerator" and self.kind != "count"]
        return tuple(own) + self.depends_on


@dataclass(frozen=True)
class Additive:
    """Rows whose ``over`` differs, all else equal, add up to the row matching ``total``.

    E.g. ``Additive(over="geog_code", total={"geog_level": "region"}, columns=("number",))``:
    for each indicator and quarter, the LA rows' numbers sum to the region row's.
    Group key: the spec's ``keys`` minus ``over`` and the ``total`` columns.
    """

    over: str
    total: Mapping[str, Any]
    columns: tuple[str, ...]
    # Only rows matching this hold the relation (e.g. the referral sources of indicator 2).
    within: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "total", dict(self.total))
        object.__setattr__(self, "within", {k: tuple(v) for k, v in dict(self.within).items()})


@dataclass(frozen=True)
class Cell:
    """``column`` of the rows matching ``where`` ({column: value or [values]})."""

    column: str
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", {k: tuple(v) if isinstance(v, (list, tuple)) else (v,)
                                           for k, v in dict(self.where).items()})


@dataclass(frozen=True)
class Equal:
    """Cells that hold one figure in different rows, shown together or hidden together.

    E.g. ``Equal((Cell("number", {"indicator_id": 2, "breakdown": "all"}),
    Cell("denominator", {"indicator_id": 3, "breakdown": "all"})))``: referrals are the
    denominator of repeat referrals. Rows pair up on the spec's keys that no ``where``
    names (here geography and period).
    """

    cells: tuple[Cell, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(self.cells))
        if len(self.cells) < 2:
            raise SuppressionSpecError("an equal relation needs at least two cells")


@dataclass(frozen=True)
class SuppressionSpec:
    keys: tuple[str, ...]
    measures: tuple[Measure, ...]
    additive: tuple[Additive, ...] = ()
    equal: tuple[Equal, ...] = ()
    # Rows whose counts are regional/national: {column: [values]}; counts there are rounded.
    rounded_rows: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    round_to: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "measures", tuple(self.measures))
        object.__setattr__(self, "additive", tuple(self.additive))
        object.__setattr__(self, "equal", tuple(self.equal))
        object.__setattr__(self, "rounded_rows", {k: tuple(v) for k, v in dict(self.rounded_rows).items()})
        names = {m.column for m in self.measures}
        for m in self.measures:
            for c in (m.numerator, m.denominator, *m.depends_on):
                if c and c not in names:
                    raise SuppressionSpecError(f"measure {m.column!r} refers to {c!r}, which is not a measure")
        for a in self.additive:
            for c in a.columns:
                if c not in names:
                    raise SuppressionSpecError(f"additive relation over {a.over!r} names {c!r}, not a measure")
        for e in self.equal:
            for c in e.cells:
                if c.column not in names:
                    raise SuppressionSpecError(f"equal relation names {c.column!r}, not a measure")

    def measure(self, column: str) -> Measure:
        for m in self.measures:
            if m.column == column:
                return m
        raise KeyError(column)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "SuppressionSpec":
        measures = []
        for col, m in (raw.get("measures") or {}).items():
            m = dict(m or {})
            measures.append(Measure(column=col, kind=m.pop("kind"), numerator=m.pop("numerator", None),
                                    denominator=m.pop("denominator", None),
                                    depends_on=tuple(m.pop("depends_on", ()) or ()),
                                    decimals=int(m.pop("decimals", 0))))
            if m:
                raise SuppressionSpecError(f"measure {col!r}: unknown field(s) {', '.join(sorted(m))}")
        additive = [Additive(over=a["over"], total=a["total"], columns=tuple(a["columns"]), within=a.get("within") or {})
                    for a in raw.get("additive") or []]
        equal = [Equal(tuple(Cell(c["column"], c.get("where") or {}) for c in e["cells"])) for e in raw.get("equal") or []]
        return cls(keys=tuple(raw.get("keys") or ()), measures=tuple(measures), additive=tuple(additive),
                   equal=tuple(equal), rounded_rows=raw.get("rounded_rows") or {},
                   round_to=int(raw.get("round_to", 10)))


# ---------------------------------------------------------------------------


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def _round_half_up(v: float, to: int) -> int:
    return int(math.floor(v / to + 0.5) * to)


def _fmt(v: Any, decimals: int) -> str:
    if decimals <= 0:
        return str(int(round(float(v))))
    return f"{float(v):.{decimals}f}"


def _primary(df: pd.DataFrame, spec: SuppressionSpec) -> dict[str, list[str | None]]:
    """Cell states after the primary rules: a value to show ("v"), SUPPRESSED, NOT_APPLICABLE or None (no figure)."""
    state: dict[str, list[str | None]] = {}
    n = len(df)
    for m in spec.measures:
        vals = df[m.column].tolist()
        den = df[m.denominator].tolist() if m.denominator else [None] * n
        num = df[m.numerator].tolist() if m.numerator else [None] * n
        out: list[str | None] = []
        for v, d, u in zip(vals, den, num):
            zero_den = not _is_missing(d) and float(d) == 0
            if _is_missing(v):
                out.append(NOT_APPLICABLE if zero_den and m.kind != "denominator" else None)
                continue
            v = float(v)
            if m.kind == "public":
                out.append("v")
            elif m.kind == "denominator":
                out.append("v" if v == 0 or v > 5 else SUPPRESSED)
            elif zero_den:
                out.append(NOT_APPLICABLE)
            elif m.kind in ("count", "numerator"):
                out.append(SUPPRESSED if v <= 5 else "v")
            elif m.kind == "percentage":
                small_den = not _is_missing(d) and 1 <= float(d) <= 10
                small_num = not _is_missing(u) and float(u) <= 5
                out.append(SUPPRESSED if small_den or small_num else "v")
            elif m.kind == "rate":
                out.append(SUPPRESSED if not _is_missing(u) and float(u) <= 5 else "v")
            elif m.kind in ("sum", "average"):
                out.append(SUPPRESSED if not _is_missing(d) and 1 <= float(d) <= 5 else "v")
            else:  # derived: decided by its sources below
                out.append("v")
        state[m.column] = out
    return state


def _propagate(spec: SuppressionSpec, state: dict[str, list[str | None]]) -> bool:
    """Hide whatever is computed from a hidden cell; True if anything changed.

    A ``.`` says its denominator is 0, so where that denominator (or a source) is
    hidden the ``.`` is hidden too."""
    changed = False
    for m in spec.measures:
        srcs = m.sources
        dot_srcs = tuple(dict.fromkeys((*srcs, *([m.denominator] if m.denominator else []))))
        if not dot_srcs:
            continue
        cells = state[m.column]
        for i, s in enumerate(cells):
            if s == NOT_APPLICABLE:
                if any(state[c][i] == SUPPRESSED for c in dot_srcs):
                    cells[i] = SUPPRESSED
                    changed = True
                continue
            if s != "v" or not srcs:
                continue
            src_states = [state[c][i] for c in srcs]
            if SUPPRESSED in src_states:
                cells[i] = SUPPRESSED
                changed = True
            elif m.kind == "derived" and NOT_APPLICABLE in src_states:
                cells[i] = NOT_APPLICABLE
                changed = True
    return changed


def _equal_groups(df: pd.DataFrame, spec: SuppressionSpec, rel: Equal) -> list[list[tuple[str, int]]]:
    """The (column, row position) cells of each group of an equal relation that has two or more."""
    named = {c for cell in rel.cells for c in cell.where}
    for c in named:
        if c not in df.columns:
            raise SuppressionSpecError(f"equal relation: column {c!r} not in the table")
    by = [k for k in spec.keys if k not in named]
    keyed = df[by].astype(str).agg("\x1f".join, axis=1) if by else pd.Series("", index=df.index)
    groups: dict[str, list[tuple[str, int]]] = {}
    for cell in rel.cells:
        match = pd.Series(True, index=df.index)
        for c, values in cell.where.items():
            match &= df[c].isin(list(values))
        for pos in [int(p) for p in (match.to_numpy().nonzero()[0])]:
            groups.setdefault(keyed.iloc[pos], []).append((cell.column, pos))
    return [g for _, g in sorted(groups.items()) if len(g) > 1]


def _equalise(groups: list[list[tuple[str, int]]], state: dict[str, list[str | None]]) -> int:
    """Hide every shown copy of a figure one of whose copies is hidden; returns cells hidden."""
    added = 0
    for group in groups:
        if any(state[c][i] == SUPPRESSED for c, i in group):
            for c, i in group:
                if state[c][i] in ("v", NOT_APPLICABLE):
                    state[c][i] = SUPPRESSED
                    added += 1
    return added


def additive_groups(df: pd.DataFrame, spec: SuppressionSpec, rel: Additive) -> list[tuple[list[int], list[int]]]:
    """(member row positions, total row positions) of each group of an additive relation."""
    for c in (rel.over, *rel.total):
        if c not in df.columns:
            raise SuppressionSpecError(f"additive relation: column {c!r} not in the table")
    by = [k for k in spec.keys if k != rel.over and k not in rel.total]
    inside = pd.Series(True, index=df.index)
    for c, values in rel.within.items():
        inside &= df[c].isin(list(values))
    is_total = pd.Series(True, index=df.index)
    for c, v in rel.total.items():
        is_total &= df[c].astype(object) == v
    if rel.total == {"geog_level": "region"}:
        # England's row (cslake.gold.geography: only when every English LA is there) totals its LAs too
        is_total |= df["geog_level"].astype(object) == "national"
    pos = pd.Series(range(len(df)), index=df.index)
    out = []
    keyed = df[by].astype(str).agg("\x1f".join, axis=1) if by else pd.Series("", index=df.index)
    keyed = keyed[inside]
    over = df[rel.over].astype(str).tolist()
    for _, idx in keyed.groupby(keyed, sort=True).groups.items():
        members = [int(pos[i]) for i in idx if not is_total[i]]
        for total in (int(pos[i]) for i in idx if is_total[i]):
            # A lake of several alliances has a total per area: its parts are its own LAs' rows.
            area = area_members(over[total])
            mine = members if area is None else [m for m in members if over[m] in area]
            if mine:
                out.append((mine, [total]))
    return out


def _rounded(df: pd.DataFrame, spec: SuppressionSpec) -> pd.Series:
    rounded = pd.Series(False, index=df.index)
    for c, values in spec.rounded_rows.items():
        rounded |= df[c].isin(list(values))
    return rounded


def _secondary(df: pd.DataFrame, spec: SuppressionSpec, state: dict[str, list[str | None]]) -> int:
    """Suppress further cells until no group of any additive relation has exactly one unknown
    (or hidden parts of an exact total adding up to 0) and every equal relation's copies agree;
    returns cells added."""
    if not spec.additive and not spec.equal:
        return 0
    groups = [(rel, additive_groups(df, spec, rel)) for rel in spec.additive]
    equal_groups = [g for rel in spec.equal for g in _equal_groups(df, spec, rel)]
    values = {c: df[c].tolist() for rel in spec.additive for c in rel.columns}
    rounded = _rounded(df, spec).tolist()
    added = 0
    while True:
        changed = False
        n = _equalise(equal_groups, state)
        if n:
            added += n
            changed = True
        for rel, rel_groups in groups:
            for col in rel.columns:
                cells = state[col]
                vals = values[col]
                for members, totals in rel_groups:
                    total = totals[0]
                    group = members + [total]
                    hidden = [i for i in group if cells[i] == SUPPRESSED]
                    if not hidden:
                        continue
                    if cells[total] is None:
                        continue  # no total figure: nothing to subtract from
                    # The total, if shown, minus the shown parts gives one hidden cell away; and
                    # hidden parts of an exact (unrounded) total that add up to 0 are each 0.
                    zero_sum = (cells[total] == "v" and not rounded[total] and len(hidden) > 1
                                and all(not _is_missing(vals[i]) and float(vals[i]) == 0 for i in hidden))
                    if len(hidden) != 1 and not zero_sum:
                        continue
                    candidates = [i for i in members if cells[i] == "v" and not _is_missing(vals[i])
                                  and (not zero_sum or float(vals[i]) > 0)]
                    if candidates:
                        pick = min(candidates, key=lambda i: (float(vals[i]), i))
                    elif cells[total] == "v":
                        pick = total
                    else:
                        continue
                    cells[pick] = SUPPRESSED
                    added += 1
                    changed = True
        if _propagate(spec, state):
            changed = True
        if not changed:
            return added


def suppress(df: pd.DataFrame, spec: SuppressionSpec) -> pd.DataFrame:
    """The publishable copy of ``df``: measure columns as strings (or None where there is no figure)."""
    missing = [m.column for m in spec.measures if m.column not in df.columns]
    missing += [k for k in spec.keys if k not in df.columns]
    if missing:
        raise SuppressionSpecError(f"columns missing from the table: {', '.join(missing)}")
    df = df.reset_index(drop=True)
    state = _primary(df, spec)
    _propagate(spec, state)
    _secondary(df, spec, state)
    rounded = _rounded(df, spec)
    out = df.copy()
    for m in spec.measures:
        if m.kind == "public":
            continue  # not about children (e.g. ONS population): left as published by its source
        shown: list[str | None] = []
        for i, (s, v) in enumerate(zip(state[m.column], df[m.column].tolist())):
            if s != "v":
                shown.append(s)
            elif m.kind in _COUNT_KINDS and rounded[i]:
                shown.append(str(_round_half_up(float(v), spec.round_to)))
            else:
                shown.append(_fmt(v, m.decimals))
        out[m.column] = pd.Series(shown, dtype=object)
    return out


def suppression_summary(published: pd.DataFrame, spec: SuppressionSpec) -> dict[str, int]:
    """Cells shown / suppressed / not applicable, for build reports."""
    cols = [m.column for m in spec.measures if m.kind != "public"]
    flat = published[cols].to_numpy().ravel().tolist() if len(published) else []
    return {
        "cells": len(flat),
        "suppressed": sum(1 for v in flat if v == SUPPRESSED),
        "not_applicable": sum(1 for v in flat if v == NOT_APPLICABLE),
    }


def specs_from_conf(raw: Mapping[str, Any]) -> dict[str, SuppressionSpec]:
    """``conf/gold.yaml`` tables → {table: SuppressionSpec}."""
    return {name: SuppressionSpec.from_dict(t["suppression"]) for name, t in (raw.get("tables") or {}).items()
            if t and t.get("suppression")}


def published_counts(published: pd.DataFrame, columns: Iterable[str]) -> list[int]:
    """Every numeric count shown in ``columns`` (for checks that no 1-5 leaks)."""
    out = []
    for c in columns:
        for v in published[c].tolist():
            if isinstance(v, str) and v not in (SUPPRESSED, NOT_APPLICABLE):
                try:
                    out.append(int(float(v)))
                except ValueError:
                    pass
    return out
