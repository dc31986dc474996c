{#- The card pseudonym of a digits expression (STRING): Tink's deterministic AEAD under the
    KMS-wrapped keyset (BigQuery unwraps it with Cloud KMS for the query; the text holds only
    ciphertext), then SHA-256 as hex. fraud_mlops/pseudonym.py computes the same in Python;
    docs/least_privilege.md has the threat model. -#}
{%- macro card_pseudonym(digits) -%}
{%- set keyset = pseudonym_keyset() -%}
TO_HEX(SHA256(DETERMINISTIC_ENCRYPT(
    KEYS.KEYSET_CHAIN('{{ keyset.kms_key_uri }}', {{ keyset.sql_bytes }}),
    {{ digits }},
    '{{ pseudonym_aad }}'
  )))
{%- endmacro %}
