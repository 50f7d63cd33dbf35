"""Model tokens per target and UTC day, from the token_usage projection.

One row per target, day and model, so both the state's day sum and the
usage route read a primary-key range, never the log.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine, select

from leviathan_control_plane.log import schema
from leviathan_control_plane.models import DayUsage, ModelUsage, TargetUsage


def usage(engine: Engine, target_id: str, until: date, days: int) -> TargetUsage:
    """Every day of the ``days`` ending with ``until``, oldest first; a quiet day is zeros."""
    since = until - timedelta(days=days - 1)
    u = schema.token_usage
    query = (
        select(u)
        .where(u.c.target_id == target_id, u.c.usage_day >= since, u.c.usage_day <= until)
        .order_by(u.c.usage_day, u.c.model)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    by_day: dict[date, list[ModelUsage]] = {}
    for m in rows:
        by_day.setdefault(m["usage_day"], []).append(
            ModelUsage(
                model=m["model"],
                prompt_tokens=m["prompt_tokens"],
                completion_tokens=m["completion_tokens"],
                total_tokens=m["total_tokens"],
                reports=m["reports"],
            )
        )
    answer = []
    for offset in range(days):
        day = since + timedelta(days=offset)
        models = by_day.get(day, [])
        answer.append(
            DayUsage(
                day=day,
                prompt_tokens=sum(m.prompt_tokens for m in models),
                completion_tokens=sum(m.completion_tokens for m in models),
                total_tokens=sum(m.total_tokens for m in models),
                models=models,
            )
        )
    return TargetUsage(target_id=target_id, since=since, until=until, days=answer)
