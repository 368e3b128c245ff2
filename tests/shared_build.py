"""One build per test run, whichever pytest-xdist worker asks first.

The README's test command runs the suite on two workers (``-n 2 --dist loadfile``: each module
whole on one worker). A session fixture runs once per *worker*, so the built lakes and the
generated regions would be built twice, which is most of what a run costs. ``build_once``
runs a build once per test run: the first worker to ask builds, under an exclusive lock on
a file in the folder all workers of the run share; a worker that asks later (or waits on the
lock meanwhile) gets the first one's result, pickled beside the build. Without xdist it is a
plain build in the session's temporary folder.

A worker killed half-way leaves no result file: the next asker removes the half-built folder
and builds again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

RESULT = "result.pickle"


def run_root(tmp_path_factory) -> Path:
    """The folder every worker of this test run shares (xdist gives each worker a folder of its own
    inside it), or the session's own temporary folder without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (flock on ``path``), released on exit or when the
    holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_once(tmp_path_factory, name: str, build: Callable[[Path], T]) -> T:
    """``build(folder)``'s result, built into ``<run root>/shared-<name>`` by the first worker of the
    run that asks; the result must pickle (paths, reports, counts: not sessions)."""
    root = run_root(tmp_path_factory) / f"shared-{name}"
    with locked(root.parent / f"shared-{name}.lock"):
        done = root / RESULT
        if done.exists():
            return pickle.loads(done.read_bytes())
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        result = build(root)
        # written last, atomically: its presence means the build is whole
        tmp = root / (RESULT + ".tmp")
        tmp.write_bytes(pickle.dumps(result))
        tmp.rename(done)
        return result
