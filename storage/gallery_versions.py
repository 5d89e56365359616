"""Gallery versions per (client, tenant), kept in the database and bumped inside the writer's
own transaction.

Why in the database: a version kept in the cache is lost, or left stale, when the cache cannot
be reached during a write, and a worker then serves a gallery that still holds a deleted or
deactivated face. Bumped in the same transaction as the write, "the rows changed" and "the
version changed" are one atomic fact, and a reader that checks the version (one small query)
before trusting any cached copy can never serve an older gallery.

Every function works on an open AsyncConnection, so callers put the bump in their transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import gallery_feed, schema
from storage.gallery_feed import RESET, Change

V = schema.gallery_versions
_INSERT_TRIES = 3


@dataclass(frozen=True)
class GalleryVersion:
    """`version` orders the changes; `stamp` (random per bump) keeps cache keys of two databases
    that share one cache apart (a test database, a restored backup) even at equal versions.
    `removed` is the version of the last change that took a face out or renamed one (anything but
    pure additions): a copy at or past it differs from the truth only by faces it lacks."""

    version: int
    stamp: str
    removed: int = field(default=0, compare=False)  # derived from the history, not part of identity

    @property
    def shareable(self) -> bool:
        """A tenant never written since the table existed has no row: its version 0 is the same
        in every database, so such a gallery is not shared through the cache."""
        return bool(self.stamp)

    @property
    def tag(self) -> str:
        return f"v{self.version}-{self.stamp}"


UNVERSIONED = GalleryVersion(0, "")


async def read(conn: AsyncConnection, client_id: int, tenant_id: int) -> GalleryVersion:
    row = (await conn.execute(
        sa.select(V.c.version, V.c.stamp, V.c.removed_version)
        .where(V.c.client_id == client_id, V.c.tenant_id == tenant_id)
    )).first()
    return GalleryVersion(int(row.version), str(row.stamp), int(row.removed_version)) if row else UNVERSIONED


def _changes(removes: bool) -> dict[str, object]:
    changes: dict[str, object] = {"version": V.c.version + 1, "stamp": secrets.token_hex(8),
                                  "updated_at": datetime.now(timezone.utc)}
    if removes:  # SET expressions read the row's old values: this is the new version
        changes["removed_version"] = V.c.version + 1
    return changes


def _removes(change: Change) -> bool:
    """Anything but pure additions may take a face out of what matches (a user change can be a
    deactivation, a rename changes what a match says; a reset may be anything)."""
    return bool(change.removed or change.user_id or change.is_reset)


async def bump(conn: AsyncConnection, client_id: int, tenant_id: int, change: Change = RESET) -> None:
    """version + 1 and the change feed row(s) saying what changed (storage/gallery_feed.py)."""
    await _bump(conn, client_id, tenant_id, _removes(change))
    seq = (await conn.execute(
        sa.select(V.c.version).where(V.c.client_id == client_id, V.c.tenant_id == tenant_id)
    )).scalar_one()
    await gallery_feed.record(conn, client_id, tenant_id, int(seq), change)


async def _bump(conn: AsyncConnection, client_id: int, tenant_id: int, removes: bool) -> None:
    """version + 1, or a first row at version 1. Portable upsert: UPDATE; if no row, INSERT inside
    a savepoint (PostgreSQL aborts the whole transaction on a failed statement otherwise); if a
    concurrent writer inserted the row first, the IntegrityError sends us back to the UPDATE."""
    where = (V.c.client_id == client_id, V.c.tenant_id == tenant_id)
    for attempt in range(_INSERT_TRIES):
        if (await conn.execute(V.update().where(*where).values(**_changes(removes)))).rowcount:
            return
        try:
            async with conn.begin_nested():
                await conn.execute(V.insert().values(
                    client_id=client_id, tenant_id=tenant_id, version=1, stamp=secrets.token_hex(8),
                    updated_at=datetime.now(timezone.utc), removed_version=1 if removes else 0,
                ))
            return
        except IntegrityError:
            if attempt == _INSERT_TRIES - 1:
                raise  # not a lost race (that succeeds on the next UPDATE): e.g. an unknown client


async def bump_client(conn: AsyncConnection, client_id: int, user_id: str | None = None) -> None:
    """Bump every tenant of the client: for writes that change what all its galleries match (a
    platform user deleted, deactivated or renamed: `user_id` names them, so workers re-read only
    that user's rows). Tenants without a row yet get one, or they would stay at version 0 and
    keep serving whatever was cached for it."""
    change = Change(user_id=user_id) if user_id else RESET
    await conn.execute(V.update().where(V.c.client_id == client_id).values(**_changes(True)))
    bumped = await conn.execute(sa.select(V.c.tenant_id, V.c.version).where(V.c.client_id == client_id))
    for tenant_id, version in bumped.all():
        await gallery_feed.record(conn, client_id, int(tenant_id), int(version), change)
    t = schema.face_tenants
    missing = await conn.execute(sa.select(t.c.tenant_id).where(
        t.c.client_id == client_id,
        ~sa.exists().where(V.c.client_id == t.c.client_id, V.c.tenant_id == t.c.tenant_id),
    ))
    for (tenant_id,) in missing.all():
        await bump(conn, client_id, int(tenant_id), change)
