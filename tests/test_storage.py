"""The SQL store on the embedded default (SQLite) and on the real PostgreSQL server."""

from __future__ import annotations

import numpy as np

from storage import migrations, schema
from storage.secrets import hash_secret
from storage.sql_store import SqlStore
from tests.conftest import unit_vector


async def test_migrations_are_idempotent(store: SqlStore) -> None:
    newest = migrations.NEWEST
    assert newest >= 2
    assert await store.open() == newest
    assert await store.open() == newest
    assert await store.ping() is True


async def test_client_secrets_are_hashed_and_checked(store: SqlStore) -> None:
    made = await store.create_client("acme", tier="premium")
    assert made.client.api_key.startswith("fs_") and len(made.api_secret) >= 40
    async with store.engine.connect() as conn:
        from storage import schema

        row = (await conn.execute(schema.clients.select())).first()
    assert row is not None and row.secret_hash == hash_secret(made.api_secret)
    assert made.api_secret not in row.secret_hash
    ok = await store.authenticate_client(made.client.api_key, made.api_secret)
    assert ok is not None and ok.id == made.client.id and ok.tier == "premium"
    assert await store.authenticate_client(made.client.api_key, made.api_secret + "x") is None
    assert await store.authenticate_client("fs_unknown", made.api_secret) is None


async def test_enrollments_are_scoped_by_client_and_tenant(store: SqlStore) -> None:
    a = (await store.create_client("a")).client
    b = (await store.create_client("b")).client
    id1, count = await store.add_enrollment(a.id, 1, "7", "Ann", unit_vector(1), 0.8)
    assert count == 1
    _, count = await store.add_enrollment(a.id, 1, "8", "Ben", unit_vector(2), 0.7)
    assert count == 2
    await store.add_enrollment(b.id, 1, "7", "Other", unit_vector(3), 0.9)

    rows = await store.enrollments(a.id, 1)
    assert [(r.user_id, r.name) for r in rows] == [("7", "Ann"), ("8", "Ben")]
    assert np.allclose(rows[0].embedding, unit_vector(1)) and rows[0].embedding.dtype == np.float32
    assert rows[0].created_at.tzinfo is not None
    assert await store.tenant_exists(a.id, 1) and not await store.tenant_exists(a.id, 2)

    assert await store.delete_enrollment(b.id, 1, id1) is False  # another client's id
    assert await store.delete_enrollment(a.id, 1, id1) is True
    assert await store.delete_enrollments_by_name(b.id, 1, "Ben") == 0
    assert await store.delete_enrollments_by_name(a.id, 1, "Ben") == 1
    assert await store.enrollments(a.id, 1) == []
    assert [r.name for r in await store.enrollments(b.id, 1)] == ["Other"]


async def test_internal_client_is_created_once(store: SqlStore) -> None:
    first = await store.internal_client()
    second = await store.internal_client()
    assert first.id == second.id and first.name == "internal"
