"""Unique Pupil Numbers: the DfE check-letter algorithm, used by the generator and by silver.

A UPN is 13 characters: a check letter, then 11 digits, then a digit or (for a
temporary UPN) a letter. The check letter is sum(value_i * i) over positions
i = 2..13, mod 23, mapped onto CHECK_LETTERS; a letter in position 13 counts as
its index in CHECK_LETTERS.
"""

from __future__ import annotations

import re

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
UNKNOWN_UPN_CODES = ("UN1", "UN2", "UN3", "UN4", "UN5")
_UPN_SHAPE = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")


def _char_value(ch: str) -> int:
    if ch.isdigit():
        return int(ch)
    idx = CHECK_LETTERS.find(ch)
    if idx < 0:
        raise ValueError(f"{ch!r} cannot appear in a UPN")
    return idx


def check_letter(body: str) -> str:
    """The check letter for the 12 characters after it."""
    if len(body) != 12:
        raise ValueError(f"UPN body must be 12 characters, got {len(body)}")
    total = sum(_char_value(ch) * weight for ch, weight in zip(body, range(2, 14)))
    return CHECK_LETTERS[total % 23]


def normalise_upn(value: str | None) -> str | None:
    """Upper-case, strip spaces; None for blank."""
    if value is None:
        return None
    text = "".join(str(value).split()).upper()
    return text or None


def is_valid_upn(value: str | None) -> bool:
    """True for a well-formed UPN with the right check letter (after normalisation)."""
    upn = normalise_upn(value)
    if upn is None or not _UPN_SHAPE.match(upn):
        return False
    try:
        return check_letter(upn[1:]) == upn[0]
    except ValueError:
        return False


def make_upn(la_code: str, year2: int, serial: int) -> str:
    """A permanent UPN: LA code (3) + allocation year (2) + serial (7), with its check letter."""
    body = f"{int(la_code):03d}{year2 % 100:02d}{serial % 10_000_000:07d}"
    return check_letter(body) + body
