"""Request and response models of enrollment/authentication sessions and legacy listings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.openapi import StrictModel
from api.streaming_schemas import Challenge

CaptureType = Literal["webcam", "mobile", "upload", "api"]
Binary = Field(None, json_schema_extra={"format": "binary"})


class CreateEnrollment(StrictModel):
    user_id: str | None = Field(None, min_length=1, max_length=128, description=(
        "the user's platform id or external_id (an unknown external_id is created: sessions.auto_create_users); "
        "omit it when calling with the user's own token (POST /api/auth/user-token/)"))
    session_type: CaptureType = "webcam"
    target_samples: int | None = Field(None, ge=1, le=50, description=(
        "good frames to collect; default from config, 1 for session_type upload/api"))
    quality_threshold: float | None = Field(None, ge=0.0, le=1.0, description="minimum quality score of a sample")
    require_multiple_angles: bool = Field(False, description="collect front, left and right samples")
    require_liveness: bool | None = Field(None, description="default from config (sessions.enrollment_require_liveness)")
    timeout: float | None = Field(None, gt=0, allow_inf_nan=False, description="seconds; default from config")
    metadata: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(None, max_length=200, description="display name when no user directory is wired")
    auto_complete: bool | None = Field(None, description=(
        "true: the session completes itself on the frame that meets every requirement (that frame answers "
        "`completed`); false: that frame answers `status: ready_to_complete` and the session waits for "
        "POST /api/auth/enrollment/complete/. Default by path, as the documents use each: false on "
        "/api/auth/enrollment/create/, true on /api/auth/enrollment/ and /api/enrollment/create/"))
    auto_capture: bool | None = Field(None, description="mobile seed alias of auto_complete (wins when both are given)")
    guidance_enabled: bool = Field(True, description=(
        "true: each frame's answer carries real-time guidance (`feedback.message` and `feedback.suggestions`: "
        "move_closer, turn_left, blink...); false: only `feedback.code`, for apps that draw their own guides"))
    replace: bool = Field(False, description=(
        "an enrolled user's new face must match their stored faces (else FACE_MISMATCH, 409); true: replace "
        "their faces with this different face: a privileged, audited action announced as enrollment.replaced"))
    replace_existing: bool | None = Field(None, description="alias of replace")


class Instructions(BaseModel):
    message: str
    requirements: list[str]


class EnrollmentCreated(BaseModel):
    session_token: str
    session_id: str
    enrollment_id: str
    status: str
    target_samples: int
    expires_at: str
    instructions: Instructions
    message: str
    model_config = ConfigDict(extra="allow")


class Feedback(BaseModel):
    code: str | None
    message: str | None = Field(description="null when the session was created with guidance_enabled: false")
    suggestions: list[str]


class FrameProgress(BaseModel):
    current: int
    required: int
    angles_captured: list[str]


class EnrollmentFrameOut(BaseModel):
    success: bool
    session_id: str
    session_status: str
    status: str
    frame_accepted: bool
    face_detected: bool
    quality_score: float
    feedback: Feedback
    completed_samples: int
    target_samples: int
    enrollment_progress: float
    progress: FrameProgress
    liveness_data: dict[str, Any]
    liveness_verified: bool
    requires_more_frames: bool
    enrollment_complete: bool
    message: str
    model_config = ConfigDict(extra="allow")


class FrameJson(StrictModel):
    """A frame as JSON: `frame_data` (or `image`) holds a data URL or plain base64."""

    session_token: str | None = None
    frame_data: str | None = None
    image: str | None = None
    frame_metadata: dict[str, Any] | None = Field(None, description="`timestamp` (ISO or unix seconds) = capture time")


class FrameForm(BaseModel):
    session_token: str | None = None
    frame: str | None = Binary
    image: str | None = Binary
    frame_metadata: str | None = Field(None, description="JSON object; `timestamp` = capture time")


class SessionTokenBody(StrictModel):
    session_token: str | None = None


class QualityMetrics(BaseModel):
    overall_quality: float
    face_count: int
    average_confidence: float
    angles_captured: list[str]


class EnrollmentCompleted(BaseModel):
    status: Literal["completed"]
    enrollment_id: str
    user_id: str
    quality_metrics: QualityMetrics
    liveness_verified: bool
    created_at: str
    model_config = ConfigDict(extra="allow")


class DirectEnrollmentForm(BaseModel):
    user_id: str
    image: str = Field(json_schema_extra={"format": "binary"})
    quality_threshold: float | None = None
    name: str | None = None
    replace: bool = Field(False, description=(
        "true: replace an enrolled user's faces with this different face (privileged, audited: "
        "enrollment.replaced); otherwise a face that does not match theirs is FACE_MISMATCH (409)"))
    replace_existing: bool | None = Field(None, description="alias of replace")


class SessionOut(BaseModel):
    session_id: str
    status: str
    user_id: str | None
    created_at: str
    expires_at: str
    result: dict[str, Any] | None
    model_config = ConfigDict(extra="allow")


class CreateAuthentication(StrictModel):
    user_id: str | None = Field(None, min_length=1, max_length=128, description="required for verification")
    session_type: Literal["webcam", "mobile", "upload", "api", "webrtc"] = "webcam"
    mode: Literal["verification", "identification"] | None = Field(
        None, description="default: verification when user_id is given, else identification")
    require_liveness: bool = True
    liveness_threshold: float | None = Field(None, gt=0.0, le=1.0)
    liveness_challenges: list[Challenge] = Field(default_factory=list, max_length=4)
    challenge_timeout: float | None = Field(None, gt=0, le=120)
    confidence_threshold: float | None = Field(None, ge=0.0, le=1.0, description="0.5 = exactly at the matching threshold")
    search_threshold: float | None = Field(None, ge=0.0, le=1.0, description="minimum confidence of a listed match")
    max_results: int = Field(5, ge=1, le=50)
    timeout: float | None = Field(None, gt=0, allow_inf_nan=False)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AuthenticationCreated(BaseModel):
    session_token: str
    session_id: str
    status: str
    session_type: str
    mode: str
    expires_at: str
    message: str
    model_config = ConfigDict(extra="allow")


class AuthResult(BaseModel):
    authenticated: bool
    confidence: float
    user_id: str | None
    liveness_score: float
    matches: list[dict[str, Any]]
    model_config = ConfigDict(extra="allow")


class AuthFrameOut(BaseModel):
    success: bool
    session_id: str
    session_status: str
    status: str
    result: AuthResult | None
    liveness_verified: bool
    processing_time: float
    message: str
    feedback: Feedback | None = Field(None, description="while pending: what to show the person now (an active "
                                      "liveness prompt, e.g. \"Turn your head to your right\", or that the prompts failed)")
    model_config = ConfigDict(extra="allow")


class ProcessImageOut(BaseModel):
    """/api/auth/process-image/ (API_INTEGRATION_GUIDE.md §3): `session_status` is `processing`
    while frames are wanted; on an authentication decision `result` is `success`/`failure` and
    `result_details` the decision object process-frame calls `result`. Enrollment frames carry
    EnrollmentFrameOut's fields too."""

    success: bool
    session_id: str
    session_status: str
    result: Literal["success", "failure"] | None = None
    result_details: AuthResult | None = None
    message: str
    model_config = ConfigDict(extra="allow")


