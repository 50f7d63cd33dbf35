"""HTTP client of the control plane, used by the scheduler and the worker.

Retries connection errors and 5xx with backoff (never a 4xx: the answer would
not change). Events carry deterministic ids, so a retry of a post that did
land is a duplicate, not a second count. When the control plane stays away,
events go to a local spool (one JSON per line, fsync'd) and are sent, in
order and with the same ids, before anything newer.

Answers are classified by whose fault they are. The control plane away
(connection errors, 5xx) or refusing the sender's credentials (401, 403):
events wait in the spool, since the record is fine and a later try with the
right LEVIATHAN_CONTROL_PLANE_TOKEN delivers it. Any other 4xx refuses the
event itself (422 invalid, 409 conflicting): a spooled event so refused goes
to ``<spool>.quarantine`` so it cannot block the others forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from leviathan_adapters.state_reads import StateReads
from leviathan_core.events import Event, utcnow
from leviathan_core.state import AttemptSummary, TargetState

log = logging.getLogger("leviathan.control_plane_client")

BATCH_EVENTS = 200
BATCH_BYTES = 512 * 1024
AUTH_STATUSES = frozenset({401, 403})
TOKEN_SETTING = "LEVIATHAN_CONTROL_PLANE_TOKEN"  # noqa: S105 (a variable name)
STATES_PER_REQUEST = 100  # the control plane's cap per GET /v1/targets/states
POOL_CONNECTIONS = 64  # one per concurrent cycle of a threads-pool worker, with room


def shared_http(
    base_url: str,
    token: str | SecretStr | None,
    *,
    timeout: float = 5.0,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """An HTTP client for the control plane at ``base_url``, to share between targets."""
    secret = token.get_secret_value() if isinstance(token, SecretStr) else token
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    limits = httpx.Limits(
        max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS
    )
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers=headers,
        timeout=timeout,
        transport=transport,
        limits=limits,
    )


class ControlPlaneUnavailable(RuntimeError):
    """Connection errors, timeouts or 5xx after every retry."""


class ControlPlaneRejected(RuntimeError):
    """A 4xx answer; retrying the same request cannot help."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"control plane answered {status}: {detail}")
        self.status = status
        self.detail = detail


class ControlPlaneAuthFailed(ControlPlaneRejected):
    """401 or 403: the sender's token is wrong, not the record; spooled events wait."""


class PostOutcome(BaseModel):
    event_id: str
    status: Literal["created", "duplicate", "spooled"]


