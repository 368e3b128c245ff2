"""Where a command may write or delete what a person asked for (``--out``, ``--csv``), and how a
file a person opens is made safe to open.

A command that writes into a folder it is given never deletes or overwrites anything it did not
make there. :func:`claim_output_dir` refuses, in one line (:class:`OutputPathError`):

- the lake root, anything inside it, or any folder holding the lake (``--out .`` beside ``lake/``);
- the raw drop zone (passed as ``protected``), anything inside it or holding it;
- an existing folder with files in it that cslake did not create: a folder cslake makes gets a
  marker file (:data:`MARKER`), and only a folder with that marker, or an empty one, is reused.

:func:`replace_output_dir` builds a fresh output in a new sibling folder and swaps it into place,
so a crash leaves either the old output or the new one, and the old folder is deleted only when
it carries the marker. :func:`check_output_file` is the same check for a single file.

CSV cells a person opens in a spreadsheet are neutralised as OWASP advises against formula
injection (:func:`neutralise_cell`): a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading single quote, so Excel shows it as text instead of running it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import pandas as pd

from cslake.stages import StageError

MARKER = ".cslake-output"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

T = TypeVar("T")


class OutputPathError(StageError):
    """An output path a command refuses to write into or delete (one line, exit code 2)."""


def _local(p: Any) -> Path | None:
    text = str(p)
    if "://" in text:
        return None  # an object-store location: not a local folder to compare
    return Path(text).expanduser().resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def refuse_protected_path(out: Any, lake_root: Any, protected: Iterable[Any] = ()) -> None:
    """OutputPathError if ``out`` is the lake or the drop zone, lies inside one or holds one."""
    out = _local(out)
    if out is None:
        return
    lake = _local(lake_root) if lake_root is not None else None
    if lake is not None and (_inside(out, lake) or _inside(lake, out)):
        raise OutputPathError(f"refusing {out}: it is the lake ({lake}), inside it or holds it; "
                              f"choose an output folder outside the lake")
    for p in protected:
        zone = _local(p) if p is not None else None
        if zone is not None and (_inside(out, zone) or _inside(zone, out)):
            raise OutputPathError(f"refusing {out}: it is the drop zone ({zone}), inside it or holds it")


def _ours_or_empty(out: Path) -> bool:
    return (out / MARKER).is_file() or not any(out.iterdir())


def check_output_dir(out: Any, lake_root: Any = None, protected: Iterable[Any] = ()) -> Path:
    """``out`` resolved, if a command may write into it (see the module doc); else OutputPathError."""
    path = _local(out)
    if path is None:
        return Path(str(out))
    refuse_protected_path(path, lake_root, protected)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"refusing {path}: it is a file, not a folder")
    if path.is_dir() and not _ours_or_empty(path):
        raise OutputPathError(f"refusing {path}: a folder with files cslake did not create (no {MARKER}); "
                              f"give a new or empty folder")
    return path


def _mark(folder: Path, command: str) -> None:
    (folder / MARKER).write_text(json.dumps({"created_by": command or "cslake",
                                             "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}))


def claim_output_dir(out: Any, lake_root: Any = None, protected: Iterable[Any] = (), command: str = "") -> Path:
    """Check ``out``, create it if needed and mark it as cslake's; returns it."""
    path = check_output_dir(out, lake_root, protected)
    if "://" in str(out):
        return path
    path.mkdir(parents=True, exist_ok=True)
    if not (path / MARKER).is_file():
        _mark(path, command)
    return path


def replace_output_dir(out: Any, build: Callable[[Path], T], lake_root: Any = None,
                       protected: Iterable[Any] = (), command: str = "") -> T:
    """Build a new output in a fresh sibling folder (``build(folder)``), then swap it in for ``out``.

    The old ``out`` is renamed aside and deleted only after the swap, and only if it carries the
    marker (or is empty); a failed build deletes its own fresh folder and leaves ``out`` as it was."""
    path = check_output_dir(out, lake_root, protected)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.parent / f".{path.name}.new-{uuid.uuid4().hex[:8]}"
    fresh.mkdir()
    _mark(fresh, command)
    try:
        result = build(fresh)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    old = None
    if path.exists():
        check_output_dir(path, lake_root, protected)  # still ours: nothing slipped in meanwhile
        old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(path, old)
    os.replace(fresh, path)
    if old is not None:
        shutil.rmtree(old)
    return result


def check_output_file(out: Any, lake_root: Any = None, protected: Iterable[Any] = ()) -> Path:
    """``out`` (a file a command writes) resolved, unless it lies in the lake or the drop zone."""
    path = _local(out)
    if path is None:
        return Path(str(out))
    refuse_protected_path(path, lake_root, protected)
    if path.is_dir():
        raise OutputPathError(f"refusing {path}: it is a folder, give a file name")
    return path


def neutralise_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would read as a formula, prefixed with ``'`` (OWASP); a plain
    number such as ``-3`` or ``+1.5`` runs nothing and stays as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell (and column name) neutralised for spreadsheets."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(neutralise_cell)
    out.columns = [neutralise_cell(c) for c in out.columns]
    return out
