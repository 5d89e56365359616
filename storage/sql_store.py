"""The SQL store: one SQLAlchemy Core implementation for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from engine.types import FloatArray
from storage import gallery_feed, gallery_versions, migrations, schema
from storage.crypto import EmbeddingCipher, scope_aad
from storage.engine_close import DriverThreads, close_engine
from storage.gallery_feed import Change
from storage.gallery_versions import GalleryVersion
from storage.key_store import KeyStore, insert_key
from storage.model_stamp import LEGACY_MODEL_ID, check_tenant
from storage.records import ADMIN, Client, CredentialCheck, Enrollment, NewClient, NewFace
from storage.secrets import hash_secret, new_api_key, new_api_secret
from storage.tenants import ensure_tenant
from storage.timestamps import as_utc
from storage.tx_hooks import TxHook, run as run_hook

log = logging.getLogger(__name__)

INTERNAL_CLIENT = "internal"


def async_url(url: str) -> str:
    """Map a plain database URL to its asyncio driver (aiosqlite / asyncpg)."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return "sqlite+aiosqlite:///" + path
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


class SqlStore:
    """Clients and face enrollments. Every query is scoped by client id; every write that changes
    what a gallery matches bumps its version in the same transaction (storage/gallery_versions.py)."""

    def __init__(self, url: str, cipher: EmbeddingCipher | None = None, recognizer: str = LEGACY_MODEL_ID) -> None:
        self.url = url
        # The engine's recogniser id: stamped on every embedding written, and tenants holding
        # another recogniser's embeddings are refused (storage/model_stamp.py).
        self.recognizer = recognizer
        # Embeddings at rest: AES-256-GCM when keys are configured (storage/crypto.py).
        self.cipher = cipher if cipher is not None else EmbeddingCipher({}, "")
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        kwargs: dict[str, Any] = {}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=5, max_overflow=5, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        # aiosqlite runs a thread per connection: close() waits for them (storage/engine_close.py).
        self._threads: DriverThreads | None = None
        if self.dialect == "sqlite":
            sa.event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            self._threads = DriverThreads(self.engine)
        # Every search reads its tenant's gallery version: on PostgreSQL through a pool of its own,
        # autocommit and without a pre-ping (one round trip instead of ping, BEGIN, SELECT and
        # ROLLBACK: p50 0.54 instead of 1.22 ms idle, BENCHMARKS.md); see gallery_version.
        # API keys: scopes, rotation, allowlists (storage/key_store.py).
        self.keys = KeyStore(self.engine)
        self._versions: AsyncEngine = self.engine if self.dialect == "sqlite" else create_async_engine(
            async_url(url), pool_size=2, max_overflow=8, pool_pre_ping=False, isolation_level="AUTOCOMMIT")

    async def open(self) -> int:
        async with self.engine.begin() as conn:
            return await migrations.migrate(conn)

    async def close(self) -> None:
        """When this returns, every connection is closed and no driver thread is left running."""
        await close_engine(self.engine, self._threads)
        if self._versions is not self.engine:
            await close_engine(self._versions)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:  # any driver error means "offline"
            log.warning("database ping failed", exc_info=True)
            return False

    # -- clients ---------------------------------------------------------------------------

    async def create_client(self, name: str, tier: str = "basic") -> NewClient:
        secret = new_api_secret()
        key = new_api_key()
        now = datetime.now(timezone.utc)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                schema.clients.insert().values(
                    name=name, api_key=key, secret_hash=hash_secret(secret), tier=tier, is_active=True, created_at=now
                )
            )
            client_id = int(result.inserted_primary_key[0])
            # the first key: the same key and secret, scope admin (the client's full power)
            await insert_key(conn, client_id, ADMIN, "primary", api_key=key, secret=secret)
        return NewClient(Client(client_id, name, key, tier, True, now), secret)

    async def authenticate_client(self, api_key: str, api_secret: str) -> Client | None:
        """The client if key and secret match (active or not: callers refuse inactive ones); None otherwise."""
        return (await self.check_credentials(api_key, api_secret)).client

    async def check_credentials(self, api_key: str, api_secret: str) -> CredentialCheck:
        """Any key of any client (storage/key_store.py): the same work whether or not the key
        exists, so the time taken does not tell which keys exist."""
        return await self.keys.check(api_key, api_secret)

    async def client_by_key(self, api_key: str) -> Client | None:
        row = await self._client_row(schema.clients.c.api_key == api_key)
        return _client(row) if row else None

    async def inactive_client_ids(self) -> set[int]:
        """Deactivated clients (api/revocation.py closes what they still hold open)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(schema.clients.c.id).where(schema.clients.c.is_active.is_(False)))
        return {r.id for r in rows}

    async def client_by_id(self, client_id: int) -> Client | None:
        row = await self._client_row(schema.clients.c.id == client_id)
        return _client(row) if row else None

    async def internal_client(self) -> Client:
        """The built-in client that owns face-API data when auth.face_api is off."""
        row = await self._client_row(schema.clients.c.name == INTERNAL_CLIENT)
        if row is not None:
            return _client(row)
        return (await self.create_client(INTERNAL_CLIENT, tier="enterprise")).client

    async def _client_row(self, where: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(sa.select(schema.clients).where(where))).first()

    # -- face enrollments ------------------------------------------------------------------

    async def add_enrollment(
        self, client_id: int, tenant_id: int, user_id: str, name: str, embedding: FloatArray, quality: float
    ) -> tuple[int, int]:
        """Store one embedding; returns (enrollment id, the tenant's enrollment count)."""
        now = datetime.now(timezone.utc)
        e = schema.face_enrollments
        async with self.engine.begin() as conn:
            await ensure_tenant(conn, client_id, tenant_id)  # race-free insert-or-get (issue 9)
            await check_tenant(conn, client_id, tenant_id, self.recognizer)
            sealed, key_id = self.cipher.seal(embedding, scope_aad(client_id, tenant_id, user_id))
            result = await conn.execute(
                e.insert().values(
                    client_id=client_id,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    name=name,
                    embedding=sealed,
                    key_id=key_id,
                    model_id=self.recognizer,
                    quality=float(quality),
                    created_at=now,
                )
            )
            new_id = int(result.inserted_primary_key[0])
            await gallery_versions.bump(conn, client_id, tenant_id, Change(added=(new_id,)))
            count = (
                await conn.execute(
                    sa.select(sa.func.count()).select_from(e).where(e.c.client_id == client_id, e.c.tenant_id == tenant_id)
                )
            ).scalar_one()
        return new_id, int(count)

    async def add_enrollments(self, client_id: int, tenant_id: int, faces: list[NewFace],
                              after: TxHook | None = None) -> tuple[list[int], int]:
        """Store many embeddings in one transaction with one version bump (bulk import);
        returns (their ids in input order, the tenant's enrollment count). `after` runs in the
        transaction (e.g. the enrollment.completed outbox events of tenant 0)."""
        now = datetime.now(timezone.utc)
        e = schema.face_enrollments
        async with self.engine.begin() as conn:
            await ensure_tenant(conn, client_id, tenant_id)  # race-free insert-or-get (issue 9)
            await check_tenant(conn, client_id, tenant_id, self.recognizer)
            rows = []
            for face in faces:
                sealed, key_id = self.cipher.seal(face.embedding, scope_aad(client_id, tenant_id, face.user_id))
                rows.append({"client_id": client_id, "tenant_id": tenant_id, "user_id": face.user_id, "name": face.name,
                             "embedding": sealed, "key_id": key_id, "model_id": self.recognizer,
                             "quality": float(face.quality), "created_at": now})
            result = await conn.execute(e.insert().returning(e.c.id, sort_by_parameter_order=True), rows)
            ids = [int(i) for i in result.scalars().all()]
            await gallery_versions.bump(conn, client_id, tenant_id, Change(added=tuple(ids)))
            await run_hook(conn, after)
            count = (await conn.execute(
                sa.select(sa.func.count()).select_from(e).where(e.c.client_id == client_id, e.c.tenant_id == tenant_id)
            )).scalar_one()
        return ids, int(count)

    async def tenant_exists(self, client_id: int, tenant_id: int) -> bool:
        t = schema.face_tenants
        async with self.engine.connect() as conn:
            row = await conn.execute(sa.select(t.c.id).where(t.c.client_id == client_id, t.c.tenant_id == tenant_id))
            return row.first() is not None

    async def tenant_ids(self, client_id: int) -> list[int]:
        t = schema.face_tenants
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(t.c.tenant_id).where(t.c.client_id == client_id).order_by(t.c.tenant_id)
            )
            return [int(r.tenant_id) for r in rows]

    async def enrollments(self, client_id: int, tenant_id: int) -> list[Enrollment]:
        """Every stored row of the tenant, as written (the `/enrollments` listing)."""
        e = schema.face_enrollments
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(e).where(e.c.client_id == client_id, e.c.tenant_id == tenant_id).order_by(e.c.id)
            )
            return [self._enrollment(r) for r in rows]

    async def gallery_rows(
        self, client_id: int, tenant_id: int, *, entry_ids: Collection[int] = (), user_ids: Collection[str] = (),
        after_id: int = 0, limit: int | None = None,
    ) -> list[Enrollment]:
        """The rows a gallery may match. A row whose user_id is a platform user of the client
        follows that user: skipped while the user is inactive (whatever API stored it, so no
        path can authenticate a deactivated user), named with the user's current name.
        With entry_ids / user_ids: only those rows (what a change feed delta names); with
        after_id / limit: one page in id order (a large gallery loads in batches)."""
        e, u = schema.face_enrollments, schema.users
        joined = e.outerjoin(u, sa.and_(u.c.client_id == e.c.client_id, u.c.id == e.c.user_id))
        columns = [c for c in e.c if c.name != "name"] + [sa.func.coalesce(u.c.name, e.c.name).label("name")]
        where = [e.c.client_id == client_id, e.c.tenant_id == tenant_id, sa.or_(u.c.id.is_(None), u.c.is_active)]
        # Only the lists given: an empty IN beside the other defeats both indexes (PostgreSQL
        # then scanned the whole tenant, ~11 ms at 100k faces, for a one-row catch-up).
        named = (([e.c.id.in_(list(entry_ids))] if entry_ids else [])
                 + ([e.c.user_id.in_(list(user_ids))] if user_ids else []))
        if named:
            where.append(sa.or_(*named))
        if after_id:
            where.append(e.c.id > after_id)
        query = sa.select(*columns).select_from(joined).where(*where).order_by(e.c.id)
        if limit is not None:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [self._enrollment(r) for r in rows]

    async def parked_rows(self, client_id: int, tenant_id: int) -> list[Enrollment]:
        """The rows gallery_rows leaves out: those of deactivated platform users (few)."""
        e, u = schema.face_enrollments, schema.users
        joined = e.join(u, sa.and_(u.c.client_id == e.c.client_id, u.c.id == e.c.user_id))
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(e).select_from(joined)
                .where(e.c.client_id == client_id, e.c.tenant_id == tenant_id, sa.not_(u.c.is_active))
                .order_by(e.c.id)
            )
            return [self._enrollment(r) for r in rows]

    async def gallery_batches(self, client_id: int, tenant_id: int, batch: int) -> AsyncIterator[list[Enrollment]]:
        """Every gallery row in id-ordered pages of `batch` (keyset paging: each page is a short
        query, so a million-row load neither holds a transaction open nor all rows at once)."""
        after = 0
        while True:
            rows = await self.gallery_rows(client_id, tenant_id, after_id=after, limit=batch)
            if rows:
                yield rows
            if len(rows) < batch:
                return
            after = rows[-1].id

    async def gallery_delta(self, client_id: int, tenant_id: int, after: int, upto: int) -> gallery_feed.Delta | None:
        async with self.engine.connect() as conn:
            return await gallery_feed.delta(conn, client_id, tenant_id, after, upto)

    async def gallery_anchor(self, client_id: int, tenant_id: int, version: int) -> str | None:
        async with self.engine.connect() as conn:
            return await gallery_feed.anchor(conn, client_id, tenant_id, version)

    async def gallery_scopes(self) -> list[tuple[int, int]]:
        """Every (client, tenant) with a gallery: what a worker loads at start."""
        t = schema.face_tenants
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(t.c.client_id, t.c.tenant_id).order_by(t.c.client_id, t.c.tenant_id))
            return [(int(r.client_id), int(r.tenant_id)) for r in rows]

    async def enrollment_count(self, client_id: int, tenant_id: int) -> int:
        e = schema.face_enrollments
        async with self.engine.connect() as conn:
            return int((await conn.execute(
                sa.select(sa.func.count()).select_from(e).where(e.c.client_id == client_id, e.c.tenant_id == tenant_id)
            )).scalar_one())

    def _enrollment(self, r: Any) -> Enrollment:
        return Enrollment(
            id=r.id,
            client_id=r.client_id,
            tenant_id=r.tenant_id,
            user_id=r.user_id,
            name=r.name,
            embedding=self.cipher.open(r.embedding, r.key_id, scope_aad(r.client_id, r.tenant_id, r.user_id), r.id),
            quality=r.quality,
            created_at=as_utc(r.created_at),
            model_id=r.model_id or LEGACY_MODEL_ID,
        )

    async def gallery_version(self, client_id: int, tenant_id: int) -> GalleryVersion:
        """Without a pre-ping a pooled connection the server dropped (a restart) fails on use;
        SQLAlchemy then empties the pool, and the read (idempotent) is tried once more."""
        try:
            return await self._read_version(client_id, tenant_id)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return await self._read_version(client_id, tenant_id)

    async def _read_version(self, client_id: int, tenant_id: int) -> GalleryVersion:
        async with self._versions.connect() as conn:
            return await gallery_versions.read(conn, client_id, tenant_id)

    async def bump_gallery_version(self, client_id: int, tenant_id: int) -> None:
        """For an explicit invalidation: every worker reloads the tenant on its next search."""
        async with self.engine.begin() as conn:
            await gallery_versions.bump(conn, client_id, tenant_id)

    async def enrollment_owners(self, client_id: int, tenant_id: int, *, enrollment_id: int | None = None,
                                name: str | None = None) -> list[str]:
        """The user ids of the rows a delete by id or by name would remove (no face data read)."""
        e = schema.face_enrollments
        query = sa.select(e.c.user_id).where(e.c.client_id == client_id, e.c.tenant_id == tenant_id)
        query = query.where(e.c.id == enrollment_id) if enrollment_id is not None else query.where(e.c.name == name)
        async with self.engine.connect() as conn:
            return [str(u) for (u,) in (await conn.execute(query)).all()]

    async def delete_enrollment(self, client_id: int, tenant_id: int, enrollment_id: int,
                                after: TxHook | None = None) -> bool:
        e = schema.face_enrollments
        async with self.engine.begin() as conn:
            result = await conn.execute(
                e.delete().where(e.c.client_id == client_id, e.c.tenant_id == tenant_id, e.c.id == enrollment_id)
            )
            if result.rowcount:
                await gallery_versions.bump(conn, client_id, tenant_id, Change(removed=(enrollment_id,)))
                await run_hook(conn, after)
            return bool(result.rowcount)

    async def delete_enrollments_by_name(self, client_id: int, tenant_id: int, name: str,
                                         after: TxHook | None = None) -> int:
        e = schema.face_enrollments
        scope = (e.c.client_id == client_id, e.c.tenant_id == tenant_id, e.c.name == name)
        async with self.engine.begin() as conn:
            ids = tuple(int(i) for (i,) in (await conn.execute(sa.select(e.c.id).where(*scope))).all())
            if not ids:
                return 0
            result = await conn.execute(e.delete().where(*scope, e.c.id.in_(ids)))
            await gallery_versions.bump(conn, client_id, tenant_id, Change(removed=ids))
            await run_hook(conn, after)
            return int(result.rowcount)


def _client(row: Any) -> Client:
    return Client(row.id, row.name, row.api_key, row.tier, bool(row.is_active), as_utc(row.created_at))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
