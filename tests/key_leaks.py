"""What "key material" looks like in text, and a scanner for it (tests/dags/test_key_leaks.py,
tests/stack/test_end_to_end.py).

From a wrapped keyset and its KEK this derives the plaintext keyset and every raw key in it,
then the fixed transforms someone could paste into SQL or a log: hex (both cases), base64,
the Tink JSON key value, each half of an AES-SIV key, and HMAC pads (key XOR 0x36 / 0x5c, the
old ``20_staging.sql``'s ``FROM_HEX('<ipad>')``). A hit on any of them is a leak.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any

_BLOCK = 64  # SHA-256 block: HMAC pads are the key padded to it


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """``key XOR ipad`` and ``key XOR opad`` (RFC 2104), as the old pseudonym SQL embedded them."""
    import hashlib

    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _byte_forms(secret: bytes) -> list[str]:
    forms = [secret.hex(), base64.b64encode(secret).decode()]  # hex matched in any case
    forms.append("".join(f"\\x{b:02x}" for b in secret))  # a BigQuery bytes literal
    return forms


def key_material(serialized_keyset: bytes) -> list[bytes]:
    """The plaintext keyset and each key's raw bytes (and halves: AES-SIV is two AES keys)."""
    from tink import aead, daead, json_proto_keyset_format, proto_keyset_format, secret_key_access

    aead.register()
    daead.register()
    handle = proto_keyset_format.parse(serialized_keyset, secret_key_access.TOKEN)
    material = [serialized_keyset]
    for key in json.loads(json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN))["key"]:
        proto = base64.b64decode(key["keyData"]["value"])
        material.append(proto)
        raw = proto[-64:] if "AesSiv" in key["keyData"]["typeUrl"] else proto[-32:]
        material += [raw, raw[: len(raw) // 2], raw[len(raw) // 2 :]]
    return material


def fingerprints(secrets: Iterable[bytes]) -> list[str]:
    """Every text form of every secret and of its HMAC pads (hex, base64, bytes literal)."""
    forms: list[str] = []
    for secret in secrets:
        forms += _byte_forms(secret)
        for pad in hmac_pads(secret):
            forms += _byte_forms(pad)
    return [f for f in forms if len(f) >= 16]


def keyset_fingerprints(wrapped: bytes, kek: Any) -> list[str]:
    """Fingerprints of the keyset ``kek`` unwraps from ``wrapped`` (never in any text)."""
    return fingerprints(key_material(kek.decrypt(wrapped, b"")))


def find_leaks(texts: Mapping[str, str], forms: Iterable[str]) -> list[tuple[str, str]]:
    """``(where, form)`` for every form found in any text (case-insensitively for hex)."""
    lowered = {where: text.lower() for where, text in texts.items()}
    hits = []
    for form in forms:
        for where, text in texts.items():
            if form in text or (form.isalnum() and form.lower() in lowered[where]):
                hits.append((where, form[:12] + "…"))
    return hits
