"""Deploy the DAG package to a Cloud Composer environment.

Composer reads DAGs from ``gs://<bucket>/dags`` and plugins from ``gs://<bucket>/plugins``. It
has no ``include/`` folder, so ``include/`` (SQL templates, the compiled KFP pipeline) is
shipped as ``dags/include/``: ``dags/.airflowignore`` keeps the DAG processor out of it and
``fraud_mlops.paths`` finds it there. Then ``requirements.txt`` becomes the environment's PyPI
packages (a Composer update, applied only when it changed).

Order matters: requirements first (new code may need a new package), then plugins and
include, DAG files last, so a DAG never lands before the code it imports. Objects under
``dags/`` and ``plugins/`` that the repository no longer has are deleted (except Composer's
own ``airflow_monitoring.py``), so a renamed DAG does not linger.

Before anything is copied, the deploy refuses a repository whose generated files are stale (the
compiled pipeline, the images' lock files and build digests: what ``make compile`` and ``make
image-requirements`` write), and, unless ``--skip-image-check``, one whose images are not in
Artifact Registry: the pipeline and every registration name the images by their build digest,
so DAGs deployed before ``make images`` fail every training step and deploy on Vertex.

``--dry-run`` prints the plan and touches nothing; with ``--bucket`` it needs no credentials.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fraud_mlops.settings import REPO_ROOT

#: (repository folder, object prefix in the Composer bucket), in upload order.
SYNC_ROOTS: tuple[tuple[str, str], ...] = (
    ("plugins", "plugins"),
    ("include", "dags/include"),
    ("dags", "dags"),
)
MANAGED_PREFIXES = ("dags/", "plugins/")
COMPOSER_OWNED = frozenset({"dags/airflow_monitoring.py"})  # Composer's liveness DAG
EXCLUDED_DIRS = frozenset(
    {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".ipynb_checkpoints"}
)
EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo"})
EXCLUDED_NAMES = frozenset({".DS_Store"})
PYPI_PACKAGES_MASK = "config.softwareConfig.pypiPackages"
#: Where the image check sends its requests instead of the images' registry
#: (``https://<region>-docker.pkg.dev``, from ``registry.images.image_uri``): tests only.
REGISTRY_URL: str | None = None
#: What ``docker manifest inspect`` accepts: a tag may name a single-platform manifest or an
#: index (buildx pushes OCI indexes); a registry answers 404 for a type not accepted.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


class DeployError(RuntimeError):
    """The repository is not in a deployable state (e.g. the pipeline is not compiled)."""


@dataclass(frozen=True)
class Upload:
    source: Path
    object_name: str


@dataclass
class SyncResult:
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _shipped(path: Path, root: Path) -> bool:
    relative = path.relative_to(root)
    return (
        path.is_file()
        and not EXCLUDED_DIRS.intersection(relative.parts[:-1])
        and path.suffix not in EXCLUDED_SUFFIXES
        and path.name not in EXCLUDED_NAMES
    )


def compiled_pipelines(repo_root: Path = REPO_ROOT) -> list[Path]:
    """The compiled KFP pipeline(s) the training DAG submits on gcp."""
    found = sorted((repo_root / "include" / "pipelines").glob("*.yaml"))
    if not found:
        raise DeployError("no compiled pipeline under include/pipelines/: run `make compile` first")
    return found


def plan_uploads(repo_root: Path = REPO_ROOT) -> list[Upload]:
    """Every file to copy, with its object name in the Composer bucket, in upload order."""
    compiled_pipelines(repo_root)
    uploads = []
    for folder, prefix in SYNC_ROOTS:
        root = repo_root / folder
        if not root.is_dir():
            raise DeployError(f"{root} is missing")
        for path in sorted(p for p in root.rglob("*") if _shipped(p, root)):
            uploads.append(Upload(path, f"{prefix}/{path.relative_to(root).as_posix()}"))
    names = [u.object_name for u in uploads]
    if len(names) != len(set(names)):
        raise DeployError("two files map to the same object: does dags/ contain an include/ folder?")
    return uploads


def stale_build_outputs() -> list[str]:
    """The generated files that differ from what their generator would write now, each with the
    command that writes it: deployed, the pipeline would run other code than plugins/ holds, or
    name an image tag that no ``make images`` of this commit pushes."""
    from fraud_mlops.registry.images import IMAGE_DIGESTS
    from include.pipelines import compile as pipeline_compile
    from scripts import image_digests, image_requirements

    stale = [
        f"images/{image}/{image_requirements.LOCKED} (run `{image_requirements.MAKE_TARGET}`)"
        for image in image_requirements.stale()
    ]
    if image_digests.digests() != IMAGE_DIGESTS:
        stale.append("fraud_mlops/registry/images.py IMAGE_DIGESTS (run `make image-digests`)")
    compiled = pipeline_compile.DEFAULT_OUTPUT
    if not compiled.is_file() or compiled.read_text() != pipeline_compile.compiled_text():
        stale.append(f"include/pipelines/{compiled.name} (run `make compile`)")
    return stale


def missing_images(session: Any, project: str, region: str, host: str | None = None) -> list[str]:
    """The images (URIs) this commit names that Artifact Registry lacks: one ``HEAD`` of each
    tag's manifest (OCI Distribution Specification, end-3: 200 if it exists, 404 if not), with
    the session's Bearer token. Needs ``artifactregistry.repositories.downloadArtifacts`` on the
    repository (roles/artifactregistry.reader)."""
    from fraud_mlops.registry.images import MODEL_SERVER_IMAGE, TRAINING_IMAGE, image_uri

    missing = []
    for image in (MODEL_SERVER_IMAGE, TRAINING_IMAGE):
        uri = image_uri(project, region, image)  # <registry>/<repository path>:<tag>
        registry, _, reference = uri.partition("/")
        repository, _, tag = reference.rpartition(":")
        url = f"{host or REGISTRY_URL or 'https://' + registry}/v2/{repository}/manifests/{tag}"
        response = session.head(url, headers={"Accept": MANIFEST_TYPES}, timeout=60)
        if response.status_code == 404:
            missing.append(uri)
        elif response.status_code != 200:
            raise DeployError(
                f"Artifact Registry answered {response.status_code} for {url}: the deploy's identity "
                "needs roles/artifactregistry.reader on the repository (or pass --skip-image-check)"
            )
    return missing


def _checked_missing_images(project: str, location: str) -> list[str]:
    """:func:`missing_images` with the deploy's credentials; no credentials, or no answer from the
    registry, is a :class:`DeployError` (exit 2, nothing changed), not a traceback."""
    import google.auth.exceptions
    import requests

    try:
        return missing_images(_registry_session(), project, location)
    except (google.auth.exceptions.GoogleAuthError, requests.RequestException) as error:
        raise DeployError(
            f"could not ask Artifact Registry for the images: {error} (or pass --skip-image-check)"
        ) from error


def _registry_session() -> Any:
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    return AuthorizedSession(credentials)


def read_requirements(path: Path = REPO_ROOT / "requirements.txt") -> dict[str, str]:
    """requirements.txt as Composer's pypi_packages: lower-case name -> '==version'."""
    packages = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        if not sep or not version:
            raise DeployError(f"requirements.txt: {line!r} is not pinned with ==")
        packages[name.strip().lower()] = f"=={version.strip()}"
    return packages


