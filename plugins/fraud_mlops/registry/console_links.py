"""Links from a task's page in the Airflow UI to what the task changed in the Vertex AI console.

The provider's operators carry their own links (the batch prediction job, the BigQuery jobs;
``RunTrainingPipelineOperator``, which builds ``RunPipelineJobOperator`` when it runs, carries
its Pipeline Job link itself). The tasks that act on the endpoint and the model
registry through the registry seam (``apply_canary_decision``, ``record_model_lineage``) are
Python tasks: on gcp they get the provider's ``VertexAIEndpointLink`` and ``VertexAIModelLink``
buttons (:meth:`VertexConsoleLinks.task`) and fill them (:meth:`VertexConsoleLinks.record`).

Airflow 3 turns each link into its URL when the task ends (the worker pushes it as XCom under
the link's key; the API server only reads it back), so no plugin registration is needed. The
local target has no console: :class:`NoConsoleLinks` gives plain ``@task`` and records nothing.
:func:`fraud_mlops.targets.console_links` picks one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from airflow.sdk import task

ConsoleLink = Literal["endpoint", "model"]

#: A Vertex model version's resource name (``ModelVersion.resource_name`` on gcp).
_MODEL_RESOURCE = re.compile(r"^projects/[^/]+/locations/([^/]+)/models/([^/@]+)(?:@[^/]+)?$")


class ConsoleLinks(Protocol):
    def task(self, links: Sequence[ConsoleLink], **task_kwargs: Any) -> Any:
        """``@task(**task_kwargs)``, with ``links`` as buttons on the task's page where there is a console."""
        ...

    def record(self, context: Mapping[str, Any], model_resource: str = "") -> None:
        """Fill the running task's links; a link with nothing known stays empty (greyed out)."""
        ...


class NoConsoleLinks:
    """The local target: no console to link to."""

    def task(self, links: Sequence[ConsoleLink], **task_kwargs: Any) -> Any:
        return task(**task_kwargs)

    def record(self, context: Mapping[str, Any], model_resource: str = "") -> None:
        return None


@dataclass(frozen=True)
class VertexConsoleLinks:
    """gcp: the endpoint by its numeric id (``MLOPS_ENDPOINT_ID``, set by infra/; no lookup by
    display name for a link), a model by its version's resource name."""

    project: str
    region: str
    endpoint_id: str

    def task(self, links: Sequence[ConsoleLink], **task_kwargs: Any) -> Any:
        from airflow.sdk.bases.decorator import task_decorator_factory

        from fraud_mlops.registry.vertex_link_operators import linked_python_operator

        return task_decorator_factory(decorated_operator_class=linked_python_operator(links), **task_kwargs)

    def params(self, model_resource: str = "") -> dict[ConsoleLink, dict[str, str]]:
        """What each link's URL is made of, for what is known."""
        params: dict[ConsoleLink, dict[str, str]] = {}
        if self.endpoint_id:
            params["endpoint"] = {
                "project_id": self.project,
                "region": self.region,
                "endpoint_id": self.endpoint_id,
            }
        match = _MODEL_RESOURCE.match(model_resource)
        if match:
            # the project as the endpoint's: Vertex names resources with the project's number
            params["model"] = {"project_id": self.project, "region": match[1], "model_id": match[2]}
        return params

    def record(self, context: Mapping[str, Any], model_resource: str = "") -> None:
        from fraud_mlops.registry.vertex_link_operators import LINK_CLASSES

        params = self.params(model_resource)
        if "endpoint" not in params:
            print("MLOPS_ENDPOINT_ID is not set: the task page has no link to the endpoint")
        for name, values in params.items():
            LINK_CLASSES[name].persist(context=context, **values)  # type: ignore[arg-type]
