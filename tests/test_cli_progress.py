"""The transient progress line (cslake.progress): what it shows, and that it stays out of pipes."""

from __future__ import annotations

import logging

from cslake.progress import ProgressLine, progress_line, wanted


class _Status:
    def __init__(self):
        self.shown: list[str] = []

    def update(self, text: str) -> None:
        self.shown.append(text)


def test_the_line_shows_the_command_elapsed_seconds_and_the_latest_message():
    status = _Status()
    handler = ProgressLine(status, "cslake build silver")
    logger = logging.getLogger("cslake.test_progress")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("silver: %s built: %d bronze -> %d silver", "silver.cin_child", 120, 118)
        logger.info("x" * 300 + "\nsecond line")
    finally:
        logger.removeHandler(handler)
    assert status.shown[0].startswith("cslake build silver · 0 s · silver: silver.cin_child built: 120 bronze")
    assert status.shown[1].endswith("…") and len(status.shown[1].split(" · ", 2)[2]) == 100


def test_nothing_changes_outside_a_terminal(capsys):
    assert not wanted()  # pytest captures stderr: not a TTY
    logger = logging.getLogger("cslake")
    before = logger.level
    with progress_line("cslake land"):
        assert logging.getLogger("cslake").level == before
    assert capsys.readouterr().err == ""
