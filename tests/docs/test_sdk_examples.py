"""api_integration_guide.md §SDK dan Code Examples and §Rate Limiting / §Error Handling: the
JavaScript class in Node 20, the Python class with `requests`, the PHP class with php-curl.

The examples define a class and a usage function; the one line each test appends to call that
function with a real file is shown in the test (the documents leave the call to the reader)."""

from __future__ import annotations

import json
import sys

from tests.docs.conftest import FACE, Reader, node, php, run
from tests.docs.seeds import block

DOC = "api_integration_guide.md"


def _enrolled(reader: Reader, external_id: str) -> dict[str, object]:
    status, user = reader.get(f"/api/clients/users/{external_id}/")
    assert status == 200 and user["external_id"] == external_id
    status, export = reader.get(f"/api/clients/users/{external_id}/export/")
    assert status == 200 and len(export["enrollments"]) >= 1
    return user


def test_javascript_sdk_enroll_user_in_node(reader: Reader) -> None:
    """The class sends `Content-Type: application/json` on every call, FormData frames included:
    the server reads the multipart body anyway (api/multipart_sniff.py)."""
    code = reader.subst.apply(block(DOC, "### JavaScript/Node.js SDK"))
    call = (f"\nimport {{ readFileSync }} from 'node:fs';\n"
            f"await enrollUser('user123', new Blob([readFileSync({json.dumps(str(FACE))})], {{ type: 'image/jpeg' }}));\n")
    out = node(code + call)
    assert "Enrollment completed:" in out and "Enrollment failed" not in out, out
    assert "status: 'completed'" in out
    _enrolled(reader, "user123")


def test_python_sdk_enroll_user_from_file(reader: Reader) -> None:
    code = reader.subst.apply(block(DOC, "### Python SDK"))
    call = f"\nresult = enroll_user_from_file('user123', {str(FACE)!r})\nassert result is not None\n"
    out = run([sys.executable, "-c", code + call])
    assert out.startswith("Enrollment completed: {") and "'status': 'completed'" in out, out
    _enrolled(reader, "user123")


def test_php_sdk_enroll_user_from_file(reader: Reader) -> None:
    """php-cli + php-curl. Its makeRequest posts the create fields as a cURL array (multipart)
    under `Content-Type: application/json`: read as the form it is (api/multipart_sniff.py)."""
    out = php(reader.subst.apply(block(DOC, "### PHP Integration Example")))
    assert out.startswith("Enrollment completed: {"), out
    completion = json.loads(out.removeprefix("Enrollment completed: "))
    assert completion["status"] == "completed" and completion["enrollment_id"]
    _enrolled(reader, "user123")


def test_rate_limit_api_client_in_node(reader: Reader) -> None:
    """§Rate Limiting Best Practices: the ApiClient class; the appended lines make one request."""
    code = reader.subst.apply(block(DOC, "### Rate Limiting Best Practices"))
    call = (f"\nconst client = new ApiClient({json.dumps(reader.key)}, {json.dumps(reader.secret)});\n"
            f"const response = await client.request({json.dumps(reader.base + '/api/clients/users/')});\n"
            "console.log(JSON.stringify({status: response.status, remaining: response.headers.get('X-RateLimit-Remaining'),"
            " body: await response.json()}));\n")
    out = json.loads(node(code + call))
    assert out["status"] == 200 and int(out["remaining"]) > 0 and out["body"]["count"] == 0
