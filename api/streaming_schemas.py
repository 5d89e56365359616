"""Request and response models of `/api/streaming/...` (validation and OpenAPI in one place)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.openapi import StrictModel
from engine.liveness_settings import CHALLENGES

Challenge = Literal[CHALLENGES]  # type: ignore[valid-type]


class CreateStreamSession(StrictModel):
    session_type: Literal["webrtc"] = "webrtc"
    mode: Literal["verification", "identification", "enrollment"] = "identification"
    user_id: str | None = Field(None, min_length=1, max_length=128, description="required for verification and enrollment")
    name: str | None = Field(None, max_length=256, description=(
        "enrollment: the name of a user this enrollment creates (an unknown external id); an existing user keeps theirs"))
    replace: bool = Field(False, description=(
        "enrollment: replace an enrolled user's faces with a different face (privileged, audited: "
        "enrollment.replaced); otherwise a face that does not match theirs ends the session with FACE_MISMATCH"))
    replace_existing: bool | None = Field(None, description="alias of replace")
    require_liveness: bool = True
    liveness_challenges: list[Challenge] = Field(default_factory=list, max_length=4)
    timeout: float | None = Field(None, gt=0, allow_inf_nan=False, description="seconds; default from config")
    offer_from: Literal["client", "server"] = Field("client", description=(
        "server: the response carries the server's SDP `offer`; answer it at /api/streaming/webrtc/answer/"))


class IceServer(BaseModel):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class StreamSessionOut(BaseModel):
    session_id: str
    status: str
    session_type: Literal["webrtc"]
    mode: str
    user_id: str | None
    require_liveness: bool
    liveness_challenges: list[str]
    created_at: str
    expires_at: str
    expires_in: float
    frame_count: int
    processed_fps: float
    dropped_frames: int
    connection_state: str

    model_config = ConfigDict(extra="allow")


class CreatedStreamSession(StreamSessionOut):
    session_token: str
    ice_servers: list[IceServer]
    signaling_url: str


class SignalBase(BaseModel):
    """Signaling calls carry the session token (body or `X-Session-Token`), or an API key plus
    `session_id`."""

    session_token: str | None = None
    session_id: str | None = None
    model_config = ConfigDict(extra="allow")


class Offer(SignalBase):
    type: Literal["offer"] = "offer"
    sdp: str = Field(min_length=1)


class IceCandidate(SignalBase):
    candidate: str | dict[str, Any] | None = None
    sdpMid: str | None = None
    sdpMLineIndex: int | None = None


class Answer(SignalBase):
    type: str = "answer"
    sdp: str | None = None


class SdpAnswer(BaseModel):
    session_id: str
    type: Literal["answer"]
    sdp: str


class IceAccepted(BaseModel):
    session_id: str
    status: Literal["accepted"]
