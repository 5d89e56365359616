"""Platform JWTs: issue on both seed paths, refresh, and every way a token must be refused."""

from __future__ import annotations

import base64
import json
import time

import jwt

from api.jwt_tokens import TokenService
from api.keys import STORE, TOKENS
from facestream.config import AuthSettings
from tests.conftest import FaceClient


def _creds(auth: dict[str, str]) -> tuple[str, str]:
    key, _, secret = auth["Authorization"].split(" ", 1)[1].partition(":")
    return key, secret


async def test_issue_with_apikey_header_and_use_bearer(face_client: FaceClient) -> None:
    client, auth = await face_client()
    resp = await client.post("/api/auth/client-token/", headers=auth)
    assert resp.status == 200
    body = await resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["access"] == body["access_token"] and body["refresh"] == body["refresh_token"]
    assert body["refresh_expires_in"] == 7 * 24 * 3600
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["typ"] == "access" and claims["iss"] == "facestream" and claims["exp"] - claims["iat"] == 900
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    resp = await client.get("/api/clients/users/", headers=bearer)
    assert resp.status == 200
    assert (await resp.json())["count"] == 0


async def test_issue_with_json_body_and_seed_error_codes(face_client: FaceClient) -> None:
    client, auth = await face_client()
    key, secret = _creds(auth)
    resp = await client.post("/api/core/auth/client/", json={"api_key": key, "api_secret": secret})
    assert resp.status == 200
    body = await resp.json()
    assert set(body) >= {"access", "refresh", "access_token", "refresh_token", "token_type", "expires_in"}
    # One answer for a wrong secret and an unknown key: it must not tell which keys exist (issue 9).
    resp = await client.post("/api/core/auth/client/", json={"api_key": key, "api_secret": secret + "x"})
    assert resp.status == 401
    wrong_secret = (await resp.json())["error"]
    resp = await client.post("/api/core/auth/client/", json={"api_key": "fs_nobody", "api_secret": secret})
    assert resp.status == 401
    unknown_key = (await resp.json())["error"]
    assert wrong_secret["code"] == unknown_key["code"] == "INVALID_API_KEY"
    assert wrong_secret["message"] == unknown_key["message"] == "Invalid API key or secret"
    resp = await client.post("/api/auth/client-token/", headers={"Authorization": f"ApiKey {key}:wrong"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "INVALID_API_KEY"
    resp = await client.post("/api/core/auth/client/", json={"api_key": key})
    assert resp.status == 400
    assert "api_secret" in (await resp.json())["error"]["details"]


async def test_refresh_gives_a_new_access_token_and_types_are_not_interchangeable(face_client: FaceClient) -> None:
    client, auth = await face_client()
    pair = await (await client.post("/api/auth/client-token/", headers=auth)).json()
    resp = await client.post("/api/auth/refresh-token/", json={"refresh": pair["refresh"]})
    assert resp.status == 200
    fresh = await resp.json()
    assert fresh["access"] == fresh["access_token"] and fresh["access"] != pair["access"]
    assert fresh["expires_in"] == 900
    ok = await client.get("/api/clients/users/", headers={"Authorization": f"Bearer {fresh['access']}"})
    assert ok.status == 200
    resp = await client.post("/api/auth/refresh-token/", json={"refresh_token": pair["refresh"]})
    assert resp.status == 200

    # refresh as access
    resp = await client.get("/api/clients/users/", headers={"Authorization": f"Bearer {pair['refresh']}"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "INVALID_TOKEN"
    # access as refresh
    resp = await client.post("/api/auth/refresh-token/", json={"refresh": pair["access"]})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "INVALID_TOKEN"
    # an access token cannot mint a new pair
    resp = await client.post("/api/auth/client-token/", headers={"Authorization": f"Bearer {pair['access']}"})
    assert resp.status == 401


async def test_expired_tampered_and_foreign_tokens_are_refused(face_client: FaceClient) -> None:
    client, auth = await face_client()
    me = await client.app[STORE].client_by_key(_creds(auth)[0])
    assert me is not None
    tokens = client.app[TOKENS]

    expired = tokens.access_token(me, now=time.time() - 3600)
    resp = await client.get("/api/clients/users/", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "TOKEN_EXPIRED"
    expired_refresh = tokens.pair(me, now=time.time() - 8 * 24 * 3600)["refresh"]
    resp = await client.post("/api/auth/refresh-token/", json={"refresh": expired_refresh})
    assert (await resp.json())["error"]["code"] == "TOKEN_EXPIRED"

    good = tokens.access_token(me)
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(me.id + 1)
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = f"{header}.{forged_payload}.{signature}"
    resp = await client.get("/api/clients/users/", headers={"Authorization": f"Bearer {tampered}"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "INVALID_TOKEN"

    other_key = TokenService(AuthSettings(jwt_signing_key="another-servers-key-" + "x" * 32)).access_token(me)
    resp = await client.get("/api/clients/users/", headers={"Authorization": f"Bearer {other_key}"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "INVALID_TOKEN"

    none_alg = jwt.encode({"sub": str(me.id), "typ": "access"}, key="", algorithm="none")
    resp = await client.get("/api/clients/users/", headers={"Authorization": f"Bearer {none_alg}"})
    assert (await resp.json())["error"]["code"] == "INVALID_TOKEN"
    resp = await client.get("/api/clients/users/", headers={"Authorization": "Bearer"})
    assert resp.status == 401


async def test_configured_key_is_shared_by_two_apps(face_client: FaceClient) -> None:
    key = "shared-signing-key-" + "k" * 40
    a, auth = await face_client(**{"auth.jwt_signing_key": key})
    pair = await (await a.post("/api/auth/client-token/", headers=auth)).json()
    me = await a.app[STORE].client_by_key(_creds(auth)[0])
    assert me is not None
    # a token signed with the same configured key by another instance verifies here
    other = TokenService(AuthSettings(jwt_signing_key=key)).access_token(me)
    assert (await a.get("/api/clients/users/", headers={"Authorization": f"Bearer {other}"})).status == 200
    assert jwt.decode(pair["access"], key, algorithms=["HS256"], issuer="facestream")["sub"] == str(me.id)


async def test_deactivated_client_tokens_stop_working(face_client: FaceClient) -> None:
    client, auth = await face_client()
    pair = await (await client.post("/api/auth/client-token/", headers=auth)).json()
    bearer = {"Authorization": f"Bearer {pair['access']}"}
    assert (await client.get("/api/clients/users/", headers=bearer)).status == 200
    from storage import schema

    async with client.app[STORE].engine.begin() as conn:
        await conn.execute(schema.clients.update().values(is_active=False))
    resp = await client.get("/api/clients/users/", headers=bearer)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    resp = await client.post("/api/auth/refresh-token/", json={"refresh": pair["refresh"]})
    assert resp.status == 403
