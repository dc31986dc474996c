"""Keyed pseudonyms for card numbers, with the key kept inside the key service.

A card pseudonym is ``hex(SHA-256(DeterministicAEAD(keyset, digits, "card_pseudonym")))``:
Tink's deterministic AEAD (AES-SIV, key type ``AES256_SIV``) under a *wrapped* keyset, i.e. the
serialized Tink keyset encrypted by a key-encryption key (KEK) that never leaves the key
service. Three places compute it and agree byte for byte:

* BigQuery (gcp): ``DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN(kms_key_uri, wrapped), digits,
  'card_pseudonym')`` in ``include/sql/20_staging.sql``. BigQuery asks Cloud KMS to unwrap the
  keyset for the duration of the query; its output is Tink's ciphertext format.
* DuckDB (local): the same SQL; :mod:`fraud_mlops.warehouse.transpile` maps the call to the
  Python UDF ``deterministic_encrypt`` that runs :class:`Pseudonymiser` (this module).
* The prediction function: :class:`Pseudonymiser` on a keyset unwrapped once per process.

Only ciphertext appears in SQL, job configurations and logs: the wrapped keyset is useless
without the KEK (Cloud KMS on gcp, a stand-in keyset file under ``<local dir>/kms`` locally,
:func:`local_kms_aead`). The SHA-256 on top makes the stored value a fixed-length one-way
token: even a holder of the unwrapped keyset cannot *decrypt* a pseudonym back to a card
number (see docs/least_privilege.md, threat model).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tink import aead as tink_aead
    from tink import daead as tink_daead

    from fraud_mlops.settings import Settings

#: Associated data bound into every pseudonym: the same digits under another purpose differ.
AAD = "card_pseudonym"
#: Key URI scheme of the local stand-in of Cloud KMS (``gcp-kms://`` is Tink's for Cloud KMS).
LOCAL_KMS_SCHEME = "local-kms://"
GCP_KMS_SCHEME = "gcp-kms://"
#: The local stand-in's KEK name (``local-kms://pseudonym-kek``).
LOCAL_KEK_NAME = "pseudonym-kek"
_WRAPPED_FILE = "pseudonym_keyset.wrapped"

#: Resolves a KEK URI to the Tink AEAD that unwraps keysets under it.
KekResolver = Callable[[str], "tink_aead.Aead"]


@dataclass(frozen=True)
class WrappedKeyset:
    """A Tink keyset encrypted by the KEK at ``kms_key_uri``: ciphertext, safe to show."""

    kms_key_uri: str
    wrapped: bytes

    @property
    def sql_bytes(self) -> str:
        """A BigQuery BYTES literal of the wrapped keyset (``KEYS.KEYSET_CHAIN``'s second argument)."""
        return "b'" + "".join(f"\\x{b:02x}" for b in self.wrapped) + "'"

    @property
    def b64(self) -> str:
        return base64.b64encode(self.wrapped).decode()

    @classmethod
    def from_b64(cls, kms_key_uri: str, wrapped_b64: str) -> WrappedKeyset:
        return cls(kms_key_uri, base64.b64decode(wrapped_b64, validate=True))


def _register() -> None:
    from tink import aead, daead

    aead.register()
    daead.register()


class Pseudonymiser:
    """The keyed pseudonym function over one unwrapped keyset (kept in memory only)."""

    def __init__(self, primitive: tink_daead.DeterministicAead) -> None:
        self._primitive = primitive

    def __repr__(self) -> str:  # never print key material
        return "Pseudonymiser(<unwrapped keyset>)"

    def ciphertext(self, plaintext: str, associated_data: str = AAD) -> bytes:
        """What BigQuery's ``DETERMINISTIC_ENCRYPT`` returns for STRING arguments (UTF-8)."""
        return self._primitive.encrypt_deterministically(plaintext.encode(), associated_data.encode())

    def __call__(self, card_number: str) -> str:
        return pseudonym_of_ciphertext(self.ciphertext(normalise_card_number(card_number)))


def pseudonym_of_ciphertext(ciphertext: bytes) -> str:
    """``TO_HEX(SHA256(ciphertext))``, the SQL's last step."""
    return hashlib.sha256(ciphertext).hexdigest()


def new_wrapped_keyset(kek: tink_aead.Aead) -> bytes:
    """A fresh AES256_SIV keyset, serialized (Tink binary format) and encrypted by ``kek``.

    The plaintext keyset exists only inside this call. Empty associated data: the format
    ``KEYS.KEYSET_CHAIN`` unwraps (Cloud KMS ``Decrypt`` of the ciphertext, no AAD).
    """
    import tink
    from tink import daead, proto_keyset_format, secret_key_access

    _register()
    handle = tink.new_keyset_handle(daead.deterministic_aead_key_templates.AES256_SIV)
    return kek.encrypt(proto_keyset_format.serialize(handle, secret_key_access.TOKEN), b"")


def unwrap(keyset: WrappedKeyset, kek: tink_aead.Aead) -> Pseudonymiser:
    """Decrypt the keyset with its KEK (one key-service call) and build the pseudonym function."""
    from tink import daead, proto_keyset_format, secret_key_access

    _register()
    handle = proto_keyset_format.parse(kek.decrypt(keyset.wrapped, b""), secret_key_access.TOKEN)
    return Pseudonymiser(handle.primitive(daead.DeterministicAead))


def normalise_card_number(card_number: str) -> str:
    """Strip spaces and dashes; the SQL applies the same rule (``REGEXP_REPLACE``)."""
    return card_number.replace(" ", "").replace("-", "")


# --- the local stand-in of Cloud KMS ---------------------------------------------------------


def local_kms_dir(local_dir: Path) -> Path:
    """Where the local target's "KMS" keeps its KEKs, and the wrapped pseudonym keyset."""
    return local_dir / "kms"


def local_kms_aead(kms_key_uri: str, local_dir: Path) -> tink_aead.Aead:
    """The local KEK named by ``local-kms://<name>`` (a cleartext Tink AES256_GCM keyset file).

    This file plays Cloud KMS's part: whoever can read it can unwrap the pseudonym keyset,
    as whoever holds ``cloudkms.cryptoKeyVersions.useToDecrypt`` can on gcp.
    """
    from tink import aead, json_proto_keyset_format, secret_key_access

    if not kms_key_uri.startswith(LOCAL_KMS_SCHEME):
        raise ValueError(f"not a local KMS key URI: {kms_key_uri!r}")
    name = kms_key_uri.removeprefix(LOCAL_KMS_SCHEME)
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"bad local KMS key name in {kms_key_uri!r}")
    path = local_kms_dir(local_dir) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"local KMS key {kms_key_uri} is missing ({path}); `make up` creates it")
    _register()
    handle = json_proto_keyset_format.parse(path.read_text(), secret_key_access.TOKEN)
    return handle.primitive(aead.Aead)


