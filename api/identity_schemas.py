"""Request and response models of the platform identity surface: tokens, users, usage, core."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from api.openapi import StrictModel

# ---- tokens ----------------------------------------------------------------------------------


class ClientCredentials(StrictModel):
    api_key: str = Field(min_length=1, max_length=64)
    api_secret: str = Field(min_length=1, max_length=128)


class RefreshRequest(StrictModel):
    """The seed's SimpleJWT-style `refresh`, or the OAuth-style `refresh_token`."""

    refresh: str | None = Field(None, min_length=1, max_length=4096)
    refresh_token: str | None = Field(None, min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _one_token(self) -> "RefreshRequest":
        if not (self.refresh or self.refresh_token):
            raise ValueError("send 'refresh' (or 'refresh_token')")
        return self

    @property
    def token(self) -> str:
        return self.refresh or self.refresh_token or ""


class TokenPair(BaseModel):
    access: str
    refresh: str
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_expires_in: int
    scope: Literal["admin", "kiosk"] = Field("admin", description="the scope of the key signed in with (issue 25)")


class AccessToken(BaseModel):
    access: str
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


# ---- users -----------------------------------------------------------------------------------

Metadata = dict[str, Any]
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class CreateUser(StrictModel):
    external_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254, pattern=EMAIL)
    metadata: Metadata = Field(default_factory=dict)


class UpdateUser(StrictModel):
    """PUT: the fields sent replace the stored ones; fields left out are kept."""

    external_id: str | None = Field(None, min_length=1, max_length=128)
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254, pattern=EMAIL)
    metadata: Metadata | None = None
    is_active: bool | None = None


class UserQuery(StrictModel):
    page: int = Field(1, ge=1, le=100000)
    page_size: int = Field(20, ge=1, le=100)
    search: str | None = Field(None, max_length=200, description="matches name, email or external_id, case-insensitive")
    is_active: bool | None = None
    has_enrollment: bool | None = None


class UserOut(BaseModel):
    id: str
    external_id: str
    name: str
    email: str | None
    metadata: Metadata
    is_active: bool
    has_enrollment: bool
    enrollments_count: int
    last_authentication: str | None
    created_at: str
    updated_at: str


class UserPage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    page: int
    page_size: int
    results: list[UserOut]


class UserDeleted(BaseModel):
    id: str
    deleted: Literal[True]
    embeddings_deleted: int


class ExportedEmbedding(BaseModel):
    enrollment_id: int
    quality_score: float
    created_at: str
    embedding: list[float]
    model: str = Field(description="recogniser that made the embedding (its dimension is that model's)")


class UserExport(BaseModel):
    user: UserOut
    enrollments: list[ExportedEmbedding]
    embedding_model: str
    exported_at: str


# ---- usage and statistics --------------------------------------------------------------------


class UsageQuery(StrictModel):
    page: int = Field(1, ge=1, le=100000)
    page_size: int = Field(50, ge=1, le=100)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    status: int | None = Field(None, ge=100, le=599)


class UsageOut(BaseModel):
    id: int
    method: str
    path: str
    status: int
    duration_ms: float
    timestamp: str


class UsagePage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    page: int
    page_size: int
    results: list[UsageOut]


class ClientStatistics(BaseModel):
    """The calling client's usage (`/api/clients/statistics/`); analytics has its own `Statistics`."""

    client_id: int
    tier: str
    users: dict[str, int]
    requests: dict[str, Any]
    rate_limits: dict[str, int]


# ---- core ------------------------------------------------------------------------------------

ServiceState = Literal["online", "offline", "not_configured"]


class CoreStatus(BaseModel):
    status: Literal["healthy", "degraded"]
    version: str
    timestamp: str
    services: dict[str, ServiceState]


class ConfigEntry(BaseModel):
    key: str
    value: Any
    description: str


class ConfigList(BaseModel):
    count: int
    results: list[ConfigEntry]
