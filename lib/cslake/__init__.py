"""cslake: children's-services returns → a safe, linked, analysable regional Delta lake."""

__version__ = "0.1.0"
