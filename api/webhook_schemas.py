"""Request and response models of `/api/webhooks/` (tag `Webhooks`), as the seeds show them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator

from api.openapi import StrictModel
from events.outbox import EVENTS
from storage.crypto import SEALED_TEXT

EventName = Literal[
    "enrollment.completed", "enrollment.failed", "enrollment.replaced", "authentication.success", "authentication.failed",
    "liveness.failed", "user.created", "user.updated", "user.deleted", "access.granted", "access.denied", "*",
]


def _not_sealed(value: str) -> str:
    if value.startswith(SEALED_TEXT):  # the stored form of a sealed secret: ambiguous on a keyless server
        raise ValueError(f"a secret may not start with {SEALED_TEXT!r}")
    return value


Secret = Annotated[str, Field(min_length=8, max_length=256), AfterValidator(_not_sealed)]


class RetryPolicy(StrictModel):
    max_retries: int = Field(3, ge=0, le=20)
    backoff_strategy: Literal["exponential", "linear", "fixed"] = "exponential"
    retry_delay: float = Field(30.0, ge=0.0, le=86400.0, description="seconds before the first retry")


class CreateEndpoint(StrictModel):
    url: str = Field(min_length=8, max_length=2048, description="http(s) URL; private/loopback hosts are refused")
    events: list[EventName] = Field(min_length=1, max_length=len(EVENTS) + 1)
    secret: Secret | None = Field(None, description="HMAC key; generated (and returned once) when absent")
    is_active: bool = True
    description: str = Field("", max_length=500)
    retry_policy: RetryPolicy | None = None

    @field_validator("events")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class UpdateEndpoint(StrictModel):
    url: str | None = Field(None, min_length=8, max_length=2048)
    events: list[EventName] | None = Field(None, min_length=1, max_length=len(EVENTS) + 1)
    secret: Secret | None = None
    is_active: bool | None = None
    description: str | None = Field(None, max_length=500)
    retry_policy: RetryPolicy | None = None


class RetryPolicyOut(BaseModel):
    max_retries: int
    backoff_strategy: str
    retry_delay: float


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    is_active: bool
    description: str
    retry_policy: RetryPolicyOut
    secret: str | None = Field(None, description="only in the create response")
    created_at: str
    updated_at: str


class Page(BaseModel):
    count: int
    next: str | None
    previous: str | None
    page: int
    page_size: int


class EndpointPage(Page):
    results: list[EndpointOut]


class PageQuery(StrictModel):
    page: int = Field(1, ge=1, le=100000)
    page_size: int = Field(20, ge=1, le=100)


class EventQuery(PageQuery):
    event_type: EventName | None = None


class EventOut(BaseModel):
    id: str
    event: str
    event_type: str
    data: dict[str, Any]
    timestamp: str
    deliveries: int
    delivered: int
    failed: int


class EventPage(Page):
    results: list[EventOut]


class LogQuery(PageQuery):
    event_type: EventName | None = None
    status: Literal["success", "failed"] | None = None
    webhook_id: str | None = Field(None, max_length=36, description="only this endpoint's deliveries")


class LogOut(BaseModel):
    id: int
    webhook_id: str
    delivery_id: str
    event_id: str
    event_type: str
    url: str
    attempt: int
    status: str
    response_status: int | None
    response_body: str | None
    error: str | None
    duration_ms: float
    delivery_status: str
    created_at: str


class LogPage(Page):
    results: list[LogOut]


class RetryOut(BaseModel):
    log_id: int
    delivery_id: str
    status: Literal["pending"]
    message: str


class EndpointDeleted(BaseModel):
    id: str
    deleted: Literal[True]
