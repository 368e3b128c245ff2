"""The linkage job: silver records → person spine, persons, conflicts, journeys.

    report = build_linkage(lake)
    print(report.summary())

1. Records (cslake.linkage.records): one row per child per return, from the
   sources in ``conf/linkage.yaml``.
2. Deterministic keys, in priority order: UPN, former UPN → UPN, LA child id (the
   hash already carries the LA), ULN. A key held by two or more records links
   them; components over record–key edges (cslake.linkage.components).
3. Records whose component has no usable UPN: exact agreement on LA + date of
   birth (silver's keyed hash of the exact date, ``dob_hash``) + sex + ethnicity
   (+ postcode sector) with exactly the evidence being unique — at most one
   UPN-bearing component and at most one component per return (collection, LA,
   year) share the signature. A merge that would still join two UPN-bearing
   components, two components from one return, or two components holding
   different LA child ids of one LA, is not made.
4. person_id = keyed hash (cslake.pseudo, the lake's key) of the component's
   smallest record id: the same inputs and key give the same ids; another key
   gives different ones.
5. Conflicts (one UPN or one LA child id with two dates of birth — exact dates
   compared by their hashes, months where a record has no hash — or two sexes)
   are linked on the identifier and written to ``silver.linkage_conflicts``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Window
from pyspark.sql import functions as F

from cslake import catalog
from cslake.catalog import table_spec
from cslake.lake import Lake, new_run_id
from cslake.linkage import incremental
from cslake.linkage import journeys as journeys_mod
from cslake.linkage.components import Stage, connected_components
from cslake.linkage.keys import complete, key_edges, signature
from cslake.linkage.records import extract_records, linkage_conf, sources
from cslake.pseudo import SEP, hmac_column, key_status
from cslake.unfinished import writing_group

log = logging.getLogger(__name__)

PERSON_DOMAIN = "person_id"
@dataclass
class LinkageReport:
    run_id: str
    records: int = 0
    persons: int = 0
    records_by_rule: dict[str, int] = field(default_factory=dict)
    rounds: dict[str, int] = field(default_factory=dict)
    demographic_merges: int = 0
    demographic_rejected: int = 0
    conflicts: dict[str, int] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    seconds: float = 0.0
    mode: str = "full"  # full, incremental or unchanged (cslake.linkage.incremental)
    reason: str = ""
    units: dict[str, list[str] | None] = field(default_factory=dict)  # silver table -> LAs that changed
    affected: int | None = None  # records linked again (incremental); merges above count these only

    def summary(self) -> str:
        if self.mode == "unchanged":
            return f"run {self.run_id}: unchanged ({self.reason}); nothing written in {self.seconds:.1f}s"
        rules = ", ".join(f"{k} {v}" for k, v in sorted(self.records_by_rule.items())) or "none"
        conf = ", ".join(f"{k} {v}" for k, v in sorted(self.conflicts.items())) or "none"
        how = (f"full build ({self.reason})" if self.mode == "full"
               else f"incremental: {self.affected} records linked again")
        return (f"run {self.run_id}, {how}: {self.records} records from {len(self.sources)} silver tables -> "
                f"{self.persons} persons in {self.seconds:.1f}s; records by rule: {rules}; "
                f"demographic merges {self.demographic_merges} (rejected as ambiguous {self.demographic_rejected}); "
                f"conflicts: {conf}; rounds {self.rounds}")

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def rule_table(conf: dict) -> dict[str, dict]:
    return {r["rule"]: r for r in conf.get("rules") or []}


def person_id_column(label_col):
    """Keyed hash of a component's representative (HMAC-SHA256 hex, the lake's key)."""
    return hmac_column(F.concat(F.lit(PERSON_DOMAIN + SEP), label_col))


def linking_edges(edges):
    """Only keys held by two or more records link anything (pure)."""
    shared = edges.groupBy("key").agg(F.countDistinct("member").alias("_n")).filter(F.col("_n") >= 2).select("key")
    return edges.join(shared, "key")


def demographic_edges(records, passes: list[list[str]]):
    """(member = phase-1 label, key = signature) for signatures whose agreement is unique (pure).

    ``records`` has label1 and comp_has_upn. A signature links when it is shared by
    two or more components, at most one of which carries a UPN, and no return
    (collection, LA, year) holds two of them: two children in one return are two
    children, so such a signature is ambiguous.
    """
    out = None
    for i, fields in enumerate(passes, start=1):
        # De-duplicated first and then counted: countDistinct over ~3M records per pass
        # took Sail from 3 GB to over 19 GB at London scale 1 (OOM); plain counts of
        # distinct rows do not.
        rows = (records.filter(complete(fields))
                .select(F.col("label1").alias("member"), signature(i, fields).alias("key"), "comp_has_upn", "collection", "la", "year")
                .dropDuplicates(["key", "member", "collection", "la", "year"]))
        per_source = (rows.groupBy("key", "collection", "la", "year").agg(F.count(F.lit(1)).alias("_c"))
                      .groupBy("key").agg(F.max("_c").alias("max_per_return")))
        # comp_has_upn is a property of the component (member), so one row per (key, member).
        per_key = (rows.select("key", "member", "comp_has_upn").dropDuplicates(["key", "member"])
                   .groupBy("key").agg(F.count(F.lit(1)).alias("comps"),
                                       F.sum(F.col("comp_has_upn").cast("int")).alias("upn_comps")))
        ok = (per_key.join(per_source, "key")
              .filter((F.col("comps") >= 2) & (F.col("upn_comps") <= 1) & (F.col("max_per_return") == 1))
              .select("key"))
        part = rows.select("member", "key").join(ok, "key").dropDuplicates(["member", "key"])
        out = part if out is None else out.unionByName(part)
    return out


def build_linkage(lake: Lake, run_id: str | None = None, full: bool = False) -> LinkageReport:
    """Link silver records to persons; write the records, spine, persons, conflicts, journeys.

    Incremental (cslake.linkage.incremental) unless ``full`` or the lake's state says every
    record must be linked again; nothing is written when no source changed."""
    key_status()
    t0 = time.perf_counter()
    run_id = run_id or new_run_id()
    report = LinkageReport(run_id=run_id)
    conf = linkage_conf()
    plan = incremental.plan(lake, conf, full=full)
    report.mode, report.reason, report.units = plan.mode, plan.reason, plan.units
    log.info("linkage: %s build (%s)", plan.mode, plan.reason)
    if plan.mode != "unchanged":
        stage = Stage(lake.spark, lake.staging_dir("silver", f"linkage-{run_id}"))
        try:
            out = (_link_all if plan.mode == "full" else _relink)(lake, conf, plan, stage, report, t0)
            if out is not None:
                with writing_group(lake.root, "linkage", run_id):  # every linkage table and its state: one group
                    _write_outputs(lake, out, report)
                    incremental.write_linkage_state(lake, plan, run_id)
                log.info("linkage: tables written (%.1f s)", time.perf_counter() - t0)
                _count_outputs(lake, report)
        finally:
            stage.close()
    report.seconds = time.perf_counter() - t0
    log.info("linkage: %s", report.summary())
    return report


@dataclass
class LinkageOutputs:
    """What a build writes, each frame staged (Parquet scratch), so a table can be overwritten
    from a frame that was computed from it."""
    records: Any  # silver.linkage_records' columns (the spine is its projection)
    conflicts: Any
    persons: Any
    journeys: dict[str, Any]


def _link_all(lake: Lake, conf: dict, plan, stage: Stage, report: LinkageReport, t0: float) -> LinkageOutputs | None:
    """Every record linked (the full build)."""
    records, used = extract_records(lake, conf)
    report.sources = used
    if records is None:
        log.info("linkage: no silver sources in %s", lake.root)
        return None
    records = stage.put(records, "records")
    log.info("linkage: %d records from %d sources (%.1f s)", records.count(), len(used), time.perf_counter() - t0)
    linked = stage.put(_link(records, conf, stage, report, t0), "linked")
    log.info("linkage: linked, %d demographic merges (%.1f s)", report.demographic_merges, time.perf_counter() - t0)
    conflicts = stage.put(_conflict_rows(find_conflicts(linked, report.run_id)), "conflicts")
    persons = stage.put(_person_rows(person_table(with_valid_upn(linked), conflicts)), "persons")
    journeys = {name: stage.put(_journey_rows(name, df), name)
                for name, df in journeys_mod.journey_frames(_reader(lake), linked).items()}
    return LinkageOutputs(_record_rows(linked), conflicts, persons, journeys)


@dataclass
class Relink:
    """What an incremental build decided, each frame staged."""
    old: Any  # silver.linkage_records as the last build left it
    current: Any  # every record silver has now
    unit: Any  # condition: the record lies in a changed (table, LA)
    affected: Any  # rec_id of every record linked again (and of every record gone)
    linked: Any | None  # the affected records that are still there, linked; None when there are none


def _relink(lake: Lake, conf: dict, plan, stage: Stage, report: LinkageReport, t0: float) -> LinkageOutputs:
    """Only the records the changed units reach linked again; every other row kept as it was."""
    r = _affected(lake, conf, plan, stage, report, t0)
    # Not staged: written once, from the table it replaces (Delta reads the version it started from).
    records = incremental.within(r.old, r.affected, "left_anti").select(*table_spec(catalog.silver.linkage_records).column_names)
    records = records.unionByName(_record_rows(r.linked)) if r.linked is not None else records
    old_hit = stage.put(incremental.within(r.old, r.affected), "old_affected")  # touched and old_people read it
    touched = old_hit.select(*record_columns()).unionByName(incremental.within(r.current, r.affected))
    conflicts = stage.put(replaced_conflicts(lake.read_table(catalog.silver.linkage_conflicts), touched, r.linked,
                                             report.run_id), "conflicts")
    old_people = old_hit.select("person_id").distinct()
    persons = stage.put(replaced_persons(lake.read_table(catalog.silver.person), old_people, r.linked, conflicts),
                        "persons")
    log.info("linkage: conflicts and persons replaced (%.1f s)", time.perf_counter() - t0)
    # Journeys: of every person with an affected record or a record in a changed unit (whose
    # silver events may have changed with its records unchanged), before and after.
    people = old_people.unionByName(r.old.filter(r.unit).select("person_id")).unionByName(
        records.filter(r.unit).select("person_id"))
    people = stage.put((people.unionByName(r.linked.select("person_id")) if r.linked is not None else people)
                       .distinct(), "journey_persons")
    spine = stage.put(records.join(people, "person_id", "left_semi"), "journey_spine")
    las = sorted(r["la"] for r in spine.select("la").distinct().collect() if r["la"] is not None)
    journeys = {}
    for name, df in journeys_mod.journey_frames(_reader(lake, las), spine).items():
        rows = _journey_rows(name, df)
        if lake.exists(name):
            rows = _journey_rows(name, lake.read_table(name).join(people, "person_id", "left_anti")).unionByName(rows)
        journeys[name] = stage.put(rows, name)
    log.info("linkage: affected records linked, the tables' new content staged (%.1f s)", time.perf_counter() - t0)
    return LinkageOutputs(records, conflicts, persons, journeys)


def _affected(lake: Lake, conf: dict, plan, stage: Stage, report: LinkageReport, t0: float) -> Relink:
    """The changed units read again, the records they reach found (cslake.linkage.incremental), linked."""
    cols = record_columns()
    old = lake.read_table(catalog.silver.linkage_records)
    unit = incremental.in_units(plan.units, conf)
    fresh, _ = extract_records(lake, conf, plan.units)
    report.sources = [s.silver for s in sources(conf) if lake.exists(s.silver)]
    fresh = stage.put(fresh.select(*cols) if fresh is not None else old.select(*cols).limit(0), "fresh")
    current = old.filter(~unit).select(*cols).unionByName(fresh)
    log.info("linkage: the changed units' records read again (%.1f s)", time.perf_counter() - t0)
    seed = incremental.with_rid(incremental.changed_records(old.filter(unit).select(*cols), fresh, cols))
    passes = [list(p) for p in conf.get("demographic_passes") or []]
    # Every record's tokens, old and new: the old table holds the old version of every record, fresh the new.
    links = stage.put(incremental.closure_links(old.select(*cols).unionByName(fresh), old, passes), "links")
    log.info("linkage: every record's keys, signatures and person listed (%.1f s)", time.perf_counter() - t0)
    affected, n, rounds = incremental.affected_records(seed, links, stage, int(conf.get("max_iterations", 40)))
    total = current.count()
    report.rounds["affected"] = rounds
    if n > incremental.RELINK_ALL_SHARE * total:
        log.info("linkage: %d of %d records affected: all linked again", n, total)
        # every record now, and those gone (in ``affected`` already): their old rows go
        affected = incremental.with_rid(current).select("_rid").unionByName(affected).distinct()
        affected, n = stage.put(affected, "affected"), total
    report.affected = n
    log.info("linkage: %d of %d records affected by %s (%.1f s)", n, total, _units_text(plan.units),
             time.perf_counter() - t0)
    linked = (stage.put(_link(incremental.within(current, affected), conf, stage, report, t0), "linked")
              if n else None)
    return Relink(old, current, unit, affected, linked)


def replaced_conflicts(old_conflicts, touched, linked, run_id: str):
    """Conflicts after a relink (pure but for run_id): those of every identifier an affected record
    holds, old or new (``touched``), found again among the linked records; the others kept."""
    ids = (touched.select(F.lit("upn").alias("key_class"), F.col("upn").alias("key_hash"))
           .unionByName(touched.select(F.lit("la_child_id").alias("key_class"), F.col("la_child_id").alias("key_hash")))
           .filter(F.col("key_hash").isNotNull()).distinct())
    kept = _conflict_rows(old_conflicts.join(ids, ["key_class", "key_hash"], "left_anti"))
    return kept.unionByName(_conflict_rows(find_conflicts(linked, run_id))) if linked is not None else kept


def replaced_persons(old_persons, old_people, linked, conflicts):
    """Persons after a relink (pure): the affected records' old persons out, their new ones in."""
    kept = _person_rows(old_persons.join(old_people, "person_id", "left_anti"))
    if linked is None:
        return kept
    return kept.unionByName(_person_rows(person_table(with_valid_upn(linked), conflicts)))


