"""DfE disclosure control on small hand-checkable tables, plus an attacker that tries to
recover every suppressed cell from its row and column totals."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from cslake.gold.suppression import (
    Additive,
    Measure,
    SuppressionSpec,
    SuppressionSpecError,
    suppress,
)

OUTCOME_SPEC = SuppressionSpec(
    keys=("la",),
    measures=(
        Measure("eligible", "denominator"),
        Measure("passed", "numerator", denominator="eligible"),
        Measure("passed_pct", "percentage", numerator="passed", denominator="eligible", decimals=1),
        Measure("score_sum", "sum", denominator="eligible"),
        Measure("score_avg", "average", denominator="eligible", decimals=1),
    ),
)


def _outcome_row(la, eligible, passed, score_sum):
    pct = None if eligible == 0 else 100 * passed / eligible
    avg = None if eligible == 0 else score_sum / eligible
    return {"la": la, "eligible": eligible, "passed": passed, "passed_pct": pct, "score_sum": score_sum,
            "score_avg": avg}


def _published(rows, spec=OUTCOME_SPEC):
    return suppress(pd.DataFrame(rows), spec).set_index(spec.keys[0])


def test_zero_denominator_shows_zero_and_dots():
    out = _published([_outcome_row("A", 0, 0, 0.0)])
    assert out.loc["A"].to_dict() == {"eligible": "0", "passed": ".", "passed_pct": ".", "score_sum": ".",
                                      "score_avg": "."}


def test_denominator_one_to_five_hides_everything_about_it():
    out = _published([_outcome_row("A", 4, 3, 40.0)])
    assert out.loc["A"].to_dict() == {"eligible": "x", "passed": "x", "passed_pct": "x", "score_sum": "x",
                                      "score_avg": "x"}


def test_small_denominator_hides_percentage_only():
    # 8 eligible, 7 passed: both counts are above 5, but 87.5% of 8 is still too fine.
    out = _published([_outcome_row("A", 8, 7, 52.0)])
    assert out.loc["A"].to_dict() == {"eligible": "8", "passed": "7", "passed_pct": "x", "score_sum": "52",
                                      "score_avg": "6.5"}


@pytest.mark.parametrize("passed", [0, 1, 5])
def test_numerator_zero_to_five_hidden_with_its_percentage(passed):
    out = _published([_outcome_row("A", 20, passed, 100.0)])
    assert out.loc["A", "passed"] == "x"
    assert out.loc["A", "passed_pct"] == "x"
    assert out.loc["A", "eligible"] == "20"


def test_large_figures_shown_with_decimals():
    out = _published([_outcome_row("A", 20, 12, 123.0)])
    assert out.loc["A"].to_dict() == {"eligible": "20", "passed": "12", "passed_pct": "60.0", "score_sum": "123",
                                      "score_avg": "6.2"}


COUNT_SPEC = SuppressionSpec(
    keys=("geog_level", "geog", "indicator"),
    measures=(
        Measure("number", "count"),
        Measure("population", "public"),
        Measure("rate", "rate", numerator="number", denominator="population", decimals=1),
        Measure("reported", "count"),
        Measure("difference", "derived", depends_on=("number", "reported")),
    ),
    additive=(Additive(over="geog", total={"geog_level": "region"}, columns=("number", "reported")),),
    rounded_rows={"geog_level": ("region",)},
)


def _counts(rows):
    df = pd.DataFrame(rows, columns=["geog_level", "geog", "indicator", "number", "population", "reported"])
    df["rate"] = df["number"] / df["population"] * 10_000
    df["difference"] = df["number"] - df["reported"]
    return df


def test_secondary_suppression_hides_next_smallest_part_of_a_total():
    df = _counts([
        ("la", "A", 1, 3, 5000, 40),
        ("la", "B", 1, 10, 9000, 41),
        ("la", "C", 1, 20, 12000, 42),
        ("region", "R", 1, 33, 26000, 123),
    ])
    out = suppress(df, COUNT_SPEC).set_index("geog")
    # A is 3 (primary); the region's 33 would give it away from B and C, so B (the next smallest) goes too.
    assert out["number"].tolist() == ["x", "x", "20", "30"]
    # the rate of a hidden count would give the count back (population is public)
    assert out["rate"].tolist() == ["x", "x", "16.7", "12.7"]
    assert out.loc["A", "difference"] == "x" and out.loc["B", "difference"] == "x"
    assert out.loc["C", "difference"] == "-22"
    # nothing small in `reported`: shown, and the region total rounded to 10
    assert out["reported"].tolist() == ["40", "41", "42", "120"]


def test_regional_counts_rounded_to_ten_but_small_ones_still_hidden():
    df = _counts([
        ("la", "A", 1, 0, 5000, 0), ("la", "B", 1, 3, 9000, 1), ("region", "R", 1, 3, 14000, 1),
        ("la", "A", 2, 600, 5000, 10), ("la", "B", 2, 635, 9000, 15), ("region", "R", 2, 1235, 14000, 25),
    ])
    out = suppress(df, COUNT_SPEC)
    region = out[out.geog_level == "region"].set_index("indicator")
    assert region.loc[1, "number"] == "x"
    assert region.loc[2, "number"] == "1240"  # half up
    assert region.loc[2, "reported"] == "30"  # 25 → 30
    # zeros are hidden like any count 0-5
    assert out[(out.geog == "A") & (out.indicator == 1)]["number"].item() == "x"


def test_hidden_total_alone_is_protected_by_hiding_a_part():
    # All parts shown would add up to the hidden total: one part must go.
    spec = SuppressionSpec(keys=("g",), measures=(Measure("n", "denominator"),),
                           additive=(Additive(over="g", total={"g": "T"}, columns=("n",)),))
    df = pd.DataFrame({"g": ["a", "b", "T"], "n": [0, 4, 4]})
    out = suppress(df, spec).set_index("g")["n"].to_dict()
    # b (4) is hidden as 1-5; the total 4 as well; a (0) would give nothing away alone, but
    # with exactly one unknown among a, b, T... here two are unknown, so a stays.
    assert out == {"a": "0", "b": "x", "T": "x"}


def test_spec_refuses_unknown_references():
    with pytest.raises(SuppressionSpecError):
        SuppressionSpec(keys=("g",), measures=(Measure("p", "percentage", numerator="n", denominator="d"),))
    with pytest.raises(SuppressionSpecError):
        Measure("p", "percentage", numerator="n")
    with pytest.raises(SuppressionSpecError):
        Measure("p", "fraction")


# ---------------------------------------------------------------------------
# A two-way table (rows x columns with totals both ways), attacked.

MATRIX_SPEC = SuppressionSpec(
    keys=("home", "school"),
    measures=(Measure("pupils", "count"),),
    additive=(
        Additive(over="school", total={"school": "ALL"}, columns=("pupils",)),
        Additive(over="home", total={"home": "ALL"}, columns=("pupils",)),
    ),
)


def _matrix(values: np.ndarray) -> pd.DataFrame:
    homes = [f"h{i}" for i in range(values.shape[0])]
    schools = [f"s{j}" for j in range(values.shape[1])]
    rows = [(h, s, int(values[i, j])) for (i, h), (j, s) in itertools.product(enumerate(homes), enumerate(schools))]
    rows += [(h, "ALL", int(values[i].sum())) for i, h in enumerate(homes)]
    rows += [("ALL", s, int(values[:, j].sum())) for j, s in enumerate(schools)]
    rows += [("ALL", "ALL", int(values.sum()))]
    return pd.DataFrame(rows, columns=["home", "school", "pupils"])


def _recoverable(published: pd.DataFrame) -> list[tuple[str, str]]:
    """Cells an attacker can work out: a line (row or column with its total) with exactly one 'x'."""
    found = []
    cell = {(h, s): v for h, s, v in published[["home", "school", "pupils"]].itertuples(index=False)}
    homes = sorted({h for h, _ in cell})
    schools = sorted({s for _, s in cell})
    lines = [[(h, s) for s in schools] for h in homes] + [[(h, s) for h in homes] for s in schools]
    for line in lines:
        hidden = [k for k in line if cell[k] == "x"]
        if len(hidden) == 1:
            # the total of the line is among its cells (ALL); the others are numbers: subtract.
            found.append(hidden[0])
    return found


def test_two_way_table_attack_recovers_nothing():
    values = np.array([[3, 40, 12], [25, 2, 30], [18, 22, 50]])
    published = suppress(_matrix(values), MATRIX_SPEC)
    assert _recoverable(published) == []
    # the primary cells are hidden, and the iteration reached across rows and columns
    cell = {(h, s): v for h, s, v in published.itertuples(index=False)}
    assert cell[("h0", "s0")] == "x" and cell[("h1", "s1")] == "x"
    assert sum(v == "x" for v in cell.values()) >= 4


@pytest.mark.parametrize("seed", range(25))
def test_random_tables_show_no_small_count_and_resist_recovery(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(2, 6)), int(rng.integers(2, 6)))
    values = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 9, 15, 40, 120], size=shape)
    published = suppress(_matrix(values), MATRIX_SPEC)
    shown = [int(v) for v in published["pupils"] if v not in ("x", ".")]
    assert not [v for v in shown if 0 <= v <= 5], "a count of 0-5 is published"
    assert _recoverable(published) == []
    # suppression never invents numbers: every shown cell is the true value
    truth = _matrix(values)
    for (_, t), (_, p) in zip(truth.iterrows(), published.iterrows()):
        if p["pupils"] != "x":
            assert int(p["pupils"]) == t["pupils"]


# ---------------------------------------------------------------------------
# One figure in two places: indicator 3's denominator is indicator 2's number.


def _riia_rows(la_figures: dict[str, dict], sources: list[str]) -> pd.DataFrame:
    """A one-quarter riia_indicators table: per LA {"src": {source: referrals}, "repeat": n}, and the region."""
    from cslake.gold.riia import RESTRICTED_COLUMNS

    rows = []

    def add(level, code, ind, breakdown, number, den=None):
        rows.append(dict(geog_level=level, geog_code=code, period="2024-25 Q1", indicator_id=ind,
                         breakdown=breakdown, number=None if number is None else float(number),
                         denominator=None if den is None else float(den),
                         percentage=None if not den else 100 * number / den, population_0_17=10_000.0,
                         rate_per_10k=float(number) if den is None and number is not None else None))

    region = {"src": dict.fromkeys(sources, 0), "repeat": 0}
    for code, f in [*la_figures.items(), ("R", region)]:
        level = "region" if code == "R" else "la"
        if code != "R":
            for s in sources:
                region["src"][s] += f["src"].get(s) or 0
            region["repeat"] += f["repeat"]
        referrals = sum(f["src"].values())
        add(level, code, 2, "all", referrals)
        for s in sources:
            add(level, code, 2, f"source {s}", f["src"].get(s))  # a source an LA has no row for: no figure
        add(level, code, 3, "all", f["repeat"], referrals)
    return pd.DataFrame(rows).reindex(columns=RESTRICTED_COLUMNS)


def _attack_riia(published: pd.DataFrame, region_exact: bool) -> dict[tuple, float]:
    """Every suppressed count a reader can pin down exactly from what a riia table publishes and
    how it is built: LAs add up to the region, referral sources to all referrals, repeat referrals'
    denominator is the referrals, '.' means a zero denominator, no figure means none. Region
    figures are used as totals only when they are exact (not rounded)."""
    cols = ("number", "denominator")
    cell = {}
    for r in published.itertuples(index=False):
        for c in cols:
            cell[(r.geog_code, r.indicator_id, r.breakdown, c)] = getattr(r, c)
    known = {k: 0.0 if v is None or (isinstance(v, float) and pd.isna(v)) else float(v)
             for k, v in cell.items() if v not in ("x", ".") and (region_exact or k[0] != "R")}
    for (g, ind, b, c), v in cell.items():
        if v == "." and c == "number":
            known[(g, ind, b, "denominator")] = 0.0  # "." = not applicable: the denominator is 0
    las = sorted({g for g, *_ in cell if g != "R"})
    breakdowns = sorted({b for _, ind, b, _ in cell if ind == 2 and b != "all"})
    sums = []  # (total, parts)
    for ind, b, c in {(ind, b, c) for _, ind, b, c in cell}:
        sums.append(((("R", ind, b, c)), [(g, ind, b, c) for g in las]))
    for g in [*las, "R"]:
        sums.append(((g, 2, "all", "number"), [(g, 2, b, "number") for b in breakdowns]))
    equal = [((g, 2, "all", "number"), (g, 3, "all", "denominator")) for g in [*las, "R"]]
    changed = True
    while changed:
        changed = False
        for a, b in equal:
            for x, y in ((a, b), (b, a)):
                if x in known and y not in known:
                    known[y] = known[x]
                    changed = True
        for total, parts in sums:
            if any(p not in cell for p in parts):
                continue
            unknown = [p for p in [total, *parts] if p not in known]
            if len(unknown) == 1:
                u = unknown[0]
                rest = sum(known[p] for p in parts if p != u)
                known[u] = rest if u == total else known[total] - rest
                changed = True
            elif unknown and total in known and total not in unknown:
                if known[total] - sum(known[p] for p in parts if p in known) == 0:
                    for u in unknown:  # hidden parts adding up to nothing are each 0
                        known[u] = 0.0
                    changed = True
    return {k: v for k, v in known.items() if cell.get(k) == "x"}


# (a) LA "A" had no referral this quarter: its 0 is hidden (a count of children), but as repeat
#     referrals' denominator a 0 is shown, with "." beside it; and the region total then hides
#     B's referrals, which 3's denominator showed again.
# (b) B's referrals are hidden by their source breakdown: B has a row for one source only
#     (1A), hidden by the region total over 1A (A's 3 is hidden), so the breakdown's total, all
#     of B's referrals, goes too; 3's denominator showed it again.
SCENARIOS = {
    "zero referrals": ({"A": {"src": {"1A": 0, "1B": 0}, "repeat": 0},
                        "B": {"src": {"1A": 12, "1B": 9}, "repeat": 6},
                        "C": {"src": {"1A": 30, "1B": 24}, "repeat": 11}}, ["1A", "1B"], ("B", 2, "all", "number")),
    "hide forced by the source breakdown": ({"A": {"src": {"1A": 3, "1B": 40}, "repeat": 9},
                                             "B": {"src": {"1A": 20}, "repeat": 7},
                                             "C": {"src": {"1A": 50, "1B": 30}, "repeat": 12}}, ["1A", "1B"],
                                            ("B", 2, "all", "number")),
}


@pytest.mark.parametrize("rounded", [True, False], ids=["region rounded", "region exact"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_referrals_hidden_anywhere_are_hidden_as_repeat_referrals_denominator(scenario, rounded):
    import dataclasses

    from cslake.gold.build import gold_conf
    from cslake.gold.suppression import specs_from_conf

    figures, sources, target = SCENARIOS[scenario]
    table = _riia_rows(figures, sources)
    spec = specs_from_conf(gold_conf())["riia_indicators"]
    assert any(c.where.get("indicator_id") == (3,) for e in spec.equal for c in e.cells)
    if not rounded:
        spec = dataclasses.replace(spec, rounded_rows={})
    truth = {(r.geog_code, r.indicator_id, r.breakdown, c): getattr(r, c)
             for r in table.itertuples(index=False) for c in ("number", "denominator")}

    # Without the equal relations (as before): the attack gets the target back, exactly.
    before = _attack_riia(suppress(table, dataclasses.replace(spec, equal=())), region_exact=not rounded)
    assert target in before and before[target] == truth[target], before
    assert all(v == truth[k] for k, v in before.items())  # the attacker's figures are right

    published = suppress(table, spec)
    assert _attack_riia(published, region_exact=not rounded) == {}
    p = published.set_index(["geog_code", "indicator_id", "breakdown"])
    for g in ("A", "B"):
        assert p.loc[(g, 2, "all"), "number"] == "x" and p.loc[(g, 3, "all"), "denominator"] == "x"
        assert p.loc[(g, 3, "all"), "percentage"] in ("x", None)
    # C and the region are untouched: the fix hides what it must, no more
    assert p.loc[("C", 3, "all"), "denominator"] == str(int(truth[("C", 3, "all", "denominator")]))


def test_equal_cells_are_hidden_together_and_a_dot_with_its_denominator():
    from cslake.gold.suppression import Cell, Equal

    spec = SuppressionSpec(
        keys=("g", "item"),
        measures=(Measure("n", "numerator", denominator="d"), Measure("d", "denominator")),
        equal=(Equal((Cell("n", {"item": "count"}), Cell("d", {"item": ["share"]}))),),
    )
    df = pd.DataFrame({"g": ["a", "a", "b", "b"], "item": ["count", "share", "count", "share"],
                       "n": [0.0, 0.0, 40.0, 12.0], "d": [None, 0.0, None, 40.0]})
    out = suppress(df, spec).set_index(["g", "item"])
    # a: the 0 count is hidden, so the equal 0 denominator is too, and the "." that would say it is 0
    assert out.loc[("a", "count"), "n"] == "x"
    assert out.loc[("a", "share"), "d"] == "x" and out.loc[("a", "share"), "n"] == "x"
    # b: nothing hidden, nothing added
    assert out.loc[("b", "count"), "n"] == "40" and out.loc[("b", "share"), "d"] == "40"
    with pytest.raises(SuppressionSpecError):
        SuppressionSpec(keys=("g",), measures=(Measure("n", "count"),), equal=(Equal((Cell("n"), Cell("m"))),))


def test_hidden_parts_of_an_exact_total_that_add_up_to_zero_are_protected():
    spec = SuppressionSpec(keys=("g",), measures=(Measure("n", "count"),),
                           additive=(Additive(over="g", total={"g": "T"}, columns=("n",)),))
    out = suppress(pd.DataFrame({"g": ["a", "b", "c", "d", "T"], "n": [0, 0, 9, 30, 39]}), spec).set_index("g")["n"]
    # a and b (both 0) are hidden; shown c, d and T would say they add up to 0, so c goes too
    assert out.to_dict() == {"a": "x", "b": "x", "c": "x", "d": "30", "T": "39"}
