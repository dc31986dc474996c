#!/bin/sh
# Create what the local target expects in the emulators: the landing and quarantine buckets,
# the landing-notifications topic and Airflow's subscription. Idempotent (409 = exists).
# Runs in the `emulators-init` service of docker-compose.yaml and docker-compose.override.yml
# (curl only), with the names passed as environment variables.
set -eu

: "${GCP_PROJECT:?}" "${GCS_URL:?}" "${PUBSUB_URL:?}" "${BUCKETS:?}" "${TOPIC:?}" "${SUBSCRIPTION:?}"

# call METHOD URL [JSON BODY]: succeed on 2xx and 409, fail loudly otherwise.
call() {
  method=$1
  url=$2
  body=${3:-}
  if [ -n "$body" ]; then
    code=$(curl -sS -o /tmp/response -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' -d "$body" "$url")
  else
    code=$(curl -sS -o /tmp/response -w '%{http_code}' -X "$method" "$url")
  fi
  case "$code" in
    2??) echo "created: $method $url" ;;
    409) echo "exists:  $method $url" ;;
    *)
      echo "failed ($code): $method $url" >&2
      cat /tmp/response >&2
      exit 1
      ;;
  esac
}

for bucket in $BUCKETS; do
  call POST "$GCS_URL/storage/v1/b?project=$GCP_PROJECT" "{\"name\": \"$bucket\"}"
done
call PUT "$PUBSUB_URL/v1/projects/$GCP_PROJECT/topics/$TOPIC"
call PUT "$PUBSUB_URL/v1/projects/$GCP_PROJECT/subscriptions/$SUBSCRIPTION" \
  "{\"topic\": \"projects/$GCP_PROJECT/topics/$TOPIC\", \"ackDeadlineSeconds\": 60}"
