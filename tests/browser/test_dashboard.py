"""The fraud-ops dashboard: rendered from the reporting views of a real local warehouse holding
monitoring data, opened in headless Chromium (Debian's), every plot loaded; a screenshot is kept."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from devtools.dashboard import PANELS, write_dashboard
from fraud_mlops import targets
from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.monitoring.run import run_monitoring
from fraud_mlops.monitoring.windows import Windows
from fraud_mlops.prediction_log import records
from fraud_mlops.prediction_log.append import append_staged
from fraud_mlops.settings import Settings
from fraud_mlops.sql_templates import render_sql
from tests.training.examples import make_examples

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
SCREENSHOTS = Path(tempfile.gettempdir()) / "fraud-mlops-ui"
NOW = datetime.now(UTC)


def _fill(settings: Settings) -> None:
    """Two days of logged answers (v1 champion, v2 canary with shadow scores), labels, a drift run."""
    examples = make_examples(rows=2400, seed=4)
    rows = []
    rng = np.random.default_rng(0)
    for i, vector in enumerate(examples[list(FEATURE_NAMES)].to_numpy()):
        at = NOW - timedelta(hours=40) + timedelta(minutes=i)
        if i >= 1200:
            vector = vector.copy()
            vector[0] = rng.lognormal(4, 1)  # amounts drift in the second half
        version = "2" if i % 5 == 0 else "1"
        score = float(rng.beta(1, 12))
        model = {
            "name": "fraud-detector",
            "version": version,
            "deployed_model_id": f"fraud-detector-v{version}",
        }
        rows.append(records.record(request_id=f"r{i}", source="online", status=200, logged_at=at,
                                   card_pseudonym=f"card{i % 97:03d}", vector=vector, score=score, threshold=0.2,
                                   model=model, latency_ms=float(rng.gamma(2, 2))))  # fmt: skip
        if version == "1" and i % 2 == 0:
            rows.append(records.record(request_id=f"r{i}", source="shadow", status=200, logged_at=at,
                                       card_pseudonym=f"card{i % 97:03d}", vector=vector, score=score + 0.01,
                                       threshold=0.2, model={**model, "version": "2"}))  # fmt: skip
    warehouse = targets.warehouse(settings)
    warehouse.replace_table(records.STAGING_TABLE, records.to_arrow(rows))
    append_staged(warehouse, settings)
    labels = examples.assign(event_time=[r["logged_at"] for r in rows if r["source"] == "online"])
    labels["event_time"] = labels["event_time"].map(
        lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    )
    warehouse.replace_table(
        "training_examples", __import__("pyarrow").Table.from_pandas(labels, preserve_index=False)
    )
    span = Windows.ending(NOW, current=timedelta(hours=20), reference=timedelta(hours=20))
    run_monitoring(settings, "manual__dashboard", span)
    warehouse.execute(render_sql("85_monitoring_metrics.sql", settings))


def test_dashboard_renders_every_plot_in_headless_chromium(local_settings: Settings) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run `make browser-deps`")
    from playwright.sync_api import sync_playwright

    _fill(local_settings)
    path = write_dashboard(local_settings)
    assert path == local_settings.local_dir / "dashboard" / "index.html"

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(path.as_uri())
        page.get_by_role("heading", name="Fraud ops").wait_for()
        for panel_id, title, _, _ in PANELS:
            image = page.locator(f"#{panel_id} img")
            assert image.get_attribute("alt") == title
            size = image.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
            assert size[0] and size[1] >= 600 and size[2] >= 300, (panel_id, size)
        assert page.locator("#run-status table.runs tr").count() >= 2  # header + the monitoring run
        kpis = dict(
            page.locator(".kpi").evaluate_all(
                "ks => ks.map(k => [k.dataset.kpi, k.querySelector('b').textContent])"
            )
        )
        assert kpis["predictions"] == "2400"
        assert int(kpis["drifted features (newest run)"]) >= 1
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
        browser.close()
    assert (SCREENSHOTS / "dashboard.png").stat().st_size > 50_000
