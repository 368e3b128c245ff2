"""Where configuration lives and how it is read.

Everything that varies by region, collection or year is data under ``conf/``.
The conf directory is found, in order: ``$CSLAKE_CONF``; the installed package's
own copy (package data, through ``importlib.resources``) or else the checkout's
``conf/`` (clone, editable install): see :mod:`cslake.resources`; ``./conf``.
"""

from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ConfigError(RuntimeError):
    """A configuration file is missing or says something impossible."""


@functools.lru_cache(maxsize=1)
def conf_dir() -> Path:
    from cslake.resources import data_dir

    env = os.environ.get("CSLAKE_CONF")
    candidates = [Path(env)] if env else []
    shipped = data_dir("conf")
    candidates += ([shipped] if shipped else []) + [Path.cwd() / "conf"]
    for c in candidates:
        if (c / "regions.yaml").is_file():
            return c
    raise ConfigError(
        "cannot find cslake's conf/ directory (looked in: "
        + ", ".join(str(c) for c in candidates)
        + "); set CSLAKE_CONF"
    )


@functools.lru_cache(maxsize=None)
def load_yaml(relpath: str) -> Any:
    """Parse ``conf/<relpath>``; cached, so treat the result as read-only."""
    path = conf_dir() / relpath
    if not path.is_file():
        raise ConfigError(f"missing configuration file {path}")
    with path.open(encoding="utf-8") as fh:
        # libyaml's safe loader where PyYAML was built with it (8x faster on conf/, the same
        # objects: tests/test_config_yaml.py), the pure-Python one otherwise.
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@dataclass(frozen=True)
class LocalAuthority:
    dfe_code: str  # 3 digits, e.g. "202"
    name: str
    gss_code: str  # ONS code, e.g. "E09000007"
    region: str  # ONS region name, e.g. "London"
    riia: str  # alliance, e.g. "LIIA"


@functools.lru_cache(maxsize=1)
def local_authorities() -> dict[str, LocalAuthority]:
    """Every LA cslake knows, by 3-digit DfE code."""
    path = conf_dir() / "la_codes.csv"
    out: dict[str, LocalAuthority] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            la = LocalAuthority(
                dfe_code=row["dfe_code"].strip(),
                name=row["la_name"].strip(),
                gss_code=row["gss_code"].strip(),
                region=row["region"].strip(),
                riia=row["riia"].strip(),
            )
            out[la.dfe_code] = la
    return out


@dataclass(frozen=True)
class Region:
    key: str  # e.g. "london"
    name: str
    alliance: str  # e.g. "LIIA"; "" for a group of LAs that is no alliance (england)
    rri_reference: str
    las: tuple[LocalAuthority, ...]

    @property
    def la_codes(self) -> list[str]:
        return [la.dfe_code for la in self.las]


def regions() -> dict[str, Region]:
    """The alliances of conf/regions.yaml (``regions:``), each the LAs whose ``riia`` names it: the
    regions gold gives rows of their own."""
    raw = load_yaml("regions.yaml")["regions"]
    las = local_authorities().values()
    out = {}
    for key, spec in raw.items():
        members = tuple(sorted((la for la in las if la.riia == spec["riia"]), key=lambda x: x.dfe_code))
        if not members:
            raise ConfigError(f"region {key!r}: no LA in la_codes.csv has riia={spec['riia']!r}")
        out[key] = Region(key, spec["name"], spec["alliance"], spec.get("rri_reference", "W"), members)
    return out


# la_codes.csv's columns as LocalAuthority's fields, for a group's `where`.
_LA_FIELDS = {"dfe_code": "dfe_code", "la_name": "name", "gss_code": "gss_code", "region": "region", "riia": "riia"}


def groups() -> dict[str, Region]:
    """The groups of LAs of conf/regions.yaml that are not alliances (``groups:``, e.g. england):
    regions the generator and the benches can use; no alliance, so gold gives them no rows."""
    raw = load_yaml("regions.yaml").get("groups") or {}
    las = local_authorities().values()
    out = {}
    for key, spec in raw.items():
        where = spec.get("where") or {}
        unknown = set(where) - set(_LA_FIELDS)
        if unknown:
            raise ConfigError(f"group {key!r}: la_codes.csv has no column {', '.join(sorted(unknown))}")
        matches = (la for la in las if all(getattr(la, _LA_FIELDS[c]) == str(v) for c, v in where.items()))
        members = tuple(sorted(matches, key=lambda x: x.dfe_code))
        if not members:
            raise ConfigError(f"group {key!r}: no LA in la_codes.csv matches {where!r}")
        out[key] = Region(key, spec["name"], "", spec.get("rri_reference", "W"), members)
    return out


def region(key: str) -> Region:
    """An alliance or a group of conf/regions.yaml by key (``East Midlands`` finds east_midlands)."""
    alliances, other = regions(), groups()
    clash = set(alliances) & set(other)
    if clash:
        raise ConfigError(f"conf/regions.yaml: {', '.join(sorted(clash))} is both an alliance and a group")
    all_regions = {**alliances, **other}
    norm = key.strip().lower().replace(" ", "_").replace("-", "_")
    if norm not in all_regions:
        raise ConfigError(f"unknown region {key!r}; known: {', '.join(sorted(all_regions))}")
    return all_regions[norm]


def la_of(code: str | int) -> LocalAuthority:
    """Look up an LA by DfE code, tolerating ``'202.0'`` and ``202``."""
    text = str(code).strip()
    if text.endswith(".0"):
        text = text[:-2]
    text = text.zfill(3)
    try:
        return local_authorities()[text]
    except KeyError:
        raise ConfigError(f"unknown LA code {code!r}") from None


def parse_years(spec: str) -> list[int]:
    """``'2021-2025'`` → [2021..2025]; ``'2023'`` → [2023]; ``'2021,2023'`` → [2021, 2023].

    A year N means the collection year ending 31 March N (2022-23 is 2023).
    """
    years: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = (int(x) for x in part.split("-", 1))
            if b < a:
                raise ConfigError(f"year range {part!r} runs backwards")
            years.extend(range(a, b + 1))
        else:
            years.append(int(part))
    if not years:
        raise ConfigError(f"no years in {spec!r}")
    return sorted(set(years))
