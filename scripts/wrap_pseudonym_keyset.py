"""``python -m scripts.wrap_pseudonym_keyset KMS_KEY_URI``: a new card pseudonym keyset, wrapped.

Creates a Tink AES256_SIV keyset in memory, has Cloud KMS encrypt it with the pseudonym KEK
(``tofu output pseudonym_kms_key_uri``), and prints the ciphertext as base64: the value of the
OpenTofu variable ``pseudonym_wrapped_keyset`` (settings ``MLOPS_PSEUDONYM_KEYSET``). The
plaintext keyset is never written anywhere. Run once, by the deployer (it needs
``cloudkms.cryptoKeyVersions.useToEncrypt`` on the key, which no runtime identity has); a new
keyset gives every card a new pseudonym (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.wrap_pseudonym_keyset", description=__doc__)
    parser.add_argument("kms_key_uri", help="gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K")
    args = parser.parse_args(argv)
    if not args.kms_key_uri.startswith("gcp-kms://"):
        parser.error("the key URI must start with gcp-kms://")

    from tink.integration import gcpkms

    from fraud_mlops.pseudonym import WrappedKeyset, new_wrapped_keyset

    # Tink's own Cloud KMS client (Encrypt): run once by a person, so its default wait is fine;
    # what unwraps at run time is fraud_mlops.kms (bounded, decrypt only)
    kek = gcpkms.GcpKmsClient(args.kms_key_uri).get_aead(args.kms_key_uri)
    wrapped = WrappedKeyset(args.kms_key_uri, new_wrapped_keyset(kek))
    sys.stdout.write(wrapped.b64 + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
