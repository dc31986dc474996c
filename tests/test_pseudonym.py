"""Card numbers: the project's one Luhn implementation, and the keyed pseudonym.

The pseudonym is computed in three places (BigQuery SQL, the same SQL on DuckDB, the
prediction function); the parity test runs all three on one keyset and compares bytes.
"""

from __future__ import annotations

import hashlib
from unittest import mock

import numpy as np
import pytest

from devtools.generator.synth import GeneratorConfig, generate, luhn_check_digits
from fraud_mlops import targets
from fraud_mlops.ingestion.increment import increment_parameters
from fraud_mlops.pseudonym import (
    AAD,
    WrappedKeyset,
    ensure_local_keys,
    local_wrapped_keyset,
    luhn_complete,
    luhn_valid,
)
from fraud_mlops.settings import settings_from_env
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.hook import BigQueryDialectDuckDBHook
from fraud_mlops.warehouse.transpile import transpile_statement
from tests.fake_kms import KMS_KEY_URI, FakeCloudKms
from tests.serving.helpers import ServingRetry
from tests.sql_chain import load_landing, transform


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


def test_pseudonym_is_sha256_of_tinks_deterministic_aead_ciphertext(local_settings, pseudonymise) -> None:
    from tink import daead, proto_keyset_format, secret_key_access

    keyset = local_wrapped_keyset(local_settings.local_dir)
    from fraud_mlops.pseudonym import local_kms_aead

    plaintext = local_kms_aead(keyset.kms_key_uri, local_settings.local_dir).decrypt(keyset.wrapped, b"")
    handle = proto_keyset_format.parse(plaintext, secret_key_access.TOKEN)
    ciphertext = handle.primitive(daead.DeterministicAead).encrypt_deterministically(
        b"4111111111111111", AAD.encode()
    )
    # Tink's wire format, as BigQuery's AEAD functions emit it: 0x01, 4-byte key id, SIV || text
    assert ciphertext[0] == 1 and len(ciphertext) == 5 + 16 + 16
    assert pseudonymise("4111 1111-1111 1111") == hashlib.sha256(ciphertext).hexdigest()
    assert pseudonymise("4111111111111111") != pseudonymise("4000000000000002")


def test_a_new_keyset_gives_other_pseudonyms(tmp_path, pseudonymise) -> None:
    ensure_local_keys(tmp_path / "other")
    other = targets.pseudonymiser(settings_from_env({"MLOPS_LOCAL_DIR": str(tmp_path / "other")}))
    assert other("4111111111111111") != pseudonymise("4111111111111111")


def test_keys_are_created_once_and_kept(local_settings) -> None:
    before = local_wrapped_keyset(local_settings.local_dir)
    assert ensure_local_keys(local_settings.local_dir) == before
    kms_dir = local_settings.local_dir / "kms"
    assert {p.stat().st_mode & 0o777 for p in kms_dir.iterdir()} == {0o600}


def test_the_adapter_maps_keyset_chain_to_the_udf_and_keeps_the_bytes() -> None:
    keyset = WrappedKeyset(KMS_KEY_URI, bytes(range(256)))
    sql = (
        "SELECT TO_HEX(SHA256(DETERMINISTIC_ENCRYPT("
        f"KEYS.KEYSET_CHAIN('{keyset.kms_key_uri}', {keyset.sql_bytes}), card_digits, 'card_pseudonym'))) FROM t"
    )
    duck = transpile_statement(sql)
    assert "deterministic_encrypt(" in duck.lower() and "KEYS." not in duck
    assert f"FROM_BASE64('{keyset.b64}')" in duck


