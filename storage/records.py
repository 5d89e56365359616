"""Typed records crossing the storage boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
class CredentialCheck:
    """One API key + secret checked: the client when both match; the key's owner either way
    (whose security event a wrong secret is). Unknown keys cost the same lookup and digest."""

    client: Client | None
    owner_id: int | None
    key: ApiKey | None = None  # the key that matched (its scope and allowlist), when client is set


ADMIN = "admin"
KIOSK = "kiosk"
SCOPES = (ADMIN, KIOSK)


@dataclass(frozen=True)
class ApiKey:
    """One credential of a client (storage/key_store.py). `scope` admin can do everything the
    client can; kiosk only the kiosk flows (api/scopes.py). An empty `allowed_cidrs` admits any
    address. After a rotation the previous secret keeps working until `previous_expires_at`."""

    id: int
    client_id: int
    api_key: str
    scope: str
    label: str
    allowed_cidrs: tuple[str, ...]
    created_at: datetime
    rotated_at: datetime | None = None
    previous_expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.scope == ADMIN


@dataclass(frozen=True)
class NewApiKey:
    """Returned once at creation or rotation: the only time the plain secret exists."""

    key: ApiKey
    api_secret: str


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
    model_id: str = ""  # the recogniser that made the embedding (storage/model_stamp.py)


@dataclass(frozen=True)
class User:
    """A platform user of one client; its faces are gallery rows in tenant 0 with user_id = id."""

    id: str
    client_id: int
    external_id: str
    name: str
    email: str | None
    metadata: dict[str, Any]
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_authentication: datetime | None = None
    enrollments_count: int = 0

    @property
    def has_enrollment(self) -> bool:
        return self.enrollments_count > 0


@dataclass(frozen=True)
class ApiUsage:
    """One authenticated /api/ request: no query string, no body, only the route template."""

    id: int
    client_id: int
    method: str
    path: str
    status: int
    duration_ms: float
    created_at: datetime


@dataclass(frozen=True)
class NewFace:
    """One face to store without an image (bulk import): its embedding is already computed."""

    user_id: str
    name: str
    embedding: FloatArray
    quality: float = 0.0  # unknown without the image, unless the caller says
