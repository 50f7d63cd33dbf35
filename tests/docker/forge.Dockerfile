# The container tier's forge: GitHub's REST API (the project's GitHub fake) and
# git's smart HTTP, in one server on the compose network (tests/docker/forge_app.py).
# Built by tests/docker/engine.py from a context holding only the fake's sources.
ARG FORGE_BASE=leviathan-control-plane:local
FROM ${FORGE_BASE}
USER root
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
COPY tests /srv/forge/tests
WORKDIR /srv/forge
USER 10001:10001
EXPOSE 8080
CMD ["python", "-m", "tests.docker.forge_app", "--root", "/srv/git"]
