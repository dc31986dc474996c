"""``python -m devtools.training_cli``: run the pipeline locally, promote a canary, show state.

The same functions the DAG calls, for a user at a terminal (``make train``, ``make promote``,
``make models``). Local target only: on gcp, use the DAG and the Vertex AI console.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from devtools.snapshots import newest_local_snapshot
from fraud_mlops.registry.local_endpoint import endpoint_path, read_endpoint
from fraud_mlops.registry.names import MODEL_NAME
from fraud_mlops.settings import Settings, get_settings
from fraud_mlops.targets import endpoint_uri, registry_uri


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from fraud_mlops.pipeline_runs.kfp_local import run_pipeline_locally
    from fraud_mlops.training.pipeline_params import pipeline_parameters

    snapshot = args.snapshot or newest_local_snapshot(settings)
    parameters = pipeline_parameters(
        settings,
        snapshot,
        model_type=args.model_type,
        canary_percent=args.canary_percent,
        min_pr_auc=args.min_pr_auc,
    )
    result = run_pipeline_locally(
        parameters, Path(settings.pipeline_root), Path(args.pipeline) if args.pipeline else None
    )
    print("\n" + result.summary())
    return 0


def _promote(settings: Settings, args: argparse.Namespace) -> int:
    from fraud_mlops.training.steps import promote

    split = promote(registry_uri(settings), endpoint_uri(settings), MODEL_NAME, str(args.version))
    print(f"{MODEL_NAME} v{args.version} is champion; traffic {split}")
    return 0


def _models(settings: Settings, args: argparse.Namespace) -> int:
    from fraud_mlops.registry.local_registry import LocalModelRegistry

    registry = LocalModelRegistry(settings.registry_dir)
    for version in registry.versions(MODEL_NAME):
        print(f"v{version.version:<4} aliases={','.join(version.aliases) or '-':<20} {version.labels}")
    for rejection in registry.rejections(MODEL_NAME)[-5:]:
        print(f"rejected {rejection['rejected_at']} {rejection['snapshot']}: {rejection['reason']}")
    endpoint = read_endpoint(endpoint_path(settings.local_dir))
    print(json.dumps([asdict(m) for m in endpoint.deployed_models], indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.training_cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the compiled pipeline with kfp.local")
    run.add_argument("--snapshot", default="", help="snapshot name (default: newest)")
    run.add_argument("--model-type", choices=["hist_gradient_boosting", "random_forest"])
    run.add_argument("--canary-percent", type=int)
    run.add_argument("--min-pr-auc", type=float)
    run.add_argument("--pipeline", default="", help="compiled YAML (default: include/pipelines/)")
    promote = sub.add_parser("promote", help="give a version 100 %% of traffic and the champion alias")
    promote.add_argument("version")
    sub.add_parser("models", help="list versions, aliases, recent rejections and the endpoint")
    args = parser.parse_args(argv)
    settings = get_settings()
    if not settings.is_local:
        parser.error("this CLI drives the local target; on gcp use the fraud_training DAG")
    handlers = {"run": _run, "promote": _promote, "models": _models}
    return handlers[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
