"""Cosine matching: 1:1 comparison, caller-supplied embeddings, and the 1:N gallery."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import InvalidEmbeddingError
from engine.types import FloatArray, Match


def cosine(a: FloatArray, b: FloatArray) -> float:
    """Both inputs are L2-normalised, so the dot product is the cosine."""
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


def distance(a: FloatArray, b: FloatArray) -> float:
    return 1.0 - cosine(a, b)


def parse_embedding(values: object, dim: int, model_id: str = "") -> FloatArray:
    """Validate a caller-supplied embedding (exactly `dim` finite numbers: the recogniser's
    dimension) and normalise it."""
    if not isinstance(values, list) or len(values) != dim:
        got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
        made_by = f" (the size {model_id} embeddings have; /encode on this server makes them)" if model_id else ""
        raise InvalidEmbeddingError(f"encoding must be a JSON array of {dim} numbers{made_by}, got {got}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise InvalidEmbeddingError("encoding must contain only numbers")
    vec = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(vec).all() or norm == 0.0:
        raise InvalidEmbeddingError("encoding must be finite and non-zero")
    return vec / norm


@dataclass(frozen=True)
class GalleryEntry:
    entry_id: int
    user_id: str
    name: str
    embedding: FloatArray


class Gallery:
    """An immutable 1:N index of one tenant: a float32 matrix searched with one product."""

    def __init__(self, entries: list[GalleryEntry]) -> None:
        self._ids = [e.entry_id for e in entries]
        self._users = [e.user_id for e in entries]
        self._names = [e.name for e in entries]
        self._matrix = (
            np.stack([e.embedding for e in entries]).astype(np.float32)
            if entries
            else np.zeros((0, 0), np.float32)
        )

    def __len__(self) -> int:
        return len(self._ids)

    def entries(self) -> list[GalleryEntry]:
        return [
            GalleryEntry(self._ids[i], self._users[i], self._names[i], self._matrix[i]) for i in range(len(self._ids))
        ]

    def search(self, embedding: FloatArray, k: int = 5) -> list[Match]:
        """Top-k distinct users by their best-matching entry, most similar first."""
        if not self._ids:
            return []
        sims = self._matrix @ embedding.astype(np.float32)
        best: dict[str, Match] = {}
        for idx in np.argsort(-sims):
            user = self._users[idx]
            if user in best:
                continue
            best[user] = Match(self._ids[idx], user, self._names[idx], float(sims[idx]))
            if len(best) >= k:
                break
        return list(best.values())

    def for_user(self, user_id: str) -> list[int]:
        return [i for i, u in enumerate(self._users) if u == user_id]

    def best_for_user(self, user_id: str, embedding: FloatArray) -> Match | None:
        rows = self.for_user(user_id)
        if not rows:
            return None
        sims = self._matrix[rows] @ embedding.astype(np.float32)
        j = int(np.argmax(sims))
        idx = rows[j]
        return Match(self._ids[idx], user_id, self._names[idx], float(sims[j]))
