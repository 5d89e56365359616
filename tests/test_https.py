"""HTTPS for phones and LAN PCs: `facestream dev-cert` makes a pair the server serves with; the
page over https from a LAN name is a secure context with a camera, and over plain http from a
LAN name it explains what to do instead of throwing."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509

from api.app import create_app
from engine.face_engine import FaceEngine
from facestream.config import ConfigError, load_config
from facestream.tls import server_ssl_context
from api.keys import STORE
from tests.browser_support import PHONE, PageWatch, chromium, shot, sign_in

ROOT = Path(__file__).resolve().parents[1]
LAN_NAME = "kiosk.lan"  # resolved to 127.0.0.1 inside Chromium: not localhost, so not secure over http


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tls_settings_come_in_pairs(tmp_path: Path) -> None:
    try:
        load_config(env={}, overrides={"server.tls_cert": str(tmp_path / "cert.pem")})
    except ConfigError as exc:
        assert "tls_cert and server.tls_key" in str(exc)
    else:
        raise AssertionError("a certificate without its key was accepted")


async def test_dev_cert_serves_https_and_the_page_is_a_secure_context(
    tmp_path: Path, engine: FaceEngine, make_config: Any
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "facestream.cli", "dev-cert", "--out", str(tmp_path / "tls"), "--host", LAN_NAME],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    cert_file, key_file = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    assert f"certificate: {cert_file}" in out and LAN_NAME in out
    assert key_file.stat().st_mode & 0o077 == 0  # the private key is readable by its owner only
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", LAN_NAME} <= set(san.get_values_for_type(x509.DNSName))
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 398

    config = make_config(**{"server.tls_cert": str(cert_file), "server.tls_key": str(key_file)})
    context = server_ssl_context(config.server.tls_cert, config.server.tls_key)
    assert context is not None
    runner = web.AppRunner(create_app(config, engine=engine))
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
    try:
        # A client that trusts exactly this certificate accepts the server under "localhost".
        trust = ssl.create_default_context(cafile=str(cert_file))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://localhost:{port}/api/schema/", ssl=trust) as resp:
                assert resp.status == 200 and (await resp.json())["openapi"] == "3.1.0"
            try:  # plain http on the TLS port is not served
                async with http.get(f"http://localhost:{port}/") as resp:
                    assert resp.status >= 400
            except aiohttp.ClientError:
                pass
        made = await runner.app[STORE].create_client("phone")
        async with chromium(extra_args=(f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1",
                                        "--ignore-certificate-errors",
                                        "--use-fake-device-for-media-stream=device-count=2")) as browser:
            page = await browser.new_page(viewport=PHONE)
            watch = PageWatch(page)
            await page.goto(f"https://{LAN_NAME}:{port}/")
            assert await page.evaluate("() => window.isSecureContext && !!navigator.mediaDevices")
            assert await page.is_hidden("#insecure")
            await sign_in(page, made.client.api_key, made.api_secret)
            # Two cameras: the picker appears, and the chosen one is the one streamed.
            await page.wait_for_selector("#camera-row:not([hidden])")
            options = await page.eval_on_selector_all("#camera option", "os => os.map((o) => o.value)")
            assert len(options) == 3 and options[0] == ""
            await page.select_option("#camera", options[2])
            await page.click("#start")
            await page.wait_for_selector("#live:not([hidden])", timeout=20_000)
            used = await page.evaluate(
                "() => document.getElementById('video').srcObject.getVideoTracks()[0].getSettings().deviceId")
            assert used == options[2]
            await page.wait_for_function("() => document.getElementById('conn').textContent === 'live'",
                                         timeout=20_000)
            await shot(page, "kiosk_https_second_camera_390")
            await page.click("#stop")
            await page.wait_for_selector("#setup:not([hidden])")
            assert watch.errors() == []
    finally:
        await runner.cleanup()


async def test_plain_http_from_a_lan_name_explains_instead_of_throwing(
    aiohttp_client: Any, engine: FaceEngine, make_config: Any
) -> None:
    client = await aiohttp_client(create_app(make_config(), engine=engine))
    made = await client.app[STORE].create_client("phone")
    port = client.server.port
    async with chromium(extra_args=(f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1",)) as browser:
        page = await browser.new_page(viewport=PHONE)
        watch = PageWatch(page)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"http://{LAN_NAME}:{port}/")
        assert await page.evaluate("() => window.isSecureContext") is False
        await page.wait_for_selector("#insecure:not([hidden])")
        text = await page.text_content("#insecure")
        assert "https://" in text and f"https://{LAN_NAME}:{port}/" in text
        await sign_in(page, made.client.api_key, made.api_secret)
        await page.wait_for_selector("#setup:not([hidden])")
        await page.click("#start")
        assert "open the page over https" in await page.text_content("#session-error")
        await shot(page, "kiosk_insecure_390", full_page=True)
        assert errors == [] and watch.errors() == []
