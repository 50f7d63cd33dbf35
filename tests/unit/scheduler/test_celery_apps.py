"""Celery apps are built by factories from the settings they are given."""

from __future__ import annotations

import subprocess
import sys

import pytest

from leviathan_core.config import ConfigError
from leviathan_core.constants import TASK_RECONCILE, TASK_SELECT_CYCLE, TASK_START_ATTEMPT
from leviathan_core.settings import Settings


def settings(url: str) -> Settings:
    return Settings(_env_file=None, redis_url=url, config="/nowhere.yaml")  # type: ignore[call-arg]


def test_two_scheduler_apps_keep_their_own_settings() -> None:
    from leviathan_scheduler.celery_app import create_app, settings_of

    one, two = create_app(settings("memory://one")), create_app(settings("memory://two"))
    assert (one.conf.broker_url, two.conf.broker_url) == ("memory://one", "memory://two")
    assert settings_of(one).redis_url == "memory://one"
    for app in (one, two):
        assert {TASK_SELECT_CYCLE, TASK_RECONCILE} <= set(app.tasks)
    assert one.tasks[TASK_SELECT_CYCLE] is not two.tasks[TASK_SELECT_CYCLE]


def test_the_dispatcher_app_is_made_the_same_way() -> None:
    from leviathan_dispatch.celery_app import create_app

    app = create_app(settings("memory://d"))
    assert app.conf.broker_url == "memory://d"
    assert TASK_START_ATTEMPT in app.tasks


@pytest.mark.parametrize(
    "module", ["leviathan_scheduler.celery_app", "leviathan_dispatch.celery_app"]
)
def test_importing_an_app_module_needs_no_broker(module: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    code = f"import {module}; print('imported')"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [sys.executable, "-c", f"import {module} as m; m.app"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd="/",
    )
    assert done.returncode != 0
    assert "no broker configured: set LEVIATHAN_REDIS_URL" in done.stderr


def test_no_target_file_is_assumed() -> None:
    with pytest.raises(ConfigError, match="no target configuration: set LEVIATHAN_CONFIG"):
        Settings(_env_file=None).config_path()  # type: ignore[call-arg]


def test_an_apps_tasks_stay_its_own() -> None:
    """Several apps in one process (tests, the CLI) must not lend each other tasks."""
    from leviathan_dispatch.celery_app import create_app as dispatcher
    from leviathan_scheduler.celery_app import create_app as scheduler

    dispatch_app = dispatcher(settings("memory://d"))
    scheduler_app = scheduler(settings("memory://s"))
    assert TASK_START_ATTEMPT not in scheduler_app.tasks
    assert TASK_SELECT_CYCLE not in dispatch_app.tasks
