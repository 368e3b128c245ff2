"""Which of DfE's validation rules cslake checks (issue 13's rule coverage table).

    .venv/bin/python bench/dfe_coverage.py            # the table, per collection
    .venv/bin/python bench/dfe_coverage.py --json out.json

For each of DfE's validators (data-to-insight's csc-validator-be-903 = lac_validator and
csc-validator-be-cin = cin_validator, installed in .venv-dfe; asked in a subprocess, over their
rulesets 2022-23 to 2026-27) it lists every rule code and sorts it into:

- implemented: a cslake rule carries it as ``dfe_code`` (conf/rules.yaml); the rule's collection
  is its table's (conf/silver.yaml ``rules``), else its id's prefix (CIN_, DFE_CIN_, SSDA903_,
  DFE_903_), else the one validator that has the code (UPN_INVALID: 1510 is a CIN rule);
- not implementable on a region's data: conf/dfe_not_checked.yaml, each code with the reason
  (reference data only DfE's tool has, a field cslake's specification does not carry, a judgement
  of the whole return, a check silver's generic checks already make under their own names...);
- implementable, not done: the rest.

A code in conf/dfe_not_checked.yaml that is not one of the validator's, or that a cslake rule
implements, is reported as stale (tests/test_dfe_coverage.py fails on it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("DFE_VENV", ROOT / ".venv-dfe"))
COLLECTIONS = ("ssda903", "cin")

# Run in the validators' environment: every rule code of each validator, with its message, the
# years whose ruleset has it and (CIN) its severity.
_LIST_CODES = r"""
import importlib, json, logging, warnings
warnings.filterwarnings("ignore"); logging.disable(logging.CRITICAL)
from lac_validator.rules.ruleset_utils import get_year_ruleset
out = {"ssda903": {}, "cin": {}}
for y in ("2023", "2024", "2025", "2026", "2027"):
    try:
        reg = get_year_ruleset(y)
    except Exception:
        continue
    for code, r in reg.items():
        e = out["ssda903"].setdefault(str(code), {"message": str(getattr(r, "message", "")), "years": []})
        e["years"].append(int(y))
for m in ("cin2022_23", "cin2023_24", "cin2024_25", "cin2025_26", "cin2026_27"):
    try:
        reg = importlib.import_module(f"cin_validator.rules.{m}").registry
    except Exception:
        continue
    for code, r in reg.items():
        e = out["cin"].setdefault(str(code), {"message": str(getattr(r, "message", "")),
                                              "severity": r.rule_type.value.lower(), "years": []})
        e["years"].append(2000 + int(m[-2:]))
