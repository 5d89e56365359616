"""One live server for every documented example (session scope: models load once, one port), and
the runners that execute the examples as their readers would: bash + curl, an HTTP-message runner
for the documents' `http` blocks, Python `requests`, Node 20, PHP (php-cli + php-curl) and
headless Chromium for the browser-only ones.

Each test gets its own API client (fresh key and secret), so the documents' fixed ids (`user123`,
`EMP001`) never collide between tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import web

from api.app import create_app
from api.keys import STORE
from engine.face_engine import FaceEngine
from facestream.config import load_config
from tests.conftest import CLIP_CHALLENGES
from testkit.data import DATA
from tests.docs.seeds import Substitution
from testkit.media import letterbox, video_frames, write_y4m

# The person of video/blink_live.mp4 (whose frames prove liveness), so what the examples enroll
# from a photo is who the live frames then verify.
FACE = DATA / "video" / "blink_live_still.jpg"  # "face_image.jpg", "face_photo.jpg", imageFile
FACE_2 = FACE  # "auth_image.jpg"
OTHER = DATA / "faces" / "barack_obama" / "obama.jpg"
RUN_TIMEOUT = 120
JS_DIR = Path(__file__).resolve().parent / "js"  # package.json + package-lock.json of the npm packages
# The webhook examples deliver to a real receiver on 127.0.0.1 (refused by default as SSRF).
WEBHOOKS_TO_LOCAL_RECEIVERS = {"webhooks.allow_private_targets": True, "webhooks.poll_interval_s": 0.2}


class LiveServer:
    """The real app on a real TCP port, served from its own thread and event loop."""

    def __init__(self, engine: FaceEngine, db: Path) -> None:
        self.config = load_config(env={}, overrides={"storage.database_url": f"sqlite:///{db}", **CLIP_CHALLENGES,
                                                           **WEBHOOKS_TO_LOCAL_RECEIVERS})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="docs-live-server", daemon=True)
        self.thread.start()
        self.app = create_app(self.config, engine=engine)
        self.runner = web.AppRunner(self.app)
        self.port = self.call(self._start())
        self.base = f"http://127.0.0.1:{self.port}"

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=RUN_TIMEOUT)

    async def _start(self) -> int:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return int(self.runner.addresses[0][1])

    def new_client(self, name: str, tier: str = "enterprise") -> tuple[str, str]:
        async def make() -> tuple[str, str]:
            # Enterprise tier by default: the documents' frame loops post a live face's frames
            # quickly; the basic tier's 50 requests a minute (documented) would answer 429 half-way.
            made = await self.app[STORE].create_client(name, tier=tier)
            return made.client.api_key, made.api_secret
        return self.call(make())

    def close(self) -> None:
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@pytest.fixture(scope="session")
def live(engine: FaceEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(engine, tmp_path_factory.mktemp("docs") / "facestream.db")
    yield server
    server.close()


@pytest.fixture(scope="session")
def camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """video/blink_live.mp4 as the Chromium fake camera's file (6 s at 15 fps, looped)."""
    path = tmp_path_factory.mktemp("camera") / "blink_live.y4m"
    frames = tuple(letterbox(frame) for _, frame in video_frames(fps=15.0, seconds=6.0))
    write_y4m(str(path), frames, fps=15)
    return path


@dataclass
class Reader:
    """One reader of the documents: their credentials and the substitution of their examples."""

    base: str
    key: str
    secret: str
    subst: Substitution

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"ApiKey {self.key}:{self.secret}"}

    def get(self, path: str) -> Any:
        resp = requests.get(self.base + path, headers=self.auth, timeout=RUN_TIMEOUT)
        return resp.status_code, resp.json()


