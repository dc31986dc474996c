"""The OpenTofu code names what the Python code reads: settings, feature ids, local-stack names.

Each test imports the Python side (never copies its values), so renaming a setting, a table
or a topic in the code fails here until infra/ follows.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from pathlib import Path

from fraud_mlops import features, targets
from fraud_mlops.events.watcher import trigger_kwargs
from fraud_mlops.settings import LANDING_SUBSCRIPTION, LANDING_TOPIC, REPO_ROOT, settings_from_env
from scripts.table_schemas import SCHEMA_DIR, render_schemas, stale_schemas

from . import iac, project

COMPOSER_RESERVED = {
    *("AIRFLOW_HOME", "C_FORCE_ROOT", "CONTAINER_NAME", "DAGS_FOLDER", "GCP_PROJECT", "GCS_BUCKET"),
    *("GKE_CLUSTER_NAME", "SQL_DATABASE", "SQL_INSTANCE", "SQL_PASSWORD", "SQL_PROJECT"),
    *("SQL_REGION", "SQL_USER"),
}


PACKAGE = REPO_ROOT / "plugins" / "fraud_mlops"


def env_names_read(paths: Iterable[Path]) -> set[str]:
    """Environment variable names read in these files: ``<x>.get("NAME")``, ``os.getenv("NAME")``."""
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"get", "getenv"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and re.fullmatch(r"[A-Z][A-Z0-9_]+", node.args[0].value)
            ):
                names.add(node.args[0].value)
    return names


def settings_env_names() -> set[str]:
    """What fraud_mlops.settings reads: the DAGs' whole configuration."""
    return env_names_read([PACKAGE / "settings.py"])


def package_env_names() -> set[str]:
    """What anything in fraud_mlops reads (settings, and e.g. the serving wiring)."""
    return env_names_read(PACKAGE.rglob("*.py"))


def module_call(name: str) -> dict:
    return iac.blocks("module", iac.INFRA)[name]


def substitute(expression: str, values: dict[str, str]) -> str:
    """Evaluate a plain HCL string template whose only references are ``values``' keys."""
    result = expression
    for ref, value in values.items():
        result = result.replace("${" + ref + "}", value)
    assert "${" not in result, f"unresolved reference in {expression!r}"
    return result


def test_settings_env_names_are_found() -> None:
    """Guards the parser below: a refactor of settings.py must not silently empty the set."""
    assert {"MLOPS_TARGET", "GCP_PROJECT", "MLOPS_BQ_DATASET", "MLOPS_PIPELINE_SA"} <= settings_env_names()


def test_composer_runs_the_locked_airflow_version() -> None:
    image = iac.blocks("variable", iac.INFRA)["composer_image_version"]["default"]
    airflow = re.match(r"composer-3-airflow-(\d+\.\d+\.\d+)", image)
    assert airflow, image
    assert airflow.group(1) == project.locked_version("apache-airflow")


def test_composer_environment_sets_settings_names_only() -> None:
    env = module_call("composer")["env_variables"]
    assert env["MLOPS_TARGET"] == "gcp"
    assert set(env) <= settings_env_names(), set(env) - settings_env_names()
    assert not set(env) & COMPOSER_RESERVED
    # GCP_PROJECT is reserved on Composer, which sets it to the project id itself.
    assert "GCP_PROJECT" in settings_env_names()
    gcp_only = {"MLOPS_BQ_DATASET", "MLOPS_LANDING_BUCKET", "MLOPS_QUARANTINE_BUCKET"}
    gcp_only |= {"MLOPS_PIPELINE_ROOT", "MLOPS_PIPELINE_SA"}
    assert gcp_only <= set(env)
    validation = iac.blocks("variable", iac.INFRA / "modules" / "composer")["env_variables"]["validation"]
    reserved_in_validation = set(re.findall(r'"([A-Z_]+)"', validation[0]["condition"]))
    assert reserved_in_validation == COMPOSER_RESERVED


def test_root_defaults_are_the_settings_defaults() -> None:
    defaults = settings_from_env({"MLOPS_TARGET": "gcp"})
    variables = iac.blocks("variable", iac.INFRA)
    expected = {
        "region": defaults.region,
        "bq_location": defaults.bq_location,
        "dataset_id": defaults.dataset,
        "landing_prefix": defaults.landing_prefix,
        "archive_prefix": defaults.archive_prefix,
    }
    assert {name: variables[name]["default"] for name in expected} == expected


