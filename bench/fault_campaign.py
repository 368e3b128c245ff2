"""Fault campaign (issue 16): kill -9 a stage part-way, re-run it, and compare the lake with an
uninterrupted build; count the processes the killed stage left behind.

    .venv/bin/python bench/fault_campaign.py --trials 20 [--las 201,202] [--years 2024] [--scale 0.01]

1. Generate a small region once and build it uninterrupted (land, silver, linkage, gold), one
   `cslake` process per stage, copying the lake after each stage (the reference states) and
   timing each stage.
2. Each trial picks a stage (round robin) and a moment to kill it: after k of the Delta commits
   the stage made in the reference build (k random, 0 = while it is still parsing or staging,
   before its first commit), so the kill lands inside the stage whatever the machine's load.
   It starts the stage on a copy of the lake as it was before that stage, sends SIGKILL to the
   stage's own process only (never its group: its helpers must go by themselves), waits 3 s,
   counts the processes still alive in the killed process's session, re-runs the stage to the
   end and compares the lake with the reference state after that stage (`cslake report parity`).
   A kill that leaves silver's or linkage's table group half-written (cslake.unfinished) must make
   a reader (`cslake report silver`) refuse with exit 4 before the re-run, and the re-run must clear it.

Prints one line per trial and a summary: trials, lakes equal to the uninterrupted build,
processes left behind. The key is random per campaign and lives only in the environment.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# $CSLAKE_BIN: another cslake to run (e.g. a clean export of a commit), default this venv's.
CSLAKE = os.environ.get("CSLAKE_BIN") or str(Path(sys.executable).with_name("cslake"))
STAGES = {"land": ["land", "{raw}"], "silver": ["build", "silver"], "linkage": ["build", "linkage"],
          "gold": ["build", "gold"]}


#: `--gold-tables`: build only these gold tables (a table whose builder fails on the small region).
GOLD_TABLES: list[str] = []


def stage_cmd(stage: str, raw: Path, lake: Path) -> list[str]:
    extra = ["--tables", ",".join(GOLD_TABLES)] if stage == "gold" and GOLD_TABLES else []
    return [CSLAKE, *[a.format(raw=raw) for a in STAGES[stage]], "--lake", str(lake), *extra]


def run(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def rerun(cmd: list[str], env: dict) -> tuple[int, str]:
    """(exit code, last lines of stderr) of the re-run after the kill (with -v: the cause is shown)."""
    p = subprocess.run([cmd[0], "-v", *cmd[1:]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    return p.returncode, "\n".join(p.stderr.strip().splitlines()[-6:])


def session_survivors(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,stat="], capture_output=True, text=True).stdout
    return [int(p) for p, s, st in (ln.split()[:3] for ln in out.splitlines() if ln.strip())
            if int(s) == sid and not st.startswith("Z")]


def parity(a: Path, b: Path, env: dict) -> bool:
    """`cslake report parity`; when the lakes differ, its lines naming what differs are printed."""
    p = subprocess.run([CSLAKE, "report", "parity", str(a), str(b)], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        lines = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.strip()]
        print("  parity: " + "\n  parity: ".join(lines[-20:]), flush=True)
    return p.returncode == 0


def commits(lake: Path) -> int:
    """Delta commits under ``lake`` (every table's _delta_log JSON files)."""
    return sum(1 for _ in lake.glob("*/*/_delta_log/*.json")) if lake.is_dir() else 0


def staging_started(lake: Path) -> bool:
    return any(p.is_file() for p in lake.glob("*/_staging/*/*")) if lake.is_dir() else False


def wait_for(proc, lake: Path, target: int) -> None:
    """Until the stage has made ``target`` commits (0: until it has staged something), or ended."""
    base = commits(lake)
    while proc.poll() is None:
        if (target == 0 and staging_started(lake)) or (target and commits(lake) - base >= target):
            return
        time.sleep(0.05)


def trial(i: int, stage: str, work: Path, raw: Path, refs: dict, made: dict, env: dict, rng) -> dict:
    order = list(STAGES)
    before = refs[order[order.index(stage) - 1]] if stage != "land" else None
    lake = work / f"trial{i}"
    if before is not None:
        shutil.copytree(before, lake, symlinks=True)
    target = rng.randrange(0, max(1, made[stage]))
    t0 = time.perf_counter()
    proc = subprocess.Popen(stage_cmd(stage, raw, lake), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(proc, lake, target)
    at = time.perf_counter() - t0
    finished = proc.poll() is not None
    if not finished:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(3)
    left = session_survivors(proc.pid)
    for pid in left:  # clean up after counting, so one trial's leftovers do not slow the next
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    half = unfinished_records(lake)
    # While a group is half-written, a reader must refuse (exit 4), not read tables that disagree.
    refused = None if not half else subprocess.run(
        [CSLAKE, "report", "silver", "--lake", str(lake)], env=env, capture_output=True).returncode == 4
    rc, err = rerun(stage_cmd(stage, raw, lake), env)
    again = None
    if rc != 0:  # say why, then see whether one more run recovers
        print(f"trial {i}: the re-run of {stage} failed (exit {rc}):\n{err}", flush=True)
        again, _ = rerun(stage_cmd(stage, raw, lake), env)
    still = unfinished_records(lake)
    equal = parity(refs[stage], lake, env) and not still
    shutil.rmtree(lake, ignore_errors=True)
    return {"trial": i, "stage": stage, "after_commits": target, "killed_at_s": round(at, 1), "finished_first": finished,
            "left_behind": len(left), "half_written": half, "reader_refused": refused, "rerun_exit": rc,
            "second_rerun_exit": again, "unfinished_after_rerun": still, "equal": equal}


def unfinished_records(lake: Path) -> list[str]:
    """The stages whose table group the lake records as half-written (cslake.unfinished)."""
    return sorted(p.name.removeprefix("_cslake_unfinished_").removesuffix(".json")
                  for p in lake.glob("_cslake_unfinished_*.json")) if lake.is_dir() else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--las", default="201,202")
    ap.add_argument("--years", default="2024")
    ap.add_argument("--scale", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--stages", default=",".join(STAGES), help="Comma-separated stages to kill, in turn.")
    ap.add_argument("--gold-tables", help="Comma-separated gold tables to build (default: all).")
    ap.add_argument("--workdir", help="Keep everything here (default: a temporary folder); a workdir with a "
                                      "reference build from an earlier campaign is reused.")
    args = ap.parse_args(argv)
    GOLD_TABLES[:] = [t for t in (args.gold_tables or "").split(",") if t]
    env = {**os.environ, "CSLAKE_HASH_KEY": secrets.token_hex(24)}
    env.pop("CSLAKE_HASH_KEY_FILE", None)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="cslake-faults-"))
    raw = work / "raw"
    ref, refs, made = work / "reference", {s: work / f"reference_after_{s}" for s in STAGES}, {}
    if (work / "key").is_file():  # an earlier campaign's reference: its key, kept beside it (never in the lake)
        env["CSLAKE_HASH_KEY"] = (work / "key").read_text()
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "key").write_text(env["CSLAKE_HASH_KEY"])
        subprocess.run([CSLAKE, "generate", "--las", args.las, "--years", args.years, "--scale", str(args.scale),
                        "--out", str(raw)], env=env, check=True, stdout=subprocess.DEVNULL)
    for stage in STAGES:
        if not refs[stage].is_dir():  # a reference state not reached yet
            seconds = run(stage_cmd(stage, raw, ref), env)
            shutil.copytree(ref, refs[stage], symlinks=True)
            print(f"reference {stage}: {seconds:.1f} s", flush=True)
    previous = 0
    for stage in STAGES:
        made[stage] = commits(refs[stage]) - previous
        previous = commits(refs[stage])
    rng = random.Random(args.seed)
    results = []
    for i in range(args.trials):
        which = [x for x in args.stages.split(",") if x in STAGES]
        r = trial(i, which[i % len(which)], work, raw, refs, made, env, rng)
        results.append(r)
        print(r, flush=True)
    equal = sum(r["equal"] for r in results)
    left = sum(r["left_behind"] for r in results)
    killed = sum(not r["finished_first"] for r in results)
    half = [r for r in results if r["half_written"]]
    refused = sum(bool(r["reader_refused"]) for r in half)
    print(f"fault campaign: {len(results)} trials ({killed} killed part-way), {equal} lakes equal to the "
          f"uninterrupted build, {left} process(es) left behind; {len(half)} kill(s) left a table group "
          f"half-written, a reader refused {refused} of them")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if equal == len(results) and left == 0 and refused == len(half) else 1


if __name__ == "__main__":
    raise SystemExit(main())
