"""The dispatcher's Celery app and its one task, ``leviathan.dispatch.start_attempt``.

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
    configured_broker,
    quiet_http_logs,
    refuse_foreign_consumers,
)
from leviathan_core.config import get_settings
from leviathan_core.constants import TASK_START_ATTEMPT
from leviathan_dispatch.runtime import Runtime

app = Celery("leviathan_dispatch")
# No broker configured exits with one line, never a silent localhost (Settings.broker_url).
app.conf.update(celery_settings(configured_broker()))
quiet_http_logs()
refuse_foreign_consumers()
# The console lines (``✓ Worker job submitted: ...``) are progress, not warnings.
app.conf.worker_redirect_stdouts_level = "INFO"


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """One runtime per process: executors and clients are reused across messages."""
    return Runtime(get_settings())


@app.task(  # type: ignore[untyped-decorator]
    bind=True,
    name=TASK_START_ATTEMPT,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the runtime bounds retries itself
)
def start_attempt(self: Task, message: Any) -> dict[str, Any]:
    """Start the worker run for one dispatch message (a JSON dict)."""
    outcome = runtime().handle(message, retries_done=self.request.retries)
    if outcome.action == "retry":
        raise self.retry(countdown=outcome.delay)
    return outcome.as_result()  # "reject" included: acked, so dropped for good
