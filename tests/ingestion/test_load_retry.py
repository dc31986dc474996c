"""A load task retried after its earlier try moved the file it refused to quarantine, and died
before it succeeded (a worker lost): the retry finds the file there, with this run's reason,
and returns what the earlier try would have (its append is skipped, the run summary lists it),
where it used to find no file, fail, and fail the run.

The load tasks are the adapters' own (their callables, as Airflow runs them); the file, its
validation, the quarantine and the local warehouse are real (GCS emulator, DuckDB). Airflow's
task context is the part the tasks read: the try number, the run, the XCom push.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core.exceptions import NotFound

from devtools.generator.synth import GeneratorConfig, generate
from fraud_mlops import targets
from fraud_mlops.ingestion.landed_files import quarantined_earlier, validate_landed
from fraud_mlops.landing_schema import LoadRefused
from fraud_mlops.orchestration.ingestion import QUARANTINED_KEY, QuarantineRefused
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import SQL_FILES, render_sql
from fraud_mlops.warehouse.bigquery_jobs import REFUSED_KEY


def _context(try_number: int, run_id: str = "run-1") -> dict[str, Any]:
    pushed: list[tuple[str, Any]] = []
    ti = SimpleNamespace(
        try_number=try_number,
        start_date=datetime.now(UTC),
        xcom_push=lambda key, value: pushed.append((key, value)),
        pushed=pushed,
    )
    return {
        "ti": ti,
        "dag_run": SimpleNamespace(start_date=datetime.now(UTC) - timedelta(days=1)),
        "run_id": run_id,
    }


def _land(gcs_hook: Any, settings: Settings, name: str, seed: int) -> dict[str, Any]:
    data = generate(GeneratorConfig(rows=200, seed=seed)).landing.to_csv(index=False).encode()
    gcs_hook.upload(settings.landing_bucket, settings.landing_prefix + name, data=data)
    good, _ = validate_landed(
        gcs_hook, settings, run_id="run-1", only_objects=[settings.landing_prefix + name]
    )
    (landed,) = good
    return {**landed.to_xcom(), "run_id": "run-1"}


def _load_task(settings: Settings) -> Any:
    """The load task's callable, as the target's adapter builds it."""
    from airflow.sdk import DAG

    with DAG("load_retry", schedule=None):
        mapped = targets.warehouse(settings).load_file_operator([], refused_files=QuarantineRefused(settings))
    return mapped.operator.python_callable


def test_a_retry_returns_the_quarantine_its_earlier_try_made_and_loads_nothing(
    gcs_hook, local_settings
) -> None:
    s = local_settings
    warehouse = targets.warehouse(s)
    warehouse.execute(render_sql(SQL_FILES["setup"], s))
    file = _land(gcs_hook, s, "shop.csv", seed=1)
    first = _context(try_number=1)
    refused = QuarantineRefused(s).quarantine(file, LoadRefused("load_refused", "DuckDB refused it"), first)
    # ... and the first try dies here, before Airflow records its success

    retry = _context(try_number=2)
    assert _load_task(s)(file=file, **retry) == refused
    assert refused[REFUSED_KEY]["moved_to"].startswith(f"gs://{s.quarantine_bucket}/quarantine/")
    assert retry["ti"].pushed == first["ti"].pushed == [(QUARANTINED_KEY, refused[REFUSED_KEY])]
    assert not warehouse.table_exists(f"{s.raw_dataset_ref}.{file['load_table']}")  # nothing loaded
    # another run's retry does not take this run's quarantine: the file is gone, its load fails
    with pytest.raises(NotFound):
        _load_task(s)(file=file, **_context(try_number=2, run_id="run-2"))

    # a retry of a file still landed (an earlier try failed otherwise) loads it as a first try does
    other = _land(gcs_hook, s, "day.csv", seed=2)
    loaded = _load_task(s)(file=other, **_context(try_number=3))
    assert loaded == {**other, "loaded_rows": 200}


def test_a_local_retry_of_a_refusal_that_died_before_its_quarantine_quarantines_the_file(
    gcs_hook, local_settings
) -> None:
    """A file with bad lines that DuckDB refuses: the first try's load is refused and the try
    dies before the quarantine. The load dropped the file's reject table, so every retry failed
    reading it, and the run failed. It stays for the retry (the teardown drops it)."""
    from fraud_mlops.ingestion.landed_files import record_bad_lines
    from fraud_mlops.warehouse.duckdb_load import load_into_warehouse

    s = local_settings
    warehouse = targets.warehouse(s)
    warehouse.execute(render_sql(SQL_FILES["setup"], s))
    frame = generate(GeneratorConfig(rows=200, seed=4)).landing
    frame.loc[150, "merchant"] = "SHOP"
    text = frame.to_csv(index=False).replace(",SHOP,", ', "The" Shop,') + "only,three,fields\n"
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "shop.csv", data=text.encode())
    (landed,), _ = validate_landed(
        gcs_hook, s, run_id="run-1", on_bad_lines=lambda f, bad: record_bad_lines(warehouse, f, bad)
    )
    assert (landed.rows, landed.bad_lines) == (200, 1)
    file = {**landed.to_xcom(), "run_id": "run-1"}
    with pytest.raises(LoadRefused):
        load_into_warehouse(file, s)  # the first try's load, refused; the try dies here

    retry = _context(try_number=2)
    refused = _load_task(s)(file=file, **retry)
    assert refused[REFUSED_KEY]["reason"] == "load_refused"
    assert refused[REFUSED_KEY]["moved_to"].startswith(f"gs://{s.quarantine_bucket}/quarantine/")
    assert warehouse.drop_leftover_load_tables() == [f"{s.dataset}.{landed.reject_table}"]  # the teardown's


def test_a_cleared_run_looks_back_to_its_run_after() -> None:
    """A cleared run's start_date is the clear's: a retry after a clear the day after the move
    looked only at today's folders. run_after is kept across clears."""
    from fraud_mlops.orchestration.ingestion import run_began

    moved = datetime(2026, 12, 5, 23, 50, tzinfo=UTC)
    cleared = {
        "dag_run": SimpleNamespace(run_after=moved, start_date=moved + timedelta(days=1)),
        "ti": SimpleNamespace(start_date=moved + timedelta(days=1, minutes=1)),
    }
    assert run_began(cleared) == moved
    never_started = {"dag_run": SimpleNamespace(start_date=None), "ti": SimpleNamespace(start_date=moved)}
    assert run_began(never_started) == moved


