"""The approximate index for large galleries: HNSW by hnswlib (chosen by bench/ann_libs.py,
figures in BENCHMARKS.md): sub-millisecond queries with recall@1 ~1.0 on clustered faces,
single-item inserts, deletes by mark with the slot reused by the next insert.

The index only proposes candidates; engine/gallery_index.py re-scores them exactly, so a
similarity reported to a caller never comes from the index. The dimension comes from the
vectors, never from a constant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HnswParams:
    # Graph degree: recall and memory (about 2*M*4 bytes per face on top of the vector). At 1M
    # clustered faces M16 left ~12 % of faces practically unreachable (per-face recall stuck at
    # 0.88 whatever the query breadth); M32 is what reaches 0.99 there (BENCHMARKS.md).
    m: int = 32
    ef_construction: int = 128  # build-time breadth: recall against build time
    ef_search: int = 0  # query-time breadth; 0 = auto_ef(gallery size)
    threads: int = 1  # build threads: the machine's cores belong to inference first


def auto_ef(faces: int, m: int = 32) -> int:
    """Query breadth for a gallery of this size: the breadth a graph needs for the same recall
    grows with its size. Measured on clustered faces (BENCHMARKS.md): with M32, 64 already gave
    recall@1 1.000 at 100k, and at 1M 512 gave 0.984-0.993 per user, 810 0.996-0.998. From 128
    at 100k faces growing as size^0.8 (808 at 1M), at most 2048. A sparser graph (an M16 index
    file from before M32 was the default) needs twice the breadth: 256 gave 1.000 at 100k, 128
    only 0.98."""
    floor = 128 if m >= 32 else 256
    return int(min(2048, max(floor, round(floor * (faces / 100_000) ** 0.8))))


class HnswIndex:
    """Ids are the gallery's entry ids (hnswlib labels)."""

    def __init__(self, dim: int, capacity: int, params: HnswParams = HnswParams()) -> None:
        import hnswlib  # imported here: only galleries past the threshold need it

        self._params = params
        self._index = hnswlib.Index(space="ip", dim=dim)
        self._index.init_index(max_elements=max(capacity, 16), ef_construction=params.ef_construction,
                               M=params.m, allow_replace_deleted=True)
        self._index.set_num_threads(params.threads)
        self._live: set[int] = set()

    def __len__(self) -> int:
        return len(self._live)

    # -- persistence (storage/gallery_snapshot.py writes and reads the file) ------------------

    def state(self) -> dict[str, object]:
        """hnswlib's own serialisation: scalars plus numpy arrays (a copy of the graph and its
        vectors), so a restart loads the graph instead of rebuilding it."""
        return dict(self._index.__getstate__()[0])

    @classmethod
    def restore(cls, state: dict[str, object], live: np.ndarray, params: HnswParams = HnswParams(),
                spare: int = 0) -> "HnswIndex":
        """The index `state()` described; `live` are its undeleted ids (the gallery's). `spare`:
        room for that many more faces, allocated by the restore itself (hnswlib sizes its arrays
        by the state's max_elements and copies only the elements there are), so the first
        enrollments after a restart do not resize: a resize copies the whole graph (~2.3 GB at
        1M faces) inside the insert while the gallery's searches wait."""
        import hnswlib

        self = cls.__new__(cls)
        self._params = params
        room = int(state["cur_element_count"]) + spare  # type: ignore[call-overload]
        if room > int(state["max_elements"]):  # type: ignore[call-overload]
            state = {**state, "max_elements": room}
        self._index = hnswlib.Index.__new__(hnswlib.Index)
        self._index.__setstate__((state,))
        self._index.set_num_threads(params.threads)
        self._live = set(live.tolist())
        return self

    @staticmethod
    def vectors_of_state(state: dict[str, object], ids: np.ndarray) -> np.ndarray:
        """The float32 vectors of `ids` read straight from a state's level-0 array (the index keeps
        them exactly: space "ip" does not normalise), so a file need not hold them twice;
        ValueError unless the live (undeleted) labels are exactly `ids`. Vectorised: hnswlib's
        get_items takes ~65 s for 1M ids. Layout: hnswlib 0.8 hnswalg.h (each element is
        [link count u16, flags u8 (1 = deleted), ..., links][vector][label u64])."""
        count, size = int(state["cur_element_count"]), int(state["size_data_per_element"])  # type: ignore[call-overload]
        dim, data_at = int(state["dim"]), int(state["offset_data"])  # type: ignore[call-overload]
        label_at, links_at = int(state["label_offset"]), int(state["offset_level0"])  # type: ignore[call-overload]
        rows = np.asarray(state["data_level0"]).view(np.uint8)[: count * size].reshape(count, size)
        labels = np.ascontiguousarray(rows[:, label_at:label_at + 8]).view("<u8").ravel().astype(np.int64)
        live = (rows[:, links_at + 2] & 1) == 0
        order = np.argsort(labels[live], kind="stable")
        live_labels = labels[live][order]
        want = np.sort(np.asarray(ids, np.int64))
        if len(live_labels) != len(want) or not np.array_equal(live_labels, want):
            raise ValueError("the index does not hold exactly the gallery's ids")
        internal = np.flatnonzero(live)[order][np.searchsorted(live_labels, ids)]
        return np.ascontiguousarray(rows[internal, data_at:data_at + dim * 4]).view("<f4").astype(np.float32)

    @property
    def capacity(self) -> int:
        return int(self._index.get_max_elements())

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        fresh = [i for i, entry_id in enumerate(ids.tolist()) if entry_id not in self._live]
        if not fresh:
            return
        needed = self._index.get_current_count() + len(fresh)
        if needed > self._index.get_max_elements():
            self._index.resize_index(max(needed, self._index.get_max_elements() * 3 // 2))
        self._index.add_items(vectors[fresh], ids[fresh], replace_deleted=True)
        self._live.update(ids[fresh].tolist())

    def remove(self, ids: Iterable[int]) -> None:
        for entry_id in ids:
            if entry_id in self._live:
                self._index.mark_deleted(entry_id)
                self._live.discard(entry_id)

    def set_ef(self, ef: int) -> None:
        """Query-time breadth (benchmarks sweep it)."""
        self._params = HnswParams(self._params.m, self._params.ef_construction, ef, self._params.threads)
        self._index.set_ef(ef)

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        k = min(k, len(self._live))
        if k <= 0:
            return np.zeros(0, np.int64)
        self._index.set_ef(max(k, self._params.ef_search or auto_ef(len(self._live), self._index.M)))
        labels, _ = self._index.knn_query(vector, k=k)
        return np.asarray(labels[0], dtype=np.int64)


def hnsw_factory(params: HnswParams = HnswParams()):  # type: ignore[no-untyped-def]
    """An IndexFactory (engine/gallery_index.py) making empty HNSW indexes with these parameters."""

    def make(dim: int, capacity: int) -> HnswIndex:
        return HnswIndex(dim, capacity, params)

    return make