@pytest.fixture
def reader(live: LiveServer, request: pytest.FixtureRequest) -> Reader:
    key, secret = live.new_client(request.node.name[:60])
    # The mechanical substitution, in this order (host first, then credentials, then files).
    subst = (Substitution()
             .add("wss://api.facerecognition.com", live.base.replace("http://", "ws://"))
             .add("https://api.facerecognition.com", live.base)
             .add('"/api/', f'"{live.base}/api/')
             .add("YOUR_API_KEY", key).add("YOUR_SECRET_KEY", secret)
             .add("your_api_key", key).add("your_secret_key", secret)
             .add("/path/to/face_image.jpg", str(FACE))
             .add("face_image.jpg", str(FACE)).add("face_photo.jpg", str(FACE)).add("auth_image.jpg", str(FACE_2)))
    return Reader(live.base, key, secret, subst)


# -- runners -------------------------------------------------------------------------------

def run(cmd: list[str], stdin: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          env={**os.environ, **(env or {})}, cwd=cwd)
    assert done.returncode == 0, f"{cmd[0]} exited {done.returncode}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    return done.stdout


def curl_steps(script: str) -> list[str]:
    """A block of `# Step N` curl commands, split so each step's answer can feed the next."""
    steps = re.split(r"^# Step \d+:.*$", script, flags=re.MULTILINE)
    return [s.strip() for s in steps if s.strip()]


def bash(command: str) -> Any:
    """Run one documented curl command (curl -s added only to keep the progress meter out)."""
    out = run(["bash", "-c", command.replace("curl ", "curl -s ", 1)])
    return json.loads(out)


def node(code: str) -> str:
    assert shutil.which("node"), "node (v20) is required"
    return run(["node", "--input-type=module", "-"], stdin=code)


def js_packages() -> Path:
    """tests/docs/js, where the npm packages the examples import are installed (`make test` runs
    `npm ci` there from the committed lock). Node resolves a script read from stdin from its cwd."""
    assert (JS_DIR / "node_modules" / ".installed").exists(), f"npm packages missing in {JS_DIR}: run `make js-deps`"
    return JS_DIR


def node_with_packages(code: str, module: bool = True, env: dict[str, str] | None = None) -> str:
    """`node` with the pinned npm packages importable (axios, express, esbuild, react)."""
    cmd = ["node", "--input-type=module", "-"] if module else ["node", "-"]
    return run(cmd, stdin=code, env=env, cwd=js_packages())


def php(code: str) -> str:
    assert shutil.which("php"), "php-cli is required (scripts/system-deps.sh installs php-cli php-curl)"
    return run(["php"], stdin=code)


def http_message(reader: Reader, text: str, files: dict[str, list[Path]] | None = None,
                 session_token: str | None = None) -> requests.Response:
    """Send a documented `http` block: request line, headers, blank line, body. A multipart body
    is written as `field: value` lines (a value may span lines); `<binary_image_data>` and
    `<multiple_binary_images>` stand for the files given in `files` under that field name."""
    text = reader.subst.apply(text)
    if session_token is not None:
        text = text.replace("SESSION_TOKEN_FROM_STEP1", session_token).replace("SESSION_TOKEN", session_token)
    head, _, body = text.partition("\n\n")
    lines = [line for line in head.splitlines() if line.strip()]
    method, path = lines[0].split()[:2]
    headers = dict(line.split(": ", 1) for line in lines[1:])
    url = reader.base + path if path.startswith("/") else path
    if headers.get("Content-Type") == "multipart/form-data":
        fields, uploads = _form(body, files or {})
        headers.pop("Content-Type", None)
        return requests.request(method, url, headers=headers, data=fields, files=uploads, timeout=RUN_TIMEOUT)
    data = body.strip().encode() if body.strip() else None
    return requests.request(method, url, headers=headers, data=data, timeout=RUN_TIMEOUT)


def _form(text: str, files: dict[str, list[Path]]) -> tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]]]:
    fields: dict[str, str] = {}
    uploads: list[tuple[str, tuple[str, bytes, str]]] = []
    current: str | None = None
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+): ?(.*)$", line)
        if match:
            current, value = match.group(1), match.group(2)
            if value.startswith("<") and value.endswith(">"):
                uploads += [(current, (p.name, p.read_bytes(), "image/jpeg")) for p in files[current]]
                current = None
            else:
                fields[current] = value
        elif current is not None and line.strip():
            fields[current] += "\n" + line
    return fields, uploads
