"""``control add_consumer`` without ``-d`` reaches every worker: each refuses a foreign queue."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery.worker import control

from leviathan_adapters.celery_config import served_queues
from leviathan_adapters.process_settings import process_settings

ROOT = Path(__file__).resolve().parents[3]


class Consumer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[tuple[Any, ...]] = []

    def call_soon(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.calls.append(args)

    def add_task_queue(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("only called through call_soon")


@pytest.fixture
def scheduler_state(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LEVIATHAN_REDIS_URL", "redis://127.0.0.1:1/0")  # importing builds the app
    process_settings.cache_clear()
    from leviathan_scheduler.celery_app import app

    process_settings.cache_clear()
    app.loader.import_default_modules()  # the tasks, as a worker loads them at start
    return SimpleNamespace(consumer=Consumer(app), hostname="scheduler@box", app=app)


def test_the_scheduler_serves_only_its_own_queue(scheduler_state: Any) -> None:
    assert served_queues(scheduler_state.app) == {"leviathan.scheduler"}


def test_the_scheduler_refuses_the_dispatch_queue(
    scheduler_state: Any, caplog: pytest.LogCaptureFixture
) -> None:
    reply = control.Panel.data["add_consumer"](scheduler_state, "leviathan.dispatch")
    assert "error" in reply
    assert "scheduler@box has no task for it" in reply["error"]
    assert scheduler_state.consumer.calls == []
    assert "add_consumer refused" in caplog.text


def test_its_own_queue_is_still_added(scheduler_state: Any) -> None:
    reply = control.Panel.data["add_consumer"](scheduler_state, "leviathan.scheduler")
    assert reply == {"ok": "add consumer leviathan.scheduler"}
    assert scheduler_state.consumer.calls[0][0] == "leviathan.scheduler"


def test_the_dispatcher_serves_only_the_dispatch_queue() -> None:
    code = (
        "from leviathan_dispatch.celery_app import app;"
        "from leviathan_adapters.celery_config import served_queues;"
        "print(sorted(served_queues(app)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"LEVIATHAN_REDIS_URL": "redis://127.0.0.1:1/0", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert out.strip() == "['leviathan.dispatch']"


def test_a_celery_app_without_a_broker_exits_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "leviathan_scheduler.celery_app",
            "inspect",
            "ping",
        ],
        env={"PATH": ""},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().startswith("error: no broker configured")
    assert "Traceback" not in result.stderr
