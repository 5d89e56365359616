"""Which recogniser made each stored embedding (schema v11), and the refusal of tenants whose
embeddings another recogniser made.

Why: embeddings of two models live in unrelated spaces (ArcFace 512-d, Open Model Zoo 256-d);
a search over a mix, or over the other model's rows, would answer with meaningless distances.
Every row carries `model_id`; a server reads and writes only tenants whose rows are all of its
own recogniser and refuses the others with GalleryModelMismatchError (README: re-enrollment).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.errors import GalleryModelMismatchError
from storage import gallery_versions, schema

log = logging.getLogger(__name__)
e = schema.face_enrollments

# Every embedding stored before schema v11 was made by the only recogniser there was.
LEGACY_MODEL_ID = "w600k_mbf"


def check_rows(tenant_id: int, model_ids: Iterable[str | None], current: str) -> None:
    """Raise when any of a tenant's rows was made by another recogniser."""
    foreign = Counter(m or LEGACY_MODEL_ID for m in model_ids)
    foreign.pop(current, None)
    if foreign:
        raise GalleryModelMismatchError(tenant_id, dict(foreign), current)


async def check_tenant(conn: AsyncConnection, client_id: int, tenant_id: int, current: str) -> None:
    """The same check before a write, inside the writing transaction: a tenant never gets mixed."""
    rows = await conn.execute(
        sa.select(e.c.model_id, sa.func.count()).where(
            e.c.client_id == client_id, e.c.tenant_id == tenant_id,
            sa.or_(e.c.model_id.is_(None), e.c.model_id != current),
        ).group_by(e.c.model_id)
    )
    foreign = {(m or LEGACY_MODEL_ID): int(n) for m, n in rows}
    if foreign:
        raise GalleryModelMismatchError(tenant_id, foreign, current)


async def stored_models(conn: AsyncConnection, client_id: int | None = None) -> dict[str, int]:
    """Stored embeddings per recogniser (`facestream models`), of one client or all."""
    query = sa.select(e.c.model_id, sa.func.count()).group_by(e.c.model_id)
    if client_id is not None:
        query = query.where(e.c.client_id == client_id)
    return {(m or LEGACY_MODEL_ID): int(n) for m, n in await conn.execute(query)}


async def drop_other_models(conn: AsyncConnection, current: str) -> list[tuple[int, int, int]]:
    """Delete every embedding not made by `current`; returns (client, tenant, rows deleted) and
    bumps those tenants' gallery versions in the same transaction."""
    other = sa.or_(e.c.model_id.is_(None), e.c.model_id != current)
    counts = (await conn.execute(
        sa.select(e.c.client_id, e.c.tenant_id, sa.func.count()).where(other).group_by(e.c.client_id, e.c.tenant_id)
    )).all()
    await conn.execute(e.delete().where(other))
    for client_id, tenant_id, _ in counts:
        await gallery_versions.bump(conn, client_id, tenant_id)
    return [(int(c), int(t), int(n)) for c, t, n in counts]


class _Store(Protocol):
    """What the start-up warning reads of storage.sql_store.SqlStore (which imports this module)."""

    @property
    def engine(self) -> AsyncEngine: ...

    @property
    def recognizer(self) -> str: ...


async def warn_other_models(store: _Store) -> dict[str, int]:
    """At start: say loudly when stored embeddings belong to another recogniser (their tenants
    will be refused), and how to move them; returns those counts."""
    async with store.engine.connect() as conn:
        others = {m: n for m, n in (await stored_models(conn)).items() if m != store.recognizer}
    if others:
        log.warning(
            "%s stored face embeddings were made by another recogniser than this server's %r (%s): their "
            "tenants are refused with MODEL_MISMATCH. Start with the engine.profile they were enrolled under, or "
            "run `facestream models --drop-other-models --yes` and enroll those faces again (README, Model profiles)",
            sum(others.values()), store.recognizer, ", ".join(f"{n} by {m}" for m, n in sorted(others.items())),
        )
    return others
