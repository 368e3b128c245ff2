"""Read-only SQL for ``cslake sql``: a statement runs only if it can read and never write.

    check_read_only("select la, count(*) from bronze.files group by la")   # returns the statement
    check_read_only("delete from gold.ofsted")                             # raises ReadOnlyError

The decision is made on tokens, not on the raw text: comments (``--``, ``/* */``), string
literals ('…', "…", with backslash escapes and doubled quotes as Spark reads them) and
back-quoted identifiers are recognised first, so a keyword hidden in a comment or a string
neither passes nor blocks a statement, and ``/* */ delete`` is still a DELETE. Then:

- exactly one statement (a ``;`` followed by anything but comments and blanks is refused);
- its first keyword is one of :data:`READ_STATEMENTS` (SELECT, WITH, SHOW, DESCRIBE/DESC,
  EXPLAIN, VALUES, TABLE, FROM — Spark's ``FROM t SELECT …``);
- no word anywhere (outside strings and back-quoted names) is a writing keyword
  (:data:`WRITE_WORDS`: INSERT, DELETE, MERGE, OVERWRITE, DROP, …): Spark accepts
  ``WITH t AS (…) INSERT INTO …`` and ``FROM t INSERT …``, so the first word is not enough;
- no function that reaches outside SQL (``reflect``, ``java_method``: a static Java call).

A column that happens to be called like a writing keyword must be back-quoted
(``select `update` from …``): refusing too much is the safe side. Writes go through the stages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cslake.stages import StageError

READ_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "VALUES", "TABLE", "FROM"})

WRITE_WORDS = frozenset({
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "OVERWRITE", "TRUNCATE", "DROP", "CREATE", "ALTER",
    "RENAME", "LOAD", "COPY", "CLONE", "RESTORE", "VACUUM", "OPTIMIZE", "REORG", "GRANT", "REVOKE",
    "MSCK", "REPAIR", "CACHE", "UNCACHE", "REFRESH", "CALL", "EXECUTE", "EXEC", "SET", "RESET", "USE",
    "ADD", "IMPORT", "EXPORT", "UNSET", "CONVERT", "GENERATE", "LOCK", "UNLOCK", "DECLARE",
})  # not COMMENT: a lake column is called that (COMMENT ON … is refused as a first word anyway)

#: Functions that run code outside SQL (Spark's reflection into any static Java method).
UNSAFE_FUNCTIONS = frozenset({"REFLECT", "JAVA_METHOD", "TRY_REFLECT"})


class ReadOnlyError(StageError):
    """A statement ``cslake sql`` will not run (one line, exit code 2)."""


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, ident (back-quoted), symbol, semicolon
    text: str
    pos: int


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _skip_comment(sql: str, i: int) -> int:
    """The index after a comment starting at ``i`` (``i`` itself if none starts there)."""
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", i):
        depth, j = 1, i + 2
        while j < len(sql) and depth:  # Spark nests bracketed comments
            if sql.startswith("/*", j):
                depth, j = depth + 1, j + 2
            elif sql.startswith("*/", j):
                depth, j = depth - 1, j + 2
            else:
                j += 1
        if depth:
            raise ReadOnlyError("unterminated /* comment in the query")
        return j
    return i


def _quoted_end(sql: str, i: int) -> int:
    """The index after the quoted literal or identifier opening at ``i``."""
    quote, j = sql[i], i + 1
    while j < len(sql):
        c = sql[j]
        if c == "\\" and quote != "`":
            j += 2
            continue
        if c == quote:
            if j + 1 < len(sql) and sql[j + 1] == quote:  # a doubled quote stands for itself
                j += 2
                continue
            return j + 1
        j += 1
    raise ReadOnlyError(f"unterminated {quote} in the query")


def tokenize(sql: str) -> list[Token]:
    """The statement's tokens, comments dropped (strings and back-quoted names kept whole)."""
    out: list[Token] = []
    i = 0
    while i < len(sql):
        c = sql[i]
        nxt = _skip_comment(sql, i)
        if nxt != i:
            i = nxt
        elif c.isspace():
            i += 1
        elif c in "'\"`":
            j = _quoted_end(sql, i)
            out.append(Token("ident" if c == "`" else "string", sql[i:j], i))
            i = j
        elif c == ";":
            out.append(Token("semicolon", c, i))
            i += 1
        elif m := _WORD.match(sql, i):
            out.append(Token("word", m.group(0).upper(), i))
            i = m.end()
        else:
            out.append(Token("symbol", c, i))
            i += 1
    return out


def check_read_only(sql: str) -> str:
    """``sql`` without a trailing ``;`` if it is one read-only statement; else :class:`ReadOnlyError`."""
    tokens = tokenize(sql)
    while tokens and tokens[-1].kind == "semicolon":
        tokens.pop()
    if not tokens:
        raise ReadOnlyError("an empty query")
    if any(t.kind == "semicolon" for t in tokens):
        raise ReadOnlyError("one statement at a time: the query holds a ';' followed by another statement")
    first = tokens[0]
    if first.kind != "word" or first.text not in READ_STATEMENTS:
        raise ReadOnlyError(f"read-only: {first.text.split()[0][:20]} is not a query "
                            f"(allowed: SELECT, WITH, SHOW, DESCRIBE, EXPLAIN); writes go through the stages")
    for k, t in enumerate(tokens):
        if t.kind != "word":
            continue
        if t.text in WRITE_WORDS:
            raise ReadOnlyError(f"read-only: {t.text} at character {t.pos + 1} would write; "
                                f"writes go through the stages (cslake land / build …)")
        following = tokens[k + 1] if k + 1 < len(tokens) else None
        if t.text in UNSAFE_FUNCTIONS and following is not None and following.text == "(":
            raise ReadOnlyError(f"read-only: {t.text.lower()}() calls code outside SQL and is not allowed")
    last = tokens[-1]  # a word is upper-cased ASCII, the same length as in the source
    return sql[: last.pos + len(last.text)]


def run_query(lake, sql: str):
    """The DataFrame of a read-only statement over the lake's registered tables."""
    statement = check_read_only(sql)
    lake.register_all()
    return lake.spark.sql(statement)
