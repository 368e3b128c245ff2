"""The classic engine's watchdog (cslake.engine._reap_with_driver), a process of its own:

    python -m cslake.reaper DRIVER_PID JVM_PID GRACE_SECONDS

It waits for the driver to be gone, then asks the JVM to stop (SIGTERM) and, if it is still there
after the grace period, kills it (SIGKILL). Its own process, so that it outlives a driver killed
with SIGKILL; it ends as soon as the JVM does.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from cslake.lock import pid_alive


def running(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (dead, not yet reaped by its parent) does not."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc: what kill(pid, 0) said


def reap(driver: int, jvm: int, grace_s: float, every_s: float = 1.0) -> None:
    while running(driver) and running(jvm):
        time.sleep(every_s)
    if not running(jvm):
        return
    os.kill(jvm, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while running(jvm) and time.monotonic() < end:
        time.sleep(every_s / 2)
    if running(jvm):
        os.kill(jvm, signal.SIGKILL)


if __name__ == "__main__":
    reap(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
