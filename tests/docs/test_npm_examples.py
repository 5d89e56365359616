"""The documents' JavaScript examples written for npm packages (api_integration_guide.md §Error
Handling Best Practices with axios, §Webhook Handler Example and user_guide.md §Handle Webhooks
with Express), run in Node 20 with those packages at the versions of tests/docs/js/package-lock.json.

Each script is: the harness prelude (imports, the functions the example calls but leaves to its
reader, shown below as HARNESS_*), the document's block as substituted (`reader.subst`), then the
harness calls. The examples' own code decides what happens; the harness only records it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.docs.conftest import FACE, OTHER, RUN_TIMEOUT, LiveServer, Reader, js_packages, node_with_packages
from tests.docs.seeds import block

AIG = "api_integration_guide.md"
UG = "user_guide.md"

# §Error Handling Best Practices calls `apiCall()` and reads `error.response.data.error` /
# `error.response.headers['retry-after']`: an axios call. It also calls `delay`, `refreshSession`
# and `showUserFeedback`, defined nowhere; here they do the obvious thing and record that they ran.
HARNESS_AXIOS_PRELUDE = """
import axios from 'axios';
import { readFileSync } from 'node:fs';
const BASE = process.env.BASE, AUTH = {Authorization: `ApiKey ${process.env.KEY}:${process.env.SECRET}`};
const BASIC = {Authorization: `ApiKey ${process.env.BASIC_KEY}:${process.env.BASIC_SECRET}`};
const FACE = new Blob([readFileSync(process.env.FACE)], {type: 'image/jpeg'});
const record = {delays: [], refreshed: 0, feedback: [], logged: []};
const delay = (ms) => { record.delays.push(ms); return new Promise(r => setTimeout(r, ms)); };
const showUserFeedback = (suggestions) => record.feedback.push(suggestions);
const logError = console.error;
console.error = (...args) => {
  record.logged.push(args.map(a => a instanceof Error ? a.message : a)); logError(...args); };
// An enrollment session whose token `refreshSession` replaces (the example: "create new").
const createSession = async (timeout) => (await axios.post(`${BASE}/api/auth/enrollment/create/`,
  {user_id: 'user123', session_type: 'upload', ...(timeout ? {timeout} : {})}, {headers: AUTH})).data.session_token;
let sessionToken = await createSession(1);
const refreshSession = async () => { record.refreshed += 1; sessionToken = await createSession(); };
"""
# One call per documented branch: what handleApiRequest returned or threw.
HARNESS_AXIOS_CALLS = """
const frameForm = () => { const f = new FormData(); f.append('frame', FACE, 'face.jpg'); return f; };
const outcome = async (apiCall) => {
  try { return {returned: await handleApiRequest(apiCall)}; }
  catch (error) { return {threw: error.message, status: error.response ? error.response.status : null}; }
};
const exhaustBasicTier = async () => {  // the basic tier's 50 requests a minute, then 429
  for (;;) {
    const r = await axios.get(`${BASE}/api/clients/users/`, {headers: BASIC, validateStatus: () => true});
    if (r.status === 429) return Number(r.headers['retry-after']);
  }
};
while (await exhaustBasicTier() < 3) await new Promise(r => setTimeout(r, 2000));  // not at a minute's edge
const out = {};
out.ok = await outcome(() => axios.get(`${BASE}/api/clients/users/`, {headers: AUTH}));
out.rate_limited = await outcome(() => axios.get(`${BASE}/api/clients/users/`, {headers: BASIC}));
await new Promise(r => setTimeout(r, 1500));  // the session created with timeout 1 has expired
out.session_expired = await outcome(() => axios.post(`${BASE}/api/auth/enrollment/process-frame/`, frameForm(),
  {headers: {...AUTH, 'X-Session-Token': sessionToken}}));
out.face_quality = await outcome(() => { const f = new FormData(); f.append('user_id', 'user123');
  f.append('image', FACE, 'face.jpg'); f.append('quality_threshold', '0.99');
  return axios.post(`${BASE}/api/auth/enrollment/direct/`, f, {headers: AUTH}); });
out.bad_key = await outcome(() => axios.get(`${BASE}/api/clients/users/`,
  {headers: {Authorization: 'ApiKey nope:nope'}}));
