"""The Composer deploy: which files go where, the Composer layout it produces, and the API calls."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from google.cloud.orchestration.airflow.service_v1 import types
from google.protobuf import field_mask_pb2

from fraud_mlops.settings import REPO_ROOT
from scripts import deploy_composer
from scripts.deploy_composer import DeployError, Upload

PLAN_LINE = re.compile(r"^  gs://(?P<bucket>[^/]+)/(?P<object>\S+)  <-  (?P<source>\S+)$")
ENV_NAME = "projects/p/locations/europe-west4/environments/fraud-composer"


def dry_run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    """Run the CLI's dry run; return {object name: source path} from what it printed."""
    assert deploy_composer.main(["--dry-run", *args]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dry run: nothing is copied")
    plan = {}
    for line in out.splitlines():
        match = PLAN_LINE.match(line)
        if match:
            assert match["bucket"] == "composer-bucket"
            plan[match["object"]] = match["source"]
    return plan


def test_dry_run_lists_every_shipped_file_at_its_composer_path(capsys: pytest.CaptureFixture[str]) -> None:
    plan = dry_run(capsys, "--bucket", "composer-bucket", "--skip-requirements")

    dag_files = sorted(p.name for p in (REPO_ROOT / "dags").glob("*.py"))
    assert dag_files, "the repository has no DAG files"
    for name in dag_files:
        assert plan[f"dags/{name}"] == f"dags/{name}"
    assert plan["dags/.airflowignore"] == "dags/.airflowignore"
    for sql in (REPO_ROOT / "include" / "sql").rglob("*.sql"):
        relative = sql.relative_to(REPO_ROOT / "include").as_posix()
        assert plan[f"dags/include/{relative}"] == f"include/{relative}"
    for compiled in deploy_composer.compiled_pipelines():
        assert plan[f"dags/include/pipelines/{compiled.name}"] == f"include/pipelines/{compiled.name}"
    for module in (REPO_ROOT / "plugins" / "fraud_mlops").rglob("*.py"):
        if "__pycache__" not in module.parts:
            relative = module.relative_to(REPO_ROOT / "plugins").as_posix()
            assert plan[f"plugins/{relative}"] == f"plugins/{relative}"

    for object_name, source in plan.items():
        assert object_name.startswith(("dags/", "plugins/")), object_name
        assert "__pycache__" not in object_name and not object_name.endswith(".pyc")
        expected = "dags/" + source if source.startswith("include/") else source
        assert object_name == expected, (object_name, source)
        assert source.split("/")[0] in {"dags", "plugins", "include"}


def test_dry_run_lists_the_requirements_it_would_apply(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--bucket", "composer-bucket", "--project", "p", "--location", "europe-west4"]
    assert deploy_composer.main(["--dry-run", *args, "--environment", "fraud-composer"]) == 0
    out = capsys.readouterr().out
    assert f"Would set the PyPI packages of {ENV_NAME} to requirements.txt" in out
    for name, version in deploy_composer.read_requirements().items():
        assert f"  {name}{version}" in out.splitlines()


def test_plan_of_a_small_repository_is_exact_and_ordered(mini_repo: Path) -> None:
    plan = [
        (u.object_name, u.source.relative_to(mini_repo).as_posix())
        for u in deploy_composer.plan_uploads(mini_repo)
    ]
    assert plan == [
        ("plugins/.airflowignore", "plugins/.airflowignore"),
        ("plugins/fraud_mlops/__init__.py", "plugins/fraud_mlops/__init__.py"),
        ("plugins/fraud_mlops/paths.py", "plugins/fraud_mlops/paths.py"),
        ("dags/include/pipelines/fraud_training.py", "include/pipelines/fraud_training.py"),
        ("dags/include/pipelines/fraud_training.yaml", "include/pipelines/fraud_training.yaml"),
        ("dags/include/sql/00_setup.sql", "include/sql/00_setup.sql"),
        ("dags/.airflowignore", "dags/.airflowignore"),
        ("dags/fraud_ingest_daily.py", "dags/fraud_ingest_daily.py"),
    ]


def test_deploy_refuses_without_a_compiled_pipeline(mini_repo: Path) -> None:
    (mini_repo / "include" / "pipelines" / "fraud_training.yaml").unlink()
    with pytest.raises(DeployError, match="make compile"):
        deploy_composer.plan_uploads(mini_repo)


def test_cli_needs_a_target() -> None:
    with pytest.raises(SystemExit):
        deploy_composer.main(["--dry-run"])
    with pytest.raises(SystemExit):  # applying requirements needs the environment
        deploy_composer.main(["--bucket", "b"])


def _materialise(uploads: list[Upload], bucket_root: Path) -> None:
    for upload in uploads:
        target = bucket_root / upload.object_name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(upload.source, target)


def test_composer_layout_finds_include_and_hides_it_from_the_dag_processor(tmp_path: Path) -> None:
    """Lay the real plan out like /home/airflow/gcs and look at it as Composer's Airflow would."""
    gcs = tmp_path / "gcs"
    _materialise(deploy_composer.plan_uploads(), gcs)
    assert not (gcs / "include").exists()

    probe = (
        "import json\n"
        "from fraud_mlops import paths\n"
        "from airflow.utils.file import list_py_file_paths\n"
        f"dags = list_py_file_paths({str(gcs / 'dags')!r}, safe_mode=False)\n"
        "print(json.dumps({'sql': str(paths.sql_dir()), 'pipelines': str(paths.pipelines_dir()),\n"
        "                  'module': paths.__file__, 'dags': sorted(dags)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "MLOPS_INCLUDE_DIR"}}
    env["PYTHONPATH"] = str(gcs / "plugins")
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["module"] == str(gcs / "plugins" / "fraud_mlops" / "paths.py")
    assert seen["sql"] == str(gcs / "dags" / "include" / "sql")
    assert seen["pipelines"] == str(gcs / "dags" / "include" / "pipelines")
    dag_files = {Path(p).relative_to(gcs / "dags").as_posix() for p in seen["dags"]}
    assert dag_files == {p.name for p in (REPO_ROOT / "dags").glob("*.py")}
    assert not [p for p in dag_files if p.startswith("include/")]


def _object_bytes(client: Any, bucket: str) -> dict[str, bytes]:
    return {blob.name: blob.download_as_bytes() for blob in client.list_blobs(bucket)}


def test_sync_uploads_changes_and_removes_stale_objects(gcs_client: Any, mini_repo: Path) -> None:
    bucket = gcs_client.create_bucket("composer-bucket")
    bucket.blob("dags/airflow_monitoring.py").upload_from_string(b"# composer's own\n")
    bucket.blob("dags/renamed_dag.py").upload_from_string(b"# gone from the repo\n")
    bucket.blob("data/keep.csv").upload_from_string(b"a,b\n")
    uploads = deploy_composer.plan_uploads(mini_repo)

    first = deploy_composer.sync_bucket(gcs_client, "composer-bucket", uploads)
    assert first.uploaded == [u.object_name for u in uploads]
    assert first.deleted == ["dags/renamed_dag.py"]
    objects = _object_bytes(gcs_client, "composer-bucket")
    assert set(objects) == {u.object_name for u in uploads} | {"dags/airflow_monitoring.py", "data/keep.csv"}
    for upload in uploads:
        assert objects[upload.object_name] == upload.source.read_bytes()

    (mini_repo / "dags" / "fraud_ingest_daily.py").write_text("# dag, edited\n")
    second = deploy_composer.sync_bucket(gcs_client, "composer-bucket", uploads)
    assert second.uploaded == ["dags/fraud_ingest_daily.py"]
    assert len(second.unchanged) == len(uploads) - 1
    assert second.deleted == []
    blob = gcs_client.bucket("composer-bucket").blob("dags/fraud_ingest_daily.py")
    assert blob.download_as_bytes() == b"# dag, edited\n"


def test_sync_keeps_stale_objects_when_asked(gcs_client: Any, mini_repo: Path) -> None:
    gcs_client.create_bucket("composer-bucket").blob("plugins/old.py").upload_from_string(b"x")
    result = deploy_composer.sync_bucket(
        gcs_client, "composer-bucket", deploy_composer.plan_uploads(mini_repo), delete_stale=False
    )
    assert result.deleted == []
    assert "plugins/old.py" in _object_bytes(gcs_client, "composer-bucket")


def _environment(packages: dict[str, str]) -> types.Environment:
    return types.Environment(
        name=ENV_NAME,
        config=types.EnvironmentConfig(
            dag_gcs_prefix="gs://composer-bucket/dags",
            software_config=types.SoftwareConfig(pypi_packages=packages),
        ),
    )


def test_requirements_are_applied_with_one_exact_update() -> None:
    client = mock.Mock(spec=["get_environment", "update_environment"])
    client.get_environment.return_value = _environment({"faker": "==1.0.0"})
    wanted = deploy_composer.read_requirements()

    assert deploy_composer.apply_requirements(client, ENV_NAME, wanted) is True

    client.get_environment.assert_called_once_with(request=types.GetEnvironmentRequest(name=ENV_NAME))
    client.update_environment.assert_called_once_with(
        request=types.UpdateEnvironmentRequest(
            name=ENV_NAME,
            environment=types.Environment(
                config=types.EnvironmentConfig(software_config=types.SoftwareConfig(pypi_packages=wanted))
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["config.softwareConfig.pypiPackages"]),
        )
    )
    client.update_environment.return_value.result.assert_called_once_with(timeout=3600)


def test_unchanged_requirements_cause_no_update() -> None:
    client = mock.Mock(spec=["get_environment", "update_environment"])
    wanted = deploy_composer.read_requirements()
    client.get_environment.return_value = _environment(wanted)
    assert deploy_composer.apply_requirements(client, ENV_NAME, wanted) is False
    client.update_environment.assert_not_called()


def test_bucket_is_read_from_the_environment() -> None:
    client = mock.Mock(spec=["get_environment"])
    client.get_environment.return_value = _environment({})
    assert deploy_composer.bucket_of(client, ENV_NAME) == "composer-bucket"
    client.get_environment.assert_called_once_with(request=types.GetEnvironmentRequest(name=ENV_NAME))


def test_requirements_are_read_in_composer_form(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\n\nFaker==40.54.0\napache-airflow-providers-common-messaging==2.1.2\n")
    assert deploy_composer.read_requirements(path) == {
        "faker": "==40.54.0",
        "apache-airflow-providers-common-messaging": "==2.1.2",
    }
    path.write_text("faker>=40\n")
    with pytest.raises(DeployError, match="not pinned"):
        deploy_composer.read_requirements(path)


def _imported_modules(source: str) -> set[str]:
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_composer_bundle_ships_no_harness_and_every_import_it_needs() -> None:
    """What `make deploy-composer` copies: DAGs, the package and include/, never the local harness."""
    uploads = deploy_composer.plan_uploads()
    bundle = {u.object_name: u.source for u in uploads}
    harness = sorted((REPO_ROOT / "devtools").rglob("*.py"))
    assert harness, "the harness package moved: update this test"
    shipped_sources = {source.resolve() for source in bundle.values()}
    assert not shipped_sources & {path.resolve() for path in harness}
    roots = [REPO_ROOT / "dags", REPO_ROOT / "plugins", REPO_ROOT / "include"]
    assert all(any(source.resolve().is_relative_to(root) for root in roots) for source in bundle.values())
    assert not [name for name in bundle if name.split("/")[1] in {"devtools", "tests", "scripts", "bench"}]

    shipped_modules = {
        name.removeprefix("plugins/").removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        for name in bundle
        if name.startswith("plugins/fraud_mlops/") and name.endswith(".py")
    }
    for name, source in bundle.items():
        if not name.endswith(".py"):
            continue
        imported = _imported_modules(source.read_text())
        leaked = {m for m in imported if m.split(".")[0] in {"devtools", "tests", "scripts"}}
        assert not leaked, f"{name} imports {leaked}, which Composer does not get"
        missing = {
            m
            for m in imported
            if m.split(".")[0] == "fraud_mlops"
            and m not in shipped_modules
            and not any(s.startswith(m + ".") for s in shipped_modules)  # a package
        }
        assert not missing, f"{name} imports {missing}, which is not in the bundle"


# --- what the deploy refuses: stale generated files, images not pushed ----------------------------


def test_the_repository_as_committed_has_no_stale_generated_file() -> None:
    assert deploy_composer.stale_build_outputs() == []


def test_stale_generated_files_are_named_with_the_command_that_writes_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from include.pipelines import compile as pipeline_compile
    from scripts import image_digests, image_requirements

    monkeypatch.setattr(image_requirements, "stale", lambda: {"training": "-a==1\n+a==2\n"})
    monkeypatch.setattr(image_digests, "digests", lambda: {"model-server": "0" * 12, "training": "1" * 12})
    monkeypatch.setattr(pipeline_compile, "compiled_text", lambda: "another pipeline")
    assert deploy_composer.stale_build_outputs() == [
        "images/training/requirements.lock.txt (run `make image-requirements`)",
        "fraud_mlops/registry/images.py IMAGE_DIGESTS (run `make image-digests`)",
        "include/pipelines/fraud_training.yaml (run `make compile`)",
    ]
    # the dry run refuses too: it is what a pull request's deploy job runs
    assert deploy_composer.main(["--dry-run", "--bucket", "composer-bucket", "--skip-requirements"]) == 2
    assert "generated files are stale: images/training/requirements.lock.txt" in capsys.readouterr().err


def _registry(answers: dict[str, int], headers: list[dict[str, str]] | None = None) -> Any:
    """Artifact Registry's Docker endpoint on 127.0.0.1: HEAD of a manifest path -> status."""
    from tests.http_server import serving

    return serving(lambda request: (answers[request], b""), headers)


def _manifest_paths(project: str) -> dict[str, str]:
    from fraud_mlops.registry.images import image_tag

    return {
        image: f"HEAD /v2/{project}/fraud-images/{image}/manifests/{image_tag(image)}"
        for image in ("model-server", "training")
    }


def _session(token: str) -> Any:
    """The session the deploy makes, on credentials holding a token (google-auth's transport)."""
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2.credentials import Credentials

    return AuthorizedSession(Credentials(token))


def test_missing_images_heads_each_tag_once_with_the_bearer_token_and_names_the_absent() -> None:
    from fraud_mlops.registry.images import image_uri

    paths, headers = _manifest_paths("fraud-prj"), []
    with _registry({paths["model-server"]: 200, paths["training"]: 404}, headers) as (url, seen):
        missing = deploy_composer.missing_images(_session("tok-1"), "fraud-prj", "europe-west4", host=url)
    assert missing == [image_uri("fraud-prj", "europe-west4", "training")]
    assert seen == [paths["model-server"], paths["training"]]
    for sent in headers:
        assert sent["authorization"] == "Bearer tok-1"
        assert sent["accept"] == deploy_composer.MANIFEST_TYPES
        assert "application/vnd.oci.image.index.v1+json" in sent["accept"]  # buildx pushes indexes


def test_a_registry_refusal_is_not_taken_for_a_missing_image() -> None:
    paths = _manifest_paths("fraud-prj")
    refused = pytest.raises(DeployError, match=r"answered 403 .* roles/artifactregistry.reader")
    with _registry({paths["model-server"]: 403, paths["training"]: 200}) as (url, _), refused:
        deploy_composer.missing_images(_session("tok"), "fraud-prj", "europe-west4", host=url)


def test_the_deploy_stops_before_any_change_when_an_image_is_not_pushed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _manifest_paths("p")
    with _registry({paths["model-server"]: 404, paths["training"]: 404}) as (url, seen):
        monkeypatch.setattr(deploy_composer, "REGISTRY_URL", url)
        monkeypatch.setattr(deploy_composer, "_registry_session", lambda: _session("tok"))
        # no Composer or Storage client may be made: importing either would fail the test
        monkeypatch.setitem(sys.modules, "google.cloud.orchestration.airflow.service_v1", None)
        monkeypatch.setitem(sys.modules, "google.cloud.storage", None)
        code = deploy_composer.main(
            ["--project", "p", "--location", "europe-west4", "--environment", "fraud-composer"]
        )
    assert code == 2
    assert seen == list(paths.values())
    err = capsys.readouterr().err
    assert "Artifact Registry lacks europe-west4-docker.pkg.dev/p/fraud-images/model-server:" in err
    assert "run `make images GCP_PROJECT=p GCP_REGION=europe-west4` first" in err


def test_no_credentials_or_no_registry_answer_is_a_deploy_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import google.auth
    import google.auth.exceptions

    def no_credentials(**_: Any) -> Any:
        raise google.auth.exceptions.DefaultCredentialsError("Your default credentials were not found")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    args = ["--project", "p", "--location", "europe-west4", "--environment", "fraud-composer"]
    assert deploy_composer.main(args) == 2
    assert (
        "could not ask Artifact Registry for the images: Your default credentials" in capsys.readouterr().err
    )

    from tests.http_server import serving

    with serving(lambda request: (200, b"")) as (url, _):
        pass  # the server is gone: nothing answers at its address any more
    monkeypatch.setattr(deploy_composer, "REGISTRY_URL", url)
    monkeypatch.setattr(deploy_composer, "_registry_session", lambda: _session("tok"))
    assert deploy_composer.main(args) == 2
    assert "could not ask Artifact Registry for the images" in capsys.readouterr().err