def environment_name(project: str, location: str, environment: str) -> str:
    return f"projects/{project}/locations/{location}/environments/{environment}"


def _md5_base64(path: Path) -> str:
    """GCS's md5Hash format: base64 of the binary digest."""
    digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def sync_bucket(
    client: Any, bucket_name: str, uploads: Iterable[Upload], delete_stale: bool = True
) -> SyncResult:
    """Upload what changed (by MD5), then delete managed objects the repository no longer has."""
    uploads = list(uploads)
    existing = {
        blob.name: blob.md5_hash
        for prefix in MANAGED_PREFIXES
        for blob in client.list_blobs(bucket_name, prefix=prefix)
    }
    bucket = client.bucket(bucket_name)
    result = SyncResult()
    for upload in uploads:
        if existing.get(upload.object_name) == _md5_base64(upload.source):
            result.unchanged.append(upload.object_name)
            continue
        bucket.blob(upload.object_name).upload_from_filename(str(upload.source))
        result.uploaded.append(upload.object_name)
    if delete_stale:
        planned = {u.object_name for u in uploads}
        for name in sorted(set(existing) - planned - COMPOSER_OWNED):
            if name.endswith("/"):  # folder placeholder objects
                continue
            bucket.blob(name).delete()
            result.deleted.append(name)
    return result


def apply_requirements(client: Any, name: str, packages: dict[str, str], wait: bool = True) -> bool:
    """Make the environment's PyPI packages equal ``packages``; False when they already are."""
    from google.cloud.orchestration.airflow.service_v1 import types
    from google.protobuf import field_mask_pb2

    environment = client.get_environment(request=types.GetEnvironmentRequest(name=name))
    if dict(environment.config.software_config.pypi_packages) == packages:
        return False
    request = types.UpdateEnvironmentRequest(
        name=name,
        environment=types.Environment(
            config=types.EnvironmentConfig(software_config=types.SoftwareConfig(pypi_packages=packages))
        ),
        update_mask=field_mask_pb2.FieldMask(paths=[PYPI_PACKAGES_MASK]),
    )
    operation = client.update_environment(request=request)
    if wait:
        operation.result(timeout=3600)  # Composer rebuilds its images: minutes, not seconds
    return True


