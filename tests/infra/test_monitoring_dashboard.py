"""The Cloud Monitoring dashboard of infra/modules/monitoring, rendered as OpenTofu renders it.

``templatefile`` runs in the OpenTofu (or Terraform) on PATH, with the module's values resolved from
sample variables; the result is parsed into the Dashboards API's own ``Dashboard`` message, so an
unknown or misspelled field, or an enum value the API does not have, fails here rather than at
``tofu apply``. Every chart must read a metric of the documented list below, on its documented
resource type, grouped only by its documented labels, with an aligner valid for its kind.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.cloud.monitoring_dashboard_v1.types import Dashboard
from google.protobuf import json_format

from fraud_mlops.alerting.sinks import ALERT_LOG_ID

from . import iac

MODULE = iac.INFRA / "modules" / "monitoring"
TEMPLATE = MODULE / "dashboard.json.tftpl"

#: Sample values of the module's variables (the root module passes the real ones).
SAMPLE_VARS = {
    "project_id": "fraud-demo",
    "prefix": "fraud",
    "function_service_name": "fraud-predict",
    "endpoint_id": "1234567890",
}

RUN_METRICS = "https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run"
AIPLATFORM_METRICS = "https://cloud.google.com/monitoring/api/metrics_gcp_a_b#gcp-aiplatform"
LOG_METRICS = "https://cloud.google.com/logging/docs/reference/v2/rest/v2/projects.metrics"
USER_METRIC_PREFIX = "logging.googleapis.com/user/"


@dataclass(frozen=True)
class Documented:
    """A metric as Google's metric list gives it: where its points are, what kind they are."""

    resource_type: str | None  # None: the log-based metric (its entries' resource, "global")
    kind: str
    value_type: str
    labels: frozenset[str]  # metric labels a chart may group by
    doc: str


#: The metrics a chart may read, each with the page that documents it.
DOCUMENTED: dict[str, Documented] = {
    "run.googleapis.com/request_count": Documented(
        "cloud_run_revision", "DELTA", "INT64", frozenset({"response_code_class"}), RUN_METRICS
    ),
    "run.googleapis.com/request_latencies": Documented(
        "cloud_run_revision", "DELTA", "DISTRIBUTION", frozenset(), RUN_METRICS
    ),
    "run.googleapis.com/container/instance_count": Documented(
        "cloud_run_revision", "GAUGE", "INT64", frozenset({"state"}), RUN_METRICS
    ),
    "aiplatform.googleapis.com/prediction/online/prediction_count": Documented(
        "aiplatform.googleapis.com/Endpoint",
        "DELTA",
        "INT64",
        frozenset({"deployed_model_id"}),
        AIPLATFORM_METRICS,
    ),
    "aiplatform.googleapis.com/prediction/online/error_count": Documented(
        "aiplatform.googleapis.com/Endpoint",
        "DELTA",
        "INT64",
        frozenset({"deployed_model_id"}),
        AIPLATFORM_METRICS,
    ),
    "aiplatform.googleapis.com/prediction/online/prediction_latencies": Documented(
        "aiplatform.googleapis.com/Endpoint", "DELTA", "DISTRIBUTION", frozenset(), AIPLATFORM_METRICS
    ),
    # google_logging_metric.alerts: DELTA INT64 (the metric_descriptor in main.tf), label kind
    USER_METRIC_PREFIX: Documented(None, "DELTA", "INT64", frozenset({"kind"}), LOG_METRICS),
}

#: The resource label each resource type's charts must be filtered on, and the variable it names.
RESOURCE_FILTER = {
    "cloud_run_revision": ("service_name", "function_service_name"),
    "aiplatform.googleapis.com/Endpoint": ("endpoint_id", "endpoint_id"),
}

#: Aligners valid for a metric kind and value type (the Aligner reference, also the docstrings of
#: google.cloud.monitoring_dashboard_v1.types.Aggregation.Aligner).
ALIGNERS = {
    ("DELTA", "INT64"): {"ALIGN_RATE", "ALIGN_SUM", "ALIGN_DELTA"},
    ("DELTA", "DISTRIBUTION"): {"ALIGN_PERCENTILE_99", "ALIGN_PERCENTILE_95", "ALIGN_PERCENTILE_50"},
    ("GAUGE", "INT64"): {"ALIGN_MEAN", "ALIGN_MAX", "ALIGN_MIN", "ALIGN_SUM"},
}
#: Every aligner above yields numbers (a percentile aligner a GAUGE DOUBLE): these reduce them.
NUMERIC_REDUCERS = {"REDUCE_SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_MEAN"}

MOSAIC_COLUMNS = 48  # the most a mosaic grid takes, the console's own


# --- rendering -----------------------------------------------------------------------------