def _units_text(units: dict[str, list[str] | None]) -> str:
    return "; ".join(f"{t} ({'all LAs' if las is None else ', '.join(las)})" for t, las in sorted(units.items()))


def _reader(lake: Lake, las: list[str] | None = None):
    """Silver as the journeys read it; ``las``: only those LAs' rows (a journey's events join its
    person's records on the LA, so the rows of other LAs join nothing)."""
    def read(name: str):
        if not lake.exists(name):
            return None
        df = lake.read_table(name)
        return df if las is None else df.filter(F.col("_la").isin(las))
    return read


def record_columns() -> list[str]:
    """silver.linkage_records' columns that come from silver (the rest is what linkage decided)."""
    return [c for c in table_spec(catalog.silver.linkage_records).column_names
            if c not in ("person_id", "rule", "confidence")]


def with_valid_upn(linked):
    return linked.withColumn("has_valid_upn", F.col("upn").isNotNull())


def _record_rows(linked):
    return linked.select(*table_spec(catalog.silver.linkage_records).column_names)


def _conflict_rows(df):
    return df.select(*table_spec(catalog.silver.linkage_conflicts).column_names)


def _person_rows(df):
    return df.select(*table_spec(catalog.silver.person).column_names)


def _journey_rows(name: str, df):
    return df.select(*table_spec(name).column_names)


