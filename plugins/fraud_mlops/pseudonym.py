"""Keyed pseudonyms for card numbers (HMAC-SHA256), identical in SQL and in Python.

BigQuery has no HMAC function, but HMAC is two SHA-256 calls over the key XOR-ed with fixed
pads. The pads are derived here from the key; the SQL (``include/sql/``) computes
``SHA256(opad || SHA256(ipad || card))``, which is exactly :func:`pseudonymise`. The serving
function uses :func:`pseudonymise` directly, so training and serving agree on the entity key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

_BLOCK = 64  # SHA-256 block size in bytes


@dataclass(frozen=True)
class HmacPads:
    """Hex of ``key XOR ipad`` and ``key XOR opad``: what the SQL needs instead of the key."""

    ipad_hex: str
    opad_hex: str


def hmac_pads(key: bytes) -> HmacPads:
    if not key:
        raise ValueError("the pseudonymisation key is empty")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    return HmacPads(ipad.hex(), opad.hex())


def normalise_card_number(card_number: str) -> str:
    """Strip spaces and dashes; the SQL applies the same rule (``REGEXP_REPLACE``)."""
    return card_number.replace(" ", "").replace("-", "")


def pseudonymise(card_number: str, key: bytes) -> str:
    digest = hmac.new(key, normalise_card_number(card_number).encode(), hashlib.sha256)
    return digest.hexdigest()


def _luhn_sum(digits: str, check_digit_present: bool) -> int:
    """Luhn's sum: every second digit from the right is doubled (digit sums above 9 lose 9),
    starting with the check digit's neighbour."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == (1 if check_digit_present else 0):
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def luhn_valid(digits: str) -> bool:
    """The check every card number passes (ISO/IEC 7812); the SQL's macro is ``macros/luhn.sql``."""
    if not digits.isdigit():
        return False
    return _luhn_sum(digits, check_digit_present=True) % 10 == 0


def luhn_complete(body: str) -> str:
    """``body`` (digits) plus the check digit that makes it Luhn-valid: test and bench card numbers."""
    if not body.isdigit():
        raise ValueError("a card number body is digits only")
    return body + str((10 - _luhn_sum(body, check_digit_present=False) % 10) % 10)
