"""Connecting to the serving database: the connection string comes from the environment or a file,
never from the repository or the lake; the password from libpq's own ``PGPASSWORD`` /
``~/.pgpass`` / ``PGPASSFILE`` when the string holds none.

    $CSLAKE_PG_DSN        "host=db.example port=5432 dbname=cslake user=cslake_loader"
                          or postgresql://cslake_loader@db.example/cslake
    $CSLAKE_PG_DSN_FILE   a file holding that string (mode 600), e.g. from a secret store
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cslake.stages import CONFIG, StageError

DSN_ENV = "CSLAKE_PG_DSN"
DSN_FILE_ENV = "CSLAKE_PG_DSN_FILE"


def dsn_from_env(dsn: str | None = None) -> str:
    """The connection string: ``dsn`` if given, else ``$CSLAKE_PG_DSN``, else the file named by
    ``$CSLAKE_PG_DSN_FILE``; a configuration error saying what to set when there is none."""
    if dsn:
        return dsn
    if os.environ.get(DSN_ENV):
        return os.environ[DSN_ENV]
    path = os.environ.get(DSN_FILE_ENV)
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise StageError(f"{DSN_FILE_ENV}={path}: no such file (it should hold the database's connection "
                             "string)", CONFIG)
        text = p.read_text(encoding="utf-8").strip()
        if text:
            return text
        raise StageError(f"{DSN_FILE_ENV}={path}: the file is empty", CONFIG)
    raise StageError(f"no serving database configured: set {DSN_ENV} (e.g. \"host=127.0.0.1 port=5433 "
                     f"dbname=postgres user=postgres\") or {DSN_FILE_ENV}; `cslake serve start` runs a local one",
                     CONFIG)


def describe(dsn: str) -> str:
    """host:port/dbname of a connection string, for messages (never the password)."""
    # lazy: psycopg only when the serving database is used
    from psycopg.conninfo import conninfo_to_dict

    try:
        d = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - a malformed string is reported as such by connect()
        return "(unparsable connection string)"
    return f"{d.get('host', 'localhost')}:{d.get('port', 5432)}/{d.get('dbname', d.get('user', ''))}"


def connect(dsn: str | None = None, **kwargs: Any) -> Any:
    """A psycopg connection (autocommit off); a configuration error in one line when it fails."""
    # lazy: psycopg only when the serving database is used
    import psycopg

    dsn = dsn_from_env(dsn)
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.Error as exc:
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise StageError(f"cannot connect to the serving database {describe(dsn)}: {first}; check "
                         f"{DSN_ENV} (or start a local one with `cslake serve start`)", CONFIG) from None
