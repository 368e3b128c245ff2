"""Typing, code normalisation and per-column checks, as Spark column expressions.

Everything here builds ``Column`` objects from a collection's schema for one year;
nothing loops over rows. For each schema column ``c`` of a bronze table:

- ``c`` becomes its typed, normalised value (trimmed; blank is null; codes mapped
  to their canonical form through the schema's aliases and labels; ``12345.0``
  ids cut to ``12345``; dates parsed with the collection's date format; numbers
  and booleans cast). Identifier columns stay trimmed strings here: they are
  hashed later, only for rows that reach silver.
- failures are collected into ``_errors`` (array of rule, column, value, message):
  MANDATORY_MISSING, TYPE_DATE, DATE_IMPLAUSIBLE, TYPE_NUMBER, TYPE_BOOLEAN, CODE_INVALID;
  **cell-level quarantine**: a failure in a column that is neither part of the table's
  key, nor mandatory, nor an identifier goes to ``_nulled`` instead: the value becomes
  null, the row stays (flagged with the rule, column and original value), so one bad
  code no longer takes the child out of every measure the row feeds. Only a failure in
  a key, mandatory or identifier column (or a cross-field rule) rejects the whole row;
- dates are checked for plausibility (year 1900-2100, DATE_IMPLAUSIBLE) on the text,
  *before* they are parsed: a year-1066 date never reaches a cast that could overflow
  (the engine's nanosecond timestamps end before 1677); an event date (the collection's
  ``year_evidence``) in a calendar year after the one following the return's year
  (``_year`` + 1) is DATE_IMPLAUSIBLE too;
- kept-but-reported findings into ``_flags`` (same shape): UPN_INVALID (flag),
  CODE_CASE and ID_FLOAT (tolerated normalisations; CODE_CASE also for identifiers that
  are hashed upper-cased, such as a lower-case SWENo). A coded column's CODE_CASE is an
  error instead where conf/rules.yaml says the collection rejects that kind (``rejected``:
  CIN case and padding, SSDA903 padding, as DfE's validators do), for each element of a
  repeatable (|-joined) coded column as for a single code.

Columns carried down from an enclosing XML element (``from:`` in the schema) are
typed but not checked again: the parent's row reports their faults once.
"""

from __future__ import annotations

import functools
import re

from pyspark.sql import Column
from pyspark.sql import functions as F

from cslake.config import load_yaml
from cslake.pseudo import upn_valid_column
from cslake.schemas import ColumnSpec, TableSchema

ERROR_TYPE = "array<struct<rule:string,column:string,value:string,message:string>>"

# The decorations ColumnSpec.canonical strips, in Java/Spark regex syntax.
_LETTER_PREFIX = r"^[A-Za-z]\)\s*"
_NUMBER_PREFIX = r"^\d+\s*[-.)]\s+"
_LABEL_SUFFIX = r"\s*(?:-|:|–)\s+.*$"

_STRFTIME = {"%Y": ("yyyy", r"\d{4}"), "%m": ("MM", r"\d{2}"), "%d": ("dd", r"\d{2}"),
             "%H": ("HH", r"\d{2}"), "%M": ("mm", r"\d{2}"), "%S": ("ss", r"\d{2}"),
             "%y": ("yy", r"\d{2}")}

UNKNOWN_UPN = ("UN1", "UN2", "UN3", "UN4", "UN5", "UN6", "UN7")
# Identifier classes whose letters are upper-cased before hashing (cslake.pseudo).
CASE_BLIND_IDENTIFIERS = ("swe_no", "upn", "former_upn")


@functools.lru_cache(maxsize=None)
def rule_messages() -> dict[str, str]:
    return {k: v["message"] for k, v in load_yaml("rules.yaml")["rules"].items()}


@functools.lru_cache(maxsize=None)
def case_rejected(collection: str | None) -> frozenset[str]:
    """What kinds of case-only difference in a coded column (``case``, ``padding``) a collection
    rejects: conf/rules.yaml CODE_CASE ``rejected`` (as DfE's validator does at submission)."""
    by = load_yaml("rules.yaml")["rules"]["CODE_CASE"].get("rejected") or {}
    return frozenset(by.get(collection) or ())


