"""A tenant's indexed gallery on disk, so a restart loads a million faces in seconds instead of
reading every row and rebuilding the HNSW graph (minutes).

One file per tenant: `<index_dir>/<client_id>/<tenant_id>.fsidx`:

    b"FSGIDX01" | u32 header length | header JSON | u32 crc32(header) | chunks

The header holds no personal data: format, embedding model id and dimension (a model change
invalidates the file), client, tenant, the gallery version and stamp the contents reflect, the
HNSW scalars and each section's dtype and size. The sections are the entry ids, the user ids and
names (JSON) and hnswlib's arrays (graph and vectors: the gallery's own float32 matrix is read
back from the index, not stored twice). Each section is cut into chunks of at most 64 MiB, each
`u32 length | payload`: with `encryption.keys` configured the payload is sealed with the current
key (AES-256-GCM, storage/crypto.py) under associated data naming the header's hash and the
chunk's place, so vectors, user ids and names are never plaintext at rest, and a chunk swapped,
moved or dropped fails; without keys (where the database itself holds plaintext embeddings and
names) the payload is followed by its crc32. Any mismatch, short read or failed tag means "no
usable file": the caller rebuilds from the database.

Written to a temporary name in the same folder, fsynced, renamed over the old file (readers
never see half a file); one writer at a time per file (an flock; a busy lock skips the save).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from storage.crypto import EmbeddingCipher, EmbeddingCryptoError
from storage.gallery_versions import GalleryVersion

log = logging.getLogger(__name__)

MAGIC = b"FSGIDX01"
FORMAT = 1
CHUNK = 64 << 20
_U32 = struct.Struct("<I")


class SnapshotError(Exception):
    """The file cannot be used (missing, truncated, corrupt, another model or key): rebuild."""


@dataclass(frozen=True)
class Snapshot:
    """What a file holds: the rows in any order and the index's state (engine/ann_index.py)."""

    version: GalleryVersion
    anchor: str  # the feed row of `version` (storage/gallery_feed.anchor): which database's history
    ids: np.ndarray
    users: list[str]
    names: list[str]
    index_state: dict[str, Any]


def path_for(root: Path, client_id: int, tenant_id: int) -> Path:
    return root / str(int(client_id)) / f"{int(tenant_id)}.fsidx"


def _aad(header_hash: bytes, section: int, chunk: int, last: bool) -> bytes:
    return b"facestream-index:" + header_hash + f":{section}:{chunk}:{int(last)}".encode()


def _sections(snap: Snapshot) -> tuple[dict[str, Any], list[memoryview]]:
    """(header fields describing the sections, their bytes)."""
    scalars = {k: v for k, v in snap.index_state.items() if not isinstance(v, np.ndarray)}
    arrays = {k: np.ascontiguousarray(v) for k, v in snap.index_state.items() if isinstance(v, np.ndarray)}
    meta = json.dumps({"users": snap.users, "names": snap.names}).encode()
    parts: list[tuple[str, str, int, memoryview]] = [
        ("ids", "<i8", len(snap.ids), memoryview(np.ascontiguousarray(snap.ids, "<i8")).cast("B")),
        ("meta", "json", len(meta), memoryview(meta)),
    ]
    for name, arr in arrays.items():
        parts.append((name, arr.dtype.str, int(arr.size), memoryview(arr.view(np.uint8).reshape(-1))))
    described = [{"name": n, "dtype": d, "count": c, "bytes": len(b)} for n, d, c, b in parts]
    return {"hnsw": scalars, "sections": described}, [b for *_, b in parts]


