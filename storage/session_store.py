"""Persistence of REST enrollment/authentication sessions, their attempts and enrollment
templates (schema version 3), on the SqlStore's engine.

Why a separate module: sql_store.py owns clients and raw face enrollments; sessions add their own
tables and one multi-table write (an enrollment's samples + template + provenance in a single
transaction, so a gallery never holds half an enrollment).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.types import Sample
from storage import gallery_versions, schema
from storage.model_stamp import LEGACY_MODEL_ID, check_tenant
from storage.crypto import EmbeddingCipher, scope_aad
from storage.gallery_feed import Change
from storage.tenants import ensure_tenant
from storage.tx_hooks import TxHook, run as run_hook
from storage.timestamps import as_utc, now_utc as now_utc  # now_utc: callers import it from here

ACTIVE = ("pending", "in_progress", "ready", "active", "processing")
S, A, E, F = schema.recognition_sessions, schema.recognition_attempts, schema.enrollment_embeddings, schema.face_enrollments


def token_hash(token: str) -> str:
    """Tokens are bearer secrets: only their digest is stored, so a database dump grants nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ExpiredSession:
    """A session this write moved to `expired` (exactly one writer sees each, whatever the workers)."""

    id: str
    client_id: int
    kind: str
    user_id: str | None
    frames_processed: int


# Awaited inside the expiring transaction with the sessions it expired (their events commit with it).
ExpiryHook = Callable[[AsyncConnection, list[ExpiredSession]], Awaitable[None]]


@dataclass(frozen=True)
class SessionRecord:
    id: str
    client_id: int
    kind: str
    user_id: str | None
    session_type: str
    mode: str | None
    status: str
    params: dict[str, Any]
    result: dict[str, Any] | None
    frames_processed: int
    failed_attempts: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    completed_at: datetime | None


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        row.id, row.client_id, row.kind, row.user_id, row.session_type, row.mode, row.status, dict(row.params or {}),
        row.result, row.frames_processed, row.failed_attempts, as_utc(row.created_at), as_utc(row.updated_at),
        as_utc(row.expires_at), as_utc(row.completed_at) if row.completed_at else None,
    )


