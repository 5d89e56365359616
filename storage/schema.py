"""Table definitions and versioned migrations, run at start (idempotent)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("api_key", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("tier", sa.String(32), nullable=False, server_default="basic"),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

face_tenants = sa.Table(
    "face_tenants",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("client_id", "tenant_id", name="uq_face_tenant"),
)

face_enrollments = sa.Table(
    "face_enrollments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("embedding", sa.LargeBinary, nullable=False),  # float32 LE bytes, or nonce+AES-GCM ciphertext
    sa.Column("key_id", sa.String(32), nullable=True),  # encryption key of the row; NULL = plaintext (v2)
    sa.Column("model_id", sa.String(64), nullable=True),  # recogniser that made the embedding (v11, storage/model_stamp.py)
    sa.Column("quality", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_face_enrollments_scope", "client_id", "tenant_id"),
    sa.Index("ix_face_enrollments_user", "client_id", "tenant_id", "user_id"),  # v15
)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # uuid4 string
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("external_id", sa.String(128), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254), nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("last_authentication", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("client_id", "external_id", name="uq_users_external_id"),
    sa.Index("ix_users_client_created", "client_id", "created_at"),
)

api_usage = sa.Table(
    "api_usage",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.String(200), nullable=False),  # route template, never the query string
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_api_usage_client_created", "client_id", "created_at"),
)


def _v1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[clients, face_tenants, face_enrollments])


def _v2(conn: sa.Connection) -> None:
    """Platform users, per-request API usage, and the per-row encryption key id."""
    metadata.create_all(conn, tables=[users, api_usage])
    # v1 creates face_enrollments from the current definition, which already has key_id.
    columns = {c["name"] for c in sa.inspect(conn).get_columns("face_enrollments")}
    if "key_id" not in columns:
        conn.execute(sa.text("ALTER TABLE face_enrollments ADD COLUMN key_id VARCHAR(32)"))


# Append new migrations here; never edit an applied one.
MIGRATIONS: list[tuple[int, Callable[[sa.Connection], None]]] = [(1, _v1), (2, _v2)]


async def migrate(conn: AsyncConnection) -> int:
    """Bring the schema to the newest version; returns it."""
    await conn.run_sync(lambda c: metadata.create_all(c, tables=[schema_version]))
    current = (await conn.execute(sa.select(sa.func.max(schema_version.c.version)))).scalar() or 0
    for version, step in sorted(MIGRATIONS, key=lambda m: m[0]):  # branches append in any order
        if version > current:
            log.info("applying schema migration %d", version)
            await conn.run_sync(step)
            await conn.execute(schema_version.insert().values(version=version, applied_at=datetime.now(timezone.utc)))
            current = version
    return current


# -- version 3: REST enrollment/authentication sessions, their attempts, template provenance --

recognition_sessions = sa.Table(
    "recognition_sessions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # enrollment | authentication
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 of the session token
    sa.Column("user_id", sa.String(128), nullable=True),
    sa.Column("session_type", sa.String(16), nullable=False),
    sa.Column("mode", sa.String(16), nullable=True),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("frames_processed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_recognition_sessions_client", "client_id", "created_at"),
)

recognition_attempts = sa.Table(
    "recognition_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(36), sa.ForeignKey("recognition_sessions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=True),  # claimed (verification) or matched user
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("result", sa.String(16), nullable=False),  # success | failure
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("liveness_score", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_recognition_attempts_user", "client_id", "user_id", "created_at"),
    sa.Index("ix_recognition_attempts_session", "session_id"),
)

enrollment_embeddings = sa.Table(
    "enrollment_embeddings",
    metadata,
    sa.Column(
        "face_enrollment_id", sa.Integer, sa.ForeignKey("face_enrollments.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("session_id", sa.String(36), sa.ForeignKey("recognition_sessions.id", ondelete="SET NULL"), nullable=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # sample | template
    sa.Column("angle", sa.String(8), nullable=True),
    sa.Column("quality", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_enrollment_embeddings_client", "client_id", "user_id"),
)


def _v3(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=[recognition_sessions, recognition_attempts, enrollment_embeddings])


MIGRATIONS.append((3, _v3))


# -- version 4: gallery versions, bumped in the same transaction as every gallery write --

gallery_versions = sa.Table(
    "gallery_versions",
    metadata,
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("stamp", sa.String(32), nullable=False),  # random per bump: cache keys unique across databases
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # the version of the last change that took anything out of (or renamed in) the gallery (v16)
    sa.Column("removed_version", sa.BigInteger, nullable=False, server_default="0"),
)


def _v4(conn: sa.Connection) -> None:
    """Seed a version for every existing tenant, so none is left at an implicit version 0."""
    metadata.create_all(conn, tables=[gallery_versions])
    now = datetime.now(timezone.utc)
    tenants = conn.execute(sa.select(face_tenants.c.client_id, face_tenants.c.tenant_id)).all()
    if tenants:
        conn.execute(gallery_versions.insert(), [
            {"client_id": c, "tenant_id": t, "version": 1, "stamp": secrets.token_hex(8), "updated_at": now}
            for c, t in tenants
        ])


MIGRATIONS.append((4, _v4))


# -- version 6: door cameras and their access decisions (storage/camera_store.py) --

from storage.camera_store import _v6  # noqa: E402  (its tables are defined on this metadata)

MIGRATIONS.append((6, _v6))


# -- version 7: webhook outbox and delivery logs, audit log, analytics indexes (storage/events_schema.py) --
from storage import events_schema  # noqa: E402  (its tables join this metadata; it may be the one importing us)


def _v7(conn: sa.Connection) -> None:
    events_schema.v7(conn)


MIGRATIONS.append((7, _v7))


# -- version 10: the gallery change feed (storage/gallery_feed.py defines the table) --

def _v10(conn: sa.Connection) -> None:
    from storage.gallery_feed import migrate_v10  # that module imports this one (its metadata)

    migrate_v10(conn)


MIGRATIONS.append((10, _v10))


# -- version 11: the recogniser id of every stored embedding (storage/model_stamp.py) --

def _v11(conn: sa.Connection) -> None:
    from storage.model_stamp import migrate_v11

    migrate_v11(conn)


MIGRATIONS.append((11, _v11))


# -- version 14: sealed webhook signing secrets need a wider column (storage/events_schema.py) --

def _v14(conn: sa.Connection) -> None:
    events_schema.v14(conn)


MIGRATIONS.append((14, _v14))


# -- version 15: a change-feed delta that names users (deactivated, renamed, erased) reads their
# rows by user, not by scanning the tenant (storage/sql_store.py gallery_rows) --

def _v15(conn: sa.Connection) -> None:
    for index in face_enrollments.indexes:  # a database made by v1 since has it already
        if index.name == "ix_face_enrollments_user":
            index.create(conn, checkfirst=True)


MIGRATIONS.append((15, _v15))


# -- version 16: gallery_versions.removed_version, so a search may answer from a copy that lacks
# only additions (storage/galleries.py) --

def _v16(conn: sa.Connection) -> None:
    """Add the column (fresh databases get it from the table definition); every existing version
    counts as a removal, the safe reading of a past nobody recorded."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns("gallery_versions")}
    if "removed_version" not in columns:
        conn.execute(sa.text("ALTER TABLE gallery_versions ADD COLUMN removed_version BIGINT NOT NULL DEFAULT 0"))
    conn.execute(sa.text("UPDATE gallery_versions SET removed_version = version"))


MIGRATIONS.append((16, _v16))
