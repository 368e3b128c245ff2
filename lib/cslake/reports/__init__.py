"""Reports people read: LA error reports, linkage quality, data packs."""
