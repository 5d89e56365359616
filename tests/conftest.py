"""Shared fixtures: one real model set per test session, apps on temporary SQLite files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.keys import STORE
from engine.face_engine import FaceEngine
from facestream.config import Config, load_config
from storage.sql_store import SqlStore
from testkit.data import DATA

REDIS_URL = "redis://127.0.0.1:6379/15"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# The shared clip, posted linearly, is a recording (a replay) that can only blink: apps that feed
# it use one blink challenge. The default sequence (two mixed challenges) is tested with a
# responsive simulator in tests/test_liveness_policy.py.
CLIP_CHALLENGES: dict[str, Any] = {"liveness.challenge_pool": ["blink"], "liveness.random_challenges": 1}


def pytest_configure(config: pytest.Config) -> None:
    if not (DATA / "manifest.csv").exists():
        raise pytest.UsageError(f"shared test data not found at {DATA}; set FACESTREAM_DATA")


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    cfg = load_config()
    return FaceEngine(cfg.engine, cfg.quality)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    def make(**overrides: Any) -> Config:
        base = {"storage.database_url": f"sqlite:///{tmp_path}/facestream.db", **CLIP_CHALLENGES}
        base.update(overrides)
        return load_config(env={}, overrides=base)

    return make


FaceClient = Callable[..., Awaitable[tuple[TestClient, dict[str, str]]]]


@pytest.fixture
async def face_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]], engine: FaceEngine, make_config: Callable[..., Config]
) -> AsyncIterator[FaceClient]:
    """Start an app and create one API client; returns (http client, its auth headers)."""

    async def start(**overrides: Any) -> tuple[TestClient, dict[str, str]]:
        client = await aiohttp_client(create_app(make_config(**overrides), engine=engine))
        made = await client.app[STORE].create_client("test-client")
        return client, {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}

    yield start


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    """A bare SqlStore on a temporary SQLite file and on a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        s = SqlStore(f"sqlite:///{tmp_path}/store.db")
        await s.open()
        yield s
        await s.close()
        return
    name = f"facestream_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    s = SqlStore(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        await s.open()
        yield s
    finally:
        await s.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def unit_vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="session")
def permissive_engine() -> FaceEngine:
    """The permissive profile's models (YuNet, OMZ re-identification; MediaPipe per track)."""
    cfg = load_config(env={}, overrides={"engine.profile": "permissive"})
    return FaceEngine(cfg.engine, cfg.quality)


@pytest.fixture(params=["research", "permissive"])
def profile(request: pytest.FixtureRequest) -> str:
    """Core flows run under both engine profiles (one engine per profile per test session)."""
    return str(request.param)


@pytest.fixture
def profile_engine(request: pytest.FixtureRequest, profile: str) -> FaceEngine:
    return request.getfixturevalue("engine" if profile == "research" else "permissive_engine")


@pytest.fixture
async def profile_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]], profile: str, profile_engine: FaceEngine,
    make_config: Callable[..., Config],
) -> AsyncIterator[FaceClient]:
    """face_client under the parametrised profile: config and engine agree."""

    async def start(**overrides: Any) -> tuple[TestClient, dict[str, str]]:
        cfg = make_config(**{"engine.profile": profile, **overrides})
        client = await aiohttp_client(create_app(cfg, engine=profile_engine))
        made = await client.app[STORE].create_client("test-client")
        return client, {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}

    yield start
