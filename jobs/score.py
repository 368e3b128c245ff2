"""Score with the `champion` model and write the gold tables.

    spark-submit jobs/score.py fire-risk [--lake LAKE] [--year 2025]
        -> gold.fire_risk_area (+ gold_restricted.fire_prevention_referrals if partner data landed)
    spark-submit jobs/score.py early-warning [--lake LAKE]
        -> gold_restricted.early_warning_scores (the LA forecast is written by training)
"""

import argparse
import logging

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.engine import get_spark
from cslake.lake import Lake


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Score with a registered cslake model.")
    ap.add_argument("model", choices=["fire-risk", "early-warning"])
    ap.add_argument("--lake", default=None)
    ap.add_argument("--alias", default="champion")
    ap.add_argument("--year", type=int, default=None, help="fire-risk: year of area factors (default latest)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lake = Lake(root=args.lake, spark=get_spark())
    if args.model == "fire-risk":
        from cslake.models import score_fire_risk

        print(score_fire_risk(lake, year=args.year, alias=args.alias))
    else:
        from cslake.models import score_early_warning

        print(score_early_warning(lake, alias=args.alias))


if __name__ == "__main__":
    main()
