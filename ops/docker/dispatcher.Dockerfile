# Leviathan dispatcher: consumes leviathan.dispatch and starts one worker per attempt.
#   docker build -f ops/docker/dispatcher.Dockerfile -t leviathan-dispatcher:local .
# Two targets:
#   dispatcher (default, last stage)  executor: kubernetes; creates worker Jobs
#   local                             executor: local; also carries leviathan-worker and
#                                     git, because it runs the worker as a subprocess
#                                     (docker-compose.yml builds this one)
# PYTHON_IMAGE: the base, pinned by tag; `--build-arg PYTHON_IMAGE=...` swaps in a mirror
# or a local stand-in (scripts/docker/stand-in-images.sh) where no registry answers.
ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_VERSION=0.13.9

FROM ${PYTHON_IMAGE} AS build-base
ARG UV_VERSION
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
COPY uv.lock pyproject.toml ./
COPY core/pyproject.toml core/
COPY adapters/pyproject.toml adapters/
COPY services/scheduler/pyproject.toml services/scheduler/
COPY services/worker-dispatch/pyproject.toml services/worker-dispatch/
COPY services/worker/pyproject.toml services/worker/
COPY services/control-plane/pyproject.toml services/control-plane/

FROM build-base AS build
RUN uv sync --frozen --no-dev --package leviathan-dispatch --no-install-workspace
COPY core/src core/src
COPY adapters/src adapters/src
COPY services/worker-dispatch/src services/worker-dispatch/src
RUN uv sync --frozen --no-dev --package leviathan-dispatch --no-editable

FROM build-base AS build-local
RUN uv sync --frozen --no-dev --package leviathan-dispatch --package leviathan-worker \
       --no-install-workspace
COPY core/src core/src
COPY adapters/src adapters/src
COPY services/worker-dispatch/src services/worker-dispatch/src
COPY services/worker/src services/worker/src
RUN uv sync --frozen --no-dev --package leviathan-dispatch --package leviathan-worker \
       --no-editable

FROM ${PYTHON_IMAGE} AS runtime-base
# /data/runs exists in the image, owned by the service user, because compose mounts
# the shared local-runs volume there: a fresh named volume takes the ownership of
# the image's folder, and a missing folder would be created for root.
RUN groupadd --system --gid 10001 leviathan \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/leviathan \
       --shell /usr/sbin/nologin leviathan \
    && install -d -o 10001 -g 10001 /data /data/runs /cache /workspace
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LEVIATHAN_DATA_DIR=/data \
    LEVIATHAN_CACHE_DIR=/cache
WORKDIR /home/leviathan

FROM runtime-base AS local
# git and bubblewrap (the command engine's sandbox) are unpinned on purpose:
# the Debian security archive replaces old patch versions, so a pin would break
# rebuilds; the base image tag fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git bubblewrap ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build-local /app/.venv /app/.venv
USER 10001:10001
CMD ["leviathan-dispatcher"]

FROM runtime-base AS dispatcher
COPY --from=build /app/.venv /app/.venv
USER 10001:10001
# No HEALTHCHECK: a Celery consumer has no HTTP port; Kubernetes restarts it when
# it exits, and `celery inspect ping` / Flower show whether it consumes.
CMD ["leviathan-dispatcher"]
