"""The per-tenant gallery change feed: what each version bump changed, so a worker moves its
in-memory gallery forward by the changed rows instead of reloading the tenant.

Every bump of a tenant's version (storage/gallery_versions.py) writes, in the same transaction,
feed rows at seq = the new version naming what changed: enrollment ids added or removed, a user
whose rows must be re-read (renamed, deactivated, replaced), or `reset` (re-read everything: an
explicit refresh). A worker at version v reads the rows with v < seq <= current; if every seq in
that range is present it re-reads just the named keys from the database (current state, so
applying it is idempotent and never resurrects a deleted row), otherwise (pruned feed, a write
from before this table existed, a reset) it reloads the tenant. Committed writes are also
announced to in-process listeners through a SQLAlchemy commit hook, which the gallery service
turns into Redis notifications for the other workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import schema

log = logging.getLogger(__name__)

gallery_changes = sa.Table(
    "gallery_changes",
    schema.metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),  # the tenant's gallery version this change produced
    sa.Column("op", sa.String(8), nullable=False),  # add | remove | user | reset
    sa.Column("entry_id", sa.Integer, nullable=True),  # add / remove
    sa.Column("user_id", sa.String(128), nullable=True),  # user
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_gallery_changes_scope_seq", "client_id", "tenant_id", "seq"),
)

C = gallery_changes
# Feed rows kept per tenant (by seq); a worker further behind than this reloads the tenant.
KEEP = 20_000
_PRUNE_EVERY = 500
PENDING_KEY = "facestream.gallery_changes"


@dataclass(frozen=True)
class Change:
    """What one write did to a tenant's gallery. No field set means "anything": a reset."""

    added: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    user_id: str | None = None

    @property
    def is_reset(self) -> bool:
        return not (self.added or self.removed or self.user_id)


RESET = Change()


async def record(conn: AsyncConnection, client_id: int, tenant_id: int, seq: int, change: Change) -> None:
    now = datetime.now(timezone.utc)
    base = {"client_id": client_id, "tenant_id": tenant_id, "seq": seq, "created_at": now}
    rows: list[dict[str, Any]] = [{**base, "op": "add", "entry_id": i, "user_id": None} for i in change.added]
    rows += [{**base, "op": "remove", "entry_id": i, "user_id": None} for i in change.removed]
    if change.user_id:
        rows.append({**base, "op": "user", "entry_id": None, "user_id": change.user_id})
    if change.is_reset:
        rows.append({**base, "op": "reset", "entry_id": None, "user_id": None})
    await conn.execute(C.insert(), rows)
    if seq % _PRUNE_EVERY == 0 and seq > KEEP:
        await conn.execute(C.delete().where(C.c.client_id == client_id, C.c.tenant_id == tenant_id, C.c.seq <= seq - KEEP))
    conn.sync_connection.info.setdefault(PENDING_KEY, set()).add((client_id, tenant_id, seq))  # type: ignore[union-attr]


@dataclass
class Delta:
    """The keys to re-read to move a gallery from one version to a later one."""

    entry_ids: set[int] = field(default_factory=set)
    user_ids: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.entry_ids or self.user_ids)


async def delta(conn: AsyncConnection, client_id: int, tenant_id: int, after: int, upto: int) -> Delta | None:
    """The keys changed by versions after < seq <= upto; None when the feed cannot say (a seq
    missing from it, or a reset): the caller reloads the tenant."""
    rows = (await conn.execute(
        sa.select(C.c.seq, C.c.op, C.c.entry_id, C.c.user_id)
        .where(C.c.client_id == client_id, C.c.tenant_id == tenant_id, C.c.seq > after, C.c.seq <= upto)
    )).all()
    if {int(r.seq) for r in rows} != set(range(after + 1, upto + 1)):
        return None
    out = Delta()
    for r in rows:
        if r.op == "reset":
            return None
        if r.op in ("add", "remove"):
            out.entry_ids.add(int(r.entry_id))
        elif r.op == "user":
            out.user_ids.add(str(r.user_id))
    return out


async def anchor(conn: AsyncConnection, client_id: int, tenant_id: int, seq: int) -> str | None:
    """When version `seq` was written (its feed row's id and time), or None if the feed no longer
    has it: what ties an index file to this database's history, not a restored backup's or
    another database's that reached the same version number."""
    row = (await conn.execute(
        sa.select(sa.func.min(C.c.id), sa.func.min(C.c.created_at))
        .where(C.c.client_id == client_id, C.c.tenant_id == tenant_id, C.c.seq == seq)
    )).first()
    if row is None or row[0] is None:
        return None
    return f"{int(row[0])}@{row[1].isoformat() if hasattr(row[1], 'isoformat') else row[1]}"


Listener = Callable[[int, int, int], None]


def on_commit(engine: AsyncEngine, listener: Listener) -> Callable[[], None]:
    """Call listener(client_id, tenant_id, seq) for every version bump when its transaction
    commits (never for a rolled-back one). Core's commit event fires just *before* the database
    commit completes, so a listener must tolerate not seeing the change yet (the gallery
    service retries until the version shows). Returns the function that removes the hook."""

    def committed(conn: sa.Connection) -> None:
        for client_id, tenant_id, seq in sorted(conn.info.pop(PENDING_KEY, ())):
            try:
                listener(client_id, tenant_id, seq)
            except Exception:  # a listener must never fail the writer's commit
                log.exception("gallery change listener failed")

    def rolled_back(conn: sa.Connection) -> None:
        conn.info.pop(PENDING_KEY, None)

    sync = engine.sync_engine
    sa.event.listen(sync, "commit", committed)
    sa.event.listen(sync, "rollback", rolled_back)

    def remove() -> None:
        sa.event.remove(sync, "commit", committed)
        sa.event.remove(sync, "rollback", rolled_back)

    return remove


def loop_listener(loop: asyncio.AbstractEventLoop, target: Listener) -> Listener:
    """A listener that runs target on the loop later (commit hooks run inside the driver)."""

    def call(client_id: int, tenant_id: int, seq: int) -> None:
        loop.call_soon_threadsafe(target, client_id, tenant_id, seq)

    return call
