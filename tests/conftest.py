"""Session-wide fixtures: one real redis-server per test process; every GitHub fake's
answers held to GitHub's REST description."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.servers import RedisServer, redis_executable


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free port, shared by the tests of one xdist worker."""
    if redis_executable() is None:
        pytest.skip("no redis-server binary: run `make install`")
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean database on the session's server (FLUSHDB on our own server only)."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield redis_server.url
    client.close()


@pytest.fixture(autouse=True)
def _github_fake_answers_follow_github() -> Iterator[None]:
    """Fail a test whose GitHub fake answered what GitHub's description does not allow."""
    yield
    fake = sys.modules.get("tests.support.github_fake")
    found = fake.unreported() if fake is not None else []
    if found:
        pytest.fail(
            "the GitHub fake answered outside GitHub's REST description "
            "(tests/fixtures/github-openapi/subset.json):\n" + "\n".join(found[:10]),
            pytrace=False,
        )
