"""API credentials: random keys and secrets, stored as SHA-256 digests, compared in constant time.

Secrets are 256-bit random tokens, so a fast digest is enough (no password stretching needed);
an attacker with the database still cannot recover or brute-force them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_api_key() -> str:
    return "fs_" + secrets.token_hex(12)


def new_api_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret).encode(), stored_hash.encode())