def test_pipeline_root_bucket_is_the_settings_default() -> None:
    bucket = iac.locals_of(iac.INFRA / "modules" / "storage")["buckets"]["pipeline_root"]["name"]
    name = substitute(bucket, {"var.project_id": "p-123"})
    assert f"gs://{name}" == settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": "p-123"}).pipeline_root


def test_model_store_bucket_is_the_settings_default_and_reaches_composer() -> None:
    """Registered versions' files are kept in their own bucket, out of the pipeline root's Delete
    rule; the training DAG hands it to the pipeline in the registry URI."""
    bucket = iac.locals_of(iac.INFRA / "modules" / "storage")["buckets"]["models"]["name"]
    name = substitute(bucket, {"var.project_id": "p-123"})
    settings = settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": "p-123"})
    assert f"gs://{name}" == settings.model_store
    assert targets.registry_uri(settings) == (
        f"vertexai://projects/p-123/locations/{settings.region}?artifacts=gs://{name}"
    )
    env = module_call("composer")["env_variables"]
    assert env["MLOPS_MODEL_STORE"] == 'gs://${module.storage.bucket_names["models"]}'


def test_pubsub_names_are_the_local_stack_names() -> None:
    prefix = iac.blocks("variable", iac.INFRA)["name_prefix"]["default"]
    pubsub = {r.name: r.body for r in iac.resources() if r.module == "modules/pubsub"}
    topic = substitute(pubsub["landing_notifications"]["name"], {"var.prefix": prefix})
    subscription = substitute(pubsub["airflow"]["name"], {"var.prefix": prefix})
    assert (topic, subscription) == (LANDING_TOPIC, LANDING_SUBSCRIPTION)
    # another name_prefix names another subscription: Composer is told which one the DAG pulls
    assert (
        module_call("composer")["env_variables"]["MLOPS_LANDING_SUBSCRIPTION"]
        == "${module.pubsub.subscription}"
    )
    renamed = substitute(pubsub["airflow"]["name"], {"var.prefix": "acme"})
    settings = settings_from_env(
        {"MLOPS_TARGET": "gcp", "GCP_PROJECT": "p", "MLOPS_LANDING_SUBSCRIPTION": renamed}
    )
    assert trigger_kwargs(settings)["subscription"] == "acme-landing-airflow"
    (notification,) = [r.body for r in iac.resources() if r.type == "google_storage_notification"]
    assert notification["event_types"] == ["OBJECT_FINALIZE"]
    assert notification["object_name_prefix"] == "${var.landing_prefix}"
    assert module_call("pubsub")["landing_prefix"] == "${var.landing_prefix}"


def test_vertex_ids_are_the_feature_definition() -> None:
    vertex = {r.type: r.body for r in iac.resources() if r.module == "modules/vertex"}
    assert vertex["google_vertex_ai_feature_online_store"]["name"] == features.FEATURE_ONLINE_STORE_ID
    view = vertex["google_vertex_ai_feature_online_store_featureview"]
    assert view["name"] == features.FEATURE_VIEW_ID
    (source,) = view["big_query_source"]
    assert source["entity_id_columns"] == [features.ENTITY_KEY]
    uri = module_call("vertex")["source_view_uri"]
    assert uri.endswith(f".{features.LATEST_FEATURES_VIEW}")
    assert substitute(uri, {"var.project_id": "p", "module.bigquery.dataset_id": "fraud"}) == (
        f"bq://p.fraud.{features.LATEST_FEATURES_VIEW}"
    )


