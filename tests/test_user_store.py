"""UserStore and UsageStore on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from storage.sql_store import SqlStore
from storage.usage_store import UsageStore
from storage.user_store import PLATFORM_TENANT, DuplicateExternalId, UserFilter, UserStore


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


async def test_users_filters_stats_and_delete_with_faces(store: SqlStore) -> None:  # noqa: F811
    users = UserStore(store)
    a = (await store.create_client("a")).client
    b = (await store.create_client("b")).client
    ann = await users.create(a.id, "X1", "Ann Lee", "ann@x.org", {"k": [1, 2]})
    ben = await users.create(a.id, "X2", "Ben_Low", None, {})
    await users.create(b.id, "X1", "Other", None, {})
    with pytest.raises(DuplicateExternalId):
        await users.create(a.id, "X1", "Dup", None, {})
    await store.add_enrollment(a.id, PLATFORM_TENANT, ann.id, "Ann", _vec(1), 0.9)
    await store.add_enrollment(a.id, PLATFORM_TENANT, ann.id, "Ann", _vec(2), 0.8)
    await store.add_enrollment(a.id, 5, ben.id, "Ben in another tenant", _vec(3), 0.8)

    got = await users.get(a.id, ann.id)
    assert got is not None and got.metadata == {"k": [1, 2]} and got.enrollments_count == 2 and got.has_enrollment
    assert await users.get(b.id, ann.id) is None
    total, rows = await users.list(a.id, UserFilter(has_enrollment=False), 0, 10)
    assert (total, [r.id for r in rows]) == (1, [ben.id])
    assert (await users.list(a.id, UserFilter(search="_"), 0, 10))[0] == 1  # '_' is literal, not a wildcard
    assert (await users.list(a.id, UserFilter(search="X.ORG"), 0, 10))[1][0].id == ann.id
    await users.touch_authentication(a.id, ann.id)
    touched = await users.get(a.id, ann.id)
    assert touched is not None and touched.last_authentication is not None
    assert touched.last_authentication.tzinfo is not None
    await users.update(a.id, ben.id, is_active=False)
    assert await users.get_active_user(a.id, ben.id) is None
    stats = await users.stats(a.id)
    assert (stats.users, stats.active_users, stats.enrolled_users, stats.enrollments) == (2, 1, 1, 2)
    assert [round(float(e.embedding @ _vec(1)), 4) for e in await users.embeddings(ann)][0] == 1.0

    assert await users.delete(b.id, ann.id) is None
    assert await users.delete(a.id, ann.id) == 2
    assert await store.enrollments(a.id, PLATFORM_TENANT) == []
    assert len(await store.enrollments(a.id, 5)) == 1


async def test_usage_records_are_scoped(store: SqlStore) -> None:  # noqa: F811
    usage = UsageStore(store)
    a = (await store.create_client("a")).client
    b = (await store.create_client("b")).client
    await usage.record(a.id, "GET", "/api/clients/users/", 200, 3.5)
    await usage.record(a.id, "POST", "/api/clients/users/", 409, 1.25)
    await usage.record(b.id, "GET", "/api/clients/users/", 200, 2.0)
    total, rows = await usage.list(a.id, 0, 10)
    assert total == 2 and [r.status for r in rows] == [409, 200]
    assert await usage.get(b.id, rows[0].id) is None
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert await usage.summary_since(a.id, since) == {"requests": 2, "errors": 1, "avg_duration_ms": 2.375}
