"""WebSocket examples in Node 20 (its WebSocket client, `--experimental-websocket`), and
api_integration_guide.md §API Endpoint Reference: every endpoint listed is served (or listed in
KNOWN_UNSERVED with its reason) and every parameterless GET answers 200."""

from __future__ import annotations

import json
import re
import subprocess

import requests

from tests.docs.conftest import FACE, RUN_TIMEOUT, LiveServer, Reader
from tests.docs.seeds import SEEDS, block

AIG = "api_integration_guide.md"
UG = "user_guide.md"

# Listed by the document, not served by this server: none since analytics and webhooks landed
# (tests/docs/test_webhooks_and_analytics.py runs their examples).
KNOWN_UNSERVED: set[tuple[str, str]] = set()
READY = "HARNESS-READY"


def _node_socket(code: str) -> subprocess.Popen[str]:
    """The example plus a harness listener that prints every message (the example's own handlers
    are defined by a prelude that prints what they are given)."""
    prelude = ("const handleRecognitionResult = (p) => console.log(JSON.stringify({handled: 'recognition_result', p}));\n"
               "const updateLivenessIndicator = (p) => console.log(JSON.stringify({handled: 'liveness_update', p}));\n"
               "const updateSessionStatus = (p) => console.log(JSON.stringify({handled: 'session_status', p}));\n")
    harness = (f"\nws.addEventListener('message', (e) => {{ console.log(e.data);"
               f" if (JSON.parse(e.data).type === 'authenticated') console.log('{READY}'); }});\n"
               "setTimeout(() => process.exit(3), 60000);\n")
    proc = subprocess.Popen(["node", "--experimental-websocket", "--no-warnings", "--input-type=module", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write(prelude + code + harness)
    proc.stdin.close()
    return proc


def _end(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(timeout=30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _lines_until(proc: subprocess.Popen[str], stop: str) -> list[str]:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if stop in line:
            return lines
    raise AssertionError(f"node ended before {stop!r}: {lines} {proc.stderr.read() if proc.stderr else ''}")


def test_websocket_connection_setup_with_a_session_token(reader: Reader) -> None:
    """§WebSocket Integration, Connection Setup: `token` is a session token (here a REST
    authentication session's); the socket then gets that session's events as frames are posted."""
    requests.post(f"{reader.base}/api/auth/enrollment/direct/", headers=reader.auth, data={"user_id": "user123"},
                  files={"image": FACE.read_bytes()}, timeout=60).raise_for_status()
    created = requests.post(f"{reader.base}/api/auth/authentication/create/", headers=reader.auth, timeout=60,
                            json={"user_id": "user123", "require_liveness": False}).json()
    code = reader.subst.apply(block(AIG, "### Connection Setup")).replace("YOUR_SESSION_TOKEN", created["session_token"])
    proc = _node_socket(code)
    try:
        _lines_until(proc, READY)
        resp = requests.post(f"{reader.base}/api/auth/authentication/process-frame/", timeout=60,
                             headers={"X-Session-Token": created["session_token"]}, files={"frame": FACE.read_bytes()})
        assert resp.json()["status"] == "completed"
        lines = _lines_until(proc, "authentication.success")
    finally:
        _end(proc)
    event = json.loads(lines[-1])
    assert event["session_id"] == created["session_id"] and event["payload"]["user_id"]


def test_websocket_connect_with_api_key_and_secret_key(reader: Reader) -> None:
    """user_guide.md §Connect to WebSocket: `api_key` + `secret_key`."""
    proc = _node_socket(reader.subst.apply(block(UG, "#### Connect to WebSocket:")))
    try:
        lines = _lines_until(proc, READY)
    finally:
        _end(proc)
    authenticated = json.loads(lines[-2])
    assert authenticated["type"] == "authenticated" and authenticated["payload"]["scope"] == "client"
    assert any(line.startswith("Recognition result:") for line in lines)


def _reference_lines() -> list[tuple[str, str]]:
    text = (SEEDS / AIG).read_text(encoding="utf-8")
    section = text.split("## API Endpoint Reference", 1)[1].split("## WebSocket Integration", 1)[0]
    found = re.findall(r"^(GET|POST|PUT|DELETE) (/api/\S+)", section, flags=re.MULTILINE)
    return [(m, re.sub(r"\{[^}]*\}", "{}", p)) for m, p in found]


def test_api_endpoint_reference(live: LiveServer, reader: Reader) -> None:
    served = set()
    for route in live.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        template = info.get("formatter") or info.get("path") or ""
        served.add((route.method, re.sub(r"\{[^}]*\}", "{}", template)))
    listed = _reference_lines()
    assert len(listed) == 54
    missing = {line for line in listed if line not in served}
    assert missing <= KNOWN_UNSERVED, missing - KNOWN_UNSERVED
    for method, path in listed:
        if method == "GET" and "{}" not in path and (method, path) in served:
            resp = requests.get(reader.base + path, headers=reader.auth, timeout=RUN_TIMEOUT)
            assert resp.status_code == 200, (path, resp.text)
