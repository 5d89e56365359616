"""api_integration_guide.md §React Integration Example, built and run as a React app would be:
the document's component (`FaceEnrollment`) and the SDK class it imports from
`./face-recognition-sdk` (the same document's §JavaScript/Node.js SDK) bundled by esbuild with
React 19 (tests/docs/js/package-lock.json), rendered in headless Chromium whose fake camera plays
video/blink_live.mp4, the user's clicks made by Playwright, against the live server.

What is not the document's text, all shown here: the entry file that renders the component
(HARNESS_MAIN), the `export` line the SDK block lacks (its class is imported by name), the
credentials given as the build's `process.env.REACT_APP_*` defines (as Create React App does),
and the page the bundle is served in (same origin as the API: Playwright answers one URL of the
live server with it)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

from tests.docs.conftest import RUN_TIMEOUT, Reader, js_packages
from tests.docs.seeds import block
from tests.test_browser import ARGS, CHROMIUM

DOC = "api_integration_guide.md"
# The app's entry: render the document's component for user123 and keep what onComplete got.
HARNESS_MAIN = """
import React from 'react';
import { createRoot } from 'react-dom/client';
import FaceEnrollment from './FaceEnrollment.jsx';
window.completions = [];
createRoot(document.getElementById('root')).render(
    <FaceEnrollment userId="user123" onComplete={(completion) => window.completions.push(completion)} />);
"""
HARNESS_SDK_EXPORT = "\nexport { FaceRecognitionAPI };\n"
PAGE = '<!doctype html><html><body><div id="root"></div><script src="{bundle}"></script></body></html>'
ENTRY = "/react-example/"  # a path of the live server that Playwright answers with the app


def build(reader: Reader, out_dir: Path) -> Path:
    """The app's three files, bundled by esbuild (JSX, React resolved from tests/docs/js)."""
    component = block(DOC, "### React Integration Example")
    src = out_dir / "src"
    src.mkdir()
    (src / "face-recognition-sdk.js").write_text(reader.subst.apply(block(DOC, "### JavaScript/Node.js SDK"))
                                                 + HARNESS_SDK_EXPORT)
    (src / "FaceEnrollment.jsx").write_text(component)
    (src / "main.jsx").write_text(HARNESS_MAIN)
    packages = js_packages()
    bundle = out_dir / "app.js"
    defines = {"process.env.REACT_APP_API_KEY": reader.key, "process.env.REACT_APP_SECRET_KEY": reader.secret,
               "process.env.NODE_ENV": "production"}
    subprocess.run([str(packages / "node_modules" / ".bin" / "esbuild"), str(src / "main.jsx"), "--bundle",
                    "--format=iife", "--log-level=warning", f"--outfile={bundle}",
                    *(f"--define:{k}={json.dumps(v)}" for k, v in defines.items())],
                   check=True, timeout=RUN_TIMEOUT, env={**os.environ, "NODE_PATH": str(packages / "node_modules")})
    return bundle


async def _status(page: Page) -> str:
    return (await page.locator(".status").inner_text()).removeprefix("Status: ").strip()


async def _press_capture(page: Page) -> tuple[int, dict[str, Any]]:
    """One press of Capture Face; the frame's answer, once the component has shown it."""
    async with page.expect_response(lambda r: "/process-frame/" in r.url, timeout=RUN_TIMEOUT * 1000) as answer:
        await page.get_by_role("button", name="Capture Face").click()
    response = await answer.value
    body = await response.json()
    shown = body["feedback"]["message"] if response.status == 200 else f"Error: API Error: {body['error']['message']}"
    # On ready_to_complete the component calls complete/ next: wait until it has left `capturing`.
    await page.wait_for_function(
        "([shown, done]) => document.querySelector('.feedback').innerText === shown"
        " && (!done || !document.querySelector('.status').innerText.endsWith('capturing'))",
        arg=[shown if body.get("status") != "ready_to_complete" else "Enrollment completed successfully!",
             body.get("status") == "ready_to_complete"], timeout=RUN_TIMEOUT * 1000)
    return response.status, body


async def _run_app(reader: Reader, camera: Path, bundle: Path) -> dict[str, Any]:
    """Open the app, press Start Enrollment, then Capture Face as a user would (one press after
    each answer) while the component is `capturing`."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM,
                                           args=[*ARGS, f"--use-file-for-fake-video-capture={camera}"])
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.route(reader.base + ENTRY, lambda route: route.fulfill(
                content_type="text/html", body=PAGE.format(bundle=ENTRY + "app.js")))
            await page.route(reader.base + ENTRY + "app.js", lambda route: route.fulfill(
                content_type="text/javascript", body=bundle.read_text()))
            await page.goto(reader.base + ENTRY)
            first_status = await _status(page)
            await page.wait_for_function("document.querySelector('video').videoWidth > 0")
            await page.get_by_role("button", name="Start Enrollment").click()
            await page.get_by_role("button", name="Capture Face").wait_for()
            started = (await _status(page), await page.locator(".feedback").inner_text())
            answers: list[tuple[int, dict[str, Any]]] = []
            for _ in range(400):  # ~30 s of the looping 6 s video at one press per answer
                if await _status(page) != "capturing":
                    break
                answers.append(await _press_capture(page))
            return {"errors": errors, "first_status": first_status, "started": started, "answers": answers,
                    "status": await _status(page), "feedback": await page.locator(".feedback").inner_text(),
                    "completions": await page.evaluate("window.completions")}
        finally:
            await browser.close()


def _enrolled_by(reader: Reader, session_id: str) -> None:
    """On the REST API: user123 exists and is enrolled, by this very session."""
    code, user = reader.get("/api/clients/users/user123/")
    assert code == 200 and user["has_enrollment"] is True, user
    code, export = reader.get("/api/clients/users/user123/export/")
    # the five samples of this session (and its template), nothing else enrolled user123
    assert code == 200 and len(export["enrollments"]) == user["enrollments_count"] >= 5, export
    code, session = reader.get(f"/api/auth/enrollment/{session_id}/")
    assert code == 200 and session["status"] == "completed" and session["result"]["user_id"] == user["id"], session


async def test_react_face_enrollment_as_written(reader: Reader, camera_file: Path, tmp_path: Path) -> None:
    """As written: the session the component creates (`session_type: 'webcam'`, no
    `auto_complete`) waits for complete/ on /api/auth/enrollment/create/, so the frame that meets
    every requirement answers `ready_to_complete`; the component completes the enrollment itself,
    shows 'Enrollment completed successfully!' and calls onComplete: the documented result."""
    out = await _run_app(reader, camera_file, build(reader, tmp_path))
    assert out["errors"] == [] and out["first_status"] == "idle", out["errors"]
    assert out["started"] == ("capturing", "Please look directly at the camera")
    statuses = [body["status"] for _, body in out["answers"]]
    assert statuses[-1] == "ready_to_complete" and set(statuses[:-1]) == {"processing"}, statuses
    assert len(statuses) >= 5 and all(code == 200 for code, _ in out["answers"])  # 5 samples and a blink
    ready = out["answers"][-1][1]
    assert ready["liveness_verified"] is True and ready["completed_samples"] == 5, ready
    assert out["status"] == "completed" and out["feedback"] == "Enrollment completed successfully!", out["feedback"]
    (completion,) = out["completions"]
    assert completion["status"] == "completed" and completion["liveness_verified"] is True, completion
    assert completion["enrollment_id"] == ready["session_id"]
    _enrolled_by(reader, completion["enrollment_id"])
