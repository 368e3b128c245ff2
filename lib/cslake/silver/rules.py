"""Silver's cross-field rules, as data: one generic engine, no collection-specific code.

A rule is two entries:

- ``conf/rules.yaml`` says *what* it is: ``outcome`` (``quarantine``: the row cannot be used and
  goes to quarantine.rows; ``flag``: the row is kept and the finding goes to
  quarantine.row_flags and the LA's error report), for DfE's rules their ``severity`` (``error``
  or ``query``; a query is never more than a flag), ``dfe_code``, ``fields`` and DfE's
  ``message``;
- ``conf/silver.yaml`` ``rules`` says *where and when*: the ``table`` whose rows it judges, the
  ``column`` the LA should look at, ``fails`` (a Spark SQL boolean over the row's typed columns,
  before pseudonymisation; ``_year`` is the collection year ending 31 March; ``_record`` the
  values as written, JSON, for a rule that judges them as DfE reads them; null passes), the
  ``years`` it applies to (``{from: 2024, to: 2026}``, default every year) and, for a rule that
  reads other rows of the same return, ``with``: the names of the table's joins. ``${name}`` in
  ``fails`` stands for conf/silver.yaml ``terms[name]``, a condition several rules share.

A join (conf/silver.yaml ``joins``, per judged table) names another table of the same return
(same LA, collection year and period) and the columns that match its rows to the judged row
(``match``: judged column -> other table's column; lineage columns such as ``_row`` /
``_parent_row`` allowed). The matched rows arrive as one array column of structs (their typed
values, ``_row`` and ``_record``: the values as written, JSON), named as the join, that ``fails``
reads with Spark's higher-order functions (``exists(assessments, a -> ...)``,
``size(factors) = 0``); no match is an empty array. ``year: previous`` matches the rows of the
LA's return for the year before instead (DfE's rules that compare with last year's return);
``year: all`` the LA's rows of every year the lake holds, each with its ``_year``.
``values: [columns]`` puts only those columns in the structs, each distinct combination once: with
an empty ``match`` it tells whether the other return exists at all without carrying its rows
(``exists(last_return, r -> true)``).
Each join is one grouped left join, whatever the number of rules reading it; every join rule of
a table is evaluated in one projection. The structs hold only what the rules reading the join read
of them (``join_reads``: the fields written after a dot, ``_record`` cut to the keys read with
``get_json_object`` and parsed once into a struct of them; every field when a rule may read an
element whole), the row's own ``_record`` is parsed once for all its rules' reads
(``with_parsed_record``), and the other table is
grouped from a stream sorted by the join's keys, one key's rows at a time, so that neither the
arrays nor the grouping hold a whole table (issue 16).

``derived`` (conf/silver.yaml, per table: column -> Spark SQL expression over the row, in order, each
may read the ones before) are columns computed once per row before the rules read them, on the
judged row and on the rows a join brings (``e.dfe_date_perm``): a value several rules need that
would otherwise be written out inside every rule and, inside a lambda, evaluated again for each
row and element (DfE 632's reading of a partial DATE_PERM: 51 regular expressions).

Row rules (no ``with``) are applied while the table is conformed (``apply_rules``): a
``quarantine`` rule adds to ``_errors``, a ``flag`` rule to ``_flags``. Join rules are
evaluated once every table of the run is staged (``join_flagged``), over all staged rows
(quarantined ones too, as DfE's validators see every row), and can only flag: the judged row
was written to silver before the other tables were typed, and a relation between two rows
does not make either unusable on its own.

A rule whose conf/rules.yaml entry says ``level: return`` judges a whole return (DfE's CIN 2883:
more CP plans starting than initial conferences held), with no row to point at
(``return_flagged``): it is evaluated once per return of its table's staged rows (same
``RETURN_KEYS``), over the arrays of its joins, every one with an empty ``match`` (the return's
rows of that table, as ``with_joins`` groups them); ``fails`` reads those arrays and the
return's ``_la``, ``_year`` and ``_period``. Its finding names the return's file of the judged
table and no row (``_row`` null); it only flags.
"""

from __future__ import annotations

import logging
import re
from collections import Counter

from pyspark.sql import functions as F
from pyspark.sql import types as T

from cslake.config import ConfigError, load_yaml
from cslake.silver.conform import ERROR_TYPE, error_struct

