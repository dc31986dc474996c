# Vertex AI serving side: the Feature Online Store and its Feature View over the BigQuery
# table latest_card_features (each card's latest features, maintained by ingestion), and the endpoint the training pipeline deploys to. Ids match
# fraud_mlops.features (FEATURE_ONLINE_STORE_ID, FEATURE_VIEW_ID, ENTITY_KEY).

resource "google_vertex_ai_feature_online_store" "fraud" {
  project = var.project_id
  region  = var.region
  name    = "fraud_online_store"

  bigtable {
    auto_scaling {
      min_node_count         = 1
      max_node_count         = var.online_store_max
      cpu_utilization_target = 70
    }
  }
}

# No sync_config: the ingestion DAG syncs after each snapshot (SyncFeatureViewOperator), so
# the online values change when, and only when, a new training snapshot exists.
resource "google_vertex_ai_feature_online_store_featureview" "card_features" {
  count = var.create_feature_view ? 1 : 0

  project              = var.project_id
  region               = var.region
  feature_online_store = google_vertex_ai_feature_online_store.fraud.name
  name                 = "card_features"

  big_query_source {
    uri               = var.source_view_uri
    entity_id_columns = ["card_pseudonym"]
  }
}

resource "google_vertex_ai_endpoint" "fraud" {
  project      = var.project_id
  location     = var.region
  region       = var.region
  name         = var.endpoint_id
  display_name = "fraud-endpoint"
  description  = "Fraud model versions; the training pipeline deploys here with a canary split."
}

# --- inference: predict on this endpoint, read this feature view; nothing else in Vertex ---

# Custom roles with exactly the prediction function's calls: on the endpoint, roles/aiplatform.user
# would also let the identity closest to callers deploy, undeploy, re-split traffic or delete
# the endpoint (aiplatform.endpoints.deploy/undeploy/update/delete). Google's access-control
# page gives aiplatform.endpoints.predict alone as its example of a least-privilege custom role.
resource "google_project_iam_custom_role" "endpoint_predictor" {
  project     = var.project_id
  role_id     = "fraudEndpointPredictor"
  title       = "fraud-mlops: predict on an endpoint"
  description = "Online predictions on the endpoint it is granted on: aiplatform.endpoints.predict only."
  permissions = ["aiplatform.endpoints.predict"]
}

# FetchFeatureValues answers NOT_FOUND for a missing view as for a missing key: the function
# asks GetFeatureView to tell them apart (fraud_mlops/feature_store/vertex.py).
resource "google_project_iam_custom_role" "feature_view_reader" {
  project     = var.project_id
  role_id     = "fraudFeatureViewReader"
  title       = "fraud-mlops: read a feature view online"
  description = "Online feature values of the feature view it is granted on, and the view's own existence."
  permissions = ["aiplatform.featureViews.fetchFeatureValues", "aiplatform.featureViews.get"]
}

resource "google_vertex_ai_endpoint_iam_member" "fraud_inference" {
  provider = google-beta

  project  = var.project_id
  location = var.region
  endpoint = google_vertex_ai_endpoint.fraud.name
  role     = google_project_iam_custom_role.endpoint_predictor.id
  member   = var.members.inference
}

resource "google_vertex_ai_feature_online_store_featureview_iam_member" "card_features_inference" {
  provider = google-beta
  count    = var.create_feature_view ? 1 : 0

  project              = var.project_id
  region               = var.region
  feature_online_store = google_vertex_ai_feature_online_store.fraud.name
  feature_view         = google_vertex_ai_feature_online_store_featureview.card_features[0].name
  role                 = google_project_iam_custom_role.feature_view_reader.id
  member               = var.members.inference
}

# The erase DAG's last check looks the erased card up as the function would, and fails the run
# while the view still answers for it (fraud_mlops/orchestration/erasure.py confirm_card_not_served).
resource "google_vertex_ai_feature_online_store_featureview_iam_member" "card_features_erasure_check" {
  provider = google-beta
  count    = var.create_feature_view ? 1 : 0

  project              = var.project_id
  region               = var.region
  feature_online_store = google_vertex_ai_feature_online_store.fraud.name
  feature_view         = google_vertex_ai_feature_online_store_featureview.card_features[0].name
  role                 = google_project_iam_custom_role.feature_view_reader.id
  member               = var.members.orchestration
}

# --- the project's images (images/, `make images`): model server and training ---

# The model server is the serving container of every registered model version and of batch
# prediction; the training image runs the pipeline's components (no installs at start-up).
# Vertex AI pulls images of its own project's Artifact Registry with its service agent's
# default access; tags carry the pinned scikit-learn and NumPy and a digest of the build inputs (registry/images.py).
resource "google_artifact_registry_repository" "images" {
  project       = var.project_id
  location      = var.region
  repository_id = "fraud-images"
  format        = "DOCKER"
  description   = "Model server and training images (fraud_mlops/registry/images.py)."
}
