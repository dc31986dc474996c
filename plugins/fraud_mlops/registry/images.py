"""The project's two container images on Artifact Registry, each tagged by what it is built from.

``training`` runs every pipeline step (include/pipelines: the steps' code is embedded in the
compiled pipeline, not in the image); ``model-server`` serves every registered version, on the
endpoint and in batch prediction (fraud_mlops/registry/model_server.py). Both are built by
``make images`` from ``images/<image>/``.

A tag names the pinned scikit-learn and NumPy (what a pickled model needs) and a digest of the
image's build inputs (:data:`IMAGE_DIGESTS`): its Dockerfile and what it copies in (the
generated requirement lock, the server's project modules). A change to any of them is a new
tag, so

* the compiled pipeline and a registration name an image that holds the code and packages of
  this commit: one ``make images`` had not rebuilt failed on Vertex only (no such tag), instead
  of running what an older build held;
* ``make images`` builds only a tag Artifact Registry lacks, so no rebuild overwrites the
  image a registered version's ``container_spec`` names: a rollback to an older champion pulls
  the server it was deployed with.

tests/test_image_digests.py recomputes the digests (``scripts/image_digests.py``); ``make
image-digests`` writes them here.
"""

from __future__ import annotations

from fraud_mlops.registry.serving_image import IMAGE_VERSIONS

IMAGE_REPOSITORY = "fraud-images"  # Artifact Registry repository (infra/modules/vertex)
MODEL_SERVER_IMAGE = "model-server"
TRAINING_IMAGE = "training"

#: The first 12 hex digits of each image's build-input digest (make image-digests writes them).
IMAGE_DIGESTS: dict[str, str] = {
    "model-server": "cf67edb0e5f7",
    "training": "9de2aa30c1d4",
}


def image_tag(image: str) -> str:
    """``sklearn<v>-numpy<v>-<digest>``: the versions a model's pickle needs, then the build."""
    return f"sklearn{IMAGE_VERSIONS['scikit-learn']}-numpy{IMAGE_VERSIONS['numpy']}-{IMAGE_DIGESTS[image]}"


def image_uri(project: str, region: str, image: str = MODEL_SERVER_IMAGE) -> str:
    return f"{region}-docker.pkg.dev/{project}/{IMAGE_REPOSITORY}/{image}:{image_tag(image)}"