def ensure_local_keys(local_dir: Path) -> WrappedKeyset:
    """Create the local KEK and the wrapped pseudonym keyset once; afterwards just read them.

    Never replaced once created: a new keyset would give every card a new pseudonym, and the
    online store and training data would no longer match the cards served.
    """
    import tink
    from tink import aead, json_proto_keyset_format, secret_key_access

    directory = local_kms_dir(local_dir)
    kek_path = directory / f"{LOCAL_KEK_NAME}.json"
    wrapped_path = directory / _WRAPPED_FILE
    uri = LOCAL_KMS_SCHEME + LOCAL_KEK_NAME
    if not kek_path.exists():
        _register()
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        kek = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
        _write_private(kek_path, json_proto_keyset_format.serialize(kek, secret_key_access.TOKEN))
    if not wrapped_path.exists():
        wrapped = new_wrapped_keyset(local_kms_aead(uri, local_dir))
        _write_private(wrapped_path, base64.b64encode(wrapped).decode())
    return local_wrapped_keyset(local_dir)


def _write_private(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text)
    partial.chmod(0o600)
    os.replace(partial, path)


def local_wrapped_keyset(local_dir: Path) -> WrappedKeyset:
    path = local_kms_dir(local_dir) / _WRAPPED_FILE
    if not path.is_file():
        raise FileNotFoundError(f"the local pseudonym keyset is missing ({path}); `make up` creates it")
    return WrappedKeyset.from_b64(LOCAL_KMS_SCHEME + LOCAL_KEK_NAME, path.read_text().strip())


def wrapped_keyset(settings: Settings) -> WrappedKeyset:
    """The keyset the SQL and the function use: ``MLOPS_PSEUDONYM_KEYSET`` under
    ``MLOPS_PSEUDONYM_KMS_KEY`` where set (always on gcp), else the local stand-in's."""
    if settings.pseudonym_keyset:
        return WrappedKeyset.from_b64(settings.pseudonym_kms_key_uri, settings.pseudonym_keyset)
    if settings.pseudonym_kms_key_uri.startswith(LOCAL_KMS_SCHEME):
        return WrappedKeyset(settings.pseudonym_kms_key_uri, local_wrapped_keyset(settings.local_dir).wrapped)
    raise ValueError(
        "MLOPS_PSEUDONYM_KEYSET is not set: the wrapped pseudonym keyset (base64) is required "
        f"with the KMS key {settings.pseudonym_kms_key_uri!r} (docs/deploy.md)"
    )


def local_kek_resolver(local_dir: Path) -> KekResolver:
    """KEKs of the local stand-in; any other scheme is refused (locally there is no Cloud KMS)."""

    def resolve(kms_key_uri: str) -> tink_aead.Aead:
        return local_kms_aead(kms_key_uri, local_dir)

    return resolve


# --- Luhn ------------------------------------------------------------------------------------


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
