"""Links from a task's page in the Airflow UI to what the task changed or wrote, in the console.

The provider's operators carry their own links (the batch prediction job, the BigQuery jobs;
``RunTrainingPipelineOperator``, which builds ``RunPipelineJobOperator`` when it runs, carries
its Pipeline Job link itself). The tasks that act on the endpoint and the model
registry through the registry seam (``apply_canary_decision``, ``record_model_lineage``) are
Python tasks: on gcp they get the provider's ``VertexAIEndpointLink`` and ``VertexAIModelLink``
buttons (:meth:`VertexConsoleLinks.task`) and fill them (:meth:`VertexConsoleLinks.record`).
``check_drift`` writes its HTML reports into Composer's data folder; its **Monitoring reports**
button opens that run's folder in the Cloud Storage console (the provider's Storage link format).

Airflow 3 turns each link into its URL when the task ends (the worker pushes it as XCom under
the link's key; the API server only reads it back), so no plugin registration is needed. The
local target has no console: :class:`NoConsoleLinks` gives plain ``@task`` and records nothing.
:func:`fraud_mlops.targets.console_links` picks one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal, Protocol

from airflow.sdk import task

ConsoleLink = Literal["endpoint", "model", "reports"]

#: A Vertex model version's resource name (``ModelVersion.resource_name`` on gcp).
_MODEL_RESOURCE = re.compile(r"^projects/[^/]+/locations/([^/]+)/models/([^/@]+)(?:@[^/]+)?$")


class ConsoleLinks(Protocol):
    def task(self, links: Sequence[ConsoleLink], **task_kwargs: Any) -> Any:
        """``@task(**task_kwargs)``, with ``links`` as buttons on the task's page where there is a console."""
        ...

    def record(self, context: Mapping[str, Any], model_resource: str = "", reports_dir: str = "") -> None:
        """Fill the running task's links; a link with nothing known stays empty (greyed out).

        ``reports_dir``: the folder the task wrote its reports into, as the worker sees it.
        """
        ...


class NoConsoleLinks:
    """The local target: no console to link to."""

    def task(self, links: Sequence[ConsoleLink], **task_kwargs: Any) -> Any:
        return task(**task_kwargs)

    def record(self, context: Mapping[str, Any], model_resource: str = "", reports_dir: str = "") -> None:
        return None


@dataclass(frozen=True)
class VertexConsoleLinks:
    """gcp: the endpoint by its numeric id (``MLOPS_ENDPOINT_ID``, set by infra/; no lookup by
    display name for a link), a model by its version's resource name, a reports folder by where
    Composer mounts its bucket's ``data/`` folder (``data_dir``) and the bucket (``GCS_BUCKET``)."""

    project: str
    region: str
    endpoint_id: str
    data_bucket: str = ""
    data_dir: str = ""

    def task(self, links: Sequence[ConsoleLink], **task_kwargs: Any) -> Any:
        from airflow.sdk.bases.decorator import task_decorator_factory

        from fraud_mlops.registry.vertex_link_operators import linked_python_operator

        return task_decorator_factory(decorated_operator_class=linked_python_operator(links), **task_kwargs)

    def params(self, model_resource: str = "", reports_dir: str = "") -> dict[ConsoleLink, dict[str, str]]:
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
        folder = PurePosixPath(reports_dir)
        if self.data_bucket and self.data_dir and reports_dir and folder.is_relative_to(self.data_dir):
            # the mount shows the bucket's data/ folder: the same objects, under data/
            objects = PurePosixPath("data") / folder.relative_to(self.data_dir)
            params["reports"] = {"project_id": self.project, "uri": f"{self.data_bucket}/{objects}/"}
        return params

    def record(self, context: Mapping[str, Any], model_resource: str = "", reports_dir: str = "") -> None:
        from fraud_mlops.registry.vertex_link_operators import LINK_CLASSES

        carried = {link.key for link in context["task"].operator_extra_links}  # the task's buttons
        params = self.params(model_resource, reports_dir)
        if "endpoint" not in params and LINK_CLASSES["endpoint"].key in carried:
            print("MLOPS_ENDPOINT_ID is not set: the task page has no link to the endpoint")
        for name, values in params.items():
            if LINK_CLASSES[name].key in carried:
                LINK_CLASSES[name].persist(context=context, **values)  # type: ignore[arg-type]
