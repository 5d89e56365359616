"""The webhook outbox (endpoints, events, deliveries, delivery logs) and the audit log
(created by schema versions 7 and 14 in storage/migrations.py).

Why an outbox table: an event row is inserted in the same transaction as the change that caused
it (an enrollment, an attempt, a user write), so a crash can never lose an event whose change
committed, nor announce a change that rolled back. The delivery worker (events/delivery.py)
works the `webhook_deliveries` rows; each attempt is one `webhook_logs` row.
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.schema import metadata

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", sa.JSON, nullable=False),
    # Needed in clear to sign, so sealed (not hashed) with the key ring when one is configured
    # (events/webhook_store.py); never returned by the API. 512: a sealed 256-character secret.
    sa.Column("secret", sa.String(512), nullable=False),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("max_retries", sa.Integer, nullable=False),
    sa.Column("backoff_strategy", sa.String(16), nullable=False),
    sa.Column("retry_delay", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_webhook_endpoints_client", "client_id"),
)

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_webhook_events_client", "client_id", "created_at"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # the X-Webhook-Delivery header: receivers de-duplicate on it
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_id", sa.String(36), sa.ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False),
    sa.Column("endpoint_id", sa.String(36), sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | in_progress | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),  # a crashed claimer's row comes back after it
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_event", "event_id"),
)

webhook_logs = sa.Table(
    "webhook_logs",
    metadata,
    sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("delivery_id", sa.String(36), sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("endpoint_id", sa.String(36), nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # success | failed
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("response_body", sa.String(1024), nullable=True),  # the first bytes only
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_webhook_logs_client", "client_id", "created_at"),
)

audit_logs = sa.Table(
    "audit_logs",
    metadata,
    sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=True),
    sa.Column("category", sa.String(16), nullable=False),  # enrollment | authentication | user | credential | webhook | configuration | security
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # success | failure | info
    sa.Column("subject", sa.String(128), nullable=True),  # the user / session / endpoint the event is about
    sa.Column("ip_address", sa.String(64), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_audit_logs_client", "client_id", "created_at"),
    sa.Index("ix_audit_logs_category", "client_id", "category", "created_at"),
)

TABLES = [webhook_endpoints, webhook_events, webhook_deliveries, webhook_logs, audit_logs]