log = logging.getLogger(__name__)

OUTCOMES_OF_ROW_RULES = ("quarantine", "flag")
RETURN_KEYS = ("_la", "_year", "_period")  # rows of one return: same LA, collection year and period


def rule_catalog() -> dict[str, dict]:
    return load_yaml("rules.yaml")["rules"]


def short_name(t) -> str:
    """The table's name in conf/silver.yaml ``rules`` and ``joins``: its silver name without the
    layer (``cin_episode``, ``ssda903_episodes``)."""
    return t.silver.split(".", 1)[1]


def _matches(r: dict, t) -> bool:
    return r.get("table") in (t.table, f"{t.collection}_{t.table}") or r.get("table") == t.silver.split(".", 1)[1]


TERM = re.compile(r"\$\{(\w+)\}")


def expand_terms(fails: str, conf: dict) -> str:
    """``fails`` with each ``${name}`` replaced by conf/silver.yaml ``terms[name]`` in parentheses:
    a definition several rules share (DfE's "looked after continuously for 12 months") written once."""
    terms = conf.get("terms") or {}
    return TERM.sub(lambda m: f"({terms[m.group(1)]})", fails)


def table_rules(t, conf: dict) -> list[dict]:
    """Every cross-field rule of ``conf`` (conf/silver.yaml ``rules``) that judges table ``t``,
    its terms expanded."""
    return [{**r, "fails": expand_terms(r["fails"], conf)} for r in conf.get("rules") or [] if _matches(r, t)]


RETURN_LEVEL = "return"


def level_of(rule_id: str) -> str:
    """conf/rules.yaml's ``level`` of a rule (``row`` when it says none)."""
    return (rule_catalog().get(rule_id) or {}).get("level", "row")


def row_rules(t, conf: dict) -> list[dict]:
    return [r for r in table_rules(t, conf) if not r.get("with") and level_of(r["rule"]) != RETURN_LEVEL]


def join_rules(t, conf: dict) -> list[dict]:
    return [r for r in table_rules(t, conf) if r.get("with") and level_of(r["rule"]) != RETURN_LEVEL]


def return_rules(t, conf: dict) -> list[dict]:
    """The rules of ``t`` that judge a whole return (conf/rules.yaml ``level: return``)."""
    return [r for r in table_rules(t, conf) if level_of(r["rule"]) == RETURN_LEVEL]


def table_joins(t, conf: dict) -> dict[str, dict]:
    """The joins declared for table ``t`` (conf/silver.yaml ``joins``), by name."""
    joins = conf.get("joins") or {}
    for name in (t.table, f"{t.collection}_{t.table}", t.silver.split(".", 1)[1]):
        if name in joins:
            return joins[name] or {}
    return {}


def table_derived(name: str, conf: dict) -> dict[str, str]:
    """conf/silver.yaml ``derived[name]``: column -> expression (terms expanded), in order."""
    return {c: expand_terms(e, conf) for c, e in ((conf.get("derived") or {}).get(name) or {}).items()}


def with_derived(df, derived: dict[str, str]):
    """``df`` with the ``derived`` columns (``table_derived``) added in order, or ``df`` itself."""
    for col, expr in derived.items():
        df = df.withColumn(col, F.expr(expr))
    return df


def outcome_of(rule_id: str) -> str:
    return (rule_catalog().get(rule_id) or {}).get("outcome", "quarantine")


def fails_col(r: dict):
    """The rule's condition as a Column: true only where ``fails`` is true (null passes) in one of
    the rule's ``years``."""
    cond = F.coalesce(F.expr(r["fails"]), F.lit(False))
    years = r.get("years") or {}
    if "from" in years:
        cond = cond & (F.col("_year") >= F.lit(int(years["from"])))
    if "to" in years:
        cond = cond & (F.col("_year") <= F.lit(int(years["to"])))
    return F.coalesce(cond, F.lit(False))


def _findings(rules: list[dict], columns: list[str]):
    """One array of the findings of ``rules`` that fail on the row (an empty array when none)."""
    checks = []
    for r in rules:
        col = r.get("column")
        value = F.col(f"`{col}`") if col and col in columns else F.lit(None)
        checks.append(F.when(fails_col(r), error_struct(r["rule"], col or "", value)))
    return F.filter(F.array(*checks), lambda x: x.isNotNull()).cast(ERROR_TYPE)


