"""Gold build: wall time and peak memory (this process; the embedded Sail server runs in it).

    python bench/bench_gold.py --lake LAKE            # a lake with silver built
    python bench/bench_gold.py --raw RAW --lake LAKE  # land + silver first (needs CSLAKE_HASH_KEY)

Target (issue 5): London, 5 years, scale 1: gold under 5 minutes.
"""

import argparse
import resource
import time

from cslake.engine import get_spark
from cslake.gold.build import build_gold
from cslake.lake import Lake


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", required=True)
    ap.add_argument("--raw", default=None)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    lake = Lake(args.lake, spark=get_spark())
    if args.raw:
        from cslake.land import land_raw
        from cslake.silver import build_silver

        land_raw(lake, args.raw)
        build_silver(lake)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        report = build_gold(lake)
        times.append(time.perf_counter() - t0)
    print(report.summary())
    times.sort()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"gold build: median {times[len(times) // 2]:.1f}s over {len(times)} runs (min {times[0]:.1f}s); "
          f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
