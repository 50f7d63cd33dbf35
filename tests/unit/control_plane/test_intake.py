"""Request bodies in, events or a precise 4xx out; settings and migrations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from leviathan_control_plane.errors import ApiError
from leviathan_control_plane.log.database import make_engine, migrate, normalize_url
from leviathan_control_plane.log.intake import bundle_event, parse_bundle, parse_events
from leviathan_control_plane.log.schema import metadata
from leviathan_control_plane.settings import ControlPlaneSettings, SettingsError
from leviathan_core.events import EventType

GOOD = {
    "event_id": "e1",
    "type": "scheduler.cycle",
    "target_id": "radix",
    "occurred_at": "2026-01-01T00:00:00Z",
    "actor": "scheduler",
}


def raw(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_single_event_and_batch() -> None:
    events, is_batch = parse_events(raw(GOOD), 10)
    assert (len(events), is_batch) == (1, False)
    events, is_batch = parse_events(raw({"events": [GOOD, {**GOOD, "event_id": "e2"}]}), 10)
    assert ([e.event_id for e in events], is_batch) == (["e1", "e2"], True)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"\xff{}", 400, "not UTF-8"),
        (b'{"event_id": "\\udb1d"}', 400, "lone UTF-16 surrogate"),
        (b'{"event_id": ', 400, "not JSON"),
        (b"[" * 100_000, 422, "nested deeper than 64 levels"),
        (b"[" * 65 + b"]" * 65, 422, "nested deeper than 64 levels"),
        (b'{"payload": {"n": -' + b"1" * 4301 + b"}}", 422, "4301 digits"),
        (b'{"fence": NaN}', 422, "NaN is not a JSON number"),
        (b'{"fence": 1e400}', 422, "1e400 is out of range"),
        (raw({**GOOD, "occurred_at": 0}), 422, "RFC 3339 date-time string"),
        (raw([GOOD]), 422, "JSON object"),
        (raw({"events": []}), 422, "non-empty list"),
        (raw({"events": "x"}), 422, "non-empty list"),
        (raw({"events": [GOOD], "extra": 1}), 422, "unexpected key 'extra'"),
        (raw({"events": [GOOD] * 11}), 413, "exceeds the cap of 10"),
        (raw({**GOOD, "type": "attempt.exploded"}), 422, "body.type"),
        (raw({**GOOD, "event_id": "bad id/with slash"}), 422, "body.event_id"),
        (raw({**GOOD, "occurred_at": "2026-01-01T00:00:00"}), 422, "timezone"),
        (raw({**GOOD, "occurred_at": "0001-01-01T00:00:10+09:00"}), 422, "between 0001-01-02"),
        (raw({**GOOD, "occurred_at": "9999-12-31T23:00:00-05:00"}), 422, "and 9999-12-30"),
        (raw({**GOOD, "unknown": 1}), 422, "body.unknown"),
        (raw({**GOOD, "type": "attempt.started"}), 422, "needs attempt_id"),
    ],
)
def test_bad_bodies(body: bytes, status: int, words: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_events(body, 10)
    assert info.value.status == status
    assert words in info.value.body.detail


def test_the_days_next_to_the_edges_are_accepted_in_utc() -> None:
    for stamp, utc in [
        ("0001-01-02T00:00:00+23:00", "0001-01-01T01:00:00+00:00"),
        ("9999-12-30T23:00:00-23:00", "9999-12-31T22:00:00+00:00"),
    ]:
        (event,), _ = parse_events(raw({**GOOD, "occurred_at": stamp}), 10)
        assert event.occurred_at.isoformat() == utc


def test_batch_error_names_the_index_and_field() -> None:
    bad = {
        **GOOD,
        "event_id": "e3",
        "type": "pr.created",
        "attempt_id": "a1",
        "payload": {"pr_number": -1, "pr_url": "u", "branch": "b"},
    }
    with pytest.raises(ApiError) as info:
        parse_events(raw({"events": [GOOD, {**GOOD, "event_id": "e2"}, bad]}), 10)
    assert info.value.status == 422
    assert info.value.body.index == 2
    assert info.value.body.errors[0].loc == ["body", "events", 2, "payload"]
    assert info.value.body.detail.startswith("event 2:")


def test_bundle_maps_seed_fields() -> None:
    bundle = parse_bundle(
        raw(
            {
                "target": "radix",
                "bundle_id": "b1",
                "events": [
                    {
                        "event_id": "s1",
                        "event_type": "attempt.created",
                        "timestamp": "2026-01-01T00:00:00",
                        "actor_id": "seed",
                        "payload": {"attempt_id": "a1", "task_id": "t1", "fence": 3},
                    }
                ],
            }
        ),
        10,
    )
    event = bundle_event(bundle.target, bundle.events[0])
    assert (event.type, event.attempt_id, event.task_id, event.fence, event.actor) == (
        EventType.ATTEMPT_CREATED,
        "a1",
        "t1",
        3,
        "seed",
    )
    assert event.occurred_at.tzinfo is not None


def test_bundle_event_reasons() -> None:
    bundle = parse_bundle(
        raw(
            {
                "target": "radix",
                "bundle_id": "b1",
                "events": [
                    {
                        "event_id": "s1",
                        "event_type": "nope",
                        "timestamp": "2026-01-01T00:00:00Z",
                        "actor_id": "seed",
                    },
                    {
                        "event_id": "s2",
                        "event_type": "attempt.started",
                        "timestamp": "2026-01-01T00:00:00Z",
                        "actor_id": "seed",
                    },
                ],
            }
        ),
        10,
    )
    with pytest.raises(ValueError, match="unknown event_type 'nope'"):
        bundle_event("radix", bundle.events[0])
    with pytest.raises(ValueError, match="needs attempt_id"):
        bundle_event("radix", bundle.events[1])
    with pytest.raises(ApiError, match="target"):
        parse_bundle(raw({"target": "Bad_Target", "bundle_id": "b", "events": []}), 10)


def test_settings_refuse_without_token(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LEVIATHAN_CONTROL_PLANE_TOKEN is not set"):
        ControlPlaneSettings(control_plane_token=None, data_dir=str(tmp_path)).token()
    with pytest.raises(SettingsError, match="is not set"):
        ControlPlaneSettings(control_plane_token="  ", data_dir=str(tmp_path)).token()


def test_settings_check_the_target_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "target_id: alpha\ntarget_repo_url: https://x/o/a\ncircuit_breaker_failures: 5\n"
    )
    settings = ControlPlaneSettings(control_plane_token="t", config=str(tmp_path))
    settings.check_config()
    (tmp_path / "c.yaml").write_text(
        "target_id: gamma\ntarget_repo_url: https://x/o/c\ncircuit_breaker_failure: 5\n"
    )
    with pytest.raises(SettingsError, match="circuit_breaker_failure"):
        settings.check_config()


def test_default_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    settings = ControlPlaneSettings(control_plane_token="t", data_dir=str(tmp_path / "d"))
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / 'd' / 'control-plane.db'}"
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_migrations_create_exactly_the_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
