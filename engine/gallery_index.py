"""The 1:N gallery of one tenant, changed in place: an enrollment adds one row, a deletion
removes one, so a million-face gallery never has to be rebuilt to stay current.

Rows live in a float32 matrix with spare capacity (2 KiB per face at 512-d; the dimension is
whatever the first vector has). A removal moves the last row into the freed slot. Search is
exact (one matrix-vector product and a partial sort) unless an approximate index
(engine/ann_index.py) has been attached: then the index proposes candidates and their
similarities are re-scored exactly from the matrix, so scores never depend on the index.

Not thread-safe for writers: mutations and searches run on one thread (the event loop); only
the ANN build runs elsewhere, and it takes a snapshot under the lock and swaps in under it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from engine.types import FloatArray, Match

_MIN_CAPACITY = 64
SPARE_ROWS = 0.125  # spare matrix rows a loaded gallery keeps (compact(), a restored index file)


def index_spare(faces: int) -> int:
    """Graph slots an index keeps free beyond its faces (a build, a restored file): inserts
    resize (copy) the graph only once these are used."""
    return faces // 4 + 1024
T = TypeVar("T")


@dataclass(frozen=True)
class GalleryEntry:
    entry_id: int
    user_id: str
    name: str
    embedding: FloatArray


class AnnIndex(Protocol):
    """What the gallery needs of an approximate index (engine/ann_index.py builds one)."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: Iterable[int]) -> None: ...

    def query(self, vector: np.ndarray, k: int) -> np.ndarray:
        """Ids of up to k nearest entries (by inner product), best first."""
        ...

    def __len__(self) -> int: ...


