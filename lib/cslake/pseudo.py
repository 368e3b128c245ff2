"""Pseudonymisation: direct identifiers become keyed hashes on the way into silver.

    key_status()                       # raises MissingHashKey with what to set
    hash_column(col, "upn")            # Spark Column: HMAC-SHA256 hex of the normalised id
    date_hash_column(col, "dob")       # Spark Column: HMAC-SHA256 hex of the exact ISO date
    hmac_column(message_col)           # the keyed HMAC of a message built by the caller

The key (HMAC-SHA256) comes from ``$CSLAKE_HASH_KEY`` or from the file named by
``$CSLAKE_HASH_KEY_FILE``; it is never written to the lake, a log, a table or the
repository. Hashing runs in a pandas UDF that reads the key *on the worker when the
batch runs*, so the key is not in any query plan, literal or Spark conf. On a
cluster, give every executor the same key file (a mounted secret) and set
``CSLAKE_HASH_KEY_FILE`` in the executor environment; for the embedded engine the
driver's environment is the worker's.

What is hashed is ``<domain>\\x1f<normalised value>``: the identifier class is part
of the message, so a UPN and an LA child id with the same text never collide;
FormerUPN hashes in the UPN domain so a child's old UPN links to the UPN other
collections hold. LA-scoped ids (LA child id, the LA's social-worker id, Annex A
family/adopter ids) carry the LA code inside the message: ``202:12345``.

Dates of birth are kept twice in silver: degraded to the first of the month (the
quasi-identifier everyone may see) and, for linkage, as a keyed hash of the exact date
(``dob\x1f2015-06-23``: its own hash domain, so the same date gives the same hash in
every collection, year and LA, and never equals the hash of an id with that text).
The exact date itself is never kept.

Degraders (quasi-identifiers): dates of birth/death to the first of the month,
postcodes to sector (``AB1 2``) and district (``AB1``); names and free text dropped.

For a demo, ``demo_key_file(lake_root)`` creates a random per-lake key file in
``~/.config/cslake/keys/`` (mode 600, outside the lake) and returns its path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from cslake.stages import StageError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame

KEY_ENV = "CSLAKE_HASH_KEY"
KEY_FILE_ENV = "CSLAKE_HASH_KEY_FILE"
SEP = "\x1f"
MIN_KEY_BYTES = 16

# Identifier class -> hash domain. Classes in one domain link to each other.
HASH_DOMAINS = {
    "upn": "upn",
    "former_upn": "upn",
    "la_child_id": "la_child_id",
    "swe_no": "swe_no",
    "sw_id": "sw_id",
    "uln": "uln",
    "adopter_id": "adopter_id",
    "family_id": "family_id",
    "partner_person_id": "partner_person_id",
}
# Ids that are unique only within the LA that issued them.
LA_SCOPED = {"la_child_id", "sw_id", "adopter_id", "family_id"}
DROP_CLASSES = {"name", "free_text"}
DATE_DEGRADE_CLASSES = {"dob", "death_date"}
# Date classes whose exact date is also kept, as a keyed hash (class -> hash domain).
# Other degraded dates (death_date) are kept to the month only.
DATE_HASH_DOMAINS = {"dob": "dob"}
POSTCODE_CLASSES = {"postcode"}

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


class MissingHashKey(RuntimeError):
    pass


def _read_key() -> bytes:
    """The key, from the environment or the key file; raises MissingHashKey (never logs it)."""
    value = os.environ.get(KEY_ENV)
    if value:
        return _checked_key(value.encode("utf-8"), KEY_ENV)
    path = os.environ.get(KEY_FILE_ENV)
    if not path:
        raise MissingHashKey(
            f"no pseudonymisation key: set {KEY_ENV} (a secret string) or {KEY_FILE_ENV} (path to a file "
            f"holding it, kept outside the lake, mode 600). Every run over the same lake must use the same key."
        )
    return read_key_file(path, f"{KEY_FILE_ENV}={path}")


def read_key_file(path: str | os.PathLike[str], name: str | None = None) -> bytes:
    """The key held in the file ``path`` (``name`` says where it came from in messages)."""
    name = name or str(path)
    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingHashKey(f"{name}: no such file (the pseudonymisation key file)")
    return _checked_key(p.read_bytes().strip(), name)


def _checked_key(key: bytes, name: str) -> bytes:
    if not key:
        raise MissingHashKey(f"{name}: the key is empty")
    if len(key) < MIN_KEY_BYTES:
        raise MissingHashKey(f"the pseudonymisation key is too short ({len(key)} bytes; at least {MIN_KEY_BYTES})")
    return key


def key_status() -> str:
    """Check a key is available (driver side, before any work); returns where it comes from."""
    _read_key()
    return KEY_ENV if os.environ.get(KEY_ENV) else f"{KEY_FILE_ENV} ({os.environ[KEY_FILE_ENV]})"


def key_fingerprint(key: bytes | None = None) -> str:
    """A short, non-reversible id of a key (default: the one in use), an HMAC of a constant: lets a
    build refuse to mix hashes made with two keys without storing anything about the key."""
    return hmac.new(key if key is not None else _read_key(), b"cslake key fingerprint",
                    hashlib.sha256).hexdigest()[:12]


# --- one key per lake ---------------------------------------------------------------------

#: At the lake root: the fingerprint of the key the lake was built with (never the key).
LAKE_KEY_FILE = "_cslake_key.json"


class KeyMismatchError(StageError):
    """A run with a key other than the lake's (one line, exit code 3: the environment)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=3)


