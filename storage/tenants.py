"""Insert-or-get of a (client, tenant) row, race-free on SQLite and PostgreSQL.

Why one statement: the old select-then-insert let two first enrollments into a new tenant both
see "no row" and one of them die on `uq_face_tenant` (a 500, the enrollment lost). `INSERT ... ON
CONFLICT DO NOTHING` cannot lose that race, and as the transaction's first statement it also
takes SQLite's write lock up front (a read upgraded to a write later fails at once with
SQLITE_BUSY under WAL instead of waiting for the busy timeout).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import schema


async def ensure_tenant(conn: AsyncConnection, client_id: int, tenant_id: int) -> None:
    """The tenant row exists when this returns (made now or by anyone before)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(schema.face_tenants).values(
        client_id=client_id, tenant_id=tenant_id, created_at=datetime.now(timezone.utc)
    ).on_conflict_do_nothing(index_elements=["client_id", "tenant_id"])
    await conn.execute(stmt)
