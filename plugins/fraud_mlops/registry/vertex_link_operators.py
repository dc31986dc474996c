"""The Python-task operators that carry console links (gcp only; see console_links.py).

Imported only on gcp (through :func:`fraud_mlops.targets.console_links`): the local target has
no console, and its tasks stay plain ``@task``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from airflow.providers.google.cloud.links.base import BaseGoogleLink
from airflow.providers.google.cloud.links.vertex_ai import VertexAIEndpointLink, VertexAIModelLink
from airflow.providers.google.common.links.storage import StorageLink
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk.bases.decorator import DecoratedOperator


class MonitoringReportsLink(StorageLink):
    """A folder of a run's reports in the Cloud Storage console (the provider's Storage link)."""

    name = "Monitoring reports"
    key = "monitoring_reports"


LINK_CLASSES: dict[str, type[BaseGoogleLink]] = {
    "endpoint": VertexAIEndpointLink,
    "model": VertexAIModelLink,
    "reports": MonitoringReportsLink,
}


class VertexLinkedPythonOperator(DecoratedOperator, PythonOperator):
    """What ``@task`` builds (Airflow's own decorated Python operator, which is private), with
    console links; subclasses name the links (:func:`linked_python_operator`)."""

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "templates_dict": "json",
        "op_args": "py",
        "op_kwargs": "py",
    }
    custom_operator_name: str = "@task"

    def __init__(
        self, *, python_callable: Callable[..., Any], op_args: Any, op_kwargs: Any, **kwargs: Any
    ) -> None:
        super().__init__(
            kwargs_to_upstream={
                "python_callable": python_callable,
                "op_args": op_args,
                "op_kwargs": op_kwargs,
            },
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


class EndpointLinkedPythonOperator(VertexLinkedPythonOperator):
    operator_extra_links = (VertexAIEndpointLink(),)


class EndpointAndModelLinkedPythonOperator(VertexLinkedPythonOperator):
    operator_extra_links = (VertexAIEndpointLink(), VertexAIModelLink())


class ReportsLinkedPythonOperator(VertexLinkedPythonOperator):
    operator_extra_links = (MonitoringReportsLink(),)


_OPERATORS: dict[frozenset[str], type[VertexLinkedPythonOperator]] = {
    frozenset({"reports"}): ReportsLinkedPythonOperator,
    frozenset({"endpoint"}): EndpointLinkedPythonOperator,
    frozenset({"endpoint", "model"}): EndpointAndModelLinkedPythonOperator,
}


def linked_python_operator(links: Sequence[str]) -> type[VertexLinkedPythonOperator]:
    """The operator class with the console ``links`` (keys of :data:`LINK_CLASSES`)."""
    return _OPERATORS[frozenset(links)]
