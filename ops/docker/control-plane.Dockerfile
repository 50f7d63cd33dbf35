# Leviathan control plane: FastAPI event log and projections, served by uvicorn on 8000.
#   docker build -f ops/docker/control-plane.Dockerfile -t leviathan-control-plane:local .
# Dependencies come only from uv.lock (`--frozen`); no secret is read at build time.
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
# Every workspace member's pyproject.toml is needed for uv to read the workspace;
# copying them before the sources keeps the dependency layer cached across code edits.
COPY uv.lock pyproject.toml ./
COPY core/pyproject.toml core/
COPY adapters/pyproject.toml adapters/
COPY services/scheduler/pyproject.toml services/scheduler/
COPY services/worker-dispatch/pyproject.toml services/worker-dispatch/
COPY services/worker/pyproject.toml services/worker/
COPY services/control-plane/pyproject.toml services/control-plane/
RUN uv sync --frozen --no-dev --package leviathan-control-plane --no-install-workspace
COPY core/src core/src
COPY adapters/src adapters/src
COPY services/control-plane/src services/control-plane/src
RUN uv sync --frozen --no-dev --package leviathan-control-plane --no-editable

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 leviathan \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/leviathan \
       --shell /usr/sbin/nologin leviathan \
    && install -d -o 10001 -g 10001 /data /cache
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LEVIATHAN_DATA_DIR=/data \
    LEVIATHAN_CACHE_DIR=/cache \
    LEVIATHAN_DATABASE_URL=sqlite:////data/control-plane.db
WORKDIR /home/leviathan
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["leviathan-control-plane", "--host", "0.0.0.0", "--port", "8000"]