FINGERPRINT_OF = "HMAC-SHA256(key, 'cslake key fingerprint'), first 12 hex digits"


def lake_key_record(root: str | os.PathLike[str]) -> dict | None:
    """The lake's key record (:data:`LAKE_KEY_FILE`), or None before the first write."""
    from cslake import storage

    loc = key_record_location(root)
    if not storage.exists(loc):
        return None
    try:
        return json.loads(storage.read_bytes(loc))
    except ValueError:
        return {}


def _write_lake_key_record(root: str | os.PathLike[str], entry: dict) -> None:
    from cslake import storage

    storage.write_bytes(key_record_location(root), json.dumps(entry, indent=1).encode())


def key_record_location(root: str | os.PathLike[str]) -> str:
    from cslake import storage

    return storage.join(str(root), LAKE_KEY_FILE)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_lake_key(root: str | os.PathLike[str], record: bool = True) -> str:
    """Refuse a key other than the one the lake at ``root`` was built with; record it on the first run
    (a writer's: ``record=False`` for a reader, which only checks a recorded fingerprint).

    The lake keeps ``key_fingerprint()`` (an HMAC of a fixed label under the key: it identifies
    the key without revealing it) in :data:`LAKE_KEY_FILE`. Silver hashed under another key would
    quietly split every child in two (new hashes in silver, old ones in the spine, gold, the
    extract and the models), so a mismatch stops the run before anything is written; so does a
    key rotation left unfinished (:func:`begin_key_rotation`), whichever key is in use: until it
    ends, the lake holds hashes under both. Returns the fingerprint."""
    fp = key_fingerprint()
    entry = lake_key_record(root)
    if entry is not None:
        recorded = entry.get("fingerprint")
        if entry.get("rotating_to"):
            raise KeyMismatchError(
                f"a key rotation of this lake (fingerprint {recorded} to {entry['rotating_to']}) is unfinished: "
                f"run `cslake rotate-key` again with the new key to finish it before anything else")
        if recorded != fp:
            raise KeyMismatchError(
                f"the pseudonymisation key in use (fingerprint {fp}) is not this lake's key (fingerprint "
                f"{recorded}, in {key_record_location(root)}): every run over a lake must use the key it was built with")
        return fp
    if record:
        from cslake import storage

        first = {"fingerprint": fp, "of": FINGERPRINT_OF, "recorded_at": _now()}
        if not storage.write_bytes_once(key_record_location(root), json.dumps(first, indent=1).encode()):
            return check_lake_key(root, record)  # another run recorded a key meanwhile: check against it
    return fp


def begin_key_rotation(root: str | os.PathLike[str], old_key: bytes | None) -> tuple[str, str]:
    """Start (or resume) re-pseudonymising the lake at ``root`` under the key in use, proving with
    ``old_key`` that the caller holds the lake's present key. Returns (old, new) fingerprints.

    From here until :func:`end_key_rotation`, the record says ``rotating_to`` and every other run
    refuses (:func:`check_lake_key`), so a half-rotated lake is never built on or read as whole.
    A rotation stopped half-way is resumed with the new key alone (the record holds its fingerprint)."""
    new = key_fingerprint()
    entry = lake_key_record(root)
    if not entry or not entry.get("fingerprint"):
        raise KeyMismatchError(f"{root} has no key record: there is nothing to rotate (build the lake first)")
    old = entry["fingerprint"]
    if entry.get("rotating_to") == new:
        return old, new  # resuming the same rotation
    if entry.get("rotating_to"):
        raise KeyMismatchError(
            f"this lake is being rotated to another key (fingerprint {entry['rotating_to']}, the key in use is "
            f"{new}): finish that rotation with its key first")
    if old == new:
        raise StageError(f"the key in use is already this lake's key (fingerprint {new}): set the NEW key in "
                         f"{KEY_ENV} or {KEY_FILE_ENV}, and give the present one with --old-key-file")
    if old_key is None or key_fingerprint(old_key) != old:
        given = "none given" if old_key is None else f"fingerprint {key_fingerprint(old_key)}"
        raise KeyMismatchError(f"--old-key-file must hold this lake's present key (fingerprint {old}; {given})")
    _write_lake_key_record(root, {**entry, "rotating_to": new, "rotation_started_at": _now()})
    return old, new