@functools.lru_cache(maxsize=None)
def rule_outcomes() -> dict[str, str]:
    return {k: v["outcome"] for k, v in load_yaml("rules.yaml")["rules"].items()}


def date_pattern(fmt: str) -> tuple[str, str]:
    """(Spark datetime pattern, anchored regex) for a strftime format like ``%d/%m/%Y``."""
    spark_fmt, rx = "", ""
    i = 0
    while i < len(fmt):
        tok = fmt[i:i + 2]
        if tok in _STRFTIME:
            spark_fmt += _STRFTIME[tok][0]
            rx += _STRFTIME[tok][1]
            i += 2
            continue
        ch = fmt[i]
        spark_fmt += f"'{ch}'" if ch.isalpha() else ch
        rx += re.escape(ch)
        i += 1
    return spark_fmt, f"^{rx}$"


def code_lookup(c: ColumnSpec) -> dict[str, str]:
    """Case-folded accepted form -> canonical code: codes beat aliases beat labels."""
    out: dict[str, str] = {}
    for label_code, label in c.code_labels.items():
        out[label.strip().casefold()] = label_code
    for alias, target in c.aliases.items():
        out[alias.strip().casefold()] = target
    for code in c.codes or []:
        out[code.strip().casefold()] = code
    return out


def error_struct(rule: str, column: str, value: Column, detail: str = "") -> Column:
    """One finding (rule, column, value as text, message from conf/rules.yaml) for ``_errors`` / ``_flags``."""
    msg = f"{column}: {rule_messages()[rule]}" + (f" ({detail})" if detail else "")
    return F.struct(F.lit(rule).alias("rule"), F.lit(column).alias("column"),
                    value.cast("string").alias("value"), F.lit(msg).alias("message"))


# Dates outside these years are not read (DATE_IMPLAUSIBLE): nothing in a return is older,
# and Sail's nanosecond timestamps overflow before 1677 (shared/specs, issue 12).
PLAUSIBLE_YEARS = (1900, 2100)


def date_plausible(v: Column) -> Column:
    """False where the text's first four-digit run (the year, in every collection's date format) is
    outside PLAUSIBLE_YEARS; true otherwise (no four-digit year: the format check decides)."""
    yr = F.regexp_extract(v, r"(\d{4})", 1)
    n = F.when(yr != "", yr).cast("int")
    return n.isNull() | n.between(*PLAUSIBLE_YEARS)


def _date_errors(c: ColumnSpec, raw: Column, v: Column, typed: Column, date_format: str | None) -> list:
    """A date's failures: DATE_IMPLAUSIBLE (in the format, year out of range) or TYPE_DATE."""
    fmt = c.date_format or date_format or "%Y-%m-%d"
    implausible = v.isNotNull() & v.rlike(date_pattern(fmt)[1]) & ~date_plausible(v)
    return [F.when(implausible, error_struct("DATE_IMPLAUSIBLE", c.name, raw)),
            F.when(v.isNotNull() & typed.isNull() & ~implausible,
                   error_struct("TYPE_DATE", c.name, raw, _date_hint(c, date_format)))]


def _blank_to_null(col: Column) -> Column:
    # Trim every kind of whitespace (incl. non-breaking spaces from spreadsheets).
    t = F.regexp_replace(col, r"^[\s\u00a0\ufeff]+|[\s\u00a0\ufeff]+$", "")
    return F.when(t != "", t)


def _canonical(v: Column, lookup: dict[str, str]) -> Column:
    if not lookup:
        return F.lit(None).cast("string")
    m = F.create_map(*[x for k, code in sorted(lookup.items()) for x in (F.lit(k), F.lit(code))])
    low = F.lower(v)
    no_letter = F.trim(F.regexp_replace(v, _LETTER_PREFIX, ""))
    no_number = F.trim(F.regexp_replace(v, _NUMBER_PREFIX, ""))
    forms = [low, F.regexp_replace(low, r"^(\d+)\.0$", "$1"), F.lower(no_letter), F.lower(no_number),
             F.lower(F.regexp_replace(v, _LABEL_SUFFIX, "")),
             F.lower(F.regexp_replace(no_letter, _LABEL_SUFFIX, "")),
             F.lower(F.regexp_replace(no_number, _LABEL_SUFFIX, ""))]
    return F.coalesce(*[F.element_at(m, F.trim(f)) for f in forms])


