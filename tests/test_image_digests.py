"""The images are tagged by their build inputs (fraud_mlops/registry/images.py): the digests in
code equal the files, a change to any input changes its tag, and the model server image holds
exactly the project modules the server imports.

Before, a tag held only the scikit-learn and NumPy versions: a new package, a changed feature
list or server code kept the tag, so Vertex ran whatever an older ``make images`` had pushed
(and a rebuild overwrote the image a registered champion's container named).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from fraud_mlops.registry.images import IMAGE_DIGESTS, image_tag, image_uri
from fraud_mlops.registry.serving_image import IMAGE_VERSIONS
from fraud_mlops.settings import REPO_ROOT
from scripts.image_digests import build_inputs, copied_sources, digest, digests
from tests.project_imports import import_closure


def test_the_digests_in_code_are_the_build_inputs() -> None:
    assert digests() == IMAGE_DIGESTS, "an image's inputs changed: run `make image-digests`"


def test_a_tag_names_the_pickle_versions_and_the_build() -> None:
    tag = image_tag("model-server")
    assert (
        tag
        == f"sklearn{IMAGE_VERSIONS['scikit-learn']}-numpy{IMAGE_VERSIONS['numpy']}-{IMAGE_DIGESTS['model-server']}"
    )
    assert re.fullmatch(r"sklearn[\d.]+-numpy[\d.]+-[0-9a-f]{12}", tag)
    assert image_uri("p", "europe-west4", "training") == (
        f"europe-west4-docker.pkg.dev/p/fraud-images/training:{image_tag('training')}"
    )
    assert image_tag("training") != image_tag("model-server")


def _copy_of_inputs(tmp_path: Path) -> Path:
    """The repository's image inputs, as they are, under a new root."""
    for image in IMAGE_DIGESTS:
        for path in build_inputs(image):
            target = tmp_path / path.relative_to(REPO_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return tmp_path


@pytest.mark.parametrize(
    ("image", "edited"),
    [
        ("training", "images/training/requirements.lock.txt"),
        ("training", "images/training/Dockerfile"),
        ("model-server", "images/model_server/requirements.lock.txt"),
        ("model-server", "plugins/fraud_mlops/features.py"),  # copied into the server image
        ("model-server", "plugins/fraud_mlops/registry/model_server.py"),
    ],
)
def test_a_change_to_any_input_is_a_new_tag(tmp_path: Path, image: str, edited: str) -> None:
    root = _copy_of_inputs(tmp_path)
    before = {name: digest(name, root) for name in IMAGE_DIGESTS}
    assert before == IMAGE_DIGESTS  # the copy digests as the repository does
    with (root / edited).open("a") as file:
        file.write("\n")
    after = {name: digest(name, root) for name in IMAGE_DIGESTS}
    assert after[image] != before[image]
    others = set(IMAGE_DIGESTS) - {image}
    assert {name: after[name] for name in others} == {name: before[name] for name in others}


def test_what_the_build_does_not_read_leaves_the_tag(tmp_path: Path) -> None:
    """An editor's backup or a Finder file beside the Dockerfile is no build input (a digest
    of it would differ between a developer's machine and CI), nor is requirements.txt, which
    reaches the image through the lock generated from it; a Windows checkout's CRLF endings
    give the same tag."""
    root = _copy_of_inputs(tmp_path)
    (root / "images/training/Dockerfile~").write_text("backup\n")
    (root / "images/training/.DS_Store").write_bytes(b"\0\1")
    (root / "images/training/requirements.txt").write_text("anything==1\n")
    dockerfile = root / "images/training/Dockerfile"
    dockerfile.write_bytes(dockerfile.read_bytes().replace(b"\n", b"\r\n"))
    assert digest("training", root) == IMAGE_DIGESTS["training"]


def test_the_server_image_holds_exactly_the_modules_the_server_imports() -> None:
    """A module the server imports and the image lacks fails the container only on Vertex (the
    local endpoint runs on the venv); one the image holds but the server never imports still
    changes its tag (registry/images.py, which holds the digests, must never be copied in)."""
    copied = {
        source.removeprefix("plugins/")
        for source in copied_sources(REPO_ROOT / "images/model_server/Dockerfile")
        if source.startswith("plugins/")
    }
    assert copied == import_closure("fraud_mlops/registry/model_server.py")
    assert "fraud_mlops/registry/images.py" not in copied
