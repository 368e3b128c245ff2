"""Progress on a terminal without noise: while a command runs quietly (the default, warnings only),
one transient status line shows the elapsed time and the stage's latest progress message (the
INFO records of cslake's loggers: each bronze table landed, each silver or gold table built, each
pack written, each model trained). It disappears when the command ends, leaving only the summary.

Only on an interactive terminal (stderr is a TTY): in a pipe, a job log, CI or a test nothing
changes. With ``-v`` those messages are printed as log lines instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Any, Iterator

LOGGER = "cslake"
WIDTH = 100


class ProgressLine(logging.Handler):
    """Feeds cslake's INFO messages to a status display (anything with ``update(text)``)."""

    def __init__(self, status: Any, prog: str) -> None:
        super().__init__(logging.INFO)
        self.status, self.prog, self.t0 = status, prog, time.monotonic()

    def text(self, message: str) -> str:
        first = message.strip().splitlines()[0] if message.strip() else ""
        if len(first) > WIDTH:
            first = first[:WIDTH - 1] + "…"
        return f"{self.prog} · {time.monotonic() - self.t0:.0f} s · {first}"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.status.update(self.text(record.getMessage()))
        except Exception:  # noqa: BLE001 - a progress line must never break the command
            pass


def wanted() -> bool:
    """A terminal, and INFO messages are not already printed (no -v)."""
    return sys.stderr.isatty() and logging.getLogger().getEffectiveLevel() > logging.INFO


@contextlib.contextmanager
def progress_line(prog: str) -> Iterator[None]:
    """Show the transient status line while the block runs, when :func:`wanted`."""
    if not wanted():
        yield
        return
    from rich.console import Console

    root = logging.getLogger()
    for h in root.handlers:  # the printed log keeps to warnings; INFO goes to the status line only
        if h.level < root.level:
            h.setLevel(root.level)
    logger = logging.getLogger(LOGGER)
    before = logger.level
    with Console(stderr=True).status(f"{prog} · starting…") as status:
        handler = ProgressLine(status, prog)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(before)