def apply_rules(typed, t, conf: dict, columns: list[str] | None = None):
    """Each row rule of ``t`` whose ``fails`` is true adds its finding to ``_errors`` (outcome
    quarantine) or ``_flags`` (outcome flag). Join rules are not evaluated here. ``columns``:
    ``typed``'s, when the caller knows them (each ``.columns`` of a large plan is a round trip)."""
    rules = row_rules(t, conf)
    if not rules:
        return typed
    columns = typed.columns if columns is None else columns
    derived = table_derived(short_name(t), conf)
    out, rules = with_parsed_record(with_derived(typed, derived), rules, [*columns, *derived])
    for target, outcome in (("_errors", "quarantine"), ("_flags", "flag")):
        some = [r for r in rules if outcome_of(r["rule"]) == outcome]
        if some:
            out = out.withColumn(target, F.concat(F.col(target), _findings(some, columns)))
    return out.drop(PARSED_RECORD, *derived)


_OWN_JSON_READ = re.compile(r"get_json_object\(\s*_record\s*,\s*'\$\.([A-Za-z_]\w*)'\s*\)", re.I)
_ELEMENT_JSON_READ = re.compile(r"get_json_object\(\s*([A-Za-z_]\w*)\s*\.\s*_record\s*,\s*'\$\.([A-Za-z_]\w*)'\s*\)", re.I)
PARSED_RECORD = "_rec"


def _string_struct(keys) -> T.StructType:
    return T.StructType([T.StructField(k, T.StringType()) for k in sorted(keys)])


def with_parsed_record(df, rules: list[dict], columns: list[str] | None = None):
    """``df`` with ``_rec``, the row's ``_record`` parsed once into a struct of the keys ``rules``
    read with ``get_json_object(_record, '$.KEY')``, and the rules reading ``_rec.KEY`` instead.
    Why: each get_json_object parses the whole JSON record again; the SSDA903 episode rules read
    it 80-odd times per row. The values as written are strings (``_record`` is ``to_json`` of the
    bronze strings), so the struct's fields are strings, null where the key is absent or null:
    what get_json_object gives."""
    read = {k for r in rules for k in _OWN_JSON_READ.findall(r["fails"])}
    # keys told apart only by case stay with get_json_object: the engines resolve a struct's
    # fields without regard to case
    cases = Counter(k.lower() for k in read)
    keys = {k for k in read if cases[k.lower()] == 1}
    if not keys or "_record" not in (df.columns if columns is None else columns):
        return df, rules
    out = df.withColumn(PARSED_RECORD, F.from_json(F.col("_record"), _string_struct(keys)))

    def parsed(m):
        return f"{PARSED_RECORD}.`{m.group(1)}`" if m.group(1) in keys else m.group(0)

    return out, [{**r, "fails": _OWN_JSON_READ.sub(parsed, r["fails"])} for r in rules]


def struct_record_joins(rules: list[dict], joins: dict, reads: dict | None = None) -> set[str]:
    """The joins whose elements carry ``_record`` as a struct of the keys the rules read (parsed
    once per element, where each ``get_json_object(e._record, ...)`` would parse it per rule and
    per row): those with explicit ``values`` aside, those whose rules read ``_record`` only with
    get_json_object (``join_reads``), and only where every join of every rule reading one of them
    is such a join, so that each rule's element reads are rewritten all alike."""
    reads = join_reads(rules) if reads is None else reads
    ok = {j for j, (fields, keys) in reads.items()
          if fields is not None and keys and (joins.get(j) or {}).get("values") is None}
    changed = True
    while changed:
        changed = False
        for r in rules:
            used = set(r.get("with") or ())
            if used & ok and not used <= ok:
                ok -= used
                changed = True
    return ok


def element_reads_parsed(rules: list[dict], struct_joins: set[str]) -> list[dict]:
    """``rules`` whose joins all carry struct records read ``e._record.KEY`` where they read
    ``get_json_object(e._record, '$.KEY')``."""
    return [{**r, "fails": _ELEMENT_JSON_READ.sub(lambda m: f"{m.group(1)}._record.`{m.group(2)}`", r["fails"])}
            if r.get("with") and set(r["with"]) <= struct_joins else r for r in rules]


