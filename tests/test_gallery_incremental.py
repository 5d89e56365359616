"""Incremental galleries: a gallery changed in place by the change feed matches one rebuilt from
the database after any sequence of writes; a worker that misses notifications (Redis down)
catches up from the feed and never returns a deleted face; the feed only falls back to a full
reload when it cannot bridge the gap."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import redis.asyncio
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.gallery_index import Gallery, GalleryEntry
from engine.types import Sample
from storage import gallery_feed
from storage.cache import MemoryCache
from storage.galleries import GalleryOptions, GalleryService
from storage.gallery_notify import RedisNotifier
from storage.redis_cache import RedisCache
from storage.session_store import SessionStore
from storage.sql_store import SqlStore
from storage.user_store import UserStore
from tests.conftest import REDIS_URL, unit_vector
from tests.waiting import wait_until

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


async def _subscribers(client: redis.asyncio.Redis, channel: str, count: int) -> bool:
    """At least `count` connections subscribed to `channel` (Redis PUBSUB NUMSUB)."""
    return any(int(n) >= count for _, n in await client.pubsub_numsub(channel))
PROBES = [unit_vector(10_000 + i) for i in range(6)]


def _near(seed: int, base: int) -> np.ndarray:
    """A vector close to unit_vector(base): several rows per "person", so searches have real
    nearest neighbours rather than near-orthogonal noise."""
    v = unit_vector(base) + 0.6 * unit_vector(seed)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _entries(gallery: Gallery) -> list[tuple[int, str, str]]:
    return [(e.entry_id, e.user_id, e.name) for e in gallery.entries()]


def _results(gallery: Gallery) -> list[Any]:
    out: list[Any] = [sorted((e.entry_id, e.user_id, e.name) for e in gallery.entries())]
    for probe in PROBES + [_near(99, b) for b in range(4)]:
        out.append([(m.entry_id, m.user_id, m.name, round(m.similarity, 5)) for m in gallery.search(probe, k=3)])
    return out


# -- the in-memory gallery alone ---------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 5), st.integers(0, 3)),  # user, person vector
        st.tuples(st.just("remove"), st.integers(0, 40), st.just(0)),  # the n-th id ever added
        st.tuples(st.just("remove_user"), st.integers(0, 5), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(ops)
def test_in_place_changes_search_like_a_rebuild(sequence: list[tuple[str, int, int]]) -> None:
    gallery = Gallery()
    truth: dict[int, GalleryEntry] = {}
    added: list[int] = []
    for step, (op, a, b) in enumerate(sequence):
        if op == "add":
            entry = GalleryEntry(100 + step, f"u{a}", f"User {a}", _near(step, b))
            gallery.add([entry])
            truth[entry.entry_id] = entry
            added.append(entry.entry_id)
        elif op == "remove" and added:
            entry_id = added[a % len(added)]
            assert gallery.remove([entry_id]) == (1 if entry_id in truth else 0)
            truth.pop(entry_id, None)
        elif op == "remove_user":
            gallery.remove_user(f"u{a}")
            truth = {k: e for k, e in truth.items() if e.user_id != f"u{a}"}
        assert len(gallery) == len(truth)
    rebuilt = Gallery(sorted(truth.values(), key=lambda e: e.entry_id))
    assert _results(gallery) == _results(rebuilt)
    for user in {e.user_id for e in truth.values()}:
        best = gallery.best_for_user(user, PROBES[0])
        again = rebuilt.best_for_user(user, PROBES[0])
        assert best is not None and again is not None and best.entry_id == again.entry_id


# -- through the database and the change feed --------------------------------------------------

store_ops = st.lists(
    st.one_of(
        st.tuples(st.just("enroll"), st.integers(0, 4), st.integers(0, 3)),
        st.tuples(st.just("delete"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("delete_name"), st.integers(0, 4), st.just(0)),
        st.tuples(st.just("replace"), st.integers(0, 4), st.integers(0, 3)),  # a session re-enrollment
        st.tuples(st.just("deactivate"), st.integers(0, 1), st.just(0)),  # platform users p0, p1
        st.tuples(st.just("activate"), st.integers(0, 1), st.just(0)),
        st.tuples(st.just("rename"), st.integers(0, 1), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=25,
)


async def _run_store_sequence(db: Path, sequence: list[tuple[str, int, int]]) -> None:
    store = SqlStore(f"sqlite:///{db}")
    await store.open()
    try:
        c = (await store.create_client("c")).client
        users, sessions = UserStore(store), SessionStore(store.engine, store.cipher)
        platform = [(await users.create(c.id, f"p{i}", f"Platform {i}", None, {})).id for i in range(2)]
        ids = [f"u{i}" for i in range(3)] + platform
        warm = GalleryService(store, MemoryCache(), 60)
        kept = await warm.gallery(c.id, 1)
        enrolled: list[int] = []
        for step, (op, a, b) in enumerate(sequence):
            if op == "enroll":
                new_id, _ = await store.add_enrollment(c.id, 1, ids[a], ids[a], _near(step, b), 0.9)
                enrolled.append(new_id)
            elif op == "delete" and enrolled:
                await store.delete_enrollment(c.id, 1, enrolled[a % len(enrolled)])
            elif op == "delete_name":
                await store.delete_enrollments_by_name(c.id, 1, ids[a])
            elif op == "replace":
                no_session: Any = None
                await sessions.store_enrollment(
                    client_id=c.id, tenant_id=1, user_id=ids[a], name=ids[a], session_id=no_session,
                    samples=[Sample(_near(step + 500, b), 0.9, None)], template=Sample(_near(step, b), 0.9, None),
                    replace=True)
            elif op in ("deactivate", "activate"):
                await users.update(c.id, platform[a], is_active=op == "activate")
            elif op == "rename":
                await users.update(c.id, platform[a], name=f"Renamed {b}")
            if step % 3 == 0:  # sometimes several changes pile up between two searches
                assert await warm.gallery(c.id, 1) is kept  # moved forward in place, never rebuilt
                # These writes are another worker's (warm hears no commits): the copy it answers
                # with may lack a face being added, never hold a removed face or an old name.
                truth = await GalleryService(store, MemoryCache(), 60).gallery(c.id, 1)
                assert set(_entries(kept)) <= set(_entries(truth))
        assert await warm.gallery(c.id, 1, every_addition=True) is kept
        fresh = await GalleryService(store, MemoryCache(), 60).gallery(c.id, 1)
        assert _results(kept) == _results(fresh)
        await warm.close()
    finally:
        await store.close()


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(store_ops)
def test_feed_keeps_a_warm_gallery_identical_to_a_full_reload(sequence: list[tuple[str, int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run_store_sequence(Path(tmp) / "feed.db", sequence))


async def test_feed_rows_name_each_write(store: SqlStore) -> None:
    c = (await store.create_client("c")).client
    first, _ = await store.add_enrollment(c.id, 4, "a", "Ann", unit_vector(1), 0.9)
    second, _ = await store.add_enrollment(c.id, 4, "b", "Ben", unit_vector(2), 0.9)
    assert await store.delete_enrollment(c.id, 4, first) is True
    await store.bump_gallery_version(c.id, 4)  # an explicit refresh: a reset
    delta = await store.gallery_delta(c.id, 4, 0, 3)
    assert delta is not None and delta.entry_ids == {first, second} and not delta.user_ids
    assert await store.gallery_delta(c.id, 4, 2, 4) is None  # the reset at 4: reload
    assert await store.gallery_delta(c.id, 4, 0, 9) is None  # seqs 5..9 do not exist: a gap


async def test_a_gap_in_the_feed_means_a_full_reload_never_a_stale_gallery(store: SqlStore) -> None:
    c = (await store.create_client("c")).client
    keep, _ = await store.add_enrollment(c.id, 2, "a", "Ann", unit_vector(1), 0.9)
    gone, _ = await store.add_enrollment(c.id, 2, "b", "Ben", unit_vector(2), 0.9)
    warm = GalleryService(store, MemoryCache(), 60)
    old = await warm.gallery(c.id, 2)
    assert await store.delete_enrollment(c.id, 2, gone) is True
    async with store.engine.begin() as conn:  # as if pruned, or written before the feed existed
        await conn.execute(gallery_feed.gallery_changes.delete())
    now = await warm.gallery(c.id, 2)
    assert now is not old and [e.entry_id for e in now.entries()] == [keep]


# -- across workers: notifications, and a worker that misses them ------------------------------


async def test_a_worker_that_misses_notifications_never_returns_a_deleted_face(store: SqlStore) -> None:
    """Worker B's Redis is down: it hears nothing, and still never serves the deleted face; it
    catches up from the feed in place on its next search."""
    c = (await store.create_client("c")).client
    ann, _ = await store.add_enrollment(c.id, 1, "ann", "Ann", unit_vector(1), 0.9)
    await store.add_enrollment(c.id, 1, "ben", "Ben", unit_vector(2), 0.9)
    a = GalleryService(store, MemoryCache(), 60, notifier=RedisNotifier(REDIS_URL, f"t15:{uuid.uuid4().hex}:"))
    dead = RedisCache(DEAD_REDIS)
    b = GalleryService(store, dead, 60, notifier=RedisNotifier(DEAD_REDIS, "t15:"))
    await a.start()
    await b.start()
    try:
        gallery_b = await b.gallery(c.id, 1)
        assert gallery_b.search(unit_vector(1), k=1)[0].user_id == "ann"
        assert await store.delete_enrollment(c.id, 1, ann) is True
        await asyncio.sleep(0.2)  # whatever B could have heard, it heard nothing
        found = (await b.gallery(c.id, 1)).search(unit_vector(1), k=5)
        assert [m.user_id for m in found] == ["ben"]
        assert await b.gallery(c.id, 1) is gallery_b  # caught up in place, not reloaded
        assert ann not in gallery_b and (await b.status(c.id, 1)).cache_online is False
    finally:
        await a.close()
        await b.close()
        await dead.close()


async def test_an_enrollment_reaches_another_worker_through_redis_before_it_searches(store: SqlStore) -> None:
    prefix = f"t15:{uuid.uuid4().hex}:"
    a = GalleryService(store, MemoryCache(), 60, notifier=RedisNotifier(REDIS_URL, prefix))
    b = GalleryService(store, MemoryCache(), 60, notifier=RedisNotifier(REDIS_URL, prefix))
    c = (await store.create_client("c")).client
    await store.add_enrollment(c.id, 1, "ann", "Ann", unit_vector(1), 0.9)
    await a.start()
    await b.start()
    try:
        gallery_b = await b.gallery(c.id, 1)
        # Both workers' subscriptions are up (asked of Redis, not assumed after a sleep): B must
        # learn of the enrollment from the notification, not from a catch-up on subscribing.
        channel = f"{prefix}gallery-changes"
        probe = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            await wait_until(lambda: _subscribers(probe, channel, 2), message="both workers subscribed")
        finally:
            await probe.aclose()
        new_id, _ = await store.add_enrollment(c.id, 1, "ben", "Ben", unit_vector(2), 0.9)
        # B adds it on the notification, without being asked
        await wait_until(lambda: new_id in gallery_b, message="the notification never arrived", interval=0.005)
        assert b.loaded_version(c.id, 1) == (await store.gallery_version(c.id, 1)).version
        assert gallery_b.search(unit_vector(2), k=1)[0].user_id == "ben"
    finally:
        await a.close()
        await b.close()


async def test_another_workers_additions_never_stall_a_search_its_removals_always_do(store: SqlStore) -> None:
    """Worker B hears nothing (dead Redis). An enrollment made by another worker does not hold
    B's next search up (B answers from its copy and catches up behind it); a deletion does (B
    never answers with the deleted face); B's own enrollment is in its very next answer."""
    c = (await store.create_client("c")).client
    ann, _ = await store.add_enrollment(c.id, 1, "ann", "Ann", unit_vector(1), 0.9)
    other = SqlStore(store.url)  # the other worker's own connection pool: B's commit hook never fires
    await other.open()
    b = GalleryService(store, MemoryCache(), 60, notifier=RedisNotifier(DEAD_REDIS, "t15:"))
    await b.start()
    try:
        gallery_b = await b.gallery(c.id, 1)
        ben, _ = await other.add_enrollment(c.id, 1, "ben", "Ben", unit_vector(2), 0.9)
        answered = await b.gallery(c.id, 1)
        assert answered is gallery_b and ben not in answered  # did not wait for the addition
        # ...which lands behind the answer, without another search
        await wait_until(lambda: ben in gallery_b, message="the background catch-up never landed", interval=0.005)
        version = await store.gallery_version(c.id, 1)
        assert b.loaded_version(c.id, 1) == version.version and version.removed < version.version

        assert await other.delete_enrollment(c.id, 1, ann) is True
        assert (await store.gallery_version(c.id, 1)).removed == (await store.gallery_version(c.id, 1)).version
        assert [m.user_id for m in (await b.gallery(c.id, 1)).search(unit_vector(1), k=5)] == ["ben"]

        cat, _ = await other.add_enrollment(c.id, 1, "cat", "Cat", unit_vector(3), 0.9)
        assert cat in await b.gallery(c.id, 1, every_addition=True)  # what a duplicate check asks for
        own, _ = await store.add_enrollment(c.id, 1, "dan", "Dan", unit_vector(4), 0.9)
        assert own in await b.gallery(c.id, 1)  # read-your-writes: B's own commit
    finally:
        await b.close()
        await other.close()