def test_on_gcp_the_retry_sends_no_load_job(gcs_hook, local_settings, google_connection, monkeypatch) -> None:
    """The gcp adapter's load task asks the same question first: no load job for a file its
    earlier try quarantined (BigQuery's REST API answered in memory under the real client)."""
    from fraud_mlops.settings import get_settings
    from tests.bigquery_rest import FakeBigQueryREST, patched_get_client

    file = _land(gcs_hook, local_settings, "shop.csv", seed=1)
    refused = QuarantineRefused(local_settings).quarantine(
        file, LoadRefused("load_refused", "d"), _context(1)
    )
    monkeypatch.setenv("MLOPS_TARGET", "gcp")
    monkeypatch.setenv("GCP_PROJECT", "fraud-prj")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert (settings.landing_bucket, settings.quarantine_bucket) == (
            local_settings.landing_bucket, local_settings.quarantine_bucket,
        )  # fmt: skip
        fake = FakeBigQueryREST()
        with patched_get_client(fake):
            assert _load_task(settings)(file=file, **_context(try_number=2)) == refused
    finally:
        get_settings.cache_clear()
    assert fake.jobs == [] and fake.unknown == []


def test_the_earlier_quarantine_is_this_runs_of_this_file_and_content(gcs_hook, local_settings) -> None:
    s = local_settings
    file = _land(gcs_hook, s, "shop.csv", seed=1)
    from fraud_mlops.landing_schema import LandedFile

    landed = LandedFile.from_xcom(file)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assert quarantined_earlier(gcs_hook, s, landed, "run-1", yesterday) is None  # still landed
    QuarantineRefused(s).quarantine(file, LoadRefused("load_mismatch", "read 199"), _context(1))
    entry = quarantined_earlier(gcs_hook, s, landed, "run-1", yesterday)  # the folder is today's
    assert entry is not None and (entry["file"], entry["reason"], entry["detail"]) == (
        landed.name, "load_mismatch", "read 199",
    )  # fmt: skip
    assert quarantined_earlier(gcs_hook, s, landed, "run-2", yesterday) is None  # another run's
    other_content = LandedFile(
        **{**{k: getattr(landed, k) for k in landed.__dataclass_fields__}, "md5": "0" * 32}
    )
    assert quarantined_earlier(gcs_hook, s, other_content, "run-1", yesterday) is None
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert quarantined_earlier(gcs_hook, s, landed, "run-1", tomorrow) is None  # only from the run's start
    # the reason without its file (the move failed after the reason was written) is no quarantine
    (target,) = [n for n in gcs_hook.list(s.quarantine_bucket) if not n.endswith(".json")]
    reason = json.loads(gcs_hook.download(s.quarantine_bucket, target + ".reason.json"))
    assert reason["run_id"] == "run-1"
    gcs_hook.delete(s.quarantine_bucket, target)
    assert quarantined_earlier(gcs_hook, s, landed, "run-1", yesterday) is None


