"""Generate a synthetic region into a raw drop zone (same options as `cslake generate`).

    spark-submit jobs/generate.py --region london --years 2021-2025 --scale 0.1 --out raw
"""

import argparse
import logging

import _bootstrap  # noqa: F401

from cslake.config import parse_years
from cslake.synth.generate import generate_region


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Generate a synthetic region's returns.")
    ap.add_argument("--region", default="london")
    ap.add_argument("--years", default="2021-2025")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default="raw")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    result = generate_region(args.region, parse_years(args.years), scale=args.scale, seed=args.seed, out=args.out)
    print(result.summary())


if __name__ == "__main__":
    main()