def test_the_pseudonym_keyset_reaches_airflow_and_the_function_as_settings() -> None:
    """Both read the KEK's URI and the wrapped keyset (ciphertext) from their environment; no
    secret holds the key any more (the key never leaves Cloud KMS's callers' memory)."""
    composer = module_call("composer")["env_variables"]
    assert composer["MLOPS_PSEUDONYM_KMS_KEY"] == "${module.pseudonym_kms.key_uri}"
    assert composer["MLOPS_PSEUDONYM_KEYSET"] == "${var.pseudonym_wrapped_keyset}"
    pseudonym_env = iac.locals_of(iac.INFRA)["pseudonym_env"]
    assert pseudonym_env == {
        "MLOPS_PSEUDONYM_KMS_KEY": "${module.pseudonym_kms.key_uri}",
        "MLOPS_PSEUDONYM_KEYSET": "${var.pseudonym_wrapped_keyset}",
    }
    assert "local.pseudonym_env" in module_call("prediction_function")["environment"]
    assert {"MLOPS_PSEUDONYM_KMS_KEY", "MLOPS_PSEUDONYM_KEYSET"} <= settings_env_names()
    assert not [r for r in iac.resources() if r.type == "google_secret_manager_secret"]
    (key,) = [r.body for r in iac.resources() if r.type == "google_kms_crypto_key"]
    assert key["purpose"] == "ENCRYPT_DECRYPT"
    uri = iac.blocks("output", iac.INFRA / "modules" / "pseudonym_kms")["key_uri"]["value"]
    assert uri.startswith("gcp-kms://")  # Tink's Cloud KMS key URI scheme


def test_function_environment_names_are_read_by_the_package() -> None:
    call = module_call("prediction_function")
    env_names = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", call["environment"]))
    assert env_names, call["environment"]
    assert env_names <= package_env_names(), env_names - package_env_names()
    assert {"MLOPS_TARGET", "GCP_PROJECT", "GCP_REGION", "MLOPS_ENDPOINT_ID"} <= env_names
    assert call["environment"].count("MLOPS_ENDPOINT_ID = module.vertex.endpoint_id") == 1


def test_declared_tables_are_the_setup_sql_tables_with_current_schemas() -> None:
    declared = iac.locals_of(iac.INFRA / "modules" / "bigquery")["tables"]
    assert set(declared) == set(render_schemas())
    assert stale_schemas() == [], "run `make infra-schemas`"
    for table_id, spec in declared.items():
        schema = json.loads((SCHEMA_DIR / f"{table_id}.json").read_text())
        fields = {field["name"] for field in schema}
        if spec["partition_field"] is not None:
            assert spec["partition_field"] in fields, table_id


def test_declared_partitioning_and_clustering_are_the_setup_sql_ones() -> None:
    """infra/ creates the tables before the first run: same partitions, clusters, filter rule."""
    import re

    from fraud_mlops.settings import settings_from_env
    from fraud_mlops.sql_templates import render_sql

    declared = iac.locals_of(iac.INFRA / "modules" / "bigquery")["tables"]
    sql = render_sql("00_setup.sql", settings_from_env({"MLOPS_TARGET": "gcp", "GCP_PROJECT": "p"}))
    for block in re.split(r"CREATE TABLE IF NOT EXISTS ", sql)[1:]:
        table_id = re.match(r"`[^`]*\.(\w+)`", block).group(1)  # type: ignore[union-attr]
        ddl = block.split(";", 1)[0]
        partition = re.search(r"PARTITION BY DATE\((\w+)\)", ddl)
        cluster = re.search(r"CLUSTER BY (\w+)", ddl)
        spec = declared[table_id]
        assert spec["partition_field"] == (partition.group(1) if partition else None), table_id
        assert spec["clustering"] == ([cluster.group(1)] if cluster else None), table_id
        assert spec["require_partition_filter"] == ("require_partition_filter = TRUE" in ddl), table_id
    assert {t for t, spec in declared.items() if spec["require_partition_filter"]} == {
        "stg_transactions", "card_features",
    }  # fmt: skip


