"""Platform users (`/api/clients/users/`), on the SqlStore's engine.

A user's faces are the client's gallery rows in tenant 0 (the tenant streaming and session
enrollment write to) whose user_id is the user's id; `enrollments_count` is computed from them.
The root face API may also have stored rows for that id in other tenants, so what a user is
(active, named, existing) governs every tenant of the client: deactivating or renaming bumps all
of the client's gallery versions, and deleting removes the user's rows in every tenant and their
name from session records, all in the user write's own transaction (right to deletion).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from storage import gallery_versions, schema
from storage.crypto import EmbeddingCipher, scope_aad
from storage.erasure import scrub_sessions
from storage.model_stamp import LEGACY_MODEL_ID
from storage.records import Enrollment, User
from storage.sql_store import SqlStore
from storage.tx_hooks import TxHook, run as run_hook
from storage.timestamps import as_utc

PLATFORM_TENANT = 0  # same as streaming.session.TENANT_ID (storage may not import streaming)
GALLERY_FIELDS = ("is_active", "name")  # user fields a gallery depends on (storage.sql_store.gallery_rows)

u = schema.users
e = schema.face_enrollments


class DuplicateExternalId(Exception):
    pass


@dataclass(frozen=True)
class UserFilter:
    search: str | None = None
    is_active: bool | None = None
    has_enrollment: bool | None = None


@dataclass(frozen=True)
class UserStats:
    users: int
    active_users: int
    enrolled_users: int
    enrollments: int


def _has_faces() -> Any:
    return sa.exists().where(e.c.client_id == u.c.client_id, e.c.tenant_id == PLATFORM_TENANT, e.c.user_id == u.c.id)


def _count_column() -> Any:
    return (
        sa.select(sa.func.count())
        .where(e.c.client_id == u.c.client_id, e.c.tenant_id == PLATFORM_TENANT, e.c.user_id == u.c.id)
        .scalar_subquery()
        .label("enrollments_count")
    )


def _user(row: Any) -> User:
    return User(
        id=row.id, client_id=row.client_id, external_id=row.external_id, name=row.name, email=row.email,
        metadata=dict(row.metadata or {}), is_active=bool(row.is_active),
        created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),  # type: ignore[arg-type]
        last_authentication=as_utc(row.last_authentication),
        enrollments_count=int(getattr(row, "enrollments_count", 0) or 0),
    )


class UserStore:
    def __init__(self, store: SqlStore) -> None:
        self._engine = store.engine
        self._cipher: EmbeddingCipher = store.cipher

    async def create(
        self, client_id: int, external_id: str, name: str, email: str | None, metadata: dict[str, Any],
        after: Callable[[User], TxHook] | None = None,
    ) -> User:
        now = datetime.now(timezone.utc)
        user = User(str(uuid.uuid4()), client_id, external_id, name, email, metadata, True, now, now)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(u.insert().values(
                    id=user.id, client_id=client_id, external_id=external_id, name=name, email=email,
                    metadata=metadata, is_active=True, created_at=now, updated_at=now,
                ))
                await run_hook(conn, after(user) if after else None)
        except IntegrityError as exc:
            raise DuplicateExternalId(external_id) from exc
        return user

    async def get(self, client_id: int, user_id: str) -> User | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                sa.select(u, _count_column()).where(u.c.client_id == client_id, u.c.id == user_id)
            )).first()
        return _user(row) if row else None

    async def get_active_user(self, client_id: int, user_id: str) -> User | None:
        """For session code: the user if it exists in this client and is active, else None."""
        user = await self.get(client_id, user_id)
        return user if user is not None and user.is_active else None

    async def by_external_id(self, client_id: int, external_id: str) -> User | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                sa.select(u, _count_column()).where(u.c.client_id == client_id, u.c.external_id == external_id)
            )).first()
        return _user(row) if row else None

    def _where(self, client_id: int, flt: UserFilter) -> list[Any]:
        where: list[Any] = [u.c.client_id == client_id]
        if flt.search:
            pattern = "%" + flt.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(sa.or_(
                sa.func.lower(u.c.name).like(pattern, escape="\\"),
                sa.func.lower(sa.func.coalesce(u.c.email, "")).like(pattern, escape="\\"),
                sa.func.lower(u.c.external_id).like(pattern, escape="\\"),
            ))
        if flt.is_active is not None:
            where.append(u.c.is_active == flt.is_active)
        if flt.has_enrollment is not None:
            enrolled = _has_faces()
            where.append(enrolled if flt.has_enrollment else ~enrolled)
        return where

    async def list(self, client_id: int, flt: UserFilter, offset: int, limit: int) -> tuple[int, list[User]]:
        where = self._where(client_id, flt)
        async with self._engine.connect() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(u).where(*where))).scalar_one()
            rows = await conn.execute(
                sa.select(u, _count_column()).where(*where).order_by(u.c.created_at, u.c.id).offset(offset).limit(limit)
            )
            return int(total), [_user(r) for r in rows]

    async def update(self, client_id: int, user_id: str, after: TxHook | None = None, **fields: Any) -> User | None:
        fields["updated_at"] = datetime.now(timezone.utc)
        scope = (u.c.client_id == client_id, u.c.id == user_id)
        matched = {k: fields[k] for k in GALLERY_FIELDS if k in fields}
        try:
            async with self._engine.begin() as conn:
                changed = 0
                if matched:
                    # Write the gallery fields only where they differ: the rowcount says, under the
                    # write lock, whether galleries must change (a read-then-compare could race).
                    differs = sa.or_(*(u.c[k] != v for k, v in matched.items()))
                    changed = (await conn.execute(u.update().where(*scope, differs).values(**matched))).rowcount
                result = await conn.execute(u.update().where(*scope).values(**fields))
                if changed:
                    await gallery_versions.bump_client(conn, client_id, user_id)
                if result.rowcount:
                    await run_hook(conn, after)
        except IntegrityError as exc:
            raise DuplicateExternalId(str(fields.get("external_id"))) from exc
        return await self.get(client_id, user_id) if result.rowcount else None

    async def delete(self, client_id: int, user_id: str, after: TxHook | None = None) -> int | None:
        """Delete the user, their face embeddings in every tenant and their name in session
        records, in one transaction; None if absent, else the embeddings removed."""
        async with self._engine.begin() as conn:
            found = await conn.execute(u.delete().where(u.c.client_id == client_id, u.c.id == user_id))
            if not found.rowcount:
                return None
            removed = await conn.execute(e.delete().where(e.c.client_id == client_id, e.c.user_id == user_id))
            await gallery_versions.bump_client(conn, client_id, user_id)
            await scrub_sessions(conn, client_id, user_id)
            await run_hook(conn, after)
            return int(removed.rowcount)

    async def embeddings(self, user: User) -> list[Enrollment]:
        """The user's decrypted gallery rows (export / portability)."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(e).where(
                e.c.client_id == user.client_id, e.c.tenant_id == PLATFORM_TENANT, e.c.user_id == user.id
            ).order_by(e.c.id))
            return [
                Enrollment(
                    r.id, r.client_id, r.tenant_id, r.user_id, r.name,
                    self._cipher.open(r.embedding, r.key_id, scope_aad(r.client_id, r.tenant_id, r.user_id), r.id),
                    r.quality, as_utc(r.created_at), r.model_id or LEGACY_MODEL_ID,  # type: ignore[arg-type]
                )
                for r in rows
            ]

    async def touch_authentication(self, client_id: int, user_id: str) -> None:
        """For session code: record a successful authentication (the seed's last_authentication)."""
        async with self._engine.begin() as conn:
            await conn.execute(u.update().where(u.c.client_id == client_id, u.c.id == user_id).values(
                last_authentication=datetime.now(timezone.utc)
            ))

    async def stats(self, client_id: int) -> UserStats:
        enrolled = _has_faces()
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(sa.case((u.c.is_active, 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(sa.case((enrolled, 1), else_=0)), 0),
            ).select_from(u).where(u.c.client_id == client_id))).one()
            enrollments = (await conn.execute(sa.select(sa.func.count()).select_from(e).where(
                e.c.client_id == client_id, e.c.tenant_id == PLATFORM_TENANT,
                e.c.user_id.in_(sa.select(u.c.id).where(u.c.client_id == client_id)),
            ))).scalar_one()
        return UserStats(int(row[0]), int(row[1]), int(row[2]), int(enrollments))