class SessionStore:
    def __init__(self, engine: AsyncEngine, cipher: EmbeddingCipher, recognizer: str = LEGACY_MODEL_ID) -> None:
        self.engine = engine
        self.cipher = cipher  # the SqlStore's: templates are sealed like every other gallery row
        self.recognizer = recognizer  # stamped on every template row (storage/model_stamp.py)

    # -- sessions --------------------------------------------------------------------------

    async def create_session(self, *, session_id: str, token: str, client_id: int, kind: str, user_id: str | None,
                             session_type: str, mode: str | None, status: str, params: dict[str, Any],
                             expires_at: datetime) -> SessionRecord:
        now = now_utc()
        values = dict(id=session_id, client_id=client_id, kind=kind, token_hash=token_hash(token), user_id=user_id,
                      session_type=session_type, mode=mode, status=status, params=params, result=None,
                      frames_processed=0, failed_attempts=0, created_at=now, updated_at=now, expires_at=expires_at,
                      completed_at=None)
        async with self.engine.begin() as conn:
            await conn.execute(S.insert().values(**values))
        values.pop("token_hash")
        return SessionRecord(**values)  # type: ignore[arg-type]

    async def by_token(self, token: str) -> SessionRecord | None:
        """The session a token names, while its client is active: deactivating a client revokes
        its session tokens at once, on every worker (issue 24), at no extra round trip."""
        active = sa.select(schema.clients.c.id).where(schema.clients.c.id == S.c.client_id,
                                                      schema.clients.c.is_active.is_(True))
        return await self._one(sa.and_(S.c.token_hash == token_hash(token), active.exists()))

    async def by_id(self, client_id: int, session_id: str, kind: str | None = None) -> SessionRecord | None:
        where = [S.c.id == session_id, S.c.client_id == client_id]
        if kind is not None:
            where.append(S.c.kind == kind)
        return await self._one(sa.and_(*where))

    async def _one(self, where: Any) -> SessionRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(S).where(where))).first()
        return _session(row) if row else None

    async def update(self, session_id: str, after: TxHook | None = None, **values: Any) -> None:
        values["updated_at"] = now_utc()
        async with self.engine.begin() as conn:
            await conn.execute(S.update().where(S.c.id == session_id).values(**values))
            await run_hook(conn, after)

    async def expire_stale(self, after: ExpiryHook | None = None) -> int:
        """Mark every unfinished session past its expiry as expired (all workers may run this)."""
        return await self._expire(S.c.expires_at < now_utc(), after)

    async def expire(self, session_id: str, after: ExpiryHook | None = None) -> bool:
        """Mark one unfinished session expired; False when it already was (or had finished)."""
        return await self._expire(S.c.id == session_id, after) == 1

    async def _expire(self, which: Any, after: ExpiryHook | None) -> int:
        async with self.engine.begin() as conn:
            rows = (await conn.execute(
                S.update().where(S.c.status.in_(ACTIVE), which).values(status="expired", updated_at=now_utc())
                .returning(S.c.id, S.c.client_id, S.c.kind, S.c.user_id, S.c.frames_processed))).all()
            expired = [ExpiredSession(r.id, int(r.client_id), r.kind, r.user_id, int(r.frames_processed or 0))
                       for r in rows]
            if expired and after is not None:
                await after(conn, expired)
        return len(expired)

    # -- attempts --------------------------------------------------------------------------

    async def record_attempt(self, *, session_id: str, client_id: int, user_id: str | None, mode: str, result: str,
                             reason: str, confidence: float, liveness_score: float, after: TxHook | None = None) -> int:
        async with self.engine.begin() as conn:
            res = await conn.execute(A.insert().values(
                session_id=session_id, client_id=client_id, user_id=user_id, mode=mode, result=result, reason=reason,
                confidence=float(confidence), liveness_score=float(liveness_score), created_at=now_utc(),
            ))
            await run_hook(conn, after)
        return int(res.inserted_primary_key[0])

    async def open_enrollments(self, client_id: int, user_id: str, except_id: str | None = None) -> int:
        """How many unfinished, unexpired enrollment sessions name this user (besides `except_id`):
        a user an enrollment created is only removed when no other enrollment is in flight."""
        query = sa.select(sa.func.count()).select_from(S).where(
            S.c.client_id == client_id, S.c.user_id == user_id, S.c.kind == "enrollment",
            S.c.status.in_(ACTIVE), S.c.expires_at > now_utc())
        if except_id is not None:
            query = query.where(S.c.id != except_id)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def user_failures_since(self, client_id: int, user_id: str, since: datetime,
                                  reasons: Collection[str] | None = None) -> list[datetime]:
        """Failure times of a user's verification attempts since `since`, newest first; only
        those with one of `reasons` when given (the ones that count toward lockouts)."""
        query = sa.select(A.c.created_at).where(
            A.c.client_id == client_id, A.c.user_id == user_id, A.c.result == "failure",
            A.c.mode == "verification", A.c.created_at >= since,
        )
        if reasons is not None:
            query = query.where(A.c.reason.in_(sorted(reasons)))
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.order_by(A.c.created_at.desc()))
            return [as_utc(r.created_at) for r in rows]

    # -- enrollment templates --------------------------------------------------------------

    async def store_enrollment(self, *, client_id: int, tenant_id: int, user_id: str, name: str,
                               session_id: str, samples: list[Sample], template: Sample, replace: bool,
                               after: TxHook | None = None) -> int:
        """Samples and their template into the gallery in one transaction; returns the template's
        face_enrollments id. `replace` first drops the user's previous rows in that tenant."""
        now = now_utc()
        async with self.engine.begin() as conn:
            await ensure_tenant(conn, client_id, tenant_id)  # race-free insert-or-get (issue 9)
            if replace:
                await conn.execute(F.delete().where(F.c.client_id == client_id, F.c.tenant_id == tenant_id,
                                                    F.c.user_id == user_id))
            await check_tenant(conn, client_id, tenant_id, self.recognizer)
            template_id = 0
            for kind, sample in [*(("sample", s) for s in samples), ("template", template)]:
                sealed, key_id = self.cipher.seal(sample.embedding, scope_aad(client_id, tenant_id, user_id))
                res = await conn.execute(F.insert().values(
                    client_id=client_id, tenant_id=tenant_id, user_id=user_id, name=name,
                    embedding=sealed, key_id=key_id, quality=float(sample.quality), created_at=now,
                    model_id=self.recognizer,
                ))
                entry_id = int(res.inserted_primary_key[0])
                await conn.execute(E.insert().values(
                    face_enrollment_id=entry_id, session_id=session_id, client_id=client_id, user_id=user_id,
                    kind=kind, angle=sample.angle, quality=float(sample.quality), created_at=now,
                ))
                template_id = entry_id
            await gallery_versions.bump(conn, client_id, tenant_id, Change(user_id=user_id))
            await run_hook(conn, after)  # e.g. the enrollment.completed outbox event
        return template_id

    # -- legacy listings (client-scoped, paginated) ----------------------------------------

    async def page(self, what: str, client_id: int, offset: int, limit: int,
                   item_id: str | int | None = None) -> tuple[int, list[dict[str, Any]]]:
        """Rows of sessions / attempts / embeddings of one client, newest first, as dicts."""
        if what == "embeddings":
            cols = [F.c.id, F.c.tenant_id, F.c.user_id, F.c.name, F.c.quality, F.c.created_at,
                    E.c.session_id, E.c.kind, E.c.angle]
            src = F.outerjoin(E, E.c.face_enrollment_id == F.c.id)
            where = [F.c.client_id == client_id, F.c.tenant_id == 0]
            key = F.c.id
        elif what == "attempts":
            cols, src, where, key = list(A.c), A, [A.c.client_id == client_id], A.c.id
        else:
            cols = [c for c in S.c if c.name != "token_hash"]
            src, where, key = S, [S.c.client_id == client_id], S.c.created_at
        if item_id is not None:
            where.append((F.c.id if what == "embeddings" else A.c.id if what == "attempts" else S.c.id) == item_id)
        async with self.engine.connect() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(src).where(*where))).scalar_one()
            rows = await conn.execute(
                sa.select(*cols).select_from(src).where(*where).order_by(key.desc()).offset(offset).limit(limit)
            )
            return int(total), [_plain(dict(r._mapping)) for r in rows]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: as_utc(v).isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
