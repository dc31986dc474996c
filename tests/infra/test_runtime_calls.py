"""Every Google API call the running code makes is in docs/least_privilege.md and granted in infra/.

The code is read, not trusted: the test parses every shipped module (``plugins/``, ``dags/``,
``functions/``, ``include/``) and collects the calls it can see:

* methods of ``aiplatform_v1`` service clients, of the BigQuery Storage read client and of
  Cloud Logging's client, in a module that names such a client (as an attribute or imported
  by name) or gets one from a provider hook (``hook.get_job_service_client()``)
  (``PredictionService.Predict``);
* Google provider operators, sensors, hooks and the message-queue trigger it imports;
* hand-made ``storage.Client()`` / ``bigquery.Client()``;
* BigQuery results read whole (``to_arrow``, ``to_dataframe`` and their iterables): the client
  reads them through a Storage Read session (``BigQueryRead.CreateReadSession``, ``ReadRows``)
  unless told not to (``create_bqstorage_client=False``), even for a one-row result.

Each is matched against the "Run-time API calls" table: a call in code must be listed for an
identity that runs that code; a listed call must be in that identity's code; and the row's role
must be granted to the identity on that scope (or the whole project) by ``infra/``, and must
contain the row's permission (Google's IAM reference, copied below for the roles used).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fraud_mlops.settings import REPO_ROOT

from . import iac

DOC = REPO_ROOT / "docs" / "least_privilege.md"

#: Which shipped files run as which identity at run time (glob patterns, from the repo root).
CODE_OF: dict[str, tuple[str, ...]] = {
    "inference": (
        "functions/predict/main.py",
        "plugins/fraud_mlops/serving/*.py",
        "plugins/fraud_mlops/feature_store/vertex.py",
        "plugins/fraud_mlops/registry/endpoint_client.py",
        "plugins/fraud_mlops/kms.py",
    ),
    "orchestration": (
        "dags/*.py",
        "plugins/fraud_mlops/orchestration/*.py",
        "plugins/fraud_mlops/warehouse/*.py",
        "plugins/fraud_mlops/feature_store/*.py",
        "plugins/fraud_mlops/pipeline_runs/*.py",
        "plugins/fraud_mlops/storage.py",
        "plugins/fraud_mlops/ingestion/*.py",
        "plugins/fraud_mlops/events/*.py",
        "plugins/fraud_mlops/registry/batch_prediction.py",
        "plugins/fraud_mlops/registry/vertex_batch_job.py",
        # the monitoring DAG's canary decision moves traffic and aliases (monitoring/canary_apply.py)
        "plugins/fraud_mlops/registry/vertex.py",
        "plugins/fraud_mlops/registry/backends.py",
        "plugins/fraud_mlops/monitoring/*.py",
        "plugins/fraud_mlops/alerting/*.py",
        "plugins/fraud_mlops/prediction_log/*.py",
    ),
    "pipeline": (
        "include/pipelines/**/*.py",
        "plugins/fraud_mlops/training/*.py",
        "plugins/fraud_mlops/registry/vertex.py",
        "plugins/fraud_mlops/registry/backends.py",
    ),
    # Vertex's managed account of prediction containers runs the model server (endpoint, batch
    # prediction); not the Vertex AI service agent (``feature_sync``), which runs no project code.
    "prediction_container": ("plugins/fraud_mlops/registry/model_server.py",),
}

VERTEX_MANAGED_ARTIFACTS = "vertex-managed:AIP_STORAGE_URI"

#: Permissions of the predefined roles this project grants, as far as the table relies on them
#: (https://cloud.google.com/iam/docs/roles-permissions/aiplatform, .../bigquery, .../storage,
#: .../pubsub, .../secretmanager, .../iam).
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/aiplatform.user": frozenset(
        {
            "aiplatform.batchPredictionJobs.cancel",
            "aiplatform.batchPredictionJobs.create",
            "aiplatform.batchPredictionJobs.get",
            "aiplatform.batchPredictionJobs.list",
            "aiplatform.endpoints.create",
            "aiplatform.endpoints.deploy",
            "aiplatform.endpoints.get",
            "aiplatform.endpoints.list",
            "aiplatform.endpoints.predict",
            "aiplatform.endpoints.undeploy",
            "aiplatform.endpoints.update",
            "aiplatform.featureViewSyncs.get",
            "aiplatform.featureViews.sync",
            "aiplatform.models.get",
            "aiplatform.models.list",
            "aiplatform.models.update",
            "aiplatform.models.upload",
            "aiplatform.pipelineJobs.cancel",
            "aiplatform.pipelineJobs.create",
            "aiplatform.pipelineJobs.get",
        }
    ),
    "roles/aiplatform.featurestoreDataViewer": frozenset({"aiplatform.featureViews.fetchFeatureValues"}),
    # no role: Vertex lets a prediction container read the artifacts at AIP_STORAGE_URI, nothing else
    VERTEX_MANAGED_ARTIFACTS: frozenset({"storage.objects.get"}),
    "roles/bigquery.jobUser": frozenset({"bigquery.jobs.create"}),
    "roles/composer.worker": frozenset({"logging.logEntries.create"}),
    "roles/bigquery.dataEditor": frozenset(
        {
            "bigquery.tables.create",
            "bigquery.tables.createSnapshot",
            "bigquery.tables.delete",
            "bigquery.tables.get",
            "bigquery.tables.getData",
            "bigquery.tables.list",
            "bigquery.tables.update",
            "bigquery.tables.updateData",
        }
    ),
    "roles/bigquery.dataViewer": frozenset({"bigquery.tables.getData"}),
    "roles/bigquery.readSessionUser": frozenset(
        {"bigquery.readsessions.create", "bigquery.readsessions.getData"}
    ),
    "roles/storage.objectUser": frozenset(
        {"storage.objects.create", "storage.objects.delete", "storage.objects.get", "storage.objects.list"}
    ),
    "roles/storage.legacyBucketReader": frozenset({"storage.buckets.get"}),
    "roles/pubsub.subscriber": frozenset({"pubsub.subscriptions.consume"}),
    "roles/secretmanager.secretAccessor": frozenset({"secretmanager.versions.access"}),
    "roles/iam.serviceAccountUser": frozenset({"iam.serviceAccounts.actAs"}),
    "roles/cloudkms.cryptoKeyDecrypter": frozenset({"cloudkms.cryptoKeyVersions.useToDecrypt"}),
    "roles/cloudkms.cryptoKeyDecrypterViaDelegation": frozenset(
        {"cloudkms.cryptoKeyVersions.useToDecryptViaDelegation"}
    ),
}

#: Access Google gives itself, hence in no infra/ resource: a prediction container's read of the
#: model artifacts Vertex AI copied for it (https://cloud.google.com/vertex-ai/docs/general/custom-service-account).
GOOGLE_MANAGED = {("prediction_container", VERTEX_MANAGED_ARTIFACTS, "model-artifacts")}

PROVIDER_MODULES = ("airflow.providers.google", "airflow.providers.common.messaging")
#: The provider's console links only format URLs from XCom (registry/console_links.py): no call.
LINK_MODULES = ("airflow.providers.google.cloud.links", "airflow.providers.google.common.links")

#: Result readers of google-cloud-bigquery that open a Storage Read session by default.
STORAGE_READERS = frozenset({"to_arrow", "to_dataframe", "to_arrow_iterable", "to_dataframe_iterable"})
STORAGE_READ_CALLS = frozenset({"BigQueryRead.CreateReadSession", "BigQueryRead.ReadRows"})


def _reads_through_storage(call: ast.Call) -> bool:
    """A result reader left to open a Storage Read session (not ``create_bqstorage_client=False``)."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr in STORAGE_READERS):
        return False
    return not any(
        k.arg == "create_bqstorage_client" and isinstance(k.value, ast.Constant) and k.value.value is False
        for k in call.keywords
    )


