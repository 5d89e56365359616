"""Removing a deleted user's name from stored session records (right to erasure).

Session rows stay: their ids, outcomes and times are the audit trail of what happened. What they
must stop holding is who it happened to by name: a completed enrollment's `user_name`, a match's
`name`, the `external_id` copied into the params. Attempts (recognition_attempts) hold ids and
outcomes only, so they are kept as they are.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import schema

S = schema.recognition_sessions
NAME_KEYS = ("name", "user_name")


def scrub(value: Any, user_id: str) -> Any:
    """A copy of a JSON value in which every object naming `user_id` has its name keys nulled."""
    if isinstance(value, list):
        return [scrub(v, user_id) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: scrub(v, user_id) for k, v in value.items()}
    if out.get("user_id") == user_id:
        out.update({k: None for k in NAME_KEYS if k in out})
    return out


async def scrub_sessions(conn: AsyncConnection, client_id: int, user_id: str) -> int:
    """Null the user's names in the client's session records; returns the rows changed.

    The LIKE over the JSON text only narrows the rows to read (a UUID has no LIKE wildcards and
    is written verbatim in JSON); the walk in Python decides what changes."""
    mention = f"%{user_id}%"
    rows = await conn.execute(sa.select(S.c.id, S.c.user_id, S.c.params, S.c.result).where(
        S.c.client_id == client_id,
        sa.or_(
            S.c.user_id == user_id,
            sa.cast(S.c.params, sa.Text).like(mention),
            sa.cast(S.c.result, sa.Text).like(mention),
        ),
    ))
    changed = 0
    for row in rows.all():
        params = scrub(dict(row.params or {}), user_id)
        if row.user_id == user_id and "external_id" in params:
            params["external_id"] = None
        result = scrub(row.result, user_id)
        values = {k: v for k, v, was in (("params", params, row.params), ("result", result, row.result)) if v != was}
        if values:  # only what changed: writing None to a JSON column would store JSON 'null'
            await conn.execute(S.update().where(S.c.id == row.id).values(**values))
            changed += 1
    return changed
