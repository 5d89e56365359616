"""Face embeddings encrypted at rest with AES-256-GCM.

Each row gets a fresh 96-bit nonce and names the key it was written with, so keys can rotate:
new rows use the current key, older keys stay configured for reading. The row's scope (client,
tenant, user) is the associated data, so a ciphertext copied onto another user's or client's
row fails authentication instead of silently matching as them. Without keys, embeddings are
stored as plaintext float32 (rows with no key id), which a later keyed start still reads.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.types import FloatArray

log = logging.getLogger(__name__)

NONCE_BYTES = 12
SEALED_TEXT = "sealed:"  # prefix of a sealed text column value (seal_text)


class EmbeddingCryptoError(Exception):
    """A stored embedding cannot be decrypted: tampered, wrong scope, or its key is not configured."""


def parse_keys(entries: tuple[str, ...]) -> dict[str, bytes]:
    """`id:base64` entries → {id: 32-byte key}; a bad entry is refused by its id, never echoed."""
    keys: dict[str, bytes] = {}
    for entry in entries:
        key_id, sep, b64 = entry.partition(":")
        if not sep or not key_id or len(key_id) > 32:
            raise ValueError("encryption.keys entries must be 'key_id:base64key' with an id of 1-32 characters")
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"encryption key {key_id!r} is not valid base64") from exc
        if len(raw) != 32:
            raise ValueError(f"encryption key {key_id!r} must be 32 bytes (AES-256), got {len(raw)}")
        keys[key_id] = raw
    return keys


def to_plain(vec: FloatArray) -> bytes:
    return np.asarray(vec, dtype="<f4").tobytes()


def from_plain(raw: bytes) -> FloatArray:
    vec = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if vec.ndim != 1 or vec.shape[0] == 0:  # the dimension is the recogniser's (model_id column)
        raise ValueError(f"stored embedding has {vec.shape[0]} values")
    return vec


def scope_aad(client_id: int, tenant_id: int, user_id: str) -> bytes:
    return f"facestream-embedding:{client_id}:{tenant_id}:{user_id}".encode()


class EmbeddingCipher:
    def __init__(self, keys: dict[str, bytes], current_key_id: str) -> None:
        if keys and current_key_id not in keys:
            raise ValueError("encryption.current_key_id must name one of encryption.keys")
        self._aead = {kid: AESGCM(k) for kid, k in keys.items()}
        self.current_key_id = current_key_id if keys else None
        if not keys:
            log.warning(
                "encryption.keys is empty: face embeddings are stored as plaintext float32; "
                "configure an AES-256 key to encrypt them at rest"
            )

    @classmethod
    def from_settings(cls, entries: tuple[str, ...], current_key_id: str) -> "EmbeddingCipher":
        return cls(parse_keys(entries), current_key_id)

    @property
    def enabled(self) -> bool:
        return self.current_key_id is not None

    def seal(self, vec: FloatArray, aad: bytes) -> tuple[bytes, str | None]:
        """(stored bytes, key id); plaintext with key id None when no key is configured."""
        if self.current_key_id is None:
            return to_plain(vec), None
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead[self.current_key_id].encrypt(nonce, to_plain(vec), aad), self.current_key_id

    def open(self, stored: bytes, key_id: str | None, aad: bytes, row: object = "?") -> FloatArray:
        if key_id is None:
            return from_plain(stored)
        aead = self._aead.get(key_id)
        if aead is None:
            raise EmbeddingCryptoError(
                f"embedding row {row} was encrypted with key {key_id!r}, which is not configured"
            )
        try:
            plain = aead.decrypt(stored[:NONCE_BYTES], stored[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise EmbeddingCryptoError(
                f"embedding row {row} failed authentication with key {key_id!r}: "
                "tampered, moved to another scope, or wrong key"
            ) from exc
        return from_plain(plain)

    # -- opaque blobs (the shared gallery cache, issue 9) ----------------------------------

    def seal_bytes(self, plain: bytes, aad: bytes) -> bytes:
        """`key id length, key id, nonce, ciphertext+tag` with the current key."""
        assert self.current_key_id is not None, "seal_bytes needs a configured key"
        kid = self.current_key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        return bytes([len(kid)]) + kid + nonce + self._aead[self.current_key_id].encrypt(nonce, plain, aad)

    def open_bytes(self, blob: bytes, aad: bytes) -> bytes:
        """The plaintext of seal_bytes' output; EmbeddingCryptoError if the key is unknown or the
        blob was tampered with or moved to another aad."""
        if not blob:
            raise EmbeddingCryptoError("empty sealed blob")
        end = 1 + blob[0]
        aead = self._aead.get(blob[1:end].decode("ascii", "replace"))
        if aead is None:
            raise EmbeddingCryptoError("sealed blob names a key that is not configured")
        try:
            return aead.decrypt(blob[end:end + NONCE_BYTES], blob[end + NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise EmbeddingCryptoError("sealed blob failed authentication") from exc

    # -- short secrets kept in database columns (webhook signing secrets) ------------------

    def seal_text(self, text: str, aad: bytes) -> str:
        """`sealed:<base64>` with the current key; the text unchanged when no key is configured
        (a secret that must be used in clear, e.g. to sign, cannot be hashed)."""
        if self.current_key_id is None:
            return text
        return SEALED_TEXT + base64.b64encode(self.seal_bytes(text.encode(), aad)).decode("ascii")

    def open_text(self, stored: str, aad: bytes) -> str:
        """The text seal_text was given; a row written before keys were configured is read as it is."""
        if not stored.startswith(SEALED_TEXT):
            return stored
        return self.open_bytes(base64.b64decode(stored[len(SEALED_TEXT):]), aad).decode()
