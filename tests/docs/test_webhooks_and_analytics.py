"""The documents' webhook and analytics examples (api_integration_guide.md §Webhook Integration,
user_guide.md §Webhook Configuration and §Analytics dan Monitoring), run as written against the
live server. Webhooks are delivered to a real receiver on 127.0.0.1 (tests/webhook_receiver.py,
run on the live server's loop): the documents' `https://your-app.com/webhooks/face-recognition`
is the one extra substitution, and the documents' own JavaScript `verifyWebhookSignature` checks
the real signed deliveries in Node."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from tests.docs.conftest import FACE, RUN_TIMEOUT, LiveServer, Reader, bash, http_message, run
from tests.docs.seeds import block
from tests.webhook_receiver import Received, Receiver, receiver

AIG = "api_integration_guide.md"
UG = "user_guide.md"
DOC_URL = "https://your-app.com/webhooks/face-recognition"
PATH = "/webhooks/face-recognition"


@contextmanager
def local_receiver(live: LiveServer) -> Iterator[Receiver]:
    cm = receiver()
    rx = live.call(cm.__aenter__())
    try:
        yield rx
    finally:
        live.call(cm.__aexit__(None, None, None))


def _ok(resp: requests.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def _documented_events(doc: str, heading: str) -> dict[str, dict[str, Any]]:
    """A block of `// event.name` + JSON object pairs. **Deviation**: not JSON (the `//` lines and
    trailing `// ...` comments are removed to read it)."""
    text = "\n".join(line.split("  //")[0] for line in block(doc, heading).splitlines()
                     if not line.strip().startswith("//"))
    decoder, out, i = json.JSONDecoder(), {}, 0
    while text[i:].strip():
        i += len(text[i:]) - len(text[i:].lstrip())
        obj, end = decoder.raw_decode(text, i)
        out[obj["event"]] = obj
        i = end
    return out


def _verify_in_node(doc: str, heading: str, got: Received, secret: str) -> dict[str, bool]:
    """The document's signature function, run as written (up to its Express middleware, mounted
    in Express by test_npm_examples.py). The lines after `// --- test` are the test's calls: on
    the raw body as received, and on `JSON.stringify(req.body)` as the middleware does."""
    code = block(doc, heading).split("// Express")[0] + """
