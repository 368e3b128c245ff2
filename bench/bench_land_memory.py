"""Peak memory of land (and silver) for one large file (issue 16: no single file may take a process
past 2 GB).

    .venv/bin/python bench/bench_land_memory.py [--sizes 16,64,200] [--kinds csv,xml] [--silver]
                                                [--repeats 1] [--work /tmp/cslake-bench-land-memory]

For each kind and size (MB) a valid file is generated: an SSDA903 episodes CSV (LA 203, 2024;
every column filled, like tests/test_hostile.py's ``episodes_csv``) or a CIN 2024 XML (the
hand-made fixture's first child repeated, like test_hostile's ``cin_file``). It is landed into a
fresh lake by ``cslake land`` run as a subprocess, with CSLAKE_HASH_KEY set and a temporary copy
of conf/ (``CSLAKE_CONF``) whose limits.yaml lets the file in (max_file_bytes 1 GiB,
max_rows_per_file 100 M: the bench measures memory, not the limits). With ``--silver``,
``cslake build silver`` follows on the same lake.

Every process of the command is sampled every 0.1 s (psutil): its peak RSS is the largest of
the kernel's high-water mark (VmHWM, /proc/<pid>/status) and the samples; the cslake process
(driver + embedded Sail, which runs in it) and its parse helpers (spawned children) are
reported apart. Also wall time and rows landed (bronze.files row_count, read with delta-rs).
Prints a table; JSON in bench/results/land_memory_<...>.json (git-ignored).

The environment is passed on, so engine settings can be tried without touching conf/: a SAIL_*
variable wins over conf/spark.yaml's (which sets Sail's fair memory pool at 1 GiB and sort-merge
joins), e.g. ``SAIL_RUNTIME__MEMORY_POOL__TYPE=unbounded SAIL_OPTIMIZER__PREFER_HASH_JOIN=true``
for Sail's defaults.

Figures (issue 16; csv, silver, cslake process peak RSS and wall time on a 2-core machine shared
with other work, so the seconds are loaded and rough): before the join rules grouped a sorted
stream (cslake.silver.rules), 24 MB 1.16 GB / 69 s, 32 MB 1.27 GB / 142 s, 64 MB failed inside
the 1 GiB pool (Resources exhausted); after, 24 MB 0.85 GB / 263 s, 32 MB 0.95 GB / 313 s (at
load 8-13), 64 MB 0.92 GB / 229 s (at load 7; with a 1.5 GiB pool, before the year: previous join
was left out when it has no rows, 1.10 GB / 775 s at load 13). 200 MB not measured since.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
BENCH_KEY = "bench-land-memory-key-0123456789abcdef"
sys.path.insert(0, str(REPO))  # the test's file writer, so the bench and the test land the same rows
from tests.test_land_memory import big_episodes_csv as episodes_csv  # noqa: E402


def cin_xml(path: Path, megabytes: float) -> int:
    """Write a CIN 2024 XML of about ``megabytes`` MB; returns its Child elements."""
    text = (REPO / "tests" / "data_parsers" / "cin_2024_valid.xml").read_text(encoding="utf-8")
    start, end = text.index("<Child>"), text.index("</Child>") + len("</Child>")
    child = text[start:end].replace("X00000000001A", "")
    target = int(megabytes * 1_000_000)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text[:start])
        size = start
        while size < target:
            c = re.sub(r"<LAchildID>[^<]*</LAchildID>", f"<LAchildID>H{n:08d}</LAchildID>", child) + "\n"
            fh.write(c)
            size += len(c)
            n += 1
        fh.write(text[text.index("</Children>"):])
    return n


class Sampler:
    """Peak RSS of a process and all its descendants, by pid, while it runs."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.root = pid
        self.peak: dict[int, int] = {}
        self.kind: dict[int, str] = {}
        self.every_s = every_s
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @staticmethod
    def hwm(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def classify(self, p: psutil.Process) -> str:
        if p.pid == self.root:
            return "cslake (driver + Sail)"
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            return "other"
        if "resource_tracker" in cmd:
            return "resource tracker"
        if "multiprocessing" in cmd or "spawn_main" in cmd:
            return "parse helper"
        return "other: " + cmd[:40]

    def run(self) -> None:
        try:
            root = psutil.Process(self.root)
        except psutil.Error:
            return
        while not self.done.is_set():
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                break
            for p in procs:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                if p.pid not in self.kind or self.kind[p.pid].startswith("other"):  # a child just spawned
                    self.kind[p.pid] = self.classify(p)  # may not have its command line yet
                self.peak[p.pid] = max(self.peak.get(p.pid, 0), rss, self.hwm(p.pid))
            time.sleep(self.every_s)

    def stop(self) -> dict[str, int]:
        self.done.set()
        self.thread.join()
        by_kind: dict[str, int] = {}
        for pid, peak in self.peak.items():
            k = self.kind.get(pid, "other")
            by_kind[k] = max(by_kind.get(k, 0), peak)
        return by_kind


def run_command(cmd: list[str], env: dict) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(proc.pid)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    peaks = sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"wall_s": round(wall, 1), "peak_rss": peaks, "stdout": out.strip()[-500:]}


