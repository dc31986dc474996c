"""The harness's tests reuse the serving suite's world (a trained model, an online store, keys)."""

from tests.serving.conftest import world  # noqa: F401  (a fixture, registered by importing it)
