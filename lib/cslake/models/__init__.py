"""Models over the lake, tracked in MLflow: small-area fire risk (+ the restricted
prevention referral list) and children's-services early warning.

The entry points the CLI calls; each module documents its method and metrics.
"""

from __future__ import annotations

from typing import Any


def train_fire_risk(lake, **kwargs: Any):
    # lazy: the package must not load every model (and scikit-learn) when one submodule is imported
    from cslake.models.fire_risk import train_fire_risk as f

    return f(lake, **kwargs)


def score_fire_risk(lake, **kwargs: Any):
    # lazy: the package must not load every model (and scikit-learn) when one submodule is imported
    from cslake.models.fire_risk import score_fire_risk as f

    return f(lake, **kwargs)


def train_early_warning(lake, **kwargs: Any):
    # lazy: the package must not load every model (and scikit-learn) when one submodule is imported
    from cslake.models.early_warning import train_early_warning as f

    return f(lake, **kwargs)


def score_early_warning(lake, **kwargs: Any):
    # lazy: the package must not load every model (and scikit-learn) when one submodule is imported
    from cslake.models.early_warning import score_early_warning as f

    return f(lake, **kwargs)


__all__ = ["train_fire_risk", "score_fire_risk", "train_early_warning", "score_early_warning"]
