"""Issue 9: dependency failures answer the documented codes, and /api/core/status/ says which."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import asyncpg

from engine.face_engine import FaceEngine
from facestream.config import load_config
from tests.conftest import POSTGRES_ADMIN_URL
from testkit.data import read
from tests.hardening_helpers import database_url, start_app
from testkit.helpers import form
from tests.session_helpers import create_enrollment, frame_form, make_user


async def _status(http: Any) -> dict[str, Any]:
    resp = await http.get("/api/core/status/")
    assert resp.status == 200
    return dict(await resp.json())


async def test_database_outage_is_503_storage_error_and_status_reports_it(
    aiohttp_client: Any, engine: FaceEngine, tmp_path: Path
) -> None:
    async with database_url("postgresql", tmp_path) as url:
        http, headers = await start_app(aiohttp_client, engine, url)
        assert (await http.get("/api/clients/users/", headers=headers)).status == 200
        name = url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
            resp = await http.get("/api/clients/users/", headers=headers)
            assert resp.status == 503, await resp.text()
            err = (await resp.json())["error"]
            assert err["code"] == "STORAGE_ERROR" and err["message"] == "The database is unavailable; retry later"
            resp = await http.post("/enroll", data=form(read("scenes/obama_small.jpg"), tenant_id=1, user_id=1,
                                                        name="A"), headers=headers)
            assert resp.status == 503
            assert await resp.json() == {"detail": "The database is unavailable; retry later"}
            status = await _status(http)
            assert status["status"] == "degraded" and status["services"]["database"] == "offline"
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            await admin.close()
        resp = await http.get("/api/clients/users/", headers=headers)
        assert resp.status == 200
        assert (await _status(http))["services"]["database"] == "online"
        await http.close()


async def test_model_failure_is_500_processing_error_without_internals(
    aiohttp_client: Any, engine: FaceEngine, tmp_path: Path
) -> None:
    """A real model failure: the recognizer's ONNX file configured as the detector loads, then
    fails on every run (wrong input shape)."""
    cfg = load_config()
    broken = FaceEngine(dataclasses.replace(cfg.engine, detector_file=cfg.engine.recognizer_file, warmup=False),
                        cfg.quality)
    async with database_url("sqlite", tmp_path) as url:
        http, headers = await start_app(aiohttp_client, broken, url)
        for path in ("/detect", "/encode"):
            resp = await http.post(path, data=form(read("scenes/obama_small.jpg")), headers=headers)
            assert resp.status == 500
            assert await resp.json() == {"detail": "Face processing failed; the request was not processed"}
        await make_user(http, headers, "ext-broken")
        session = await create_enrollment(http, headers, "ext-broken")
        resp = await http.post("/api/auth/enrollment/process-frame/", data=frame_form(read("scenes/obama_small.jpg"), 0.0),
                               headers={"X-Session-Token": session["session_token"]})
        assert resp.status == 500
        err = (await resp.json())["error"]
        assert err["code"] == "PROCESSING_ERROR" and "Traceback" not in str(err) and "onnx" not in str(err).lower()
        status = await _status(http)
        assert status["services"]["face_recognition"] == "offline" and status["status"] == "degraded"
        await http.close()
    async with database_url("sqlite", tmp_path) as url:  # the real engine reports online
        http, _ = await start_app(aiohttp_client, engine, url)
        assert (await _status(http))["services"]["face_recognition"] == "online"
        await http.close()


async def test_root_face_api_is_in_the_openapi_document_under_its_own_tag(face_client: Any) -> None:
    http, _ = await face_client()
    doc = await (await http.get("/api/schema/")).json()
    expected = {
        ("/encode", "post"), ("/compare", "post"), ("/detect", "post"), ("/enroll", "post"), ("/identify", "post"),
        ("/verify", "post"), ("/enrollments/{tenant_id}", "get"), ("/enrollments/{tenant_id}/{enrollment_id}", "delete"),
        ("/enrollments/{tenant_id}/name/{name}", "delete"), ("/cache/{tenant_id}/invalidate", "post"),
        ("/cache/{tenant_id}/refresh-enrollments", "post"), ("/cache/{tenant_id}/status", "get"), ("/health", "get"),
    }
    for path, method in expected:
        op = doc["paths"][path][method]
        assert op["tags"] == ["Face API"], path
        assert op["responses"]["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/DetailError"}
    verify = doc["paths"]["/verify"]["post"]
    assert verify["requestBody"]["content"]["multipart/form-data"]["schema"] == {"$ref": "#/components/schemas/VerifyForm"}
    assert doc["components"]["schemas"]["VerifyForm"]["required"] == ["tenant_id", "user_id", "file"]
    assert doc["paths"]["/health"]["get"]["security"] == []
