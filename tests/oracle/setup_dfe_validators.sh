#!/usr/bin/env bash
# Make the DfE validators' own virtual environment (default .venv-dfe, git-ignored): data-to-insight's
# csc-validator-be-cin and csc-validator-be-903 from PyPI. They pin pandas<2 and numpy<1.25, so they
# cannot live in cslake's .venv; they need a Python from 3.9 to 3.11 (pandas 1.5 has no wheels for
# newer). Idempotent: an environment that already imports both validators is left as it is.
# Used by .ci/run and, when the environment is missing, by the oracle test fixture.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${DFE_VENV:-.venv-dfe}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import cin_validator, lac_validator, yaml" >/dev/null 2>&1; then
  exit 0
fi
py=""
for cand in python3.11 python3.10 python3.9 python3; do
  if command -v "$cand" >/dev/null 2>&1 \
      && "$cand" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 11)))' 2>/dev/null; then
    py="$cand"; break
  fi
done
if [ -z "$py" ]; then
  echo "setup_dfe_validators: no Python 3.9-3.11 found (the validators pin pandas<2)" >&2
  exit 1
fi
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
  "csc-validator-be-cin==0.1.13" "csc-validator-be-903==0.1.17" pyyaml
"$venv/bin/python" -c "import cin_validator, lac_validator"
