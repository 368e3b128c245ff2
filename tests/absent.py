"""One rule for a test whose outside oracle or server is missing (Java + Maven, PostgreSQL, the
DfE validators' venv): skip on a developer's machine, saying why; fail under CI, which provides
each of them (.ci/run), so a skip there can never hide the tests it guards."""

from __future__ import annotations

import os

import pytest


def oracle_absent(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI provides it: .ci/run)")
    pytest.skip(why)
