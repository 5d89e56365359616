"""Schema migrations (storage/migrations.py): a database made by the first release upgrades to
the same schema a fresh database gets, on SQLite and PostgreSQL, keeping its rows; and the
`facestream db current` / `facestream db upgrade` commands report and apply what is pending."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import sqlalchemy as sa

from storage import migrations, schema
from storage.sql_store import SqlStore
from tests.conftest import POSTGRES_ADMIN_URL, unit_vector

ROOT = Path(__file__).resolve().parents[1]


def _first_release_tables() -> tuple[sa.MetaData, sa.Table, sa.Table, sa.Table, sa.Table]:
    """Schema version 1 as the first release defined it (git 0c20118 storage/schema.py): no
    key_id, no model_id, no per-user index."""
    md = sa.MetaData()
    version = sa.Table(
        "schema_version", md,
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    clients = sa.Table(
        "clients", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("api_key", sa.String(64), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False, server_default="basic"),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    tenants = sa.Table(
        "face_tenants", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_id", "tenant_id", name="uq_face_tenant"),
    )
    enrollments = sa.Table(
        "face_enrollments", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tenant_id", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
        sa.Column("quality", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_face_enrollments_scope", "client_id", "tenant_id"),
    )
    return md, version, clients, tenants, enrollments


async def _make_first_release_database(url: str) -> None:
    md, version, clients, tenants, enrollments = _first_release_tables()
    store = SqlStore(url)
    now = datetime.now(timezone.utc)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(md.create_all)
            await conn.execute(version.insert().values(version=1, applied_at=now))
            await conn.execute(clients.insert().values(id=1, name="old", api_key="fs_old", secret_hash="x",
                                                       created_at=now))
            await conn.execute(tenants.insert().values(client_id=1, tenant_id=7, created_at=now))
            await conn.execute(enrollments.insert().values(client_id=1, tenant_id=7, user_id="42", name="Ann",
                                                           embedding=unit_vector(1).tobytes(), quality=0.8,
                                                           created_at=now))
    finally:
        await store.close()


def _shape(conn: sa.Connection) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Every table's column names and index names."""
    inspector = sa.inspect(conn)
    return {
        t: (frozenset(c["name"] for c in inspector.get_columns(t)),
            frozenset(str(i["name"]) for i in inspector.get_indexes(t)))
        for t in inspector.get_table_names()
    }


@pytest.fixture(params=["sqlite", "postgresql"])
async def blank_urls(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """Two empty databases of one dialect: one to upgrade, one to make fresh."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/old.db", f"sqlite:///{tmp_path}/fresh.db"
        return
    names = [f"facestream_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_versions_are_listed_once_in_order() -> None:
    versions = [v for v, _ in migrations.MIGRATIONS]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert migrations.NEWEST == versions[-1] == 17


async def test_a_first_release_database_upgrades_to_the_fresh_schema_and_keeps_its_rows(
    blank_urls: tuple[str, str],
) -> None:
    old_url, fresh_url = blank_urls
    await _make_first_release_database(old_url)
    old, fresh = SqlStore(old_url), SqlStore(fresh_url)
    try:
        async with old.engine.connect() as conn:
            before = await migrations.state(conn)
        assert before.current == 1 and before.pending == (2, 3, 4, 6, 7, 10, 11, 14, 15, 16, 17)
        assert await old.open() == migrations.NEWEST
        assert await fresh.open() == migrations.NEWEST
        async with old.engine.connect() as conn:
            upgraded = await conn.run_sync(_shape)
            assert (await migrations.state(conn)).pending == ()
            stamped = (await conn.execute(sa.select(schema.face_enrollments.c.model_id))).scalars().all()
            seeded = (await conn.execute(sa.select(schema.gallery_versions))).all()
        async with fresh.engine.connect() as conn:
            made = await conn.run_sync(_shape)
        assert upgraded == made  # same tables, columns and indexes as a database made today
        assert stamped == ["w600k_mbf"]  # v11 stamps rows of the only recogniser there was
        assert [(r.tenant_id, r.version, r.removed_version) for r in seeded] == [(7, 1, 1)]  # v4 seeds, v16 fills
        rows = await old.enrollments(1, 7)
        assert [(r.user_id, r.name) for r in rows] == [("42", "Ann")]
        assert np.allclose(rows[0].embedding, unit_vector(1))
        # v17: the client's key became its first API key, scope admin (issue 25)
        assert [(k.api_key, k.scope) for k in await old.keys.list_keys(1)] == [("fs_old", "admin")]
        assert await old.open() == migrations.NEWEST  # nothing left to apply
    finally:
        await old.close()
        await fresh.close()


async def test_workers_starting_together_on_one_database_take_turns(blank_urls: tuple[str, str]) -> None:
    """Four stores open one fresh database at once: one applies every step, the others wait for
    it and find nothing pending; each version is recorded once."""
    url, _ = blank_urls
    stores = [SqlStore(url) for _ in range(4)]
    try:
        assert await asyncio.gather(*(s.open() for s in stores)) == [migrations.NEWEST] * 4
        async with stores[0].engine.connect() as conn:
            recorded = (await conn.execute(sa.select(schema.schema_version.c.version))).scalars().all()
        assert sorted(recorded) == [v for v, _ in migrations.MIGRATIONS]
    finally:
        for s in stores:
            await s.close()


async def test_a_failing_step_leaves_the_database_as_it_was(
    blank_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All pending steps or none: a step that fails rolls back the steps before it in the same
    upgrade, DDL included (SQLite too: the upgrade holds its write lock from the start)."""
    url, _ = blank_urls

    def broken(conn: sa.Connection) -> None:
        raise RuntimeError("step 4 cannot run")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS[:3], (4, broken)])
    store = SqlStore(url)
    try:
        with pytest.raises(RuntimeError, match="step 4 cannot run"):
            await store.open()
        async with store.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            assert (await migrations.state(conn)).current == 0
        assert set(tables) <= {"schema_version"}  # clients, users, sessions... rolled back
    finally:
        await store.close()


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACESTREAM__STORAGE__DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "facestream.cli", "db", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


async def test_db_commands_report_and_apply_pending_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    missing = _cli(url, "current")
    assert missing.returncode == 0 and "current: 0" in missing.stdout
    assert not (tmp_path / "cli.db").exists()  # reporting creates nothing

    await _make_first_release_database(url)
    behind = _cli(url, "current", "--check")
    assert behind.returncode == 1, behind.stderr
    assert "current: 1" in behind.stdout and "pending: 2, 3, 4, 6, 7, 10, 11, 14, 15, 16, 17" in behind.stdout

    upgraded = _cli(url, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded from version 1 to {migrations.NEWEST}" in upgraded.stdout
    again = _cli(url, "upgrade")
    assert again.returncode == 0 and f"already at version {migrations.NEWEST}" in again.stdout
    done = _cli(url, "current", "--check")
    assert done.returncode == 0 and "pending: none" in done.stdout


def test_db_upgrade_reports_an_unreachable_database_without_a_traceback() -> None:
    proc = _cli("postgresql://postgres:hunter2@127.0.0.1:1/nowhere", "upgrade")
    assert proc.returncode == 1
    assert "database error" in proc.stderr and "Traceback" not in proc.stderr
    assert "hunter2" not in proc.stdout + proc.stderr
