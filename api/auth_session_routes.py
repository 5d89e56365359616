"""Authentication sessions (`/api/auth/authentication/...`) and `/api/auth/process-image/`, which
serves frames of either kind of session (the token says which)."""

from __future__ import annotations


from aiohttp import web

from api.body_reader import loads
from api.client_auth import require_client
from api.errors import ApiError
from api.openapi import ErrorBody, json_body, operation
from api.session_common import (
    check_capacity, model_from_fields, optional_client, owned_session, read_frame, read_multipart, services,
)
from api.session_schemas import (
    AuthenticationCreated, AuthFrameOut, BatchForm, BatchOptions, CreateAuthentication, FrameForm,
    FrameJson, ProcessImageOut, SessionOut,
)
from api.device_info import device_info
from sessions import auth_ops, enroll_ops, views
from recognition.authentication import AuthParams, AuthState
from recognition.enrollment import EnrollmentState
from sessions.lockout import ensure_unlocked
from sessions.service import SessionServices
from storage.session_store import SessionRecord

routes = web.RouteTableDef()
TAG = "Face Authentication"


async def _create(svc: SessionServices, client_id: int, body: CreateAuthentication | BatchOptions,
                  session_type: str, timeout: float | None, extra: dict[str, object]) -> tuple[SessionRecord, str]:
    mode = body.mode or ("verification" if body.user_id else "identification")
    user_id: str | None = None
    if mode == "verification":
        if not body.user_id:
            raise ApiError(400, "user_id: is required in verification mode", "VALIDATION_ERROR",
                           {"user_id": ["is required in verification mode"]})
        user_id = (await svc.enrolled_user(client_id, body.user_id)).user_id
        await ensure_unlocked(svc.store, svc.settings, client_id, user_id)
    challenges = svc.challenges(tuple(getattr(body, "liveness_challenges", ()) or ()), body.require_liveness)
    params = AuthParams(
        mode=mode, user_id=user_id, require_liveness=body.require_liveness,
        confidence_threshold=0.5 if body.confidence_threshold is None else body.confidence_threshold,
        search_threshold=0.5 if body.search_threshold is None else body.search_threshold,
        max_results=body.max_results, challenges=challenges,
    )
    seconds = svc.timeout(timeout, svc.settings.authentication_timeout_s)
    stored = {**params.__dict__, "challenges": list(challenges), "liveness_threshold": body.liveness_threshold,
              "timeout": seconds, **extra}
    liveness = svc.liveness_for(body.liveness_threshold, getattr(body, "challenge_timeout", None))
    return await svc.create(client_id=client_id, kind="authentication", user_id=params.user_id,
                            session_type=session_type, mode=mode, timeout_s=seconds, params=stored,
                            make_state=svc.auth_state(client_id, params, liveness))


@operation("Create an authentication session (verification 1:1 or identification 1:N)", tags=TAG,
           body=CreateAuthentication, responses={201: AuthenticationCreated, 404: ErrorBody, 429: ErrorBody})
async def create_authentication(request: web.Request) -> web.Response:
    """Verification needs an enrolled, active, not locked-out user_id."""
    client = await require_client(request)
    body = await json_body(request, CreateAuthentication)
    svc = services(request)
    check_capacity(request, client)
    extra = {"metadata": body.metadata, "device_info": device_info(request)}
    row, token = await _create(svc, client.id, body, body.session_type, body.timeout, extra)
    out = {**views.auth_session(row), "session_token": token,
           "message": "Authentication session created. Stream frames to continue."}
    return web.json_response(out, status=201)


@operation("Process one authentication frame", tags=TAG, body=FrameJson, form=FrameForm,
           responses={200: AuthFrameOut, 409: ErrorBody, 410: ErrorBody, 429: ErrorBody},
           security=("SessionToken", "ApiKey", "Bearer"))
async def process_frame(request: web.Request) -> web.Response:
    """Frames accumulate liveness and embeddings until a decision; a failed attempt leaves the
    session open for another try until the failure limit locks it (ACCOUNT_LOCKED, 429)."""
    client_id = await optional_client(request)
    frame = await read_frame(request)
    svc = services(request)
    row, state = await svc.resolve(frame.token, client_id, "authentication")
    assert isinstance(state, AuthState)
    return web.json_response(await auth_ops.process_frames(svc, row, state, [(frame.data, frame.timestamp)]))


@operation("Process a frame of an enrollment or authentication session", tags=(TAG, "Face Enrollment"),
           body=FrameJson, form=FrameForm, responses={200: ProcessImageOut, 409: ErrorBody, 410: ErrorBody},
           security=("SessionToken", "ApiKey", "Bearer"))
