"""Streaming sessions and WebRTC signaling over REST (`/api/streaming/...`).

Sessions are created and read with the client's API key; signaling calls carry the session
token (body `session_token` or header `X-Session-Token`), which is what a browser holds. Stream
sessions live in memory in the process that created them (DESIGN §2). Recognition uses the
client's face-API gallery in tenant 0; what frames mean (users, decisions, enrollments) is the
session service's (sessions.live), the same as for REST and WebSocket sessions.
"""

from __future__ import annotations


from aiohttp import web

from api.replace_request import replace_request
from api.scopes import check_kiosk_enrollment
from api.client_auth import require_client
from api.errors import ApiError
from api.openapi import ErrorBody, json_body, operation
from api.streaming_schemas import (
    Answer, CreatedStreamSession, CreateStreamSession, IceAccepted, IceCandidate, Offer, SdpAnswer, SignalBase,
    StreamSessionOut,
)
from api.keys import CONFIG, SESSION_SERVICES, SESSIONS
from signaling.ice import client_ice_servers
from signaling.webrtc import accept_answer, add_candidate, answer_offer, make_offer
from api.signaling_socket_url import signaling_url
from streaming.errors import SignalingError
from streaming.session import StreamSession

routes = web.RouteTableDef()


def _base_url(request: web.Request) -> str:
    public = request.app[CONFIG].server.public_url
    return public.rstrip("/") if public else f"{request.scheme}://{request.host}"


@routes.post("/api/streaming/sessions/")
@operation("Create a WebRTC streaming session", tags="Streaming", body=CreateStreamSession,
           responses={201: CreatedStreamSession, 429: ErrorBody})
async def create_session(request: web.Request) -> web.Response:
    client = await require_client(request)
    body_in = await json_body(request, CreateStreamSession)
    if body_in.mode == "enrollment":
        await check_kiosk_enrollment(request, client.id, body_in.user_id)  # a kiosk: new IDs only
    settings = request.app[CONFIG].streaming
    svc = request.app[SESSION_SERVICES]
    timeout = svc.timeout(body_in.timeout, settings.session_timeout_s, settings.max_session_timeout_s)
    # At the server's cap this raises sessions.errors.TooManySessions: 429 RATE_LIMIT_EXCEEDED.
    session = await request.app[SESSIONS].create(
        client.id, mode=body_in.mode, user_ref=body_in.user_id, require_liveness=body_in.require_liveness,
        challenges=tuple(body_in.liveness_challenges), timeout_s=timeout, name=body_in.name,
        takeover=replace_request(request, client, body_in.replace, body_in.replace_existing),
    )
    offer = None
    if body_in.offer_from == "server":  # the server offers; the client answers at /webrtc/answer/
        try:
            made = await make_offer(session, settings)
        except SignalingError:
            await session.close("offer_failed")
            raise  # its code answers (api/errors.py DOMAIN_STATUS)
        offer = {"type": made.type, "sdp": made.sdp}
    body = {
        **session.snapshot(),
        **({"offer": offer} if offer else {}),
        "session_token": session.token,
        "ice_servers": client_ice_servers(settings),
        # A WebSocket URL (offer/answer/ICE on it, api/signaling_socket.py); POSTing an offer to
        # its path works too. The REST offer endpoint is offer_url.
        "signaling_url": signaling_url(_base_url(request), session.token),
        "offer_url": f"{_base_url(request)}/api/streaming/webrtc/offer/",
    }
    return web.json_response(body, status=201)


@routes.get("/api/streaming/sessions/{session_id}/")
@operation("Read a streaming session (live or recently closed)", tags="Streaming",
           responses={200: StreamSessionOut})
async def get_session(request: web.Request) -> web.Response:
    client = await require_client(request)
    sid = request.match_info["session_id"]
    session = request.app[SESSIONS].get(sid, client.id)
    if session is not None:
        return web.json_response(session.snapshot())
    closed = request.app[SESSIONS].closed_snapshot(session_id=sid, client_id=client.id)
    if closed is None:
        raise ApiError(404, "Stream session not found", "NOT_FOUND")
    return web.json_response(closed)