def end_key_rotation(root: str | os.PathLike[str]) -> None:
    """Record the key in use as the lake's key, once everything hashed has been rebuilt under it."""
    entry = lake_key_record(root) or {}
    new = key_fingerprint()
    if entry.get("rotating_to") != new:
        raise KeyMismatchError(f"no rotation to the key in use (fingerprint {new}) is under way")
    _write_lake_key_record(root, {"fingerprint": new, "of": FINGERPRINT_OF, "recorded_at": _now(),
                                  "previous": entry.get("fingerprint")})


def hmac_hex(message: str, key: bytes | None = None) -> str:
    return hmac.new(key if key is not None else _read_key(), message.encode("utf-8"), hashlib.sha256).hexdigest()


def message(cls: str, normalised: str) -> str:
    return f"{HASH_DOMAINS[cls]}{SEP}{normalised}"


def normalise(cls: str, value: str | None, la: str | None = None) -> str | None:
    """Python twin of ``normalised_column`` (tests and small lookups)."""
    if value is None:
        return None
    text = "".join(str(value).split())
    if not text:
        return None
    if cls in ("upn", "former_upn"):
        from cslake.upn import is_valid_upn

        text = text.upper()
        return text if is_valid_upn(text) else None
    if cls == "swe_no":
        return text.upper()
    if cls == "uln":
        digits = "".join(ch for ch in text if ch.isdigit())
        return digits or None
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if cls in LA_SCOPED:
        if not la:
            return None
        return f"{la}:{text}"
    return text


def hash_value(cls: str, value: str | None, la: str | None = None, key: bytes | None = None) -> str | None:
    norm = normalise(cls, value, la)
    return None if norm is None else hmac_hex(message(cls, norm), key)


def iso_date(value) -> str | None:
    """A date (``date``, ``datetime``, pandas Timestamp or ISO text) as ``YYYY-MM-DD``, or None."""
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return dt.date.fromisoformat(text[:10]).isoformat()
    try:  # pandas NaT / numpy NaN are "no date"
        if value != value:
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, dt.datetime):  # pandas Timestamps too
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not a date: {value!r}")


def date_hash_value(value, cls: str = "dob", key: bytes | None = None) -> str | None:
    """Python twin of ``date_hash_column`` (tests and small lookups): the keyed hash of the exact date."""
    if cls not in DATE_HASH_DOMAINS:
        raise ValueError(f"date class {cls!r} is not hashed (known: {', '.join(DATE_HASH_DOMAINS)})")
    iso = iso_date(value)
    return None if iso is None else hmac_hex(f"{DATE_HASH_DOMAINS[cls]}{SEP}{iso}", key)


# ---------------------------------------------------------------------------
# Spark side
# ---------------------------------------------------------------------------

def _hmac_series(messages):
    """pandas UDF body: the key is read here, on the worker, per batch."""
    import pandas as pd

    key = _read_key()
    out = [None if m is None else hmac.new(key, m.encode("utf-8"), hashlib.sha256).hexdigest()
           for m in messages.tolist()]
    return pd.Series(out, dtype=object)


_udf = None


def _hmac_udf():
    global _udf
    if _udf is None:
        from pyspark.sql import functions as F

        _udf = F.pandas_udf(_hmac_series, "string")
    return _udf


def upn_valid_column(col: "Column") -> "Column":
    """True when ``col`` (already upper-cased, spaces removed) is a well-formed UPN whose
    check letter is right; DfE algorithm as Spark arithmetic (cslake.upn is the reference)."""
    from pyspark.sql import functions as F

    def value_at(pos: int) -> "Column":
        ch = F.substring(col, pos, 1)
        if pos < 13:
            return ch.try_cast("int")
        # Position 13 may be a letter (temporary UPN): its index in the check letters.
        return F.when(ch.rlike("^[0-9]$"), ch.try_cast("int")).otherwise(F.instr(F.lit(UPN_LETTERS), ch) - 1)

    total = sum(value_at(i) * i for i in range(2, 14))
    expected = F.substring(F.lit(UPN_LETTERS), (total % 23 + 1).cast("int"), 1)
    shape = col.rlike(f"^[{UPN_LETTERS}][0-9]{{11}}[0-9{UPN_LETTERS}]$")
    return F.when(shape, F.substring(col, 1, 1) == expected).otherwise(F.lit(False))


