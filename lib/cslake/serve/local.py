"""A local PostgreSQL server for the serving database on loopback: for a laptop, a demo and the
tests. Production points ``$CSLAKE_PG_DSN`` at an existing server instead (README "Serving").

    server = start_local(Path(".cslake-pg"), port=5433)   # initdb once, then pg_ctl start
    server.dsn        # "host=<dir> port=5433 dbname=postgres user=postgres" (the Unix socket)
    stop_local(Path(".cslake-pg"))

The cluster listens on 127.0.0.1 only, with password (SCRAM) authentication over TCP; the
superuser ``postgres`` connects through the Unix socket in the cluster's own folder (mode 700).
PostgreSQL refuses to run as root: under root the folder is handed to the ``postgres`` system
user and the server runs as that user. Binaries: ``$CSLAKE_PG_BIN``, else those on PATH, else
/usr/lib/postgresql/<newest>/bin (Debian's ``postgresql`` package).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cslake import preflight
from cslake.stages import CONFIG, StageError

HOST = "127.0.0.1"
SUPERUSER = "postgres"
BIN_ENV = "CSLAKE_PG_BIN"


@dataclass(frozen=True)
class LocalServer:
    data_dir: Path
    port: int
    host: str = HOST

    @property
    def dsn(self) -> str:
        """The superuser's connection string, through the cluster's Unix socket."""
        return f"host={self.data_dir} port={self.port} dbname=postgres user={SUPERUSER}"

    def tcp_dsn(self, user: str, password: str, dbname: str = "postgres") -> str:
        """A login role's connection string over TCP, as a BI tool would connect."""
        return f"host={self.host} port={self.port} dbname={dbname} user={user} password={password}"


def pg_bin(tool: str) -> str:
    """The path of a PostgreSQL server program (initdb, pg_ctl), or a configuration error."""
    folders = [os.environ.get(BIN_ENV, "")]
    found = shutil.which(tool, path=os.pathsep.join(f for f in folders if f)) if folders[0] else None
    found = found or shutil.which(tool)
    if not found:
        debian = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), key=lambda p: int(p.parts[-3]))
        found = str(debian[-1]) if debian else None
    if not found:
        raise StageError(f"PostgreSQL's {tool} is not installed: install the server (apt-get install postgresql) "
                         f"or set {BIN_ENV}, or point CSLAKE_PG_DSN at an existing server", CONFIG)
    return found


def _run_as() -> tuple[list[str], int | None, int | None]:
    """(command prefix, uid, gid) to run the server programs: as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        pw = pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise StageError("PostgreSQL will not run as root and there is no `postgres` system user: run as another "
                         "user, or install the postgresql package (it creates one)", CONFIG) from None
    return ["runuser", "-u", SUPERUSER, "--"], pw.pw_uid, pw.pw_gid


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-2:])
        hint = (f" (as root the server runs as the {SUPERUSER} user: the data folder's parents must be open to it, "
                "e.g. --dir /tmp/cslake-pg)") if args[:1] == ["runuser"] and "ermission denied" in tail else ""
        raise StageError(f"{what} failed: {tail}{hint}", CONFIG)


def start_local(data_dir: Path | str, port: int = 5433, host: str = HOST) -> LocalServer:
    """Initialise the cluster in ``data_dir`` if new, and start it on ``host:port`` (waits until it
    accepts connections). Refuses a port already in use, in one line."""
    data_dir = Path(data_dir).expanduser().resolve()
    server = LocalServer(data_dir, port, host)
    preflight.check_port_free(host, port)
    prefix, uid, gid = _run_as()
    data_dir.mkdir(parents=True, exist_ok=True)
    if uid is not None:
        os.chown(data_dir, uid, gid)
    os.chmod(data_dir, 0o700)
    if not (data_dir / "PG_VERSION").exists():
        _run([*prefix, pg_bin("initdb"), "-D", str(data_dir), "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
              "--auth-local=trust", "--auth-host=scram-sha-256"], "initdb")
    opts = f"-c listen_addresses={host} -p {port} -c unix_socket_directories={data_dir}"
    _run([*prefix, pg_bin("pg_ctl"), "-D", str(data_dir), "-l", str(data_dir / "server.log"), "-o", opts,
          "-w", "-t", "60", "start"], f"starting PostgreSQL on {host}:{port}")
    return server


def stop_local(data_dir: Path | str) -> None:
    """Stop the local cluster in ``data_dir`` (fast shutdown); nothing if it is not running."""
    data_dir = Path(data_dir).expanduser().resolve()
    if not (data_dir / "postmaster.pid").exists():
        return
    prefix, _, _ = _run_as()
    _run([*prefix, pg_bin("pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"], "stopping PostgreSQL")