def _hcl_string(value: str) -> str:
    """A quoted HCL string literal of ``value`` (JSON's escapes, template sequences escaped)."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def evaluate(expression: str, cwd: Path) -> str:
    """Evaluate an HCL expression of string type in ``tofu console`` (no configuration, no providers)."""
    result = subprocess.run(
        [iac.tofu("the template cannot be rendered"), "console"],
        input=f"base64encode({expression})\n",
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return base64.b64decode(json.loads(result.stdout.strip())).decode()


def _resource_body(rtype: str, name: str) -> dict[str, Any]:
    (found,) = [
        r.body
        for r in iac.resources()
        if r.module == "modules/monitoring" and (r.type, r.name) == (rtype, name)
    ]
    return found


_REFERENCE = re.compile(r"\$\{(?:var\.(\w+)|(google_\w+)\.(\w+)\.(\w+))\}")


def resolve(expression: str) -> str:
    """A value of the module as OpenTofu has it with SAMPLE_VARS: ``${var.x}`` and
    ``${google_x.name.attribute}`` of the module's own resources, interpolated."""

    def value(match: re.Match[str]) -> str:
        if match.group(1):
            return SAMPLE_VARS[match.group(1)]
        return resolve(str(_resource_body(match.group(2), match.group(3))[match.group(4)]))

    resolved = _REFERENCE.sub(value, expression)
    assert "${" not in resolved, f"cannot resolve {expression!r}"
    return resolved