def test_requirements_parse_the_way_the_hcl_reads_them() -> None:
    """main.tf splits each requirements line on '==': every line must have exactly that shape."""
    lines = [
        line.strip()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", line), line
    hcl = iac.locals_of(iac.INFRA)["pypi_packages"]
    assert 'split("==", line)[0]' in hcl and 'split("==", line)[1]' in hcl


def test_endpoint_is_the_one_the_registry_deploys_to() -> None:
    from fraud_mlops.registry.names import ENDPOINT_NAME

    (endpoint,) = [r.body for r in iac.resources() if r.type == "google_vertex_ai_endpoint"]
    # The Vertex registry adapter finds the endpoint by display name (and would create a twin).
    assert endpoint["display_name"] == ENDPOINT_NAME
    assert endpoint["location"] == endpoint["region"] == "${var.region}"


def test_a_models_snapshot_lives_as_long_as_the_models_artifacts() -> None:
    env = module_call("composer")["env_variables"]
    assert env["MLOPS_MODEL_RETENTION_DAYS"] == "${tostring(var.retention_days.pipeline_root)}"
    default = iac.blocks("variable", iac.INFRA)["retention_days"]["default"]["pipeline_root"]
    assert default == settings_from_env({"MLOPS_TARGET": "gcp"}).model_retention_days


def test_composer_reads_its_connection_secrets_and_no_other() -> None:
    """The secrets backend looks connections up as ``<prefix>-<conn id>``; the environment's
    account may read exactly those secrets (an IAM condition on the name), in the project the
    backend looks in. Without the grant every lookup was refused (an ERROR in every task's log)
    and no connection an operator added was read."""
    (composer,) = [r for r in iac.resources() if r.type == "google_composer_environment"]
    overrides = composer.body["config"][0]["software_config"][0]["airflow_config_overrides"]
    assert overrides["secrets-backend"].endswith(".CloudSecretManagerBackend")
    (grant,) = [
        r for r in iac.iam_resources()
        if r.body.get("role") == "roles/secretmanager.secretAccessor"
    ]  # fmt: skip
    assert iac.grant_of(grant) == iac.Grant(
        "orchestration", "roles/secretmanager.secretAccessor", "project", "always"
    )
    (condition,) = grant.body["condition"]
    assert condition["expression"] == (
        'resource.name.startsWith("projects/${var.project_number}/secrets/${var.connections_prefix}-")'
    )
    modules = iac.blocks("module", iac.INFRA)
    assert modules["service_accounts"]["connections_prefix"] == modules["composer"]["connections_prefix"]
    assert (
        "connections_prefix = var.connections_prefix" in (iac.INFRA / "modules/composer/main.tf").read_text()
    )


def test_the_function_serves_as_many_requests_at_once_as_cloud_run_sends_it() -> None:
    """functions-framework runs gunicorn with ``THREADS`` threads, by default 4 per CPU
    (functions_framework/_http/gunicorn.py); an instance takes ``max_instance_request_concurrency``
    requests at once. Fewer threads would queue the rest behind the feature store and endpoint calls."""
    import functions_framework._http.gunicorn as ff_gunicorn

    assert 'os.environ.get("THREADS"' in Path(ff_gunicorn.__file__).read_text()
    (function,) = [r for r in iac.resources() if r.type == "google_cloudfunctions2_function"]
    (service,) = function.body["service_config"]
    assert service["max_instance_request_concurrency"] == "${local.concurrency}"
    assert (
        service["environment_variables"]
        == "${merge(var.environment, {THREADS = tostring(local.concurrency)})}"
    )
    assert iac.locals_of(iac.INFRA / "modules" / "prediction_function")["concurrency"] == 8


def test_the_log_datasets_retention_is_the_one_airflow_reads() -> None:
    """The log dataset's partitions expire after ``log_retention_days``, and Composer's settings
    carry the same variable: the erasure keeps its record a day longer than the log sink's copy
    of a card's answers lives (a different number on either side would log them again)."""
    env = module_call("composer")["env_variables"]
    assert env["MLOPS_LOG_RETENTION_DAYS"] == "${tostring(var.log_retention_days)}"
    assert module_call("monitoring")["log_retention_days"] == "${var.log_retention_days}"
    (logs,) = [
        r.body for r in iac.resources()
        if r.type == "google_bigquery_dataset" and r.body.get("dataset_id") == "${var.log_dataset_id}"
    ]  # fmt: skip
    assert logs["default_partition_expiration_ms"] == "${var.log_retention_days * 24 * 60 * 60 * 1000}"
    default = iac.blocks("variable", iac.INFRA)["log_retention_days"]["default"]
    assert default == settings_from_env({"MLOPS_TARGET": "gcp"}).log_retention_days
