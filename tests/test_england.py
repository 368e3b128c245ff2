"""Issue 14: conf/la_codes.csv holds all 153 English LAs that make DfE's children's-services returns
(2024 geography), `--region england` (and each English region) selects them, and the generator has
settings for every one. Fast: no lake, no files written.

The spot checks are typed by hand from DfE's children in need statistics, reporting year 2025
(dfe-analytical-services/CSC_outcomes_and_enablers, data-raw/b1_children_in_need_2013_to_2025.csv:
old_la_code, new_la_code, la_name, region_name), the second of the two sources conf/la_codes.README.md
names; the per-region counts are that file's too."""

from __future__ import annotations

from collections import Counter

import pytest

from cslake.config import ConfigError, groups, local_authorities, region, regions
from cslake.gold.geography import areas_for
from cslake.synth.core import synth_conf
from cslake.synth.population import build_geography
from cslake.vocab import REGION_GSS

# dfe_code: (name, ONS code, region), from the 2025 children in need file
SPOT = {
    "942": ("Cumberland", "E06000063", "North West"),
    "943": ("Westmorland and Furness", "E06000064", "North West"),
    "815": ("North Yorkshire", "E06000065", "Yorkshire and The Humber"),
    "933": ("Somerset", "E06000066", "South West"),
    "825": ("Buckinghamshire", "E06000060", "South East"),
    "839": ("Bournemouth, Christchurch and Poole", "E06000058", "South West"),
    "838": ("Dorset", "E06000059", "South West"),
    "390": ("Gateshead", "E08000037", "North East"),
    "420": ("Isles of Scilly", "E06000053", "South West"),
    "886": ("Kent", "E10000016", "South East"),
    "330": ("Birmingham", "E08000025", "West Midlands"),
}
PER_REGION = {"North East": 12, "North West": 24, "Yorkshire and The Humber": 15, "East Midlands": 10,
              "West Midlands": 14, "East of England": 11, "London": 33, "South East": 19, "South West": 15}


def test_153_las_each_code_once_in_the_nine_regions():
    las = list(local_authorities().values())
    assert len(las) == 153
    assert len({la.dfe_code for la in las}) == 153 and len({la.gss_code for la in las}) == 153
    assert all(len(la.dfe_code) == 3 and la.dfe_code.isdigit() for la in las)
    assert {la.gss_code[:3] for la in las} == {"E06", "E08", "E09", "E10"}
    assert all(len(la.gss_code) == 9 and la.gss_code[3:].isdigit() for la in las)
    assert Counter(la.region for la in las) == PER_REGION
    # London boroughs are E09 and only they are
    assert all((la.gss_code[:3] == "E09") == (la.region == "London") for la in las)


def test_the_2024_geography_and_the_hand_typed_spot_check():
    known = local_authorities()
    for code, want in SPOT.items():
        la = known[code]
        assert (la.name, la.gss_code, la.region) == want, code
    # the LAs that the 2019-2023 changes ended make no return any more
    for gone in ("909", "928", "835", "836", "837"):  # Cumbria, Northamptonshire, old Dorset, Poole, Bournemouth
        assert gone not in known


def test_alliances_as_configured_and_no_alliance_elsewhere():
    las = local_authorities().values()
    assert {la.dfe_code for la in las if la.riia == "LIIA"} == {la.dfe_code for la in las if la.region == "London"}
    assert {la.dfe_code for la in las if la.riia == "EMRIIA"} == {
        "830", "831", "855", "856", "857", "891", "892", "925", "940", "941"}
    assert {la.riia for la in las if la.region not in ("London", "East Midlands")} == {""}
    alliances = regions()
    assert sorted(alliances) == ["east_midlands", "london"]
    assert (len(alliances["london"].las), len(alliances["east_midlands"].las)) == (33, 10)


def test_region_england_is_every_la_and_a_region_key_is_its_las():
    # what `cslake generate --region england` generates (pipeline.generate → config.region)
    england = region("england")
    assert england.la_codes == sorted(local_authorities()) and len(england.las) == 153
    assert england.alliance == ""  # not an alliance: gold gives it no row of its own
    nw = region("North West")
    assert nw.key == "north_west" and len(nw.las) == 24 and {la.region for la in nw.las} == {"North West"}
    # every English region is either an alliance or a group, with the region's LAs
    by_name = {r.name: r for r in [*regions().values(), *groups().values()]}
    for name, n in PER_REGION.items():
        assert len(by_name[name].las) == n and {la.region for la in by_name[name].las} == {name}
    with pytest.raises(ConfigError):
        region("wales")


def test_gold_only_a_group_keeps_the_areas_inside_it():
    every = set(local_authorities())
    all_codes = [a.code for a in areas_for(every)]
    assert all_codes[-1] == "england" and len(all_codes) == 10  # 2 alliances, 7 regions, England
    assert [a.code for a in areas_for(every, only="england")] == all_codes
    assert [a.code for a in areas_for(every, only="north_west")] == [REGION_GSS["North West"]]
    assert [a.code for a in areas_for(every, only="london")] == ["london"]


def test_the_generator_has_settings_for_every_la_its_own_line_first():
    las = synth_conf()["las"]
    assert set(local_authorities()) <= set(las)
    assert all(las[c]["children"] > 0 and set(las[c]["ethnic_mix"]) == {"W", "M", "A", "B", "O"} for c in las)
    # an LA with a line of its own keeps it; one without takes its kind's default
    assert las["202"]["children"] == 40000 and las["857"]["children"] == 8000
    assert las["886"] == synth_conf()["la_defaults"]["E10"] and las["390"] == synth_conf()["la_defaults"]["E08"]


def test_englands_made_up_postcodes_belong_to_one_la_each():
    # 153 LAs share the generator's 50 made-up postcode areas: no unit nor district may be two LAs'
    pc = build_geography(region("england"), seed=14).postcodes
    assert pc["la"].nunique() == 153
    assert pc["postcode"].is_unique
    assert pc.groupby("district")["la"].nunique().max() == 1
    made_up = pc[pc["district"].str.match(r"^[QZ]")]
    assert made_up["district"].str.fullmatch(r"[QZ][A-Z][1-9][0-9]?").all()  # a real outward code's shape