_LITERAL = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"")
_FIELD = re.compile(r"\.\s*(?:`([^`]+)`|([A-Za-z_]\w*))")
_LAMBDA = re.compile(r"(?:\(\s*(\w+)\s*(?:,\s*(\w+)\s*)?\)|(\w+))\s*->")
_RECORD_READ = re.compile(r"[A-Za-z_]\w*\s*\.\s*`?_record\b")
# functions that read an array element whole (every field of the struct counts), or a struct whole
_WHOLE = re.compile(r"\b(to_json|to_csv|array_distinct|array_union|array_except|array_intersect|array_contains|"
                    r"array_position|array_remove|arrays_overlap|arrays_zip|sort_array|array_sort|array_join|"
                    r"flatten|explode|inline|posexplode|hash|xxhash64|md5|sha1|sha2|crc32|"
                    r"map_from_entries|collect_set|collect_list|count_distinct|element_at|try_element_at)\s*\(", re.I)
# how a join's array may be read for the cut to hold: through a lambda over its elements, or its size
_ARRAY_READ = r"\b(?:exists|forall|filter|transform|aggregate|reduce|size|cardinality)\s*\(\s*"


def _rule_reads(fails: str, joins=()) -> tuple[set[str] | None, set[str] | None]:
    """What ``fails`` can read of a join's elements: the field names it writes after a dot
    (``e.DECOM``, ``l._row``; any ``x.name`` anywhere in the rule: a superset) and the keys it reads
    from ``x._record`` with ``get_json_object(x._record, '$.KEY')``. ``None`` where it cannot be
    told: fields None when an element may be read whole (a lambda's element variable used without
    a field, or a function over whole structs such as ``array_distinct`` or ``to_json``); keys None
    when ``x._record`` is read in any other way."""
    reads = _ELEMENT_JSON_READ.findall(fails)
    keys: set[str] | None = {k for _, k in reads}
    if len(_RECORD_READ.findall(fails)) != len(reads):
        keys = None
    text = _LITERAL.sub("''", fails)
    if _WHOLE.search(text) or "[" in text:
        return None, None
    for j in joins:
        for use in re.finditer(rf"(?<![\w.`]){re.escape(j)}(?![\w`])", text):
            if not re.search(_ARRAY_READ + "$", text[:use.start()], re.I):
                return None, None
    fields = {a or b for a, b in _FIELD.findall(text)}
    # an element variable: a one-parameter lambda's, the second of two ((acc, e) -> ... in
    # aggregate; a lambda's index, used bare, only makes the rule read whole elements)
    elements = {m.group(3) or m.group(2) or m.group(1) for m in _LAMBDA.finditer(text)}
    body = _LAMBDA.sub(" -> ", text)
    for var in elements:
        for use in re.finditer(rf"(?<![\w.`]){re.escape(var)}(?![\w`])", body):
            if not re.match(r"\s*\.", body[use.end():]):
                return None, None
    return fields, keys


def join_reads(rules: list[dict]) -> dict[str, tuple[set[str] | None, set[str] | None]]:
    """Per join name, what the ``rules`` reading it read of its elements (``_rule_reads``, united
    over the rules; None: everything). A join's arrays then carry only those fields, and a
    ``_record`` with only those keys."""
    out: dict[str, tuple] = {}
    for r in rules:
        fields, keys = _rule_reads(r["fails"], r.get("with") or ())
        for j in r.get("with") or []:
            f0, k0 = out.get(j, (set(), set()))
            out[j] = (None if f0 is None or fields is None else f0 | fields,
                      None if k0 is None or keys is None else k0 | keys)
    return out


def _value_col(c: str, record_keys, parsed: bool = False):
    """Column ``c`` of a join's struct; ``_record`` cut to ``record_keys`` (when not None): the
    same JSON object for every key a rule reads from it with get_json_object (the values as
    written are strings; a key absent or null reads as null either way), or with ``parsed`` that
    object parsed into a struct of those keys (``struct_record_joins``)."""
    if c == "_record" and record_keys is not None:
        if not record_keys:
            return F.lit("{}").alias("_record")
        if parsed:
            return F.from_json(F.col("_record"), _string_struct(record_keys)).alias("_record")
        # get_json_object(to_json(struct(v AS k)), '$.k') is v for any string v
        return F.to_json(F.struct(*[F.get_json_object(F.col("_record"), f"$.{k}").alias(k)
                                    for k in sorted(record_keys)])).alias("_record")
    return F.col(f"`{c}`")


