"""Parse and validate a prediction request; every rejection is a 4xx with a JSON error body.

Card numbers are secrets: no error message, log line or response ever contains the number
(or any part of it). The validated request keeps only the normalised digits, and only until
they are pseudonymised.

Request body (JSON object)::

    {"card_number": "4111 1111 1111 1111",        # required: 12-19 digits, Luhn-valid
     "amount": 42.5,                              # the transaction: amount and merchant
     "merchant": "Corner Shop",                   #   together, or neither
     "transaction_time": "2026-11-22T10:15:00Z",  # optional (default: now)
     "v1": -1.2, ..., "v28": 0.3}                 # optional: the anonymised components

With a transaction (``amount`` and ``merchant``), the card features are computed for *that*
transaction from the card's online state, by the training SQL's rules
(:func:`fraud_mlops.features.request_time_features`): counts and sums include it, its amount is
compared with the 7-day mean including it, its merchant with the card's history. Without one,
the card's latest ingested transaction is scored, with the features the training SQL computed
for it. Either way the model sees a vector training could have produced (no partial overrides).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fraud_mlops.features import V_COMPONENTS, exact_amount
from fraud_mlops.landing_schema import MAX_AMOUNT
from fraud_mlops.pseudonym import luhn_valid

MAX_BODY_BYTES = 16 * 1024
MIN_CARD_DIGITS, MAX_CARD_DIGITS = 12, 19  # ISO/IEC 7812 payment card lengths
REQUIRED_FIELD = "card_number"
OPTIONAL_FIELDS = frozenset({"amount", "merchant", "transaction_time", *V_COMPONENTS})
MAX_MERCHANT_CHARS = 200


class RequestError(Exception):
    """A request the function refuses; ``status`` and ``code`` go into the response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Transaction:
    """The transaction being scored, as the request describes it."""

    time: datetime
    amount: float  # to 9 places, as staging keeps a landed amount (features.exact_amount)
    merchant: str = field(repr=False)
    components: dict[str, float] = field(default_factory=dict)  # v1..v28 given; others missing


@dataclass(frozen=True)
class PredictionRequest:
    card_digits: str = field(repr=False)  # never printed, logged or returned
    transaction: Transaction | None = None


def parse_request(body: bytes, content_length: int | None = None) -> PredictionRequest:
    """Validate a raw body; raises :class:`RequestError` with a safe message on any problem."""
    if (content_length or 0) > MAX_BODY_BYTES or len(body) > MAX_BODY_BYTES:
        raise RequestError(413, "body_too_large", f"the request body exceeds {MAX_BODY_BYTES} bytes")
    if not body.strip():
        raise RequestError(400, "empty_body", "send a JSON object with a card_number")
    try:
        # numbers with a fraction or exponent as the Decimal of their text: the amount is rounded
        # from what the caller wrote, as staging rounds a landed amount's text (exact_amount)
        data = json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise RequestError(400, "invalid_json", "the body is not valid JSON") from None
    except (ValueError, ArithmeticError):
        # an integer of more digits than Python converts (sys.get_int_max_str_digits), or an
        # exponent past Decimal's (1e99999999999999999999: decimal.InvalidOperation)
        raise RequestError(400, "invalid_json", "the body holds a number too long to read") from None
    if not isinstance(data, dict):
        raise RequestError(400, "invalid_json", "the body must be a JSON object")
    unknown = sorted(str(k) for k in data if k != REQUIRED_FIELD and k not in OPTIONAL_FIELDS)
    if unknown:
        shown = ", ".join(name[:40] for name in unknown[:10])
        raise RequestError(400, "unknown_fields", f"unknown fields: {shown}")
    return PredictionRequest(
        card_digits=_card_digits(data.get(REQUIRED_FIELD)), transaction=_transaction(data)
    )


def _card_digits(value: Any) -> str:
    if value is None:
        raise RequestError(400, "missing_card_number", "card_number is required")
    if not isinstance(value, str):
        raise RequestError(400, "invalid_card_number", "card_number must be a string of digits")
    digits = value.replace(" ", "").replace("-", "")  # pseudonym.normalise_card_number's rule
    if not digits.isascii() or not digits.isdigit():
        raise RequestError(
            400, "invalid_card_number", "card_number may contain only digits, spaces and dashes"
        )
    if not MIN_CARD_DIGITS <= len(digits) <= MAX_CARD_DIGITS:
        raise RequestError(
            400,
            "invalid_card_number",
            f"card_number must have {MIN_CARD_DIGITS} to {MAX_CARD_DIGITS} digits",
        )
    if not luhn_valid(digits):
        raise RequestError(400, "invalid_card_number", "card_number fails the Luhn check")
    return digits


def _number(name: str, value: Any) -> float:
    """``value`` as a finite FLOAT64 (the float of a Decimal is that of its text: one rounding)."""
    # bool is an int in Python but not a number here; NaN, Infinity and numbers past FLOAT64's
    # range (1e400) are no finite number either
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise RequestError(400, "invalid_field", f"{name} must be a finite number")
    try:
        number = float(value)
    except OverflowError:  # an integer past FLOAT64's range
        number = math.inf
    if not math.isfinite(number):
        raise RequestError(400, "invalid_field", f"{name} must be a finite number")
    return number


def _transaction(data: dict[str, Any]) -> Transaction | None:
    amount = None
    if data.get("amount") is not None:
        raw = data["amount"]
        _number("amount", raw)  # finite (so within exact_amount's digits) before it is rounded
        # rounded from its text as staging rounds a landed amount (NUMERIC, 9 places): the
        # amount training saw
        amount = float(exact_amount(raw if isinstance(raw, Decimal) else Decimal(raw)))
        if not 0 <= amount <= MAX_AMOUNT:
            raise RequestError(400, "invalid_field", f"amount must be between 0 and {MAX_AMOUNT}")
    moment = _timestamp(data["transaction_time"]) if data.get("transaction_time") is not None else None
    components = {name: _number(name, data[name]) for name in V_COMPONENTS if data.get(name) is not None}
    merchant = data.get("merchant")
    if merchant is not None and (
        not isinstance(merchant, str) or not merchant.strip() or len(merchant) > MAX_MERCHANT_CHARS
    ):
        raise RequestError(
            400,
            "invalid_field",
            f"merchant must be a non-empty string of at most {MAX_MERCHANT_CHARS} characters",
        )
    if amount is None and merchant is None and moment is None and not components:
        return None
    if amount is None or merchant is None:
        raise RequestError(
            400, "incomplete_transaction", "a transaction needs both amount and merchant (or send neither)"
        )
    return Transaction(
        time=moment or datetime.now(UTC), amount=amount, merchant=merchant.strip(), components=components
    )


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise RequestError(400, "invalid_field", "transaction_time must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError(400, "invalid_field", "transaction_time must be an ISO 8601 string") from None
    if moment.tzinfo is None:
        raise RequestError(400, "invalid_field", "transaction_time needs a time zone (e.g. Z)")
    return moment.astimezone(UTC)
