"""Enrollment sessions (`/api/auth/enrollment/...`, `/api/enrollment/...`): one handler per action,
served under every path the seeds give it. Logic lives in sessions/ (shared with streaming)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from aiohttp import web

from api.scopes import check_kiosk_enrollment
from api.client_auth import require_client
from api.device_info import device_info
from api.errors import ApiError
from api.openapi import ErrorBody, json_body, operation
from api.replace_request import replace_request
from api.user_tokens import enrollment_caller, optional_enrollment_caller
from api.session_common import (
    check_capacity, model_from_fields, owned_session, read_frame, read_multipart, services,
)
from api.session_schemas import (
    CreateEnrollment, DirectEnrollmentForm, EnrollmentCompleted, EnrollmentCreated, EnrollmentFrameOut, FrameForm,
    FrameJson, SessionOut, SessionTokenBody,
)
from sessions import enroll_ops, views
from recognition.enrollment import EnrollmentParams, EnrollmentState
from sessions.service import SessionError
from storage.session_store import now_utc

routes = web.RouteTableDef()
TAG = "Face Enrollment"
SINGLE_IMAGE_TYPES = ("upload", "api")  # session types fed one uploaded photo, not a camera
# Who completes a session the body does not say: the documents differ by path. Every flow on
# /api/auth/enrollment/create/ (api_integration_guide.md, user_guide.md: curl, SDK classes, React)
# calls complete/ after `ready_to_complete`; API_INTEGRATION_GUIDE.md's /api/auth/enrollment/ and
# enrollment.md's /api/enrollment/create/ only post frames until `completed`.
WAITS_FOR_COMPLETE = frozenset({"/api/auth/enrollment/create/"})


@operation("Create an enrollment session", tags=TAG, body=CreateEnrollment,
           responses={201: EnrollmentCreated, 404: ErrorBody, 429: ErrorBody})
async def create_enrollment(request: web.Request) -> web.Response:
    """Returns a session token; post frames with it until `status` is `ready_to_complete`, then call
    complete/ (the default here), or until `completed` (`auto_complete: true`, the default on
    /api/auth/enrollment/ and /api/enrollment/create/). Liveness is accumulated over the frames
    (blinks + non-rigid motion).

    enrollment.md's call (Bearer, no `user_id`) uses the user's own token: the integrator's
    backend gets it from `POST /api/auth/user-token/` with `{"user_id": ...}` (client
    credentials) and hands it to the user's app; with that token the session is that user's."""
    caller = await enrollment_caller(request)
    client = caller.client
    body = await json_body(request, CreateEnrollment)
    svc = services(request)
    s = svc.settings
    check_capacity(request, client)
    if caller.user_id is not None:  # a user's own token (enrollment.md): that user, whatever the body says
        if body.user_id is not None and (await svc.active_user(client.id, body.user_id)).user_id != caller.user_id:
            raise ApiError(403, "A user token may only enroll its own user", "INSUFFICIENT_PERMISSIONS")
        user = await svc.active_user(client.id, caller.user_id)
    elif body.user_id is None:
        raise ApiError(400, "user_id: is required (or call with the user's own token)", "VALIDATION_ERROR",
                       {"user_id": ["is required"]})
    else:
        await check_kiosk_enrollment(request, client.id, body.user_id)  # a kiosk: new IDs only
        user = await svc.enrolling_user(client.id, body.user_id, body.name)
    # One uploaded photo is the whole of an `upload`/`api` enrollment (api_integration_guide.md's
    # SDK examples post one image, then complete): one sample, liveness only when asked for.
    single = body.session_type in SINGLE_IMAGE_TYPES
    target = body.target_samples or (1 if single else s.target_samples)
    if target > s.max_target_samples:
        raise ApiError(400, f"target_samples: must be at most {s.max_target_samples}", "VALIDATION_ERROR",
                       {"target_samples": [f"must be at most {s.max_target_samples}"]})
    params = EnrollmentParams(
        user_id=user.user_id, target_samples=target,
        quality_threshold=s.quality_threshold if body.quality_threshold is None else body.quality_threshold,
        require_multiple_angles=body.require_multiple_angles,
        require_liveness=(not single and s.enrollment_require_liveness) if body.require_liveness is None
        else body.require_liveness,
        auto_complete=_auto_complete(request, body),
    )
    timeout = svc.timeout(body.timeout, s.enrollment_timeout_s)
    challenges = svc.challenges((), params.require_liveness)
    stored = {**params.__dict__, "metadata": body.metadata, "external_id": user.external_id, "timeout": timeout,
              "guidance_enabled": body.guidance_enabled,
              "challenges": list(challenges), "device_info": device_info(request),
              **replace_request(request, client, body.replace, body.replace_existing,
                                user_token=caller.user_id is not None).as_params()}
    row, token = await svc.create(
        client_id=client.id, kind="enrollment", user_id=user.user_id, session_type=body.session_type, mode=None,
        timeout_s=timeout, params=stored, make_state=svc.enrollment_state(client.id, params, challenges),
    )
    requirements = ["front_facing", "good_lighting"] + (["multiple_angles"] if params.require_multiple_angles else [])
    if params.require_liveness:
        requirements.append("blink_naturally")
    out = {
        **views.enrollment_session(row),
        "session_token": token,
        "instructions": {"message": "Please look directly at the camera", "requirements": requirements},
        "message": "Enrollment session created. Stream frames to continue.",
    }
    return web.json_response(out, status=201)


def _auto_complete(request: web.Request, body: CreateEnrollment) -> bool:
    chosen = body.auto_complete if body.auto_capture is None else body.auto_capture
    return request.path not in WAITS_FOR_COMPLETE if chosen is None else chosen


@operation("Process one enrollment frame", tags=TAG, body=FrameJson, form=FrameForm,
           responses={200: EnrollmentFrameOut, 409: ErrorBody, 410: ErrorBody},
           security=("SessionToken", "ApiKey", "Bearer"))
async def process_frame(request: web.Request) -> web.Response:
    """Detection, quality gate with feedback, angle bins and liveness for one frame. A frame with
    no face (or several) is answered 200 with `feedback.code`; undecodable bytes are a 400 and the
    session carries on."""
    caller = await optional_enrollment_caller(request)
    frame = await read_frame(request)
    svc = services(request)
    row, state = await svc.resolve(frame.token, caller.client.id if caller else None, "enrollment",
                                   user_id=caller.user_id if caller else None)
    assert isinstance(state, EnrollmentState)
    return web.json_response(await enroll_ops.process_frame(svc, row, state, frame.data, frame.timestamp))


@operation("Complete an enrollment: store the template", tags=TAG, body=SessionTokenBody,
           responses={200: EnrollmentCompleted, 409: ErrorBody, 410: ErrorBody},
           security=("SessionToken", "ApiKey", "Bearer"))
async def complete(request: web.Request) -> web.Response:
    """Refused with LIVENESS_CHECK_FAILED when liveness is required and not verified, with
    FACE_ALREADY_ENROLLED when the face belongs to another user. Completing a completed session
    answers the same enrollment again (idempotent)."""
    caller = await optional_enrollment_caller(request)
    body = await json_body(request, SessionTokenBody)
    svc = services(request)
    token = request.headers.get("X-Session-Token") or body.session_token
    row, state = await svc.resolve(token, caller.client.id if caller else None, "enrollment", allow_completed=True,
                                   user_id=caller.user_id if caller else None)
    assert state is None or isinstance(state, EnrollmentState)
    return web.json_response(await enroll_ops.complete(svc, row, state))


@operation("Enroll from a single uploaded image", tags=TAG, form=DirectEnrollmentForm,
           responses={201: EnrollmentCompleted, 409: ErrorBody})
async def direct(request: web.Request) -> web.Response:
    """No liveness (one photo cannot prove it): for trusted back-office uploads."""
    client = await require_client(request)
    if request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ApiError(415, "Content-Type must be multipart/form-data", "UNSUPPORTED_MEDIA_TYPE")
    fields, files = await read_multipart(request)
    image = (files.get("image") or files.get("frame") or files.get("file") or [b""])[0]
    form = model_from_fields(DirectEnrollmentForm, {**fields, "image": "-" if image else ""})
    if not image:
        raise ApiError(400, "image: upload the photo as 'image'", "VALIDATION_ERROR", {"image": ["is required"]})
    svc = services(request)
    threshold = svc.settings.quality_threshold if form.quality_threshold is None else form.quality_threshold
    if not 0.0 <= threshold <= 1.0:
        raise ApiError(400, "quality_threshold: must be between 0 and 1", "VALIDATION_ERROR")
    user = await svc.enrolling_user(client.id, form.user_id, form.name)
    sid = str(uuid.uuid4())
    await svc.store.create_session(
        session_id=sid, token=uuid.uuid4().hex, client_id=client.id, kind="enrollment", user_id=user.user_id,
        session_type="upload", mode=None, status="in_progress",
        params={"target_samples": 1, "quality_threshold": threshold, "require_liveness": False, "direct": True,
                "device_info": device_info(request)},
        expires_at=now_utc() + timedelta(seconds=60),
    )
    try:
        body = await enroll_ops.direct(svc, client.id, user.user_id, image, threshold, sid,
                                       replace_request(request, client, form.replace, form.replace_existing))
    except SessionError as exc:
        await svc.store.update(sid, status="failed", result={"error_code": exc.code, "message": exc.message})
        raise
    except Exception:
        await svc.store.update(sid, status="failed")
        raise
    return web.json_response(body, status=201)


@operation("Read an enrollment session", tags=TAG, responses={200: SessionOut})
async def get_enrollment(request: web.Request) -> web.Response:
    return web.json_response(views.enrollment_session(await owned_session(request, "enrollment")))


for _path in ("/api/auth/enrollment/create/", "/api/auth/enrollment/", "/api/enrollment/create/"):
    routes.post(_path)(create_enrollment)
for _path in ("/api/auth/enrollment/process-frame/", "/api/enrollment/process-frame/"):
    routes.post(_path)(process_frame)
routes.post("/api/auth/enrollment/complete/")(complete)
routes.post("/api/auth/enrollment/direct/")(direct)
routes.get("/api/auth/enrollment/{session_id}/")(get_enrollment)
