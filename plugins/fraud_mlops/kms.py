"""Cloud KMS as a Tink AEAD: the key-encryption key of the pseudonym keyset on gcp.

Tink's own Cloud KMS integration (``tink.integration.gcpkms``, over ``google-cloud-kms``'s
``KeyManagementServiceClient``) sends ``Decrypt`` with the key URI's CryptoKey name and the
wrapped keyset; the plaintext keyset stays in this process's memory. The caller's identity
needs ``roles/cloudkms.cryptoKeyDecrypter`` on that key (infra/modules/kms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tink import aead as tink_aead


def gcp_kms_aead(kms_key_uri: str) -> tink_aead.Aead:
    """The AEAD of ``gcp-kms://projects/…/locations/…/keyRings/…/cryptoKeys/…``."""
    from tink.integration import gcpkms

    return gcpkms.GcpKmsClient(kms_key_uri).get_aead(kms_key_uri)
