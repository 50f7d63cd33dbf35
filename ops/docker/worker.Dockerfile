# Leviathan worker: runs one attempt (clone, change, verify, push, open the PR).
#   docker build -f ops/docker/worker.Dockerfile -t leviathan-worker:local .
# The dispatcher runs it as a Kubernetes Job whose environment carries the attempt.
# PYTHON_IMAGE: the base, pinned by tag; `--build-arg PYTHON_IMAGE=...` swaps in a mirror
# or a local stand-in (scripts/docker/stand-in-images.sh) where no registry answers.
ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_VERSION=0.13.9

FROM ${PYTHON_IMAGE} AS build
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
RUN uv sync --frozen --no-dev --package leviathan-worker --no-install-workspace
COPY core/src core/src
COPY adapters/src adapters/src
COPY services/worker/src services/worker/src
RUN uv sync --frozen --no-dev --package leviathan-worker --no-editable

FROM ${PYTHON_IMAGE} AS runtime
# git and bubblewrap (the command engine's sandbox) are unpinned on purpose:
# the Debian security archive replaces old patch versions, so a pin would break
# rebuilds; the base image tag fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git bubblewrap ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 leviathan \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/leviathan \
       --shell /usr/sbin/nologin leviathan \
    && install -d -o 10001 -g 10001 /data /cache /workspace
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LEVIATHAN_DATA_DIR=/data \
    LEVIATHAN_CACHE_DIR=/cache \
    GIT_TERMINAL_PROMPT=0
WORKDIR /workspace
USER 10001:10001
# No HEALTHCHECK: the worker is a run-to-completion Job; its exit code is the health.
CMD ["leviathan-worker", "run"]
