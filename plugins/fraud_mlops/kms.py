"""Cloud KMS as a Tink AEAD that unwraps: the key-encryption key of the pseudonym keyset on gcp.

``Decrypt`` goes to ``google-cloud-kms``'s ``KeyManagementServiceClient`` with the key URI's
CryptoKey name, as Tink's own Cloud KMS integration (``tink.integration.gcpkms``) sends it, but
with a bounded wait: Tink passes no retry or timeout, so the client's defaults applied
(``Decrypt`` retried on ``UNAVAILABLE`` and ``DEADLINE_EXCEEDED`` for up to 60 s, 60 s an
attempt). The prediction function unwraps the keyset on its first request, under its service
lock, within a 30 s timeout: during a KMS slowdown that request and every one queued behind the
lock were cut by the platform (a 504) instead of answered 503 ``not_configured``, which the
function tries again after 30 s. Nothing at run time encrypts (wrapping a new keyset is
``scripts/wrap_pseudonym_keyset.py``'s, with Tink's client). The plaintext keyset stays in this
process's memory. The caller's identity needs ``roles/cloudkms.cryptoKeyDecrypter`` on that key
(infra/modules/kms).
"""

from __future__ import annotations

import re
from typing import Any

import tink
from tink import aead

from fraud_mlops.retries import serving_retry

#: Each KMS call's whole wait, retries of ``503 UNAVAILABLE`` included (retries.serving_retry).
KMS_CALL_TIMEOUT_SECONDS = 10.0
KEY_URI_PREFIX = "gcp-kms://"
_CRYPTO_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")


class CloudKmsAead(aead.Aead):
    """Decrypt with one Cloud KMS CryptoKey (KMS picks the version that encrypted)."""

    def __init__(self, client: Any, key_name: str, timeout: float = KMS_CALL_TIMEOUT_SECONDS) -> None:
        if not _CRYPTO_KEY.match(key_name):
            raise tink.TinkError(f"not a Cloud KMS CryptoKey name: {key_name!r}")
        self.client, self.name, self.timeout = client, key_name, timeout

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        raise tink.TinkError("this Cloud KMS AEAD only unwraps (scripts/wrap_pseudonym_keyset.py wraps)")

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        from google.api_core import exceptions

        request = {
            "name": self.name,
            "ciphertext": ciphertext,
            "additional_authenticated_data": associated_data,
        }
        try:
            response = self.client.decrypt(
                request=request, retry=serving_retry(self.timeout), timeout=self.timeout
            )
        except exceptions.GoogleAPIError as exc:  # as Tink's own integration raises them
            raise tink.TinkError(exc) from exc
        return bytes(response.plaintext)


def gcp_kms_aead(kms_key_uri: str) -> aead.Aead:
    """The unwrapping AEAD of ``gcp-kms://projects/…/locations/…/keyRings/…/cryptoKeys/…``."""
    from google.cloud import kms_v1

    if not kms_key_uri.startswith(KEY_URI_PREFIX):
        raise tink.TinkError(f"not a Cloud KMS key URI: {kms_key_uri!r}")
    return CloudKmsAead(kms_v1.KeyManagementServiceClient(), kms_key_uri.removeprefix(KEY_URI_PREFIX))
