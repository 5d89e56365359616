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
from api.keys import SESSION_SERVICES, STORE
from engine.matching import Gallery
from sessions.announce import DeviceInfo
from sessions.errors import SessionError
from sessions.service import SessionServices, UserInfo
from sessions.face_api import faces_removed, verification_target
from storage.tx_hooks import TxHook
from storage.user_store import PLATFORM_TENANT

__all__ = ["PLATFORM_TENANT", "device", "platform", "removal_events", "verify_target"]


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


async def removal_events(request: web.Request, client_id: int, tenant_id: int, *, enrollment_id: int | None = None,
                         name: str | None = None) -> tuple[TxHook | None, list[str]]:
    """For a root delete: in tenant 0 the user.updated events of the platform users losing a face
    (to commit with the delete) and whose faces they are (for the audit row); elsewhere nothing."""
    if tenant_id != PLATFORM_TENANT:
        return None, []
    owners = await request.app[STORE].enrollment_owners(client_id, tenant_id, enrollment_id=enrollment_id, name=name)
    return await faces_removed(platform(request), client_id, owners), sorted(set(owners))