class BatchForm(BaseModel):
    session_token: str | None = None
    frames: list[str] = Field(json_schema_extra={"items": {"type": "string", "format": "binary"}})
    options: str | None = Field(None, description="JSON: mode, user_id, require_liveness, fps, timestamps...")


class BatchOptions(StrictModel):
    mode: Literal["verification", "identification"] | None = None
    user_id: str | None = Field(None, min_length=1, max_length=128)
    require_liveness: bool = True
    liveness_threshold: float | None = Field(None, gt=0.0, le=1.0)
    confidence_threshold: float | None = Field(None, ge=0.0, le=1.0)
    search_threshold: float | None = Field(None, ge=0.0, le=1.0)
    max_results: int = Field(5, ge=1, le=50)
    fps: float | None = Field(None, gt=0, le=240, description="capture rate of the frames; default from config")
    timestamps: list[float] | None = Field(None, description="capture time of each frame, seconds")
    batch_size: int | None = None
    parallel_processing: bool | None = Field(None, description="accepted for seed compatibility; frames are processed in order")


class PageQuery(StrictModel):
    page: int = Field(1, ge=1, le=100000)
    page_size: int = Field(20, ge=1, le=100)


class Page(BaseModel):
    count: int
    page: int
    page_size: int
    next: str | None
    previous: str | None
    results: list[dict[str, Any]]
