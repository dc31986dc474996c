# Root module: wires one module per concern. Every IAM grant lives next to the resource it
# is scoped to; docs/least_privilege.md lists them all and tests/infra checks the two agree.

locals {
  labels = merge({ app = "fraud-mlops", managed-by = "opentofu" }, var.labels)

  # Composer's meaning of requirements.txt: the PyPI packages installed on top of its image.
  # Every line is `name==version` (tests/infra enforces it), so this parse is exact.
  requirement_lines = [
    for line in split("\n", file("${path.module}/../requirements.txt")) : trimspace(line)
    if trimspace(line) != "" && !startswith(trimspace(line), "#")
  ]
  pypi_packages = {
    for line in local.requirement_lines : lower(split("==", line)[0]) => "==${split("==", line)[1]}"
  }

  # One map of every principal a grant may name: our service accounts and Google's agents.
  members = merge(module.service_accounts.members, local.agent_members)

  # Composer's Secret Manager backend looks connections up as airflow-connections-<conn id>.
  connections_prefix = "airflow-connections"

  # The function's pseudonym keyset: the KEK's URI and the keyset it wrapped (ciphertext).
  pseudonym_env = {
    MLOPS_PSEUDONYM_KMS_KEY = module.pseudonym_kms.key_uri
    MLOPS_PSEUDONYM_KEYSET  = var.pseudonym_wrapped_keyset
  }
}

module "apis" {
  source = "./modules/apis"

  project_id = var.project_id
}

module "service_accounts" {
  source = "./modules/service_accounts"

  project_id         = var.project_id
  project_number     = data.google_project.this.number
  prefix             = var.name_prefix
  agent_members      = local.agent_members
  connections_prefix = local.connections_prefix

  depends_on = [module.apis]
}

module "storage" {
  source = "./modules/storage"

  project_id     = var.project_id
  region         = var.region
  prefix         = var.name_prefix
  archive_prefix = var.archive_prefix
  # Archived and quarantined files hold card numbers: they go with the raw rows' retention.
  retention_days = merge(var.retention_days, {
    landing_archive = var.raw_retention_days
    quarantine      = var.raw_retention_days
  })
  kms_key_name = var.kms_key_name
  members      = local.members

  depends_on = [google_kms_crypto_key_iam_member.gcs_agent]
}

module "bigquery" {
  source = "./modules/bigquery"

  project_id           = var.project_id
  dataset_id           = var.dataset_id
  raw_dataset_id       = var.raw_dataset_id
  candidate_dataset_id = var.candidate_dataset_id
  snapshot_dataset_id  = var.snapshot_dataset_id
  raw_retention_days   = var.raw_retention_days
  location             = var.bq_location
  kms_key_name         = var.bigquery_kms_key_name
  members              = local.members

  depends_on = [google_kms_crypto_key_iam_member.bigquery_agent]
}

module "pubsub" {
  source = "./modules/pubsub"

  project_id     = var.project_id
  prefix         = var.name_prefix
  landing_bucket = module.storage.bucket_names["landing"]
  landing_prefix = var.landing_prefix
  kms_key_name   = var.kms_key_name
  members        = local.members

  depends_on = [google_kms_crypto_key_iam_member.pubsub_agent]
}

module "pseudonym_kms" {
  source = "./modules/pseudonym_kms"

  project_id = var.project_id
  prefix     = var.name_prefix
  location   = var.pseudonym_kms_location
  members    = local.members

  depends_on = [module.apis]
}

module "vertex" {
  source = "./modules/vertex"

  project_id          = var.project_id
  region              = var.region
  endpoint_id         = var.endpoint_id
  source_view_uri     = "bq://${var.project_id}.${module.bigquery.dataset_id}.latest_card_features"
  online_store_max    = var.online_store_max_nodes
  create_feature_view = var.create_feature_view
  members             = local.members

  # the feature view reads latest_card_features with the Vertex AI service agent's grant on the
  # dataset: both made by module.bigquery, which the source URI names only by its dataset id
  depends_on = [module.apis, module.bigquery]
}

module "prediction_function" {
  source = "./modules/prediction_function"

