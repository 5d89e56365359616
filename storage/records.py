"""Typed records crossing the storage boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.types import FloatArray


@dataclass(frozen=True)
class Client:
    """A tenant of the platform; its API secret is only ever held hashed."""

    id: int
    name: str
    api_key: str
    tier: str
    is_active: bool
    created_at: datetime


@dataclass(frozen=True)
class NewClient:
    """Returned once at creation: the only time the plain secret exists."""

    client: Client
    api_secret: str


@dataclass(frozen=True)
class Enrollment:
    id: int
    client_id: int
    tenant_id: int
    user_id: str
    name: str
    embedding: FloatArray
    quality: float
    created_at: datetime
