"""The data register (RIIA memoranda, section 6.4): every dataset the lake records, links and shares.

    report = publish_register(out_dir)      # register.csv + register.html; no lake needed

One row per lake table (bronze, quarantine, silver, gold_restricted, gold): its source return,
fields, identifier treatment (hashed, cut to the month, degraded postcode, dropped), linkage use,
the gold tables it reaches, which of the four ways of sharing it reaches, disclosure control,
retention, purpose and lawful basis. Everything but purpose, lawful basis and retention
(``conf/register.yaml``) is read from what the code runs on: the catalog (``conf/tables`` and the
collection schemas), ``cslake.catalog.identifier_treatment``, ``conf/linkage.yaml``'s sources,
``conf/gold.yaml``'s disclosure specs, and the gold builders' own source (the silver tables each
``cslake.gold`` module names through the catalog). A silver or gold table without a purpose stops
the register (``RegisterError``), so a table cannot be added without an entry.
"""

from __future__ import annotations

import csv
import html
import importlib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

from cslake import catalog
from cslake.config import ConfigError, load_yaml
from cslake.gold.conf import gold_conf
from cslake.tables import TableSpec

__all__ = ["COLUMNS", "RegisterError", "RegisterReport", "gold_reach", "publish_register", "register_rows"]

COLUMNS = ["dataset", "layer", "description", "source_return", "fields", "identifiers", "linkage_use",
           "gold_tables", "sharing", "disclosure_control", "retention", "purpose", "lawful_basis"]
LAYERS = ("bronze", "quarantine", "silver", "gold_restricted", "gold")
TREATMENT = {"hash": "keyed hash (HMAC-SHA256), raw value dropped", "drop": "dropped",
             "month": "cut to the month", "month_hash": "cut to the month, exact date only as a keyed hash",
             "postcode": "degraded to sector, district, LSOA and ward"}
RESEARCH_SOURCES = ("person_spine", "person")


class RegisterError(ConfigError):
    """A table the register cannot describe (no purpose in conf/register.yaml)."""


@dataclass
class RegisterReport:
    out_dir: Path
    rows: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return f"register: {self.rows} datasets in {', '.join(str(p) for p in self.files)}"


def _conf() -> dict:
    return load_yaml("register.yaml") or {}


def gold_reach() -> dict[str, list[str]]:
    """silver table name → the gold tables whose builder module names it (``catalog.silver.<table>``)."""
    reach: dict[str, list[str]] = {}
    for table in gold_conf()["tables"]:
        module = _builder_module(table)
        if module is None:
            continue
        for name in sorted(set(re.findall(r"catalog\.silver\.(\w+)", inspect.getsource(module)))):
            reach.setdefault(getattr(catalog.silver, name), []).append(table)
    return reach


def _builder_module(table: str):
    """The cslake.gold module defining ``build_<table>`` (every gold builder is named so)."""
    build = importlib.import_module("cslake.gold.build")
    fn = getattr(build, f"build_{table}", None) or _find_builder(table)
    return inspect.getmodule(fn) if fn is not None else None


def _find_builder(table: str):
    import pkgutil

    import cslake.gold as gold_pkg

    for info in pkgutil.iter_modules(gold_pkg.__path__):
        mod = importlib.import_module(f"cslake.gold.{info.name}")
        if hasattr(mod, f"build_{table}"):
            return getattr(mod, f"build_{table}")
    return None


def _linkage_use() -> dict[str, str]:
    out = {}
    for src in (load_yaml("linkage.yaml") or {}).get("sources") or []:
        name = catalog.silver_name(src["collection"], src["table"])
        fields = [f"{k}={v}" for k, v in src.items() if k not in ("collection", "table", "truth_key")]
        out[name] = "; ".join(f if isinstance(f, str) else str(f) for f in fields)
    return out


def _collection(spec: TableSpec) -> str | None:
    origin = spec.origin or ""
    return origin.split("/")[-1] if origin.startswith("conf/collections/") else None


def _identifiers(spec: TableSpec, collection: str | None, layer: str) -> str:
    if collection is None:
        hashed = [c.name for c in spec.columns if c.name.endswith("_hash")]
        return ("pseudonymous keys only: " + ", ".join(hashed)) if hashed else "no identifiers"
    history = _history(collection, spec.name)
    treated = [(name, catalog.identifier_treatment(c)) for name, c in history.items() if c.identifier]
    if layer in ("bronze", "quarantine"):
        return ("as received (raw identifiers; never shared): " + ", ".join(n for n, _ in treated)) if treated \
            else "as received"
    return "; ".join(f"{n}: {TREATMENT.get(t or '', t)}" for n, t in treated) or "no identifiers"


def _history(collection: str, name: str) -> dict:
    """The column history of the collection table behind a bronze, quarantine or silver table name."""
    for t in catalog.collection_tables(collection):
        if name in (catalog.silver_name(collection, t), catalog.bronze_name(collection, t)):
            return catalog.column_history(collection, t)
    return {}