async def test_strict_additions_make_every_search_wait_for_every_addition(store: SqlStore) -> None:
    c = (await store.create_client("c")).client
    await store.add_enrollment(c.id, 1, "ann", "Ann", unit_vector(1), 0.9)
    other = SqlStore(store.url)
    await other.open()
    b = GalleryService(store, MemoryCache(), 60, GalleryOptions(strict_additions=True),
                       notifier=RedisNotifier(DEAD_REDIS, "t15:"))
    await b.start()
    try:
        await b.gallery(c.id, 1)
        ben, _ = await other.add_enrollment(c.id, 1, "ben", "Ben", unit_vector(2), 0.9)
        assert ben in await b.gallery(c.id, 1)
    finally:
        await b.close()
        await other.close()


async def test_start_up_loads_every_gallery_and_says_loading_until_done(store: SqlStore) -> None:
    c = (await store.create_client("c")).client
    for t in (1, 2):
        for i in range(3):
            await store.add_enrollment(c.id, t, f"u{i}", f"U{i}", unit_vector(10 * t + i), 0.9)
    background = GalleryService(store, MemoryCache(), 60, GalleryOptions(preload_wait_max=0, load_batch=2))
    await background.start()
    try:
        state = background.load_state()
        assert state.loading is True and state.tenants_total == 2
        while background.load_state().loading:
            await asyncio.sleep(0.01)
        state = background.load_state()
        assert (state.tenants_loaded, state.faces_loaded) == (2, 6)
        assert background.loaded_version(c.id, 1) == (await store.gallery_version(c.id, 1)).version
    finally:
        await background.close()
    waited = GalleryService(store, MemoryCache(), 60, GalleryOptions(load_batch=2))
    await waited.start()  # small enough: start-up itself waits
    try:
        assert waited.load_state().loading is False and waited.load_state().faces_loaded == 6
        assert [len(await waited.gallery(c.id, t)) for t in (1, 2)] == [3, 3]
    finally:
        await waited.close()


