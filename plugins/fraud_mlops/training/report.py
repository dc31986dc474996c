"""A self-contained HTML evaluation report: ROC and PR curves, confusion matrix, the numbers.

One file with inline PNGs, so it opens the same from a local pipeline root, from the Vertex
console (an ``HTML`` artifact) or attached to a review, without a server or network.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from fraud_mlops.training.evaluate import Evaluation


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figures(evaluation: Evaluation) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pngs: dict[str, str] = {}
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(evaluation.roc_curve.x, evaluation.roc_curve.y, label=f"model (AUC {evaluation.roc_auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    pngs["roc"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(evaluation.pr_curve.x, evaluation.pr_curve.y, label=f"model (AP {evaluation.pr_auc:.3f})")
    base_rate = evaluation.positives / max(evaluation.rows, 1)
    ax.axhline(base_rate, linestyle="--", color="grey", label=f"base rate {base_rate:.4f}")
    ax.scatter([evaluation.recall], [evaluation.precision], color="red", zorder=3, label="operating point")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", ylim=(0, 1.02))
    ax.legend(loc="upper right")
    pngs["pr"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(evaluation.confusion, cmap="Blues")
    for i, row in enumerate(evaluation.confusion):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value}", ha="center", va="center", color="black")
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["legit", "fraud"],
        yticklabels=["legit", "fraud"],
        xlabel="predicted",
        ylabel="actual",
        title=f"Confusion matrix @ {evaluation.threshold:.3f}",
    )
    pngs["confusion"] = _png(fig)
    plt.close(fig)
    return pngs


def render_report(
    evaluation: Evaluation,
    *,
    title: str,
    context: dict[str, Any],
    champion: dict[str, Any] | None = None,
) -> str:
    """HTML text; ``context`` (snapshot, model type, split sizes…) is shown as a table."""
    pngs = _figures(evaluation)
    metric_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v:.4f}</td>"
        + (f"<td>{champion[k]:.4f}</td>" if champion and k in champion else "<td></td>" if champion else "")
        + "</tr>"
        for k, v in evaluation.scalars().items()
    )
    champion_head = "<th>champion</th>" if champion else ""
    context_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in context.items()
    )
    images = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{data}"></figure>'
        for name, data in pngs.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: .3rem .7rem; text-align: left; }}
figure {{ display: inline-block; margin: .5rem; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<h2>Test-split metrics</h2>
<p>Threshold chosen on the validation split (max F1); metrics measured on the newest rows (test).</p>
<table id="metrics"><tr><th>metric</th><th>challenger</th>{champion_head}</tr>{metric_rows}</table>
<h2>Curves</h2>
{images}
<h2>Context</h2>
<table id="context">{context_rows}</table>
</body></html>
"""
