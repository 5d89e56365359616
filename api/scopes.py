"""What a key's scope lets a request do (issue 25).

An admin key does everything its client can. A kiosk key does the kiosk flows only: get tokens,
open and run authentication sessions (REST and WebRTC), and enroll a *new* ID where
`pages.kiosk_enrollment` allows it; everything else (users, export, deletion, replacement,
webhooks, analytics, cameras, usage) answers 403. Why a list of what a kiosk may do and not of
what it may not: a route added tomorrow is admin-only until someone decides otherwise.

To a kiosk key an unknown, deactivated or not-enrolled ID gets one answer (kiosk_answer), so
typing IDs at a kiosk tells nobody which exist; admins keep the precise code.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from api.api_error import ApiError
from api.key_check import KEY
from api.keys import CONFIG, SESSION_SERVICES
from recognition.errors import RecognitionError
from storage.records import KIOSK

# (method, route template) a kiosk key may call on /api/.
_TOKENS = {
    ("POST", "/api/auth/client-token/"), ("POST", "/api/core/auth/client/"), ("POST", "/api/auth/refresh-token/"),
}
_AUTHENTICATION = {
    ("POST", "/api/auth/authentication/"), ("POST", "/api/auth/authentication/create/"),
    ("POST", "/api/auth/authentication/process-frame/"), ("POST", "/api/auth/authentication/batch-process/"),
    ("GET", "/api/auth/authentication/{session_id}/"), ("POST", "/api/auth/process-image/"),
    ("POST", "/api/streaming/sessions/"), ("GET", "/api/streaming/sessions/{session_id}/"),
    ("POST", "/api/streaming/sessions/{session_id}/close/"),
    ("GET", "/api/streaming/signaling/"), ("POST", "/api/streaming/signaling/"),
    ("POST", "/api/streaming/webrtc/offer/"), ("POST", "/api/streaming/webrtc/answer/"),
    ("POST", "/api/streaming/webrtc/ice/"),
}
_ENROLLMENT = {
    ("POST", "/api/auth/enrollment/"), ("POST", "/api/auth/enrollment/create/"), ("POST", "/api/enrollment/create/"),
    ("POST", "/api/auth/enrollment/process-frame/"), ("POST", "/api/enrollment/process-frame/"),
    ("POST", "/api/auth/enrollment/complete/"), ("GET", "/api/auth/enrollment/{session_id}/"),
}
KIOSK_ROUTES = frozenset(_TOKENS | _AUTHENTICATION | _ENROLLMENT)

ADMIN_NEEDED = "This needs an admin key: a kiosk key may only run the kiosk flows"
NOT_CHECKABLE = "This ID cannot be checked here"
# What a kiosk learns about an ID it cannot use: one answer for all of these.
_ID_REFUSALS = frozenset({"USER_NOT_FOUND", "USER_INACTIVE", "USER_NOT_ENROLLED", "ID_NOT_CHECKABLE"})


def is_kiosk(request: web.Request) -> bool:
    key = request.get(KEY)
    return key is not None and key.scope == KIOSK


def require_admin(request: web.Request, what: str = ADMIN_NEEDED) -> None:
    """403 unless the request's key is admin (call after authentication). Replacing a user's
    faces (`replace` / `replace_existing`) needs this on every route that accepts it."""
    if is_kiosk(request):
        raise ApiError(403, what, "INSUFFICIENT_PERMISSIONS")


def check_route(request: web.Request) -> None:
    """The kiosk route list, enforced where /api/ authenticates (api/client_auth.py)."""
    if not is_kiosk(request):
        return
    route = request.match_info.route
    template = route.resource.canonical if route.resource is not None else request.path
    if (request.method, template) not in KIOSK_ROUTES:
        raise ApiError(403, ADMIN_NEEDED, "INSUFFICIENT_PERMISSIONS")
    if (request.method, template) in _ENROLLMENT and not request.app[CONFIG].pages.kiosk_enrollment:
        raise ApiError(403, "Enrollment is not offered at kiosks here (pages.kiosk_enrollment)",
                       "INSUFFICIENT_PERMISSIONS")


async def check_kiosk_enrollment(request: web.Request, client_id: int, user_ref: str | None) -> None:
    """A kiosk may enroll only an ID nobody has yet: adding a face to an existing account from
    a kiosk would let whoever stands there take the account over."""
    if not is_kiosk(request):
        return
    if not request.app[CONFIG].pages.kiosk_enrollment:
        raise ApiError(403, "Enrollment is not offered at kiosks here (pages.kiosk_enrollment)",
                       "INSUFFICIENT_PERMISSIONS")
    if not user_ref or await request.app[SESSION_SERVICES].find_user(client_id, user_ref) is not None:
        raise ApiError(404, "This ID cannot be enrolled here", "ID_NOT_CHECKABLE")


def kiosk_answer(request: web.Request, error: ApiError) -> ApiError:
    """The error a kiosk key sees: ID refusals become one indistinguishable answer."""
    if error.code in _ID_REFUSALS and is_kiosk(request):
        return ApiError(404, NOT_CHECKABLE, "ID_NOT_CHECKABLE")
    return error


@web.middleware
async def kiosk_answer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the error middleware: whatever raised an ID refusal, a kiosk key sees one answer."""
    try:
        return await handler(request)
    except ApiError as exc:
        raise kiosk_answer(request, exc) from None
    except RecognitionError as exc:
        if exc.code in _ID_REFUSALS and is_kiosk(request):
            raise ApiError(404, NOT_CHECKABLE, "ID_NOT_CHECKABLE") from None
        raise
