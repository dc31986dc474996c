"""The project's model images and the library versions they pin, checked against each model.

A pickled scikit-learn model loads reliably only under the scikit-learn (and NumPy) that
wrote it. Training records its versions in ``metadata.json`` (``training_versions``); the
model server image (``images/model_server/Dockerfile``) installs exactly
:data:`IMAGE_VERSIONS` (its ``requirements.txt`` is checked against this module and
``uv.lock`` by ``tests/registry/test_model_server.py``). The Vertex registry refuses to
register a model with this serving container when the versions differ, and the server itself
refuses to load such a model, so a mismatch fails at deploy time, not at the first request.

The training image (``images/training/Dockerfile``) is the same family: it installs the lock,
so a model trained there carries :data:`IMAGE_VERSIONS` by construction. The images' names
and tags: :mod:`fraud_mlops.registry.images` (not copied into the server image: it holds the
digest of the server's own files).
"""

from __future__ import annotations

from collections.abc import Mapping

#: Packages whose versions decide whether a pickled model loads and predicts the same.
PICKLE_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib")

#: What the model server image installs (equal to uv.lock; a test keeps them equal).
IMAGE_VERSIONS: dict[str, str] = {
    "scikit-learn": "1.9.1",
    "numpy": "2.4.6",
    "scipy": "1.17.1",
    "joblib": "1.6.0",
}


class IncompatibleModel(RuntimeError):
    """The model was trained with other library versions than the serving image holds."""


def installed_versions() -> dict[str, str]:
    """The running interpreter's versions of :data:`PICKLE_PACKAGES` (what training records)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in PICKLE_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def check_versions(trained: Mapping[str, str], serving: Mapping[str, str], what: str) -> None:
    """Raise :class:`IncompatibleModel` unless every recorded training version equals ``serving``'s.

    A model without ``training_versions`` (trained before they were recorded) is refused too:
    nothing proves it would load.
    """
    if not trained:
        raise IncompatibleModel(f"the model records no training_versions: {what} cannot vouch for it")
    differ = {
        name: (trained.get(name), serving.get(name))
        for name in PICKLE_PACKAGES
        if trained.get(name) != serving.get(name)
    }
    if differ:
        shown = ", ".join(f"{n} trained {t} vs {what} {s}" for n, (t, s) in sorted(differ.items()))
        raise IncompatibleModel(f"library versions differ: {shown}")