  project_id       = var.project_id
  region           = var.region
  prefix           = var.name_prefix
  source_dir       = var.function_source_dir
  source_bucket    = module.storage.function_source_bucket
  project_number   = data.google_project.this.number
  entry_point      = var.function_entry_point
  ingress          = var.function_ingress
  instances        = var.function_instances
  runtime_sa_email = module.service_accounts.emails["inference"]
  builder_sa_id    = module.service_accounts.ids["builder"]
  environment = merge({
    MLOPS_TARGET     = "gcp"
    GCP_PROJECT      = var.project_id
    GCP_REGION       = var.region
    MLOPS_BQ_DATASET = module.bigquery.dataset_id
    # The endpoint by id: finding it by display name would need endpoints.list on the project.
    MLOPS_ENDPOINT_ID = module.vertex.endpoint_id
  }, local.pseudonym_env, var.function_env)
  members = local.members

  depends_on = [module.apis]
}

module "monitoring" {
  source = "./modules/monitoring"

  project_id            = var.project_id
  prefix                = var.name_prefix
  location              = var.bq_location
  log_dataset_id        = "${var.dataset_id}_logs"
  function_service_name = module.prediction_function.name
  endpoint_id           = module.vertex.endpoint_id # the dashboard's endpoint charts
  log_retention_days    = var.log_retention_days
  alert_email           = var.alert_email
  kms_key_name          = var.bigquery_kms_key_name # the log dataset
  members               = local.members

  # BigQuery's agent must hold the key before the log dataset (and the table the sink makes)
  depends_on = [module.apis, google_kms_crypto_key_iam_member.bigquery_agent]
}

module "composer" {
  source = "./modules/composer"

  project_id       = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-composer"
  image_version    = var.composer_image_version
  environment_size = var.composer_environment_size
  private          = var.composer_private_environment
  bucket_name      = module.storage.bucket_names["composer"]
  service_account  = module.service_accounts.emails["orchestration"]
  pypi_packages    = local.pypi_packages
  # Names the DAGs read through fraud_mlops.settings. GCP_PROJECT is not set here: it is a
  # Composer-reserved variable that Composer itself sets to the project id.
  env_variables = {
    MLOPS_TARGET               = "gcp"
    GCP_REGION                 = var.region
    MLOPS_BQ_DATASET           = module.bigquery.dataset_id
    MLOPS_BQ_RAW_DATASET       = module.bigquery.raw_dataset_id
    MLOPS_BQ_CANDIDATE_DATASET = module.bigquery.candidate_dataset_id
    MLOPS_BQ_SNAPSHOT_DATASET  = module.bigquery.snapshot_dataset_id
    MLOPS_RAW_RETENTION_DAYS   = tostring(var.raw_retention_days)
    MLOPS_LOG_RETENTION_DAYS   = tostring(var.log_retention_days)
    MLOPS_DEDUP_HORIZON_DAYS   = var.dedup_horizon_days
    # A registered model's training snapshot: kept this long after registration and after
    # each training run it is champion in (92_champion_snapshot.sql).
    MLOPS_MODEL_RETENTION_DAYS = tostring(var.retention_days.pipeline_root)
    MLOPS_BQ_LOCATION          = var.bq_location
    MLOPS_LANDING_BUCKET       = module.storage.bucket_names["landing"]
    MLOPS_LANDING_PREFIX       = var.landing_prefix
    MLOPS_ARCHIVE_PREFIX       = var.archive_prefix
    MLOPS_QUARANTINE_BUCKET    = module.storage.bucket_names["quarantine"]
    MLOPS_LANDING_SUBSCRIPTION = module.pubsub.subscription
    MLOPS_WATCHER_POLL_SECONDS = tostring(var.watcher_poll_seconds)
    MLOPS_PIPELINE_ROOT        = "gs://${module.storage.bucket_names["pipeline_root"]}"
    MLOPS_MODEL_STORE          = "gs://${module.storage.bucket_names["models"]}"
    MLOPS_PIPELINE_SA          = module.service_accounts.emails["pipeline"]
    # The endpoint by id: training deploys to it, the canary task re-splits it, tasks link to it.
    MLOPS_ENDPOINT_ID = module.vertex.endpoint_id
    # The pseudonym keyset's KEK and the keyset it wrapped (ciphertext): BigQuery unwraps it.
    MLOPS_PSEUDONYM_KMS_KEY = module.pseudonym_kms.key_uri
    MLOPS_PSEUDONYM_KEYSET  = var.pseudonym_wrapped_keyset
  }
  connections_prefix = local.connections_prefix

  depends_on = [module.service_accounts]
}
