"""Read the OpenTofu code in ``infra/`` as data, with python-hcl2, for the policy tests.

Terraform cannot plan offline (no provider downloads here), so the tests reason about the
parsed HCL: resources with their literal attributes and the expressions Terraform would
evaluate, kept as strings like ``${var.members.orchestration}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from fraud_mlops.settings import REPO_ROOT

INFRA = REPO_ROOT / "infra"
_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


@cache
def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return dict(hcl2.load(handle, serialization_options=_OPTIONS))


def tf_files() -> list[Path]:
    return sorted(p for p in INFRA.rglob("*.tf") if ".terraform" not in p.parts)


def module_dirs() -> list[Path]:
    return sorted({p.parent for p in tf_files()})


@dataclass(frozen=True)
class Resource:
    module: str  # "." for the root module, else "modules/<name>"
    type: str
    name: str
    body: dict[str, Any]

    @property
    def address(self) -> str:
        return f"{self.module}:{self.type}.{self.name}"


def resources(kind: str = "resource") -> Iterator[Resource]:
    """Every ``resource`` (or ``data``) block in infra/, across the root and all modules."""
    for path in tf_files():
        module = str(path.parent.relative_to(INFRA)) if path.parent != INFRA else "."
        for block in parse(path).get(kind, []):
            for rtype, named in block.items():
                for name, body in named.items():
                    yield Resource(module, rtype, name, body)


def blocks(kind: str, directory: Path) -> dict[str, dict[str, Any]]:
    """``variable`` / ``output`` / ``module`` blocks of one module directory, by name."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get(kind, []):
            found.update(block)
    return found


def locals_of(directory: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get("locals", []):
            found.update(block)
    return found


# --- IAM grants -------------------------------------------------------------------------

#: IAM member resource type -> (scope kind, attribute naming the resource it is granted on).
SCOPED_IAM = {
    "google_project_iam_member": ("project", None),
    "google_storage_bucket_iam_member": ("bucket", "bucket"),
    "google_bigquery_dataset_iam_member": ("dataset", "dataset_id"),
    "google_pubsub_topic_iam_member": ("topic", "topic"),
    "google_pubsub_subscription_iam_member": ("subscription", "subscription"),
    "google_secret_manager_secret_iam_member": ("secret", "secret_id"),
    "google_service_account_iam_member": ("service-account", "service_account_id"),
    "google_kms_crypto_key_iam_member": ("kms-key", "crypto_key_id"),
    "google_artifact_registry_repository_iam_member": ("repository", "repository"),
    "google_cloud_run_service_iam_member": ("run-service", "service"),
    "google_vertex_ai_endpoint_iam_member": ("endpoint", "endpoint"),
    "google_vertex_ai_feature_online_store_featureview_iam_member": ("feature-view", "feature_view"),
}

_MEMBER_KEY = re.compile(r"members(?:\.|\[\")(\w+)")
_INDEX_KEY = re.compile(r"\[\"([\w-]+)\"\]")
_RESOURCE_REF = re.compile(r"\$\{google_\w+\.(\w+)")
_VAR_REF = re.compile(r"var\.(\w+)")


@dataclass(frozen=True, order=True)
class Grant:
    identity: str
    role: str
    scope: str
    when: str  # "always", or the variable whose value switches the grant on

    def __str__(self) -> str:
        return f"{self.identity} | {self.role} | {self.scope} | {self.when}"


def _target(expression: str) -> str:
    """The key of the resource an expression points at: ``this["landing"]`` -> landing."""
    for pattern in (_INDEX_KEY, _RESOURCE_REF, _VAR_REF):
        match = pattern.search(expression)
        if match:
            return match.group(1)
    raise ValueError(f"cannot tell which resource {expression!r} points at")


def grant_of(resource: Resource) -> Grant:
    if resource.type not in SCOPED_IAM:
        raise KeyError(f"{resource.address}: unknown IAM resource type, teach tests/infra/iac.py its scope")
    kind, attribute = SCOPED_IAM[resource.type]
    member = str(resource.body["member"])
    match = _MEMBER_KEY.search(member)
    if not match:
        raise ValueError(f"{resource.address}: member {member!r} is not an identity of the members map")
    scope = kind if attribute is None else f"{kind}:{_target(str(resource.body[attribute]))}"
    count = resource.body.get("count")
    when = "always"
    if count is not None:
        var = _VAR_REF.search(str(count))
        if not var:
            raise ValueError(f"{resource.address}: count {count!r} does not depend on a variable")
        when = var.group(1)
    return Grant(match.group(1), _role(str(resource.body["role"])), scope, when)


_CUSTOM_ROLE = re.compile(r"^\$\{google_project_iam_custom_role\.(\w+)\.(?:id|name)\}$")


def _role(expression: str) -> str:
    """A predefined role as written; one of infra/'s custom roles as ``custom:<resource name>``."""
    match = _CUSTOM_ROLE.match(expression)
    return f"custom:{match.group(1)}" if match else expression


def iam_resources() -> list[Resource]:
    return [r for r in resources() if re.search(r"_iam_(member|binding|policy)$", r.type)]


def grants_in_code() -> set[Grant]:
    return {grant_of(r) for r in iam_resources()}


def grants_in_docs(path: Path) -> list[Grant]:
    """Rows of the ``## Grants`` table in docs/least_privilege.md."""
    text = path.read_text()
    section = text.split("## Grants", 1)[1].split("\n## ", 1)[0]
    grants = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        grants.append(Grant(cells[0], cells[1], cells[2], cells[3]))
    return grants


def strings(value: Any) -> Iterator[str]:
    """Every string inside a parsed HCL value (attributes, nested blocks, lists)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def tofu(why: str) -> str:
    """The OpenTofu (else Terraform) binary on PATH; the test fails, saying ``why`` it needs one,
    when there is neither."""
    import shutil

    import pytest

    for name in ("tofu", "terraform"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"neither tofu nor terraform is on PATH: {why}")
