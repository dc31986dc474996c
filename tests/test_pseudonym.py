"""Card numbers: the project's one Luhn implementation, and the keyed pseudonym."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pytest

from devtools.generator.synth import luhn_check_digits
from fraud_mlops.pseudonym import luhn_complete, luhn_valid, pseudonymise


@pytest.mark.parametrize(
    ("body", "number"),
    [
        ("411111111111111", "4111111111111111"),
        ("400000000000000", "4000000000000002"),
        ("7992739871", "79927398713"),
    ],
)
def test_luhn_complete_appends_the_published_check_digit(body: str, number: str) -> None:
    assert luhn_complete(body) == number
    assert luhn_valid(number)
    assert not luhn_valid(number[:-1] + str((int(number[-1]) + 1) % 10))


def test_the_generators_vectorised_check_digits_are_luhns() -> None:
    bodies = np.random.default_rng(7).integers(0, 10, size=(2_000, 15))
    digits = luhn_check_digits(bodies)
    for body, digit in zip(bodies, digits, strict=True):
        assert luhn_complete("".join(map(str, body))) == "".join(map(str, body)) + str(digit)


def test_pseudonym_is_hmac_sha256_of_the_normalised_number() -> None:
    key = b"k" * 40
    expected = hmac.new(key, b"4111111111111111", hashlib.sha256).hexdigest()
    assert pseudonymise("4111 1111-1111 1111", key) == expected
    assert pseudonymise("4111111111111111", b"other key") != expected