print(json.dumps(out))
"""


class ValidatorsUnavailable(RuntimeError):
    pass


def validator_codes(venv: Path = VENV) -> dict[str, dict[str, dict]]:
    """collection -> DfE code -> {message, years[, severity]}, from the validators themselves."""
    py = venv / "bin" / "python"
    if not py.exists():
        raise ValidatorsUnavailable(f"{py} does not exist (tests/oracle/setup_dfe_validators.sh makes it)")
    proc = subprocess.run([str(py), "-c", _LIST_CODES], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ValidatorsUnavailable(f"listing the validators' rules failed: {proc.stderr[-800:]}")
    return json.loads(proc.stdout)


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / "conf" / name).read_text()) or {}


def _collection_of(rule_id: str, table: str | None, code: str, codes: dict[str, dict]) -> str | None:
    if table:
        for c in COLLECTIONS:
            if table.startswith(f"{c}_"):
                return c
    for prefix, c in (("DFE_CIN_", "cin"), ("DFE_903_", "ssda903"), ("CIN_", "cin"), ("SSDA903_", "ssda903")):
        if rule_id.startswith(prefix):
            return c
    having = [c for c in COLLECTIONS if code in codes.get(c, {})]
    return having[0] if len(having) == 1 else None


def cslake_rules(codes: dict[str, dict]) -> dict[str, dict[str, list[str]]]:
    """collection -> DfE code -> the cslake rule ids carrying it (conf/rules.yaml ``dfe_code``)."""
    catalog = _load("rules.yaml")["rules"]
    tables = {r["rule"]: r.get("table") for r in _load("silver.yaml").get("rules") or []}
    out: dict[str, dict[str, list[str]]] = {c: {} for c in COLLECTIONS}
    unplaced = []
    for rule_id, entry in catalog.items():
        code = entry.get("dfe_code")
        if code is None:
            continue
        c = _collection_of(rule_id, tables.get(rule_id), str(code), codes)
        if c is None:
            unplaced.append(rule_id)
            continue
        out[c].setdefault(str(code), []).append(rule_id)
    if unplaced:
        raise ValueError(f"cslake rules whose collection cannot be told: {unplaced}")
    return out


def not_checked() -> dict[str, dict[str, dict]]:
    """collection -> code -> {reason: its group's one-line reason, group: the group's name}
    (conf/dfe_not_checked.yaml: per collection, groups of codes sharing a reason)."""
    out: dict[str, dict[str, dict]] = {c: {} for c in COLLECTIONS}
    for c, groups in (_load("dfe_not_checked.yaml").get("collections") or {}).items():
        for group, g in groups.items():
            for code, note in (g.get("codes") or {}).items():
                if str(code) in out[c]:
                    raise ValueError(f"{c} {code} is in two groups of conf/dfe_not_checked.yaml")
                out[c][str(code)] = {"group": group, "reason": g["reason"], "note": note}
    return out


def coverage(codes: dict[str, dict] | None = None) -> dict[str, dict]:
    codes = codes if codes is not None else validator_codes()
    impl, skipped = cslake_rules(codes), not_checked()
    out = {}
    for c in COLLECTIONS:
        have = codes.get(c, {})
        done = {k: v for k, v in impl[c].items() if k in have}
        skip = {k: v for k, v in skipped[c].items() if k in have and k not in done}
        out[c] = {
            "validator": sorted(have),
            "implemented": done,
            "not_implementable": skip,
            "todo": sorted(k for k in have if k not in done and k not in skip),
            # stale: implemented codes the validator lacks, not-checked codes it lacks or cslake implements
            "unknown_implemented": sorted(k for k in impl[c] if k not in have),
            "stale_not_checked": sorted(k for k in skipped[c] if k not in have or k in done),
        }
    return out


def _key(code: str):
    digits = "".join(ch for ch in code if ch.isdigit())
    return (0, int(digits), code) if digits and code[0].isdigit() else (1, 0, code)


def report(cov: dict[str, dict]) -> str:
    lines = []
    for c in COLLECTIONS:
        x = cov[c]
        n = len(x["validator"])
        lines.append(f"== {c}: {n} rules in DfE's validator (rulesets 2022-23 to 2026-27)")
        lines.append(f"   implemented by cslake:          {len(x['implemented'])}")
        lines.append(f"   not implementable on a region:  {len(x['not_implementable'])}")
        groups: dict[str, list[str]] = {}
        reasons = {}
        for code, v in x["not_implementable"].items():
            groups.setdefault(v["group"], []).append(code)
            reasons[v["group"]] = v["reason"]
        for g, cs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"     {len(cs):3d}  {g}: {reasons[g]}")
            lines.append(f"          {' '.join(sorted(cs, key=_key))}")
        lines.append(f"   implementable, not done:       {len(x['todo'])}")
        if x["todo"]:
            lines.append(f"          {' '.join(sorted(x['todo'], key=_key))}")
        for k in ("unknown_implemented", "stale_not_checked"):
            if x[k]:
                lines.append(f"   !! {k}: {' '.join(x[k])}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="also write the coverage as JSON")
    a = ap.parse_args(argv)
    cov = coverage()
    print(report(cov))
    if a.json:
        a.json.write_text(json.dumps(cov, indent=1, sort_keys=True))
    stale = any(cov[c]["unknown_implemented"] or cov[c]["stale_not_checked"] for c in COLLECTIONS)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