class Gallery:
    """A tenant's matchable faces: searchable top-k distinct users, changed in place."""

    def __init__(self, entries: Iterable[GalleryEntry] = (), dim: int | None = None) -> None:
        self._dim = dim
        self._n = 0
        self._matrix = np.zeros((0, dim or 0), np.float32)
        self._ids = np.zeros(0, np.int64)
        self._users: list[str] = []
        self._names: list[str] = []
        self._slot: dict[int, int] = {}
        self._by_user: dict[str, set[int]] = {}
        self._ann: AnnIndex | None = None
        self._building: set[int] | None = None  # ids touched while an index is being built
        self.lock = threading.Lock()
        self.add(entries)

    # -- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    @property
    def dim(self) -> int | None:
        return self._dim

    @property
    def indexed(self) -> bool:
        """Whether searches go through an approximate index."""
        return self._ann is not None

    def __contains__(self, entry_id: int) -> bool:
        return entry_id in self._slot

    def entries(self) -> list[GalleryEntry]:
        """Every row in id order (the order a fresh load has, whatever moved since)."""
        order = np.argsort(self._ids[: self._n], kind="stable")
        return [self._entry(int(s)) for s in order]

    def arrays(self) -> tuple[np.ndarray, list[str], list[str], np.ndarray]:
        """(ids, user ids, names, matrix) of every row in id order, copies: for serialising."""
        order = np.argsort(self._ids[: self._n], kind="stable")
        return (self._ids[order], [self._users[i] for i in order.tolist()], [self._names[i] for i in order.tolist()],
                self._matrix[order])

    def _entry(self, slot: int) -> GalleryEntry:
        return GalleryEntry(int(self._ids[slot]), self._users[slot], self._names[slot], self._matrix[slot])

    def search(self, embedding: FloatArray, k: int = 5) -> list[Match]:
        """Top-k distinct users by their best-matching entry, most similar first."""
        if not self._n or k <= 0:
            return []
        query = np.asarray(embedding, dtype=np.float32)
        if self._ann is not None:
            found = self._search_ann(query, k)
            if found is not None:
                return found
        sims = self._matrix[: self._n] @ query
        width = min(self._n, max(4 * k, 32))
        while True:
            top = np.argpartition(-sims, width - 1)[:width] if width < self._n else np.arange(self._n)
            order = top[np.argsort(-sims[top], kind="stable")]
            best = self._distinct(order, sims[order], k)
            if len(best) >= k or width >= self._n:
                return best
            width = min(self._n, width * 4)

    def _search_ann(self, query: np.ndarray, k: int) -> list[Match] | None:
        """Candidates from the index, re-scored exactly; None if they hold fewer than k users
        while the gallery has more (the caller then searches exactly)."""
        assert self._ann is not None
        ids = self._ann.query(query, max(4 * k, 32))
        slots = np.fromiter((self._slot[i] for i in ids.tolist() if i in self._slot), np.int64)
        if not len(slots):
            return None
        sims = self._matrix[slots] @ query
        order = np.argsort(-sims, kind="stable")
        best = self._distinct(slots[order], sims[order], k)
        if len(best) < k and len(self._by_user) > len(best):
            return None
        return best

    def _distinct(self, slots: np.ndarray, sims: np.ndarray, k: int) -> list[Match]:
        best: dict[str, Match] = {}
        for slot, sim in zip(slots.tolist(), sims.tolist()):
            user = self._users[slot]
            if user not in best:
                best[user] = Match(int(self._ids[slot]), user, self._names[slot], float(sim))
                if len(best) >= k:
                    break
        return list(best.values())

    def for_user(self, user_id: str) -> list[int]:
        """The user's row slots (empty when not enrolled)."""
        return sorted(self._by_user.get(user_id, ()))

    def best_for_user(self, user_id: str, embedding: FloatArray) -> Match | None:
        rows = self.for_user(user_id)
        if not rows:
            return None
        sims = self._matrix[rows] @ np.asarray(embedding, dtype=np.float32)
        j = int(np.argmax(sims))
        idx = rows[j]
        return Match(int(self._ids[idx]), user_id, self._names[idx], float(sims[j]))

    # -- changing -----------------------------------------------------------------------------

    def add(self, entries: Iterable[GalleryEntry]) -> None:
        """Add rows (an id already present is replaced)."""
        batch = list(entries)
        if not batch:
            return
        self.add_arrays(
            np.fromiter((e.entry_id for e in batch), np.int64, len(batch)),
            [e.user_id for e in batch], [e.name for e in batch], np.stack([e.embedding for e in batch]),
        )

    def add_arrays(self, ids: np.ndarray, users: Sequence[str], names: Sequence[str], vectors: np.ndarray) -> None:
        """Add rows given as arrays (the fast path for loading a million rows)."""
        if not len(ids):
            return
        vectors = np.asarray(vectors, dtype=np.float32)
        if self._dim is None:
            self._dim = int(vectors.shape[1])
            self._matrix = np.zeros((0, self._dim), np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self._dim:
            raise ValueError(f"gallery vectors have {self._dim} dimensions, got shape {vectors.shape}")
        with self.lock:
            present = [int(i) for i in ids.tolist() if int(i) in self._slot]
            if present:
                self._remove_locked(present)
            self._reserve(self._n + len(ids))
            start, end = self._n, self._n + len(ids)
            self._matrix[start:end] = vectors
            self._ids[start:end] = ids
            self._users[start:end] = list(users)
            self._names[start:end] = list(names)
            for offset, (entry_id, user) in enumerate(zip(ids.tolist(), users)):
                self._slot[int(entry_id)] = start + offset
                self._by_user.setdefault(user, set()).add(start + offset)
            self._n = end
            if self._ann is not None:
                self._ann.add(np.asarray(ids, np.int64), vectors)
            if self._building is not None:
                self._building.update(int(i) for i in ids.tolist())

    def remove(self, entry_ids: Iterable[int]) -> int:
        """Remove rows by id (unknown ids are ignored); returns how many were removed."""
        with self.lock:
            return self._remove_locked(entry_ids)

    def remove_user(self, user_id: str) -> int:
        with self.lock:
            slots = self._by_user.get(user_id, set())
            return self._remove_locked([int(self._ids[s]) for s in slots])

    def _remove_locked(self, entry_ids: Iterable[int]) -> int:
        gone = [i for i in dict.fromkeys(int(i) for i in entry_ids) if i in self._slot]
        for entry_id in gone:
            slot = self._slot.pop(entry_id)
            user = self._users[slot]
            self._by_user[user].discard(slot)
            if not self._by_user[user]:
                del self._by_user[user]
            last = self._n - 1
            if slot != last:  # move the last row into the hole
                moved_id, moved_user = int(self._ids[last]), self._users[last]
                self._matrix[slot] = self._matrix[last]
                self._ids[slot] = moved_id
                self._users[slot] = moved_user
                self._names[slot] = self._names[last]
                self._slot[moved_id] = slot
                self._by_user[moved_user].discard(last)
                self._by_user[moved_user].add(slot)
                if self._building is not None:  # a chunked index build may have missed it
                    self._building.add(moved_id)
            self._users.pop()
            self._names.pop()
            self._n = last
        if gone and self._ann is not None:
            self._ann.remove(gone)
        if gone and self._building is not None:
            self._building.update(gone)
        return len(gone)

    def reserve(self, size: int) -> None:
        """Capacity for `size` rows before a bulk add: a gallery filled in one call (an index
        file's rows) would otherwise end with no spare room, and the next enrollment would copy
        the whole matrix on the event loop (~50 ms at 100k faces, ~0.5 s at 1M)."""
        with self.lock:
            self._reserve(size)

    def _reserve(self, size: int) -> None:
        if size <= len(self._matrix):
            return
        capacity = max(_MIN_CAPACITY, size, len(self._matrix) + len(self._matrix) // 2)
        matrix = np.zeros((capacity, self._dim or 0), np.float32)
        matrix[: self._n] = self._matrix[: self._n]
        ids = np.zeros(capacity, np.int64)
        ids[: self._n] = self._ids[: self._n]
        self._matrix, self._ids = matrix, ids

    def compact(self, headroom: float = SPARE_ROWS) -> None:
        """Trim spare capacity to `headroom` after a bulk load: memory stays near 2 KiB a face
        while the next n/8 enrollments still land without a copy of the whole matrix (growing
        copies it once, on the caller's thread)."""
        with self.lock:
            keep = max(_MIN_CAPACITY, self._n + int(self._n * headroom))
            if keep < len(self._matrix):
                self._matrix = self._matrix[:keep].copy()
                self._ids = self._ids[:keep].copy()

    def memory_bytes(self) -> int:
        """Bytes held by the vectors and ids, spare capacity included (not the Python strings
        or an index)."""
        return int(self._matrix.nbytes + self._ids.nbytes)

    # -- approximate index ------------------------------------------------------------------

    def detach_index(self) -> None:
        with self.lock:
            self._ann = None

    def attach_index(self, index: AnnIndex) -> None:
        """Attach an index that already holds exactly these rows (one restored from a file)."""
        with self.lock:
            if len(index) != self._n:
                raise ValueError(f"index holds {len(index)} faces, the gallery {self._n}")
            self._ann = index

    def frozen(self, read: Callable[[AnnIndex], T]) -> tuple[np.ndarray, list[str], list[str], T] | None:
        """(ids, user ids, names) in slot order and read(index), taken together under the lock so
        they describe one state (None without an index): what a snapshot file holds."""
        with self.lock:
            if self._ann is None:
                return None
            return self._ids[: self._n].copy(), list(self._users), list(self._names), read(self._ann)

    def build_index(self, make: "IndexFactory", chunk: int = 4096, stop: Callable[[], bool] = lambda: False) -> None:
        """Build an index of the rows and attach it while searches and changes go on (call it
        off the event loop). Rows are copied a chunk at a time under the lock (never the whole
        matrix at once) and inserted without it; every id added, removed or moved meanwhile is
        journalled and replayed into the index under the lock before it is attached. `stop()`
        true between chunks abandons the build (shutdown)."""
        with self.lock:
            if self._building is not None or self._dim is None:
                return
            self._building = set()
            index = make(self._dim, self._n + index_spare(self._n))
        try:
            start = 0
            while True:
                with self.lock:
                    end = min(self._n, start + chunk)
                    ids = self._ids[start:end].copy()
                    vectors = self._matrix[start:end].copy()
                if not len(ids):
                    break
                if stop():
                    return
                index.add(ids, vectors)
                start = end
            with self.lock:
                touched = self._building or set()
                index.remove([i for i in touched])  # whatever the copy caught of them, redo them
                fresh = [i for i in touched if i in self._slot]
                if fresh:
                    index.add(np.asarray(fresh, np.int64), self._matrix[[self._slot[i] for i in fresh]])
                self._ann = index
        finally:
            with self.lock:
                self._building = None


class IndexFactory(Protocol):
    def __call__(self, dim: int, capacity: int) -> AnnIndex:
        """An empty index for vectors of `dim` dimensions, sized for about `capacity` of them."""
        ...


class GalleryUnion:
    """Several galleries searched as one (their users are disjoint): e.g. the matching gallery
    plus the few faces it leaves out, without copying the large one."""

    def __init__(self, parts: Sequence[Gallery]) -> None:
        self._parts = tuple(parts)

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def search(self, embedding: FloatArray, k: int = 5) -> list[Match]:
        found = [m for part in self._parts for m in part.search(embedding, k)]
        best: dict[str, Match] = {}
        for match in sorted(found, key=lambda m: -m.similarity):
            best.setdefault(match.user_id, match)
        return list(best.values())[:k]
