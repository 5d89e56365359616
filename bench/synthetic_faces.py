"""Clustered synthetic face embeddings: shaped like real identities, not uniform noise.

Uniform random unit vectors in 512-d are all nearly orthogonal, which no real gallery is and on
which every approximate index's recall collapses. Here each identity has a centre drawn around
one of a few dozen "group" directions (faces of similar people are closer), and each enrolled
or probe face is its identity's centre plus noise (same-person cosine ~0.7, like ArcFace).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Synthetic:
    vectors: np.ndarray  # (n, dim) float32, unit rows
    identity: np.ndarray  # (n,) int: which identity each row belongs to
    centres: np.ndarray  # (identities, dim)

    def probes(self, count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """New faces of enrolled identities: (vectors, their identity)."""
        rng = np.random.default_rng(seed)
        who = rng.integers(0, len(self.centres), count)
        return _faces(rng, self.centres[who]), who


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _faces(rng: np.random.Generator, centres: np.ndarray, noise: float = 0.045) -> np.ndarray:
    return _unit(centres + rng.standard_normal(centres.shape).astype(np.float32) * noise)


def clustered(n: int, dim: int = 512, per_identity: int = 2, groups: int = 64, seed: int = 0) -> Synthetic:
    rng = np.random.default_rng(seed)
    identities = max(1, n // per_identity)
    group_dirs = _unit(rng.standard_normal((groups, dim)).astype(np.float32))
    group = rng.integers(0, groups, identities)
    centres = _unit(group_dirs[group] * 0.6 + _unit(rng.standard_normal((identities, dim)).astype(np.float32)))
    identity = np.arange(n) % identities
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 50_000):  # in chunks: a million rows of noise at once is 2 GiB
        end = min(n, start + 50_000)
        out[start:end] = _faces(rng, centres[identity[start:end]])
    return Synthetic(out, identity, centres)