@routes.post("/api/streaming/sessions/{session_id}/close/")
@operation("Close a streaming session (idempotent)", tags="Streaming", responses={200: StreamSessionOut})
async def close_session(request: web.Request) -> web.Response:
    client = await require_client(request)
    sid = request.match_info["session_id"]
    session = request.app[SESSIONS].get(sid, client.id)
    if session is None:
        closed = request.app[SESSIONS].closed_snapshot(session_id=sid, client_id=client.id)
        if closed is None:
            raise ApiError(404, "Stream session not found", "NOT_FOUND")
        return web.json_response(closed)  # closing twice is not an error
    await session.close("closed_by_client")
    return web.json_response(session.snapshot())


async def _session_for_signal(request: web.Request, body: SignalBase) -> StreamSession:
    token = body.session_token or request.headers.get("X-Session-Token")
    registry = request.app[SESSIONS]
    if not token:
        if "Authorization" not in request.headers:
            raise ApiError(401, "session_token is required", "AUTHENTICATION_REQUIRED")
        client = await require_client(request)
        sid = body.session_id or ""
        session = registry.get(sid, client.id)
        if session is None:
            if registry.closed_snapshot(session_id=sid, client_id=client.id) is not None:
                raise ApiError(409, "Stream session is closed", "SESSION_CLOSED")
            raise ApiError(404, "Stream session not found", "NOT_FOUND")
        return session
    session = registry.by_token(token)
    # A token works alone or with its own client's credentials, never with another client's
    # (issue 9): that answers exactly like a token that does not exist.
    owner = (await require_client(request)).id if "Authorization" in request.headers else None
    if session is not None and owner is not None and session.client_id != owner:
        session = None
    if session is None:
        closed = registry.closed_snapshot(token=token)
        if closed is not None and (owner is None or registry.closed_snapshot(
                session_id=closed.get("session_id"), client_id=owner) is not None):
            raise ApiError(409, "Stream session is closed", "SESSION_CLOSED")
        raise ApiError(401, "Invalid or expired session token", "INVALID_SESSION_TOKEN")
    return session


@routes.post("/api/streaming/webrtc/offer/")
@operation("Send the client's SDP offer, get the server's answer", tags="Streaming", body=Offer,
           responses={200: SdpAnswer, 409: ErrorBody}, security=("SessionToken", "ApiKey", "Bearer"))
async def webrtc_offer(request: web.Request) -> web.Response:
    body = await json_body(request, Offer)
    session = await _session_for_signal(request, body)
    answer = await answer_offer(session, body.model_dump(), request.app[CONFIG].streaming)
    return web.json_response({"session_id": session.session_id, "type": answer.type, "sdp": answer.sdp})


@routes.post("/api/streaming/webrtc/answer/")
@operation("The client's SDP answer to the server's offer (sessions created with offer_from: server)",
           tags="Streaming", body=Answer, responses={409: ErrorBody}, security=("SessionToken", "ApiKey", "Bearer"))
async def webrtc_answer(request: web.Request) -> web.Response:
    """Completes the server-initiated flow; without a pending server offer it is 409 and says
    where a client offer goes."""
    body = await json_body(request, Answer)
    session = await _session_for_signal(request, body)
    await accept_answer(session, body.model_dump())
    return web.json_response({"session_id": session.session_id, "accepted": True})


@routes.post("/api/streaming/webrtc/ice/")
@operation("Add a trickled ICE candidate (empty candidate = end of candidates)", tags="Streaming",
           body=IceCandidate, responses={200: IceAccepted, 409: ErrorBody}, security=("SessionToken", "ApiKey", "Bearer"))
async def webrtc_ice(request: web.Request) -> web.Response:
    body = await json_body(request, IceCandidate)
    session = await _session_for_signal(request, body)
    await add_candidate(session, body.model_dump())
    return web.json_response({"session_id": session.session_id, "status": "accepted"})