def test_a_quarantine_on_an_earlier_day_of_the_run_is_found_and_another_files_is_not(
    gcs_hook, local_settings
) -> None:
    """A run that began yesterday and retries today: the earlier try moved the file into
    yesterday's folder. A reason naming this run and content but another landed object (a
    copy of the file under another name) is not this file's."""
    from fraud_mlops.ingestion.landed_files import moved_name
    from fraud_mlops.landing_schema import LandedFile

    s = local_settings
    landed = LandedFile.from_xcom(_land(gcs_hook, s, "shop.csv", seed=1))
    yesterday = datetime.now(UTC) - timedelta(days=1)
    target = moved_name("quarantine/", yesterday, landed.generation, landed.name)
    gcs_hook.upload(s.quarantine_bucket, target, data=b"the file")
    gcs_hook.delete(s.landing_bucket, landed.name)
    why = {"reason": "load_refused", "detail": "d", "md5": landed.md5, "run_id": "run-1"}
    gcs_hook.upload(
        s.quarantine_bucket, target + ".reason.json", data=json.dumps({**why, "source": "gs://x/y"})
    )
    assert quarantined_earlier(gcs_hook, s, landed, "run-1", yesterday) is None  # another source
    gcs_hook.upload(
        s.quarantine_bucket, target + ".reason.json", data=json.dumps({**why, "source": landed.uri})
    )
    entry = quarantined_earlier(gcs_hook, s, landed, "run-1", yesterday - timedelta(hours=1))
    assert entry is not None and entry["moved_to"] == f"gs://{s.quarantine_bucket}/{target}"
    assert quarantined_earlier(gcs_hook, s, landed, "run-1", datetime.now(UTC)) is None  # not before the run


def _validate_task(settings: Settings) -> Any:
    """The validation task's callable, as the DAG files build it."""
    from airflow.sdk import DAG

    from fraud_mlops.orchestration.ingestion import validate_landed_files

    with DAG("validate_retry", schedule=None):
        validate = validate_landed_files(settings)
    return validate.operator.python_callable


def test_a_retried_validation_reports_the_files_its_earlier_try_quarantined(gcs_hook, local_settings) -> None:
    """An earlier try quarantined two files and died before its XCom: the retry no longer sees
    them landed, and its XCom (which the run summary lists) named only what it moved itself.
    It now reads this run's reasons in quarantine; another run's quarantines are not its."""
    s = local_settings
    good = generate(GeneratorConfig(rows=200, seed=3)).landing.to_csv(index=False).encode()
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "good.csv", data=good)
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "empty.csv", data=b"")
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "other.csv", data=b"a,b\n1,2\n")
    validate = _validate_task(s)
    first = _context(1)
    validate(only_objects=None, **first)  # its XCom is lost with its worker

    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "next.csv", data=b"")
    validate_landed(gcs_hook, s, "run-2", only_objects=[s.landing_prefix + "next.csv"])  # another run's
    retry = _context(2)
    files = validate(only_objects=None, **retry)

    assert [f["name"] for f in files] == [s.landing_prefix + "good.csv"]
    ((key, quarantined),) = retry["ti"].pushed
    assert key == QUARANTINED_KEY
    assert sorted((q["file"], q["reason"]) for q in quarantined) == [
        (s.landing_prefix + "empty.csv", "empty_file"),
        (s.landing_prefix + "other.csv", "wrong_header"),
    ]
    assert all(q["moved_to"].startswith(f"gs://{s.quarantine_bucket}/quarantine/") for q in quarantined)
    # a first try reads nothing back
    gcs_hook.upload(s.landing_bucket, s.landing_prefix + "late.csv", data=b"")
    again = _context(1)
    validate(only_objects=None, **again)
    ((_, only_its_own),) = again["ti"].pushed
    assert [q["file"] for q in only_its_own] == [s.landing_prefix + "late.csv"]