def normalised_column(col: "Column", cls: str, la_col: "Column | None" = None) -> "Column":
    """The identifier as it is hashed (null when blank, or for a UPN that is not valid)."""
    from pyspark.sql import functions as F

    text = F.regexp_replace(col.cast("string"), r"\s+", "")
    text = F.when(text == "", F.lit(None)).otherwise(text)
    if cls in ("upn", "former_upn"):
        up = F.upper(text)
        return F.when(upn_valid_column(up), up)
    if cls == "swe_no":
        return F.upper(text)
    if cls == "uln":
        digits = F.regexp_replace(text, r"[^0-9]", "")
        return F.when(digits != "", digits)
    text = F.regexp_replace(text, r"^([0-9]+)\.0$", "$1")
    if cls in LA_SCOPED:
        if la_col is None:
            raise ValueError(f"identifier class {cls} is unique only within an LA: give la_col")
        return F.when(la_col.isNotNull() & text.isNotNull(), F.concat(la_col, F.lit(":"), text))
    return text


def hmac_column(message_col: "Column") -> "Column":
    """HMAC-SHA256 (hex) of an already-built message column, with the lake's key; null stays
    null. The one way into the keyed hash on the Spark side: the key is read by the UDF on
    the worker, so it is in no query plan. Callers put their domain in the message."""
    return _hmac_udf()(message_col)


def hash_column(col: "Column", cls: str, la_col: "Column | None" = None) -> "Column":
    """HMAC-SHA256 (hex) of the normalised identifier, or null."""
    from pyspark.sql import functions as F

    if cls not in HASH_DOMAINS:
        raise ValueError(f"identifier class {cls!r} is not hashed (known: {', '.join(HASH_DOMAINS)})")
    norm = normalised_column(col, cls, la_col)
    msg = F.when(norm.isNotNull(), F.concat(F.lit(HASH_DOMAINS[cls] + SEP), norm))
    return hmac_column(msg)


def date_hash_column(col: "Column", cls: str = "dob") -> "Column":
    """HMAC-SHA256 (hex) of the exact date (``YYYY-MM-DD``) in the class's hash domain, or null.
    ``col`` is a date (or a timestamp / ISO text, cast to a date)."""
    from pyspark.sql import functions as F

    if cls not in DATE_HASH_DOMAINS:
        raise ValueError(f"date class {cls!r} is not hashed (known: {', '.join(DATE_HASH_DOMAINS)})")
    iso = col.cast("date").cast("string")
    msg = F.when(iso.isNotNull(), F.concat(F.lit(DATE_HASH_DOMAINS[cls] + SEP), iso))
    return hmac_column(msg)


def month_column(col: "Column") -> "Column":
    """A date degraded to the first of its month."""
    from pyspark.sql import functions as F

    return F.trunc(col, "month")


def _postcode_parts(col: "Column"):
    from pyspark.sql import functions as F

    pc = F.upper(F.regexp_replace(col.cast("string"), r"\s+", ""))
    # Inward code is always digit + two letters; the rest is the outward code.
    ok = pc.rlike(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
    outward = F.when(ok, F.regexp_extract(pc, r"^(.+)([0-9][A-Z]{2})$", 1))
    inward_digit = F.when(ok, F.regexp_extract(pc, r"([0-9])[A-Z]{2}$", 1))
    return pc, ok, outward, inward_digit


def postcode_district(col: "Column") -> "Column":
    """Outward code (``AB1``), or null when the value is not a postcode."""
    return _postcode_parts(col)[2]


def postcode_sector(col: "Column") -> "Column":
    """Sector (``AB1 2``), or null when the value is not a postcode."""
    from pyspark.sql import functions as F

    _, ok, outward, digit = _postcode_parts(col)
    return F.when(ok, F.concat(outward, F.lit(" "), digit))


def postcode_key(col: "Column") -> "Column":
    """Postcode without spaces, upper case: the join key into a postcode lookup."""
    from pyspark.sql import functions as F

    return F.upper(F.regexp_replace(col.cast("string"), r"\s+", ""))


# ---------------------------------------------------------------------------
# Demo keys
# ---------------------------------------------------------------------------

def demo_key_file(lake_root: str | Path, base: str | Path | None = None) -> Path:
    """A random key for one demo lake, kept outside it (``~/.config/cslake/keys``, mode 600).

    The file name is derived from the lake path, so the same lake gets the same key
    on every run. Refuses a key directory inside the lake.
    """
    lake_root = Path(lake_root).expanduser().resolve()
    folder = Path(base).expanduser().resolve() if base else Path.home() / ".config" / "cslake" / "keys"
    if folder == lake_root or lake_root in folder.parents:
        raise ValueError(f"key folder {folder} is inside the lake {lake_root}: keys must live outside it")
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    name = hashlib.sha256(str(lake_root).encode()).hexdigest()[:16] + ".key"
    path = folder / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path