def _return_key(cols, shift: int = 0):
    """One string per return (LA, collection year + ``shift``, period; null as '')."""
    return F.concat_ws("|", *[F.coalesce((F.col(c) + F.lit(shift) if c == "_year" else F.col(c)).cast("string"),
                                         F.lit("")) for c in cols])


def _returns(df, cols, shift: int = 0) -> set[str]:
    """The returns ``df`` holds rows of (``_return_key``): a few per LA and year."""
    return {r[0] for r in df.select(_return_key(cols, shift).alias("_rk")).distinct().collect()}


def _struct_type(other, values, record, parsed: bool = False):
    """The type of a join's struct (``_value_col``) without running anything."""
    return other.select(F.struct(*[_value_col(c, record, parsed) for c in values]).alias("_jv")).schema["_jv"].dataType


def with_joins(staged, t, conf: dict, staged_of, wanted=None, rules=None):
    """``staged`` with one array column per join its join rules read (``wanted``: those joins
    only; ``staged_of(table name)``: that table's staged rows of this run). Each join's structs
    hold only what the join rules (``rules``, default all of ``t``'s) read of them."""
    rules = join_rules(t, conf) if rules is None else rules
    reads = join_reads(rules)
    wanted = sorted(wanted if wanted is not None else {j for r in rules for j in r["with"]})
    joins = table_joins(t, conf)
    parsed = struct_record_joins(rules, joins, reads)
    out = staged
    for name in wanted:
        j = joins[name]
        other = staged_of(j["table"])
        on = dict(j.get("match") or {})
        # `year: all`: the LA's rows of every year (their _year among the values), for a rule that
        # reads a child's whole history where DfE's validator, given two years, reads two
        every_year = j.get("year") == "all"
        keys_of = [k for k in RETURN_KEYS if not (every_year and k == "_year")]
        mine = [*keys_of, *on]
        theirs = [*keys_of, *on.values()]
        values = j.get("values")
        record = None
        if values is None:
            values = [c for c in other.columns if not c.startswith("_")] + [c for c in ("_row", "_record") if c in other.columns]
            # only what the rules reading this join read (join_reads): the arrays are most of the
            # memory the join rules take
            fields, record = reads.get(name, (None, None)) if reads is not None else (None, None)
            if fields is None:
                record = None
            else:
                values = [c for c in values if c in fields] or [c for c in ("_row",) if c in other.columns] or values[:1]
        if every_year and "_year" not in values:
            values = [*values, "_year"]
        # keys compared as strings, null as '' (an absent _period matches an absent _period); joined
        # by name (USING), which every engine resolves the same way, also when the other table is
        # the judged table itself
        n = len(mine)
        # `year: previous`: the other table's rows of the LA's return for the year before (DfE's
        # SSDA903 rules that compare with last year's return)
        shift = 1 if j.get("year") == "previous" else 0
        keys = [F.coalesce((F.col(c) + F.lit(shift) if c == "_year" else F.col(f"`{c}`")).cast("string"),
                           F.lit("")).alias(f"_jk{i}") for i, c in enumerate(theirs)]
        if shift:
            # only last year's returns of the returns judged here (an LA's first year has none): the
            # join is left out when no judged return has one, its array empty on every row
            wanted_returns = _returns(staged, RETURN_KEYS, 0) & _returns(other, RETURN_KEYS, shift)
            if not wanted_returns:
                out = out.withColumn(name, F.array().cast(T.ArrayType(_struct_type(other, values, record, name in parsed))))
                continue
            other = other.filter(_return_key(RETURN_KEYS, shift).isin(sorted(wanted_returns)))
        # repartitioned and sorted by the keys before grouping: the engine then groups each key's rows
        # as they stream by (Sail: a sorted, single-phase aggregate), holding one key's rows at a
        # time, and the sort spills; a hash aggregate held every array of the table at once and
        # could not spill (issue 16: 64 MB of episodes failed in a 1 GiB pool)
        jk = [f"_jk{i}" for i in range(n)]
        grouped = (other.select(*keys, F.struct(*[_value_col(c, record, name in parsed) for c in values]).alias("_jv"))
                   .repartition(*jk).sortWithinPartitions(*jk)
                   .groupBy(*jk)
                   # `values`: a rule asks about a few columns of many rows (a whole return): each
                   # distinct combination once, so the array stays small
                   .agg((F.collect_set("_jv") if j.get("values") is not None else F.collect_list("_jv")).alias(name)))
        empty = F.array().cast(grouped.schema[name].dataType)
        for i, c in enumerate(mine):
            out = out.withColumn(f"_jk{i}", F.coalesce(F.col(f"`{c}`").cast("string"), F.lit("")))
        out = (out.join(grouped, [f"_jk{i}" for i in range(n)], "left").drop(*[f"_jk{i}" for i in range(n)])
               .withColumn(name, F.coalesce(F.col(name), empty)))
    return out


