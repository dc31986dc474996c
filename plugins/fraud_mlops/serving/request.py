"""Parse and validate a prediction request; every rejection is a 4xx with a JSON error body.

Card numbers are secrets: no error message, log line or response ever contains the number
(or any part of it). The validated request keeps only the normalised digits, and only until
they are pseudonymised.

Request body (JSON object)::

    {"card_number": "4111 1111 1111 1111",        # required: 12-19 digits, Luhn-valid
     "amount": 42.5,                              # optional: overrides the stored amount
     "transaction_time": "2026-11-22T10:15:00Z",  # optional: gives hour_of_day, day_of_week
     "v1": -1.2, ..., "v28": 0.3}                 # optional: the anonymised components

Optional fields override the card's stored *transaction* features only; card features are
always served as the training SQL computed them (feature parity).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fraud_mlops.features import V_COMPONENTS
from fraud_mlops.landing_schema import MAX_AMOUNT
from fraud_mlops.pseudonym import luhn_valid

MAX_BODY_BYTES = 16 * 1024
MIN_CARD_DIGITS, MAX_CARD_DIGITS = 12, 19  # ISO/IEC 7812 payment card lengths
REQUIRED_FIELD = "card_number"
OPTIONAL_FIELDS = frozenset({"amount", "transaction_time", *V_COMPONENTS})


class RequestError(Exception):
    """A request the function refuses; ``status`` and ``code`` go into the response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PredictionRequest:
    card_digits: str = field(repr=False)  # never printed, logged or returned
    overrides: dict[str, float | int] = field(default_factory=dict)


def parse_request(body: bytes, content_length: int | None = None) -> PredictionRequest:
    """Validate a raw body; raises :class:`RequestError` with a safe message on any problem."""
    if (content_length or 0) > MAX_BODY_BYTES or len(body) > MAX_BODY_BYTES:
        raise RequestError(413, "body_too_large", f"the request body exceeds {MAX_BODY_BYTES} bytes")
    if not body.strip():
        raise RequestError(400, "empty_body", "send a JSON object with a card_number")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise RequestError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError(400, "invalid_json", "the body must be a JSON object")
    unknown = sorted(str(k) for k in data if k != REQUIRED_FIELD and k not in OPTIONAL_FIELDS)
    if unknown:
        shown = ", ".join(name[:40] for name in unknown[:10])
        raise RequestError(400, "unknown_fields", f"unknown fields: {shown}")
    return PredictionRequest(card_digits=_card_digits(data.get(REQUIRED_FIELD)), overrides=_overrides(data))


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
    # bool is an int in Python but not a number here; NaN/inf are not valid JSON values anyway
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RequestError(400, "invalid_field", f"{name} must be a finite number")
    return float(value)


def _overrides(data: dict[str, Any]) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    if data.get("amount") is not None:
        amount = _number("amount", data["amount"])
        if not 0 <= amount <= MAX_AMOUNT:
            raise RequestError(400, "invalid_field", f"amount must be between 0 and {MAX_AMOUNT}")
        out["amount"] = amount
    if data.get("transaction_time") is not None:
        moment = _timestamp(data["transaction_time"])
        out["hour_of_day"] = moment.hour
        out["day_of_week"] = moment.isoweekday() % 7 + 1  # BigQuery DAYOFWEEK: Sunday = 1
    for name in V_COMPONENTS:
        if data.get(name) is not None:
            out[name] = _number(name, data[name])
    return out


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
