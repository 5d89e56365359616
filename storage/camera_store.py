"""Door cameras and the access decisions they made (schema version 6).

Why a camera's settings are one JSON column: the camera shape (schedule, allowed lists, limits)
belongs to the streaming layer (streaming.camera_settings.CameraConfig) and grows there; storage
keeps it whole, scoped by client. The decisions table is the audit trail of every door decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.tx_hooks import TxHook, run as run_hook
from storage import schema
from storage.timestamps import as_utc

cameras = sa.Table(
    "cameras",
    schema.metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),  # CameraConfig fields, the RTSP URL included
    sa.Column("source", sa.String(16), nullable=False),  # config | api
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_cameras_client", "client_id"),
)

access_decisions = sa.Table(
    "access_decisions",
    schema.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id", ondelete="CASCADE"), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("door_id", sa.String(128), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),  # granted | denied
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(36), nullable=True),
    sa.Column("track_id", sa.Integer, nullable=True),
    sa.Column("session_id", sa.String(36), nullable=True),
    sa.Column("confidence", sa.Float, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_access_decisions_client_camera", "client_id", "camera_id", "created_at"),
)


@dataclass(frozen=True)
class CameraRecord:
    id: str
    client_id: int
    spec: dict[str, Any]
    source: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AccessRecord:
    client_id: int
    camera_id: str
    door_id: str
    decision: str
    reason: str
    user_id: str | None
    track_id: int | None
    session_id: str | None
    confidence: float | None
    created_at: datetime


def _camera(row: Any) -> CameraRecord:
    return CameraRecord(row.id, row.client_id, dict(row.spec), row.source, as_utc(row.created_at), as_utc(row.updated_at))


class CameraStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def all(self) -> list[CameraRecord]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(cameras).order_by(cameras.c.created_at, cameras.c.id))).all()
        return [_camera(r) for r in rows]

    async def of_client(self, client_id: int) -> list[CameraRecord]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(cameras).where(cameras.c.client_id == client_id)
                                       .order_by(cameras.c.created_at, cameras.c.id))).all()
        return [_camera(r) for r in rows]

    async def get(self, camera_id: str) -> CameraRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(cameras).where(cameras.c.id == camera_id))).first()
        return _camera(row) if row else None

    async def put(self, camera_id: str, client_id: int, spec: dict[str, Any], source: str) -> CameraRecord:
        """Create or replace (the id is the key; a config camera is written at every start)."""
        now = datetime.now(timezone.utc)
        async with self.engine.begin() as conn:
            updated = await conn.execute(cameras.update().where(cameras.c.id == camera_id).values(
                client_id=client_id, spec=spec, source=source, updated_at=now))
            if updated.rowcount == 0:
                await conn.execute(cameras.insert().values(id=camera_id, client_id=client_id, spec=spec, source=source,
                                                           created_at=now, updated_at=now))
        record = await self.get(camera_id)
        assert record is not None
        return record

    async def delete(self, camera_id: str) -> bool:
        async with self.engine.begin() as conn:
            return bool((await conn.execute(cameras.delete().where(cameras.c.id == camera_id))).rowcount)

    async def record_decision(self, record: AccessRecord, after: TxHook | None = None) -> None:
        """The audit row; `after` (the access.* outbox event) commits in the same transaction."""
        async with self.engine.begin() as conn:
            await conn.execute(access_decisions.insert().values(**record.__dict__))
            await run_hook(conn, after)

    async def decisions(self, client_id: int, camera_id: str, limit: int = 50) -> list[AccessRecord]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                sa.select(access_decisions).where(access_decisions.c.client_id == client_id,
                                                  access_decisions.c.camera_id == camera_id)
                .order_by(access_decisions.c.id.desc()).limit(limit))).all()
        return [AccessRecord(r.client_id, r.camera_id, r.door_id, r.decision, r.reason, r.user_id, r.track_id,
                             r.session_id, r.confidence, as_utc(r.created_at)) for r in rows]
