"""The core tables on the one `metadata` every table module shares.

Why no migrations here: this module is a leaf that other table modules (events_schema,
camera_store, gallery_feed) import for `metadata`; the steps that create and alter tables live in
storage/migrations.py, which imports them all, so nothing imports back.
"""

from __future__ import annotations

import sqlalchemy as sa

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


# -- version 17: API keys with scopes, rotation grace and IP allowlists (storage/key_store.py) --

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("api_key", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False, server_default="admin"),  # admin | kiosk
    sa.Column("label", sa.String(100), nullable=False, server_default=""),
    sa.Column("allowed_cidrs", sa.JSON, nullable=False),  # [] = any address
    # the secret a rotation replaced, accepted until previous_expires_at (the grace period)
    sa.Column("previous_secret_hash", sa.String(128), nullable=True),
    sa.Column("previous_expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_api_keys_client", "client_id"),
)