def bench_conf(work: Path) -> Path:
    conf = work / "conf"
    if not conf.exists():
        shutil.copytree(REPO / "conf", conf)
        limits = conf / "limits.yaml"
        text = limits.read_text()
        text = re.sub(r"max_file_bytes: \d+", "max_file_bytes: 1073741824", text)
        text = re.sub(r"max_rows_per_file: \d+", "max_rows_per_file: 100000000", text)
        limits.write_text(text)
    return conf


def rows_landed(lake: Path) -> int:
    from deltalake import DeltaTable

    files = DeltaTable(str(lake / "bronze" / "files")).to_pandas(columns=["outcome", "row_count", "reason"])
    bad = files[files.outcome != "landed"]
    if len(bad):
        print("  not landed:", bad.reason.tolist())
    return int(files.loc[files.outcome == "landed", "row_count"].fillna(0).sum())


def one(kind: str, mb: float, work: Path, env: dict, silver: bool) -> dict:
    case = work / f"{kind}_{mb:g}"
    shutil.rmtree(case, ignore_errors=True)
    if kind == "csv":
        d = case / "raw" / "203" / "ssda903" / "2024"
        d.mkdir(parents=True)
        f = d / "episodes.csv"
        records = episodes_csv(f, mb)
    else:
        d = case / "raw" / "202" / "cin" / "2024"
        d.mkdir(parents=True)
        f = d / "CIN_202_2024.xml"
        records = cin_xml(f, mb)
    cslake = str(Path(sys.executable).with_name("cslake"))
    lake = case / "lake"
    res = {"kind": kind, "mb": mb, "bytes": f.stat().st_size, "records": records}
    res["land"] = run_command([cslake, "land", str(case / "raw"), "--lake", str(lake)], env)
    res["rows_landed"] = rows_landed(lake)
    if silver:
        res["silver"] = run_command([cslake, "build", "silver", "--lake", str(lake)], env)
    shutil.rmtree(case, ignore_errors=True)
    return res


def fmt_gb(n: int | None) -> str:
    return "-" if not n else f"{n / 2**30:.2f}"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="16,64,200", help="file sizes in MB, comma-separated")
    ap.add_argument("--kinds", default="csv,xml")
    ap.add_argument("--silver", action="store_true", help="also run cslake build silver on each lake")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "cslake-bench-land-memory"))
    ap.add_argument("--label", default="", help="added to the results file name (e.g. before, after)")
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CSLAKE_HASH_KEY": os.environ.get("CSLAKE_HASH_KEY", BENCH_KEY),
           "CSLAKE_CONF": str(bench_conf(work))}
    results = []
    for kind in args.kinds.split(","):
        for mb in [float(s) for s in args.sizes.split(",")]:
            runs = [one(kind, mb, work, env, args.silver) for _ in range(args.repeats)]
            results.append({"kind": kind, "mb": mb, "runs": runs})
            r = runs[0]
            print(f"{kind} {mb:g} MB: {r['records']:,} records, {r['rows_landed']:,} rows landed; "
                  + "; ".join(f"{st} {r[st]['wall_s']} s, " + ", ".join(f"{k} {fmt_gb(v)} GB" for k, v in
                                                                    sorted(r[st]['peak_rss'].items()))
                              for st in ("land", "silver") if st in r), flush=True)
    print()
    print(f"{'file':<12} {'stage':<7} {'wall s':>7} {'cslake GB':>10} {'helper GB':>10} {'rows landed':>12}")
    for res in results:
        for stage in ("land", "silver"):
            runs = [r for r in res["runs"] if stage in r]
            if not runs:
                continue
            wall = statistics.median(r[stage]["wall_s"] for r in runs)
            main_gb = statistics.median(r[stage]["peak_rss"].get("cslake (driver + Sail)", 0) for r in runs)
            helper = statistics.median(r[stage]["peak_rss"].get("parse helper", 0) for r in runs)
            print(f"{res['kind'] + ' ' + format(res['mb'], 'g') + ' MB':<12} {stage:<7} {wall:>7.1f} "
                  f"{fmt_gb(main_gb):>10} {fmt_gb(helper):>10} {runs[0]['rows_landed']:>12,}")
    out = REPO / "bench" / "results" / f"land_memory{'_' + args.label if args.label else ''}_{args.kinds.replace(',', '-')}_{args.sizes.replace(',', '-')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\n(medians of {args.repeats} run(s); JSON in {out})")
    return results


if __name__ == "__main__":
    main()
