"""Train the models and register them in MLflow (champion/challenger by the promotion gate).

    spark-submit jobs/train.py fire-risk [--lake LAKE] [--algorithms glm,gbm]
    spark-submit jobs/train.py early-warning [--lake LAKE]
    cslake run train fire-risk

Tracking store: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory
(`mlflow ui --backend-store-uri sqlite:///mlflow.db` to browse it).
"""

import argparse
import logging

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.engine import get_spark
from cslake.lake import Lake


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Train a cslake model and register it.")
    ap.add_argument("model", choices=["fire-risk", "early-warning"])
    ap.add_argument("--lake", default=None)
    ap.add_argument("--algorithms", default=None,
                    help="comma-separated: glm,gbm (fire-risk) or gbm,logit (early-warning)")
    ap.add_argument("--no-register", action="store_true", help="log the runs but do not register or promote")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lake = Lake(root=args.lake, spark=get_spark())
    kwargs = {"register": not args.no_register}
    if args.algorithms:
        kwargs["algorithms"] = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    if args.model == "fire-risk":
        from cslake.models import train_fire_risk

        print(train_fire_risk(lake, **kwargs).summary())
    else:
        from cslake.models import train_early_warning

        result = train_early_warning(lake, **kwargs)
        print(result.summary())
        if result.forecast:
            print("LA forecast vs naive:", {k: round(v, 3) for k, v in result.forecast["metrics"].items()})


if __name__ == "__main__":
    main()