def _evaluable(rules: list[dict], t, joins: dict, staged_of) -> list[dict]:
    """``rules`` without those reading a table no file of the run had (no bronze table at all):
    they are not evaluated."""
    missing = {j for r in rules for j in r["with"] if staged_of(joins[j]["table"]) is None}
    if missing:
        log.info("silver %s: joins %s have no table in this run; their rules are not evaluated", t.silver, sorted(missing))
    return [r for r in rules if not set(r["with"]) & missing]


def _derived_reader(conf: dict, staged_of):
    def derived_of(name):
        other = staged_of(name)
        return None if other is None else with_derived(other, table_derived(name, conf))
    return derived_of


def join_flagged(staged, t, conf: dict, staged_of):
    """The staged rows of ``t`` with ``_flags`` holding only the findings of its join rules (rows
    without any left out), or None when ``t`` has no join rule."""
    joins = table_joins(t, conf)
    rules = _evaluable(join_rules(t, conf), t, joins, staged_of)
    if not rules:
        return None
    derived_of = _derived_reader(conf, staged_of)
    columns = staged.columns
    derived = table_derived(short_name(t), conf)
    joined = with_joins(with_derived(staged, derived), t, conf, derived_of, {j for r in rules for j in r["with"]}, rules)
    joined, parsed_rules = with_parsed_record(joined, element_reads_parsed(rules, struct_record_joins(rules, joins)),
                                              [*columns, *derived])
    found = _findings(parsed_rules, columns)
    return (joined.withColumn("_flags", found).filter(F.size("_flags") > 0)
            .withColumn("_nulled", F.array().cast(ERROR_TYPE)).withColumn("_errors", F.array().cast(ERROR_TYPE))
            .select(*columns))


RETURN_FILE = ("_file_sha256", "_path")  # the file a return-level finding names


def return_flagged(staged, t, conf: dict, staged_of):
    """One row per return of ``t``'s staged rows (``RETURN_KEYS``) where a return-level rule
    (``return_rules``) fails, with ``_flags`` holding those rules' findings, ``_row`` null and the
    return's file of ``t`` (``_file_sha256``, ``_path``: the first, should a return's rows of ``t``
    come from several), shaped for the row flags as ``join_flagged``'s rows are; or None when ``t``
    has no return-level rule. The rules read their joins' arrays (each the return's rows of a
    table, ``match: {}``), never a row of ``t``."""
    joins = table_joins(t, conf)
    rules = _evaluable(return_rules(t, conf), t, joins, staged_of)
    if not rules:
        return None
    files = [c for c in RETURN_FILE if c in staged.columns]
    returns = staged.groupBy(*RETURN_KEYS).agg(*[F.min(c).alias(c) for c in files]) if files else \
        staged.select(*RETURN_KEYS).distinct()
    joined = with_joins(returns, t, conf, _derived_reader(conf, staged_of), {j for r in rules for j in r["with"]}, rules)
    found = _findings(element_reads_parsed(rules, struct_record_joins(rules, joins)), [])
    empty = F.array().cast(ERROR_TYPE)
    return (joined.withColumn("_flags", found).filter(F.size("_flags") > 0)
            .select(*RETURN_KEYS, *files, F.lit(None).cast("bigint").alias("_row"), "_flags",
                    empty.alias("_errors"), empty.alias("_nulled")))