def _link(records, conf: dict, stage: Stage, report: LinkageReport, t0: float):
    """Records → spine rows (person_id, rule, confidence): rules 1-4, then rule 5."""
    rules = rule_table(conf)
    priority = {r: int(v.get("priority", 99)) for r, v in rules.items()}
    max_iter = int(conf.get("max_iterations", 40))
    # -- rules 1-4: deterministic keys ----------------------------------------
    edges = stage.put(linking_edges(key_edges(records)), "key_edges")
    labels1, rounds1 = connected_components(edges, stage, max_iter)
    report.rounds["deterministic"] = rounds1
    log.info("linkage: deterministic keys linked in %d rounds (%.1f s)", rounds1, time.perf_counter() - t0)
    rec = stage.put(label_records(records, edges, labels1, priority), "records_labelled")
    # -- rule 5: unique demographic agreement for components without a UPN -----
    final = _link_demographic(rec, [list(p) for p in conf.get("demographic_passes") or []], stage, max_iter, report)
    return spine_rows(mark_demographic(final), rules)


def _link_demographic(rec, passes: list[list[str]], stage: Stage, max_iter: int, report: LinkageReport):
    """Labelled records → with ``label`` (the person's component) and ``demographic``."""
    unmerged = rec.withColumn("label", F.col("label1")).withColumn("demographic", F.lit(False))
    if not passes:
        return unmerged
    d_edges = stage.put(demographic_edges(rec, passes), "demographic_edges")
    if not d_edges.limit(1).count():
        return unmerged
    labels2, rounds2 = connected_components(d_edges, stage, max_iter)
    report.rounds["demographic"] = rounds2
    mapping = stage.put(demographic_mapping(rec, labels2), "demographic_mapping")
    counts = mapping.agg(F.sum(F.col("demographic").cast("int")).alias("m"),
                         F.sum(F.col("_rejected").cast("int")).alias("r")).collect()[0]
    report.demographic_merges = int(counts["m"] or 0)
    report.demographic_rejected = int(counts["r"] or 0)
    return apply_mapping(rec, mapping)