async def process_image(request: web.Request) -> web.Response:
    """The session token decides which kind of frame this is; the answer is in
    API_INTEGRATION_GUIDE.md's shape (image_answer) and an authentication decision, failure
    included, ends the session there (the guide's failure is `session_status: "completed"`)."""
    client_id = await optional_client(request)
    frame = await read_frame(request)
    svc = services(request)
    row, state = await svc.resolve(frame.token, client_id, None)
    if isinstance(state, EnrollmentState):
        return web.json_response(image_answer(
            await enroll_ops.process_frame(svc, row, state, frame.data, frame.timestamp)))
    assert isinstance(state, AuthState)
    return web.json_response(image_answer(
        await auth_ops.process_frames(svc, row, state, [(frame.data, frame.timestamp)], one_attempt=True)))


def image_answer(body: dict[str, object]) -> dict[str, object]:
    """API_INTEGRATION_GUIDE.md §3.1/§3.2: a session still collecting frames is `processing`
    (process-frame says `in_progress`/`active`, as enrollment.md and api_integration_guide.md do),
    and `result` is `"success"`/`"failure"`; the decision object process-frame calls `result`
    stays whole under `result_details` for clients that want the reason, distance and matches."""
    out = dict(body)
    if out.get("session_status") in ("in_progress", "active"):
        out["session_status"] = "processing"
    if isinstance(out.get("result"), dict):
        out["result_details"] = out["result"]
        out["result"] = "success" if out.get("success") is True else "failure"
    return out


@operation("Authenticate from several frames in one request", tags=TAG, form=BatchForm,
           responses={200: AuthFrameOut, 409: ErrorBody, 429: ErrorBody},
           security=("ApiKey", "Bearer", "SessionToken"))
async def batch_process(request: web.Request) -> web.Response:
    """Frames (`frames` parts, in order) feed one session; the answer is one decision, forced on
    the last frame. With a session token the frames go to that session; without one, `options`
    (mode, user_id, ...) open a new session for this batch."""
    client_id = await optional_client(request)
    if request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ApiError(415, "Content-Type must be multipart/form-data", "UNSUPPORTED_MEDIA_TYPE")
    fields, files = await read_multipart(request)
    frames = files.get("frames") or files.get("frame") or files.get("images") or []
    if not frames:
        raise ApiError(400, "frames: upload one or more images as 'frames'", "VALIDATION_ERROR",
                       {"frames": ["is required"]})
    svc = services(request)
    if len(frames) > svc.settings.batch_max_frames:
        raise ApiError(413, f"At most {svc.settings.batch_max_frames} frames per batch", "PAYLOAD_TOO_LARGE")
    try:
        raw_options = loads(fields.get("options") or "{}")
    except ValueError:  # body_reader.BodyError included
        raise ApiError(400, "options: must be a JSON object", "VALIDATION_ERROR") from None
    options: BatchOptions = model_from_fields(BatchOptions, raw_options if isinstance(raw_options, dict) else {"_": 1})
    if options.timestamps is not None and len(options.timestamps) != len(frames):
        raise ApiError(400, "options.timestamps: needs one time per frame", "VALIDATION_ERROR")
    token = request.headers.get("X-Session-Token") or fields.get("session_token")
    if token:
        row, state = await svc.resolve(token, client_id, "authentication")
    else:
        client = await require_client(request)
        check_capacity(request, client)
        client_id = client.id
        row, _ = await _create(svc, client_id, options, "api", None,
                               {"batch": True, "device_info": device_info(request)})
        state = svc.live.get(row.id)
    assert isinstance(state, AuthState)
    fps = options.fps or svc.settings.batch_default_fps
    base = state.clock.last + 1.0 / fps if state.clock.last >= 0 else 0.0
    times = options.timestamps or [base + i / fps for i in range(len(frames))]
    body = await auth_ops.process_frames(svc, row, state, list(zip(frames, times)), final_at_end=True)
    return web.json_response({**body, "frames_received": len(frames)})


@operation("Read an authentication session", tags=TAG, responses={200: SessionOut})
async def get_authentication(request: web.Request) -> web.Response:
    return web.json_response(views.auth_session(await owned_session(request, "authentication")))


for _path in ("/api/auth/authentication/create/", "/api/auth/authentication/"):
    routes.post(_path)(create_authentication)
routes.post("/api/auth/authentication/process-frame/")(process_frame)
routes.post("/api/auth/authentication/batch-process/")(batch_process)
routes.post("/api/auth/process-image/")(process_image)
routes.get("/api/auth/authentication/{session_id}/")(get_authentication)
