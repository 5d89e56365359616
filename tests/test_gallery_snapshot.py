"""Index files (storage/gallery_snapshot.py): a restart restores the indexed gallery from its file
and catches up from the change feed, answering exactly what a full reload answers; whatever is
wrong with the file (truncated, corrupt, another model, another key) means a reload instead."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest

from bench.synthetic_faces import clustered
from engine.ann_index import HnswIndex, HnswParams, hnsw_factory
from storage import gallery_snapshot as files
from storage.cache import MemoryCache
from storage.crypto import EmbeddingCipher
from storage.galleries import GalleryOptions, GalleryService
from storage.index_snapshots import IndexSnapshots
from storage.records import NewFace
from storage.sql_store import SqlStore

FACTORY = hnsw_factory(HnswParams(threads=1))
N = 600


async def _fill(store: SqlStore, n: int = N, seed: int = 0) -> tuple[int, list[int], np.ndarray]:
    client = (await store.create_client("c")).client
    data = clustered(n, seed=seed)
    faces = [NewFace(f"p{who}", f"Person {who}", vec) for who, vec in zip(data.identity.tolist(), data.vectors)]
    ids, _ = await store.add_enrollments(client.id, 1, faces)
    probes, _ = data.probes(80, seed=seed + 1)
    return client.id, ids, np.concatenate([probes, data.vectors[:40]])


def _service(store: SqlStore, root: Path | None, index: str = "ann") -> tuple[GalleryService, IndexSnapshots | None]:
    snaps = IndexSnapshots(root, store) if root is not None else None
    return GalleryService(store, MemoryCache(), 60, GalleryOptions(index=index), index_factory=FACTORY,
                          snapshots=snaps), snaps


async def _saved(store: SqlStore, root: Path, cid: int) -> None:
    """A worker that loads, indexes and saves the tenant, then shuts down."""
    service, snaps = _service(store, root)
    await service.start()
    try:
        gallery = await service.gallery(cid, 1)
        await service.wait_indexed()
        assert gallery.indexed
    finally:
        await service.close()  # a clean shutdown saves
    assert snaps is not None and snaps.saved == 1 and files.path_for(root, cid, 1).exists()


async def _answers(service: GalleryService, cid: int, probes: np.ndarray) -> list[list[tuple[int, str, str, float]]]:
    gallery = await service.gallery(cid, 1)
    return [[(m.entry_id, m.user_id, m.name, round(m.similarity, 5)) for m in gallery.search(p, k=5)] for p in probes]


async def test_restart_restores_the_file_and_answers_like_a_full_reload(store: SqlStore, tmp_path: Path) -> None:
    cid, ids, probes = await _fill(store)
    await _saved(store, tmp_path, cid)
    # Changes after the save: two deletions and an enrollment right where a probe is.
    gone = ids[:2]
    for entry_id in gone:
        assert await store.delete_enrollment(cid, 1, entry_id)
    (new_id,), _ = await store.add_enrollments(cid, 1, [NewFace("newcomer", "New Comer", probes[0])])

    restarted, snaps = _service(store, tmp_path)
    gallery = await restarted.gallery(cid, 1)
    assert snaps is not None and snaps.restored == 1 and gallery.indexed  # no rebuild: indexed at once
    assert len(gallery) == N - 2 + 1
    reloaded, _ = _service(store, None, index="exact")
    got, want = await _answers(restarted, cid, probes), await _answers(reloaded, cid, probes)
    assert got == want
    assert got[0][0][:2] == (new_id, "newcomer")
    for vec in probes[80:82]:  # the deleted faces' own vectors: never returned
        assert not {m.entry_id for m in gallery.search(vec, k=5)} & set(gone)
    await restarted.close()  # its version moved: saved again, now with deleted marks in the graph
    assert snaps.saved == 1
    again, snaps = _service(store, tmp_path)
    assert await _answers(again, cid, probes) == want and snaps is not None and snaps.restored == 1
    await again.close()
    await reloaded.close()


async def test_a_deletion_after_the_save_is_never_returned_after_restart(store: SqlStore, tmp_path: Path) -> None:
    cid, ids, probes = await _fill(store, seed=4)
    await _saved(store, tmp_path, cid)
    victims = ids[:40]  # the faces probes[80:] are copies of
    for entry_id in victims:
        await store.delete_enrollment(cid, 1, entry_id)
    restarted, snaps = _service(store, tmp_path)
    gallery = await restarted.gallery(cid, 1)
    assert snaps is not None and snaps.restored == 1
    for vec in probes[80:]:
        found = gallery.search(vec, k=5)
        assert found and not {m.entry_id for m in found} & set(victims)
    assert not any(v in gallery for v in victims)
    await restarted.close()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty"])
async def test_a_damaged_file_means_a_reload(store: SqlStore, tmp_path: Path, damage: str) -> None:
    cid, _, probes = await _fill(store, seed=7)
    await _saved(store, tmp_path, cid)
    path = files.path_for(tmp_path, cid, 1)
    raw = bytearray(path.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) * 2 // 3]
    elif damage == "flipped":
        raw[len(raw) // 2] ^= 0x40
    else:
        raw = bytearray()
    path.write_bytes(bytes(raw))
    with pytest.raises(files.SnapshotError):
        files.read(path, model_id=store.recognizer, client_id=cid, tenant_id=1, cipher=store.cipher)
    restarted, snaps = _service(store, tmp_path)
    reloaded, _ = _service(store, None, index="exact")
    assert await _answers(restarted, cid, probes[:20]) == await _answers(reloaded, cid, probes[:20])
    assert snaps is not None and snaps.restored == 0
    await restarted.wait_indexed()
    await restarted.close()  # the rebuilt index is saved again, whole
    files.read(path, model_id=store.recognizer, client_id=cid, tenant_id=1, cipher=store.cipher)
    await reloaded.close()


async def test_another_embedding_model_means_a_reload(store: SqlStore, tmp_path: Path) -> None:
    cid, _, probes = await _fill(store, seed=9)
    await _saved(store, tmp_path, cid)
    path = files.path_for(tmp_path, cid, 1)
    snap = files.read(path, model_id=store.recognizer, client_id=cid, tenant_id=1, cipher=store.cipher)
    files.write(path, snap, model_id="some-other-recogniser", dim=512, client_id=cid, tenant_id=1, cipher=store.cipher)
    with pytest.raises(files.SnapshotError, match="model_id"):
        files.read(path, model_id=store.recognizer, client_id=cid, tenant_id=1, cipher=store.cipher)
    restarted, snaps = _service(store, tmp_path)
    gallery = await restarted.gallery(cid, 1)
    assert snaps is not None and snaps.restored == 0 and len(gallery) == N
    await restarted.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_with_keys_the_file_holds_no_plaintext_vectors_or_names(store: SqlStore, tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    sealed = SqlStore(f"sqlite:///{tmp_path}/sealed.db", EmbeddingCipher.from_settings((f"k1:{key}",), "k1"))
    await sealed.open()
    try:
        cid, _, probes = await _fill(sealed, seed=11)
        await _saved(sealed, tmp_path / "idx", cid)
        raw = files.path_for(tmp_path / "idx", cid, 1).read_bytes()
        data = clustered(N, seed=11)
        assert data.vectors[5].astype("<f4").tobytes()[:16] not in raw and b"Person " not in raw
        restarted, snaps = _service(sealed, tmp_path / "idx")
        reloaded, _ = _service(sealed, None, index="exact")
        assert await _answers(restarted, cid, probes[:20]) == await _answers(reloaded, cid, probes[:20])
        assert snaps is not None and snaps.restored == 1
        await restarted.close()
        await reloaded.close()
        # A key ring without the key it was sealed with cannot open it: a reload, not an error.
        other = SqlStore(f"sqlite:///{tmp_path}/sealed.db", EmbeddingCipher.from_settings((f"k2:{key}",), "k2"))
        try:
            assert await IndexSnapshots(tmp_path / "idx", other).restore(cid, 1) is None
        finally:
            await other.close()
    finally:
        await sealed.close()


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_a_file_from_another_database_is_not_used(store: SqlStore, tmp_path: Path) -> None:
    """Same client and tenant ids, a later version, a complete feed: only the file's anchor (the
    feed row of its version) tells that its rows are another database's."""
    cid, _, _ = await _fill(store, seed=13)
    await _saved(store, tmp_path / "idx", cid)
    other = SqlStore(f"sqlite:///{tmp_path}/other.db")
    await other.open()
    try:
        other_cid, _, probes = await _fill(other, seed=14)
        assert other_cid == cid
        await other.add_enrollments(cid, 1, [NewFace("late", "Late", probes[0])])  # a later version there
        restarted, snaps = _service(other, tmp_path / "idx")
        reloaded, _ = _service(other, None, index="exact")
        assert await _answers(restarted, cid, probes[:20]) == await _answers(reloaded, cid, probes[:20])
        assert snaps is not None and snaps.restored == 0
        await restarted.close()
        await reloaded.close()
    finally:
        await other.close()


