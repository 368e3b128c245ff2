"""The pseudonymised research extract: person-level linked tables, k-anonymous on the quasi-identifiers.

    report = publish_research(lake, Path("out/research"), k=5)

Tables (Parquet folders under ``out_dir``): ``person``, ``cin_journey``,
``care_journey``, ``send_journey``, all keyed by ``research_id`` — a keyed hash of
the lake's person_id under a separate domain, so the extract cannot be joined back
to the lake without the key. No direct identifiers (no hashes of UPN or LA ids, no
lineage), postcodes at most to district.

Quasi-identifiers (``conf/linkage.yaml`` research.quasi_identifiers: month of birth,
sex, ethnicity, LA) are published at the first level of the coarsening ladder where
at most ``max_suppressed_share`` of people sit in a group smaller than k; those
people are suppressed (absent from every table). The check is then re-run on the
written person table and reported: ``passes`` is true only if its smallest group is ≥ k.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyspark.sql import functions as F

from cslake import catalog
from cslake.config import local_authorities
from cslake.lake import Lake
from cslake.linkage.build import most_frequent
from cslake.linkage.records import linkage_conf
from cslake.outputs import replace_output_dir
from cslake.pseudo import SEP, check_lake_key, hmac_column, key_status
from cslake.vocab import ethnic_group_col

RESEARCH_DOMAIN = "research_id"
JOURNEYS = {
    "cin_journey": ["event_date", "event", "code", "referral_date", "year"],
    "care_journey": ["episode_no", "DECOM", "DEC", "REC", "repair_rule", "RNE", "LS", "CIN", "PLACE",
                     "PLACE_PROVIDER", "REASON_PLACE_CHANGE", "HOME_POST_district", "PL_POST_district", "URN", "year"],
    "send_journey": ["event_date", "event", "code", "request_date", "year"],
}
# Postcode districts sit inside an LA: published only when the area is the LA.
DISTRICT_COLUMNS = {"HOME_POST_district", "PL_POST_district"}


def _research_id(col):
    return hmac_column(F.concat(F.lit(RESEARCH_DOMAIN + SEP), col))


def _region_map():
    las = local_authorities()
    return F.create_map(*[x for code, la in sorted(las.items()) for x in (F.lit(code), F.lit(la.region))])


def area_column(la_col, level: str):
    if level == "la":
        return la_col
    return F.coalesce(F.element_at(_region_map(), la_col), F.lit("unknown"))


def qi_columns(level: dict[str, str]):
    """(dob, sex, ethnicity, area) at one ladder level, from the person's base columns."""
    dob = F.date_format("dob_month", "yyyy-MM" if level.get("dob", "month") == "month" else "yyyy")
    eth = F.col("ethnicity")
    if level.get("ethnicity", "code") == "group":
        # DfE's major group (cslake.vocab, as gold and the models) by its initial; U: recorded, not known
        group = ethnic_group_col(eth)
        eth = F.when(group.isNotNull(), F.substring(group, 1, 1)).when(eth.isNotNull(), F.lit("U"))
    return {"dob": dob, "sex": F.col("sex"), "ethnicity": eth, "area": area_column(F.col("la"), level.get("area", "la"))}


QI_NAMES = {"dob_month": "dob", "sex": "sex", "ethnicity": "ethnicity", "la": "area"}


def group_sizes(df, qi: list[str]):
    """Each row with the size of its quasi-identifier group (nulls form their own group)."""
    keyed = df.withColumn("_qi", F.to_json(F.struct(*[F.col(c) for c in qi])))
    sizes = keyed.groupBy("_qi").agg(F.count(F.lit(1)).alias("_group"))
    return keyed.join(sizes, "_qi").drop("_qi")


def k_check(df, qi: list[str], k: int) -> dict[str, Any]:
    g = group_sizes(df, qi)
    r = g.agg(F.min("_group").alias("smallest"), F.count(F.lit(1)).alias("n"),
              F.sum(F.when(F.col("_group") < k, 1).otherwise(0)).alias("small")).collect()[0]
    return {"people": int(r["n"] or 0), "smallest_group": None if r["smallest"] is None else int(r["smallest"]),
            "people_in_groups_below_k": int(r["small"] or 0)}


def research_settings(k: int | None = None) -> dict[str, Any]:
    """k, the coarsening ladder, the largest share suppressed and the quasi-identifiers (conf/linkage.yaml)."""
    conf = (linkage_conf().get("research") or {})
    qi_conf = conf.get("quasi_identifiers") or ["dob_month", "sex", "ethnicity", "la"]
    return {"k": int(k if k is not None else conf.get("k", 5)),
            "ladder": conf.get("ladder") or [{"dob": "month", "ethnicity": "code", "area": "la"}],
            "max_share": float(conf.get("max_suppressed_share", 0.05)),
            "qi": [QI_NAMES[q] for q in qi_conf]}


