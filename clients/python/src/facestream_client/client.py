"""The synchronous client (requests). Retries 429/503 answers after their Retry-After."""

from __future__ import annotations

import time
from typing import Any, cast

import requests

from facestream_client import calls
from facestream_client.errors import FacestreamError
from facestream_client.models import (
    Enrollment, FrameResult, SessionCreated, StreamSession, User, UserPage, WebhookEndpoint,
)


class Client:
    """`Client("http://localhost:8000", api_key, api_secret)`; or `token=` for a Bearer JWT.

    `max_retries` answers of 429 / 503 are waited out (their `Retry-After`, at most
    `max_retry_wait` seconds each) before the error is raised as FacestreamError.
    """

    def __init__(self, base_url: str, api_key: str | None = None, api_secret: str | None = None, *,
                 token: str | None = None, timeout: float = 30.0, max_retries: int = 3,
                 max_retry_wait: float = 60.0, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.http = session or requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        elif api_key and api_secret:
            self.http.headers["Authorization"] = f"ApiKey {api_key}:{api_secret}"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: calls.Call) -> Any:
        attempt = 0
        while True:
            files = {name: (f"{name}.jpg", data, "image/jpeg") for name, data in call.files.items()} or None
            resp = self.http.request(call.method, self.base_url + call.path, json=call.json, data=call.fields,
                                     files=files, headers=call.headers, params=call.params, timeout=self.timeout)
            if resp.status_code in calls.RETRY_STATUSES and attempt < self.max_retries:
                attempt += 1
                time.sleep(min(calls.retry_after_seconds(resp.headers.get("Retry-After"), 2.0 ** attempt),
                               self.max_retry_wait))
                continue
            body = resp.json() if resp.content else {}
            if resp.status_code >= 400:
                raise FacestreamError.from_body(resp.status_code, body,
                                                calls.retry_after_seconds(resp.headers.get("Retry-After"), 0.0) or None)
            return body

    def list_users(self, page: int = 1, page_size: int = 20, search: str | None = None, is_active: bool | None = None, has_enrollment: bool | None = None) -> UserPage:
        return cast('UserPage', self._send(calls.list_users(page, page_size, search, is_active, has_enrollment)))

    def create_user(self, external_id: str, name: str, email: str | None = None, metadata: dict[str, Any] | None = None) -> User:
        return cast('User', self._send(calls.create_user(external_id, name, email, metadata)))

    def get_user(self, user: str) -> User:
        return cast('User', self._send(calls.get_user(user)))

    def update_user(self, user: str, **changes: Any) -> User:
        return cast('User', self._send(calls.update_user(user, **changes)))

    def delete_user(self, user: str) -> dict[str, Any]:
        return cast('dict[str, Any]', self._send(calls.delete_user(user)))

    def activate_user(self, user: str) -> User:
        return cast('User', self._send(calls.set_user_active(user, True)))

    def deactivate_user(self, user: str) -> User:
        return cast('User', self._send(calls.set_user_active(user, False)))

    def create_enrollment(self, user_id: str, session_type: str = "webcam", **options: Any) -> SessionCreated:
        return cast('SessionCreated', self._send(calls.create_enrollment(user_id, session_type, **options)))

    def enrollment_frame(self, session_token: str, image: bytes, timestamp: float | None = None) -> FrameResult:
        return cast('FrameResult', self._send(calls.enrollment_frame(session_token, image, timestamp)))

    def complete_enrollment(self, session_token: str) -> Enrollment:
        return cast('Enrollment', self._send(calls.complete_enrollment(session_token)))

    def direct_enrollment(self, user_id: str, image: bytes, quality_threshold: float | None = None) -> Enrollment:
        return cast('Enrollment', self._send(calls.direct_enrollment(user_id, image, quality_threshold)))

    def create_authentication(self, user_id: str | None = None, mode: str | None = None, require_liveness: bool = True, session_type: str = "webcam", **options: Any) -> SessionCreated:
        return cast('SessionCreated', self._send(calls.create_authentication(user_id, mode, require_liveness, session_type, **options)))

    def authentication_frame(self, session_token: str, image: bytes, timestamp: float | None = None) -> FrameResult:
        return cast('FrameResult', self._send(calls.authentication_frame(session_token, image, timestamp)))

    def create_stream_session(self, mode: str = "identification", user_id: str | None = None, require_liveness: bool = True, **options: Any) -> StreamSession:
        return cast('StreamSession', self._send(calls.create_stream_session(mode, user_id, require_liveness, **options)))

    def close_stream_session(self, session_id: str) -> StreamSession:
        return cast('StreamSession', self._send(calls.close_stream_session(session_id)))

    def list_webhooks(self) -> Any:
        return self._send(calls.list_webhooks())

    def create_webhook(self, url: str, events: list[str], secret: str | None = None, is_active: bool = True) -> WebhookEndpoint:
        return cast('WebhookEndpoint', self._send(calls.create_webhook(url, events, secret, is_active)))

    def delete_webhook(self, webhook_id: str) -> Any:
        return self._send(calls.delete_webhook(webhook_id))