async def test_rows_load_in_id_ordered_batches_and_each_write_has_a_feed_row(store: SqlStore) -> None:
    c = (await store.create_client("c")).client
    made = [(await store.add_enrollment(c.id, 5, f"u{i}", "x", unit_vector(i), 0.9))[0] for i in range(7)]
    pages = [[r.id for r in rows] async for rows in store.gallery_batches(c.id, 5, 3)]
    assert pages == [made[0:3], made[3:6], made[6:7]]
    async with store.engine.connect() as conn:
        counted = (await conn.execute(sa.select(sa.func.count()).select_from(gallery_feed.gallery_changes))).scalar()
    assert counted == 7


async def test_every_face_adds_deactivated_users_rows_without_reloading_the_tenant(store: SqlStore) -> None:
    c = (await store.create_client("c")).client
    users = UserStore(store)
    parked = (await users.create(c.id, "ext", "Parked", None, {})).id
    await store.add_enrollment(c.id, 0, "7", "Ann", unit_vector(1), 0.9)
    await store.add_enrollment(c.id, 0, parked, "Parked", unit_vector(2), 0.9)
    await users.update(c.id, parked, is_active=False)
    service = GalleryService(store, MemoryCache(), 60)
    matching = await service.gallery(c.id, 0)
    assert [m.user_id for m in matching.search(unit_vector(2), k=5)] == ["7"]
    every = await service.every_face(c.id, 0)
    assert len(every) == 2 and [m.user_id for m in every.search(unit_vector(2), k=5)] == [parked, "7"]
    assert await service.gallery(c.id, 0) is matching  # the union reused the matching gallery


async def test_a_worker_catches_up_as_soon_as_its_subscription_comes_up(store: SqlStore) -> None:
    """Changes announced while a worker was not subscribed (start-up, a Redis outage) are
    caught up when the subscription is (re)made, not only on the next search."""
    b = GalleryService(store, MemoryCache(), 60, GalleryOptions(preload=False),
                       notifier=RedisNotifier(REDIS_URL, f"t15:{uuid.uuid4().hex}:"))
    c = (await store.create_client("c")).client
    await store.add_enrollment(c.id, 1, "ann", "Ann", unit_vector(1), 0.9)
    gallery_b = await b.gallery(c.id, 1)
    new_id, _ = await store.add_enrollment(c.id, 1, "ben", "Ben", unit_vector(2), 0.9)  # nobody listening
    await b.start()
    try:
        await wait_until(lambda: new_id in gallery_b, message="not caught up on subscription", interval=0.005)
        assert b.loaded_version(c.id, 1) == 2
    finally:
        await b.close()