_TYPE_RULES = {"date": "TYPE_DATE", "datetime": "TYPE_DATE", "int": "TYPE_NUMBER", "year": "TYPE_NUMBER",
               "double": "TYPE_NUMBER", "decimal": "TYPE_NUMBER", "boolean": "TYPE_BOOLEAN"}


def _typed_scalar(v: Column, c: ColumnSpec, date_format: str | None) -> Column:
    """The typed value of ``v`` for non-code types (null where it does not read as its type; the
    rule that reports it: ``_TYPE_RULES``)."""
    if c.type in ("date", "datetime"):
        fmt = c.date_format or date_format or "%Y-%m-%d"
        spark_fmt, rx = date_pattern(fmt)
        # Only plausible dates reach the parser (nothing downstream can overflow on them).
        parsed = F.try_to_timestamp(F.when(date_plausible(v), v), F.lit(spark_fmt))
        return F.when(v.rlike(rx) & date_plausible(v), parsed.cast("date" if c.type == "date" else "timestamp"))
    if c.type in ("int", "year"):
        return F.regexp_replace(v, r"^(-?\d+)\.0+$", "$1").try_cast("int")
    if c.type in ("double", "decimal"):
        return F.when(v.rlike(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"), v.try_cast("double"))
    if c.type == "boolean":
        low = F.lower(v)
        return (F.when(low.isin("true", "1", "yes", "y", "t"), F.lit(True))
                .when(low.isin("false", "0", "no", "n", "f"), F.lit(False)))
    return v


# A column is conformed in three values, each an expression over the one before (conform_year
# computes each in a projection of its own and the next reads it by name):
#   v      the value trimmed, blank as null (_blank_to_null of the raw string);
#   canon  a single coded column's canonical code (canonical_of; None for other columns);
#   typed  the typed value (typed_of);
# and its findings (checks_of) read raw, v, canon and typed. Written as one expression, each use of
# typed would copy canon's seven lookups and each use of canon v's regular expressions: the engine
# then spent seconds planning each year of a table of a few rows (SSDA903 OC2, eight coded
# booleans: 3.4 s a year for one row on Sail, all of it planning).

def _list_parts(v: Column) -> Column:
    """A ``|``-separated list's elements (null for a null value)."""
    return F.when(v.isNotNull(), F.split(v, r"\|"))


def _single_coded(c: ColumnSpec) -> bool:
    return c.codes is not None and not c.identifier and not c.repeatable


def canonical_of(c: ColumnSpec, v: Column) -> Column | None:
    """A single coded column's canonical code (codes, aliases, labels, case), None for any other."""
    return _canonical(v, code_lookup(c)) if _single_coded(c) else None


def typed_of(c: ColumnSpec, v: Column, canon: Column | None, date_format: str | None) -> Column:
    """The column's typed value from its trimmed value ``v`` (and ``canon``, for a coded column):
    identifiers stay trimmed strings (hashed later; dates of birth typed); a ``|``-separated list
    is an array of typed (or canonical) elements; a code its canonical form, typed."""
    if c.identifier:
        return _typed_scalar(v, c, date_format) if c.type in ("date", "datetime") else v
    if c.repeatable:
        parts = _list_parts(v)
        if c.codes is None:
            return F.transform(parts, lambda x: _typed_scalar(_blank_to_null(x), c, date_format))
        lookup = code_lookup(c)
        out = F.transform(parts, lambda x: _canonical(_blank_to_null(x), lookup))
        # A yes/no field with a code list: its elements booleans.
        return F.transform(out, lambda x: F.when(x == "1", True).when(x == "0", False)) if c.type == "boolean" else out
    if c.codes is not None:
        if c.type == "boolean" and set(c.codes) <= {"0", "1"}:
            return F.when(canon == "1", True).when(canon == "0", False)
        return canon if c.type == "string" else _typed_scalar(canon, c, date_format)
    return _typed_scalar(v, c, date_format)


def checks_of(c: ColumnSpec, raw: Column, v: Column, canon: Column | None, typed: Column, date_format: str | None,
              pattern_rule: str | None = "CODE_INVALID", spec_year: int | None = None,
              collection: str | None = None) -> tuple[list, list]:
    """One schema column's ([error structs or null], [flag structs or null]) from its raw string,
    trimmed value, canonical code and typed value. ``spec_year``: the year of the specification
    checked against, named in CODE_INVALID's message. ``collection``: whose CODE_CASE decision
    applies (``case_rejected``)."""
    errors: list = []
    if c.from_table is None and c.mandatory:
        errors.append(F.when(v.isNull(), error_struct("MANDATORY_MISSING", c.name, raw)))
    if c.identifier:
        errs, flags = _identifier_checks(c, raw, v, typed, date_format)
    elif c.repeatable:
        errs, flags = _repeatable_checks(c, raw, v, date_format, spec_year, case_rejected(collection))
    elif c.codes is not None:
        errs, flags = _code_checks(c, raw, v, canon, typed, spec_year, case_rejected(collection))
    else:
        errs, flags = _scalar_checks(c, raw, v, typed, date_format, pattern_rule)
    return errors + errs, flags


def column_checks(c: ColumnSpec, date_format: str | None, pattern_rule: str | None = "CODE_INVALID",
                  spec_year: int | None = None, collection: str | None = None):
    """For one schema column, as single expressions over the raw column: (typed column, [error
    structs or null], [flag structs or null]). conform_year computes the same in stages."""
    raw = F.col(f"`{c.name}`")
    v = _blank_to_null(raw)
    canon = canonical_of(c, v)
    typed = typed_of(c, v, canon, date_format)
    return (typed, *checks_of(c, raw, v, canon, typed, date_format, pattern_rule, spec_year, collection))


def _identifier_checks(c: ColumnSpec, raw: Column, v: Column, typed: Column, date_format: str | None):
    """UPN_INVALID, ID_FLOAT and CODE_CASE flags; a date of birth's date errors."""
    name, checked = c.name, c.from_table is None
    errors: list = []
    flags: list = []
    if checked and c.identifier in ("upn", "former_upn"):
        up = F.upper(F.regexp_replace(v, r"\s+", ""))
        bad = v.isNotNull() & ~up.isin(*UNKNOWN_UPN) & ~upn_valid_column(up)
        flags.append(F.when(bad, error_struct("UPN_INVALID", name, raw)))
    if checked and c.identifier in ("la_child_id", "sw_id", "adopter_id", "family_id"):
        flags.append(F.when(v.rlike(r"^\d+\.0$"), error_struct("ID_FLOAT", name, raw)))
    if checked and c.identifier in CASE_BLIND_IDENTIFIERS:
        # Hashed upper-cased (cslake.pseudo.normalised_column): sw8000701298 is SW8000701298,
        # tolerated and reported like a lower-case code.
        flags.append(F.when(v != F.upper(v), error_struct("CODE_CASE", name, raw, "normalised")))
    if c.type in ("date", "datetime") and checked:
        errors += _date_errors(c, raw, v, typed, date_format)
    return errors, flags


def spec_named(spec_year: int | None) -> str:
    """CODE_INVALID's detail: the specification a code was checked against (``schemas.spec_year``)."""
    return "" if spec_year is None else f"the {spec_year - 1}-{spec_year % 100:02d} specification, {spec_year}"


def _repeatable_checks(c: ColumnSpec, raw: Column, v: Column, date_format: str | None, spec_year: int | None = None,
                       rejected: frozenset[str] = frozenset()):
    """A ``|``-separated list: each element checked like a scalar; a coded element differing from
    its code only by case or padding gets the collection's CODE_CASE decision, as a single code
    does (``_case_only``: one finding for the cell)."""
    name = c.name
    if c.from_table is not None:
        return [], []
    parts = _list_parts(v)
    elem = lambda x: _blank_to_null(x)  # noqa: E731
    if c.codes is not None:
        lookup = code_lookup(c)
        bad = F.exists(parts, lambda x: elem(x).isNotNull() & _canonical(elem(x), lookup).isNull())
        rej = F.exists(parts, lambda x: _case_only(x, elem(x), _canonical(elem(x), lookup), rejected)[0])
        tol = F.exists(parts, lambda x: _case_only(x, elem(x), _canonical(elem(x), lookup), rejected)[1])
        return ([F.when(bad, error_struct("CODE_INVALID", name, raw, spec_named(spec_year))),
                 F.when(rej, error_struct("CODE_CASE", name, raw, "rejected, as DfE's validator does"))],
                [F.when(~rej & tol, error_struct("CODE_CASE", name, raw, "normalised"))])
    rule = _TYPE_RULES.get(c.type)
    if not rule:
        return [], []
    bad = F.exists(parts, lambda x: elem(x).isNotNull() & _typed_scalar(elem(x), c, date_format).isNull())
    return [F.when(bad, error_struct(rule, name, raw))], []


def _code_checks(c: ColumnSpec, raw: Column, v: Column, canon: Column, typed: Column, spec_year: int | None = None,
                 rejected: frozenset[str] = frozenset()):
    """A coded column: CODE_INVALID, CODE_CASE (an error for the kinds of difference in
    ``rejected``, ``case`` and/or ``padding``; a flag otherwise)."""
    if c.from_table is not None:
        return [], []
    name = c.name
    rej, tol = _case_only(raw, v, canon, rejected)
    return ([F.when(v.isNotNull() & typed.isNull(), error_struct("CODE_INVALID", name, raw, spec_named(spec_year))),
             F.when(rej, error_struct("CODE_CASE", name, raw, "rejected, as DfE's validator does"))],
            [F.when(tol, error_struct("CODE_CASE", name, raw, "normalised"))])


def _case_only(raw: Column, v: Column, canon: Column, rejected: frozenset[str]) -> tuple[Column, Column]:
    """(rejected, tolerated) for a value ``raw`` (``v`` trimmed) whose code is ``canon``: only case or
    padding differs from the code, rejected where the collection says so (conf/rules.yaml CODE_CASE
    rejected: ``case``, ``padding``), tolerated and reported otherwise."""
    case_only = canon.isNotNull() & (raw != canon) & (F.upper(v) == F.upper(canon))
    reject = F.lit(False)
    if "case" in rejected:
        reject = reject | (v != canon)
    if "padding" in rejected:
        reject = reject | (raw != v)
    return case_only & reject, case_only & ~reject


def _scalar_checks(c: ColumnSpec, raw: Column, v: Column, typed: Column, date_format: str | None,
                   pattern_rule: str | None):
    """A date, number, boolean or free string (with its ``pattern``, if any)."""
    name, checked = c.name, c.from_table is None
    errors: list = []
    rule = _TYPE_RULES.get(c.type)
    if rule and checked and c.type in ("date", "datetime"):
        errors += _date_errors(c, raw, v, typed, date_format)
    elif rule and checked:
        errors.append(F.when(v.isNotNull() & typed.isNull(), error_struct(rule, name, raw)))
    if c.pattern and pattern_rule and checked and c.type == "string":
        errors.append(F.when(v.isNotNull() & ~v.rlike(f"^(?:{c.pattern})$"),
                             error_struct(pattern_rule, name, raw, f"expected pattern {c.pattern}")))
    return errors, []


def _date_hint(c: ColumnSpec, date_format: str | None) -> str:
    if c.type not in ("date", "datetime"):
        return ""
    fmt = c.date_format or date_format or "%Y-%m-%d"
    return "expected " + fmt.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD")


CONFORM_SIDE_COLUMNS = ("_errors", "_flags", "_record", "_nulled")


def conform_year(df, table: TableSchema, date_format: str | None, all_columns: list[str],
                 pattern_rule: str | None = "CODE_INVALID", event_dates: tuple[str, ...] = (),
                 spec_year: int | None = None, collection: str | None = None, columns: list[str] | None = None):
    """Typed columns + ``_errors`` + ``_flags`` + ``_nulled`` for bronze rows of one schema year.

    ``all_columns`` are the silver columns of every year: those this year lacks are
    null (typed by the caller's union). The original strings are kept as
    ``_record`` (JSON) for quarantine. ``_nulled``: failures of cell-level columns
    (``cell_level``), whose values are null in the output while the row stays.
    ``event_dates``: date columns that are events of the return's year or earlier (the
    collection's ``year_evidence``), checked against ``_year`` + 1 (``after_return_year``);
    other dates may lie ahead (a UASC child's DUC is their 18th birthday).
    ``spec_year``: the specification year ``table`` is (named in CODE_INVALID messages).
    ``collection``: the return's collection, whose CODE_CASE decision applies.
    ``columns``: ``df``'s columns when the caller knows them (spares the engine a round trip).
    Returns ``df``'s lineage columns, the typed columns of ``all_columns`` this year has, then
    CONFORM_SIDE_COLUMNS.
    """
    columns = df.columns if columns is None else columns  # once: a round trip on Spark Connect
    has_year = "_year" in columns
    specs = [(i, table.columns[name]) for i, name in enumerate(all_columns) if name in table.columns]
    # each column's trimmed value, canonical code and typed value, a projection each (the block
    # comment above canonical_of: one expression per column took seconds to plan)
    trimmed = {s.name: f"__v{i}" for i, s in specs}
    canon = {s.name: f"__c{i}" for i, s in specs if _single_coded(s)}
    typed = {s.name: f"__t{i}" for i, s in specs}
    staged = (df.select("*", *[_blank_to_null(F.col(f"`{s.name}`")).alias(trimmed[s.name]) for _, s in specs])
              .select("*", *[canonical_of(s, F.col(trimmed[s.name])).alias(canon[s.name]) for _, s in specs
                             if s.name in canon])
              .select("*", *[typed_of(s, F.col(trimmed[s.name]), F.col(canon[s.name]) if s.name in canon else None,
                                      date_format).alias(typed[s.name]) for _, s in specs]))
    typed_cols = []
    errors: list = []
    flags: list = []
    nulled: list = []
    for _, spec in specs:
        name = spec.name
        value = F.col(typed[name])
        errs, flgs = checks_of(spec, F.col(f"`{name}`"), F.col(trimmed[name]), F.col(canon[name]) if name in canon else None,
                               value, date_format, pattern_rule, spec_year, collection)
        if has_year and name in event_dates:
            errs = errs + after_return_year(spec, value)
        if errs and cell_level(spec, table.keys):
            # A bad value here costs the cell, not the row: null, flagged with what it was.
            bad = F.lit(False)
            for e in errs:
                bad = bad | e.isNotNull()
            value = F.when(~bad, value)
            nulled += errs
        else:
            errors += errs
        typed_cols.append(value.alias(name))
        flags += flgs
    record = F.to_json(F.struct(*[F.col(f"`{c}`") for c in table.columns if c in columns]))
    lineage = [c for c in columns if c.startswith("_")]
    empty = F.array().cast(ERROR_TYPE)
    err_arr = F.filter(F.array(*errors), lambda x: x.isNotNull()) if errors else empty
    flag_arr = F.filter(F.array(*flags), lambda x: x.isNotNull()) if flags else empty
    null_arr = F.filter(F.array(*nulled), lambda x: x.isNotNull()) if nulled else empty
    side = dict(zip(CONFORM_SIDE_COLUMNS, (err_arr.cast(ERROR_TYPE), flag_arr.cast(ERROR_TYPE), record,
                                           null_arr.cast(ERROR_TYPE))))
    return staged.select(*[F.col(c) for c in lineage], *typed_cols, *[v.alias(k) for k, v in side.items()])


def after_return_year(spec: ColumnSpec, typed: Column) -> list:
    """DATE_IMPLAUSIBLE for a date in a calendar year after the one following the return's year
    (``_year``): a 2024 return cannot hold a 2026 date."""
    if spec.type not in ("date", "datetime") or spec.repeatable or spec.from_table is not None:
        return []
    late = typed.isNotNull() & F.col("_year").isNotNull() & (F.year(typed) > F.col("_year") + 1)
    return [F.when(late, error_struct("DATE_IMPLAUSIBLE", spec.name, F.col(f"`{spec.name}`"),
                                      "after the year following the return's"))]


def cell_level(spec: ColumnSpec, keys: list[str] | tuple[str, ...]) -> bool:
    """True for a column whose bad value is nulled and flagged (the row kept): not part of the key,
    not mandatory, not an identifier (ids and dates of birth link the child: a bad one rejects the row)."""
    return not (spec.name in keys or spec.mandatory or spec.identifier or spec.from_table is not None)
