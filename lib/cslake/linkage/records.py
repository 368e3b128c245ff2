"""Silver rows → linkage records: one row per child as one return holds them.

A record is (collection, table, la, year, record_key). Its linkage attributes are
normalised here so rules compare like with like: sex codes from every year and
collection to M/F, extended ethnicity codes to the main code. A date of birth comes
twice: ``dob_hash``, silver's keyed hash of the exact date (one hash domain for every
collection, so equal dates give equal hashes) which rule 5 and the conflict check
compare, and ``dob_month`` (silver's first-of-the-month value) for the person's
attributes, age bands and reports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import functions as F

from cslake import catalog
from cslake.config import load_yaml
from cslake.lake import Lake

log = logging.getLogger(__name__)

RECORD_ID = ["collection", "table", "la", "year", "record_key"]
ATTRIBUTES = ["upn", "former_upn", "la_child_id", "uln", "dob_month", "dob_hash", "sex", "ethnicity",
              "postcode_sector"]


def linkage_conf() -> dict[str, Any]:
    return load_yaml("linkage.yaml") or {}


@dataclass(frozen=True)
class Source:
    collection: str
    table: str
    record_key: str | None = None
    la_child_id: str | None = None
    upn: str | None = None
    former_upn: str | None = None
    uln: str | None = None
    dob: str | None = None
    dob_hash: str | None = None
    sex: tuple[str, ...] = ()
    ethnicity: str | None = None
    postcode_sector: str | None = None
    truth_key: str = "row"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def silver(self) -> str:
        return catalog.silver_name(self.collection, self.table)

    @classmethod
    def from_dict(cls, raw: dict) -> "Source":
        sex = raw.get("sex") or ()
        sex = (sex,) if isinstance(sex, str) else tuple(sex)
        known = {f for f in cls.__dataclass_fields__ if f not in ("extra", "sex")}
        return cls(sex=sex, **{k: v for k, v in raw.items() if k in known},
                   extra={k: v for k, v in raw.items() if k not in known and k != "sex"})


def sources(conf: dict | None = None) -> list[Source]:
    conf = conf if conf is not None else linkage_conf()
    return [Source.from_dict(s) for s in conf.get("sources") or []]


def ethnicity_main_map(conf: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for main, subs in (conf.get("ethnicity_main") or {}).items():
        out[main] = main
        for s in subs or []:
            out[s] = main
    for code in _main_codes():
        out.setdefault(code, code)
    return out


def _main_codes() -> list[str]:
    codesets = load_yaml("collections/_codesets.yaml") or {}
    sets = codesets.get("codesets", codesets)
    return list((sets.get("ethnicity") or {}).get("codes") or [])


def _map_column(col, mapping: dict[str, str]):
    if not mapping:
        return F.lit(None).cast("string")
    m = F.create_map(*[x for k, v in sorted(mapping.items()) for x in (F.lit(k), F.lit(v))])
    return F.element_at(m, col)


def row_key(df_prefix: str = ""):
    """The key of a record that has no id of its own: its row (file + row number)."""
    return F.concat(F.lit("row:"), F.col(f"{df_prefix}_file_sha256"), F.lit(":"), F.col(f"{df_prefix}_row").cast("string"))


def source_rows(df, src: Source, conf: dict):
    """Silver rows of one source with the linkage attributes, one row per silver row."""
    cols = set(df.columns)

    def clean(c):
        c = F.upper(F.trim(c))
        return F.when(c != "", c)

    def pick(name: str | None, typ: str = "string"):
        # Silver's column comments travel as field metadata, and Sail rejects plans
        # that union or aggregate columns whose metadata differ: drop it here.
        if name and name in cols:
            c = F.col(f"`{name}`").cast(typ)
            return F.when(c.isNotNull(), c)
        return F.lit(None).cast(typ)

    sex_raw = F.coalesce(*[clean(pick(s)) for s in src.sex]) if src.sex else F.lit(None).cast("string")
    record_key = pick(src.record_key) if src.record_key else F.lit(None).cast("string")
    return df.select(
        F.lit(src.collection).alias("collection"),
        F.lit(src.table).alias("table"),
        F.col("_la").cast("string").alias("la"),
        F.col("_year").cast("int").alias("year"),
        F.coalesce(record_key, row_key()).alias("record_key"),
        pick(src.upn).alias("upn"),
        pick(src.former_upn).alias("former_upn"),
        pick(src.la_child_id).alias("la_child_id"),
        pick(src.uln).alias("uln"),
        F.trunc(pick(src.dob, "date"), "month").alias("dob_month"),
        pick(src.dob_hash).alias("dob_hash"),
        _map_column(sex_raw, {str(k).upper(): v for k, v in (conf.get("sex_codes") or {}).items()}).alias("sex"),
        _map_column(clean(pick(src.ethnicity)), ethnicity_main_map(conf)).alias("ethnicity"),
        clean(pick(src.postcode_sector)).alias("postcode_sector"),
        F.col("_file_sha256"),
        F.col("_row").cast("bigint").alias("_row"),
    )


def extract_records(lake: Lake, conf: dict | None = None, units: dict[str, list[str] | None] | None = None):
    """Every configured source present in the lake, as records (one row per record).

    Returns (records DataFrame, list of silver tables used). A record's attributes
    come from its rows deterministically (max of each; a record is normally one
    row, or several rows of one child in one return that agree). ``units`` (silver
    table -> its LAs, None for all) reads only those tables' rows of those LAs: a
    record is one return's rows, so it lies wholly inside or outside an LA.
    """
    conf = conf if conf is not None else linkage_conf()
    parts, used = [], []
    for src in sources(conf):
        if units is not None and src.silver not in units:
            continue
        if not lake.exists(src.silver):
            log.info("linkage: %s not in the lake, skipped", src.silver)
            continue
        used.append(src.silver)
        df = lake.read_table(src.silver)
        las = units.get(src.silver) if units is not None else None
        if las is not None:
            df = df.filter(F.col("_la").isin(las))
        if src.dob_hash and src.dob_hash not in df.columns:
            log.warning("linkage: %s has no %s (silver built before dates of birth were hashed: rebuild "
                        "silver); its records take no part in demographic agreement", src.silver, src.dob_hash)
        parts.append(source_rows(df, src, conf))
    if not parts:
        return None, used
    rows = parts[0]
    for p in parts[1:]:
        rows = rows.unionByName(p)
    return aggregate_records(rows), used


def aggregate_records(rows):
    """Rows → records (pure: used on both engines in tests)."""
    aggs = [F.max(a).alias(a) for a in ATTRIBUTES]
    # Two UPNs on one record (one child id, two UPNs in a return) is evidence of a
    # change of UPN: both join the record to their UPN's people.
    aggs += [F.min("upn").alias("upn_other"), F.min("_file_sha256").alias("_file_sha256"),
             F.min("_row").alias("_row"), F.count(F.lit(1)).alias("n_rows")]
    rec = rows.groupBy(*RECORD_ID).agg(*aggs)
    rec = rec.withColumn("upn_other", F.when(F.col("upn_other") != F.col("upn"), F.col("upn_other")))
    # Node id: the year first, so a component's smallest id is its earliest record,
    # and a person's representative moves only when earlier data arrives.
    ident = F.concat_ws("|", *[F.coalesce(F.col(c).cast("string"), F.lit("")) for c in RECORD_ID])
    return rec.withColumn("rec_id", F.concat(F.lpad(F.coalesce(F.col("year"), F.lit(0)).cast("string"), 4, "0"),
                                             F.lit(":"), F.sha2(ident, 256)))