def test_local_gcp_rendered_and_function_pseudonyms_are_byte_identical(
    warehouse, local_settings, pseudonymise
) -> None:
    landing = generate(GeneratorConfig(rows=300, seed=4, rows_per_card=3)).landing
    load_landing(warehouse, local_settings, landing, "a.csv")
    cards = landing.set_index("transaction_id")["card_number"]

    # local: the template rendered for the local target, on DuckDB (the increment's candidates)
    bounds = transform(warehouse, local_settings, publish=False)
    parameters = increment_parameters(bounds, "r1")
    local = dict(
        warehouse.get_records(
            "SELECT transaction_id, card_pseudonym FROM `fraud_candidates.stg_transactions`"
        )
    )

    # gcp: the same keyset wrapped by (fake) Cloud KMS; the SQL rendered for gcp, run by the adapter
    kms = FakeCloudKms()
    gcp_keyset = kms.gcp_keyset(local_settings.local_dir)
    gcp = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": "fraud-prj", **kms.env(gcp_keyset)})
    sql = render_sql(SQL_FILES["staging"], gcp)
    assert f"KEYS.KEYSET_CHAIN('{KMS_KEY_URI}', {gcp_keyset.sql_bytes})" in sql
    assert "`fraud-prj.fraud_raw.raw_transactions`" in sql
    unwrapped_with: list[str] = []

    def cloud_kms(uri: str):  # what BigQuery does with KEYS.KEYSET_CHAIN: ask KMS for the key
        unwrapped_with.append(uri)
        return kms.aead

    hook = BigQueryDialectDuckDBHook(
        database=str(local_settings.warehouse_path),
        snapshot_dir=local_settings.snapshot_dir,
        kek_resolver=cloud_kms,
    )
    hook.run(
        sql.replace("`fraud-prj.", "`"), parameters=parameters
    )  # the local warehouse has no project level
    on_gcp = dict(
        hook.get_records("SELECT transaction_id, card_pseudonym FROM `fraud_candidates.stg_transactions`")
    )
    assert unwrapped_with == [KMS_KEY_URI]

    # the prediction function on gcp: Tink unwraps through the Cloud KMS client
    with kms.patched() as client_class:
        function = targets.pseudonymiser(gcp)
    assert kms.requests == [kms.expected_request(gcp_keyset)]
    # a bounded wait: KMS's own default (retries for 60 s, 60 s an attempt) outlasts the
    # function's 30 s timeout, on the request that unwraps the keyset under the service lock
    client_class.return_value.decrypt.assert_called_once_with(
        request=kms.expected_request(gcp_keyset), retry=ServingRetry(10.0), timeout=10.0
    )

    assert len(local) == len(landing)
    for tx, pseudonym in local.items():
        assert pseudonym == on_gcp[tx] == function(cards[tx]) == pseudonymise(cards[tx])
        assert len(pseudonym) == 64


def test_the_local_warehouse_cannot_reach_cloud_kms(warehouse, local_settings) -> None:
    keyset = WrappedKeyset(KMS_KEY_URI, b"\x01" * 40)
    with pytest.raises(Exception, match="not a local KMS key URI"):
        warehouse.get_records(
            f"SELECT DETERMINISTIC_ENCRYPT(KEYS.KEYSET_CHAIN('{KMS_KEY_URI}', {keyset.sql_bytes}), 'x', 'y')"
        )


def test_cloud_kms_errors_and_key_names_are_tink_errors() -> None:
    """What the function's service build catches (a 503 ``not_configured``, retried later)."""
    import tink
    from google.api_core import exceptions

    from fraud_mlops.kms import CloudKmsAead, gcp_kms_aead

    client = mock.Mock()
    client.decrypt.side_effect = exceptions.RetryError("Timeout of 9.0s exceeded", None)
    kek = CloudKmsAead(client, KMS_KEY_URI.removeprefix("gcp-kms://"))
    with pytest.raises(tink.TinkError, match=r"Timeout of 9\.0s exceeded"):
        kek.decrypt(b"wrapped", b"")
    with pytest.raises(tink.TinkError, match="only unwraps"):
        kek.encrypt(b"keyset", b"")  # nothing at run time wraps: no Encrypt permission either
    client.encrypt.assert_not_called()
    with pytest.raises(tink.TinkError, match="not a Cloud KMS CryptoKey name"):
        CloudKmsAead(client, KMS_KEY_URI.removeprefix("gcp-kms://") + "/cryptoKeyVersions/1")
    with pytest.raises(tink.TinkError, match="not a Cloud KMS key URI"):
        gcp_kms_aead("aws-kms://arn:aws:kms:eu-west-1:1:key/x")
