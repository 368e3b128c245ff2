"""Linkage: every silver record to one pseudonymous person_id (deterministic, keyed-hash based).

    from cslake.linkage import build_linkage
    report = build_linkage(lake)
"""

from cslake.linkage.build import LinkageReport, build_linkage

__all__ = ["LinkageReport", "build_linkage"]
