"""``make dashboard``: the fraud-ops dashboard as one static HTML page, from the reporting views.

The views (``include/sql/87_reporting_views.sql``) are what Looker Studio reads on gcp; locally
this module refreshes them on the DuckDB warehouse, reads each through the warehouse seam and
draws it with matplotlib (PNG embedded in the page: one file, no server, opens anywhere).

    python -m devtools.dashboard [--out PATH]
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fraud_mlops.settings import Settings, get_settings

VIEWS = (
    "rpt_daily_predictions",
    "rpt_daily_transactions",
    "rpt_model_traffic",
    "rpt_precision_recall",
    "rpt_drift_per_feature",
    "rpt_ingestion_rejects",
    "rpt_run_status",
)


def read_views(settings: Settings, refresh: bool = True) -> dict[str, pd.DataFrame]:
    """The local warehouse file itself (no Airflow connection needed): gcp dashboards are Looker Studio's."""
    from fraud_mlops.monitoring.reporting import refresh_reporting_views
    from fraud_mlops.warehouse.duckdb import DuckDBWarehouse

    warehouse = DuckDBWarehouse(settings, database=settings.warehouse_path)
    if refresh:
        refresh_reporting_views(warehouse, settings)
    views = {}
    for view in VIEWS:
        try:
            views[view] = warehouse.read_arrow(f"SELECT * FROM `{settings.dataset_ref}.{view}`").to_pandas()
        except Exception:
            views[view] = pd.DataFrame()
    return views


