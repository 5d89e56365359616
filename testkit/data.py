"""Paths and labels of the shared real-face data set (../shared/data, see its MANIFEST.md)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(os.environ.get("FACESTREAM_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@dataclass(frozen=True)
class ManifestRow:
    path: str
    kind: str
    identity: str
    faces: str
    scrfd_raw: str
    scrfd_pad50: str


@dataclass(frozen=True)
class Pair:
    img_a: str
    img_b: str
    same: bool


@cache
def manifest() -> tuple[ManifestRow, ...]:
    with open(DATA / "manifest.csv", newline="") as fh:
        return tuple(
            ManifestRow(r["path"], r["kind"], r["identity"], r["faces"], r["scrfd_raw"], r["scrfd_pad50"])
            for r in csv.DictReader(fh)
        )


@cache
def pairs() -> tuple[Pair, ...]:
    with open(DATA / "pairs.csv", newline="") as fh:
        return tuple(Pair(r["img_a"], r["img_b"], r["same"] == "1") for r in csv.DictReader(fh))


def identities() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in manifest():
        if row.kind == "face":
            out.setdefault(row.identity, []).append(row.path)
    return {k: sorted(v) for k, v in sorted(out.items())}


@cache
def read(rel: str) -> bytes:
    return (DATA / rel).read_bytes()
