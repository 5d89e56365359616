"""Per-request API usage records of each client (`/api/clients/api-usage/`).

Only the method, the route template (e.g. `/api/clients/users/{user_id}/`), status and duration
are kept: never query strings, bodies or concrete ids, which may carry personal data.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from storage import schema
from storage.records import ApiUsage
from storage.sql_store import SqlStore

a = schema.api_usage


def _row(r: Any) -> ApiUsage:
    created = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=timezone.utc)
    return ApiUsage(int(r.id), r.client_id, r.method, r.path, r.status, float(r.duration_ms), created)


class UsageStore:
    def __init__(self, store: SqlStore) -> None:
        self._engine = store.engine

    async def record(self, client_id: int, method: str, path: str, status: int, duration_ms: float) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(a.insert().values(
                client_id=client_id, method=method[:8], path=path[:200], status=status,
                duration_ms=round(duration_ms, 3), created_at=datetime.now(timezone.utc),
            ))

    async def list(
        self, client_id: int, offset: int, limit: int, method: str | None = None, status: int | None = None
    ) -> tuple[int, list[ApiUsage]]:
        where: list[Any] = [a.c.client_id == client_id]
        if method:
            where.append(a.c.method == method.upper())
        if status is not None:
            where.append(a.c.status == status)
        async with self._engine.connect() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(a).where(*where))).scalar_one()
            rows = await conn.execute(sa.select(a).where(*where).order_by(a.c.id.desc()).offset(offset).limit(limit))
            return int(total), [_row(r) for r in rows]

    async def get(self, client_id: int, usage_id: int) -> ApiUsage | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(a).where(a.c.client_id == client_id, a.c.id == usage_id))).first()
        return _row(row) if row else None

    async def summary_since(self, client_id: int, since: datetime) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(sa.case((a.c.status >= 400, 1), else_=0)), 0),
                sa.func.avg(a.c.duration_ms),
            ).where(a.c.client_id == client_id, a.c.created_at >= since))).one()
        return {"requests": int(row[0]), "errors": int(row[1]), "avg_duration_ms": round(float(row[2] or 0.0), 3)}
