"""File-level ingestion: validation, quarantine and archive of landed files (through the storage seam).

The loads themselves are the warehouse's (:mod:`fraud_mlops.warehouse`): a BigQuery load job
on gcp, DuckDB's CSV reader locally.
"""
