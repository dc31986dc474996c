"""File-level ingestion: validation, quarantine, archive, BigQuery job configurations."""
