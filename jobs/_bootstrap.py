"""Lets a job run from a plain checkout under spark-submit (no pip install): put lib/ on the path."""

import sys
from pathlib import Path

_lib = Path(__file__).resolve().parents[1] / "lib"
if _lib.is_dir() and str(_lib) not in sys.path:
    sys.path.insert(0, str(_lib))
