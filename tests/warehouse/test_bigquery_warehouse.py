"""The gcp warehouse seam: the exact BigQuery requests, with the client mocked at its boundary.

``BigQueryHook.get_client`` is the provider's own; only the ``google.cloud.bigquery.Client``
class it instantiates is replaced, and the tests read back what was sent to it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.cloud import bigquery

from fraud_mlops import targets
from fraud_mlops.settings import Settings
from fraud_mlops.warehouse.bigquery import BigQueryWarehouse


@pytest.fixture
def client(gcp_settings: Settings, google_connection: None) -> Iterator[mock.MagicMock]:
    with mock.patch("airflow.providers.google.cloud.hooks.bigquery.Client") as client_class:
        yield client_class.return_value
    assert client_class.call_args.kwargs["project"] == "fraud-prj"
    assert client_class.call_args.kwargs["location"] == "EU"


@pytest.fixture
def warehouse(gcp_settings: Settings) -> BigQueryWarehouse:
    chosen = targets.warehouse(gcp_settings)
    assert isinstance(chosen, BigQueryWarehouse)
    return chosen


def _parameters(config: bigquery.QueryJobConfig) -> dict[str, tuple[str, str]]:
    return {p.name: (p.type_, p.value) for p in config.query_parameters}


def test_records_sends_a_labelled_query_with_named_string_parameters(
    warehouse: BigQueryWarehouse, client: mock.MagicMock
) -> None:
    client.query.return_value.result.return_value = [
        bigquery.Row(("a", 1), {"k": 0, "n": 1}),
        bigquery.Row(("b", 2), {"k": 0, "n": 1}),
    ]
    assert warehouse.records("SELECT k, n FROM t WHERE k = @k", {"k": "a"}) == [("a", 1), ("b", 2)]
    (sql,) = client.query.call_args.args
    config = client.query.call_args.kwargs["job_config"]
    assert sql == "SELECT k, n FROM t WHERE k = @k"
    assert _parameters(config) == {"k": ("STRING", "a")}
    assert config.labels == {"app": "fraud-mlops"}


def test_execute_waits_for_the_job_in_the_datasets_location(
    warehouse: BigQueryWarehouse, client: mock.MagicMock
) -> None:
    warehouse.execute("INSERT INTO t VALUES (@v)", {"v": "x"})
    assert client.query.call_args.kwargs["location"] == "EU"
    assert _parameters(client.query.call_args.kwargs["job_config"]) == {"v": ("STRING", "x")}
    client.query.return_value.result.assert_called_once_with()


def test_read_arrow_pages_over_rest_and_opens_no_storage_read_session(
    warehouse: BigQueryWarehouse, google_connection: None
) -> None:
    """The real client on BigQuery's REST API (tests/bigquery_rest.py), its results over several
    pages: every row comes back, through ``getQueryResults`` pages, and no Storage Read session
    is opened (Composer's account may not create one; docs/least_privilege.md). Left to itself
    the client opens one for any result, a single row included."""
    from google.cloud import bigquery_storage

    from tests.bigquery_rest import FakeBigQueryREST, patched_get_client

    fields = [{"name": "n", "type": "INTEGER", "mode": "NULLABLE"}, {"name": "features", "type": "STRING"}]
    rows = [(n, f'{{"amount": {n}.5}}') for n in range(2_000)]
    fake = FakeBigQueryREST(results=lambda query: (fields, rows), page_bytes=16_384)
    sessions = mock.patch.object(
        bigquery_storage.BigQueryReadClient,
        "create_read_session",
        side_effect=AssertionError("a read session"),
    )
    with patched_get_client(fake), sessions as create_read_session:
        table = warehouse.read_arrow("SELECT n, features FROM t")
    create_read_session.assert_not_called()
    assert table.column("n").to_pylist() == list(range(2_000))
    assert table.column("features").to_pylist()[1_999] == '{"amount": 1999.5}'
    (job,) = fake.jobs
    assert job["jobReference"]["projectId"] == "fraud-prj"
    assert job["jobReference"]["location"] == "EU"
    assert job["configuration"]["query"]["query"] == "SELECT n, features FROM t"
    assert job["configuration"]["labels"] == {"app": "fraud-mlops"}
    tokens = [r.get("pageToken") for r in fake.result_requests]
    assert len(tokens) > 3 and tokens[0] is None and all(tokens[2:])  # waited (maxResults=0), then paged


def test_table_exists_asks_tables_get_and_a_missing_dataset_raises(
    warehouse: BigQueryWarehouse, google_connection: None
) -> None:
    """The real client on BigQuery's REST API (tests/bigquery_rest.py): ``datasets.get`` then
    ``tables.get``, no query job. A missing table is ``False``; a missing dataset (a wrong name in
    the settings) is the service's NotFound, not an empty answer."""
    from google.api_core.exceptions import NotFound

    from tests.bigquery_rest import FakeBigQueryREST, patched_get_client

    fake = FakeBigQueryREST(
        table_rows={"fraud-prj.fraud_logs.run_googleapis_com_stdout": 3}.get,
        datasets=lambda dataset: dataset == "fraud-prj.fraud_logs",
    )
    with patched_get_client(fake):
        assert warehouse.table_exists("fraud-prj.fraud_logs.run_googleapis_com_stdout")
        assert not warehouse.table_exists("fraud-prj.fraud_logs.other")
        with pytest.raises(NotFound, match="Dataset fraud-prj:fraud_log"):
            warehouse.table_exists("fraud-prj.fraud_log.run_googleapis_com_stdout")
    assert fake.jobs == [] and fake.unknown == []
    assert fake.datasets_read == ["fraud-prj.fraud_logs"] * 2 + ["fraud-prj.fraud_log"]
    assert fake.tables_read == [
        "fraud-prj.fraud_logs.run_googleapis_com_stdout",
        "fraud-prj.fraud_logs.other",
    ]


def test_leftover_load_tables_are_listed_on_every_page_and_only_they_are_deleted(
    warehouse: BigQueryWarehouse, google_connection: None
) -> None:
    """``tables.list`` of the raw dataset and the dataset, every page (the real client follows
    ``nextPageToken``), then ``tables.delete`` of each per-file table: load tables in the raw
    dataset, reject tables in the dataset, nothing else (a look-alike in the other dataset
    stays). No query job: nothing billed, and no table scanned."""
    from tests.bigquery_rest import FakeBigQueryREST, patched_get_client

    listed = {
        "fraud-prj.fraud_raw": ["raw_load_aa_1", "raw_transactions", "raw_load_bb_2", "raw_loads", "zz"],
        "fraud-prj.fraud": ["raw_load_cc_3", "reject_load_aa_1", "stg_transactions"],
    }
    fake = FakeBigQueryREST(tables=listed.get, list_page=2)
    with patched_get_client(fake):
        assert warehouse.drop_leftover_load_tables() == [
            "fraud_raw.raw_load_aa_1", "fraud_raw.raw_load_bb_2", "fraud.reject_load_aa_1",
        ]  # fmt: skip
        assert warehouse.drop_leftover_load_tables() == []  # gone: a second run finds none
    assert fake.jobs == [] and fake.unknown == []
    assert fake.tables_listed == (["fraud-prj.fraud_raw"] * 3 + ["fraud-prj.fraud"] * 2) + [
        "fraud-prj.fraud_raw", "fraud-prj.fraud_raw", "fraud-prj.fraud",
    ]  # fmt: skip
    assert fake.tables_deleted == [
        "fraud-prj.fraud_raw.raw_load_aa_1", "fraud-prj.fraud_raw.raw_load_bb_2", "fraud-prj.fraud.reject_load_aa_1",
    ]  # fmt: skip


def test_replace_table_is_a_truncating_parquet_load(
    warehouse: BigQueryWarehouse, client: mock.MagicMock
) -> None:
    sent: dict[str, object] = {}

    def load(buffer: io.BytesIO, destination: str, job_config: bigquery.LoadJobConfig) -> mock.Mock:
        sent.update(rows=pq.read_table(buffer), destination=destination, config=job_config)
        return mock.Mock()

    client.load_table_from_file.side_effect = load
    warehouse.replace_table("card_predictions_staging", pa.table({"k": ["a", "b"]}))
    assert sent["destination"] == "fraud-prj.fraud.card_predictions_staging"
    assert sent["rows"].to_pylist() == [{"k": "a"}, {"k": "b"}]  # type: ignore[attr-defined]
    config = sent["config"]
    assert isinstance(config, bigquery.LoadJobConfig)
    assert config.source_format == bigquery.SourceFormat.PARQUET
    assert config.write_disposition == bigquery.WriteDisposition.WRITE_TRUNCATE
    assert config.labels == {"app": "fraud-mlops"}


def test_row_count_is_the_tables_metadata_not_a_query(
    warehouse: BigQueryWarehouse, gcp_settings: Settings, google_connection: None
) -> None:
    """A real client, its HTTP transport replaced: the exact REST call and Google's own parsing
    of a ``tables.get`` answer (``numRows`` is a string: int64 in JSON, per the REST reference)."""
    import json

    import requests
    from google.auth.credentials import AnonymousCredentials

    sent: list[tuple[str, str]] = []

    def respond(method: str, url: str, **_: object) -> requests.Response:
        sent.append((method, url.split("?")[0]))
        answer = requests.Response()
        answer.status_code = 200
        answer.headers["Content-Type"] = "application/json"
        answer._content = json.dumps(
            {
                "kind": "bigquery#table",
                "id": "fraud-prj:fraud.stg_transactions",
                "tableReference": {
                    "projectId": "fraud-prj",
                    "datasetId": "fraud",
                    "tableId": "stg_transactions",
                },
                "timePartitioning": {"type": "DAY", "field": "event_time", "requirePartitionFilter": True},
                "numRows": "3650000000",
            }
        ).encode()
        return answer

    class Transport(requests.Session):
        is_mtls = False  # what google-auth's AuthorizedSession answers without a client certificate

        def request(
            self, method: str | bytes, url: str | bytes, *args: object, **kwargs: object
        ) -> requests.Response:  # type: ignore[override]
            return respond(str(method), str(url))

    transport = Transport()

    def real_client(**kwargs: object) -> bigquery.Client:
        kwargs.update(credentials=AnonymousCredentials(), _http=transport)
        return bigquery.Client(**kwargs)  # type: ignore[arg-type]

    with mock.patch("airflow.providers.google.cloud.hooks.bigquery.Client", side_effect=real_client):
        assert warehouse.row_count("stg_transactions") == 3_650_000_000
    assert sent == [
        (
            "GET",
            "https://bigquery.googleapis.com/bigquery/v2/projects/fraud-prj/datasets/fraud/tables/stg_transactions",
        )
    ]


def test_snapshot_uri_is_the_bigquery_table(warehouse: BigQueryWarehouse) -> None:
    assert (
        warehouse.snapshot_uri("training_snapshot_x") == "bq://fraud-prj.fraud_snapshots.training_snapshot_x"
    )


def test_sql_operator_is_an_insert_job_including_the_sql_file(warehouse: BigQueryWarehouse) -> None:
    operator = warehouse.sql_operator(
        "build_staging", "20_staging.sql", parameters={"run_id": "{{ run_id }}"}
    )
    assert type(operator).__name__ == "BigQueryInsertJobOperator"
    assert operator.configuration == {
        "query": {
            "query": "{% include '20_staging.sql' %}",
            "useLegacySql": False,
            "queryParameters": [
                {
                    "name": "run_id",
                    "parameterType": {"type": "STRING"},
                    "parameterValue": {"value": "{{ run_id }}"},
                }
            ],
        },
        "labels": {"app": "fraud-mlops"},
    }
    assert (operator.project_id, operator.location, operator.pool) == ("fraud-prj", "EU", "default_pool")


FILE = {
    "bucket": "fraud-landing", "name": "incoming/day1.csv.gz", "generation": "17",
    "md5": "0123456789abcdef0123456789abcdef", "size": 1000, "rows": 1997, "bad_lines": 3,
    "compression": "gzip", "run_id": "manual__x",
}  # fmt: skip


@pytest.fixture
def landed(gcs_client: Any) -> dict[str, Any]:
    """FILE as validation hands it on, for an object in the GCS emulator (its generation): the
    load checks after the job that the object is still the one validated."""
    blob = gcs_client.create_bucket(FILE["bucket"]).blob(FILE["name"])
    blob.upload_from_string(b"the landed bytes")
    return {**FILE, "generation": str(blob.generation)}


#: status.errors of a load job that skipped bad lines (JobStatus.errors: ErrorProto list).
SKIPPED = [
    {
        "reason": "invalid",
        "location": "gs://fraud-landing/incoming/day1.csv.gz",
        "message": "Error while reading data, error message: CSV processing encountered too many errors",
    }
]


def _done_load_job(sent: dict, output_rows: int) -> dict:
    """The job resource BigQuery returns for a finished load (jobs.insert response)."""
    return {
        **sent,
        "id": f"fraud-prj:EU.{sent['jobReference']['jobId']}",
        "status": {"state": "DONE", "errors": SKIPPED},
        "statistics": {"load": {"inputFiles": "1", "outputRows": str(output_rows), "badRecords": "3"}},
    }


@pytest.mark.parametrize("output_rows", [1997, 1996])
def test_load_file_sends_the_load_job_and_records_what_bigquery_skipped(
    warehouse: BigQueryWarehouse, client: mock.MagicMock, landed: dict[str, Any], output_rows: int
) -> None:
    from fraud_mlops.warehouse.bigquery_jobs import LoadMismatchError, load_job_configuration

    client._call_api.side_effect = lambda *a, **kw: _done_load_job(kw["data"], output_rows)
    if output_rows == 1997:
        report = warehouse.load_file(landed)
        assert report["output_rows"] == 1997 and report["skipped"] == SKIPPED
    else:  # BigQuery skipped a line validation found good: the run stops, nothing is appended
        with pytest.raises(LoadMismatchError, match="loaded 1996 rows, validation counted 1997"):
            warehouse.load_file(landed)
        load_table = load_job_configuration(landed, warehouse.settings)["load"]["destinationTable"]["tableId"]
        assert client.delete_table.call_args_list[0] == mock.call(
            f"fraud-prj.fraud_raw.{load_table}", not_found_ok=True
        )  # and the reject table: the refused file's append will not run
    if output_rows == 1997:
        assert not client.delete_table.called
    sent = client._call_api.call_args.kwargs
    assert (sent["method"], sent["path"]) == ("POST", "/projects/fraud-prj/jobs")
    assert sent["data"]["configuration"] == load_job_configuration(landed, warehouse.settings)
    assert sent["data"]["configuration"]["load"]["maxBadRecords"] == 3
    assert sent["data"]["jobReference"]["location"] == "EU"


@pytest.mark.parametrize("change", ["overwritten", "removed"])
def test_a_file_changed_after_validation_is_not_loaded_as_validated(
    warehouse: BigQueryWarehouse, client: mock.MagicMock, landed: dict[str, Any], gcs_client: Any, change: str
) -> None:
    """A load job reads its object by name (it takes no generation): if a producer replaced the
    file after validation read it, the job loaded other bytes under the validated identity. The
    task fails after the job, so nothing is appended, and the next run validates the new file."""
    from fraud_mlops.storage import ObjectChanged

    client._call_api.side_effect = lambda *a, **kw: _done_load_job(kw["data"], 1997)
    blob = gcs_client.bucket(FILE["bucket"]).blob(FILE["name"])
    if change == "overwritten":
        blob.upload_from_string(b"other bytes under the same name")
    else:
        blob.delete()

    with pytest.raises(ObjectChanged, match=f"incoming/day1.csv.gz was {change}"):
        warehouse.load_file(landed)
    sent = client._call_api.call_args.kwargs["data"]["configuration"]["load"]
    assert sent["sourceUris"] == ["gs://fraud-landing/incoming/day1.csv.gz"]
    # the load table (card numbers in clear) is dropped: no append will, and it expires never
    table = sent["destinationTable"]
    assert client.delete_table.call_args == mock.call(
        f"{table['projectId']}.{table['datasetId']}.{table['tableId']}", not_found_ok=True
    )
    assert table["datasetId"] == "fraud_raw"


def test_a_load_error_quoting_a_card_number_keeps_only_its_last_four(
    warehouse: BigQueryWarehouse, client: mock.MagicMock, landed: dict[str, Any]
) -> None:
    """BigQuery's CSV errors have quoted the start of a bad field ("field starts with: <…>"):
    what the report keeps goes to XCom and the task log, and the mismatch error to the log."""
    from fraud_mlops.warehouse.bigquery_jobs import LoadMismatchError

    quoting = {
        "reason": "invalid",
        "location": "gs://fraud-landing/incoming/day1.csv.gz",
        "message": 'Data between close double quote (") and field separator. field starts with: <4111 1111 1111 1111>',
    }

    def done(*_: object, **kw: dict) -> dict:
        return {**_done_load_job(kw["data"], 1996), "status": {"state": "DONE", "errors": [quoting]}}

    client._call_api.side_effect = done
    with pytest.raises(LoadMismatchError) as raised:
        warehouse.load_file(landed)
    assert "1111 1111" not in str(raised.value) and "4111" not in str(raised.value)
    assert "field starts with: <…1111>" in str(raised.value)


def _failed_load_job(sent: dict, error_result: dict) -> dict:
    """A load job BigQuery ended with an error result (jobs.insert response, ``status.state``
    DONE with ``errorResult`` and the same error first in ``errors``)."""
    return {
        **sent,
        "id": f"fraud-prj:EU.{sent['jobReference']['jobId']}",
        "status": {"state": "DONE", "errorResult": error_result, "errors": [error_result]},
    }


#: The error result of a load job that could not read its source: reason ``invalid``, the source
#: URI as its location (as users of the service report it: m-lab/etl-gardener#291,
#: pingcap-inc/tidb2dw#84), and here a message quoting a card number.
UNREADABLE = {
    "reason": "invalid",
    "location": "gs://fraud-landing/incoming/day1.csv.gz",
    "message": "Error while reading data, error message: CSV table encountered too many errors, giving up. "
    "Rows: 12; errors: 4. Please look into the errors[] collection for more details. "
    "field starts with: <4111 1111 1111 1111>",
}


@pytest.mark.parametrize(
    ("error_result", "refused"),
    [
        (UNREADABLE, True),
        # the same reason without a source: the job's configuration or schema, not the file
        ({"reason": "invalid", "message": "Invalid schema update. Field amount has changed type"}, False),
        # located at the file but not a reading error (BigQuery's words for those are known)
        ({**UNREADABLE, "message": "Not found: URI gs://fraud-landing/incoming/day1.csv.gz"}, False),
        # the service's trouble: retried by the task, then the run fails; never a quarantine
        ({"reason": "backendError", "location": UNREADABLE["location"], "message": "Backend error"}, False),
        ({"reason": "quotaExceeded", "message": "Quota exceeded: too many table update operations"}, False),
    ],
)
def test_a_load_job_that_cannot_read_the_file_refuses_it_and_no_other_failure_does(
    warehouse: BigQueryWarehouse,
    client: mock.MagicMock,
    landed: dict[str, Any],
    error_result: dict,
    refused: bool,
) -> None:
    """A refused file is quarantined by the load task (and the run goes on without it); any
    other failed load fails the task as before, and quarantines nothing."""
    from google.api_core.exceptions import GoogleAPICallError

    from fraud_mlops.landing_schema import LandedFile, LoadRefused
    from fraud_mlops.warehouse.bigquery_jobs import load_job_configuration

    client._call_api.side_effect = lambda *a, **kw: _failed_load_job(kw["data"], error_result)
    with pytest.raises((LoadRefused, GoogleAPICallError)) as raised:
        warehouse.load_file(landed)
    assert isinstance(raised.value, LoadRefused) is refused
    configuration = load_job_configuration(landed, warehouse.settings)["load"]["destinationTable"]
    dropped = [c.args[0] for c in client.delete_table.call_args_list]
    reject_table = f"fraud-prj.fraud.{LandedFile.from_xcom(landed).reject_table}"
    # a refused file's append will never drop its load or reject table; a retried failure's will
    assert dropped == [
        f"fraud-prj.fraud_raw.{configuration['tableId']}",
        *([reject_table] if refused else []),
    ]
    if refused:
        assert raised.value.reason == "load_refused"
        assert raised.value.detail.startswith(
            "Error while reading data, error message: CSV table encountered"
        )
        assert "field starts with: <…1111>" in raised.value.detail
        assert "4111" not in str(raised.value) and raised.value.__cause__ is None
    else:
        assert raised.value.errors == [error_result]  # the client's own exception, as the job ended


def test_the_append_of_a_file_its_load_refused_is_skipped_on_both_targets(landed: dict[str, Any]) -> None:
    """The appends are mapped over the load tasks' XComs; the map callable runs inside each append
    task instance, so raising Airflow's skip there skips that file's append only."""
    from airflow.sdk.exceptions import AirflowSkipException

    from fraud_mlops.warehouse.bigquery_jobs import (
        REFUSED_KEY,
        append_raw_job_configuration,
        append_raw_local_kwargs,
        append_raw_parameters,
    )

    refused = {**landed, REFUSED_KEY: {"reason": "load_refused", "detail": "…", "moved_to": "gs://q/x"}}
    for append in (append_raw_job_configuration, append_raw_local_kwargs):
        with pytest.raises(AirflowSkipException, match=r"incoming/day1\.csv\.gz: its load refused it"):
            append(refused)
    loaded = {**landed, "loaded_rows": 1997}
    assert append_raw_local_kwargs(loaded)["parameters"] == append_raw_parameters(landed)
    assert append_raw_job_configuration(loaded)["query"]["queryParameters"]  # the job, as before