def bucket_of(client: Any, name: str) -> str:
    """The environment's bucket, from its DAG folder (gs://<bucket>/dags)."""
    from google.cloud.orchestration.airflow.service_v1 import types

    prefix = client.get_environment(request=types.GetEnvironmentRequest(name=name)).config.dag_gcs_prefix
    return str(prefix).removeprefix("gs://").split("/", 1)[0]


def describe_plan(
    bucket: str, uploads: list[Upload], packages: dict[str, str] | None, name: str | None
) -> str:
    lines = [f"Dry run: nothing is copied or changed. Would upload {len(uploads)} files to gs://{bucket}:"]
    for upload in uploads:
        source = (
            upload.source.relative_to(REPO_ROOT) if upload.source.is_relative_to(REPO_ROOT) else upload.source
        )
        lines.append(f"  gs://{bucket}/{upload.object_name}  <-  {source}")
    lines.append(
        "Would delete objects under "
        + ", ".join(f"gs://{bucket}/{p}" for p in MANAGED_PREFIXES)
        + f" that are not listed above (except {', '.join(sorted(COMPOSER_OWNED))})."
    )
    if packages is not None:
        target = name or "the environment"
        lines.append(f"Would set the PyPI packages of {target} to requirements.txt (if different):")
        lines.extend(f"  {package}{version}" for package, version in sorted(packages.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.deploy_composer", description=__doc__)
    parser.add_argument("--project", help="project of the environment")
    parser.add_argument("--location", help="region of the environment")
    parser.add_argument("--environment", help="Composer environment name")
    parser.add_argument("--bucket", help="Composer bucket (default: read from the environment)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be copied; change nothing")
    parser.add_argument("--skip-requirements", action="store_true", help="do not apply requirements.txt")
    parser.add_argument(
        "--keep-stale", action="store_true", help="do not delete objects no longer in the repo"
    )
    parser.add_argument("--no-wait", action="store_true", help="do not wait for the requirements update")
    parser.add_argument(
        "--skip-image-check",
        action="store_true",
        help="deploy even if Artifact Registry lacks the images this commit names (make images)",
    )
    args = parser.parse_args(argv)

    env_given = [args.project, args.location, args.environment]
    if any(env_given) and not all(env_given):
        parser.error("--project, --location and --environment go together")
    name = environment_name(args.project, args.location, args.environment) if all(env_given) else None
    if not name and not args.bucket:
        parser.error("give --bucket, or --project/--location/--environment")
    if not name and not args.skip_requirements and not args.dry_run:
        parser.error(
            "applying requirements.txt needs --project/--location/--environment (or --skip-requirements)"
        )

    try:
        uploads = plan_uploads()
        packages = None if args.skip_requirements else read_requirements()
        stale = stale_build_outputs()
        if stale:
            raise DeployError("generated files are stale: " + "; ".join(stale))
        if not args.dry_run and not args.skip_image_check:
            if not (args.project and args.location):
                raise DeployError(
                    "checking the images needs --project and --location (or --skip-image-check)"
                )
            missing = _checked_missing_images(args.project, args.location)
            if missing:
                raise DeployError(
                    "Artifact Registry lacks " + ", ".join(missing) + ": run "
                    f"`make images GCP_PROJECT={args.project} GCP_REGION={args.location}` first"
                )
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    composer_client = None
    if name and (not args.bucket or not args.dry_run):
        from google.cloud.orchestration.airflow.service_v1 import EnvironmentsClient

        composer_client = EnvironmentsClient()
    bucket = args.bucket or bucket_of(composer_client, str(name))

    if args.dry_run:
        print(describe_plan(bucket, uploads, packages, name))
        return 0

    if packages is not None and composer_client is not None and name:
        changed = apply_requirements(composer_client, name, packages, wait=not args.no_wait)
        print("requirements.txt applied" if changed else "requirements.txt already applied")

    from google.cloud.storage import Client as StorageClient

    result = sync_bucket(
        StorageClient(project=args.project), bucket, uploads, delete_stale=not args.keep_stale
    )
    print(
        f"gs://{bucket}: {len(result.uploaded)} uploaded, {len(result.unchanged)} unchanged, "
        f"{len(result.deleted)} deleted"
    )
    for name_ in result.uploaded:
        print(f"  uploaded {name_}")
    for name_ in result.deleted:
        print(f"  deleted  {name_}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