#: Client classes of other libraries that call a Google API for us: Tink's Cloud KMS client
#: (``tink.integration.gcpkms``) unwraps a keyset with one ``Decrypt`` of google-cloud-kms.
WRAPPED_CLIENTS = {"GcpKmsClient": "KeyManagementService.Decrypt"}


@dataclass(frozen=True)
class Row:
    identity: str
    call: str
    permission: str
    role: str
    scope: str
    code: str

    @property
    def in_code(self) -> bool:
        return self.code.endswith(".py")


def table_rows() -> list[Row]:
    section = DOC.read_text().split("## Run-time API calls", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        call = cells[1].split(" (", 1)[0]
        rows.append(Row(*(c.strip("`") for c in (cells[0], call, *cells[2:]))))
    return rows


@cache
def _clients() -> dict[str, type]:
    from google.cloud import aiplatform_v1, bigquery_storage, kms_v1
    from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client

    found: dict[str, type] = {
        n: getattr(aiplatform_v1, n) for n in dir(aiplatform_v1) if n.endswith("ServiceClient")
    }
    found["BigQueryReadClient"] = bigquery_storage.BigQueryReadClient
    found["KeyManagementServiceClient"] = kms_v1.KeyManagementServiceClient
    found["LoggingServiceV2Client"] = LoggingServiceV2Client
    return found


#: The provider hooks' client getters (``get_job_service_client`` → ``JobServiceClient``).
_HOOK_CLIENT_GETTER = re.compile(r"get_(\w+_service)_client")


def calls_in(path: Path) -> set[str]:
    """The Google API calls visible in one module (see the module docstring)."""
    tree = ast.parse(path.read_text())
    clients, methods, found = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _clients():
            clients.add(node.attr)
        if isinstance(node, ast.Attribute) and node.attr in WRAPPED_CLIENTS:
            found.add(WRAPPED_CLIENTS[node.attr])
        module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
        if module.startswith(PROVIDER_MODULES) and not module.startswith(LINK_MODULES):
            found |= {alias.name for alias in node.names}
        if isinstance(node, ast.ImportFrom):  # a client class imported by name
            clients |= {alias.name for alias in node.names if alias.name in _clients()}
        if isinstance(node, ast.Call) and _reads_through_storage(node):
            found |= STORAGE_READ_CALLS
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            methods.add(node.func.attr)
            made = _HOOK_CLIENT_GETTER.fullmatch(node.func.attr)  # a provider hook's get_<x>_client()
            if (
                made
                and (client := f"{''.join(w.title() for w in made.group(1).split('_'))}Client") in _clients()
            ):
                clients.add(client)
            owner = node.func.value
            if (
                isinstance(owner, ast.Name)
                and owner.id in ("storage", "bigquery")
                and node.func.attr == "Client"
            ):
                found.add(f"{owner.id}.Client")
    for name in clients:
        client = _clients()[name]
        for method in methods:
            if not method.startswith("_") and callable(getattr(client, method, None)):
                found.add(f"{name.removesuffix('Client')}.{''.join(w.title() for w in method.split('_'))}")
    return found


def shipped_files() -> list[Path]:
    roots = [REPO_ROOT / "plugins", REPO_ROOT / "dags", REPO_ROOT / "functions", REPO_ROOT / "include"]
    return sorted(p for root in roots for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def files_of(identity: str) -> set[Path]:
    return {p for pattern in CODE_OF[identity] for p in REPO_ROOT.glob(pattern)}


def _covers(grant_scope: str, scope: str) -> bool:
    return grant_scope == scope or grant_scope == "project"


def test_every_call_in_the_code_is_listed_for_an_identity_that_runs_it() -> None:
    listed = {(r.identity, r.call) for r in table_rows()}
    missing, unowned = [], []
    for path in shipped_files():
        calls = calls_in(path)
        if not calls:
            continue
        owners = [identity for identity in CODE_OF if path in files_of(identity)]
        if not owners:
            unowned.append(f"{path.relative_to(REPO_ROOT)}: {sorted(calls)}")
        for call in calls:
            if not any((owner, call) in listed for owner in owners):
                missing.append(f"{path.relative_to(REPO_ROOT)}: {call} (runs as {owners})")
    assert not unowned, "calls in code no identity is known to run; extend CODE_OF:\n" + "\n".join(unowned)
    assert not missing, "calls missing from docs/least_privilege.md:\n" + "\n".join(missing)


def test_every_listed_call_is_made_by_that_identitys_code() -> None:
    stale = []
    for row in table_rows():
        if not row.in_code:
            continue
        path = (
            REPO_ROOT / "plugins" / row.code if row.code.startswith("fraud_mlops/") else REPO_ROOT / row.code
        )
        if path not in files_of(row.identity) or row.call not in calls_in(path):
            stale.append(f"{row.identity}: {row.call} in {row.code}")
    assert not stale, "rows whose call is not in that identity's code:\n" + "\n".join(stale)


def test_every_call_is_granted_its_permission_in_infra() -> None:
    granted = {(g.identity, g.role, g.scope) for g in iac.grants_in_code()} | GOOGLE_MANAGED
    # infra/'s custom roles give exactly the permissions they list
    role_permissions = ROLE_PERMISSIONS | {
        f"custom:{r.name}": frozenset(r.body["permissions"])
        for r in iac.resources()
        if r.type == "google_project_iam_custom_role"
    }
    problems = []
    for row in table_rows():
        if not any(i == row.identity and r == row.role and _covers(s, row.scope) for i, r, s in granted):
            problems.append(f"{row.identity} has no {row.role} on {row.scope} in infra/ (for {row.call})")
        if row.permission not in role_permissions.get(row.role, frozenset()):
            problems.append(f"{row.role} does not give {row.permission} (for {row.call})")
    assert not problems, "\n".join(problems)


def test_the_prediction_functions_vertex_grants_hold_only_its_calls_permissions() -> None:
    """The identity closest to callers: each of its grants on Vertex resources gives exactly the
    permissions of the calls it makes under that grant. ``roles/aiplatform.user`` on the endpoint also gave
    ``aiplatform.endpoints.deploy/undeploy/update/delete``: a caller's way into the function was
    a way to change what the endpoint serves."""
    custom = {
        f"custom:{r.name}": frozenset(r.body["permissions"])
        for r in iac.resources()
        if r.type == "google_project_iam_custom_role"
    }
    vertex = ("endpoint:", "feature-view:")
    needed: dict[tuple[str, str], set[str]] = {}
    for row in table_rows():
        if row.identity == "inference" and row.scope.startswith(vertex):
            needed.setdefault((row.role, row.scope), set()).add(row.permission)
    grants = {
        (g.role, g.scope)
        for g in iac.grants_in_code()
        if g.identity == "inference" and g.scope.startswith(vertex)
    }
    assert grants == set(needed) and len(grants) == 2
    for role, scope in grants:
        assert role in custom, f"{role} on {scope}: a predefined role gives more than the calls need"
        assert custom[role] == needed[role, scope], (role, scope)


def test_the_scanner_sees_a_call_it_must_see(tmp_path: Path) -> None:
    """The scan is what the other tests stand on: it finds a GAPIC call and a provider import."""
    module = tmp_path / "probe.py"
    module.write_text(
        "from google.cloud import aiplatform_v1\n"
        "from airflow.providers.google.cloud.operators.vertex_ai.endpoint_service import DeployModelOperator\n"
        "client = aiplatform_v1.ModelServiceClient()\n"
        "client.delete_model(name='x')\n"
        "from tink.integration import gcpkms\n"
        "aead = gcpkms.GcpKmsClient('gcp-kms://k').get_aead('gcp-kms://k')\n"
        "hook.get_job_service_client('europe-west4').cancel_batch_prediction_job(name='x')\n"
    )
    assert calls_in(module) == {
        "ModelService.DeleteModel",
        "DeployModelOperator",
        "KeyManagementService.Decrypt",
        "JobService.CancelBatchPredictionJob",  # a client a provider hook made
    }


def test_the_scanner_sees_a_storage_read_the_bigquery_client_makes_for_us(tmp_path: Path) -> None:
    """``QueryJob.to_arrow()`` opens a Storage Read session; told not to, it pages over REST."""
    module = tmp_path / "reads.py"
    module.write_text("rows = client.query(sql).to_arrow()\n")
    assert calls_in(module) == {"BigQueryRead.CreateReadSession", "BigQueryRead.ReadRows"}
    module.write_text("rows = client.query(sql).to_dataframe(create_bqstorage_client=False)\n")
    assert calls_in(module) == set()


def test_the_inference_path_makes_one_vertex_call_per_prediction() -> None:
    """Provenance comes with the answer: no GetModel, GetEndpoint or bucket read while serving.

    Besides the two Vertex calls, the function makes one KMS ``Decrypt`` per instance (at start,
    to unwrap the pseudonym keyset) and, after a ``NOT_FOUND``, at most one ``GetFeatureView`` a
    minute per instance (a missing view answers as an unknown key does); never one per request.
    """
    calls = {row.call for row in table_rows() if row.identity == "inference" and row.in_code}
    assert calls == {
        "FeatureOnlineStoreService.FetchFeatureValues",
        "PredictionService.Predict",
        "KeyManagementService.Decrypt",
        "FeatureOnlineStoreAdminService.GetFeatureView",
    }


def test_the_image_repository_is_the_one_the_code_names() -> None:
    from fraud_mlops.registry.images import IMAGE_REPOSITORY

    (repo,) = [
        r for r in iac.resources() if r.type == "google_artifact_registry_repository" and r.name == "images"
    ]
    assert repo.body["repository_id"] == IMAGE_REPOSITORY


def test_no_sql_creates_alters_or_drops_a_dataset() -> None:
    """Datasets are infra/'s: the SQL runs as orchestration, which holds ``bigquery.jobUser`` on the
    project and ``bigquery.dataEditor`` on the datasets. ``CREATE SCHEMA`` needs
    ``bigquery.datasets.create`` on the project, ``IF NOT EXISTS`` or not (BigQuery checks the
    permission first); ``ALTER`` and ``DROP SCHEMA`` need ``datasets.update`` and ``datasets.delete``.
    tests/bigquery_rest.py refuses ``CREATE SCHEMA`` as BigQuery would, in the gcp DAG runs."""
    import re

    dataset_ddl = re.compile(r"^\s*(CREATE|ALTER|DROP)\s+SCHEMA\b", re.IGNORECASE | re.MULTILINE)
    found = [
        f"{path.relative_to(REPO_ROOT)}: {match[0].strip()}"
        for path in sorted((REPO_ROOT / "include" / "sql").rglob("*.sql"))
        for match in dataset_ddl.finditer(path.read_text())
    ]
    assert not found, found
