"""The dispatcher's Celery app and its one task, ``leviathan.dispatch.start_attempt``.

``create_app(settings)`` builds the app; the module's ``app`` (what ``celery
-A leviathan_dispatch.celery_app`` and ``leviathan-dispatcher`` use) is built
on first access from this process's settings, so importing the module needs
no broker.

The task is a thin shell: ``Runtime.handle`` decides, and this module only
turns the decision into Celery's terms: ack, or retry with countdown. A
message that can never be dispatched is acknowledged with an ``invalid``
result, not raised as ``Reject``: the runtime already logged one line naming
the problem, Celery would add a warning with a traceback, and on this broker
dropping a message without requeue and acknowledging it are the same thing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery, Task

from leviathan_adapters.celery_config import (
    celery_settings,
    quiet_http_logs,
    refuse_foreign_consumers,
    require_broker,
)
from leviathan_adapters.process_settings import process_settings
from leviathan_core.constants import TASK_START_ATTEMPT
from leviathan_core.settings import Settings
from leviathan_dispatch.runtime import Runtime


def create_app(settings: Settings) -> Celery:
    """A dispatcher app on ``settings``' broker; its runtime is built on the first message."""
    app = Celery("leviathan_dispatch")
    # No broker configured exits with one line, never a silent localhost (Settings.broker_url).
    app.conf.update(celery_settings(require_broker(settings)))
    quiet_http_logs()
    refuse_foreign_consumers()
    # The console lines (``✓ Worker job submitted: ...``) are progress, not warnings.
    app.conf.worker_redirect_stdouts_level = "INFO"

    @lru_cache(maxsize=1)
    def runtime() -> Runtime:
        """One runtime per process: executors and clients are reused across messages."""
        return Runtime(settings)

    @app.task(  # type: ignore[untyped-decorator]
        bind=True,
        name=TASK_START_ATTEMPT,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,  # the runtime bounds retries itself
        shared=False,  # this app only: other apps in the process must not serve it
    )
    def start_attempt(self: Task, message: Any) -> dict[str, Any]:
        """Start the worker run for one dispatch message (a JSON dict)."""
        outcome = runtime().handle(message, retries_done=self.request.retries)
        if outcome.action == "retry":
            raise self.retry(countdown=outcome.delay)
        return outcome.as_result()  # "reject" included: acked, so dropped for good

    return app


@lru_cache(maxsize=1)
def configured_app() -> Celery:
    """The app of this process, on its configured broker, built when first asked for."""
    return create_app(process_settings())


def __getattr__(name: str) -> Celery:
    """``app`` on first access, for ``celery -A``: importing ``create_app`` needs no broker."""
    if name == "app":
        return configured_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