def label_records(records, edges, labels, priority: dict[str, int]):
    """Records with their deterministic component (pure): ``label1`` (the component's
    smallest record id; the record's own id when no key links it), ``rule_priority`` (the
    best rule among its linking keys), ``has_upn`` and ``comp_has_upn`` (some record of
    the component carries a UPN or former UPN)."""
    best_rule = (edges.withColumn("_p", F.element_at(_rule_priority_map(priority), F.col("rule")))
                 .groupBy(F.col("member").alias("rec_id")).agg(F.min("_p").alias("rule_priority")))
    rec = (records.join(labels.withColumnRenamed("member", "rec_id"), "rec_id", "left")
           .withColumn("label1", F.coalesce(F.col("label"), F.col("rec_id"))).drop("label")
           .join(best_rule, "rec_id", "left")
           .withColumn("has_upn", F.col("upn").isNotNull() | F.col("former_upn").isNotNull()))
    comp_upn = rec.groupBy("label1").agg(F.max(F.col("has_upn")).alias("comp_has_upn"))
    return rec.join(comp_upn, "label1")


def demographic_mapping(rec, labels):
    """Phase-1 component → its person after rule 5 (pure): (label1, label, demographic, _rejected).

    ``labels``: the components (member = label1, label) of the demographic edges. A merge
    is kept only if it still joins at most one UPN-bearing component, at most one
    component per return, and no two components holding different LA child ids of one LA;
    otherwise each of its components stays alone (``_rejected``). ``demographic``: the
    component joined another by rule 5 and is not the merge's UPN-bearing host.
    """
    comp = (rec.select("label1", "comp_has_upn", "collection", "la", "year").distinct()
            .join(labels.withColumnRenamed("member", "label1"), "label1", "left")
            .withColumn("label2", F.coalesce(F.col("label"), F.col("label1"))).drop("label"))
    bad = _ambiguous_merges(rec, comp).withColumn("_bad", F.lit(True))
    host = (comp.groupBy("label2").agg(
        F.min(F.when(F.col("comp_has_upn"), F.col("label1"))).alias("_upn_host"),
        F.countDistinct("label1").alias("_members")))
    return (comp.select("label1", "label2").distinct().join(bad, "label2", "left").join(host, "label2")
            .select("label1",
                    F.when(F.col("_bad").isNull(), F.col("label2")).otherwise(F.col("label1")).alias("label"),
                    (F.col("_bad").isNull() & (F.col("_members") > 1)
                     & ~F.coalesce(F.col("_upn_host") == F.col("label1"), F.lit(False))).alias("demographic"),
                    F.coalesce(F.col("_bad"), F.lit(False)).alias("_rejected")))


