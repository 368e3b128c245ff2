"""The fire-risk bands of a predicted dwelling-fire rate per 10,000 households (after LFB's model).

A leaf module: the area model (``cslake.models.fire_risk``) bands its predictions with it
and the prevention list (``cslake.models.fire_prevention``) bands each person's area.
"""

from __future__ import annotations

import numpy as np

# (upper bound inclusive, label, order): ≤10 well below, (10,15] below, (15,20] average,
# (20,25] above, >25 well above.
BANDS = [(10.0, "well below average", 1), (15.0, "below average", 2), (20.0, "average", 3),
         (25.0, "above average", 4), (float("inf"), "well above average", 5)]


def band_of(rate_per_10k) -> tuple[np.ndarray, np.ndarray]:
    """(labels, orders) of each rate per 10,000 households."""
    r = np.asarray(rate_per_10k, dtype=float)
    labels = np.empty(len(r), dtype=object)
    order = np.zeros(len(r), dtype=int)
    lower = -np.inf
    for upper, label, k in BANDS:
        m = (r > lower) & (r <= upper)
        labels[m], order[m] = label, k
        lower = upper
    return labels, order
