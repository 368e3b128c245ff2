"""conf/dfe_not_checked.yaml cannot rot: every code it lists as not implementable on a region's
data is a rule of that DfE validator (asked of the validators themselves, bench/dfe_coverage.py)
and is not also implemented by a cslake rule; every cslake rule's DfE code is the validator's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.absent import oracle_absent

ROOT = Path(__file__).resolve().parents[1]


def _coverage_module():
    spec = importlib.util.spec_from_file_location("dfe_coverage", ROOT / "bench" / "dfe_coverage.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def coverage():
    mod = _coverage_module()
    try:
        codes = mod.validator_codes()
    except mod.ValidatorsUnavailable as e:
        oracle_absent(f"DfE validators unavailable: {e}")
    return mod, codes, mod.coverage(codes)


@pytest.mark.parametrize("collection", ["ssda903", "cin"])
def test_every_not_checked_code_is_the_validators_and_not_implemented(coverage, collection):
    mod, codes, cov = coverage
    listed = mod.not_checked()[collection]
    assert listed, f"conf/dfe_not_checked.yaml lists nothing for {collection}"
    unknown = sorted(c for c in listed if c not in codes[collection])
    assert not unknown, f"not {collection} validator codes: {unknown}"
    implemented = sorted(c for c in listed if c in cov[collection]["implemented"])
    assert not implemented, f"listed as not implementable but implemented by cslake: {implemented}"
    assert all(v["reason"].strip() and v["note"].strip() for v in listed.values())


@pytest.mark.parametrize("collection", ["ssda903", "cin"])
def test_every_cslake_dfe_code_is_the_validators(coverage, collection):
    _, _, cov = coverage
    assert cov[collection]["unknown_implemented"] == []
    # the three sorts partition the validator's codes
    x = cov[collection]
    parts = [set(x["implemented"]), set(x["not_implementable"]), set(x["todo"])]
    assert sum(map(len, parts)) == len(x["validator"]) and set().union(*parts) == set(x["validator"])