def _ambiguous_merges(rec, comp):
    """label2 of every demographic merge that must not be made."""
    bad_upn = (comp.filter("comp_has_upn").groupBy("label2")
               .agg(F.countDistinct("label1").alias("_n")).filter("_n > 1").select("label2"))
    bad_ret = (comp.groupBy("label2", "collection", "la", "year").agg(F.countDistinct("label1").alias("_n"))
               .filter("_n > 1").select("label2"))
    # Nor two components holding different LA child ids of one LA: the LA's own
    # ids say two children (an LA that re-issued a child's id is joined by UPN,
    # rule 1, not here). Same DOB, sex and ethnicity in one LA is a coincidence
    # often enough (a contact-only child in Annex A and another child in CIN)
    # to take all-records precision from 0.9988 down.
    id_comps = (rec.filter(F.col("la_child_id").isNotNull()).select("label1", "la").distinct()
                .join(comp.select("label1", "label2").distinct(), "label1"))
    bad_ids = (id_comps.groupBy("label2", "la").agg(F.count(F.lit(1)).alias("_n"))
               .filter("_n > 1").select("label2"))
    return bad_upn.unionByName(bad_ret).unionByName(bad_ids).distinct()


def apply_mapping(rec, mapping):
    """Labelled records with ``label`` and ``demographic`` from ``demographic_mapping`` (pure)."""
    return rec.join(mapping.drop("_rejected"), "label1", "left").select(
        *rec.columns, F.coalesce(F.col("label"), F.col("label1")).alias("label"),
        F.coalesce(F.col("demographic"), F.lit(False)).alias("demographic"))


