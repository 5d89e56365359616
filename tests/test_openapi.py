"""The OpenAPI document is generated from handler declarations, and Swagger UI is self-hosted."""

from __future__ import annotations

from api.openapi import TAGS
from tests.conftest import FaceClient


async def test_document_lists_declared_operations_with_their_models(face_client: FaceClient) -> None:
    client, _ = await face_client()
    resp = await client.get("/api/schema/")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    create = doc["paths"]["/api/streaming/sessions/"]["post"]
    assert create["tags"] == ["Streaming"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(body["properties"]["mode"]["enum"]) == {"verification", "identification", "enrollment"}
    assert body["additionalProperties"] is False
    assert "201" in create["responses"] and "400" in create["responses"]
    read = doc["paths"]["/api/streaming/sessions/{session_id}/"]["get"]
    assert read["parameters"][0] == {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}
    # The seed's tag order, listing only tags that have operations (Swagger UI shows each as a section).
    names = [t["name"] for t in doc["tags"]]
    assert names == [t for t in TAGS if t in names]
    assert names[:5] == ["Authentication", "Client Management", "Face Enrollment", "Face Authentication", "System"]
    used = {tag for item in doc["paths"].values() for op in item.values() for tag in op["tags"]}
    assert set(names) == used
    assert "/" not in doc["paths"]  # the page is not an API operation


async def test_unknown_field_is_refused_by_name(face_client: FaceClient) -> None:
    client, auth = await face_client()
    resp = await client.post("/api/streaming/sessions/", json={"mode": "identification", "modee": 1}, headers=auth)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "modee" in error["details"]


async def test_swagger_ui_is_served_without_a_cdn(face_client: FaceClient) -> None:
    client, _ = await face_client()
    resp = await client.get("/api/schema/swagger-ui/")
    assert resp.status == 200
    html = await resp.text()
    assert "http://" not in html and "https://" not in html
    assert 'data-spec-url="/api/schema/"' in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        asset_resp = await client.get(f"/api/schema/swagger-ui/assets/{asset}")
        assert asset_resp.status == 200, asset
        assert len(await asset_resp.read()) > 1000


async def test_document_is_complete_and_its_names_unique(face_client: FaceClient) -> None:
    """Issue 24 item 7: two models once shared the component name `Statistics` (every 200 of
    /api/analytics/statistics/ failed its schema); two operations were missing; and error statuses
    the server answers were undocumented. Each surface's errors carry its own format."""
    client, auth = await face_client()
    doc = await (await client.get("/api/schema/")).json()
    schemas = doc["components"]["schemas"]
    assert {"Statistics", "ClientStatistics"} <= set(schemas)
    stats = await (await client.get("/api/analytics/statistics/", headers=auth)).json()
    assert set(schemas["Statistics"]["required"]) <= set(stats)
    mine = await (await client.get("/api/clients/statistics/", headers=auth)).json()
    assert set(schemas["ClientStatistics"]["required"]) <= set(mine)
    assert "post" in doc["paths"]["/enrollments/{tenant_id}/import"]
    assert "text/plain" in doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert {"400", "401", "403", "404", "413", "415", "422", "429", "503", "default"} <= codes, (path, method)
            error = op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            assert error == ("ErrorBody" if path.startswith("/api/") else "DetailError"), (path, method)
