# Leviathan scheduler: Celery beat, the selection worker, the `leviathan` CLI, and Flower.
#   docker build -f ops/docker/scheduler.Dockerfile -t leviathan-scheduler:local .
# One image, three commands (see docker-compose.yml and deploy/k8s/base):
#   celery -A leviathan_scheduler.celery_app beat
#   celery -A leviathan_scheduler.celery_app worker -Q leviathan.scheduler -E
#   celery -A leviathan_scheduler.celery_app flower --port=5555
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
RUN uv sync --frozen --no-dev --package leviathan-scheduler --no-install-workspace
# Flower is a development dependency of the workspace; install it at the version
# uv.lock pins (the lock is exported as a constraints file), nothing newer.
RUN uv export --frozen --all-packages --all-groups --no-hashes --no-emit-workspace \
       --no-header --quiet -o /tmp/constraints.txt \
    && uv pip install --python /app/.venv/bin/python --constraint /tmp/constraints.txt flower
COPY core/src core/src
COPY adapters/src adapters/src
COPY services/scheduler/src services/scheduler/src
RUN uv sync --frozen --no-dev --package leviathan-scheduler --no-editable --inexact

FROM ${PYTHON_IMAGE} AS runtime
# git: beat, the selection worker and the CLI read the backlog through a git mirror
# (GitPython refuses to import without the executable). Unpinned on purpose: the
# Debian security archive replaces old patch versions; the base image fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 leviathan \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/leviathan \
       --shell /usr/sbin/nologin leviathan \
    && install -d -o 10001 -g 10001 /data /data/runs /cache
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LEVIATHAN_DATA_DIR=/data \
    LEVIATHAN_CACHE_DIR=/cache
WORKDIR /home/leviathan
USER 10001:10001
# No HEALTHCHECK: the image runs beat, a worker or Flower, and each needs its own
# probe; docker-compose.yml defines one per service.
CMD ["celery", "-A", "leviathan_scheduler.celery_app", "worker", "-Q", "leviathan.scheduler", "-E", "--loglevel=INFO"]