def mark_demographic(final):
    """A record with no deterministic link that still shares a person was joined by
    demographic agreement (the UPN-bearing side of such a merge included) (pure)."""
    sizes = final.groupBy("label").agg(F.count(F.lit(1)).alias("_size"))
    return final.join(sizes, "label").withColumn(
        "demographic", F.col("demographic") | (F.col("rule_priority").isNull() & (F.col("_size") > 1))).drop("_size")


def assign_rules(final, rules: dict[str, dict]):
    """Each record's ``rule`` (demographic, its best deterministic rule, or none) and that
    rule's ``confidence`` (``unlinked`` for none) (pure)."""
    priority = {r: int(v.get("priority", 99)) for r, v in rules.items()}
    inv = {v: k for k, v in priority.items()}
    rule_col = (F.when(F.col("demographic"), F.lit("demographic"))
                .when(F.col("rule_priority").isNotNull(), F.element_at(_map(inv), F.col("rule_priority")))
                .otherwise(F.lit("none")))
    conf_map = {r: v.get("confidence", "") for r, v in rules.items()}
    conf_map["none"] = "unlinked"
    return (final.withColumn("rule", rule_col)
            .withColumn("confidence", F.element_at(_map(conf_map), F.col("rule"))))


def spine_rows(final, rules: dict[str, dict]):
    """Records with rule, confidence and ``person_id``, the keyed hash of the person's label."""
    return assign_rules(final, rules).withColumn("person_id", person_id_column(F.col("label")))


def _write_outputs(lake: Lake, out: LinkageOutputs, report: LinkageReport) -> None:
    """Each linkage table overwritten from its staged frame (one commit each)."""
    lake.write_table(out.records, catalog.silver.linkage_records, mode="overwrite")
    spine_cols = table_spec(catalog.silver.person_spine).column_names
    records = lake.read_table(catalog.silver.linkage_records)
    lake.write_table(with_valid_upn(records).select(*spine_cols), catalog.silver.person_spine, mode="overwrite")
    # Collected first (conflicts are few: small by nature): Sail trips write_table's NOT NULL
    # guard on an empty union of aggregates it has not materialised.
    lake.write_pandas(out.conflicts.toPandas(), catalog.silver.linkage_conflicts, mode="overwrite")
    lake.write_table(out.persons, catalog.silver.person, mode="overwrite")
    for name, df in out.journeys.items():
        lake.write_table(df, name, mode="overwrite")
        report.tables[name] = lake.read_table(name).count()


def _count_outputs(lake: Lake, report: LinkageReport) -> None:
    # Counts by rule and by conflict: a handful of rows each, on the driver.
    by_rule = lake.read_table(catalog.silver.person_spine).groupBy("rule").count().toPandas()
    report.records_by_rule = {r: int(n) for r, n in zip(by_rule["rule"], by_rule["count"])}
    report.records = int(by_rule["count"].sum()) if len(by_rule) else 0
    report.persons = lake.read_table(catalog.silver.person).count()
    c = lake.read_table(catalog.silver.linkage_conflicts).groupBy("conflict").count().toPandas()
    report.conflicts = {k: int(n) for k, n in zip(c["conflict"], c["count"])}
    report.tables.update({catalog.silver.person_spine: report.records, catalog.silver.person: report.persons,
                          catalog.silver.linkage_conflicts: int(sum(report.conflicts.values()))})


def _map(d: dict):
    return F.create_map(*[x for k, v in sorted(d.items(), key=lambda kv: str(kv[0])) for x in (F.lit(k), F.lit(v))])


