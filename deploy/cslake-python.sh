# Sourced by the deploy/ scripts: `here` (the checkout) and `py`, the Python that has cslake:
# $PYTHON if set, else the checkout's .venv, else python3 on the PATH.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"; else py="$(command -v python3)"; fi
fi
