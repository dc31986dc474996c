"""One plain function per pipeline step; the KFP components are thin wrappers around these.

Each step takes paths, URIs and plain values and returns plain values, so it is tested
directly, and the component only maps KFP artifacts (``.path``, ``.uri``, ``.metadata``,
``log_metric``) onto it. Steps import pandas and scikit-learn lazily: every task is a fresh
process, and the gate, register and deploy tasks should not pay seconds of imports they never use.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraud_mlops.features import FEATURE_NAMES
from fraud_mlops.registry.artifact import MODEL_FILE, read_metadata

if TYPE_CHECKING:
    import pandas as pd

    from fraud_mlops.registry.base import ModelEndpoint, ModelRegistry, ModelVersion
    from fraud_mlops.training.evaluate import Evaluation


#: How long registration waits for a canary verdict under way: the monitoring DAG's promotion
#: or rollback takes minutes (an undeploy), and one cut short is finished by its next hourly run.
VERDICT_WAIT_SECONDS = 90 * 60
VERDICT_POLL_SECONDS = 30


class VerdictUnderWay(RuntimeError):
    """A canary promotion or rollback was still being carried out when the wait ran out."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def wait_for_canary_verdict(
    registry: ModelRegistry,
    model_name: str,
    timeout: float = VERDICT_WAIT_SECONDS,
    poll: float = VERDICT_POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once no version carries a verdict's mark (``canary-promoting``,
    ``canary-rolling-back``: the canary task sets it while it moves traffic and aliases).

    The pipeline registers and deploys outside any Airflow pool or lease. The canary task starts
    no verdict while a training run is queued or running, but one begun before it may still be
    under way: a registration then would move the ``challenger`` alias off the canary being
    judged, and the deploy after it would read a champion the promotion is replacing (and
    redeploy it, undeploying the promoted canary). Waiting here, before any alias moves, lets it
    finish; a mark a cut-short verdict left is finished by the canary task's next run, which does
    so with training in flight.
    """
    from fraud_mlops.registry.base import VERDICT_MARKS
    from fraud_mlops.retries import unanswered_errors

    deadline = clock() + timeout
    seen: dict[str, str] | None = None  # the marks the last answer named
    while True:
        unread: Exception | None = None
        try:
            seen = {
                mark: version.version
                for mark in VERDICT_MARKS
                if (version := registry.get(model_name, mark)) is not None
            }
        except unanswered_errors() as exc:  # a registry read's retries ran out: asked again at the next poll
            unread = exc
        if unread is None and not seen:
            return
        under_way = ", ".join(f"{mark} on v{version}" for mark, version in (seen or {}).items())
        if clock() >= deadline:
            if seen is None and unread is not None:  # never answered: its error is what to see
                raise unread
            raise VerdictUnderWay(
                f"a canary verdict is still under way after {timeout:.0f} s ({under_way}): the fraud_monitoring "
                "DAG's apply_canary_decision finishes it on its next run; retry this training run after it"
                + (
                    f" (the last read failed: {type(unread).__name__}: {unread})"
                    if unread is not None
                    else ""
                )
            )
        if unread is not None:
            print(f"the registry did not answer ({type(unread).__name__}: {unread}): asking again")
        else:
            print(f"a canary verdict is under way ({under_way}): registering after it")
        sleep(poll)


def build_dataset_step(
    snapshot_uri: str,
    validation_fraction: float,
    test_fraction: float,
    train_path: Path,
    validation_path: Path,
    test_path: Path,
    bigquery_read_client: Any = None,
) -> dict[str, Any]:
    """Snapshot → three time-ordered Parquet splits; returns their sizes and time ranges."""
    from fraud_mlops.training import dataset

    frame = dataset.read_snapshot(snapshot_uri, bigquery_read_client)
    splits = dataset.split_by_time(frame, validation_fraction, test_fraction)
    for part, path in (
        (splits.train, train_path),
        (splits.validation, validation_path),
        (splits.test, test_path),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(path, index=False)
    return splits.summary()


def train_step(
    train_path: Path, validation_path: Path, model_type: str, seed: int, model_dir: Path, snapshot: str
) -> dict[str, Any]:
    import pandas as pd

    from fraud_mlops.registry.artifact import save_model
    from fraud_mlops.training import dataset
    from fraud_mlops.training.train import train_model

    train = pd.read_parquet(train_path)
    validation = pd.read_parquet(validation_path)
    trained = train_model(
        dataset.feature_matrix(train),
        dataset.labels(train),
        dataset.feature_matrix(validation),
        dataset.labels(validation),
        model_type=model_type,
        seed=seed,
    )
    info = {
        "model_type": model_type,
        "fit_seconds": round(trained.fit_seconds, 3),
        "train_rows": len(train),
        "iterations": int(getattr(trained.estimator, "n_iter_", 0)),
        "params": trained.params,
    }
    save_model(
        trained.estimator,
        model_dir,
        {"feature_names": list(FEATURE_NAMES), "snapshot": snapshot, "trained_at": _now(), **info},
    )
    return info


def _evaluate_dir(
    model_dir: Path, validation: pd.DataFrame | None, test: pd.DataFrame, threshold: float | None
) -> Evaluation:
    from fraud_mlops.registry.artifact import load_model
    from fraud_mlops.training import dataset
    from fraud_mlops.training.evaluate import choose_threshold, evaluate, predict_scores

    estimator = load_model(model_dir)
    if threshold is None:
        assert validation is not None
        threshold = choose_threshold(
            dataset.labels(validation), predict_scores(estimator, dataset.feature_matrix(validation))
        )
    return evaluate(dataset.labels(test), predict_scores(estimator, dataset.feature_matrix(test)), threshold)


def score_champion_step(
    test_path: Path, registry_uri: str, model_name: str, verdict_wait_seconds: float = VERDICT_WAIT_SECONDS
) -> dict[str, Any]:
    """The serving champion scored on the challenger's test rows at the champion's own threshold.

    ``{"has_champion": False}`` when no version carries the ``champion`` alias yet. Read after
    any canary verdict under way (:func:`wait_for_canary_verdict`): the gate must compare with
    the champion a promotion makes, not the one it replaces.
    """
    import pandas as pd

    from fraud_mlops.registry.backends import open_registry
    from fraud_mlops.registry.base import CHAMPION

    registry = open_registry(registry_uri)
    wait_for_canary_verdict(registry, model_name, timeout=verdict_wait_seconds)
    champion = registry.get(model_name, CHAMPION)
    if champion is None:
        return {"has_champion": False, "version": "", "metrics": {}}
    model_dir = champion.local_dir()
    threshold = float(read_metadata(model_dir).get("threshold", 0.5))
    evaluation = _evaluate_dir(model_dir, None, pd.read_parquet(test_path), threshold)
    return {"has_champion": True, "version": champion.version, "metrics": evaluation.scalars()}


def evaluate_step(
    model_dir: Path,
    validation_path: Path,
    test_path: Path,
    report_path: Path,
    context: dict[str, Any],
    champion_metrics: dict[str, float] | None = None,
) -> Evaluation:
    """Threshold from validation, metrics on test, and the HTML report written to ``report_path``."""
    import pandas as pd

    from fraud_mlops.training.report import render_report

    evaluation = _evaluate_dir(model_dir, pd.read_parquet(validation_path), pd.read_parquet(test_path), None)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(
        render_report(evaluation, title="Fraud model evaluation", context=context, champion=champion_metrics)
    )
    return evaluation


def register_step(
    model_dir: Path,
    registered_dir: Path,
    registered_uri: str,
    registry_uri: str,
    model_name: str,
    *,
    snapshot: str,
    pipeline_run: str,
    threshold: float,
    metrics: dict[str, float],
    gate_reason: str,
    serving_image: str = "",
    verdict_wait_seconds: float = VERDICT_WAIT_SECONDS,
) -> dict[str, Any]:
    """Assemble the final artifact (model + complete metadata.json) and register it.

    The new version gets the ``challenger`` alias, or ``champion`` when there is none yet (the
    first model has nothing to be a canary against); after any canary verdict under way
    (:func:`wait_for_canary_verdict`).
    """
    from fraud_mlops.registry.artifact import write_metadata
    from fraud_mlops.registry.backends import open_registry
    from fraud_mlops.registry.base import CHALLENGER, CHAMPION, labels_for

    trained = read_metadata(model_dir)
    registered_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model_dir / MODEL_FILE, registered_dir / MODEL_FILE)
    metadata = {
        **trained,
        "threshold": threshold,
        "metrics": metrics,
        "snapshot": snapshot,
        "pipeline_run": pipeline_run,
        "gate_reason": gate_reason,
        "feature_names": list(FEATURE_NAMES),
        "model_name": model_name,  # the model server reports it with every prediction
    }
    write_metadata(registered_dir, metadata)
    registry = open_registry(registry_uri, serving_image)
    wait_for_canary_verdict(registry, model_name, timeout=verdict_wait_seconds)
    aliases = [CHALLENGER] if registry.get(model_name, CHAMPION) else [CHAMPION]
    version = registry.register(
        model_name,
        registered_dir,
        registered_uri,
        labels=labels_for(snapshot, pipeline_run, str(trained.get("model_type", ""))),
        metadata=metadata,
        aliases=aliases,
        description=gate_reason,
    )
    return {
        "model_version": version.version,
        "aliases": list(version.aliases),
        "artifact_uri": version.artifact_uri,
    }


def registered_threshold(version: ModelVersion) -> float:
    """The decision threshold the gate chose for ``version`` (its metadata.json)."""
    return float(read_metadata(version.local_dir()).get("threshold", 0.5))


def deploy_step(
    registry_uri: str,
    endpoint_uri: str,
    model_name: str,
    model_version: str,
    threshold: float,
    canary_percent: int,
    machine_type: str = "",
) -> dict[str, int]:
    """Deploy the registered version beside the champion; returns version → traffic percent.

    A champion the endpoint does not serve (its own deploy failed, or it was undeployed by hand)
    is deployed again first, at 100 %: deployed beside nothing, the new version would take all
    traffic unproven, batch scoring (``@champion``) and online serving would answer with
    different models, and a rollback would have no champion to return to.

    A full rollout (``canary_percent=100``) is a promotion at deploy time: the old champion
    leaves the endpoint, so the new version takes the ``champion`` alias at once (the old one
    ``previous-champion``, as a canary's promotion leaves it). Left a ``challenger``, it would
    be judged as a canary against a champion that serves nothing, and a rollback would have
    nothing to return to; batch scoring would go on with the undeployed model.
    """
    from fraud_mlops.registry.backends import open_endpoint, open_registry
    from fraud_mlops.registry.base import CHAMPION, hand_over_champion

    registry = open_registry(registry_uri)
    version = registry.get(model_name, model_version)
    if version is None:
        raise KeyError(f"{model_name} version {model_version} is not in {registry_uri}")
    champion = registry.get(model_name, CHAMPION)
    endpoint = open_endpoint(endpoint_uri, machine_type)
    if (
        champion is not None
        and champion.version != version.version
        and canary_percent < 100  # a full rollout replaces the champion: nothing to deploy beside
        and not endpoint.is_deployed(champion)
    ):
        print(
            f"champion v{champion.version} is not deployed on the endpoint: deploying it again first,"
            f" so that v{version.version} is a {canary_percent} % canary beside it"
        )
        endpoint.promote(champion, registered_threshold(champion))
    try:
        split = endpoint.deploy_canary(version, threshold, champion, canary_percent)
    except Exception as failed:
        # a deploy that timed out may still finish on Vertex: it keeps the alias
        if champion is not None and champion.version == version.version and not _timed_out(failed):
            _unless_serving(registry, endpoint, version)
        raise
    if canary_percent == 100 and champion is not None and champion.version != version.version:
        # traffic first (above), aliases after, in the order a canary's promotion moves them
        # (monitoring/canary_apply.apply_decision)
        print(f"full rollout: v{version.version} replaces champion v{champion.version}")
        hand_over_champion(registry, model_name, version.version, champion.version)
    return split


def _timed_out(error: BaseException) -> bool:
    """Whether ``error`` is a wait that ran out (an operation's ``.result(timeout=…)``, a call's
    deadline), not a refusal: the deploy may still be under way."""
    from google.api_core import exceptions

    return isinstance(error, TimeoutError | exceptions.DeadlineExceeded | exceptions.RetryError)


def _unless_serving(registry: ModelRegistry, endpoint: ModelEndpoint, version: ModelVersion) -> None:
    """After a failed deploy of the ``champion`` itself (the first version ever is registered
    champion): take the alias off it unless the endpoint serves it after all. Left on a version
    that never served, every later gate compares against it, and a run it rejects leaves the
    endpoint empty while its DAG run succeeds; without it, the next version to pass the gate is
    champion and is deployed at 100 %. The deploy's own error is what the task reports."""
    from fraud_mlops.registry.base import CHAMPION

    try:
        serving = endpoint.is_deployed(version)
    except Exception:  # the deploy's error, which the caller raises, is the one to see
        return
    if not serving:
        print(f"v{version.version} never served: the champion alias is taken off it")
        try:
            registry.remove_alias(version.model_name, CHAMPION, version.version)
        except Exception as exc:  # the deploy's error, which the caller raises, is the one to see
            print(f"the champion alias could not be taken off v{version.version}: {exc}")


def promote(registry_uri: str, endpoint_uri: str, model_name: str, model_version: str) -> dict[str, int]:
    """End a canary: the version takes 100 % of traffic and the ``champion`` alias."""
    from fraud_mlops.registry.backends import open_endpoint, open_registry
    from fraud_mlops.registry.base import CHALLENGER, CHAMPION

    registry = open_registry(registry_uri)
    version = registry.get(model_name, model_version)
    if version is None:
        raise KeyError(f"{model_name} version {model_version} is not in {registry_uri}")
    split = open_endpoint(endpoint_uri).promote(version, registered_threshold(version))
    registry.set_alias(model_name, CHAMPION, version.version)
    if CHALLENGER in version.aliases:
        registry.remove_alias(model_name, CHALLENGER, version.version)
    return split


def reject_step(
    registry_uri: str,
    model_name: str,
    *,
    reason: str,
    snapshot: str,
    pipeline_run: str,
    metrics: dict[str, float],
) -> dict[str, Any]:
    """Record why the challenger was turned down (locally in the registry's rejections log)."""
    from fraud_mlops.registry.backends import VERTEX_SCHEME
    from fraud_mlops.registry.base import CHAMPION

    record = {
        "rejected_at": _now(),
        "model_name": model_name,
        "reason": reason,
        "snapshot": snapshot,
        "pipeline_run": pipeline_run,
        "metrics": metrics,
    }
    if not registry_uri.startswith(VERTEX_SCHEME):
        from fraud_mlops.registry.local_registry import LocalModelRegistry

        registry = LocalModelRegistry(Path(registry_uri.removeprefix("file://")))
        registry.record_rejection(model_name, record)
        champion = registry.get(model_name, CHAMPION)
        record["champion_version"] = champion.version if champion else ""
    return record
