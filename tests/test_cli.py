from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from storage.sql_store import SqlStore

ROOT = Path(__file__).resolve().parents[1]


def test_create_client_prints_credentials_that_authenticate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    env = {**os.environ, "FACESTREAM__STORAGE__DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, "-m", "facestream.cli", "create-client", "door-team", "--tier", "premium"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if line.startswith(("api_key", "api_secret")))
    key, secret = fields["api_key"].strip(), fields["api_secret"].strip()
    assert key.startswith("fs_") and len(secret) >= 40

    async def check() -> tuple[str, str] | None:
        store = SqlStore(url)
        try:
            client = await store.authenticate_client(key, secret)
            return (client.name, client.tier) if client else None
        finally:
            await store.close()

    assert asyncio.run(check()) == ("door-team", "premium")


def test_bad_config_is_reported_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  colour: blue\n")
    proc = subprocess.run(
        [sys.executable, "-m", "facestream.cli", "--config", str(bad), "serve"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown config key: server.colour" in proc.stderr


def test_serve_answers_health_and_stops_cleanly(tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FACESTREAM__STORAGE__DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "facestream.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    body = resp.read().decode()
            except OSError:
                time.sleep(0.3)
        assert body == '{"status": "ok", "version": "0.1.0"}'
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "face engine ready" in out and "Traceback" not in out