def template_vars() -> dict[str, str]:
    return {key: resolve(str(expr)) for key, expr in iac.locals_of(MODULE)["dashboard_vars"].items()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> str:
    arguments = ", ".join(f"{key} = {_hcl_string(value)}" for key, value in template_vars().items())
    cwd = tmp_path_factory.mktemp("tofu-console")
    return evaluate(f"templatefile({_hcl_string(str(TEMPLATE))}, {{ {arguments} }})", cwd)


@pytest.fixture(scope="module")
def dashboard(rendered: str) -> dict[str, Any]:
    return dict(json.loads(rendered))


def time_series_filters(value: Any) -> Iterator[dict[str, Any]]:
    """Every ``timeSeriesQuery`` of the dashboard, which must be a plain ``timeSeriesFilter``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "timeSeriesQuery":
                assert set(item) == {"timeSeriesFilter"}, f"only timeSeriesFilter queries are checked: {item}"
                yield item["timeSeriesFilter"]
            else:
                yield from time_series_filters(item)
    elif isinstance(value, list):
        for item in value:
            yield from time_series_filters(item)


_TERM = re.compile(r'^([\w.]+?(?:\."\w+")?)\s*=\s*"([^"]*)"$')


def parse_filter(text: str) -> dict[str, str]:
    """``metric.type="a" resource.type="b" resource.label."x"="c"`` -> {"metric.type": "a", ...}."""
    terms = re.findall(r'[\w.]+(?:\."\w+")?\s*=\s*"[^"]*"', text)
    assert " ".join(terms) == text.strip(), f"filter {text!r} has more than equality terms joined by spaces"
    parsed = {}
    for term in terms:
        match = _TERM.match(term)
        assert match, term
        parsed[match.group(1).replace('"', "")] = match.group(2)
    return parsed


# --- tests ---------------------------------------------------------------------------------


def test_the_resource_renders_the_template_with_the_modules_values() -> None:
    body = _resource_body("google_monitoring_dashboard", "fraud")
    assert body["project"] == "${var.project_id}"
    assert (
        body["dashboard_json"]
        == '${templatefile("${path.module}/dashboard.json.tftpl", local.dashboard_vars)}'
    )
    text = TEMPLATE.read_text()
    assert text.startswith("%{ if false ~}\n")  # the header comment renders nothing
    body_text = text.split("%{ endif ~}\n", 1)[1]
    assert "%{" not in body_text
    used = {m.group(1) for m in re.finditer(r"(?<!\$)\$\{(?:jsonencode\()?(\w+)\)?\}", body_text)}
    assert used == set(iac.locals_of(MODULE)["dashboard_vars"]), (
        "a variable given and not used, or the reverse"
    )


def test_the_dashboard_charts_the_function_and_the_endpoint_the_stack_deploys() -> None:
    call = iac.blocks("module", iac.INFRA)["monitoring"]
    assert call["function_service_name"] == "${module.prediction_function.name}"
    assert call["endpoint_id"] == "${module.vertex.endpoint_id}"


def test_the_rendered_json_is_a_dashboards_api_dashboard(rendered: str) -> None:
    parsed = Dashboard.from_json(rendered)  # unknown fields and enum values raise
    assert parsed.display_name == "fraud-mlops"
    assert len(parsed.mosaic_layout.tiles) == len(json.loads(rendered)["mosaicLayout"]["tiles"])
    # Nothing is written that the API leaves out of what it gives back (a field at its default,
    # such as "xPos": 0): the provider would show a diff on every plan
    # (hashicorp/terraform-provider-google#7242, #16173).
    assert json_format.MessageToDict(Dashboard.pb(parsed)) == json.loads(rendered)
    # the parser is strict on this version too: an unknown field is an error, not dropped
    with pytest.raises(json_format.ParseError, match="no field named"):
        Dashboard.from_json(rendered.replace('"displayName"', '"displayNam"', 1))


def test_every_chart_reads_a_documented_metric_with_an_aligner_valid_for_it(
    dashboard: dict[str, Any],
) -> None:
    header = TEMPLATE.read_text().split("%{ endif ~}", 1)[0]
    for metric, documented in DOCUMENTED.items():
        assert documented.doc.startswith("https://cloud.google.com/"), metric
        assert documented.doc in header, f"the template's header does not cite {documented.doc}"

    seen = set()
    for query in time_series_filters(dashboard):
        terms = parse_filter(query["filter"])
        metric = terms.pop("metric.type")
        key = USER_METRIC_PREFIX if metric.startswith(USER_METRIC_PREFIX) else metric
        assert key in DOCUMENTED, f"{metric} is not in the documented list"
        documented = DOCUMENTED[key]
        seen.add(key)

        resource_type = terms.pop("resource.type", None)
        assert resource_type == documented.resource_type, metric
        if resource_type is not None:
            label, variable = RESOURCE_FILTER[resource_type]
            assert terms.pop(f"resource.label.{label}") == SAMPLE_VARS[variable], metric
        assert not terms, f"{metric}: filter terms not checked: {terms}"

        aggregation = query["aggregation"]
        assert aggregation["alignmentPeriod"] == ("300s" if key == USER_METRIC_PREFIX else "60s"), metric
        aligner = aggregation["perSeriesAligner"]
        assert aligner in ALIGNERS[(documented.kind, documented.value_type)], f"{metric}: {aligner}"
        assert aggregation.get("crossSeriesReducer", "REDUCE_SUM") in NUMERIC_REDUCERS, metric
        for field in aggregation.get("groupByFields", []):
            match = re.fullmatch(r'metric\.label\."(\w+)"', field)
            assert match and match.group(1) in documented.labels, f"{metric}: cannot group by {field}"
    assert seen == set(DOCUMENTED), f"documented but not charted: {set(DOCUMENTED) - seen}"


def test_the_only_log_based_metric_is_the_modules_own_and_the_panel_shows_its_entries(
    dashboard: dict[str, Any],
) -> None:
    own = USER_METRIC_PREFIX + resolve(str(_resource_body("google_logging_metric", "alerts")["name"]))
    user_metrics = [
        parse_filter(q["filter"])["metric.type"]
        for q in time_series_filters(dashboard)
        if USER_METRIC_PREFIX in q["filter"]
    ]
    assert user_metrics == [own]

    panels = [
        t["widget"]["logsPanel"] for t in dashboard["mosaicLayout"]["tiles"] if "logsPanel" in t["widget"]
    ]
    metric_filter = resolve(str(_resource_body("google_logging_metric", "alerts")["filter"]))
    assert panels == [{"filter": metric_filter}]
    # the log CloudLoggingAlertSink writes (fraud_mlops/alerting/sinks.py)
    assert metric_filter == f'logName="projects/{SAMPLE_VARS["project_id"]}/logs/{ALERT_LOG_ID}"'


def test_the_tiles_fit_the_mosaic_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    layout = dashboard["mosaicLayout"]
    assert layout["columns"] == MOSAIC_COLUMNS
    cells: dict[tuple[int, int], str] = {}
    for tile in layout["tiles"]:
        x, y = tile.get("xPos", 0), tile.get("yPos", 0)
        width, height = tile["width"], tile["height"]
        title = tile["widget"]["title"]
        assert set(tile["widget"]) - {"title"} <= {"xyChart", "logsPanel", "text"}, title
        assert x >= 0 and y >= 0 and width >= 1 and height >= 1, title
        assert x + width <= MOSAIC_COLUMNS, f"{title} runs past column {MOSAIC_COLUMNS}"
        for cell in ((cx, cy) for cx in range(x, x + width) for cy in range(y, y + height)):
            assert cell not in cells, f"{title} overlaps {cells[cell]}"
            cells[cell] = title


def test_the_module_outputs_the_dashboards_console_url(tmp_path: Path) -> None:
    outputs = iac.blocks("output", MODULE)
    assert outputs["dashboard_name"]["value"] == "${google_monitoring_dashboard.fraud.id}"
    # the provider's id is the API's name, projects/<number>/dashboards/<id>
    template = str(outputs["dashboard_url"]["value"])
    expression = template.replace("google_monitoring_dashboard.fraud.id", '"projects/123/dashboards/abc-42"')
    expression = expression.replace("${var.project_id}", SAMPLE_VARS["project_id"])
    url = evaluate(f'"{expression}"', tmp_path)
    assert url == "https://console.cloud.google.com/monitoring/dashboards/builder/abc-42?project=fraud-demo"
