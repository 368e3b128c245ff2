"""The serving database: gold in PostgreSQL, where BI tools reach it with their stock connectors
(Power BI's and Tableau's PostgreSQL connectors, Excel through ODBC, any JDBC client, psql).

    cslake serve start --dir .cslake-pg --port 5433      # a local server on loopback (or use your own)
    export CSLAKE_PG_DSN="host=$PWD/.cslake-pg port=5433 dbname=postgres user=postgres"
    cslake serve publish --restricted --research research  # gold → schema gold (+ gold_restricted, research)

Schemas and who reads them, enforced by the database (:mod:`cslake.serve.roles`):

- ``gold``: the published tables (after disclosure control), typed: a suppressed measure is a
  number column (NULL where suppressed) beside ``<column>_status`` (``c`` suppressed,
  ``z`` not applicable, ``x`` not available: the DfE symbols); read by ``cslake_public`` and every LA role;
- ``gold_restricted``: the unsuppressed and child-level tables; an LA role (``cslake_la_<code>``,
  one per LA of conf/la_codes.csv) reads only its own LA's rows (row-level security);
  ``cslake_public`` and ``cslake_research`` read nothing there;
- ``research``: the k-anonymous research extract (``cslake publish research``), read by
  ``cslake_research`` only;
- ``cslake_meta``: what was loaded from which Delta version (admin), and which role is which LA.

Each table also has a view with a friendly name (``gold."RIIA indicators"``), created with
``security_invoker`` so that row-level security applies to whoever reads through it.

``cslake_admin`` owns and loads everything. The roles are groups (NOLOGIN): a DBA gives each
person a login role that is a member of one (``CREATE ROLE alice LOGIN PASSWORD … IN ROLE
cslake_la_202``). The connection comes from ``$CSLAKE_PG_DSN`` or the file named by
``$CSLAKE_PG_DSN_FILE`` (libpq's ``PGPASSWORD``/``~/.pgpass`` for the password), never the repo.

Reloads are atomic and incremental (:mod:`cslake.serve.load`): a table whose Delta version did not
change since the last load is skipped; the changed ones are loaded into new tables beside the old
and swapped in with one transaction, so a reader sees the old set or the new, never half.
"""

from cslake.serve.db import connect, dsn_from_env
from cslake.serve.load import ServeReport, serve_publish
from cslake.serve.local import LocalServer, start_local, stop_local

__all__ = ["LocalServer", "ServeReport", "connect", "dsn_from_env", "serve_publish", "start_local", "stop_local"]
