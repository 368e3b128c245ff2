"""What links records: deterministic keys and demographic signatures, as column expressions.

A record holds a **key** for each identifier it carries (``u:`` UPN or former UPN, ``c:`` LA
child id, ``l:`` ULN; the LA child id's hash already carries the LA) and a **signature** for each
demographic pass whose fields it has in full (``d1|la|dob hash|sex|...``). The full build links on
them (cslake.linkage.build); the incremental build follows them to find every record a change can
reach (cslake.linkage.incremental). One definition serves both, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import functions as F

KEY_PREFIX = {"upn": "u:", "former_upn": "u:", "la_child_id": "c:", "uln": "l:"}
# The record column that feeds each deterministic rule.
RULE_COLUMNS = [("upn", "upn"), ("upn", "upn_other"), ("former_upn", "former_upn"),
                ("la_child_id", "la_child_id"), ("uln", "uln")]


def _union(parts):
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def key_edges(records):
    """(member, key, rule) for every deterministic identifier a record carries (pure)."""
    parts = [records.filter(F.col(col).isNotNull())
             .select(F.col("rec_id").alias("member"), F.concat(F.lit(KEY_PREFIX[rule]), F.col(col)).alias("key"),
                     F.lit(rule).alias("rule"))
             for rule, col in RULE_COLUMNS]
    return _union(parts).dropDuplicates(["member", "key", "rule"])


def complete(fields: list[str]):
    """The record has every field of a demographic pass (a partial agreement links nothing)."""
    out = F.lit(True)
    for f in fields:
        out = out & F.col(f).isNotNull()
    return out


def signature(i: int, fields: list[str]):
    """The record's signature in demographic pass ``i`` (1-based): meaningful only where ``complete``."""
    return F.concat_ws("|", F.lit(f"d{i}"), *[F.col(f).cast("string") for f in fields])


def _domain(name: str) -> int:
    """A fixed 63-bit number per token domain (``u:``, ``c:``, ``l:``, ``d1``, ...), XORed into the
    value's hash so that one value in two domains (a UPN equal to an LA id) gives two tokens."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


def hash64(*cols):
    """A 64-bit hash of ``cols``: two 32-bit Murmur3 hashes (``hash``) side by side. Not
    ``xxhash64``: Sail 0.7 panics on it over a dictionary-encoded string column (measured on a
    Delta table's person_id: "Trying to access an element at index 1 from a StringArray of length
    1"); ``hash`` reads the same column."""
    high = F.hash(*cols).cast("long")
    low = F.hash(*cols, *cols).cast("long")
    return F.shiftleft(high, 32).bitwiseOR(low.bitwiseAND(F.lit(0xFFFFFFFF)))


def record_tokens(records, passes: list[list[str]]):
    """(rec_id, token): every key and complete signature each record holds, the token a 64-bit hash
    of the same parts as ``key_edges``' keys and ``signature`` (pure; a token twice when two of a
    record's columns give it). Two records sharing a token can be linked by it, or can make each
    other's agreement ambiguous. Hashed, not spelled out: the incremental build scans every record's
    tokens each round, and a collision only makes its set of records larger (still closed)."""
    parts = [records.filter(F.col(col).isNotNull())
             .select("rec_id", hash64(F.col(col)).bitwiseXOR(F.lit(_domain(KEY_PREFIX[rule]))).alias("token"))
             for rule, col in RULE_COLUMNS]
    parts += [records.filter(complete(fields))
              .select("rec_id", hash64(*[F.col(f) for f in fields]).bitwiseXOR(F.lit(_domain(f"d{i}")))
                      .alias("token"))
              for i, fields in enumerate(passes, start=1)]
    return _union(parts)
