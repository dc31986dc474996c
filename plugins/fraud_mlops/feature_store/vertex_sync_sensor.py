"""Waiting for a Vertex feature-view sync, failing on an answer no wait can change.

The provider's ``FeatureViewSyncSensor`` logs every exception of its poke and pokes again
until its timeout (three hours here), so a Composer account without
``aiplatform.featureViewSyncs.get``, or a sync name that does not exist, showed as a slow sync
for three hours. This sensor keeps the provider's operator (its template fields, its UI) and
its rule (done once Vertex reports an end time; also on a final status that is an error, as a
sync that fails before it runs may have no end time, and the provider's rule waited three hours),
and lets Google's client errors for requests
that cannot succeed as sent (400, 401, 403, 404) fail the poke, so the task fails after its
usual retries (they cover a fixed grant, or a sync Vertex has not yet made readable); every other
error (unavailable, deadline, quota, transport, and google-auth's own, such as a refused token
refresh) is still waited out, as the provider does.

Imported only when the gcp sync tasks are built (``VertexFeatureStore.sync_operators``): the
provider's sensor module is not imported while a DAG file is parsed on the local target.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.google.cloud.hooks.vertex_ai.feature_store import FeatureStoreHook
from airflow.providers.google.cloud.sensors.vertex_ai.feature_store import FeatureViewSyncSensor
from google.api_core import exceptions

from fraud_mlops.feature_store.sync import read_vertex_sync

#: Answers about the request itself, which a later poke would get again (InvalidArgument,
#: FailedPrecondition and OutOfRange are BadRequests; Unauthenticated and PermissionDenied are
#: Unauthorized and Forbidden).
NOT_WAITED_OUT: tuple[type[Exception], ...] = (
    exceptions.BadRequest,
    exceptions.Unauthorized,
    exceptions.Forbidden,
    exceptions.NotFound,
)


class FeatureViewSyncDoneSensor(FeatureViewSyncSensor):
    """``FeatureViewSyncSensor`` that fails on a 400, 401, 403 or 404 instead of waiting them out.

    One ``GetFeatureViewSync`` call per poke (``read_vertex_sync``, which keeps Google's error
    types). The provider's ``wait_timeout`` is not used here (the sensor's ``timeout`` bounds the
    wait). Whether the sync succeeded is ``record_feature_sync``'s question (``final_status``).
    """

    def poke(self, context: Any) -> bool:
        hook = FeatureStoreHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
        name = self.feature_view_sync_name
        try:
            report = read_vertex_sync(hook, self.location, name)
        except NOT_WAITED_OUT:
            self.log.error("Vertex refused to report feature view sync %s", name)
            raise
        except Exception as err:  # unavailable, deadline, quota, transport: the next poke may pass
            self.log.warning("Could not read feature view sync %s, will poke again: %s", name, err)
            return False
        if report.get("end_time"):
            self.log.info(
                "Feature view sync %s has ended (rows synced: %s)", name, report["sync_summary"]["row_synced"]
            )
            return True
        if report["final_status"]["code"]:  # final: a sync that failed before it ran has no end time
            self.log.error("Feature view sync %s failed before it ran: %s", name, report["final_status"])
            return True
        self.log.info("Waiting for feature view sync %s to end", name)
        return False
