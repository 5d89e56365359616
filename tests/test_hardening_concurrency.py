"""Issue 9: first enrollments into a new tenant race on the tenant row; none may be lost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.face_engine import FaceEngine
from storage.sql_store import SqlStore
from tests.conftest import unit_vector
from testkit.data import read
from tests.hardening_helpers import database_url, start_app
from testkit.helpers import form


async def test_parallel_first_enrollments_into_new_tenants_are_all_stored(store: SqlStore) -> None:
    """20 parallel first enrollments into each of 5 new tenants (precomputed embeddings: the
    race is in storage, not in the models): every call succeeds and every row is there."""
    client = (await store.create_client("race")).client
    tenants = [1000 + i for i in range(5)]
    jobs = [(t, f"user-{t}-{n}", unit_vector(t * 100 + n)) for t in tenants for n in range(20)]
    results = await asyncio.gather(
        *(store.add_enrollment(client.id, t, uid, uid, vec, 0.9) for t, uid, vec in jobs), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    ids = [r[0] for r in results if not isinstance(r, BaseException)]
    assert len(set(ids)) == 100
    assert sorted(await store.tenant_ids(client.id)) == tenants
    for t in tenants:
        rows = await store.enrollments(client.id, t)
        assert sorted(r.user_id for r in rows) == sorted(uid for tt, uid, _ in jobs if tt == t)
        stored = {r.user_id: r.embedding for r in rows}
        for tt, uid, vec in jobs:
            if tt == t:
                assert np.allclose(stored[uid], vec, atol=1e-6)
        assert (await store.gallery_version(client.id, t)).version >= 1


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_six_concurrent_first_enroll_calls_over_http_all_answer_200_and_are_listed(
    kind: str, aiohttp_client: Any, engine: FaceEngine, tmp_path: Path
) -> None:
    async with database_url(kind, tmp_path) as url:
        http, headers = await start_app(aiohttp_client, engine, url)
        image = read("scenes/obama_small.jpg")
        responses = await asyncio.gather(*(
            http.post("/enroll", data=form(image, tenant_id=77, user_id=n, name=f"N{n}"), headers=headers)
            for n in range(6)
        ))
        assert [r.status for r in responses] == [200] * 6
        ids = sorted([(await r.json())["enrollment_id"] for r in responses])
        listed = await (await http.get("/enrollments/77", headers=headers)).json()
        assert sorted(e["id"] for e in listed["enrollments"]) == ids
        assert sorted(e["user_id"] for e in listed["enrollments"]) == list(range(6))
        await http.close()
