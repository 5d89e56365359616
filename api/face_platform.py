"""The root face API's tenant 0 (the platform's users) over the session service.

Why a module of its own: the root handlers (api/face_routes.py) speak the seed's wire format for
every tenant; for tenant 0 the decisions are the session service's (sessions.face_api), and this
module only translates its refusals into the root API's `{"detail"}` answers with the messages
the root API has always given.
"""

from __future__ import annotations

from aiohttp import web

from api.device_info import device_info
from api.errors import ApiError
from api.keys import SESSION_SERVICES
from engine.matching import Gallery
from sessions.announce import DeviceInfo
from sessions.errors import SessionError
from sessions.service import SessionServices, UserInfo
from sessions.face_api import verification_target
from storage.user_store import PLATFORM_TENANT

__all__ = ["PLATFORM_TENANT", "device", "platform", "verify_target"]


def platform(request: web.Request) -> SessionServices:
    return request.app[SESSION_SERVICES]


def device(request: web.Request) -> DeviceInfo:
    info = device_info(request)
    return DeviceInfo(info["ip_address"], info["user_agent"])


async def verify_target(request: web.Request, client_id: int, user_id: str) -> tuple[UserInfo, Gallery]:
    """The claimed platform user and the gallery, in the root API's words: unknown, deactivated
    and face-less users get one 404 (as any tenant's unenrolled user); a locked user 429."""
    try:
        return await verification_target(platform(request), client_id, user_id)
    except SessionError as exc:
        if exc.code == "USER_NOT_ENROLLED":
            raise ApiError(404, f"User {user_id} is not enrolled in tenant {PLATFORM_TENANT}") from None
        if exc.code == "ACCOUNT_LOCKED":
            retry = exc.retry_after or 1
            raise web.HTTPTooManyRequests(
                text=f"Too many failed verifications of user {user_id}; retry after {retry} s",
                headers={"Retry-After": str(retry)}) from None
        raise