def joined_tables(t, conf: dict) -> set[str]:
    """The tables (conf names) the join and return-level rules of ``t`` read."""
    joins = table_joins(t, conf)
    return {joins[j]["table"] for r in [*join_rules(t, conf), *return_rules(t, conf)]
            for j in r.get("with") or () if j in joins}


def check_rules(conf: dict, catalog: dict | None = None) -> list[str]:
    """Problems with the rules as data (empty when none): every rule in both files, outcomes that
    fit the engine (a query or a join rule only flags), joins that exist."""
    catalog = rule_catalog() if catalog is None else catalog
    problems = []
    joins = conf.get("joins") or {}
    for table, cols in (conf.get("derived") or {}).items():
        if not isinstance(cols, dict) or not all(isinstance(c, str) and c and not c.startswith("_")
                                                 and isinstance(e, str) and e for c, e in cols.items()):
            problems.append(f"derived {table}: needs column names (not starting with _) and an expression each")
    for table, named in joins.items():
        for name, j in (named or {}).items():
            # (YAML reads a bare `on:` key as true: the key is `match`)
            if (not isinstance(j, dict) or not j.get("table") or not isinstance(j.get("match"), dict)
                    or set(j) - {"table", "match", "year", "values"} or j.get("year") not in (None, "previous", "all")
                    or not isinstance(j.get("values", []), list) or j.get("values") == []):
                problems.append(f"join {table}.{name}: needs a table and a match (judged column: its column), "
                                "and at most year: previous or all and values: [columns]")
    for r in conf.get("rules") or []:
        rid = r.get("rule")
        entry = catalog.get(rid)
        if entry is None:
            problems.append(f"{rid}: in conf/silver.yaml rules but not in conf/rules.yaml")
            continue
        if not r.get("table") or not r.get("fails"):
            problems.append(f"{rid}: needs a table and a fails condition")
        for name in TERM.findall(r.get("fails") or ""):
            if name not in (conf.get("terms") or {}):
                problems.append(f"{rid}: term ${{{name}}} is not defined in conf/silver.yaml terms")
        outcome = entry.get("outcome")
        if outcome not in OUTCOMES_OF_ROW_RULES:
            problems.append(f"{rid}: outcome {outcome!r} is not one a cross-field rule can have {OUTCOMES_OF_ROW_RULES}")
        if entry.get("severity") not in (None, "error", "query"):
            problems.append(f"{rid}: severity {entry.get('severity')!r} is neither error nor query")
        if entry.get("severity") == "query" and outcome != "flag":
            problems.append(f"{rid}: a DfE query only flags (outcome {outcome!r})")
        if r.get("with"):
            if outcome != "flag":
                problems.append(f"{rid}: a rule reading other tables only flags (outcome {outcome!r})")
            declared = joins.get(r["table"]) or {}
            for j in r["with"]:
                if j not in declared:
                    problems.append(f"{rid}: join {j!r} is not declared for {r['table']} in conf/silver.yaml joins")
        problems += _return_level_problems(r, entry, joins.get(r.get("table")) or {})
    return problems


def _return_level_problems(r: dict, entry: dict, declared: dict) -> list[str]:
    """A return-level rule (``level: return``) flags, and reads the return through joins that
    match no row (``match: {}``): it has no row of its own."""
    rid, level = r.get("rule"), entry.get("level", "row")
    if level not in ("row", "cell", RETURN_LEVEL):
        return [f"{rid}: level {level!r} is not one a cross-field rule can have (row, cell or {RETURN_LEVEL})"]
    if level != RETURN_LEVEL:
        return []
    problems = []
    if entry.get("outcome") != "flag":
        problems.append(f"{rid}: a return-level rule only flags (outcome {entry.get('outcome')!r})")
    if not r.get("with"):
        problems.append(f"{rid}: a return-level rule reads the return through joins (with: [...], each match: {{}})")
    for j in r.get("with") or ():
        if j in declared and (declared[j] or {}).get("match"):
            problems.append(f"{rid}: join {j!r} matches rows ({declared[j]['match']}); a return-level rule's joins "
                            "match none (match: {})")
    return problems


def validate(conf: dict) -> None:
    problems = check_rules(conf)
    if problems:
        raise ConfigError("silver rules: " + "; ".join(problems))
