"""Checks a command makes before it starts an engine or writes anything, so that a user's mistake
(a lake path that does not exist, a lake that cannot be written, an empty drop zone, a bad
``--years``, a port in use, too few years to train on) ends in one plain line and its exit code
(:data:`cslake.stages.EXIT_CODES`) instead of a traceback minutes later.

Each raises :class:`~cslake.stages.StageError`; none starts an engine. Object-store locations
(``s3a://``) are checked for existence only: writability is the store's to refuse.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from cslake import storage
from cslake.config import ConfigError, parse_years
from cslake.stages import CONFIG, DATA, USAGE, StageError

#: What a drop zone looks like, for the messages.
DROP_ZONE_LAYOUT = "RAW/<LA>/<collection>/<year>/<files>"


def check_lake(root: str, *, write: bool = False, create: bool = False) -> None:
    """The lake at ``root`` exists (unless the command ``create``s it) and, for a command that
    writes, can be written: a probe file is created and removed at its root."""
    if not storage.exists(root):
        if not create:
            raise StageError(f"no lake at {root}: pass --lake (or set $CSLAKE_LAKE) to an existing lake, or build "
                             f"one with `cslake land RAW --lake {root}`", CONFIG)
    if storage.is_uri(root) or not (write or create):
        return
    path = Path(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".cslake-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        what = {errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
                errno.EPERM: "permission denied", errno.ENOSPC: "no space left on the device"}.get(
                    exc.errno or 0, exc.strerror or str(exc))
        raise StageError(f"cannot write to the lake at {root} ({what}); point --lake (or $CSLAKE_LAKE) at a "
                         "writable folder, or fix its permissions", CONFIG) from None


def check_drop_zone(raw: str) -> None:
    """The raw drop zone exists and, when local, holds at least one file (hidden files aside)."""
    if not storage.isdir(raw):
        raise StageError(f"no raw drop zone at {raw}: put each LA's returns under {DROP_ZONE_LAYOUT} (or make a "
                         "synthetic one with `cslake generate --out RAW`) and pass its path", DATA)
    if storage.is_uri(raw):
        return
    for _dirpath, dirnames, filenames in os.walk(raw):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(not f.startswith(".") for f in filenames):
            return
    raise StageError(f"the raw drop zone {raw} holds no files: put each LA's returns under {DROP_ZONE_LAYOUT}, "
                     "then run land again", DATA)


def years_option(text: str, option: str = "--years") -> list[int]:
    """``--years`` parsed (``2021-2025``, ``2023``, ``2021,2023``), or a usage error saying how to write it."""
    try:
        years = parse_years(text)
    except (ConfigError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, ConfigError) else "not a year"
        raise StageError(f"bad {option} {text!r} ({detail}): write a range such as 2021-2025, one year such "
                         "as 2025, or a list such as 2021,2023 (N = the year ending 31 March N)", USAGE) from None
    if years[0] < 2000 or years[-1] > 2100:
        raise StageError(f"bad {option} {text!r}: years run from 2000 to 2100 (N = the year ending 31 March N)",
                         USAGE)
    return years


def check_port_free(host: str, port: int) -> None:
    """Nothing listens on ``host:port`` (a server about to start there would fail later, less clearly)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StageError(f"port {port} on {host} is already in use by another program: choose another with "
                                 "--port, or stop that program", CONFIG) from None
            raise StageError(f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port", CONFIG) from None


def check_training_years(years: list[int], needed: int, model: str) -> None:
    """Enough distinct collection years in the lake to train ``model`` (time-ordered split)."""
    if len(years) < needed:
        have = ", ".join(map(str, years)) or "none"
        raise StageError(f"train {model} needs at least {needed} collection years of data (earlier years to "
                         f"train on, a later one to test on, 12 months of outcome after each); the lake has "
                         f"{len(years)} ({have}): land more years and rebuild silver and linkage", DATA)
