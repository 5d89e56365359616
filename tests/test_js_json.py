"""events/js_json.py against Node itself: what it writes, JSON.parse + JSON.stringify writes back
byte for byte (the documents' Express receivers sign the re-serialised body)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from datetime import datetime, timezone

from events.delivery import Job, body_bytes
from events.js_json import dumps, js_number

RESTRINGIFY = ("let s=''; process.stdin.on('data', d => s += d)"
               ".on('end', () => process.stdout.write(JSON.stringify(JSON.parse(s))))")


def node_restringify(text: str) -> str:
    assert shutil.which("node"), "node is required (scripts/system-deps.sh)"
    return subprocess.run(["node", "-e", RESTRINGIFY], input=text.encode(), capture_output=True, check=True,
                          timeout=60).stdout.decode()


def test_numbers_are_written_as_javascript_writes_them() -> None:
    cases = {0.0: "0", -0.0: "0", 1.0: "1", -3.0: "-3", 0.5: "0.5", 1e-05: "0.00001", 1e-06: "0.000001",
             1e-07: "1e-7", 1.5e-07: "1.5e-7", 1e16: "10000000000000000", 1e21: "1e+21", 1.5e300: "1.5e+300",
             0.9897: "0.9897", float("nan"): "null", float("inf"): "null"}
    assert {v: js_number(v) for v in cases} == cases
    rng = random.Random(20261130)
    values = [rng.uniform(-1, 1) * 10 ** rng.randint(-12, 25) for _ in range(2000)] + list(cases) + [5e-324, 2.0**53]
    text = dumps(values)
    assert node_restringify(text) == text


def test_keys_strings_and_nesting_round_trip_through_json_stringify() -> None:
    value = {"event": "x", "ünï": "é\n\t\x01\u2028\"\\", "10": 1, "2": {"b": 1, "a": [True, None, 3, 2.0]}, "01": 0,
             "nested": [{"score": 0.0}, []], "big": 12345678901234}
    text = dumps(value)
    assert text.index('"2":') < text.index('"10":') < text.index('"event":')  # array-index keys first, as in JS
    assert node_restringify(text) == text
    assert json.loads(text) == {**value, "nested": [{"score": 0}, []]}


def test_webhook_body_survives_the_documented_express_middleware() -> None:
    """What the server signs is what `JSON.stringify(req.body)` gives back (liveness_score 0.0
    used to come back as 0 and fail the seeds' signature check)."""
    job = Job(delivery_id="d", client_id=1, attempt=1, max_attempts=1, event_id="e", event_type="liveness.failed",
              data={"session_id": "s", "liveness_score": 0.0, "confidence": 1.0, "processing_time": 4.2e-05},
              event_at=datetime(2026, 1, 1, tzinfo=timezone.utc), endpoint_id="w", url="http://x", secret="k",
              is_active=True, backoff_strategy="exponential", retry_delay=1.0)
    body = body_bytes(job).decode()
    assert '"liveness_score":0,' in body and '"processing_time":0.000042' in body
    assert node_restringify(body) == body
