"""BigQuery job configurations of the gcp target, as ``BigQueryInsertJobOperator`` sends them.

Pure functions of (landed file, settings), so tests assert the exact request offline.
"""

from __future__ import annotations

from typing import Any

from fraud_mlops.landing_schema import (
    LandedFile,
    LoadMismatchError,
    LoadRefused,
    bigquery_load_schema,
    redact_card_numbers,
)
from fraud_mlops.settings import Settings, get_settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql


def query_parameters(values: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "parameterType": {"type": "STRING"}, "parameterValue": {"value": value}}
        for name, value in values.items()
    ]


def query_configuration(sql: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
    query: dict[str, Any] = {"query": sql, "useLegacySql": False}
    if parameters:
        query["queryParameters"] = query_parameters(parameters)
    return {"query": query, "labels": {"app": "fraud-mlops"}}


def load_job_configuration(file: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Load one landed CSV into its per-file load table (all STRING; typed in staging).

    The object is loaded as it is stored: BigQuery reads gzip-compressed CSV from Cloud Storage
    without a setting (it decompresses what it detects as gzip). ``maxBadRecords`` is the number
    of unparseable lines validation found, so BigQuery may skip exactly as many lines and no
    more; ``10_append_raw.sql`` then asserts the load table holds every other row.
    ``preserveAsciiControlCharacters``: a control character inside a field (a NUL, say) stays in
    the string, as DuckDB's reader keeps it locally, and staging rejects the row with a reason;
    without it BigQuery's load reports "Bad character (ASCII 0)" for a line validation counted
    as good, and the load no longer holds the rows it counted.
    """
    settings = settings or get_settings()
    landed = LandedFile.from_xcom(file)
    return {
        "load": {
            "sourceUris": [landed.uri],
            "destinationTable": {
                "projectId": settings.project,
                "datasetId": settings.raw_dataset,  # card numbers: the raw dataset only
                "tableId": landed.load_table,
            },
            "schema": {"fields": bigquery_load_schema()},
            "sourceFormat": "CSV",
            "skipLeadingRows": 1,
            "encoding": "UTF-8",
            "maxBadRecords": landed.bad_lines,
            "allowJaggedRows": False,
            "allowQuotedNewlines": False,
            "preserveAsciiControlCharacters": True,
            "createDisposition": "CREATE_IF_NEEDED",
            "writeDisposition": "WRITE_TRUNCATE",
        },
        "labels": {"app": "fraud-mlops"},
    }


def load_refusal(error: Exception, file: dict[str, Any]) -> LoadRefused | None:
    """The refusal of the file's content in a failed load job's error, or ``None`` when the job
    failed for another reason (quota, backend, permissions, configuration: retried, then the
    run fails; no file is quarantined for them).

    A load job that cannot read its source ends with the error result ``reason: invalid``,
    ``location: <the source URI>`` and a message "Error while reading data, error message: CSV
    table encountered too many errors, giving up. Rows: …; errors: …" (the client raises it as
    ``BadRequest`` with ``errors=[errorResult]``: google.cloud.bigquery.job.base
    ``_error_result_to_exception``; the shape as users of the service report it:
    m-lab/etl-gardener#291, pingcap-inc/tidb2dw#84). All three are required. An invalid
    configuration or schema names no source file. BigQuery may quote a field in the message:
    card numbers are cut.
    """
    landed = LandedFile.from_xcom(file)
    for result in getattr(error, "errors", None) or []:
        message = str(result.get("message", ""))
        if (
            result.get("reason") == "invalid"
            and result.get("location") == landed.uri
            and message.startswith("Error while reading data")
        ):
            return LoadRefused("load_refused", redact_card_numbers(message))
    return None


def _skipped_line(error: dict[str, Any]) -> dict[str, Any]:
    """One of a load job's ``status.errors``. Its message may quote a field of the line, and it
    goes to XCom and the task log: card numbers are cut to their last four digits."""
    message = error.get("message")
    return {
        "reason": error.get("reason"),
        "location": error.get("location"),
        "message": redact_card_numbers(message) if message else message,
    }


def load_job_report(job: Any, file: dict[str, Any]) -> dict[str, Any]:
    """What a finished ``LoadJob`` did, from its resource: rows loaded and the errors of the
    lines it skipped (``status.errors``; BigQuery reports only the first ones). Raises when it
    loaded other than the rows validation counted as good (it skipped lines validation did not
    find, or kept some it found)."""
    landed = LandedFile.from_xcom(file)
    skipped = [_skipped_line(error) for error in (job.errors or [])]
    report = {"job_id": job.job_id, "output_rows": job.output_rows, "skipped": skipped}
    if job.output_rows != landed.rows:
        raise LoadMismatchError(
            f"{landed.uri}: BigQuery loaded {job.output_rows} rows, validation counted {landed.rows} good "
            f"rows and {landed.bad_lines} bad lines; BigQuery's errors: {skipped}"
        )
    return report


#: The key a load task sets on a file it refused (the file is quarantined, or was replaced
#: since validation): that file's append is skipped, the others go on.
REFUSED_KEY = "refused"


def appendable(file: dict[str, Any]) -> dict[str, Any]:
    """``file`` if its load loaded it; a refused file's append task is skipped (raised from the
    append's map callable, which Airflow runs as part of that task instance)."""
    if REFUSED_KEY in file:
        from airflow.sdk.exceptions import AirflowSkipException

        uri = LandedFile.from_xcom(file).uri
        raise AirflowSkipException(
            f"{uri}: its load refused it ({file[REFUSED_KEY]['reason']}): nothing to append"
        )
    return file


def append_raw_parameters(file: dict[str, Any]) -> dict[str, str]:
    landed = LandedFile.from_xcom(file)
    return {
        "file_name": landed.uri,
        "file_generation": landed.generation,
        "file_md5": landed.md5,
        "run_id": str(file["run_id"]),
        "expected_rows": str(landed.rows),
    }


def append_raw_sql(file: dict[str, Any], settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    landed = LandedFile.from_xcom(file)
    return render_sql(
        SQL_FILES["append_raw"], settings, load_table=landed.load_table, reject_table=landed.reject_table
    )


def append_raw_job_configuration(file: dict[str, Any]) -> dict[str, Any]:
    """The append job of one loaded file (the append's map callable: a refused file is skipped)."""
    file = appendable(file)
    return query_configuration(append_raw_sql(file), append_raw_parameters(file))


def append_raw_local_kwargs(file: dict[str, Any]) -> dict[str, Any]:
    """``expand_kwargs`` item of the local append task: the same SQL and parameters."""
    file = appendable(file)
    return {"sql": append_raw_sql(file), "parameters": append_raw_parameters(file)}
