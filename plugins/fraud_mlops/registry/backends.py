"""Pick the registry and endpoint implementation from a URI (a pipeline parameter).

The compiled pipeline is the same on both targets; only these URIs differ:

* local: a path (``/…/registry``, ``/…/endpoints/fraud-endpoint.json``), optionally ``file://``;
* Vertex: ``vertexai://projects/P/locations/R`` (``?artifacts=gs://…``: where registered
  versions' files are kept, :class:`~fraud_mlops.registry.vertex.VertexModelRegistry`) and
  ``vertexai://projects/P/locations/R/endpoints/ID`` (the numeric id of ``MLOPS_ENDPOINT_ID``: that
  endpoint, never created) or ``…/endpoints/DISPLAY_NAME`` (found, or created, by display name).
  A segment of digits only is an id, as Vertex's endpoint ids are; a display name is never read
  as one, since :func:`vertex_endpoint_uri` refuses a display name of digits only.
"""

from __future__ import annotations

import re
from pathlib import Path

from fraud_mlops.registry.base import ModelEndpoint, ModelRegistry

VERTEX_SCHEME = "vertexai://"
_VERTEX_REGISTRY = re.compile(
    r"^vertexai://projects/([^/]+)/locations/([^/?]+)/?(?:\?artifacts=(gs://[^?#]+))?$"
)
_VERTEX_ENDPOINT = re.compile(r"^vertexai://projects/([^/]+)/locations/([^/]+)/endpoints/([^/]+)$")


def vertex_registry_uri(project: str, region: str, artifact_store: str = "") -> str:
    uri = f"{VERTEX_SCHEME}projects/{project}/locations/{region}"
    return f"{uri}?artifacts={artifact_store}" if artifact_store else uri


def vertex_endpoint_uri(project: str, region: str, endpoint_name: str, endpoint_id: str = "") -> str:
    """The endpoint by ``endpoint_id`` when there is one, else by ``endpoint_name``."""
    if endpoint_id:
        if not endpoint_id.isdigit():
            raise ValueError(f"a Vertex endpoint id is a number, got {endpoint_id!r}")
        return f"{vertex_registry_uri(project, region)}/endpoints/{endpoint_id}"
    if endpoint_name.isdigit():
        raise ValueError(f"a display name of digits only would read as an endpoint id: {endpoint_name!r}")
    return f"{vertex_registry_uri(project, region)}/endpoints/{endpoint_name}"


def open_registry(uri: str, serving_image: str = "") -> ModelRegistry:
    if uri.startswith(VERTEX_SCHEME):
        match = _VERTEX_REGISTRY.match(uri)
        if not match:
            raise ValueError(f"expected vertexai://projects/P/locations/R[?artifacts=gs://…], got {uri!r}")
        from fraud_mlops.registry.vertex import VertexModelRegistry

        return VertexModelRegistry(
            match[1], match[2], serving_image=serving_image, artifact_store=match[3] or ""
        )
    from fraud_mlops.registry.local_registry import LocalModelRegistry

    return LocalModelRegistry(Path(uri.removeprefix("file://")))


def open_endpoint(uri: str, machine_type: str = "") -> ModelEndpoint:
    if uri.startswith(VERTEX_SCHEME):
        match = _VERTEX_ENDPOINT.match(uri)
        if not match:
            raise ValueError(f"expected vertexai://projects/P/locations/R/endpoints/ID or NAME, got {uri!r}")
        from fraud_mlops.registry.vertex import DEFAULT_MACHINE_TYPE, VertexEndpoint

        machine_type = machine_type or DEFAULT_MACHINE_TYPE
        if match[3].isdigit():
            return VertexEndpoint(match[1], match[2], "", machine_type=machine_type, endpoint_id=match[3])
        return VertexEndpoint(match[1], match[2], match[3], machine_type=machine_type)
    from fraud_mlops.registry.local_endpoint import LocalEndpoint

    return LocalEndpoint(Path(uri.removeprefix("file://")))