def _chunks(data: memoryview) -> Iterator[tuple[int, memoryview, bool]]:
    count = max(1, -(-len(data) // CHUNK))
    for i in range(count):
        yield i, data[i * CHUNK:(i + 1) * CHUNK], i == count - 1


def write(path: Path, snap: Snapshot, *, model_id: str, dim: int, client_id: int, tenant_id: int,
          cipher: EmbeddingCipher) -> int | None:
    """Write atomically; returns the bytes written, or None when another writer holds the file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_fd = os.open(path.with_suffix(".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        described, bodies = _sections(snap)
        header = json.dumps({
            "format": FORMAT, "model_id": model_id, "dim": dim, "client_id": client_id, "tenant_id": tenant_id,
            "version": snap.version.version, "stamp": snap.version.stamp, "anchor": snap.anchor, "faces": len(snap.ids),
            "sealed": cipher.enabled, **described,
        }).encode()
        digest = hashlib.sha256(header).digest()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC + _U32.pack(len(header)) + header + _U32.pack(zlib.crc32(header)))
                for s, body in enumerate(bodies):
                    for i, part, last in _chunks(body):
                        _write_chunk(out, part, cipher, _aad(digest, s, i, last))
                out.flush()
                os.fsync(out.fileno())
                size = out.tell()
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)
        return size
    finally:
        os.close(lock_fd)  # releases the lock


def _write_chunk(out: BinaryIO, part: memoryview, cipher: EmbeddingCipher, aad: bytes) -> None:
    if cipher.enabled:
        sealed = cipher.seal_bytes(bytes(part), aad)
        out.write(_U32.pack(len(sealed)) + sealed)
    else:
        out.write(_U32.pack(len(part)))
        out.write(part)
        out.write(_U32.pack(zlib.crc32(part)))


def read_header(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        return _header(f)[0]


def _header(f: BinaryIO) -> tuple[dict[str, Any], bytes]:
    if f.read(len(MAGIC)) != MAGIC:
        raise SnapshotError("not a gallery index file")
    (size,) = _U32.unpack(_exact(f, 4))
    if size > 64 << 20:
        raise SnapshotError("header too large")
    raw = _exact(f, size)
    if _U32.unpack(_exact(f, 4))[0] != zlib.crc32(raw):
        raise SnapshotError("header checksum mismatch")
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise SnapshotError("header is not JSON") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotError("unknown format")
    return header, hashlib.sha256(raw).digest()


def _exact(f: BinaryIO, size: int) -> bytes:
    data = f.read(size)
    if len(data) != size:
        raise SnapshotError("file is truncated")
    return data


def read(path: Path, *, model_id: str, client_id: int, tenant_id: int, cipher: EmbeddingCipher) -> Snapshot:
    """The snapshot, or SnapshotError (FileNotFoundError when there is none)."""
    with open(path, "rb") as f:
        header, digest = _header(f)
        want = {"model_id": model_id, "client_id": client_id, "tenant_id": tenant_id}
        for key, value in want.items():
            if header.get(key) != value:
                raise SnapshotError(f"{key} is {header.get(key)!r}, expected {value!r}")
        if bool(header.get("sealed")) != cipher.enabled:
            raise SnapshotError("written with encryption " + ("on" if header.get("sealed") else "off"))
        sections: dict[str, Any] = {}
        for s, spec in enumerate(header["sections"]):
            if spec["dtype"] != "json" and np.dtype(spec["dtype"]).kind not in "iuf":
                raise SnapshotError("unexpected section type")
            buf = np.empty(int(spec["bytes"]), np.uint8)
            view = memoryview(buf)
            for i, part, last in _chunks(view):
                _read_chunk(f, part, cipher, _aad(digest, s, i, last))
            sections[spec["name"]] = buf if spec["dtype"] == "json" else buf.view(np.dtype(spec["dtype"]))
        if f.read(1):
            raise SnapshotError("trailing data")
    meta = json.loads(sections.pop("meta").tobytes())
    ids = sections.pop("ids").astype(np.int64)
    if not (len(ids) == len(meta["users"]) == len(meta["names"]) == header["faces"]):
        raise SnapshotError("row counts disagree")
    return Snapshot(GalleryVersion(int(header["version"]), str(header["stamp"])), str(header.get("anchor")), ids,
                    meta["users"], meta["names"],
                    {**header["hnsw"], **sections})


def _read_chunk(f: BinaryIO, into: memoryview, cipher: EmbeddingCipher, aad: bytes) -> None:
    (size,) = _U32.unpack(_exact(f, 4))
    if cipher.enabled:
        if size > CHUNK + 1024:
            raise SnapshotError("chunk too large")
        try:
            plain = cipher.open_bytes(_exact(f, size), aad)
        except EmbeddingCryptoError as exc:
            raise SnapshotError(f"chunk does not open: {exc}") from exc
        if len(plain) != len(into):
            raise SnapshotError("chunk size mismatch")
        into[:] = plain
    else:
        if size != len(into):
            raise SnapshotError("chunk size mismatch")
        if f.readinto(into) != size:  # type: ignore[attr-defined]
            raise SnapshotError("file is truncated")
        if _U32.unpack(_exact(f, 4))[0] != zlib.crc32(into):
            raise SnapshotError("chunk checksum mismatch")
