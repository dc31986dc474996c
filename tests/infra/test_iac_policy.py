"""Policy tests on the OpenTofu code: formatting, least privilege, nothing public.

Terraform 1.11 is on these machines and reads the same HCL as OpenTofu (which is not
installable here); ``init``/``validate``/``plan`` need provider downloads and cannot run.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter

from fraud_mlops.settings import REPO_ROOT

from . import iac

PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_PRINCIPALS = ("allUsers", "allAuthenticatedUsers")
LEAST_PRIVILEGE_DOC = REPO_ROOT / "docs" / "least_privilege.md"


def test_hcl_is_formatted() -> None:
    result = subprocess.run(
        [iac.tofu("the formatting check cannot run"), "fmt", "-check", "-recursive", "-diff", str(iac.INFRA)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"`fmt -check` failed; run `make infra-fmt`:\n{result.stdout}"


def test_every_module_parses_and_declares_something() -> None:
    for directory in iac.module_dirs():
        parsed = [iac.parse(p) for p in directory.glob("*.tf")]
        assert any(p.get("resource") or p.get("module") for p in parsed), directory


def test_no_primitive_roles() -> None:
    found = {
        (path.relative_to(iac.INFRA), value)
        for path in iac.tf_files()
        for value in iac.strings(iac.parse(path))
        if value in PRIMITIVE_ROLES or re.search(r"roles/(owner|editor|viewer)\b", value)
    }
    assert not found


def test_no_public_principals() -> None:
    found = {
        (path.relative_to(iac.INFRA), value)
        for path in [*iac.tf_files(), iac.INFRA / "terraform.tfvars.example"]
        for value in iac.strings(iac.parse(path))
        if any(p in value for p in PUBLIC_PRINCIPALS)
    }
    assert not found


def test_iam_is_additive_only() -> None:
    """Authoritative bindings/policies would strip grants made outside this stack."""
    authoritative = [r.address for r in iac.iam_resources() if not r.type.endswith("_iam_member")]
    assert not authoritative


def test_grants_equal_the_least_privilege_table() -> None:
    documented = iac.grants_in_docs(LEAST_PRIVILEGE_DOC)
    duplicates = [str(g) for g, n in Counter(documented).items() if n > 1]
    assert not duplicates, f"rows listed twice in {LEAST_PRIVILEGE_DOC.name}: {duplicates}"
    in_code = iac.grants_in_code()
    assert len(in_code) == len(iac.iam_resources()), "two IAM resources grant the same thing"
    missing_from_docs = sorted(str(g) for g in in_code - set(documented))
    missing_from_code = sorted(str(g) for g in set(documented) - in_code)
    assert not missing_from_docs and not missing_from_code, (
        f"granted in infra/ but not documented: {missing_from_docs}\n"
        f"documented but not granted: {missing_from_code}"
    )


def test_each_service_account_has_exactly_its_documented_roles() -> None:
    """Per identity, the roles and scopes in code are the documented ones (a readable diff)."""
    documented = iac.grants_in_docs(LEAST_PRIVILEGE_DOC)
    in_code = iac.grants_in_code()
    for identity in sorted({g.identity for g in documented} | {g.identity for g in in_code}):
        assert sorted((g.role, g.scope) for g in in_code if g.identity == identity) == sorted(
            (g.role, g.scope) for g in documented if g.identity == identity
        ), identity


def test_service_accounts_are_the_documented_roles() -> None:
    accounts = iac.locals_of(iac.INFRA / "modules" / "service_accounts")["accounts"]
    assert set(accounts) == {"orchestration", "pipeline", "inference", "caller", "builder"}
    identities_doc = LEAST_PRIVILEGE_DOC.read_text().split("## Identities", 1)[1].split("\n## ", 1)[0]
    for key in accounts:
        assert f"| `{key}` | service account `fraud-{key}`" in identities_doc


def test_the_function_is_private() -> None:
    root_vars = iac.blocks("variable", iac.INFRA)
    ingress = root_vars["function_ingress"]
    assert ingress["default"] == "ALLOW_INTERNAL_ONLY"
    (validation,) = ingress["validation"]
    allowed = re.findall(r'"(ALLOW_[A-Z_]+)"', validation["condition"])
    assert allowed and "ALLOW_ALL" not in allowed

    (function,) = [r for r in iac.resources() if r.type == "google_cloudfunctions2_function"]
    (service_config,) = function.body["service_config"]
    assert service_config["ingress_settings"] == "${var.ingress}"
    module_ingress = iac.blocks("variable", iac.INFRA / "modules" / "prediction_function")["ingress"]
    assert '!= "ALLOW_ALL"' in module_ingress["validation"][0]["condition"]

    invoker_roles = {"roles/run.invoker", "roles/cloudfunctions.invoker"}
    invokers = {g for g in iac.grants_in_code() if g.role in invoker_roles}
    assert {(g.identity, g.scope) for g in invokers} == {("caller", "run-service:predict")}
    assert not [r for r in iac.resources() if r.type.startswith("google_cloudfunctions2_function_iam")]


def test_buckets_have_uniform_access_no_public_access_and_lifecycle_rules() -> None:
    (bucket,) = [r for r in iac.resources() if r.type == "google_storage_bucket"]
    assert bucket.body["uniform_bucket_level_access"] is True
    assert bucket.body["public_access_prevention"] == "enforced"
    assert bucket.body["force_destroy"] is False
    assert "lifecycle_rule" in str(bucket.body["dynamic"])

    storage_locals = iac.locals_of(iac.INFRA / "modules" / "storage")
    buckets = storage_locals["buckets"]
    assert set(buckets) == {
        "landing", "quarantine", "pipeline_root", "models", "composer", "function_source",
    }  # fmt: skip
    for key, spec in buckets.items():
        # A rule is an object literal, or a reference to one in locals ("${local.abort_uploads}").
        rules = [storage_locals[r[len("${local.") : -1]] if isinstance(r, str) else r for r in spec["rules"]]
        actions = {str(rule["action"]) for rule in rules}
        assert "AbortIncompleteMultipartUpload" in actions, key
        if key == "models":
            # a registered version's files go when the version does: no age knows that
            assert actions == {"AbortIncompleteMultipartUpload"}, "a rule would delete registered models"
            continue
        assert actions - {"AbortIncompleteMultipartUpload"}, f"bucket {key} has no retention rule"
        if spec["versioning"]:  # an overwritten or deleted object's old version would stay forever
            assert any(
                rule["action"] == "Delete" and rule.get("days_since_noncurrent_time") for rule in rules
            ), f"versioned bucket {key} keeps noncurrent versions forever"


def test_variables_and_outputs_are_documented() -> None:
    undocumented = []
    for directory in iac.module_dirs():
        for kind in ("variable", "output"):
            for name, body in iac.blocks(kind, directory).items():
                if not str(body.get("description", "")).strip():
                    undocumented.append(f"{directory.relative_to(iac.INFRA)}: {kind} {name}")
                if kind == "variable" and "type" not in body:
                    undocumented.append(f"{directory.relative_to(iac.INFRA)}: variable {name} has no type")
    assert not undocumented


def test_example_tfvars_sets_declared_variables_only() -> None:
    example = iac.parse(iac.INFRA / "terraform.tfvars.example")
    declared = iac.blocks("variable", iac.INFRA)
    assert "project_id" in example
    assert set(example) <= set(declared), set(example) - set(declared)
    required = {name for name, body in declared.items() if "default" not in body}
    assert required <= set(example)


def test_module_calls_pass_only_declared_inputs() -> None:
    """What `tofu validate` would catch first: a module argument its module does not declare."""
    meta = {"source", "depends_on", "providers", "count", "for_each", "version"}
    for name, call in iac.blocks("module", iac.INFRA).items():
        module_dir = (iac.INFRA / str(call["source"])).resolve()
        declared = iac.blocks("variable", module_dir)
        passed = set(call) - meta
        assert passed <= set(declared), f"module {name}: unknown inputs {passed - set(declared)}"
        required = {v for v, body in declared.items() if "default" not in body}
        assert required <= passed, f"module {name}: missing inputs {required - passed}"


def _documented_names(section: str) -> set[str]:
    text = (REPO_ROOT / "docs" / "infrastructure.md").read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


def test_root_variables_and_outputs_are_in_the_infrastructure_doc() -> None:
    assert _documented_names("Variables") == set(iac.blocks("variable", iac.INFRA))
    assert _documented_names("Outputs") == set(iac.blocks("output", iac.INFRA))


def test_every_module_declares_the_providers_it_uses() -> None:
    for directory in iac.module_dirs():
        declared: set[str] = set()
        for path in directory.glob("*.tf"):
            for block in iac.parse(path).get("terraform", []):
                for providers in block.get("required_providers", []):
                    declared |= set(providers)
        used = set()
        for kind in ("resource", "data"):
            for resource in iac.resources(kind):
                if (iac.INFRA / resource.module).resolve() == directory.resolve():
                    used.add(str(resource.body.get("provider", resource.type.split("_")[0])).strip("${}"))
        missing = used - declared
        assert not missing, f"{directory.relative_to(iac.INFRA)}: {missing} not in required_providers"


#: Roles that read BigQuery table data (a project-level one would reach every dataset).
BIGQUERY_DATA_ROLES = {
    "roles/bigquery.dataViewer", "roles/bigquery.dataEditor", "roles/bigquery.dataOwner",
    "roles/bigquery.admin", "roles/bigquery.user", "roles/bigquery.studioAdmin",
}  # fmt: skip


def test_only_the_ingestion_identity_can_read_raw_card_numbers() -> None:
    """The raw dataset (and a run's unchecked candidates) have exactly one reader: ingestion."""
    grants = iac.grants_in_code()
    for dataset in ("dataset:raw", "dataset:candidates"):
        assert {g.identity for g in grants if g.scope == dataset} == {"orchestration"}, dataset
    assert not [g for g in grants if g.scope == "project" and g.role in BIGQUERY_DATA_ROLES]
    consumers = {"pipeline", "feature_sync", "inference", "caller", "builder"}  # training, sync, serving
    readable = {(g.identity, g.scope) for g in grants if g.role in BIGQUERY_DATA_ROLES}
    assert {identity for identity, _ in readable} & consumers == {"pipeline", "feature_sync"}
    assert {scope for identity, scope in readable if identity in consumers} == {
        "dataset:fraud",
        "dataset:snapshots",
    }
    (raw,) = [r for r in iac.resources() if r.type == "google_bigquery_dataset" and r.name == "raw"]
    assert raw.body["dataset_id"] == "${var.raw_dataset_id}"


def test_raw_rows_and_files_with_card_numbers_expire() -> None:
    (raw,) = [r for r in iac.resources() if r.type == "google_bigquery_dataset" and r.name == "raw"]
    assert raw.body["default_partition_expiration_ms"] == "${var.raw_retention_days * 86400000}"
    # deleted rows stay queryable with FOR SYSTEM_TIME AS OF for the time-travel window: its least
    assert raw.body["max_time_travel_hours"] == 48
    (table,) = [r for r in iac.resources() if r.type == "google_bigquery_table"]
    assert "var.raw_retention_days" in str(table.body["dynamic"])
    assert iac.blocks("variable", iac.INFRA)["raw_retention_days"]["default"] == 30
    storage = iac.blocks("module", iac.INFRA)["storage"]["retention_days"]
    assert (
        "landing_archive = var.raw_retention_days" in storage
        and "quarantine = var.raw_retention_days" in storage
    )
    # an erased file is a new object: its customTime carries the original's creation time
    # (ingestion/erasure.py), and a second rule expires archived files from there
    buckets = iac.locals_of(iac.INFRA / "modules" / "storage")["buckets"]
    assert {
        "action": "Delete",
        "storage_class": None,
        "age": None,
        "days_since_custom_time": "${var.retention_days.landing_archive}",
        "prefixes": ["${var.archive_prefix}"],
    } in buckets["landing"]["rules"]
    assert {
        "action": "Delete",
        "storage_class": None,
        "age": None,
        "days_since_custom_time": "${var.retention_days.quarantine}",
        "prefixes": [],
    } in buckets["quarantine"]["rules"]
    (bucket,) = [r for r in iac.resources() if r.type == "google_storage_bucket"]
    (rules,) = [d["lifecycle_rule"] for d in bucket.body["dynamic"] if "lifecycle_rule" in d]
    (condition,) = rules["content"][0]["condition"]
    assert condition["days_since_custom_time"] == "${try(lifecycle_rule.value.days_since_custom_time, null)}"


def test_files_with_card_numbers_are_not_kept_soft_deleted() -> None:
    """Cloud Storage keeps a deleted or overwritten object restorable for 7 days unless the bucket
    says otherwise (soft delete is on by default, https://cloud.google.com/storage/docs/soft-delete).
    On the buckets holding card numbers in clear, expiry and erasure must mean gone."""
    buckets = iac.locals_of(iac.INFRA / "modules" / "storage")["buckets"]
    assert buckets["landing"]["soft_delete_seconds"] == 0
    assert buckets["quarantine"]["soft_delete_seconds"] == 0
    (bucket,) = [r for r in iac.resources() if r.type == "google_storage_bucket"]
    (policy,) = [d["soft_delete_policy"] for d in bucket.body["dynamic"] if "soft_delete_policy" in d]
    assert (
        policy["for_each"]
        == "${each.value.soft_delete_seconds == null ? [] : [each.value.soft_delete_seconds]}"
    )
    assert policy["content"] == [{"retention_duration_seconds": "${soft_delete_policy.value}"}]


def test_data_access_audit_logs_for_bigquery_storage_and_kms() -> None:
    (audit,) = [r for r in iac.resources() if r.type == "google_project_iam_audit_config"]
    assert "bigquery.googleapis.com" in audit.body["for_each"]
    assert "storage.googleapis.com" in audit.body["for_each"]
    assert "cloudkms.googleapis.com" in audit.body["for_each"]
    log_types = {c["log_type"] for c in audit.body["audit_log_config"]}
    assert log_types == {"ADMIN_READ", "DATA_READ", "DATA_WRITE"}
    assert not audit.body["audit_log_config"][0].get("exempted_members")


def test_the_pseudonym_key_is_usable_by_ingestion_and_inference_only() -> None:
    grants = {g for g in iac.grants_in_code() if g.scope == "kms-key:pseudonym"}
    assert {(g.identity, g.role) for g in grants} == {
        ("orchestration", "roles/cloudkms.cryptoKeyDecrypterViaDelegation"),  # BigQuery KEYSET_CHAIN
        ("inference", "roles/cloudkms.cryptoKeyDecrypter"),  # the function unwraps once per instance
    }


def test_each_cmek_key_is_in_the_location_of_what_it_encrypts() -> None:
    """Cloud Storage encrypts a regional bucket only with a key in its region, BigQuery a dataset
    only with a key in its location (``europe`` for EU): one key cannot serve both, so the
    buckets, topic and secrets take ``kms_key_name`` and the datasets ``bigquery_kms_key_name``,
    each grant checking its key's location before anything is created."""
    modules = iac.blocks("module", iac.INFRA)
    assert modules["storage"]["kms_key_name"] == modules["pubsub"]["kms_key_name"] == "${var.kms_key_name}"
    assert modules["bigquery"]["kms_key_name"] == "${var.bigquery_kms_key_name}"
    assert modules["monitoring"]["kms_key_name"] == "${var.bigquery_kms_key_name}"  # the log dataset
    grants = {r.name: r.body for r in iac.resources() if r.type == "google_kms_crypto_key_iam_member"}
    conditions = {
        name: body["lifecycle"][0]["precondition"][0]["condition"]
        for name, body in grants.items()
        if name in ("gcs_agent", "bigquery_agent")
    }
    assert conditions == {
        "gcs_agent": '${split("/", var.kms_key_name)[3] == var.region}',
        "bigquery_agent": '${split("/", var.bigquery_kms_key_name)[3] == local.bigquery_key_location}',
    }
    location = iac.locals_of(iac.INFRA)["bigquery_key_location"]
    assert location == '${lookup({EU = "europe", US = "us"}, upper(var.bq_location), lower(var.bq_location))}'


def test_every_alert_entry_notifies_through_its_kinds_own_policy_matching_what_the_sink_writes() -> None:
    """Log-based policies (LogMatch): a notification per alert entry, one policy per kind, as
    Google limits each log-based policy to one notification per 5 minutes and 20 a day (with one
    policy, hourly drift alerts silenced the day's rollbacks). A threshold condition on the
    log-based metric notifies once per kind and then stays quiet while that incident is open (a
    counter without new points is not evaluated again), and on a first apply it is refused until
    the new metric exists (terraform-provider-google#11102). Each policy's filter, rendered for
    its kind, matches exactly the entries ``CloudLoggingAlertSink`` writes for that kind."""
    from unittest import mock

    from fraud_mlops.alerting.sinks import ALERT_KINDS, Alert, CloudLoggingAlertSink

    (policy,) = [r for r in iac.resources() if r.type == "google_monitoring_alert_policy"]
    kinds = iac.locals_of(iac.INFRA / "modules" / "monitoring")["alert_kinds"]
    assert policy.body["for_each"] == "${local.alert_kinds}"
    assert set(kinds) == set(ALERT_KINDS)
    (condition,) = policy.body["conditions"]
    (matched,) = condition["condition_matched_log"]
    assert set(condition) == {"display_name", "condition_matched_log"}
    assert "google_logging_metric" not in str(policy.body)

    for kind in ALERT_KINDS:
        client = mock.Mock()
        CloudLoggingAlertSink("${var.project_id}", client=client).send(
            Alert(
                kind=kind,
                summary="s",
                dag_id="d",
                run_id="r",
                task_id="t",
                details={},
                raised_at="2026-12-05T00:00:00+00:00",
            )
        )
        request = client.write_log_entries.call_args.kwargs["request"]
        assert request.labels["kind"] == kind  # the entries carry the request's labels
        rendered = matched["filter"].replace("${each.key}", kind)
        assert rendered == f'logName="{request.log_name}" AND labels.kind="{request.labels["kind"]}"'
    assert matched["label_extractors"] == {"kind": "EXTRACT(labels.kind)"}

    (strategy,) = policy.body["alert_strategy"]
    (limit,) = strategy["notification_rate_limit"]  # required with a LogMatch condition
    assert limit == {"period": "300s"}  # Google's least: one notification per 5 minutes


def test_a_module_given_a_kms_key_waits_for_that_keys_service_agent_grant() -> None:
    """With CMEK on, a dataset, bucket or topic created before its service agent may use the key
    fails to create (or to write later): every module call passed a key depends on its grant."""
    grant_of = {
        "${var.kms_key_name}": {"gcs_agent", "pubsub_agent"},
        "${var.bigquery_kms_key_name}": {"bigquery_agent"},
    }
    calls = iac.blocks("module", iac.INFRA)
    checked = 0
    for name, call in calls.items():
        key = call.get("kms_key_name")
        if key is None:
            continue
        checked += 1
        waits = {d.rsplit(".", 1)[-1].rstrip("}") for d in call.get("depends_on", [])}
        assert waits & grant_of[key], f"module {name} uses {key} without waiting for its grant"
    assert checked == 4  # storage, bigquery, pubsub, monitoring


def test_the_function_build_reads_the_source_copy_and_waits_for_every_builder_grant() -> None:
    """Cloud Functions copies the uploaded source into its own bucket
    (gcf-v2-sources-<number>-<region>) and the build fetches that copy as the builder; the bucket
    appears with the first deploy, so the builder's read is a project grant with a condition on
    that name. The build starts only once each of the builder's grants exists."""
    fn = iac.INFRA / "modules" / "prediction_function"
    (grant,) = [
        r
        for r in iac.resources()
        if r.module == "modules/prediction_function" and r.type == "google_project_iam_member"
    ]
    assert (grant.body["role"], grant.body["member"]) == (
        "roles/storage.objectViewer",
        "${var.members.builder}",
    )
    (condition,) = grant.body["condition"]
    assert condition["expression"] == (
        'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-${var.project_number}-${var.region}")'
    )
    (function,) = [r for r in iac.resources() if r.type == "google_cloudfunctions2_function"]
    assert set(function.body["depends_on"]) == {
        "${google_artifact_registry_repository_iam_member.functions_builder}",
        "${google_project_iam_member.builder_function_sources}",
    }
    # the other two grants come in with the inputs the build reads
    call = iac.blocks("module", iac.INFRA)["prediction_function"]
    assert call["source_bucket"] == "${module.storage.function_source_bucket}"
    assert call["builder_sa_id"] == '${module.service_accounts.ids["builder"]}'
    outputs = {
        **iac.blocks("output", iac.INFRA / "modules" / "storage"),
        **iac.blocks("output", iac.INFRA / "modules" / "service_accounts"),
    }
    assert outputs["function_source_bucket"]["depends_on"] == [
        "${google_storage_bucket_iam_member.function_source_builder}"
    ]
    assert outputs["ids"]["depends_on"] == ["${google_project_iam_member.builder_log_writer}"]
    assert "project_number" in iac.blocks("variable", fn)


def test_the_training_pipeline_reads_the_snapshots_and_nothing_else_of_the_warehouse() -> None:
    """The snapshots have their own dataset so that the pipeline's read grant reaches them only
    (on the curated dataset it reached staging, features and predictions too); the snapshot SQL
    writes there and the pipeline is handed URIs there."""
    grants = iac.grants_in_code()
    pipeline_reads = {g.scope for g in grants if g.identity == "pipeline" and g.role in BIGQUERY_DATA_ROLES}
    assert pipeline_reads == {"dataset:snapshots"}
    (snapshots,) = [
        r for r in iac.resources() if r.type == "google_bigquery_dataset" and r.name == "snapshots"
    ]
    assert snapshots.body["dataset_id"] == "${var.snapshot_dataset_id}"
    snapshot_sql = (REPO_ROOT / "include" / "sql" / "60_snapshot.sql").read_text()
    assert "CREATE SNAPSHOT TABLE IF NOT EXISTS `{{ snapshot_dataset }}.{{ snapshot }}`" in snapshot_sql
    composer_env = iac.blocks("module", iac.INFRA)["composer"]["env_variables"]
    assert composer_env["MLOPS_BQ_SNAPSHOT_DATASET"] == "${module.bigquery.snapshot_dataset_id}"


def test_the_identity_that_takes_expiring_snapshots_may_delete_snapshots() -> None:
    """BigQuery: "to create a snapshot with an expiration time you must have the
    bigquery.tables.deleteSnapshot permission" (table-snapshots-create), which dataEditor lacks.
    The ingestion identity takes the training snapshots of the curated dataset's training table
    with an expiry, into the snapshot dataset: Google's page lists the permission with the table
    snapshotted, and moving a kept snapshot's expiry acts on the snapshot, so it holds it on both."""
    snapshot_sql = (REPO_ROOT / "include" / "sql" / "60_snapshot.sql").read_text()
    assert "CREATE SNAPSHOT TABLE" in snapshot_sql and "expiration_timestamp" in snapshot_sql
    custom = {
        f"custom:{r.name}": set(r.body["permissions"])
        for r in iac.resources()
        if r.type == "google_project_iam_custom_role"
    }
    for dataset in ("dataset:fraud", "dataset:snapshots"):
        roles = {g.role for g in iac.grants_in_code() if (g.identity, g.scope) == ("orchestration", dataset)}
        assert any("bigquery.tables.deleteSnapshot" in custom.get(role, ()) for role in roles), (
            dataset,
            roles,
        )
        assert "roles/bigquery.dataEditor" in roles, (dataset, roles)  # create, update, read the tables
        assert (
            "roles/bigquery.dataOwner" not in roles
        )  # it would also let the account change the dataset's access
