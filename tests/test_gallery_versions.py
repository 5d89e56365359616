"""Gallery versions on SQLite and PostgreSQL: every write that changes what a gallery matches
bumps its tenant's version in the same transaction, and a gallery copy is trusted only at the
current version."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import sqlalchemy as sa

from engine.types import Sample
from storage import gallery_versions, migrations, schema
from storage.cache import MemoryCache
from storage.galleries import GalleryService
from storage.session_store import SessionStore
from storage.sql_store import SqlStore
from storage.user_store import UserStore
from tests.conftest import POSTGRES_ADMIN_URL, unit_vector
from tests.test_gallery_consistency import enrollment_session_row


async def test_every_gallery_write_bumps_the_version(store: SqlStore) -> None:
    c = (await store.create_client("c")).client
    users = UserStore(store)
    sessions = SessionStore(store.engine, store.cipher)
    seen = [await store.gallery_version(c.id, 1)]
    assert seen[0] == gallery_versions.UNVERSIONED and not seen[0].shareable

    async def bumped() -> None:
        now = await store.gallery_version(c.id, 1)
        assert now.version == seen[-1].version + 1 and now.stamp != seen[-1].stamp and now.shareable
        seen.append(now)

    first, _ = await store.add_enrollment(c.id, 1, "7", "Ann", unit_vector(1), 0.8)
    await bumped()
    await store.add_enrollment(c.id, 1, "8", "Ben", unit_vector(2), 0.8)
    await bumped()
    assert await store.delete_enrollment(c.id, 1, first) is True
    await bumped()
    assert await store.delete_enrollment(c.id, 1, first) is False  # nothing changed, nothing bumped
    assert await store.gallery_version(c.id, 1) == seen[-1]
    assert await store.delete_enrollments_by_name(c.id, 1, "Ben") == 1
    await bumped()
    user = await users.create(c.id, "ext", "Cy", None, {})
    no_session: Any = None  # a template with no recording session (enrollment_embeddings.session_id is nullable)
    await sessions.store_enrollment(client_id=c.id, tenant_id=1, user_id=user.id, name="Cy", session_id=no_session,
                                    samples=[], template=Sample(unit_vector(3), 0.9, None), replace=True)
    await bumped()
    await users.update(c.id, user.id, email="cy@example.com")  # nothing a gallery shows
    assert await store.gallery_version(c.id, 1) == seen[-1]
    await users.update(c.id, user.id, is_active=True)  # unchanged value
    assert await store.gallery_version(c.id, 1) == seen[-1]
    await users.update(c.id, user.id, is_active=False)
    await bumped()
    assert await store.gallery_rows(c.id, 1) == []  # inactive: not matchable ...
    assert [r.name for r in await store.enrollments(c.id, 1)] == ["Cy"]  # ... but stored
    await users.update(c.id, user.id, is_active=True, name="Cyrus")
    await bumped()
    assert [(r.user_id, r.name) for r in await store.gallery_rows(c.id, 1)] == [(user.id, "Cyrus")]
    sid = await enrollment_session_row(sessions, user.id, c.id)
    await sessions.update(sid, status="completed", result={"user_id": user.id, "user_name": "Cyrus", "embedding_id": 9})
    assert await users.delete(c.id, user.id) == 1
    await bumped()
    assert await store.gallery_rows(c.id, 1) == []
    row = await sessions.by_id(c.id, sid)  # the JSON scrub, on this dialect too
    assert row is not None and row.status == "completed" and row.params["external_id"] is None
    assert row.result == {"user_id": user.id, "user_name": None, "embedding_id": 9}


async def test_concurrent_first_bumps_all_count(store: SqlStore) -> None:
    """Many writers racing to create a tenant's version row: the losers' INSERTs fail on the
    primary key and retry as UPDATEs inside the same transaction; no bump is lost."""
    c = (await store.create_client("c")).client

    async def one() -> None:
        async with store.engine.begin() as conn:
            await gallery_versions.bump(conn, c.id, 42)

    await asyncio.gather(*(one() for _ in range(8)))
    assert (await store.gallery_version(c.id, 42)).version == 8


async def test_client_wide_bump_covers_tenants_without_a_version_row(store: SqlStore) -> None:
    """A tenant written before schema v4 has no row until migration 4 seeds one; a client-wide
    bump creates any that are still missing, so no tenant stays at version 0."""
    c = (await store.create_client("c")).client
    await store.add_enrollment(c.id, 3, "7", "Ann", unit_vector(1), 0.8)
    await store.add_enrollment(c.id, 5, "8", "Ben", unit_vector(2), 0.8)
    v = schema.gallery_versions
    async with store.engine.begin() as conn:  # as if written before v4
        await conn.execute(v.delete())
        # Every later migration too, or the newest one applied keeps migration 4 from running again
        # (they are idempotent: create_all checks first).
        await conn.execute(schema.schema_version.delete().where(schema.schema_version.c.version >= 4))
        await conn.execute(sa.text("DROP TABLE gallery_versions"))
    assert await store.open() == migrations.NEWEST  # migration 4 runs again and seeds
    seeded = {t: await store.gallery_version(c.id, t) for t in (3, 5)}
    assert all(s.version == 1 and s.shareable for s in seeded.values())

    async with store.engine.begin() as conn:
        await conn.execute(v.delete().where(v.c.tenant_id == 5))
        await gallery_versions.bump_client(conn, c.id)
    assert (await store.gallery_version(c.id, 3)).version == 2
    assert (await store.gallery_version(c.id, 5)).version == 1


async def test_gallery_service_trusts_only_copies_at_the_current_version(store: SqlStore) -> None:
    """The blob of an older version may sit in the cache; it is never served."""
    c = (await store.create_client("c")).client
    cache = MemoryCache()
    await store.add_enrollment(c.id, 1, "7", "Ann", unit_vector(1), 0.8)
    a = GalleryService(store, cache, ttl=60)
    assert [e.name for e in (await a.gallery(c.id, 1)).entries()] == ["Ann"]
    old = await store.gallery_version(c.id, 1)
    assert (await a.status(c.id, 1)).cached is True
    await store.add_enrollment(c.id, 1, "8", "Ben", unit_vector(2), 0.8)
    assert await cache.get(f"gallery:{c.id}:1:{old.tag}:{store.recognizer}") is not None  # the old blob is still there
    assert (await a.status(c.id, 1)).cached is False  # not for the current version
    b = GalleryService(store, cache, ttl=60)
    for w in (a, b):
        assert [e.name for e in (await w.gallery(c.id, 1, every_addition=True)).entries()] == ["Ann", "Ben"]
    status = await b.status(c.id, 1)
    assert status.cached is True and status.enrollment_count == 2


async def test_removed_version_follows_removals_only_and_migration_16_assumes_the_worst(store: SqlStore) -> None:
    """Additions leave `removed` where it was; a deletion, a user change or a reset moves it to
    the new version. A database from before v16 gets the column with every version counted as
    a removal (nobody recorded which were)."""
    c = (await store.create_client("c")).client
    users = UserStore(store)
    first, _ = await store.add_enrollment(c.id, 1, "7", "Ann", unit_vector(1), 0.8)
    await store.add_enrollment(c.id, 1, "8", "Ben", unit_vector(2), 0.8)
    assert (await store.gallery_version(c.id, 1)).removed == 0
    assert await store.delete_enrollment(c.id, 1, first) is True
    assert (await store.gallery_version(c.id, 1)).removed == 3
    await store.add_enrollment(c.id, 1, "9", "Cat", unit_vector(3), 0.8)
    assert (v := await store.gallery_version(c.id, 1)).version == 4 and v.removed == 3
    user = await users.create(c.id, "p0", "Platform", None, {})
    await users.update(c.id, user.id, is_active=False)  # a client-wide bump naming the user
    assert (v := await store.gallery_version(c.id, 1)).removed == v.version == 5
    await store.add_enrollment(c.id, 1, "9", "Cat", unit_vector(4), 0.8)
    await store.bump_gallery_version(c.id, 1)  # an explicit refresh: a reset
    assert (v := await store.gallery_version(c.id, 1)).removed == v.version == 7

    await store.add_enrollment(c.id, 1, "9", "Cat", unit_vector(5), 0.8)
    async with store.engine.begin() as conn:  # as if written before v16
        await conn.execute(schema.schema_version.delete().where(schema.schema_version.c.version >= 16))
        await conn.execute(sa.text("ALTER TABLE gallery_versions DROP COLUMN removed_version"))
    assert await store.open() == migrations.NEWEST
    assert (v := await store.gallery_version(c.id, 1)).version == 8 and v.removed == 8


async def test_version_reads_survive_the_server_dropping_their_connections(store: SqlStore) -> None:
    """Version reads (one per search) skip the pool's pre-ping on PostgreSQL: a connection the
    server dropped fails on use, and the read is retried on a fresh one instead of failing."""
    c = (await store.create_client("c")).client
    await store.add_enrollment(c.id, 1, "7", "Ann", unit_vector(1), 0.8)
    assert (await store.gallery_version(c.id, 1)).version == 1  # a pooled connection now exists
    if store.dialect == "postgresql":
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            database = store.url.rsplit("/", 1)[1]
            dropped = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1", database)
        finally:
            await admin.close()
        assert dropped >= 1
    await store.add_enrollment(c.id, 1, "8", "Ben", unit_vector(2), 0.8)
    assert (await store.gallery_version(c.id, 1)).version == 2
