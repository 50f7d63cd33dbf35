"""The seed's default engine: propose the task by recording it in the target.

It writes the task's proposal file and marks the task's backlog entry as
completed by this attempt, so the PR is the proposal and merging it closes
the task; nothing outside Leviathan's bookkeeping paths is touched.
"""

from __future__ import annotations

from leviathan_worker.backlog_edit import BacklogEditError
from leviathan_worker.bookkeeping import UnsafePath, write_proposal
from leviathan_worker.engines.base import ChangeContext, EngineError


class BacklogProposeEngine:
    name = "backlog-propose"
    full_checkout = False

    def apply(self, ctx: ChangeContext) -> None:
        try:
            wrote = write_proposal(ctx.checkout, ctx.task, ctx.attempt_id, ctx.branch, ctx.prefixes)
        except (BacklogEditError, UnsafePath) as exc:
            raise EngineError(str(exc)) from None
        if wrote:
            ctx.say(f"✓ Wrote proposal for {ctx.task_id}")
