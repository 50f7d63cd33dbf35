"""The write routes under real uvicorn: the token before the body, the body off the loop.

A write without the right token is answered 401 before any byte of its body
is read, so neither a body past the cap (413 otherwise) nor a body that never
ends (no answer otherwise) changes that answer. Reading and validating a body
happens in a worker thread: the event loop serves other requests meanwhile.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.support.control_plane import ControlPlane, running_control_plane

from leviathan_control_plane.log import intake

CAP = 64 * 1024
WRITES = ("/v1/events", "/v1/events/ingest", "/v1/targets/radix/breaker/reset")
BAD_TOKENS: tuple[dict[str, str], ...] = (
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Basic x"},
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with running_control_plane(tmp_path_factory.mktemp("cp"), max_body_bytes=CAP) as cp:
        yield cp


def read_401_of(plane: ControlPlane, headers: dict[str, str]) -> httpx.Response:
    """The 401 a read route gives: the token's answer as the dependency makes it."""
    return httpx.get(f"{plane.url}/v1/targets", headers=headers, timeout=30)


def over_cap() -> Iterator[bytes]:
    """A chunked body (no Content-Length) three times the cap."""
    yield b'{"events": ['
    for _ in range(3 * CAP // 1000):
        yield b'"' + b"x" * 1000 + b'",'
    yield b'"x"]}'


@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize("headers", BAD_TOKENS, ids=["none", "wrong", "basic"])
def test_bad_token_over_the_cap_is_401_not_413(
    plane: ControlPlane, path: str, headers: dict[str, str]
) -> None:
    response = httpx.post(
        f"{plane.url}{path}",
        content=over_cap(),
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 401
    expected = read_401_of(plane, headers)
    assert response.json() == expected.json()
    assert response.headers["www-authenticate"] == expected.headers["www-authenticate"]


def test_good_token_over_the_cap_is_still_413(plane: ControlPlane) -> None:
    response = httpx.post(
        f"{plane.url}/v1/events",
        content=over_cap(),
        headers={"Authorization": f"Bearer {plane.token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413


def _answer_while_body_is_held(
    plane: ControlPlane, path: str, headers: dict[str, str], framing: str
) -> tuple[int, dict[str, str], Any]:
    """Send the headers and a first piece of the body, never the rest; read the answer.

    The socket's timeout bounds the wait: no answer in time fails the test.
    """
    url = urlsplit(plane.url)
    first = b'{"events": ['
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {url.netloc}",
        "Content-Type: application/json",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    if framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        piece = f"{len(first):x}\r\n".encode() + first + b"\r\n"
    else:
        lines.append("Content-Length: 4096")  # under the cap; only the first bytes follow
        piece = first
    with socket.create_connection((url.hostname, url.port), timeout=15) as sock:
        sock.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + piece)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                assert chunk, "the server closed the connection without an answer"
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            answer_headers = {
                k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)
            }
            while len(body) < int(answer_headers["content-length"]):
                chunk = sock.recv(65536)
                assert chunk, "the server closed the connection mid-answer"
                body += chunk
        except TimeoutError:
            pytest.fail(f"no answer to {path} while its body was held (got {received!r})")
    return int(status_line.split()[1]), answer_headers, json.loads(body)


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize("headers", BAD_TOKENS, ids=["none", "wrong", "basic"])
def test_bad_token_with_a_body_that_never_ends_is_401(
    plane: ControlPlane, path: str, headers: dict[str, str], framing: str
) -> None:
    status, answer_headers, body = _answer_while_body_is_held(plane, path, headers, framing)
    assert status == 401
    expected = read_401_of(plane, headers)
    assert body == expected.json()
    assert answer_headers["www-authenticate"] == expected.headers["www-authenticate"]
    assert httpx.get(f"{plane.url}/healthz", timeout=30).status_code == 200


def _event(target: str, minute: int) -> dict[str, Any]:
    return {
        "event_id": f"{target}:cycle:{minute}",
        "type": "scheduler.cycle",
        "target_id": target,
        "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
        "actor": "test",
    }


def test_loop_answers_while_a_batch_is_validated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's validation waits until /healthz has answered, so /healthz can only
    answer if that validation is not holding the event loop."""
    validating, healthz_answered = threading.Event(), threading.Event()
    real_validate = intake.validate_event

    def held_validate(data: Any, prefix: list[str | int]) -> Any:
        validating.set()
        healthz_answered.wait(timeout=60)
        return real_validate(data, prefix)

    monkeypatch.setattr(intake, "validate_event", held_validate)
    target = f"t-{uuid.uuid4().hex[:10]}"
    batch = {"events": [_event(target, m) for m in range(1000)]}
    posted: list[httpx.Response] = []
    with running_control_plane(tmp_path / "cp") as cp:
        headers = {"Authorization": f"Bearer {cp.token}"}

        def post() -> None:
            posted.append(
                httpx.post(f"{cp.url}/v1/events", json=batch, headers=headers, timeout=120)
            )

        poster = threading.Thread(target=post)
        poster.start()
        try:
            assert validating.wait(timeout=60), "the batch never reached validation"
            health = httpx.get(f"{cp.url}/healthz", timeout=10)
            assert health.status_code == 200
        finally:
            healthz_answered.set()
            poster.join(timeout=120)
    assert posted, "the batch got no answer"
    assert posted[0].status_code == 201
    assert posted[0].json()["created"] == 1000
