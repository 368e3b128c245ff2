"""Tables that must change together: a stage records itself as unfinished before its first write
and clears the record after its last, and the commands that read what it wrote refuse meanwhile.

    with writing_group(lake.root, "silver", run_id):
        ...   # every silver table, its quarantine rows, file counts, then the build log

Delta commits one table at a time. Silver writes each table, then its rows of
``quarantine.rows`` / ``quarantine.row_flags`` / ``silver.file_counts``, then ``silver.build_log``;
a run killed or failing (a full disk) between two of those commits leaves a table ahead of its
quarantine: the per-file balance (rows in = silver + quarantined) would not hold for whoever read
it then. So the group is all or nothing *as its readers see it*: while the record
(``_cslake_unfinished_<stage>.json`` at the lake root: run id, command, start time; no data) is
there, linkage, gold, reports, publishing, serving, models and queries refuse in one line
(:func:`check_finished`, exit code 4) and name the command that finishes it. Running the stage
again finishes it: its build log was not written, so it redoes every table of the interrupted run,
and clears the record when its last commit is done. The lake lock (cslake.lock) keeps a second
writer out meanwhile, so the record is never another live run's.
"""

from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

from cslake import storage
from cslake.stages import DATA, StageError

#: The stages whose tables are written as one group, and the command that finishes each.
GROUPS = {"silver": "cslake build silver", "linkage": "cslake build linkage"}


class UnfinishedStageError(StageError):
    """A stage's group of tables is half-written (exit code 4: an earlier stage not run to its end)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, DATA)


def record_location(root: Any, stage: str) -> str:
    return storage.join(str(root), f"_cslake_unfinished_{stage}.json")


def read_record(root: Any, stage: str) -> dict | None:
    """``stage``'s record at ``root`` (None: its group is whole); a torn or unreadable record is
    still a record (``{}``)."""
    loc = record_location(root, stage)
    if not storage.exists(loc):
        return None
    try:
        return json.loads(storage.read_bytes(loc))
    except (ValueError, OSError):
        return {}


def unfinished(root: Any) -> dict[str, dict]:
    """stage -> its record, for every stage whose group of tables is half-written at ``root``."""
    return {stage: rec for stage in GROUPS if (rec := read_record(root, stage)) is not None}


@contextmanager
def writing_group(root: Any, stage: str, run_id: str) -> Iterator[None]:
    """Record ``stage`` as unfinished at ``root`` for the block; cleared only when it ends without
    an exception (a kill or an error leaves it, which is the point)."""
    if stage not in GROUPS:
        raise ValueError(f"unknown table group {stage!r}: one of {', '.join(GROUPS)}")
    loc = record_location(root, stage)
    held = (read_record(root, stage) or {}).get("run_id") == run_id
    if not held:  # a nested group of the same run (a whole build inside an incremental one) keeps the outer record
        record = {"stage": stage, "run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
                  "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        storage.write_bytes(loc, json.dumps(record, indent=1).encode())
    yield
    if not held:
        storage.remove_file(loc)


def check_finished(root: Any, *, finishing: str | None = None) -> None:
    """Refuse (one line, :class:`UnfinishedStageError`) when a stage's group of tables at ``root`` is
    half-written: a command reading them would read tables that do not agree with one another.
    ``finishing``: the stage the command builds (its own unfinished group is what it is about to finish)."""
    for stage, rec in unfinished(root).items():
        if stage == finishing:
            continue
        run = f" (run {rec['run_id']}, started {rec.get('started_at', '?')})" if rec.get("run_id") else ""
        raise UnfinishedStageError(
            f"the last {stage} build{run} stopped before its last commit, so its tables and "
            f"their quarantine may not agree; run `{GROUPS[stage]}` to finish it first")
