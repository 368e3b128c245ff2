"""Start time of the embedded engine (Sail), median of 5 starts.

Two numbers: *warm* is get_spark() → first query answered, in a process that
has already imported pyspark/pysail (what a second job step pays); *cold* is a
fresh interpreter importing cslake, starting Sail and answering one query
(what `cslake <command>` pays). Run: .venv/bin/python bench/bench_engine.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 5


def warm_start() -> float:
    from cslake.engine import get_spark, stop_spark

    t0 = time.perf_counter()
    spark = get_spark(engine="sail")
    spark.sql("SELECT 1").collect()
    elapsed = time.perf_counter() - t0
    stop_spark()
    return elapsed


COLD = """
import time; t0 = time.perf_counter()
from cslake.engine import get_spark
get_spark(engine="sail").sql("SELECT 1").collect()
print(time.perf_counter() - t0)
"""


def cold_start() -> float:
    out = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    warm_start()  # first call pays imports; not a start we want to count
    warm = [warm_start() for _ in range(RUNS)]
    cold = [cold_start() for _ in range(RUNS)]
    print(f"embedded Sail start, warm (get_spark -> first query): median {statistics.median(warm):.3f} s over {RUNS} (min {min(warm):.3f}, max {max(warm):.3f})")
    print(f"embedded Sail start, cold (new interpreter, imports included): median {statistics.median(cold):.3f} s over {RUNS} (min {min(cold):.3f}, max {max(cold):.3f})")


if __name__ == "__main__":
    main()
