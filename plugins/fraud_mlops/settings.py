"""One place for every setting of both targets.

DAG files import this at parse time, so it reads environment variables only: no Airflow
Variables, no connections, no network. Secrets (Google credentials) live in Airflow connections
and are read inside tasks; the pseudonymisation key never leaves the key service at all (only its
wrapped, i.e. encrypted, keyset is configured here: fraud_mlops/pseudonym.py).

Environment variables (all optional locally):

=============================  ==========================================  =====================
variable                       meaning                                     local default
=============================  ==========================================  =====================
``MLOPS_TARGET``               ``local`` or ``gcp``                        ``local``
``MLOPS_LOCAL_DIR``            data folder of the local stand-ins          ``<repo>/.local``
``GCP_PROJECT``                Google Cloud project id                     ``local-project``
``GCP_REGION``                 region of Vertex AI and BigQuery jobs       ``europe-west4``
``MLOPS_BQ_DATASET``           curated dataset (pseudonymised: staging,    ``fraud``
                               features, training, lineage, predictions)
``MLOPS_BQ_RAW_DATASET``       raw dataset (card numbers in clear; only    ``fraud_raw``
                               ingestion reads it)
``MLOPS_BQ_CANDIDATE_DATASET`` where a run builds its outputs before the   ``fraud_candidates``
                               checks pass (write-audit-publish)
``MLOPS_BQ_SNAPSHOT_DATASET``  the training snapshots (the training         ``fraud_snapshots``
                               pipeline reads this dataset and no other)
``MLOPS_RAW_RETENTION_DAYS``   raw rows, archived and quarantined files    ``30``
                               are kept this long
``MLOPS_LOG_RETENTION_DAYS``   the log sink keeps routed prediction-log    ``30``
                               entries this long (infra/: the log
                               dataset's partition expiration); an
                               erasure's record is kept a day longer
``MLOPS_BQ_LOCATION``          BigQuery location                           ``EU``
``MLOPS_LANDING_BUCKET``       bucket generated files land in              ``fraud-landing``
``MLOPS_LANDING_PREFIX``       prefix the sensors watch                    ``incoming/``
``MLOPS_ARCHIVE_PREFIX``       where loaded files are moved                ``processed/``
``MLOPS_QUARANTINE_BUCKET``    bucket for files that cannot be loaded      ``fraud-quarantine``
``MLOPS_LANDING_SUBSCRIPTION`` Pub/Sub subscription of the landing         ``fraud-landing-airflow``
                               notifications (infra names it by prefix)
``MLOPS_PIPELINE_ROOT``        KFP pipeline root                           ``<local dir>/pipeline_root``
``MLOPS_MODEL_STORE``          gcp: registered model versions' files, kept (none: the local
                               out of the pipeline root's lifecycle        registry keeps its
                               (``gs://<project>-models``)                 own copies)
``MLOPS_SNAPSHOT_TTL_DAYS``    expiration of training snapshots            ``90``
``MLOPS_MODEL_RETENTION_DAYS`` a snapshot a registered model was trained   ``365``
                               on is kept this long from registration,
                               renewed by each run it is champion in
``MLOPS_GCP_CONN_ID``          Google connection id                        ``google_cloud_default``
``MLOPS_WAREHOUSE_CONN_ID``    DuckDB connection id (local)                ``fraud_warehouse``
``MLOPS_PSEUDONYM_KMS_KEY``    KEK of the pseudonym keyset (Tink key URI:  ``local-kms://pseudonym-kek``
                               ``gcp-kms://projects/…/cryptoKeys/…``)
``MLOPS_PSEUDONYM_KEYSET``     the wrapped (KMS-encrypted) Tink keyset,    ``<local dir>/kms/…``
                               base64; ciphertext, not a secret
``MLOPS_PIPELINE_SA``          service account of Vertex pipeline runs     (none)
``MLOPS_ENDPOINT_ID``          numeric id of the Vertex endpoint (infra/   (none)
                               sets it): the function calls it (required
                               there on gcp), training deploys to it and
                               the canary task re-splits it (else: by
                               display name), tasks link to it in the UI
``GCS_BUCKET``                 Composer's environment bucket (Composer     (none)
                               sets it): the monitoring reports' link
``MLOPS_SENSOR_POKE_SECONDS``  GCS sensor poll interval                    ``5``
``MLOPS_MAX_BAD_LINE_SHARE``  share of unparseable lines above which a    ``0.01``
                               whole file is quarantined (below it the
                               bad lines are rejected, good rows load)
``MLOPS_MAX_BAD_LINES``        same, as a count per file (BigQuery's       ``10000``
                               ``max_bad_records``)
``MLOPS_DEDUP_HORIZON_DAYS``   ``all``, or days: a new copy of a           ``all``
                               transaction id is a duplicate when the id
                               is staged with an event time from this
                               many days before the increment's look-back
                               (bounds what the check reads on BigQuery)
``MLOPS_STORAGE_NOTIFIES``     the landing bucket publishes its own        ``false`` (gcp: always)
                               OBJECT_FINALIZE notifications (Cloud
                               Storage; fake-gcs-server in containers),
                               so landing publishes none
=============================  ==========================================  =====================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

Target = Literal["local", "gcp"]
TARGETS: tuple[Target, ...] = ("local", "gcp")

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Pub/Sub names of the landing notifications: ``infra/modules/pubsub`` creates them on gcp (named
#: by ``name_prefix``: Composer gets the subscription's as ``MLOPS_LANDING_SUBSCRIPTION``), the
#: local stack in the emulator (tests/infra/test_iac_matches_code.py keeps the defaults equal).
LANDING_TOPIC = "fraud-landing-notifications"
LANDING_SUBSCRIPTION = "fraud-landing-airflow"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of the active target; build with :func:`get_settings`."""

    target: Target
    project: str
    region: str
    dataset: str
    raw_dataset: str
    candidate_dataset: str
    snapshot_dataset: str
    raw_retention_days: int
    log_retention_days: int
    bq_location: str
    landing_bucket: str
    landing_prefix: str
    archive_prefix: str
    quarantine_bucket: str
    landing_subscription: str
    local_dir: Path
    pipeline_root: str
    model_store: str
    snapshot_ttl_days: int
    model_retention_days: int
    gcp_conn_id: str
    warehouse_conn_id: str
    pseudonym_kms_key_uri: str
    pseudonym_keyset: str
    pipeline_service_account: str | None
    sensor_poke_seconds: int
    storage_notifies: bool
    #: Seconds the landing watcher's trigger sleeps after an empty pull (events/watcher.py): a
    #: notification's wait, against three triggerer log lines a poll on an idle subscription.
    watcher_poll_seconds: float = 1.0
    max_bad_line_share: float = 0.01
    max_bad_lines: int = 10_000
    #: None: a transaction id is checked against all history (exact, reads every staging partition).
    dedup_horizon_days: int | None = None
    #: The Vertex endpoint's numeric id ("": unknown; the gcp function cannot call the endpoint without it).
    endpoint_id: str = ""
    #: Composer's environment bucket (its reserved ``GCS_BUCKET``; "": not on Composer).
    composer_bucket: str = ""

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    def _ref(self, dataset: str) -> str:
        return dataset if self.is_local else f"{self.project}.{dataset}"

    @property
    def dataset_ref(self) -> str:
        """Curated dataset as SQL references it: ``project.dataset`` on BigQuery, a schema on DuckDB."""
        return self._ref(self.dataset)

    @property
    def raw_dataset_ref(self) -> str:
        return self._ref(self.raw_dataset)

    @property
    def candidate_dataset_ref(self) -> str:
        return self._ref(self.candidate_dataset)

    @property
    def snapshot_dataset_ref(self) -> str:
        return self._ref(self.snapshot_dataset)

    @property
    def warehouse_path(self) -> Path:
        return self.local_dir / "warehouse" / "warehouse.duckdb"

    @property
    def snapshot_dir(self) -> Path:
        """Local snapshots are immutable Parquet files here (BigQuery table snapshots on gcp)."""
        return self.local_dir / "warehouse" / "snapshots"

    @property
    def online_store_path(self) -> Path:
        return self.local_dir / "online_store" / "features.sqlite"

    @property
    def registry_dir(self) -> Path:
        return self.local_dir / "registry"

    @property
    def warehouse_pool(self) -> str:
        """DuckDB allows one writing process: local warehouse tasks share a one-slot pool."""
        return "warehouse" if self.is_local else "default_pool"


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default ``os.environ``) without caching."""
    env = dict(os.environ if env is None else env)
    target_value = env.get("MLOPS_TARGET", "local").strip().lower()
    if target_value not in TARGETS:
        raise ValueError(f"MLOPS_TARGET must be one of {TARGETS}, got {target_value!r}")
    target: Target = target_value  # type: ignore[assignment]
    local_dir = Path(env.get("MLOPS_LOCAL_DIR", str(REPO_ROOT / ".local"))).resolve()
    project = env.get("GCP_PROJECT", "local-project")
    return Settings(
        target=target,
        project=project,
        region=env.get("GCP_REGION", "europe-west4"),
        dataset=env.get("MLOPS_BQ_DATASET", "fraud"),
        raw_dataset=env.get("MLOPS_BQ_RAW_DATASET", "fraud_raw"),
        candidate_dataset=env.get("MLOPS_BQ_CANDIDATE_DATASET", "fraud_candidates"),
        snapshot_dataset=env.get("MLOPS_BQ_SNAPSHOT_DATASET", "fraud_snapshots"),
        raw_retention_days=int(env.get("MLOPS_RAW_RETENTION_DAYS", "30")),
        log_retention_days=int(env.get("MLOPS_LOG_RETENTION_DAYS", "30")),
        bq_location=env.get("MLOPS_BQ_LOCATION", "EU"),
        landing_bucket=env.get("MLOPS_LANDING_BUCKET", "fraud-landing"),
        **_landing_prefixes(
            env.get("MLOPS_LANDING_PREFIX", "incoming/"), env.get("MLOPS_ARCHIVE_PREFIX", "processed/")
        ),
        quarantine_bucket=env.get("MLOPS_QUARANTINE_BUCKET", "fraud-quarantine"),
        landing_subscription=env.get("MLOPS_LANDING_SUBSCRIPTION", LANDING_SUBSCRIPTION),
        local_dir=local_dir,
        pipeline_root=env.get(
            "MLOPS_PIPELINE_ROOT",
            str(local_dir / "pipeline_root") if target == "local" else f"gs://{project}-pipeline-root",
        ),
        model_store=env.get("MLOPS_MODEL_STORE", "" if target == "local" else f"gs://{project}-models"),
        snapshot_ttl_days=int(env.get("MLOPS_SNAPSHOT_TTL_DAYS", "90")),
        model_retention_days=int(env.get("MLOPS_MODEL_RETENTION_DAYS", "365")),
        gcp_conn_id=env.get("MLOPS_GCP_CONN_ID", "google_cloud_default"),
        warehouse_conn_id=env.get("MLOPS_WAREHOUSE_CONN_ID", "fraud_warehouse"),
        pseudonym_kms_key_uri=env.get(
            "MLOPS_PSEUDONYM_KMS_KEY", "local-kms://pseudonym-kek" if target == "local" else ""
        ),
        pseudonym_keyset=env.get("MLOPS_PSEUDONYM_KEYSET", "").strip(),
        pipeline_service_account=env.get("MLOPS_PIPELINE_SA") or None,
        sensor_poke_seconds=int(env.get("MLOPS_SENSOR_POKE_SECONDS", "5")),
        watcher_poll_seconds=_poll_seconds(env.get("MLOPS_WATCHER_POLL_SECONDS", "1")),
        # Cloud Storage always notifies; gcp-storage-emulator never does, fake-gcs-server can.
        storage_notifies=target == "gcp"
        or env.get("MLOPS_STORAGE_NOTIFIES", "false").strip().lower() in ("1", "true", "yes"),
        max_bad_line_share=float(env.get("MLOPS_MAX_BAD_LINE_SHARE", "0.01")),
        max_bad_lines=int(env.get("MLOPS_MAX_BAD_LINES", "10000")),
        dedup_horizon_days=_horizon_days(env.get("MLOPS_DEDUP_HORIZON_DAYS", "all")),
        endpoint_id=env.get("MLOPS_ENDPOINT_ID", "").strip(),
        composer_bucket=env.get("GCS_BUCKET", "").strip(),
    )


#: A horizon longer than this would take the duplicate check's partition filter before year 1
#: for the earliest increments (BigQuery fails such a query); a century is all history anyway.
MAX_DEDUP_HORIZON_DAYS = 36_500


def _landing_prefixes(landing: str, archive: str) -> dict[str, str]:
    """The landing and archive prefixes, refused when one lies under the other: an archived copy
    would be a new landed file (a notification, another ingestion), archiving a file onto its own
    name would delete it, and the archive's expiry rule would delete files not yet ingested."""
    for name, value in (("MLOPS_LANDING_PREFIX", landing), ("MLOPS_ARCHIVE_PREFIX", archive)):
        if not value.endswith("/") or value == "/":
            raise ValueError(f"{name} must be a folder such as 'incoming/', got {value!r}")
    if landing.startswith(archive) or archive.startswith(landing):
        raise ValueError(
            f"MLOPS_LANDING_PREFIX {landing!r} and MLOPS_ARCHIVE_PREFIX {archive!r} must not nest"
        )
    return {"landing_prefix": landing, "archive_prefix": archive}


def _horizon_days(value: str) -> int | None:
    text = value.strip().lower()
    if text in ("", "all"):
        return None
    days = int(text) if text.isdigit() else -1
    if not 0 <= days <= MAX_DEDUP_HORIZON_DAYS:
        raise ValueError(
            f"MLOPS_DEDUP_HORIZON_DAYS must be 'all' or 0..{MAX_DEDUP_HORIZON_DAYS}, got {value!r}"
        )
    return days


def _poll_seconds(value: str) -> float:
    """The watcher's poll in seconds, more than 0: a poll of 0 would pull in a tight loop."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"MLOPS_WATCHER_POLL_SECONDS must be a number of seconds above 0, got {value!r}")
    return seconds


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of the active target, read once per process."""
    return settings_from_env()
