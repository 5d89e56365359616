"""The asynchronous client (aiohttp): the same calls as Client, awaited."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import aiohttp

from facestream_client import calls
from facestream_client.errors import FacestreamError
from facestream_client.models import (
    Enrollment, FrameResult, SessionCreated, StreamSession, User, UserPage, WebhookEndpoint,
)


class AsyncClient:
    """`async with AsyncClient(base_url, api_key, api_secret) as fs: await fs.get_user("EMP001")`."""

    def __init__(self, base_url: str, api_key: str | None = None, api_secret: str | None = None, *,
                 token: str | None = None, timeout: float = 30.0, max_retries: int = 3,
                 max_retry_wait: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.headers: dict[str, str] = {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif api_key and api_secret:
            self.headers["Authorization"] = f"ApiKey {api_key}:{api_secret}"
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(headers=self.headers, timeout=self.timeout)
        return self._http

    def _body(self, call: calls.Call) -> aiohttp.FormData | None:
        if not call.files and call.fields is None:
            return None
        form = aiohttp.FormData()
        for name, value in (call.fields or {}).items():
            form.add_field(name, value)
        for name, data in call.files.items():
            form.add_field(name, data, filename=f"{name}.jpg", content_type="image/jpeg")
        return form

    async def _send(self, call: calls.Call) -> Any:
        attempt = 0
        while True:
            async with self._session().request(call.method, self.base_url + call.path, json=call.json,
                                               data=self._body(call), headers=call.headers,
                                               params=call.params) as resp:
                retry_after = resp.headers.get("Retry-After")
                if resp.status in calls.RETRY_STATUSES and attempt < self.max_retries:
                    attempt += 1
                    await asyncio.sleep(min(calls.retry_after_seconds(retry_after, 2.0 ** attempt),
                                            self.max_retry_wait))
                    continue
                text = await resp.text()
                body = json.loads(text) if text else {}
                if resp.status >= 400:
                    raise FacestreamError.from_body(resp.status, body,
                                                    calls.retry_after_seconds(retry_after, 0.0) or None)
                return body

    async def list_users(self, page: int = 1, page_size: int = 20, search: str | None = None, is_active: bool | None = None, has_enrollment: bool | None = None) -> UserPage:
        return cast('UserPage', await self._send(calls.list_users(page, page_size, search, is_active, has_enrollment)))

    async def create_user(self, external_id: str, name: str, email: str | None = None, metadata: dict[str, Any] | None = None) -> User:
        return cast('User', await self._send(calls.create_user(external_id, name, email, metadata)))

    async def get_user(self, user: str) -> User:
        return cast('User', await self._send(calls.get_user(user)))

    async def update_user(self, user: str, **changes: Any) -> User:
        return cast('User', await self._send(calls.update_user(user, **changes)))

    async def delete_user(self, user: str) -> dict[str, Any]:
        return cast('dict[str, Any]', await self._send(calls.delete_user(user)))

    async def activate_user(self, user: str) -> User:
        return cast('User', await self._send(calls.set_user_active(user, True)))

    async def deactivate_user(self, user: str) -> User:
        return cast('User', await self._send(calls.set_user_active(user, False)))

    async def create_enrollment(self, user_id: str, session_type: str = "webcam", **options: Any) -> SessionCreated:
        return cast('SessionCreated', await self._send(calls.create_enrollment(user_id, session_type, **options)))

    async def enrollment_frame(self, session_token: str, image: bytes, timestamp: float | None = None) -> FrameResult:
        return cast('FrameResult', await self._send(calls.enrollment_frame(session_token, image, timestamp)))

    async def complete_enrollment(self, session_token: str) -> Enrollment:
        return cast('Enrollment', await self._send(calls.complete_enrollment(session_token)))

    async def direct_enrollment(self, user_id: str, image: bytes, quality_threshold: float | None = None) -> Enrollment:
        return cast('Enrollment', await self._send(calls.direct_enrollment(user_id, image, quality_threshold)))

    async def create_authentication(self, user_id: str | None = None, mode: str | None = None, require_liveness: bool = True, session_type: str = "webcam", **options: Any) -> SessionCreated:
        return cast('SessionCreated', await self._send(calls.create_authentication(user_id, mode, require_liveness, session_type, **options)))

    async def authentication_frame(self, session_token: str, image: bytes, timestamp: float | None = None) -> FrameResult:
        return cast('FrameResult', await self._send(calls.authentication_frame(session_token, image, timestamp)))

    async def create_stream_session(self, mode: str = "identification", user_id: str | None = None, require_liveness: bool = True, **options: Any) -> StreamSession:
        return cast('StreamSession', await self._send(calls.create_stream_session(mode, user_id, require_liveness, **options)))

    async def close_stream_session(self, session_id: str) -> StreamSession:
        return cast('StreamSession', await self._send(calls.close_stream_session(session_id)))

    async def list_webhooks(self) -> Any:
        return await self._send(calls.list_webhooks())

    async def create_webhook(self, url: str, events: list[str], secret: str | None = None, is_active: bool = True) -> WebhookEndpoint:
        return cast('WebhookEndpoint', await self._send(calls.create_webhook(url, events, secret, is_active)))

    async def delete_webhook(self, webhook_id: str) -> Any:
        return await self._send(calls.delete_webhook(webhook_id))
