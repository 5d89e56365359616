"""Request and response models of `/api/clients/keys/` (tag `Client Management`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.openapi import StrictModel

Cidrs = list[str]


class CreateKey(StrictModel):
    scope: Literal["admin", "kiosk"] = "kiosk"
    label: str = Field("", max_length=100)
    allowed_cidrs: Cidrs = Field(default_factory=list, max_length=64)


class RotateKey(StrictModel):
    """How long the secret being replaced keeps working (0: it stops at once)."""

    grace_seconds: int = Field(86400, ge=0, le=30 * 24 * 3600)


class SetAllowlist(StrictModel):
    allowed_cidrs: Cidrs = Field(max_length=64)


class KeyOut(BaseModel):
    id: int
    api_key: str
    scope: str
    label: str
    allowed_cidrs: list[str]
    created_at: str
    rotated_at: str | None = None
    previous_secret_expires_at: str | None = None


class KeyWithSecret(KeyOut):
    api_secret: str


class KeyList(BaseModel):
    results: list[KeyOut]
    count: int
