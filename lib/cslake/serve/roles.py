"""The four ways of sharing as PostgreSQL roles (MISSION "Four ways the data is shared"), so the
database, not the tools, enforces who reads what:

- ``cslake_public``: the published schema only (suppressed aggregates);
- ``cslake_la_<code>`` (one per LA of conf/la_codes.csv, each a member of ``cslake_la``): the
  published schema, plus its own LA's rows of the restricted tables that have an LA column,
  through row-level security; restricted tables without an LA column are admin-only;
- ``cslake_research``: the k-anonymous research extract only;
- ``cslake_admin``: owns every schema and table, and loads them.

All are group roles (NOLOGIN). People log in as their own roles, made members by a DBA.
"""

from __future__ import annotations

from typing import Any, Iterable

ADMIN, PUBLIC, RESEARCH, LA_GROUP = "cslake_admin", "cslake_public", "cslake_research", "cslake_la"
META = "cslake_meta"
LA_ROLES_TABLE = "la_roles"


def la_role(code: str) -> str:
    return f"{LA_GROUP}_{code}"


def _create_role(cur: Any, name: str) -> bool:
    from psycopg import sql

    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
    if cur.fetchone():
        return False
    cur.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    return True


def ensure_roles(cur: Any, la_codes: Iterable[str], dbname: str) -> list[str]:
    """Create the group roles that do not exist yet, the meta schema and the LA → role table;
    returns the roles created. Needs a superuser or CREATEROLE (run once by a DBA otherwise)."""
    from psycopg import sql

    codes = sorted(set(la_codes))
    created = [r for r in (ADMIN, PUBLIC, RESEARCH, LA_GROUP) if _create_role(cur, r)]
    for code in codes:
        if _create_role(cur, la_role(code)):
            created.append(la_role(code))
        cur.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(LA_GROUP), sql.Identifier(la_role(code))))
    cur.execute(sql.SQL("GRANT CREATE, CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname),
                                                                             sql.Identifier(ADMIN)))
    for r in (PUBLIC, RESEARCH, LA_GROUP):
        cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(r)))
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(sql.Identifier(META),
                                                                                 sql.Identifier(ADMIN)))
    cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} (la text PRIMARY KEY, role_name text NOT NULL)").format(
        sql.Identifier(META), sql.Identifier(LA_ROLES_TABLE)))
    cur.execute(sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(sql.Identifier(META), sql.Identifier(LA_ROLES_TABLE),
                                                               sql.Identifier(ADMIN)))
    for code in codes:
        cur.execute(sql.SQL("INSERT INTO {}.{} VALUES (%s, %s) ON CONFLICT (la) DO UPDATE SET role_name = "
                            "EXCLUDED.role_name").format(sql.Identifier(META), sql.Identifier(LA_ROLES_TABLE)),
                    (code, la_role(code)))
    cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(META), sql.Identifier(LA_GROUP)))
    cur.execute(sql.SQL("GRANT SELECT ON {}.{} TO {}").format(sql.Identifier(META), sql.Identifier(LA_ROLES_TABLE),
                                                              sql.Identifier(LA_GROUP)))
    return created


def readers(kind: str) -> tuple[str, ...]:
    """Who may read a schema of this kind (published, restricted, research)."""
    return {"published": (PUBLIC, LA_GROUP), "restricted": (LA_GROUP,), "research": (RESEARCH,)}[kind]


def grant_schema(cur: Any, schema: str, kind: str) -> None:
    from psycopg import sql

    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(sql.Identifier(schema),
                                                                                 sql.Identifier(ADMIN)))
    cur.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(sql.Identifier(schema)))
    for r in readers(kind):
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), sql.Identifier(r)))


def secure_table(cur: Any, schema: str, table: str, kind: str, la_col: str | None) -> None:
    """Grants (and, on restricted tables, row-level security by LA) for a freshly loaded table."""
    from psycopg import sql

    ident = sql.Identifier(schema, table)
    if kind != "restricted":
        for r in readers(kind):
            cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(ident, sql.Identifier(r)))
        return
    if la_col is None:
        return  # no LA column: not an LA's rows to share; admin only
    cur.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(ident))
    cur.execute(sql.SQL(
        "CREATE POLICY own_la_rows ON {t} FOR SELECT TO {g} USING ({c} IN (SELECT r.la FROM {m} r "
        "WHERE pg_has_role(current_user, r.role_name, 'MEMBER')))").format(
        t=ident, g=sql.Identifier(LA_GROUP), c=sql.Identifier(la_col), m=sql.Identifier(META, LA_ROLES_TABLE)))
    cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(ident, sql.Identifier(LA_GROUP)))
