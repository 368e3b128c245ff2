"""Train the models and register them in MLflow (champion/challenger by the promotion gate).

    spark-submit jobs/train.py fire-risk [--lake LAKE] [--algorithms glm,gbm] [--no-register]
    spark-submit jobs/train.py early-warning [--lake LAKE]
    cslake train fire-risk

Tracking store: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory
(`mlflow ui --backend-store-uri sqlite:///mlflow.db` to browse it).

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("train")
