"""The progress display (cslake.progress): what the bars count and show, fed by real log records;
that it stays out of pipes and out of ``-v``; and that a real stage feeds it item by item."""

from __future__ import annotations

import io
import os
import logging
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from rich.console import Console

from cslake.progress import ProgressBars, counted, make_progress, progress_line, wanted


def _console() -> Console:
    return Console(record=True, force_terminal=True, width=200, file=io.StringIO())


@pytest.fixture()
def display():
    """A progress display on a recording terminal, its handler on a cslake logger."""
    console = _console()
    progress = make_progress(console)
    handler = ProgressBars(progress, "cslake build gold")
    logger = logging.getLogger("cslake.test_progress")
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield progress, logger, console
    logger.removeHandler(handler)
    logger.setLevel(before)


def _screen(progress, console) -> str:
    console.print(progress.get_renderable())
    return console.export_text()


def _bars(progress) -> dict[str, tuple[float, float | None, str]]:
    return {t.description: (t.completed, t.total, t.fields["item"]) for t in progress.tasks}


def test_a_bar_counts_items_with_the_latest_item_beside_the_command_line(display):
    progress, log, console = display
    log.info("gold: reading silver")  # a plain message: the command's line only
    assert _bars(progress) == {"cslake build gold": (0, None, "gold: reading silver")}
    for i, table in enumerate(["riia_indicators", "workforce", "ofsted"], 1):
        log.info("gold.%s: %d rows in %.1fs", table, 100 * i, 0.5, extra={"progress": (i, 5, "gold tables")})
    bars = _bars(progress)
    assert bars["gold tables"] == (3, 5, "gold.ofsted: 300 rows in 0.5s")
    assert bars["cslake build gold"] == (0, None, "gold.ofsted: 300 rows in 0.5s")
    lines = _screen(progress, console).splitlines()
    assert re.search(r"cslake build gold .* 0:00:0\d gold\.ofsted: 300 rows", lines[0])
    assert re.search(r"gold tables +━+.* 3/5 0:00:0\d gold\.ofsted: 300 rows in 0\.5s$", lines[1].rstrip())
    assert "/" not in lines[0]  # no count on the command's own line


def test_items_done_out_of_order_on_threads_are_counted_once_each(display):
    progress, log, _ = display

    def built(i):
        log.info("silver: table %d built", i, extra={"progress": (i, 24, "silver tables")})

    built(3)  # a table reported twice before the bar is full counts once
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(built, [24, 3, 17] + [i for i in range(1, 24) if i not in (3, 17)]))
    (bar,) = [t for t in progress.tasks if t.description == "silver tables"]
    assert (bar.completed, bar.total, bar.finished) == (24, 24, True)


def test_a_total_announced_first_then_steps_and_a_second_bar_for_a_new_kind(display):
    progress, log, console = display
    log.info("land: parsing 40 files from raw", extra={"progress": (0, 2, "land steps")})
    assert _bars(progress)["land steps"] == (0, 2, "land: parsing 40 files from raw")
    log.info("land: 40 files parsed and staged", extra={"progress": (1, 2, "land steps")})
    for i in (1, 2):
        log.info("land: bronze.t%d written", i, extra={"progress": (i, 3, "bronze tables")})
    bars = _bars(progress)
    assert bars["land steps"][:2] == (1, 2) and bars["bronze tables"] == (2, 3, "land: bronze.t2 written")
    screen = _screen(progress, console)
    assert " 1/2 " in screen and " 2/3 " in screen


def test_counting_again_after_a_full_bar_starts_a_new_bar(display):
    """``train all`` or a second run in one command: the finished bar stays, a new one counts."""
    progress, log, _ = display
    for i in (1, 2, 1):
        log.info("fire risk model %d", i, extra={"progress": (i, 2, "models")})
    log.info("with another total", extra={"progress": (1, 4, "models")})
    assert [(t.description, t.completed, t.total) for t in progress.tasks[1:]] == [
        ("models", 2, 2), ("models", 1, 2), ("models", 1, 4)]


def test_long_messages_are_cut_and_a_malformed_extra_is_a_plain_message(display):
    progress, log, _ = display
    log.info("x" * 300 + "\nsecond line", extra={"progress": "half"})
    log.info("bad", extra={"progress": (1, "many")})
    log.info("none", extra={"progress": (1, 0)})
    assert len(progress.tasks) == 1
    log.info("y" * 300, extra={"progress": (1, 1)})  # no name: the logger's, without cslake.
    item = _bars(progress)["test_progress"][2]
    assert item.endswith("…") and len(item) == 100


def test_counted_reads_the_extra():
    def rec(**extra):
        r = logging.LogRecord("cslake.gold.build", logging.INFO, __file__, 1, "m", (), None)
        r.__dict__.update(extra)
        return r

    assert counted(rec(progress=(2, 5, "gold tables"))) == (2, 5, "gold tables")
    assert counted(rec(progress=(2, 5))) == (2, 5, "gold.build")
    assert counted(rec()) is None and counted(rec(progress=(1,))) is None


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture()
def tty(monkeypatch):
    """A function that makes stderr an interactive terminal (called in the test itself: pytest puts
    its own stderr back between setup and call) with the root logger quiet (no -v)."""
    root = logging.getLogger()
    before = root.level
    # Only this test's handlers on the root logger: an earlier test's CLI run (tests/test_cli.py) can
    # leave one writing to a stream since closed, whose "--- Logging error ---" would land on the fake
    # terminal (seen in the whole suite, not in this file alone).
    monkeypatch.setattr(root, "handlers", [])

    def make() -> _Tty:
        fake = _Tty()
        monkeypatch.setattr(sys, "stderr", fake)
        monkeypatch.setenv("TERM", "xterm-256color")
        root.setLevel(logging.WARNING)
        return fake

    yield make
    root.setLevel(before)


