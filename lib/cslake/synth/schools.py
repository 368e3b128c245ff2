"""The region's state-funded schools: one directory shared by the SEND placements
(``synth.send``) and the school census (``synth.school_census``)."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from cslake.config import Region
from cslake.synth.core import synth_conf


@lru_cache(maxsize=8)
def school_directory(region: Region) -> pd.DataFrame:
    """State-funded schools per LA: la, laestab (LA code + 4 digits: 2xxx primary, 4xxx
    secondary, 7xxx special), urn (6 digits, unique per LA and index), phase P/S/SP."""
    las = synth_conf()["las"]
    rows = []
    for la in region.las:
        children = las[la.dfe_code]["children"]
        counts = {"P": max(2, round(children / 900)), "S": max(1, round(children / 4000)),
                  "SP": max(1, round(children / 15000))}
        base = {"P": 2000, "S": 4000, "SP": 7000}
        offset = {"P": 0, "S": 200, "SP": 280}
        for phase, k in counts.items():
            for i in range(k):
                rows.append((la.dfe_code, f"{la.dfe_code}{base[phase] + i + 1:04d}",
                             f"{100000 + int(la.dfe_code) * 300 + offset[phase] + i}", phase))
    return pd.DataFrame(rows, columns=["la", "laestab", "urn", "phase"])