def _figure(draw: Any, width: float = 6.4, height: float = 3.2) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    draw(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#666")
    ax.set_axis_off()


def _daily_volume(frame: pd.DataFrame) -> Any:
    def draw(ax: Any) -> None:
        if frame.empty:
            return _empty(ax, "no predictions logged yet")
        pivot = frame.pivot_table(index="day", columns="source", values="requests", aggfunc="sum").fillna(0)
        pivot.plot(kind="bar", ax=ax, stacked=True, color=["#4c78a8", "#9ecae9"][: len(pivot.columns)])
        sums = frame.groupby("day")[["alerts", "requests"]].sum()
        rate = sums["alerts"] / sums["requests"].clip(lower=1)
        twin = ax.twinx()
        twin.plot(range(len(rate)), rate.to_numpy() * 100, color="#e45756", marker="o", label="alert rate %")
        twin.set_ylabel("alert rate %")
        ax.set_xlabel("")
        ax.set_ylabel("predictions")
        ax.tick_params(axis="x", labelrotation=0)
        return None

    return draw


def _amount_flagged(frame: pd.DataFrame) -> Any:
    def draw(ax: Any) -> None:
        if frame.empty:
            return _empty(ax, "no predictions logged yet")
        daily = frame.groupby("day")["amount_flagged"].sum()
        ax.bar([str(d) for d in daily.index], daily.to_numpy(), color="#f58518")
        ax.set_ylabel("amount flagged")
        return None

    return draw


def _fraud_rate(frame: pd.DataFrame) -> Any:
    def draw(ax: Any) -> None:
        if frame.empty:
            return _empty(ax, "no labelled transactions yet")
        frame_sorted = frame.sort_values("day")
        ax.plot(pd.to_datetime(frame_sorted["day"]), frame_sorted["fraud_rate"] * 100, color="#e45756")
        ax.set_ylabel("labelled fraud rate %")
        ax.tick_params(axis="x", labelrotation=30)
        return None

    return draw


def _traffic_by_version(frame: pd.DataFrame) -> Any:
    def draw(ax: Any) -> None:
        if frame.empty:
            return _empty(ax, "no model has answered yet")
        totals = frame.groupby(["model_version", "source"])["requests"].sum().unstack(fill_value=0)
        totals.index = [f"v{v}" for v in totals.index]
        totals.plot(kind="barh", ax=ax, stacked=True)
        ax.set_xlabel("requests (shadow = canary scores never returned)")
        return None

    return draw


def _scores_by_version(frame: pd.DataFrame) -> Any:
    def draw(ax: Any) -> None:
        if frame.empty:
            return _empty(ax, "no model has answered yet")
        answered = frame["requests"] - frame["errors"]  # scores and alerts are of answers
        weighted = frame.assign(
            score_sum=frame["avg_score"].fillna(0.0) * answered,
            alert_sum=frame["alert_rate"].fillna(0.0) * answered,
            answered=answered,
        )
        sums = weighted.groupby(["model_version", "source"])[["score_sum", "alert_sum", "answered"]].sum()
        grouped = pd.DataFrame(
            {
                "avg_score": sums["score_sum"] / sums["answered"],
                "alert_rate": sums["alert_sum"] / sums["answered"],
            }
        )
        labels = [f"v{v} {s}" for v, s in grouped.index]
        x = range(len(labels))
        ax.bar([i - 0.2 for i in x], grouped["avg_score"], width=0.4, label="mean score", color="#54a24b")
        ax.bar([i + 0.2 for i in x], grouped["alert_rate"], width=0.4, label="alert rate", color="#e45756")
        ax.set_xticks(list(x), labels, rotation=20)
        ax.legend()
        return None

    return draw


def _precision_recall(frame: pd.DataFrame) -> Any:
    def draw(ax: Any) -> None:
        if frame.empty:
            return _empty(ax, "no labels for the predicted card-days yet")
        grouped = frame.groupby("model_version")[["precision", "recall"]].mean()
        grouped.index = [f"v{v}" for v in grouped.index]
        grouped.plot(kind="bar", ax=ax, ylim=(0, 1), color=["#4c78a8", "#72b7b2"])
        ax.tick_params(axis="x", labelrotation=0)
        return None

    return draw


def _drift(frame: pd.DataFrame) -> Any:
    def draw(ax: Any) -> None:
        latest = (
            frame[frame["run_id"] == frame.sort_values("computed_at")["run_id"].iloc[-1]]
            if len(frame)
            else frame
        )
        if latest.empty:
            return _empty(ax, "no monitoring run yet")
        drift = latest[latest["check_name"] == "drift"]
        shown = (drift if len(drift) else latest).sort_values("value", ascending=False).head(15)
        colors = ["#e45756" if d else "#4c78a8" for d in shown["drifted"]]
        ax.barh(shown["check_name"] + ": " + shown["feature"], shown["value"], color=colors)
        ax.axvline(float(shown["threshold"].iloc[0]), color="#333", linestyle="--", label="threshold")
        ax.invert_yaxis()
        ax.set_xlabel("Jensen-Shannon distance (newest run)")
        ax.legend(loc="lower right")
        return None

    return draw


def _rejects(frame: pd.DataFrame) -> Any:
    def draw(ax: Any) -> None:
        if frame.empty:
            return _empty(ax, "no rejected rows")
        by_reason = frame.groupby("reason")["rejected_rows"].sum().sort_values()
        ax.barh(by_reason.index, by_reason.to_numpy(), color="#b279a2")
        ax.set_xlabel("rejected rows")
        return None

    return draw


def _table(frame: pd.DataFrame, limit: int = 12) -> str:
    if frame.empty:
        return "<p class=empty>no runs recorded yet</p>"
    shown = frame.sort_values("finished_at", ascending=False).head(limit)
    return shown.to_html(index=False, classes="runs", border=0, na_rep="")


PANELS = (
    ("daily-volume", "Daily predictions and alert rate", "rpt_daily_predictions", _daily_volume),
    ("amount-flagged", "Amount flagged as fraud", "rpt_daily_predictions", _amount_flagged),
    ("fraud-rate", "Labelled fraud rate (ingested transactions)", "rpt_daily_transactions", _fraud_rate),
    ("traffic-by-version", "Traffic by model version", "rpt_model_traffic", _traffic_by_version),
    ("scores-by-version", "Scores and alert rate by model version", "rpt_model_traffic", _scores_by_version),
    (
        "precision-recall",
        "Precision and recall (once labels arrive)",
        "rpt_precision_recall",
        _precision_recall,
    ),
    ("drift", "Drift per feature", "rpt_drift_per_feature", _drift),
    ("rejects", "Ingestion rejects by reason", "rpt_ingestion_rejects", _rejects),
)

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;background:#f6f7f9;color:#222}
h1{margin:0 0 4px} .meta{color:#666;margin-bottom:18px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
.panel{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.panel h2{font-size:16px;margin:4px 0 8px} .panel img{width:100%}
table.runs{border-collapse:collapse;width:100%;font-size:13px} .runs td,.runs th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left}
.kpis{display:flex;gap:16px;margin-bottom:16px} .kpi{background:#fff;border-radius:8px;padding:10px 16px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.kpi b{display:block;font-size:22px}
"""


def render(
    views: dict[str, pd.DataFrame], generated_at: datetime | None = None, target: str = "local"
) -> str:
    moment = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    daily = views["rpt_daily_predictions"]
    kpis = {
        "predictions": int(daily["requests"].sum()) if len(daily) else 0,
        "fraud alerts": int(daily["alerts"].sum()) if len(daily) else 0,
        "amount flagged": f"{float(daily['amount_flagged'].sum()):,.0f}" if len(daily) else "0",
        "drifted features (newest run)": _drifted_count(views["rpt_drift_per_feature"]),
    }
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<title>Fraud ops dashboard</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Fraud ops</h1>",
        f"<div class=meta>target {html.escape(target)} · generated {moment} · from the reporting views "
        "of include/sql/87_reporting_views.sql</div>",
        "<div class=kpis>"
        + "".join(
            f"<div class=kpi data-kpi='{html.escape(k)}'><b>{v}</b>{html.escape(k)}</div>"
            for k, v in kpis.items()
        )
        + "</div>",
        "<div class=grid>",
    ]
    for panel_id, title, view, draw in PANELS:
        image = _figure(draw(views[view]))
        parts.append(
            f"<section class=panel id={panel_id}><h2>{html.escape(title)}</h2>"
            f"<img alt='{html.escape(title)}' src='data:image/png;base64,{image}'></section>"
        )
    parts.append(
        f"<section class=panel id=run-status><h2>Run status</h2>{_table(views['rpt_run_status'])}</section>"
    )
    parts.append("</div></body></html>")
    return "\n".join(parts)


def _drifted_count(frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    newest = frame.sort_values("computed_at")["run_id"].iloc[-1]
    latest = frame[(frame["run_id"] == newest) & frame["drifted"].fillna(False).astype(bool)]
    return int(latest["feature"].nunique())


def write_dashboard(settings: Settings, out: Path | None = None) -> Path:
    import logging

    logging.getLogger("matplotlib.category").setLevel(logging.WARNING)  # str days on a category axis
    out = out or settings.local_dir / "dashboard" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(read_views(settings), target=settings.target))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.dashboard", description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="default: <local dir>/dashboard/index.html")
    args = parser.parse_args(argv)
    path = write_dashboard(get_settings(), args.out)
    print(f"dashboard written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