def _stage_logs(n: int) -> None:
    log = logging.getLogger("cslake.gold.build")
    for i in range(1, n + 1):
        log.info("gold.table_%d: %d rows", i, i, extra={"progress": (i, n, "gold tables")})


def test_on_a_terminal_the_bars_are_drawn_on_stderr(tty):
    tty = tty()
    assert wanted()
    printed = logging.StreamHandler(io.StringIO())  # the printed log, as cli's basicConfig sets it
    logging.getLogger().addHandler(printed)
    handlers = [(h, h.level) for h in logging.getLogger().handlers]
    try:
        with progress_line("cslake build gold"):
            _stage_logs(3)
            assert printed.level == logging.WARNING  # INFO goes to the display, not the printed log
    finally:
        logging.getLogger().removeHandler(printed)
    assert printed.stream.getvalue() == ""
    out = tty.getvalue()
    assert "gold tables" in out and "3/3" in out and "gold.table_3: 3 rows" in out
    assert all(h.level == level for h, level in handlers)  # the printed log's levels given back
    assert not any(isinstance(h, ProgressBars) for h in logging.getLogger("cslake").handlers)  # removed after


def test_with_v_nothing_is_drawn_even_on_a_terminal(tty):
    tty = tty()
    logging.getLogger().setLevel(logging.INFO)  # cslake -v
    assert not wanted()
    logger = logging.getLogger("cslake")
    before = (logger.level, list(logger.handlers))
    with progress_line("cslake build gold"):
        assert (logger.level, logger.handlers) == before
        _stage_logs(3)
    assert tty.getvalue() == ""


def test_nothing_changes_outside_a_terminal(capsys):
    assert not wanted()  # pytest captures stderr: not a TTY
    logger = logging.getLogger("cslake")
    before = (logger.level, list(logger.handlers))
    with progress_line("cslake land"):
        assert (logger.level, logger.handlers) == before
        _stage_logs(3)
    assert capsys.readouterr().err == ""


def test_publish_packs_reports_each_pack_as_it_is_written(spark, tmp_path, caplog):
    """A real stage on a hand-made gold schema (two LAs and the region): one counted record per
    pack, 1, 2, 3 of 3, in the order written (what the bar is fed; drawn in the test below)."""
    from cslake.lake import Lake
    from cslake.publish.packs import publish_packs
    from tests.test_packs import build_small_gold

    lake = Lake(tmp_path / "lake", spark=spark)
    build_small_gold(lake)
    caplog.set_level(logging.INFO, logger="cslake.publish.packs")
    report = publish_packs(lake, tmp_path / "out")
    records = [r for r in caplog.records if r.name == "cslake.publish.packs" and counted(r)]
    assert [counted(r) for r in records] == [(1, 3, "packs"), (2, 3, "packs"), (3, 3, "packs")]
    assert [r.getMessage() for r in records] == [f"pack {k} written" for k in report.packs]


def _on_a_terminal(args: list[str], cwd, env: dict[str, str]) -> tuple[int, str]:
    """``cslake ARGS`` run on a pseudo-terminal (stdout and stderr both a TTY, 160 columns), as a
    user at a terminal runs it: its exit code and everything it drew, escapes included."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: become cslake
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "cslake.cli", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", errors="replace")


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")


def test_the_real_command_on_a_terminal_draws_the_bar_then_leaves_only_its_summary(spark, tmp_path):
    """`cslake publish packs` at a terminal: the packs bar counts to 3/3 while it runs, the summary
    prints, and the display is erased at the end; with -v the messages are log lines and no bar."""
    from cslake.lake import Lake
    from tests.test_cli import SCRUBBED
    from tests.test_packs import build_small_gold

    build_small_gold(Lake(tmp_path / "lake", spark=spark))
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(TERM="xterm-256color", COLUMNS="160", MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    args = ["publish", "packs", "--lake", str(tmp_path / "lake"), "--out", str(tmp_path / "out")]

    code, drawn = _on_a_terminal(args, tmp_path, env)
    assert code == 0, _plain(drawn)[-3000:]
    screen = _plain(drawn)
    assert re.search(r"packs +[━╸╺]+ 1/3 .*pack region written", screen), screen[-3000:]
    assert re.search(r"packs +[━╸╺]+ 3/3 .*pack 202 written", screen), screen[-3000:]
    assert "packs: 3 pack(s)" in screen
    *_, after = drawn.rsplit("\x1b[?25h", 1)  # the cursor shown again: the display's end
    assert _plain(after).strip() == "" and after.count("\x1b[2K") >= 2  # its lines erased, nothing left

    code, drawn = _on_a_terminal(["-v", *args], tmp_path, env)
    screen = _plain(drawn)
    assert code == 0 and "━" not in screen and "3/3" not in screen, screen[-3000:]
    assert re.search(r"INFO.*pack 202 written", screen) and "packs: 3 pack(s)" in screen