async def test_a_restored_index_has_room_to_grow_without_a_resize(store: SqlStore, tmp_path: Path) -> None:
    """A file whose graph is full (written by a tight build, or an index that grew to its limit)
    is restored with the headroom a build leaves, and the gallery's matrix with the headroom a
    load leaves, so the next enrollments copy neither while searches wait."""
    cid, _, probes = await _fill(store, seed=6)

    def tight(dim: int, capacity: int) -> HnswIndex:
        return HnswIndex(dim, N, HnswParams(threads=1))  # exactly the gallery: no room left

    snaps = IndexSnapshots(tmp_path, store)
    saver = GalleryService(store, MemoryCache(), 60, GalleryOptions(index="ann"), index_factory=tight, snapshots=snaps)
    await saver.start()
    await saver.gallery(cid, 1)
    await saver.wait_indexed()
    full = (await saver.gallery(cid, 1)).frozen(lambda index: index.capacity)  # type: ignore[attr-defined]
    await saver.close()
    assert full is not None and full[3] == N and snaps.saved == 1

    restarted, snaps = _service(store, tmp_path)
    gallery = await restarted.gallery(cid, 1)
    room = gallery.frozen(lambda index: index.capacity)  # type: ignore[attr-defined]
    assert snaps is not None and snaps.restored == 1 and room is not None and room[3] == N + N // 4 + 1024
    spare = N + N // 8  # and the matrix's rows: the next enrollment does not copy it either
    assert gallery.memory_bytes() == spare * (gallery.dim or 0) * 4 + spare * 8
    before = gallery.memory_bytes()
    (new_id,), _ = await store.add_enrollments(cid, 1, [NewFace("newcomer", "New Comer", probes[0])])
    gallery = await restarted.gallery(cid, 1, every_addition=True)
    assert gallery.search(probes[0], k=1)[0].entry_id == new_id
    assert gallery.frozen(lambda index: index.capacity)[3] == room[3]  # type: ignore[attr-defined, index]
    assert gallery.memory_bytes() == before
    await restarted.close()
