-- The pseudonym of one card (@card_number, a query parameter: never the query text), as staging
-- and the erasure (96) compute it: what the erase DAG's last check looks the card up by in the
-- online store (fraud_mlops/ingestion/erasure.py served_after_erasure). Composer may not unwrap
-- the keyset itself (it holds only KMS decrypt via delegation, for BigQuery's KEYS.KEYSET_CHAIN).
{%- from 'macros/pseudonym.sql' import card_pseudonym with context %}
SELECT {{ card_pseudonym("REGEXP_REPLACE(@card_number, r'[ -]', '')") }} AS {{ entity_key }}
