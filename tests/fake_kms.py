"""Cloud KMS mocked at its client class (``google.cloud.kms_v1.KeyManagementServiceClient``).

The fake holds a real Tink AES-GCM key as "the KMS key": ``Decrypt`` answers with a real
``DecryptResponse`` proto, and every request is recorded so tests assert exactly what was sent.
:func:`gcp_keyset` re-wraps a local keyset under that key, so gcp and local pseudonyms come
from the *same* keyset and must agree byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

KMS_KEY_NAME = "projects/fraud-prj/locations/europe-west4/keyRings/fraud/cryptoKeys/card-pseudonym"
KMS_KEY_URI = "gcp-kms://" + KMS_KEY_NAME


@dataclass
class FakeCloudKms:
    requests: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        import tink
        from tink import aead

        aead.register()
        self.aead = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM).primitive(aead.Aead)

    def decrypt(self, request: Any = None, **_: Any) -> Any:
        from google.cloud import kms_v1

        self.requests.append(request)
        plaintext = self.aead.decrypt(request["ciphertext"], request["additional_authenticated_data"])
        return kms_v1.DecryptResponse(plaintext=plaintext)

    @contextmanager
    def patched(self) -> Iterator[mock.MagicMock]:
        with mock.patch("google.cloud.kms_v1.KeyManagementServiceClient") as client_class:
            client_class.return_value.decrypt.side_effect = self.decrypt
            yield client_class

    def gcp_keyset(self, local_dir: Path) -> Any:
        """The local keyset of ``local_dir`` wrapped under this fake's KMS key instead."""
        from fraud_mlops.pseudonym import WrappedKeyset, local_kms_aead, local_wrapped_keyset

        local = local_wrapped_keyset(local_dir)
        plaintext = local_kms_aead(local.kms_key_uri, local_dir).decrypt(local.wrapped, b"")
        return WrappedKeyset(KMS_KEY_URI, self.aead.encrypt(plaintext, b""))

    def env(self, keyset: Any) -> dict[str, str]:
        """Settings of the gcp target for ``keyset`` (a :meth:`gcp_keyset`)."""
        return {"MLOPS_PSEUDONYM_KMS_KEY": keyset.kms_key_uri, "MLOPS_PSEUDONYM_KEYSET": keyset.b64}

    def expected_request(self, keyset: Any) -> dict[str, Any]:
        """What Tink's Cloud KMS AEAD sends to unwrap ``keyset`` (no associated data)."""
        return {"name": KMS_KEY_NAME, "ciphertext": keyset.wrapped, "additional_authenticated_data": b""}
