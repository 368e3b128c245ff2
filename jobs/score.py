"""Score with the `champion` model and write the gold tables.

    spark-submit jobs/score.py fire-risk [--lake LAKE] [--year 2025] [--alias champion]
        -> gold.fire_risk_area (+ gold_restricted.fire_prevention_referrals if partner data landed)
    spark-submit jobs/score.py early-warning [--lake LAKE]
        -> gold_restricted.early_warning_scores (the LA forecast is written by training)

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("score")