def _batches(events: Sequence[Event]) -> Iterator[list[Event]]:
    """Chunks under both the event and the byte cap of one request."""
    chunk: list[Event] = []
    size = 0
    for event in events:
        length = len(json.dumps(event.wire()))
        if chunk and (len(chunk) >= BATCH_EVENTS or size + length > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(event)
        size += length
    if chunk:
        yield chunk


class ControlPlaneClient:
    def __init__(
        self,
        base_url: str,
        token: str | SecretStr | None,
        *,
        spool_path: Path | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.2,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        state_reads: StateReads | None = None,
    ) -> None:
        """``http``: a client shared by many targets' clients (its pool, its token);
        ``state_reads``: where ``target_state`` goes instead of one request per call."""
        self._owned = http is None
        if http is None:
            http = shared_http(base_url, token, timeout=timeout, transport=transport)
        self._http = http
        self._state_reads = state_reads
        self.spool_path = Path(spool_path) if spool_path is not None else None
        self.retries = max(0, retries)
        self.backoff = backoff

    # -- HTTP ---------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code in AUTH_STATUSES:
                raise ControlPlaneAuthFailed(response.status_code, _detail(response))
            if response.status_code >= 400:
                raise ControlPlaneRejected(response.status_code, _detail(response))
            return response
        raise ControlPlaneUnavailable(
            f"{method} {self._http.base_url}{path} failed after {self.retries + 1} tries: {problem}"
        )

    def _send(self, events: Sequence[Event]) -> list[PostOutcome]:
        outcomes: list[PostOutcome] = []
        for chunk in _batches(events):
            body = {"events": [e.wire() for e in chunk]}
            results = self._request("POST", "/v1/events", json=body).json()["results"]
            outcomes += [PostOutcome(event_id=r["event_id"], status=r["status"]) for r in results]
        return outcomes

    # -- events -------------------------------------------------------------

    def post_event(self, event: Event) -> PostOutcome:
        """Post one event; spooled (if a spool is set) when the control plane is away."""
        return self.post_events([event])[0]

    def post_events(self, events: Sequence[Event]) -> list[PostOutcome]:
        """Post events in order, after anything already spooled.

        With a spool, events the control plane cannot take now (away, or our
        token refused) are spooled and reported ``spooled``; without one the
        error is raised.
        """
        outcomes: list[PostOutcome] = []
        try:
            if events:
                self.flush_spool()
            for chunk in _batches(events):
                outcomes += self._send(chunk)
        except (ControlPlaneUnavailable, ControlPlaneAuthFailed) as exc:
            if self.spool_path is None:
                raise
            rest = events[len(outcomes) :]
            self._spool(rest)
            if isinstance(exc, ControlPlaneAuthFailed):
                self._warn_auth(exc, len(rest))
            else:
                log.warning(
                    "control plane unreachable: spooled %d event(s) to %s",
                    len(rest),
                    self.spool_path,
                )
            outcomes += [PostOutcome(event_id=e.event_id, status="spooled") for e in rest]
        return outcomes

    def _warn_auth(self, exc: ControlPlaneAuthFailed, count: int) -> None:
        """Loud, because nothing gets through until an operator fixes the token."""
        log.error(
            "control plane refused our credentials (%s: %s): %d new event(s) kept in %s with "
            "the rest; they are delivered once %s is right",
            exc.status,
            exc.detail,
            count,
            self.spool_path,
            TOKEN_SETTING,
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Path]:
        assert self.spool_path is not None
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.spool_path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self.spool_path
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _spool(self, events: Sequence[Event]) -> None:
        with self._locked() as path:
            _append_lines(path, [json.dumps(e.wire()) for e in events])

    def flush_spool(self) -> int:
        """Send spooled events in order; returns how many the control plane now holds.

        Raises ControlPlaneUnavailable or ControlPlaneAuthFailed (the unsent
        rest stays spooled). Lines that are not events, or events the control
        plane refuses as such (any other 4xx), go to ``<spool>.quarantine``.
        """
        if self.spool_path is None or not _has_content(self.spool_path):
            return 0
        with self._locked() as path:
            pending = self._read_spool(path)
            sent = 0
            try:
                while pending:
                    chunk = next(_batches([e for _, e in pending]))
                    sent += self._send_or_quarantine(path, pending[: len(chunk)])
                    pending = pending[len(chunk) :]
            finally:
                _rewrite(path, [line for line, _ in pending])
        return sent

    def _read_spool(self, path: Path) -> list[tuple[str, Event]]:
        good: list[tuple[str, Event]] = []
        bad: list[str] = []
        for number, line in enumerate(path.read_text("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                good.append((line, Event.model_validate(json.loads(line))))
            except (ValueError, ValidationError, OverflowError) as exc:
                log.warning(
                    "spool %s line %d is not an event (%s): quarantined",
                    path,
                    number,
                    type(exc).__name__,
                )
                bad.append(line)
        if bad:
            _append_lines(_quarantine(path), bad)
        return good

    def _send_or_quarantine(self, path: Path, items: list[tuple[str, Event]]) -> int:
        try:
            return len(self._send([e for _, e in items]))
        except ControlPlaneAuthFailed as exc:
            log.error(
                "control plane refused our credentials (%s: %s): %d spooled event(s) wait in %s "
                "until %s is right",
                exc.status,
                exc.detail,
                len(items),
                path,
                TOKEN_SETTING,
            )
            raise
        except ControlPlaneRejected:
            pass
        sent = 0
        for line, event in items:  # find the refused ones; the others still go
            try:
                self._send([event])
                sent += 1
            except ControlPlaneAuthFailed:
                raise
            except ControlPlaneRejected as exc:
                log.warning(
                    "spooled event %s refused (%s): quarantined", event.event_id, exc.status
                )
                _append_lines(_quarantine(path), [line])
        return sent

    # -- reads and commands -------------------------------------------------

    def target_state(self, target_id: str, day: date | None = None) -> TargetState:
        """The target's state; its tokens are those of ``day`` (UTC; None: the server's today)."""
        if self._state_reads is not None:
            return self._state_reads.read(target_id, day)
        return self.target_state_now(target_id, day)

    def target_states(
        self, target_ids: Sequence[str], day: date | None = None
    ) -> dict[str, TargetState]:
        """Many targets' states, ``STATES_PER_REQUEST`` per request (``GET /v1/targets/states``)."""
        answer: dict[str, TargetState] = {}
        unique = list(dict.fromkeys(target_ids))
        for start in range(0, len(unique), STATES_PER_REQUEST):
            chunk = unique[start : start + STATES_PER_REQUEST]
            params: list[tuple[str, str]] = [("target", t) for t in chunk]
            if day is not None:
                params.append(("day", day.isoformat()))
            data = self._json("GET", "/v1/targets/states", params=params)
            try:
                states = [TargetState.model_validate(s) for s in data["states"]]
            except (ValidationError, KeyError, TypeError) as exc:
                raise ControlPlaneUnavailable(
                    f"GET /v1/targets/states: unexpected answer ({exc})"
                ) from None
            answer.update((s.target_id, s) for s in states)
        missing = [t for t in unique if t not in answer]
        if missing:
            raise ControlPlaneUnavailable(f"GET /v1/targets/states: no state for {missing[:5]}")
        return answer

    def target_state_now(self, target_id: str, day: date | None = None) -> TargetState:
        """One request for one target's state, whatever ``state_reads`` says."""
        path = f"/v1/targets/{target_id}/state"
        params = {"day": day.isoformat()} if day is not None else None
        try:
            return TargetState.model_validate(self._json("GET", path, params=params))
        except ValidationError as exc:
            raise ControlPlaneUnavailable(f"GET {path}: unexpected answer ({exc})") from None

    def get_attempt(self, attempt_id: str) -> dict[str, Any]:
        data = self._json("GET", f"/v1/attempts/{attempt_id}")
        if not isinstance(data, dict):
            raise ControlPlaneUnavailable(f"GET /v1/attempts/{attempt_id}: not a JSON object")
        return data

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        """A read's JSON body; an unreadable answer is an unknown fact, not a crash."""
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ControlPlaneUnavailable(f"{method} {path}: answer is not JSON ({exc})") from None

    def list_attempts(self, target_id: str | None = None, limit: int = 50) -> list[AttemptSummary]:
        return self._attempts("/v1/attempts", target_id, limit)

    def list_failures(self, target_id: str | None = None, limit: int = 50) -> list[AttemptSummary]:
        """Failed attempts, newest first (the breaker's probe timing reads the first)."""
        return self._attempts("/v1/failures", target_id, limit)

    def _attempts(self, path: str, target_id: str | None, limit: int) -> list[AttemptSummary]:
        params: dict[str, Any] = {"limit": limit}
        if target_id is not None:
            params["target"] = target_id
        data = self._json("GET", path, params=params)
        try:
            return [AttemptSummary.model_validate(a) for a in data["attempts"]]
        except (KeyError, TypeError, ValidationError) as exc:
            raise ControlPlaneUnavailable(f"GET {path}: unexpected answer ({exc})") from None

    def reset_breaker(self, target_id: str, reason: str, actor: str) -> None:
        # One id per call: a retry of this call is a duplicate, a new call a new reset.
        body = {
            "reason": reason,
            "actor": actor,
            "event_id": f"breaker.reset:{uuid.uuid4().hex}",
            "occurred_at": utcnow().isoformat(),
        }
        self._request("POST", f"/v1/targets/{target_id}/breaker/reset", json=body)

    def close(self) -> None:
        if not self._owned:
            return  # the shared client belongs to whoever made it
        self._http.close()

    def __enter__(self) -> ControlPlaneClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text
    return body.get("detail", body) if isinstance(body, dict) else body


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _quarantine(path: Path) -> Path:
    return path.with_name(path.name + ".quarantine")


def _append_lines(path: Path, lines: list[str]) -> None:
    """Append and fsync, so a line the caller was told is spooled survives a crash."""
    new = not path.exists()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())
    if new:
        _fsync_dir(path.parent)


def _rewrite(path: Path, lines: list[str]) -> None:
    """Replace the spool atomically with ``lines`` (the ones not yet sent)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
