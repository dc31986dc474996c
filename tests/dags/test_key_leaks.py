"""No key material in anything the gcp DAGs send or render (the leak the pad-in-SQL HMAC had).

Every DAG is parsed for the gcp target with a real Tink keyset wrapped by a (fake) Cloud KMS
key; every task's templated fields are rendered with Airflow's own Jinja environment of its
DAG, and the mapped BigQuery jobs' configurations are built the way the DAG builds them. The
resulting text (query text, query parameters, job configuration, labels) is scanned for the
keyset's plaintext, each raw key, their hex/base64 forms and HMAC pads (tests/key_leaks.py).
tests/stack/test_end_to_end.py scans the logs of a full local run the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fraud_mlops.settings import REPO_ROOT, get_settings
from tests.fake_kms import FakeCloudKms
from tests.key_leaks import find_leaks, hmac_pads, key_material, keyset_fingerprints
from tests.sql_chain import FakeDagRun

FILE = {
    "bucket": "fraud-landing", "name": "incoming/day1.csv", "generation": "1700000000000001",
    "md5": "0123456789abcdef0123456789abcdef", "size": 10, "rows": 2, "run_id": "manual__x",
    "load_table": "raw_load_0123456789abcdef", "uri": "gs://fraud-landing/incoming/day1.csv",
}  # fmt: skip


CARD = "4111111111111111"  # an erasure request's card number (a query parameter, never key material)


class _TaskInstance:
    """Enough of a task instance for templates that pull XCom: a recognisable placeholder."""

    map_index = -1

    def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
        return _XCom("xcom-placeholder")


class _XCom(str):
    """A placeholder XCom value that also answers ``value['key']`` (e.g. a batch job's ids) and
    ``value.get('key', default)`` with the default (e.g. the plan's snapshot publish)."""

    def __getitem__(self, key: Any) -> Any:
        return self if isinstance(key, str) else str.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return self if default is None else default


@pytest.fixture(scope="module")
def gcp_world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from fraud_mlops.pseudonym import ensure_local_keys

    keys_dir = tmp_path_factory.mktemp("keys")
    ensure_local_keys(keys_dir)
    kms = FakeCloudKms()
    keyset = kms.gcp_keyset(keys_dir)
    mp = pytest.MonkeyPatch()
    env = {
        "MLOPS_TARGET": "gcp",
        "GCP_PROJECT": "fraud-project",
        "MLOPS_BQ_LOCATION": "EU",
        **kms.env(keyset),
    }
    for k, v in env.items():
        mp.setenv(k, v)
    get_settings.cache_clear()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    yield {"dags": bag.dags, "keyset": keyset, "kms": kms}
    mp.undo()
    get_settings.cache_clear()


def _render_all(dags: dict[str, Any]) -> dict[str, str]:
    """``dag.task -> rendered text`` for every task of every DAG."""
    rendered: dict[str, str] = {}
    for dag_id, dag in sorted(dags.items()):
        run = FakeDagRun(f"scheduled__{dag_id}", dag_id)
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            if hasattr(task, "expand_input"):  # mapped: the per-file job configurations
                rendered[where] = _mapped_text(task)
                continue
            context = {"dag": dag, "dag_run": run, "run_id": run.run_id, "task": task, "ti": _TaskInstance(),
                       "ds": "2026-11-01", "ds_nodash": "20261101", "ts": "2026-11-01T12:00:00+00:00",
                       "ts_nodash": "20261101T120000", "params": {"card_number": CARD}}  # fmt: skip
            task.render_template_fields(context, jinja_env=dag.get_template_env())
            fields = {name: getattr(task, name, None) for name in task.template_fields}
            rendered[where] = json.dumps(fields, default=str, sort_keys=True)
    return rendered


def _mapped_text(task: Any) -> str:
    parts = [json.dumps(task.partial_kwargs, default=str, sort_keys=True)]
    value = task.expand_input.value
    for arg in value.values() if isinstance(value, dict) else [value]:
        for fn in getattr(arg, "callables", ()):  # XComArg.map(fn): the function building each job
            parts.append(json.dumps(fn(FILE), default=str, sort_keys=True))
    if task.task_id.endswith("load_raw_file"):  # a mapped @task sending this load job per file
        from fraud_mlops.settings import get_settings
        from fraud_mlops.warehouse.bigquery_jobs import load_job_configuration

        job = load_job_configuration({**FILE, "bad_lines": 0, "compression": None}, get_settings())
        parts.append(json.dumps(job, default=str, sort_keys=True))
    return "\n".join(parts)


def _runtime_sql() -> dict[str, str]:
    """SQL that Python tasks render when they run (no template field holds it): the erase step
    keeps the card number out of rendered fields and logs that way (orchestration/erasure.py)."""
    from fraud_mlops.settings import get_settings
    from fraud_mlops.sql_templates import SQL_FILES, render_sql

    return {
        "fraud_erase_card.erase_card_rows (run time)": render_sql(SQL_FILES["erase_card"], get_settings())
    }


def test_no_rendered_template_or_job_configuration_holds_key_material(gcp_world):
    with gcp_world["kms"].patched():  # a template that called Cloud KMS would get the real keyset
        rendered = _render_all(gcp_world["dags"]) | _runtime_sql()
    keyset = gcp_world["keyset"]
    forms = keyset_fingerprints(keyset.wrapped, gcp_world["kms"].aead)
    assert len(forms) > 20
    assert find_leaks(rendered, forms) == []
    # the scan saw what BigQuery would get: the staging query with the *wrapped* keyset
    staging = [t for w, t in rendered.items() if w.endswith("transform.build_staging")]
    assert staging and all(keyset.sql_bytes.replace("\\", "\\\\") in t for t in staging)
    # ... and the erase SQL, with the wrapped keyset as the query text holds it
    assert keyset.sql_bytes in rendered["fraud_erase_card.erase_card_rows (run time)"]
    assert any("load_raw_file" in w and "sourceUris" in t for w, t in rendered.items())


def test_the_scan_would_have_caught_the_pad_in_sql_hmac(gcp_world):
    """The old 20_staging.sql pasted FROM_HEX('<key XOR ipad>') into the query: flagged."""
    serialized = gcp_world["kms"].aead.decrypt(gcp_world["keyset"].wrapped, b"")
    key = key_material(serialized)[2]  # the raw AES-SIV key
    ipad, opad = hmac_pads(key)
    old = (
        "TO_HEX(SHA256(CONCAT(\n"
        f"    FROM_HEX('{opad.hex()}'),\n"
        f"    SHA256(CONCAT(FROM_HEX('{ipad.hex()}'), CAST(card_digits AS BYTES)))\n"
        "  ))) AS card_pseudonym,"
    )
    forms = keyset_fingerprints(gcp_world["keyset"].wrapped, gcp_world["kms"].aead)
    assert len(find_leaks({"old staging": old}, forms)) == 2


def test_the_keyset_is_not_in_the_repository_or_the_airflow_environment(gcp_world, tmp_path: Path):
    """Nothing secret is configured for Airflow: only the KMS key URI and the wrapped keyset."""
    import os

    env_text = json.dumps({k: v for k, v in os.environ.items() if k.startswith(("MLOPS_", "AIRFLOW"))})
    forms = keyset_fingerprints(gcp_world["keyset"].wrapped, gcp_world["kms"].aead)
    assert gcp_world["keyset"].b64 in env_text
    assert find_leaks({"environment": env_text}, forms) == []


def test_every_dag_and_task_is_scanned(gcp_world):
    rendered = _render_all(gcp_world["dags"])
    assert {w.split(".")[0] for w in rendered} == {
        "fraud_ingest_sensor", "fraud_ingest_daily", "fraud_ingest_events", "fraud_training", "fraud_batch_scoring",
        "fraud_erase_card", "fraud_monitoring",
    }  # fmt: skip
    assert len(rendered) == sum(len(dag.tasks) for dag in gcp_world["dags"].values())
