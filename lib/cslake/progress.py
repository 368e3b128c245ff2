"""Progress on a terminal without noise. While a command runs quietly (the default, warnings only),
a transient display on stderr shows

- one line for the command: its elapsed time and the stage's latest INFO message (each bronze
  table landed, each silver or gold table built, each pack written, each model trained);
- one counted bar per kind of item a stage works through (bronze tables, silver tables, gold
  tables, packs, models): done/total, the bar, its elapsed time and the latest item.

It disappears when the command ends, leaving only the command's summary.

The stages hold no UI code: they log as they always do, and a log call that marks an item done
carries a small structured extra, ``extra={PROGRESS: (i, n, "gold tables")}`` (item ``i`` of
``n`` is done, 1-based; ``i`` = 0 announces the total before any item is done; the name is
optional). Items done in any order (silver builds tables on a few threads) are counted once each.
A stage that logs the same kind again after its bar is full (``train all``, a second run) gets a
new bar.

Only on an interactive terminal (stderr is a TTY) and without ``-v``: in a pipe, a job log, CI or
a test nothing changes. With ``-v`` the same messages are printed as log lines instead.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn, \
    TimeElapsedColumn
from rich.table import Column
from rich.text import Text

LOGGER = "cslake"
PROGRESS = "progress"  # the log record's extra: (i, n) or (i, n, what)
WIDTH = 100


def counted(record: logging.LogRecord) -> tuple[int, int, str] | None:
    """The (done item, total, what) a record carries, or None when it is a plain message."""
    value = getattr(record, PROGRESS, None)
    if not isinstance(value, (tuple, list)) or len(value) not in (2, 3):
        return None
    try:
        i, n = int(value[0]), int(value[1])
    except (TypeError, ValueError):
        return None
    what = str(value[2]) if len(value) == 3 else record.name.removeprefix(LOGGER + ".")
    return (i, n, what) if n > 0 else None


def first_line(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first[:WIDTH - 1] + "…" if len(first) > WIDTH else first


class _Count(ProgressColumn):
    """done/total for a counted bar; nothing on the command's own line."""

    def render(self, task: Task) -> Text:
        return Text("" if task.total is None else f"{int(task.completed)}/{int(task.total)}", style="progress.download")


class _Bar(BarColumn):
    def render(self, task: Task) -> Any:
        return Text("") if task.total is None else super().render(task)


def make_progress(console: Console) -> Progress:
    """The display: spinner, what, bar, done/total, elapsed, latest item (cut to the screen)."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), _Bar(bar_width=30), _Count(),
                    TimeElapsedColumn(),
                    TextColumn("{task.fields[item]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
                    console=console, transient=True, redirect_stdout=sys.stdout.isatty(), redirect_stderr=True)


class ProgressBars(logging.Handler):
    """Feeds cslake's INFO records to a rich :class:`Progress`: every message to the command's line,
    the counted ones (:func:`counted`) to their bar."""

    def __init__(self, progress: Progress, prog: str) -> None:
        super().__init__(logging.INFO)
        self.progress = progress
        self.line = progress.add_task(prog, total=None, item="starting…")
        self.bars: dict[tuple[str, str], TaskID] = {}
        self.done: dict[TaskID, set[int]] = {}
        self.last = progress.get_time()  # when the display last heard anything: a new bar's start


    def bar(self, key: tuple[str, str], i: int, n: int) -> TaskID:
        """The bar for this kind of item; a new one when the total changed or the bar is full
        and counting starts again."""
        task = self.bars.get(key)
        if task is not None:
            seen = self.done[task]
            if self.progress.tasks[task].total == n and not (len(seen) >= n and (i in seen or i <= 0)):
                return task
            self.progress.stop_task(task)
        task = self.progress.add_task(key[1], total=n, item="")
        if i > 0:  # the first item is already done: its work began when the stage last spoke
            self.progress.tasks[-1].start_time = self.last
        self.bars[key], self.done[task] = task, set()
        return task

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = first_line(record.getMessage())
            c = counted(record)
            if c is not None:
                i, n, what = c
                task = self.bar((record.name, what), i, n)
                if 0 < i <= n:
                    self.done[task].add(i)
                done = len(self.done[task])
                self.progress.update(task, completed=done, item=text)
                if done >= n:
                    self.progress.stop_task(task)  # its elapsed time stops with it
            self.progress.update(self.line, item=text)
            self.progress.refresh()
            self.last = self.progress.get_time()
        except Exception:  # noqa: BLE001 - progress must never break the command
            pass


def wanted() -> bool:
    """A terminal, and INFO messages are not already printed (no -v)."""
    return sys.stderr.isatty() and logging.getLogger().getEffectiveLevel() > logging.INFO


@contextlib.contextmanager
def progress_line(prog: str, console: Console | None = None) -> Iterator[None]:
    """Show the transient progress display while the block runs, when :func:`wanted`."""
    if not wanted():
        yield
        return
    root = logging.getLogger()
    raised = [(h, h.level) for h in root.handlers if h.level < root.level]
    for h, _ in raised:  # the printed log keeps to warnings; INFO goes to the display only
        h.setLevel(root.level)
    logger = logging.getLogger(LOGGER)
    before = logger.level
    with make_progress(console or Console(stderr=True)) as progress, _warnings_above(progress):
        handler = ProgressBars(progress, prog)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(before)
            for h, level in raised:
                h.setLevel(level)


@contextlib.contextmanager
def _warnings_above(progress: Progress) -> Iterator[None]:
    """The printed log's handlers write to the stderr they were given; while the display runs they
    write through rich's proxy (sys.stderr now), so a warning prints above the bars, not through them."""
    moved = [(h, h.stream) for h in logging.getLogger().handlers
             if type(h) is logging.StreamHandler and getattr(sys.stderr, "rich_proxied_file", None) is h.stream]
    for h, _ in moved:
        h.setStream(sys.stderr)
    try:
        yield
    finally:
        for h, stream in moved:
            h.setStream(stream)