def research_people(spine, person):
    """One row per person with their home LA (the LA most of their records are in) and base columns."""
    home_la = most_frequent(spine.filter(F.col("la").isNotNull()), "person_id", "la", "la")
    return (person.join(home_la, "person_id", "left")
            .select("person_id", "dob_month", "sex", "ethnicity", "la", "first_seen_year", "last_seen_year",
                    "collections", F.size("las").alias("n_las"), "records"))


def choose_level(person, ladder: list[dict], qi: list[str], k: int, max_share: float) -> tuple[list[dict], int]:
    """The k-check at every ladder level, and the first level suppressing at most ``max_share`` of
    people (else the last level)."""
    levels, chosen = [], None
    for i, level in enumerate(ladder):
        cols = qi_columns(level)
        stats = k_check(person.select(*[cols[c].alias(c) for c in qi]), qi, k)
        stats.update({"level": i, **level})
        levels.append(stats)
        if chosen is None and stats["people"] and stats["people_in_groups_below_k"] <= max_share * stats["people"]:
            chosen = i
    return levels, len(ladder) - 1 if chosen is None else chosen


def k_anonymous(person, level: dict, qi: list[str], k: int):
    """People at ``level``'s coarsening, those in groups smaller than k left out, with their research_id."""
    cols = qi_columns(level)
    coarse = person.select("person_id", *[cols[c].alias(c) for c in ("dob", "sex", "ethnicity", "area")],
                           "first_seen_year", "last_seen_year", "collections", "n_las", "records")
    sized = group_sizes(coarse, qi)
    return sized.filter(F.col("_group") >= k).drop("_group").withColumn("research_id", _research_id(F.col("person_id")))


def write_extract(lake: Lake, kept, level: dict, out: Path) -> dict[str, int]:
    """The person table and each journey of the kept people as Parquet folders in ``out`` (a fresh
    folder: see :func:`publish_research`); rows written per table."""
    spark = lake.spark
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, int] = {}
    person_out = kept.drop("person_id").select("research_id", *[c for c in kept.columns if c not in ("person_id", "research_id")])
    person_out.write.mode("overwrite").parquet(str(out / "person"))
    tables["person"] = spark.read.parquet(str(out / "person")).count()
    ids = kept.select("person_id", "research_id")
    for name, wanted in JOURNEYS.items():
        if not lake.exists(f"silver.{name}"):
            continue
        j = lake.read_table(f"silver.{name}")
        keep = [c for c in wanted if c in j.columns and not (c in DISTRICT_COLUMNS and level.get("area") != "la")]
        jo = j.join(ids, "person_id").select("research_id", area_column(F.col("la"), level.get("area", "la")).alias("area"),
                                            *keep)
        jo.write.mode("overwrite").parquet(str(out / name))
        tables[name] = spark.read.parquet(str(out / name)).count()
    return tables


def publish_research(lake: Lake, out_dir: Path | str, k: int | None = None) -> dict[str, Any]:
    """Write the research extract to ``out_dir``; returns the disclosure report.

    The extract is built in a fresh folder beside ``out_dir`` and swapped in when complete
    (``cslake.outputs.replace_output_dir``): ``out_dir`` may not be the lake, inside it or hold it,
    and an existing ``out_dir`` is replaced only if cslake created it (its marker file)."""
    key_status()
    check_lake_key(lake.root, record=False)  # ids under another key would not match the lake's own
    return replace_output_dir(out_dir, lambda fresh: build_extract(lake, fresh, k, final=Path(out_dir)),
                              lake_root=lake.root, command="cslake publish research")


def build_extract(lake: Lake, out: Path, k: int | None, final: Path) -> dict[str, Any]:
    """The extract written to ``out`` (its ``k_anonymity.json`` naming ``final``, where it will live)."""
    st = research_settings(k)
    k, ladder, qi = st["k"], st["ladder"], st["qi"]
    person = research_people(lake.read_table(catalog.silver.person_spine), lake.read_table(catalog.silver.person))
    levels, chosen = choose_level(person, ladder, qi, k, st["max_share"])
    level = ladder[chosen]
    tables = write_extract(lake, k_anonymous(person, level, qi, k), level, out)
    after = k_check(lake.spark.read.parquet(str(out / "person")).select(*qi), qi, k)
    total = levels[0]["people"] if levels else 0
    report = {
        "k": k, "quasi_identifiers": qi, "level": {"index": chosen, **level},
        "ladder": levels, "people": total, "published": tables.get("person", 0),
        "suppressed": total - tables.get("person", 0),
        "smallest_group_before": levels[0]["smallest_group"] if levels else None,
        "smallest_group": after["smallest_group"],
        "passes": after["people"] == 0 or (after["smallest_group"] is not None and after["smallest_group"] >= k),
        "tables": tables, "out_dir": str(final),
    }
    (out / "k_anonymity.json").write_text(json.dumps(report, indent=2, default=str))
    return report
