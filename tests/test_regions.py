"""Issue 18: gold's regional rows come from the LAs in the lake, per alliance, per English region
and (only when every LA is there) England; never from a configured default.

Hand-made frames for the rules (cslake.gold.geography, the region rows of riia, the shared
with_geography, disclosure control over several totals); the generated East Midlands and
two-alliance lakes are in tests/test_regions_lake.py."""

from __future__ import annotations

import pandas as pd
import pytest

from cslake.config import ConfigError, LocalAuthority, Region
from cslake.gold import riia
from cslake.gold.common import with_geography
from cslake.gold.geography import all_areas, area_members, areas_for
from cslake.gold.suppression import Additive, Measure, SuppressionSpec, suppress
from cslake.vocab import REGION_GSS


# ---------------------------------------------------------------------------
# which areas


def test_the_real_conf_east_midlands_las_give_east_midlands_only():
    areas = areas_for({"830", "857"})
    assert [(a.level, a.code, a.name) for a in areas] == [("region", "east_midlands", "East Midlands")]
    # LIIA is London and EMRIIA is the East Midlands: one row each, not an alliance row and a region row;
    # the other seven English regions by ONS code (in name order), then England (conf/la_codes.csv has
    # all 153 LAs: issue 14)
    others = ["East of England", "North East", "North West", "South East", "South West", "West Midlands",
              "Yorkshire and The Humber"]
    assert [a.code for a in all_areas()] == ["east_midlands", "london"] + [REGION_GSS[n] for n in others] + ["england"]


def test_las_of_both_alliances_give_both_and_no_england():
    assert [a.code for a in areas_for({"201", "202", "830"})] == ["east_midlands", "london"]
    # every LA of the two alliances is not England: two of the nine regions
    both = {la for a in all_areas() if a.kind == "alliance" for la in a.las}
    assert "england" not in [a.code for a in areas_for(both)]


def test_an_la_no_area_knows_gives_no_regional_row():
    assert areas_for({"999"}) == []


def test_only_keeps_one_alliance_and_refuses_an_unknown_one():
    assert [a.code for a in areas_for({"201", "830"}, only="east_midlands")] == ["east_midlands"]
    assert [a.code for a in areas_for({"201", "830"}, only="East Midlands")] == ["east_midlands"]
    with pytest.raises(ConfigError):
        areas_for({"201"}, only="narnia")


def _england():
    """A hand-made England: two LAs in each of the nine regions (codes 1r0, 1r1), and an alliance
    'metro' of one West Midlands LA and one East Midlands LA."""
    known, names = {}, sorted(REGION_GSS)
    for i, name in enumerate(names):
        for j in range(2):
            code = f"{i + 1}{j}0"
            known[code] = LocalAuthority(code, f"LA {code}", f"E0600{code}", name, "")
    wm, em = names.index("West Midlands") + 1, names.index("East Midlands") + 1
    metro = (known[f"{wm}00"], known[f"{em}00"])
    alliances = {"metro": Region("metro", "Metro", "METRO", "W", metro)}
    return known, alliances


def test_english_regions_and_england_from_the_la_list():
    known, alliances = _england()
    areas = all_areas(known, alliances)
    assert [a.code for a in areas][:1] == ["metro"]
    # the nine regions, by ONS code (none is the alliance), then England
    assert sorted(a.code for a in areas if a.kind == "ons_region") == sorted(REGION_GSS.values())
    assert areas[-1].code == "england" and areas[-1].level == "national" and len(areas[-1].las) == 18
    # all 18 LAs: the alliance, nine regions, England
    assert len(areas_for(set(known), areas=areas)) == 11
    # one LA missing: no England row (a sum of 17 LAs is not England)
    present = set(known) - {"110"}
    assert "england" not in [a.code for a in areas_for(present, areas=areas)]
    # West Midlands LAs only: the region, and metro (its West Midlands member)
    wm = REGION_GSS["West Midlands"]
    wm_las = {c for c, la in known.items() if la.region == "West Midlands"}
    assert sorted(a.code for a in areas_for(wm_las, areas=areas)) == sorted(["metro", wm])
    assert area_members(wm, areas) == frozenset(wm_las)


# ---------------------------------------------------------------------------
# region rows per area


def test_with_geography_sums_each_alliance_over_its_own_las():
    rows = pd.DataFrame({"_la": ["201", "202", "830", "857"], "collection_year": [2025] * 4,
                         "children": [7.0, 5.0, 11.0, 2.0], "all_children": [70.0, 50.0, 110.0, 20.0]})
    out = with_geography(rows, ["collection_year"], ["children", "all_children"], None)
    reg = out[out.geog_level == "region"].set_index("geog_code")
    assert reg.loc["london", ["children", "all_children"]].tolist() == [12.0, 120.0]
    assert reg.loc["east_midlands", ["children", "all_children"]].tolist() == [13.0, 130.0]
    assert reg.loc["east_midlands", "geog_name"] == "East Midlands"
    assert "region" not in set(out["geog_code"])
    # --region east_midlands: London's LA rows stay, only the East Midlands regional row
    only = with_geography(rows, ["collection_year"], ["children"], "east_midlands")
    assert only.loc[only.geog_level == "region", "geog_code"].tolist() == ["east_midlands"]


