"""One writer at a time: the lake lock.

    with lake_lock(lake.root, "cslake land"):
        ...   # write the lake

The lock is a file at the lake root (:data:`LOCK_FILE`), hard-linked into place with its content
already written (one creator wins; ``O_CREAT | O_EXCL`` where there are no hard links) and holding its holder: pid,
host, command and start time. A second writer, finding it, refuses in one line naming the holder
(:class:`LakeLockedError`, a user error), or waits up to ``wait_s`` seconds for it to go
(default ``$CSLAKE_LOCK_WAIT``, else 0: refuse at once; a scheduler that starts land and silver
side by side sets it so the second waits its turn).

A lock whose holder is gone is stale and is taken over: on this host, when its pid is no longer
alive (``kill -9`` leaves the file behind); from another host, when it is older than
``stale_after_s`` (default a day; no pid can be asked across hosts). The holder removes the file
when it is done, only if the file is still its own. The same process may take the lock again
while it holds it (the demo runs the stages one after another in one process).

Object-store lakes (``s3a://``) have no atomic create-if-absent here: they are not locked, and
say so in the log.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from cslake.stages import StageError

log = logging.getLogger(__name__)

LOCK_FILE = "_cslake.lock"
WAIT_ENV = "CSLAKE_LOCK_WAIT"
STALE_AFTER_S = 24 * 3600

_held: dict[str, int] = {}  # lock path -> depth, in this process


class LakeLockedError(StageError):
    """Another writer holds the lake (one line, exit code 3: the environment, not the command)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=3)


def lock_path(root: Any) -> Path:
    return Path(str(root)) / LOCK_FILE


def read_holder(path: Path) -> dict | None:
    """The lock file's holder, None if there is no lock (or it is unreadable: being written)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(holder: dict, path: Path, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Whether a lock's holder is gone: a dead pid on this host, or older than ``stale_after_s``."""
    if holder.get("host") == socket.gethostname() and holder.get("pid"):
        return not pid_alive(int(holder["pid"]))
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    return age > stale_after_s


def _try_create(path: Path, holder: dict) -> bool:
    """Create the lock file with its holder already in it, or return False if it exists.

    The holder is written to a private file first and hard-linked into place (``link`` fails if
    the name exists), so no reader ever sees an empty lock: with a bare ``O_EXCL`` create the
    loser of a race could read the file between the winner's create and its write, and refuse
    naming no one. Where the file system has no hard links, ``O_EXCL`` is the fallback."""
    tmp = path.with_name(f"{path.name}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.write_text(json.dumps(holder))
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here (some network and FUSE file systems)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(holder, fh)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _take_over(path: Path, holder: dict) -> None:
    """Move a stale lock aside (a rename: of two takers, one moves it) and log whose it was."""
    aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return
    log.warning("lake lock: taking over a stale lock of %s (pid %s on %s, since %s)", holder.get("command"),
                holder.get("pid"), holder.get("host"), holder.get("since"))
    aside.unlink(missing_ok=True)


def describe(holder: dict, path: Path) -> str:
    return (f"the lake is locked by {holder.get('command') or 'another cslake command'} (pid {holder.get('pid')} "
            f"on {holder.get('host')}, since {holder.get('since')}); wait for it to finish, or remove {path} "
            f"if that process is gone")


def acquire(root: Any, command: str, wait_s: float | None = None, stale_after_s: float = STALE_AFTER_S) -> Path | None:
    """Take the lake's lock (see the module doc); returns its path, None for an object store."""
    if wait_s is None:
        try:
            wait_s = float(os.environ.get(WAIT_ENV) or 0)
        except ValueError:
            raise StageError(f"{WAIT_ENV} must be a number of seconds, not {os.environ.get(WAIT_ENV)!r}") from None
    if "://" in str(root):
        log.info("lake lock: %s is an object store, not locked", root)
        return None
    path = lock_path(root)
    key = str(path.resolve() if path.parent.exists() else path)
    if _held.get(key):
        _held[key] += 1
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
          "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    deadline = time.monotonic() + wait_s
    while not _try_create(path, me):
        holder = read_holder(path)
        if holder is None:
            continue  # released between our create and our read: try again
        if not holder and time.monotonic() < deadline + 2:
            time.sleep(0.05)  # unreadable: written by the O_EXCL fallback just now; read it again
            continue
        if holder and is_stale(holder, path, stale_after_s):
            _take_over(path, holder)
            continue
        if time.monotonic() >= deadline:
            raise LakeLockedError(describe(holder, path))
        time.sleep(0.5)
    _held[key] = 1
    return path


def release(path: Path | None) -> None:
    """Give the lock back (only a lock file still naming this process is removed)."""
    if path is None:
        return
    key = str(path.resolve() if path.parent.exists() else path)
    depth = _held.get(key, 0)
    if depth > 1:
        _held[key] = depth - 1
        return
    _held.pop(key, None)
    holder = read_holder(path)
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


@contextmanager
def lake_lock(root: Any, command: str, wait_s: float | None = None) -> Iterator[Path | None]:
    """Hold the lake's lock for the ``with`` block."""
    path = acquire(root, command, wait_s)
    try:
        yield path
    finally:
        release(path)
