"""A gallery as one blob: what the shared cache (Redis) holds for tenants up to
storage/galleries.MAX_BLOB_ENTRIES faces."""

from __future__ import annotations

import json
import struct

import numpy as np

from engine.gallery_index import Gallery


def encode_gallery(gallery: Gallery) -> bytes:
    ids, users, names, matrix = gallery.arrays()
    header = json.dumps({"dim": gallery.dim or 0, "rows": [[int(i), u, n] for i, u, n in zip(ids.tolist(), users, names)]})
    return struct.pack("<I", len(header.encode())) + header.encode() + matrix.astype("<f4").tobytes()


def decode_gallery(blob: bytes) -> Gallery:
    (size,) = struct.unpack_from("<I", blob)
    meta = json.loads(blob[4 : 4 + size])
    if isinstance(meta, list):  # a blob written before the dimension was stored: infer it
        meta = {"dim": len(blob[4 + size :]) // 4 // max(len(meta), 1), "rows": meta}
    rows, dim = meta["rows"], int(meta["dim"])
    gallery = Gallery()
    if rows:
        matrix = np.frombuffer(blob[4 + size :], dtype="<f4").reshape(len(rows), dim).astype(np.float32)
        gallery.add_arrays(np.asarray([int(r[0]) for r in rows], np.int64), [str(r[1]) for r in rows],
                           [str(r[2]) for r in rows], matrix)
    return gallery
