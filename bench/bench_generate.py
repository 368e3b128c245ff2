"""Time the synthetic region generator (London, 5 years) at scale 0.1 and 1.

    .venv/bin/python bench/bench_generate.py [--scales 0.1,1] [--repeat 1] [--out /tmp/cslake-bench]

Prints wall time per stage, files, bytes and peak memory (parent + workers). Targets
(issue 2): scale 1 under 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from cslake.synth.generate import generate_region


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scales", default="0.1,1")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--region", default="london")
    ap.add_argument("--years", default="2021-2025")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from cslake.config import parse_years

    years = parse_years(args.years)
    base = Path(args.out or tempfile.mkdtemp(prefix="cslake-bench-"))
    print(f"region={args.region} years={years[0]}-{years[-1]} out={base}")
    for scale in [float(s) for s in args.scales.split(",")]:
        walls = []
        for i in range(args.repeat):
            out = base / f"scale_{scale}"
            t0 = time.perf_counter()
            res = generate_region(args.region, years, scale=scale, seed=42, out=out, progress=False)
            walls.append(time.perf_counter() - t0)
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in res.seconds.items())
        peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"scale {scale}: median wall {statistics.median(walls):.1f} s over {len(walls)} run(s); "
              f"{len(res.files)} files, {_tree_bytes(out) / 1e6:.0f} MB, {res.faults} faults; "
              f"peak RSS parent {peak_self:.0f} MB, largest worker {peak_kids:.0f} MB")
        print(f"  stages (CPU-seconds summed over workers for write_*): {stages}")


if __name__ == "__main__":
    main()