out.validation = await outcome(() => axios.post(`${BASE}/api/clients/users/`, {email: 'not-an-email'},
  {headers: AUTH}));
out.network = await outcome(() => axios.get('http://127.0.0.1:9/api/clients/users/', {timeout: 5000}));
console.log(JSON.stringify({out, record}));
"""


def test_error_handling_best_practices_with_axios(live: LiveServer, reader: Reader) -> None:
    """Every branch of `handleApiRequest` reached on the live server: RATE_LIMIT_EXCEEDED waits
    Retry-After and retries (a basic-tier client past its 50 a minute), SESSION_EXPIRED refreshes
    and retries, INVALID_FACE_QUALITY shows the suggestions, other API errors (401 bad key, 400
    validation) are logged as 'API Error:', a refused connection as 'Network Error:'."""
    example = reader.subst.apply(block(AIG, "### Error Handling Best Practices"))
    basic_key, basic_secret = live.new_client("error-handling-basic", tier="basic")
    env = {"BASE": reader.base, "KEY": reader.key, "SECRET": reader.secret, "FACE": str(FACE),
           "BASIC_KEY": basic_key, "BASIC_SECRET": basic_secret}
    done = json.loads(node_with_packages(HARNESS_AXIOS_PRELUDE + example + HARNESS_AXIOS_CALLS, env=env)
                      .strip().splitlines()[-1])
    out, record = done["out"], done["record"]
    # response.data: user123, created on the fly by the prelude's enrollment session
    assert [u["external_id"] for u in out["ok"]["returned"]["results"]] == ["user123"], out["ok"]
    # 429: one delay of Retry-After seconds (1..60, the minute window), then the retry succeeded.
    assert out["rate_limited"]["returned"]["count"] == 0, out["rate_limited"]
    assert len(record["delays"]) == 1 and 1000 <= record["delays"][0] <= 60000, record
    # 410 SESSION_EXPIRED: refreshSession ran once and the same call on the new token went through
    # (an upload session's first good frame meets every requirement: it waits for complete/).
    assert record["refreshed"] == 1 and out["session_expired"]["returned"]["status"] == "ready_to_complete", out
    # 400 INVALID_FACE_QUALITY: the details' suggestions reached showUserFeedback, then rethrown.
    assert out["face_quality"]["status"] == 400 and len(record["feedback"]) == 1, (out, record)
    # (the photo's quality, 0.99, is just under the asked 0.99: the generic low-quality hints)
    assert record["feedback"] == [["improve_lighting", "hold_still"]], record
    # Other API errors: `console.error('API Error:', errorData)` with the documented error object.
    api_errors = [args[1] for args in record["logged"] if args[0] == "API Error:"]
    assert [e["code"] for e in api_errors] == ["INVALID_API_KEY", "VALIDATION_ERROR"], record["logged"]
    assert out["bad_key"]["status"] == 401 and out["validation"]["status"] == 400, out
    assert all(e["message"] for e in api_errors)
    network = [args for args in record["logged"] if args[0] == "Network Error:"]
    assert len(network) == 1 and out["network"]["status"] is None and "ECONNREFUSED" in out["network"]["threw"], out


# The Express app the webhook examples mount their middleware and handler on, the `WEBHOOK_SECRET`
# they verify with, and the functions they call but leave to their reader: each prints its
# arguments as one JSON line, which is what the test reads back.
HARNESS_EXPRESS_PRELUDE = """
const express = require('express');
const app = express();
app.use(express.json());
const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET;
const recorder = (name) => (...args) => console.log(JSON.stringify({called: name, args}));
"""
HARNESS_EXPRESS_LISTEN = """
const server = app.listen(0, '127.0.0.1', () => console.log(JSON.stringify({listening: server.address().port})));
"""
# What each document's handler calls (api_integration_guide.md defines handleEnrollmentCompleted
# and handleAuthenticationSuccess itself; user_guide.md inlines its handling in the switch).
AIG_UNDEFINED = ("updateUserEnrollmentStatus", "sendNotification", "grantUserAccess", "logUserActivity",
                 "handleAuthenticationFailed", "handleLivenessFailed")
UG_UNDEFINED = ("grantAccess", "logActivity", "logSecurityEvent", "updateUserStatus", "sendNotification")
DOC_URL = "https://your-app.com/webhooks/face-recognition"


class ExpressReceiver:
    """The example's Express app in a Node process (cwd tests/docs/js, where express is installed);
    its stdout lines (read by a thread) are the recorders' calls."""

    def __init__(self, code: str, secret: str) -> None:
        self.proc = subprocess.Popen(["node", "-"], cwd=js_packages(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     env={"WEBHOOK_SECRET": secret, "PATH": os.environ["PATH"]})
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(code)
        self.proc.stdin.close()
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self.reader.start()
        listening = self._wait(lambda: any(line.startswith('{"listening"') for line in self.lines), 30.0)
        self.url = f"http://127.0.0.1:{json.loads(listening[0])['listening']}"

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line.strip())
                self.changed.notify_all()
        with self.changed:
            self.lines.append("<exited>")
            self.changed.notify_all()

    def _wait(self, done: Callable[[], bool], timeout: float) -> list[str]:
        with self.changed:
            ok = self.changed.wait_for(lambda: done() or "<exited>" in self.lines, timeout)
            assert ok and "<exited>" not in self.lines, f"receiver output: {self.lines}"
            return list(self.lines)

    def calls(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The first `count` recorder calls, in the order they were made."""
        self._wait(lambda: len(self.all_calls()) >= count, timeout)
        return self.all_calls()[:count]

    def all_calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if line.startswith('{"called"')]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        assert self.proc.stdout
        self.proc.stdout.close()


@contextmanager
def express_receiver(code: str, secret: str) -> Iterator[ExpressReceiver]:
    rx = ExpressReceiver(code, secret)
    try:
        yield rx
    finally:
        rx.close()


def _webhook(reader: Reader, url: str, events: list[str], secret: str) -> str:
    resp = requests.post(f"{reader.base}/api/webhooks/endpoints/", headers=reader.auth, timeout=RUN_TIMEOUT,
                         json={"url": url, "events": events, "secret": secret, "retry_policy": {"max_retries": 0}})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _frame(reader: Reader, token: str, image: Path, at: float) -> dict[str, Any]:
    resp = requests.post(f"{reader.base}/api/auth/authentication/process-frame/", timeout=RUN_TIMEOUT,
                         headers={**reader.auth, "X-Session-Token": token}, files={"frame": image.read_bytes()},
                         data={"frame_metadata": json.dumps({"timestamp": at})})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _verify(reader: Reader, image: Path, liveness: bool) -> tuple[str, dict[str, Any]]:
    """A verification of user123 on one photo; with liveness, the same still photo over the
    liveness window (media time) until the server gives its LIVENESS_CHECK_FAILED verdict."""
    created = requests.post(f"{reader.base}/api/auth/authentication/create/", headers=reader.auth, timeout=RUN_TIMEOUT,
                            json={"mode": "verification", "user_id": "user123", "require_liveness": liveness})
    assert created.status_code == 201, created.text
    token, session_id = created.json()["session_token"], created.json()["session_id"]
    at = 1_700_000_000.0
    out = _frame(reader, token, image, at)
    while out["status"] == "processing" and at < 1_700_000_040.0:
        at += 5.0
        out = _frame(reader, token, image, at)
    return session_id, out


def _trigger_events(reader: Reader) -> dict[str, str]:
    """enrollment.completed, authentication.success, authentication.failed, liveness.failed."""
    resp = requests.post(f"{reader.base}/api/auth/enrollment/direct/", headers=reader.auth, timeout=RUN_TIMEOUT,
                         data={"user_id": "user123"}, files={"image": FACE.read_bytes()})
    assert resp.status_code == 201, resp.text
    user_id = resp.json()["user_id"]
    ok, ok_out = _verify(reader, FACE, liveness=False)
    failed, failed_out = _verify(reader, OTHER, liveness=False)
    spoof, spoof_out = _verify(reader, FACE, liveness=True)
    assert ok_out["result"]["authenticated"] is True, ok_out
    assert failed_out["result"]["authenticated"] is False, failed_out
    assert spoof_out["result"]["reason"] == "liveness_failed" and spoof_out["liveness_verified"] is False, spoof_out
    return {"user": user_id, "success": ok, "failed": failed, "liveness": spoof}


def _deliveries(reader: Reader, endpoint_id: str) -> list[dict[str, Any]]:
    rows = requests.get(f"{reader.base}/api/webhooks/logs/", headers=reader.auth, timeout=RUN_TIMEOUT,
                        params={"webhook_id": endpoint_id}).json()["results"]
    return [r for r in rows if r["status"] != "pending"]


@pytest.mark.parametrize("doc,signature,handler,undefined", [
    (AIG, "#### Signature Verification", "#### Webhook Handler Example", AIG_UNDEFINED),
    (UG, "#### Verify Webhook Signature:", "#### Handle Webhooks:", UG_UNDEFINED),
], ids=["api_integration_guide", "user_guide"])
def test_webhook_handler_in_express(reader: Reader, doc: str, signature: str, handler: str,
                                    undefined: tuple[str, ...]) -> None:
    """§Signature Verification (function + Express middleware) and the handler, mounted in that
    order on one Express app as the documents show them; the server delivers the four events to
    it. A second endpoint with another secret is refused 401 by the example's middleware."""
    secret = "webhook_secret_123"
    code = (HARNESS_EXPRESS_PRELUDE
            + "".join(f"const {name} = recorder('{name}');\n" for name in undefined)
            + block(doc, signature) + block(doc, handler) + HARNESS_EXPRESS_LISTEN)
    events = ["enrollment.completed", "authentication.success", "authentication.failed", "liveness.failed"]
    with express_receiver(code, secret) as rx:
        url = rx.url + urlsplit(DOC_URL).path  # the documents' receiver, on this host
        good = _webhook(reader, url, events, secret)
        bad = _webhook(reader, url, ["enrollment.completed"], "another_secret")
        ids = _trigger_events(reader)
        # Recorder calls: enrollment 2, success 2, failed 1 each for the mismatch and the spoof
        # (whose liveness verdict fails the attempt too), liveness.failed 1 (user_guide.md: no case).
        expected = {AIG: 7, UG: 6}[doc]
        calls = rx.calls(expected)
        time.sleep(1.0)  # nothing more arrives: the wrong-secret delivery never reaches the handler
        extra = rx.all_calls()[len(calls):]
    by_name: dict[str, list[list[Any]]] = {}
    for call in calls:
        by_name.setdefault(call["called"], []).append(call["args"])
    user = ids["user"]  # data.user_id: the user's UUID (deviation, see #18)
    if doc == AIG:
        assert by_name["updateUserEnrollmentStatus"] == [[user, "enrolled"]], calls
        assert by_name["sendNotification"] == [[user, "Face enrollment completed successfully"]], calls
        assert by_name["grantUserAccess"] == [[user]], calls
        (logged,) = by_name["logUserActivity"]
        assert logged[:2] == [user, "authentication_success"] and logged[2]["session_id"] == ids["success"], calls
        failed = sorted((a[0]["session_id"], a[0]["failure_reason"]) for a in by_name["handleAuthenticationFailed"])
        assert failed == sorted([(ids["failed"], "FACE_MISMATCH"), (ids["liveness"], "LIVENESS_FAILED")]), calls
        (spoof,) = by_name["handleLivenessFailed"]
        assert spoof[0]["session_id"] == ids["liveness"], calls
        assert {"no_blink_detected", "static_image"} <= set(spoof[0]["failure_reasons"]), calls
    else:
        assert by_name["updateUserStatus"] == [[user, "enrolled"]], calls
        assert by_name["sendNotification"] == [[user, "Enrollment completed"]], calls
        assert by_name["grantAccess"] == [[user]] and by_name["logActivity"] == [[user, "access_granted"]], calls
        assert sorted(by_name["logSecurityEvent"]) == sorted([[ids["failed"], "FACE_MISMATCH"],
                                                              [ids["liveness"], "LIVENESS_FAILED"]]), calls
    assert extra == [], extra
    # The middleware verified every delivery of the right secret (200) and refused the other (401).
    assert {r["response_status"] for r in _deliveries(reader, good)} == {200}
    assert [r["response_status"] for r in _deliveries(reader, bad)] == [401]
