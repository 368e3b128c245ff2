"""Lets a job run from a plain checkout under spark-submit (no pip install): put the checkout's lib/ on the path.

Harmless when cslake is installed: an installed job (cslake/_data/jobs/) has no lib/ beside it.
"""

import sys
from pathlib import Path

_lib = Path(__file__).resolve().parents[1] / "lib"
if (_lib / "cslake" / "__init__.py").is_file() and str(_lib) not in sys.path:
    sys.path.insert(0, str(_lib))
