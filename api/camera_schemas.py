"""Request and response models of `/api/streaming/cameras/...` (door cameras)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from api.openapi import StrictModel
from doors.camera_url import parse_camera_url
from doors.schedules import Schedule, ScheduleError


class CameraIn(StrictModel):
    id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                           description="default: a new UUID")
    name: str = Field("", max_length=200)
    url: str = Field(..., min_length=8, max_length=2000,
                     description="rtsp:// or rtsps://, printable ASCII, credentials only as percent-encoded userinfo "
                                 "(never returned); loopback/private hosts refused unless ingest.allow_private_targets")
    door_id: str = Field("", max_length=128)
    mode: Literal["identification"] = "identification"
    allowed_users: list[str] = Field(default_factory=list, max_length=10000)
    allowed_groups: list[str] = Field(default_factory=list, max_length=1000)
    schedule: list[str] = Field(default_factory=list, max_length=100,
                                description='rules like "mon-fri 08:00-18:00"; empty = always open')
    timezone: str = Field("UTC", max_length=64)
    require_liveness: bool = True
    det_size: int = Field(0, ge=0, le=1280, multiple_of=32)
    max_fps: float = Field(10.0, ge=0, le=60, allow_inf_nan=False)
    cooldown_s: float = Field(10.0, ge=0, le=86400, allow_inf_nan=False)
    one_person: bool = False
    transport: Literal["", "tcp", "udp"] = ""
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _rtsp(cls, v: str) -> str:
        parse_camera_url(v)  # CameraUrlError is a ValueError: a 400 naming the field
        return v

    @model_validator(mode="after")
    def _schedule(self) -> "CameraIn":
        try:
            Schedule.parse(self.schedule, self.timezone)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from exc
        return self


class CameraOut(BaseModel):
    id: str
    name: str
    url: str = Field(description="credentials masked: rtsp://***@host/...")
    door_id: str
    mode: str
    allowed_users: list[str]
    allowed_groups: list[str]
    schedule: list[str]
    timezone: str
    require_liveness: bool
    det_size: int
    max_fps: float
    cooldown_s: float
    one_person: bool
    transport: str
    enabled: bool
    source: str
    status: str
    created_at: str
    updated_at: str


class CameraList(BaseModel):
    count: int
    results: list[CameraOut]


class CameraStatus(BaseModel):
    camera_id: str
    door_id: str
    status: Literal["online", "connecting", "offline", "stopped", "disabled"]
    last_error: str | None
    fps: float
    frames_decoded: int
    packets_demuxed: int = 0  # decoder input; one decode per camera whatever the number of viewers
    viewers_passthrough: int = 0  # live viewers fed the camera's H.264 packets (the rest: re-encode fallback)
    codec: str | None = None  # the stream's codec once connected (h264: viewers get it without re-encoding)
    frames_processed: int
    frames_dropped: int
    reconnects: int
    pending: dict[str, Any] | None
    recent_decisions: list[dict[str, Any]]


class ViewOffer(StrictModel):
    sdp: str = Field(..., min_length=1, max_length=100_000)
    type: Literal["offer"] = "offer"


class ViewAnswer(BaseModel):
    camera_id: str
    type: Literal["answer"]
    sdp: str
