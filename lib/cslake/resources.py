"""Files cslake ships besides its code: ``conf/``, the ``jobs/`` entry points, the model card.

In an installed wheel they are package data under ``cslake/_data/`` (copied there at
build time by setup.py) and are found through ``importlib.resources``, so an installed
cslake never looks into a source tree. In a checkout (a clone, ``pip install -e .``, or
the files a Databricks bundle syncs) there is no ``_data`` and they are the repository's
own ``conf/`` and ``jobs/`` beside ``lib/``.

``python -m cslake.resources jobs`` prints where the job entry points are (the Docker
image links them to a fixed path for spark-submit).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.resources as ir
import sys
from pathlib import Path

SHIPPED = ("conf", "jobs")
_CHECKOUT = Path(__file__).resolve().parents[2]  # <repo>/lib/cslake/resources.py -> <repo>
_extracted = contextlib.ExitStack()  # for a zipped install: extracted folders live as long as the process
atexit.register(_extracted.close)


def _checkout_dir(name: str) -> Path | None:
    """``<repo>/<name>`` when this module runs from a checkout's ``lib/cslake`` (a clone, an
    editable install, or the tree a Databricks bundle syncs: lib/, jobs/ and conf/ side by side)."""
    if Path(__file__).resolve().parents[1].name == "lib":
        d = _CHECKOUT / name
        if d.is_dir():
            return d
    return None


def _packaged_dir(name: str) -> Path | None:
    """``cslake/_data/<name>`` inside the installed package, as a real folder."""
    res = ir.files("cslake").joinpath("_data").joinpath(name)
    if not res.is_dir():
        return None
    if isinstance(res, Path):
        return res
    return Path(_extracted.enter_context(ir.as_file(res)))


def data_dir(name: str) -> Path | None:
    """The shipped folder ``name`` (``conf`` or ``jobs``): the installed package's, else the checkout's; None if neither."""
    if name not in SHIPPED:
        raise ValueError(f"cslake ships no folder {name!r} (only {', '.join(SHIPPED)})")
    return _packaged_dir(name) or _checkout_dir(name)


def jobs_dir() -> Path:
    d = data_dir("jobs")
    if d is None:
        raise FileNotFoundError("cslake's jobs/ are neither in a checkout nor in the installed package")
    return d


def job_names() -> list[str]:
    return sorted(p.stem for p in jobs_dir().glob("*.py") if not p.stem.startswith("_"))


def read_text(package: str, name: str) -> str:
    """A text file shipped inside a cslake package, e.g. ``read_text("cslake.models", "model_card.md")``."""
    return ir.files(package).joinpath(name).read_text(encoding="utf-8")


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "jobs"
    found = data_dir(which)
    if found is None:
        sys.exit(f"cslake: no {which}/ found")
    print(found)
