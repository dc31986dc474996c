# syntax=docker/dockerfile:1
# Image of the docker-compose stack (docker-compose.yaml): the official Airflow 3 image at the
# locked Airflow version, plus every package of uv.lock at its locked version, i.e. the same
# environment as .venv/. tests/infra/test_containers.py checks these versions against the lock.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# The lock as a flat, pinned requirements list (runtime dependencies only, no dev tools).
FROM python:${PYTHON_VERSION}-slim AS lock
COPY --from=uv /uv /usr/local/bin/uv
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN uv export --frozen --no-dev --no-emit-project --no-hashes --output-file /requirements.lock.txt

FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG AIRFLOW_VERSION
COPY --from=lock /requirements.lock.txt /requirements.lock.txt
# Naming apache-airflow again keeps pip from moving the image's Airflow (the image's own advice).
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /requirements.lock.txt
# The local target's data folder (DuckDB warehouse, snapshots, online store, model registry) is
# a named volume mounted here: created by the airflow user, the volume starts with that owner.
RUN mkdir -p /opt/airflow/.local