def _rule_priority_map(priority: dict[str, int]):
    return _map(priority)


def find_conflicts(spine, run_id: str):
    """One identifier (UPN, LA child id) whose records disagree on date of birth or sex (pure but for run_id).

    ``<key>_dob``: two exact dates of birth (their keyed hashes differ), or two months
    of birth (which also catches records that carry a month but no hash). Its values
    are the months, each tagged with the start of its date's hash when there is one
    (``2012-01-01 #1a2b3c4d``): the exact date is never shown, but two dates in one
    month are told apart. ``<key>_sex``: two sexes.
    """
    dob_value = F.when(F.col("dob_hash").isNotNull(),
                       F.concat(F.col("dob_month").cast("string"), F.lit(" #"), F.substring("dob_hash", 1, 8))
                       ).otherwise(F.col("dob_month").cast("string"))
    # attribute name -> (columns any two distinct values of which make a conflict, value shown)
    attrs = [("dob", ["dob_hash", "dob_month"], dob_value), ("sex", ["sex"], F.col("sex").cast("string"))]
    out = None
    for key_class, col in (("upn", "upn"), ("la_child_id", "la_child_id")):
        base = spine.filter(F.col(col).isNotNull()).withColumn("key_hash", F.col(col))
        for name, compared, value in attrs:
            # First the few identifiers whose records disagree (distinct pairs, counted);
            # only their records are then aggregated. countDistinct and collect_set over
            # every identifier took Sail past 18 GB at London scale 1 (3.2M records).
            flagged = None
            for c in compared:
                k = (base.filter(F.col(c).isNotNull()).select("key_hash", c).dropDuplicates()
                     .groupBy("key_hash").count().filter(F.col("count") > 1).select("key_hash"))
                flagged = k if flagged is None else flagged.unionByName(k)
            g = (base.join(flagged.distinct(), "key_hash").groupBy("key_hash")
                 .agg(F.sort_array(F.collect_set(value)).alias("values"),
                      F.sort_array(F.collect_set("collection")).alias("collections"),
                      F.sort_array(F.collect_set("la")).alias("las"),
                      F.count(F.lit(1)).alias("records"),
                      F.min("person_id").alias("person_id"),
                      F.countDistinct("person_id").alias("_p"))
                 .select(F.lit(f"{key_class}_{name}").alias("conflict"), F.lit(key_class).alias("key_class"),
                         "key_hash", "person_id", "values", "collections", "las",
                         F.col("records").cast("bigint").alias("records"),
                         F.when(F.col("_p") == 1, F.lit("linked on the identifier; flagged for the LA to check"))
                         .otherwise(F.lit("not linked: records sit in different persons")).alias("resolution"),
                         F.lit(run_id).alias("run_id")))
            out = g if out is None else out.unionByName(g)
    return out


def most_frequent(df, key: str, value: str, alias: str):
    """Most frequent non-null value per key (ties: smallest value)."""
    counts = df.filter(F.col(value).isNotNull()).groupBy(key, value).agg(F.count(F.lit(1)).alias("_n"))
    w = Window.partitionBy(key).orderBy(F.col("_n").desc(), F.col(value).asc())
    return (counts.withColumn("_r", F.row_number().over(w)).filter(F.col("_r") == 1)
            .select(key, F.col(value).alias(alias)))


def person_table(spine, conflicts):
    """One row per person from the spine (pure)."""
    base = (spine.groupBy("person_id").agg(
        F.min("year").alias("first_seen_year"), F.max("year").alias("last_seen_year"),
        F.sort_array(F.collect_set("collection")).alias("collections"),
        F.sort_array(F.collect_set("la")).alias("las"),
        F.count(F.lit(1)).cast("bigint").alias("records"),
        F.max(F.col("has_valid_upn")).alias("has_upn")))
    out = base
    for value, alias in (("dob_month", "dob_month"), ("sex", "sex"), ("ethnicity", "ethnicity")):
        out = out.join(most_frequent(spine, "person_id", value, alias), "person_id", "left")
    flagged = conflicts.select("person_id").distinct().withColumn("has_conflict", F.lit(True))
    return (out.join(flagged, "person_id", "left")
            .withColumn("has_conflict", F.coalesce(F.col("has_conflict"), F.lit(False))))