def _disclosure(short: str, layer: str) -> str:
    if layer != "gold":
        return "unsuppressed: never published" if layer != "gold_restricted" else \
            "unsuppressed (restricted: each LA sees its own rows only)"
    spec = (gold_conf()["tables"].get(short) or {}).get("suppression")
    if not spec:
        return "no counts of children (published as is)"
    kinds = sorted({m["kind"] for m in spec.get("measures", {}).values()})
    rounded = ", ".join(f"{k} {v}" for k, v in (spec.get("rounded_rows") or {}).items())
    return (f"DfE disclosure control (shared/specs/indicators.md) on {', '.join(kinds)}: counts 0-5 and denominators "
            f"1-5 shown x, percentages x on denominators 1-10; secondary suppression over "
            f"{len(spec.get('additive') or [])} additive relation(s)" + (f"; rows {rounded} rounded to 10" if rounded
                                                                        else ""))


def _sharing(name: str, layer: str, reach: list[str], ways: dict) -> str:
    short = name.split(".", 1)[1]
    picked = []
    if layer == "gold":
        picked = ["1", "2"]
    elif layer == "gold_restricted":
        picked = ["1"]
    elif layer == "silver" and short in RESEARCH_SOURCES:
        picked = ["3"]
    elif layer == "quarantine":
        picked = ["1"]  # error reports back to the LA that sent the file
    if layer == "silver" and reach:
        picked = sorted(set(picked) | {"1", "2"})
    text = "; ".join(f"{w}: {ways.get(w, '')}" for w in picked)
    if layer == "silver" and reach:
        text += " (as aggregates, through the gold tables)"
    return text or "none: held in the lake only"


def _purpose(spec: TableSpec, layer: str, collection: str | None, purposes: dict) -> str:
    short = spec.name.split(".", 1)[1]
    if collection is not None:
        text = (purposes.get("collections") or {}).get(collection)
    else:
        tables = purposes.get("tables") or {}
        text = tables.get(spec.name) or (tables.get(short) if layer.startswith("gold") else None)
    if not text and layer in ("silver", "gold", "gold_restricted"):
        raise RegisterError(f"{spec.name} has no purpose in conf/register.yaml; add it under purposes "
                            f"({'collections' if collection else 'tables'})")
    return text or f"{layer}: kept for completeness and lineage (every file and rejected row, never dropped)"


def register_rows() -> list[dict[str, str]]:
    """Every lake table's register entry, in layer then name order."""
    conf = _conf()
    reach, linkage = gold_reach(), _linkage_use()
    rows = []
    for layer in LAYERS:
        for spec in sorted(catalog.specs_in_layer(layer), key=lambda s: s.name):
            collection = _collection(spec)
            short = spec.name.split(".", 1)[1]
            gold_tables = reach.get(spec.name, []) if layer == "silver" else []
            rows.append({
                "dataset": spec.name, "layer": layer, "description": (spec.description or "").strip(),
                "source_return": collection or ("derived (" + (spec.origin or "cslake") + ")"),
                "fields": ", ".join(c.name for c in spec.columns if not c.name.startswith("_")),
                "identifiers": _identifiers(spec, collection, layer),
                "linkage_use": linkage.get(spec.name, "linkage output" if short in RESEARCH_SOURCES else ""),
                "gold_tables": ", ".join(gold_tables),
                "sharing": _sharing(spec.name, layer, gold_tables, conf.get("sharing") or {}),
                "disclosure_control": _disclosure(short, layer),
                "retention": (conf.get("retention") or {}).get(layer, ""),
                "purpose": _purpose(spec, layer, collection, conf.get("purposes") or {}),
                "lawful_basis": " ".join(str(conf.get("lawful_basis", "")).split()),
            })
    return rows


def _html(rows: list[dict[str, str]], conf: dict) -> str:
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in COLUMNS if c != "lawful_basis")
    body = "".join("<tr>" + "".join(f"<td>{html.escape(r[c])}</td>" for c in COLUMNS if c != "lawful_basis") + "</tr>"
                   for r in rows)
    ways = "".join(f"<li>{html.escape(k)}. {html.escape(v)}</li>" for k, v in (conf.get("sharing") or {}).items())
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Data register</title><style>"
            "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:3px;vertical-align:top}th{background:#eee}</style></head><body>"
            "<h1>Data register</h1><p>Generated by <code>cslake publish register</code> from the catalog and conf/: "
            "what the lake records, links and shares.</p>"
            f"<p><b>Controller:</b> {html.escape(str(conf.get('controller', '')))}</p>"
            f"<p><b>Lawful basis:</b> {html.escape(' '.join(str(conf.get('lawful_basis', '')).split()))}</p>"
            f"<p><b>Ways of sharing:</b></p><ol>{ways}</ol>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>")


def publish_register(out_dir: Path | str) -> RegisterReport:
    """Write ``register.csv`` and ``register.html`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = register_rows()
    report = RegisterReport(out_dir, len(rows))
    path = out_dir / "register.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    page = out_dir / "register.html"
    page.write_text(_html(rows, _conf()), encoding="utf-8")
    report.files += [path, page]
    return report