def test_riia_region_rates_are_each_alliance_sum_over_its_population():
    """Referrals: 201 has 3 (pop 1,000), 830 has 1 and 857 has 4 (pops 2,000 and 6,000). London's rate
    is 3/1,000 = 30 per 10,000; the East Midlands' (1+4)/(2,000+6,000) = 6.25, not the mean of 5 and 6.67."""
    presence = pd.DataFrame({"_la": ["201", "830", "857"], "_year": [2025] * 3, "collection": ["cin"] * 3})
    child = pd.DataFrame([("201", "2024-25 Q1", 2, "all", 3, None), ("830", "2024-25 Q1", 2, "all", 1, None),
                          ("857", "2024-25 Q1", 2, "all", 4, None)],
                         columns=riia.COUNT_COLUMNS).astype({"number": float, "den": float})
    population = pd.DataFrame({"la_code": ["201", "830", "857"], "year": [2024] * 3,
                               "population": [1000.0, 2000.0, 6000.0]})
    t = riia.indicators_table(child, presence, population, pd.DataFrame(columns=riia.TEMPLATE_COLUMNS))
    row = t.set_index(["geog_code", "period", "indicator_id", "breakdown"])
    assert set(t.loc[t.geog_level == "region", "geog_code"]) == {"london", "east_midlands"}
    assert row.loc[("london", "2024-25 Q1", 2, "all"), "number"] == 3
    assert row.loc[("london", "2024-25 Q1", 2, "all"), "rate_per_10k"] == pytest.approx(30.0)
    assert row.loc[("east_midlands", "2024-25 Q1", 2, "all"), "number"] == 5
    assert row.loc[("east_midlands", "2024-25 Q1", 2, "all"), "population_0_17"] == 8000
    assert row.loc[("east_midlands", "2024-25 Q1", 2, "all"), "rate_per_10k"] == pytest.approx(6.25)
    assert row.loc[("east_midlands", "2024-25 Q1", 2, "all"), "geog_name"] == "East Midlands"


# ---------------------------------------------------------------------------
# disclosure control with a total per alliance

SPEC = SuppressionSpec(keys=("geog_level", "geog_code", "indicator"),
                       measures=(Measure("number", "count"),),
                       additive=(Additive(over="geog_code", total={"geog_level": "region"}, columns=("number",)),),
                       rounded_rows={"geog_level": ("region",)})


def test_secondary_suppression_within_each_alliance():
    """201's 3 is hidden; London's total is shown (rounded, which counts as known), so London's next
    smallest LA (202, 40) must go too, even though the East Midlands' 830 (30) is smaller: hiding 830
    would leave 201 = London - 202 within rounding. The East Midlands has nothing hidden."""
    df = pd.DataFrame({"geog_level": ["la", "la", "la", "la", "region", "region"],
                       "geog_code": ["201", "202", "830", "857", "london", "east_midlands"],
                       "indicator": ["a"] * 6, "number": [3, 40, 30, 60, 43, 90]})
    out = suppress(df, SPEC).set_index("geog_code")["number"]
    assert out["201"] == "x" and out["202"] == "x"
    assert out["830"] == "30" and out["857"] == "60"
    assert out["london"] == "40" and out["east_midlands"] == "90"


def test_england_total_drives_secondary_suppression_of_its_las():
    """England's row (national) totals its LAs as a region's does: 201's 3 is hidden, England's 43 is
    shown rounded (40), so 202's 40 goes too."""
    df = pd.DataFrame({"geog_level": ["la", "la", "national"], "geog_code": ["201", "202", "england"],
                       "indicator": ["a"] * 3, "number": [3, 40, 43]})
    spec = SuppressionSpec(keys=SPEC.keys, measures=SPEC.measures, additive=SPEC.additive,
                           rounded_rows={"geog_level": ("region", "national")})
    out = suppress(df, spec).set_index("geog_code")["number"]
    assert out.tolist() == ["x", "x", "40"]


def test_exports_name_an_english_region_given_by_its_ons_code():
    from cslake.publish.ees import geography_of

    pdf = pd.DataFrame({"geog_level": ["region", "region", "national"],
                        "geog_code": ["E12000005", "east_midlands", "england"]})
    geo, replaced = geography_of(pdf)
    assert geo[["geographic_level", "region_code", "region_name"]].values.tolist() == [
        ["Regional", "E12000005", "West Midlands"], ["Regional", "E12000004", "East Midlands"], ["National", "", ""]]
    assert replaced == {"geog_level", "geog_code"}
