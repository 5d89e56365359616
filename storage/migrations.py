"""Every schema migration, in order, and the runner that applies the missing ones.

Why one module: the steps used to live beside the tables they touched, and the runner in
storage/schema.py imported those modules while they imported it for its metadata: an eight-file
import circle. Here the direction is one way: table modules (schema, events_schema, camera_store,
gallery_feed) define tables on `schema.metadata` and import nothing of this module; this module
imports them and holds every version's DDL; SqlStore.open() and `facestream db upgrade` run it.

Why hand-written and not Alembic: the history is a dozen small, idempotent steps recorded in
`schema_version`; Alembic would add a dependency, an env.py, a script folder and a second
version table to stamp on every existing database, and remove nothing this file does not.

Rules: append a new (version, step) to MIGRATIONS; never edit a step a database may have run.
A step runs inside the upgrade's transaction and must be idempotent (a database made by a newer
table definition may already have what the step adds): check before adding, `create_all`
checks first. Steps build tables from today's definitions; a later step adds what an older
database lacks (v2 key_id, v11 model_id, v15 the user index, v16 removed_version).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import camera_store, events_schema, gallery_feed, schema
from storage.model_stamp import LEGACY_MODEL_ID

log = logging.getLogger(__name__)

metadata = schema.metadata
Step = Callable[[sa.Connection], None]


def _columns(conn: sa.Connection, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(conn).get_columns(table)}


def v1(conn: sa.Connection) -> None:
    """Clients, face API tenants and their enrollments."""
    metadata.create_all(conn, tables=[schema.clients, schema.face_tenants, schema.face_enrollments])


def v2(conn: sa.Connection) -> None:
    """Platform users, per-request API usage, and the per-row encryption key id."""
    metadata.create_all(conn, tables=[schema.users, schema.api_usage])
    # v1 creates face_enrollments from the current definition, which already has key_id.
    if "key_id" not in _columns(conn, "face_enrollments"):
        conn.execute(sa.text("ALTER TABLE face_enrollments ADD COLUMN key_id VARCHAR(32)"))


def v3(conn: sa.Connection) -> None:
    """REST enrollment/authentication sessions, their attempts, template provenance."""
    metadata.create_all(
        conn, tables=[schema.recognition_sessions, schema.recognition_attempts, schema.enrollment_embeddings])


def v4(conn: sa.Connection) -> None:
    """Gallery versions, bumped in the same transaction as every gallery write. Seed a version for
    every existing tenant, so none is left at an implicit version 0."""
    metadata.create_all(conn, tables=[schema.gallery_versions])
    now = datetime.now(timezone.utc)
    tenants = conn.execute(sa.select(schema.face_tenants.c.client_id, schema.face_tenants.c.tenant_id)).all()
    if tenants:
        conn.execute(schema.gallery_versions.insert(), [
            {"client_id": c, "tenant_id": t, "version": 1, "stamp": secrets.token_hex(8), "updated_at": now}
            for c, t in tenants
        ])


def v6(conn: sa.Connection) -> None:
    """Door cameras and their access decisions (storage/camera_store.py)."""
    metadata.create_all(conn, tables=[camera_store.cameras, camera_store.access_decisions])


def v7(conn: sa.Connection) -> None:
    """Webhook outbox and delivery logs, the audit log (storage/events_schema.py), and the indexes
    analytics aggregate over (attempts and sessions by client and day; retention deletes by age)."""
    metadata.create_all(conn, tables=events_schema.TABLES)
    conn.execute(sa.text(
        "CREATE INDEX IF NOT EXISTS ix_recognition_attempts_client_created ON recognition_attempts (client_id, created_at)"))
    conn.execute(sa.text(
        "CREATE INDEX IF NOT EXISTS ix_recognition_sessions_created ON recognition_sessions (created_at)"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_api_usage_created ON api_usage (created_at)"))


def v10(conn: sa.Connection) -> None:
    """The gallery change feed (storage/gallery_feed.py)."""
    metadata.create_all(conn, tables=[gallery_feed.gallery_changes])


def v11(conn: sa.Connection) -> None:
    """face_enrollments.model_id (storage/model_stamp.py): fresh databases get it from the table
    definition; existing rows are stamped with the recogniser that made them."""
    if "model_id" not in _columns(conn, "face_enrollments"):
        conn.execute(sa.text("ALTER TABLE face_enrollments ADD COLUMN model_id VARCHAR(64)"))
    conn.execute(sa.text("UPDATE face_enrollments SET model_id = :m WHERE model_id IS NULL"), {"m": LEGACY_MODEL_ID})


def v14(conn: sa.Connection) -> None:
    """Room for sealed webhook signing secrets (SQLite does not enforce VARCHAR lengths)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ALTER TABLE webhook_endpoints ALTER COLUMN secret TYPE VARCHAR(512)"))