// --- test: the calls the example's middleware makes, on one real delivery
const raw = process.env.BODY, sig = process.env.SIG, secret = process.env.SECRET;
console.log(JSON.stringify({
  raw: verifyWebhookSignature(raw, sig, secret),
  middleware: verifyWebhookSignature(JSON.stringify(JSON.parse(raw)), sig, secret),
  wrong_secret: verifyWebhookSignature(raw, sig, secret + 'x'),
  same_bytes: JSON.stringify(JSON.parse(raw)) === raw,
}));
"""
    out = run(["node", "-"], stdin=code, env={"BODY": got.body.decode(), "SIG": got.headers["X-Signature"],
                                              "SECRET": secret})
    return dict(json.loads(out))


def _check_signature(doc: str, heading: str, got: Received, secret: str) -> None:
    result = _verify_in_node(doc, heading, got, secret)
    assert result["raw"] is True and result["wrong_secret"] is False, result
    # The middleware re-serialises the parsed body: it verifies because the server writes bodies as
    # JSON.stringify writes them (events/js_json.py; the middleware mounted in Express:
    # test_npm_examples.py::test_webhook_handler_in_express).
    assert result["middleware"] is True and result["same_bytes"] is True, result


def _envelope_matches(got: Received, documented: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
    env = got.json
    assert set(documented) <= set(env), set(documented) - set(env)
    assert env["event"] == documented["event"] and env["webhook_id"] == endpoint_id
    assert set(documented["data"]) <= set(env["data"]), set(documented["data"]) - set(env["data"])
    return dict(env["data"])


def test_aig_webhook_setup_signature_and_enrollment_event(live: LiveServer, reader: Reader) -> None:
    """§Webhook Setup (curl), §Webhook Events (enrollment.completed), §Webhook Security."""
    with local_receiver(live) as rx:
        created = bash(reader.subst.apply(block(AIG, "#### Create Webhook Endpoint")).replace(DOC_URL, rx.at(PATH)))
        assert created["url"] == rx.at(PATH) and created["is_active"] is True
        assert created["events"] == ["enrollment.completed", "enrollment.failed", "authentication.success",
                                     "authentication.failed", "liveness.failed"]
        assert created["secret"] == "webhook_secret_123"
        assert created["retry_policy"]["max_retries"] == 3 and created["retry_policy"]["backoff_strategy"] == "exponential"
        # An enrollment (the guide's §2 Direct Upload Enrollment, `user123` created on the fly).
        enrolled = bash(reader.subst.apply(block(AIG, "#### Direct Upload Enrollment")))
        assert enrolled["status"] == "completed", enrolled
        got = live.call(rx.wait_for(1, PATH))[0]
    assert got.status == 200 and got.headers["X-Webhook-Event"] == "enrollment.completed"
    documented = _documented_events(AIG, "#### Enrollment Events")["enrollment.completed"]
    data = _envelope_matches(got, documented, created["id"])
    # Deviation: `user_id` is the user's UUID (as everywhere in our API); the document's `user123`
    # is the external id, delivered next to it.
    assert data["external_id"] == "user123" and data["user_id"] != "user123"
    assert 0.0 < data["quality_score"] <= 1.0 and data["processing_time"] >= 0.0
    _check_signature(AIG, "#### Signature Verification", got, "webhook_secret_123")


def test_ug_webhook_configuration_events_signature_and_monitoring(live: LiveServer, reader: Reader) -> None:
    """§1 Create Webhook, §2 Webhook Events, §3 Verify Webhook Signature, §4 Webhook Monitoring."""
    with local_receiver(live) as rx:
        created = _ok(http_message(reader, block(UG, "#### Create Webhook:").replace(DOC_URL, rx.at(PATH))), 201)
        assert created["events"][-2:] == ["user.created", "user.updated"] and created["secret"] == "webhook_secret_key_123"
        assert created["retry_policy"] == {"max_retries": 3, "backoff_strategy": "exponential", "retry_delay": 30.0}
        _ok(http_message(reader, block(UG, "#### API Request:")), 201)  # Manajemen User §1: EMP001
        _ok(http_message(reader, block(UG, "### 2. Upload Enrollment"), files={"image": [FACE]}), 201)
        got = live.call(rx.wait_for(2, PATH))
        by_event = {r.json["event"]: r for r in got}
        assert set(by_event) == {"user.created", "enrollment.completed"}
        documented = _documented_events(UG, "#### Enrollment Events:")["enrollment.completed"]
        data = _envelope_matches(by_event["enrollment.completed"], documented, created["id"])
        assert data["external_id"] == "EMP001" and data["user_name"] == "John Doe"  # user_id: UUID, see AIG test
        for delivery in got:
            _check_signature(UG, "#### Verify Webhook Signature:", delivery, "webhook_secret_key_123")

        # §4 Check Delivery Status: as written (no failed authentication.success deliveries here) ...
        listed = _ok(http_message(reader, block(UG, "#### Check Delivery Status:")))
        assert listed["count"] == 0 and listed["results"] == []
        # ... and the same filter on what was delivered
        done = requests.get(reader.base + "/api/webhooks/logs/", headers=reader.auth, timeout=RUN_TIMEOUT,
                            params={"event_type": "enrollment.completed", "status": "success"}).json()
        assert done["count"] == 1 and done["results"][0]["response_status"] == 200
        log_id = done["results"][0]["id"]
        # §4 Retry Failed Deliveries (`{log_id}` = that log): one more attempt, the same delivery id.
        retried = _ok(http_message(reader, block(UG, "#### Retry Failed Deliveries:").replace("{log_id}", str(log_id))),
                      202)
        assert retried["status"] == "pending"
        again = live.call(rx.wait_for(3, PATH))[-1]
    first = by_event["enrollment.completed"]
    assert again.headers["X-Webhook-Delivery"] == first.headers["X-Webhook-Delivery"] == retried["delivery_id"]
    assert again.json["event"] == "enrollment.completed"


def test_ug_analytics_and_monitoring(reader: Reader) -> None:
    """§Analytics dan Monitoring: its six `http` blocks, with the documented response fields."""
    _ok(http_message(reader, block(UG, "#### API Request:")), 201)
    _ok(http_message(reader, block(UG, "### 2. Upload Enrollment"), files={"image": [FACE]}), 201)

    dashboard = _ok(http_message(reader, block(UG, "#### Dashboard Overview:")))
    expected = json.loads(block(UG, "#### Dashboard Overview:", index=1))
    assert dashboard["period"] == expected["period"] == "last_30_days"
    for part in ("metrics", "trends"):
        assert set(expected[part]) <= set(dashboard[part]), (part, set(expected[part]) - set(dashboard[part]))
    assert dashboard["metrics"]["total_authentications"] == 0

    stats = _ok(http_message(reader, block(UG, "#### Detailed Statistics:")))
    assert stats["period"] == "last_7_days", stats
    assert _ok(http_message(reader, block(UG, "### 2. User Behavior Analytics")))

    metrics = _ok(http_message(reader, block(UG, "#### System Metrics:")))
    expected = json.loads(block(UG, "#### System Metrics:", index=1))
    assert set(expected) <= set(metrics), set(expected) - set(metrics)
    for part in ("metrics", "performance"):
        assert set(expected[part]) <= set(metrics[part]), (part, set(expected[part]) - set(metrics[part]))
    assert 0.0 <= metrics["metrics"]["cpu_usage"] and 0.0 < metrics["metrics"]["memory_usage"] <= 1.0

    assert _ok(http_message(reader, block(UG, "#### Model Performance:")))
    # §4 Audit Logs as written: January 2024, before this client existed, so nothing in range ...
    audit = _ok(http_message(reader, block(UG, "### 4. Audit Logs")))
    assert audit["count"] == 0
    # ... while without the dates the user creation and the enrollment are there.
    recent = _ok(http_message(reader, block(UG, "### 4. Audit Logs").replace(
        "?start_date=2024-01-01&end_date=2024-01-31", "")))
    assert recent["count"] >= 2, recent
