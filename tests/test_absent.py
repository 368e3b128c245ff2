"""The missing-oracle rule: a skip on a developer's machine, a failure under CI."""

from __future__ import annotations

import pytest

from tests.absent import oracle_absent


def test_missing_oracle_skips_outside_ci_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no server"):
        oracle_absent("no server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"no server \(CI provides it"):
        oracle_absent("no server")
