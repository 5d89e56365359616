"""User tokens: enrollment.md's enrollment is called with the user's own Bearer token and names
no `user_id` (the token says whose face it is).

A backend holding the client's credentials issues one with `POST /api/auth/user-token/`
(`{"user_id": <UUID or external_id>}`; an unknown external id is created when
`sessions.auto_create_users` is on, as for any enrollment) and hands it to the user's browser or
app. The token's type is "user": it is accepted only by the enrollment routes (create, frames,
complete) and only for that user; every client-wide route refuses it as not an access token, so a
leaked user token cannot list users or authenticate anyone.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import jwt
from aiohttp import web
from pydantic import BaseModel, Field

from api.client_auth import admitted, require_client
from api.errors import ApiError
from api.jwt_tokens import TokenError
from api.keys import STORE, TOKENS
from api.openapi import ErrorBody, StrictModel, json_body, operation
from api.session_common import services
from storage.records import Client

routes = web.RouteTableDef()


class UserTokenRequest(StrictModel):
    user_id: str = Field(min_length=1, max_length=128, description="platform id (UUID) or the client's external_id")
    name: str | None = Field(None, max_length=200, description="display name if the user is created")


class UserTokenOut(BaseModel):
    access: str
    access_token: str
    token_type: str
    expires_in: int
    user_id: str
    external_id: str | None


@dataclass(frozen=True)
class Caller:
    client: Client
    user_id: str | None  # set when the caller presented a user token: it may act for that user only


def _bearer(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def _is_user_token(token: str) -> bool:
    try:  # the type only picks the check below; the signature is verified there
        return jwt.decode(token, options={"verify_signature": False}).get("typ") == "user"
    except jwt.InvalidTokenError:
        return False


async def enrollment_caller(request: web.Request) -> Caller:
    """The client (ApiKey or access JWT), or the client and user of a user token."""
    token = _bearer(request)
    if token is None or not _is_user_token(token):
        return Caller(await require_client(request), None)
    try:
        claims = request.app[TOKENS].decode(token, "user")
    except TokenError as exc:
        raise ApiError(401, exc.message, exc.code) from exc
    client = await client_by_token_claims(request, claims.client_id, claims.api_key)
    return Caller(await admitted(request, client), claims.user_id)


async def client_by_token_claims(request: web.Request, client_id: int, api_key: str) -> Client:
    client = await request.app[STORE].client_by_id(client_id)
    if client is None or not hmac.compare_digest(client.api_key.encode(), api_key.encode()):
        raise ApiError(401, "Token no longer names a valid client", "INVALID_TOKEN")
    if not client.is_active:
        raise ApiError(403, "This client is deactivated", "INSUFFICIENT_PERMISSIONS")
    return client


async def optional_enrollment_caller(request: web.Request) -> Caller | None:
    """Frame and complete calls: the session token decides; credentials, when sent, must own it,
    and a user token only that user's session (issue 24: another user's session token was
    accepted beside it)."""
    return await enrollment_caller(request) if "Authorization" in request.headers else None


@routes.post("/api/auth/user-token/")
@operation("Issue a token that lets one user enroll their own face (enrollment.md)", tags="Authentication",
           body=UserTokenRequest, responses={200: UserTokenOut, 404: ErrorBody})
async def user_token(request: web.Request) -> web.Response:
    client = await require_client(request)
    body = await json_body(request, UserTokenRequest)
    user = await services(request).enrolling_user(client.id, body.user_id, body.name)
    tokens = request.app[TOKENS]
    token = tokens.user_token(client, user.user_id)
    return web.json_response({"access": token, "access_token": token, "token_type": "Bearer",
                              "expires_in": tokens.access_ttl, "user_id": user.user_id,
                              "external_id": user.external_id})

