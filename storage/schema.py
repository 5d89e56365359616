"""Table definitions and versioned migrations, run at start (idempotent)."""

from __future__ import annotations

import logging
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
    sa.Column("quality", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_face_enrollments_scope", "client_id", "tenant_id"),
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
    for version, step in MIGRATIONS:
        if version > current:
            log.info("applying schema migration %d", version)
            await conn.run_sync(step)
            await conn.execute(schema_version.insert().values(version=version, applied_at=datetime.now(timezone.utc)))
            current = version
    return current
