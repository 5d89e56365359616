"""Pydantic models of the client messages of `/ws/recognition/`.

Why: the socket takes the same shapes as the REST endpoints (the signaling messages are the very
`Offer` / `IceCandidate` models of `/api/streaming/webrtc/...`), checked the same way before any
handler runs. Unknown fields are allowed (a newer client may send more); wrong types and sizes
are an `error` message with the field named, in the code the handler would have used.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from api.streaming_schemas import Challenge, IceCandidate, Offer


class WsMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str


class Ping(WsMessage):
    type: Literal["ping"]
    ts: Any = None


class Authenticate(WsMessage):
    type: Literal["authenticate"]
    token: StrictStr | None = Field(None, max_length=4096)
    api_key: StrictStr | None = Field(None, max_length=4096)
    api_secret: StrictStr | None = Field(None, max_length=4096)
    access_token: StrictStr | None = Field(None, max_length=4096)


class Subscribe(WsMessage):
    type: Literal["subscribe", "unsubscribe"]
    session_id: StrictStr | None = Field(None, max_length=128)
    camera_id: StrictStr | None = Field(None, max_length=128)
    scope: Literal["client"] | None = None


class FrameOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    mode: Literal["verification", "identification", "enrollment"] = "identification"
    user_id: StrictStr | StrictInt | None = None
    require_liveness: bool = True
    liveness_challenges: list[Challenge] | None = Field(None, max_length=4)


class ProcessFrame(WsMessage):
    type: Literal["process_frame"]
    frame: StrictStr
    timestamp: Any = None
    options: FrameOptions | None = None


class WsOffer(Offer):
    pass


class WsIceCandidate(IceCandidate):
    type: Literal["ice_candidate"]


MODELS: dict[str, type[BaseModel]] = {
    "ping": Ping, "authenticate": Authenticate, "subscribe": Subscribe, "unsubscribe": Subscribe,
    "process_frame": ProcessFrame, "offer": WsOffer, "ice_candidate": WsIceCandidate,
}
# The code each message's handler answers for bad input, so validation does not change it.
_PAYLOAD_FIELDS = ("frame", "sdp", "candidate", "sdpMid", "sdpMLineIndex")
CODES = {"process_frame": "INVALID_FRAME", "offer": "INVALID_SDP", "ice_candidate": "INVALID_ICE_CANDIDATE"}


def validation_problem(data: dict[str, Any]) -> tuple[str, str] | None:
    """(code, message) when the message does not fit its model; None when it does (or its type
    is not one of ours: the dispatcher answers UNKNOWN_TYPE)."""
    model = MODELS.get(data["type"])
    if model is None:
        return None
    try:
        model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "message"
        code = CODES.get(data["type"], "INVALID_MESSAGE") if where.split(".")[0] in _PAYLOAD_FIELDS else None
        return code or "INVALID_MESSAGE", f"{where}: {err['msg']}"
    return None