def v15(conn: sa.Connection) -> None:
    """A change-feed delta that names users (deactivated, renamed, erased) reads their rows by
    user, not by scanning the tenant (storage/sql_store.py gallery_rows)."""
    for index in schema.face_enrollments.indexes:  # a database made by v1 since has it already
        if index.name == "ix_face_enrollments_user":
            index.create(conn, checkfirst=True)


def v16(conn: sa.Connection) -> None:
    """gallery_versions.removed_version, so a search may answer from a copy that lacks only
    additions (storage/galleries.py). Every existing version counts as a removal, the safe
    reading of a past nobody recorded."""
    if "removed_version" not in _columns(conn, "gallery_versions"):
        conn.execute(sa.text("ALTER TABLE gallery_versions ADD COLUMN removed_version BIGINT NOT NULL DEFAULT 0"))
    conn.execute(sa.text("UPDATE gallery_versions SET removed_version = version"))


def v17(conn: sa.Connection) -> None:
    """API keys of their own (storage/key_store.py): scopes, rotation with a grace period, IP
    allowlists. Every client's existing key and secret hash becomes its first key, scope admin,
    so every credential that worked before works the same after."""
    metadata.create_all(conn, tables=[schema.api_keys])
    k, c = schema.api_keys, schema.clients
    have = {r[0] for r in conn.execute(sa.select(k.c.api_key))}
    rows = [
        {"client_id": r.id, "api_key": r.api_key, "secret_hash": r.secret_hash, "scope": "admin", "label": "primary",
         "allowed_cidrs": [], "created_at": r.created_at}
        for r in conn.execute(sa.select(c.c.id, c.c.api_key, c.c.secret_hash, c.c.created_at)) if r.api_key not in have
    ]
    if rows:
        conn.execute(k.insert(), rows)


# No step was ever numbered 5, 8, 9, 12 or 13 (the git history holds none); the gaps are harmless,
# the runner applies in order whatever is above a database's version. A new step takes NEWEST + 1.
MIGRATIONS: list[tuple[int, Step]] = [
    (1, v1), (2, v2), (3, v3), (4, v4), (6, v6), (7, v7), (10, v10), (11, v11), (14, v14), (15, v15), (16, v16),
    (17, v17),
]
NEWEST = MIGRATIONS[-1][0]


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: `current` is 0 for a database no migration has touched."""

    current: int
    newest: int
    pending: tuple[int, ...]


async def _current(conn: AsyncConnection) -> int:
    exists = await conn.run_sync(lambda c: sa.inspect(c).has_table(schema.schema_version.name))
    if not exists:
        return 0
    return int((await conn.execute(sa.select(sa.func.max(schema.schema_version.c.version)))).scalar() or 0)


async def state(conn: AsyncConnection) -> SchemaState:
    """The database's version and the steps an upgrade would apply; changes nothing."""
    current = await _current(conn)
    return SchemaState(current, NEWEST, tuple(v for v, _ in MIGRATIONS if v > current))


# PostgreSQL advisory lock held for the upgrade's transaction ("face" in ASCII).
_LOCK_KEY = 0x66616365


async def _take_turn(conn: AsyncConnection) -> None:
    """Serialise upgrades: workers that share a database and start together take turns, so the
    first applies the steps and the others then find nothing pending (without this, two would
    apply a step and insert the same schema_version row, and one would fail to start).

    PostgreSQL: an advisory lock for the transaction. SQLite: the database's write lock, taken
    by a write before anything is read (the driver opens its transaction only at a write; DDL
    before it would run outside any transaction), which also makes the upgrade one transaction."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    await conn.execute(sa.schema.CreateTable(schema.schema_version, if_not_exists=True))
    if conn.dialect.name == "sqlite":
        await conn.execute(sa.text("UPDATE schema_version SET version = version WHERE 1 = 0"))


async def migrate(conn: AsyncConnection) -> int:
    """Bring the schema to the newest version inside the caller's transaction (all pending steps
    or none); returns it."""
    await _take_turn(conn)
    current = await _current(conn)
    for version, step in MIGRATIONS:
        if version > current:
            log.info("applying schema migration %d", version)
            await conn.run_sync(step)
            await conn.execute(
                schema.schema_version.insert().values(version=version, applied_at=datetime.now(timezone.utc)))
            current = version
    return current
