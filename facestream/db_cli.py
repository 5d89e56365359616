"""`facestream db current` and `facestream db upgrade`: the schema version of the configured
database, and the migrations (storage/migrations.py) it still lacks.

Why a command when the server migrates at start anyway: an operator upgrading several workers
that share one PostgreSQL upgrades the schema once, before any new worker starts, and a deploy
script can ask `db current --check` whether a database is behind without changing it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from facestream.config import Config
from storage import migrations
from storage.sql_store import SqlStore


def _shown(url: str) -> str:
    """The URL without its password (it is printed)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("@", 1)[-1]


def _missing_sqlite_file(url: str) -> bool:
    """`db current` must not create the file it reports on."""
    if not url.startswith("sqlite:///"):
        return False
    path = url[len("sqlite:///"):]
    return bool(path) and path != ":memory:" and not Path(path).exists()


def _print_state(state: migrations.SchemaState) -> None:
    print(f"current: {state.current}")
    print(f"newest:  {state.newest}")
    print(f"pending: {', '.join(map(str, state.pending)) or 'none'}")


async def _current(url: str) -> migrations.SchemaState:
    if _missing_sqlite_file(url):
        return migrations.SchemaState(0, migrations.NEWEST, tuple(v for v, _ in migrations.MIGRATIONS))
    store = SqlStore(url)
    try:
        async with store.engine.connect() as conn:
            return await migrations.state(conn)
    finally:
        await store.close()


async def _upgrade(url: str) -> tuple[int, int]:
    store = SqlStore(url)
    try:
        async with store.engine.connect() as conn:
            before = (await migrations.state(conn)).current
        return before, await store.open()  # one transaction: all pending steps or none (migrations.migrate)
    finally:
        await store.close()


def run_db(config: Config, action: str, check: bool = False) -> int:
    url = config.storage.database_url
    print(f"database: {_shown(url)}")
    try:
        if action == "current":
            state = asyncio.run(_current(url))
            _print_state(state)
            return 1 if check and state.pending else 0
        before, after = asyncio.run(_upgrade(url))
    except (SQLAlchemyError, OSError) as exc:
        print(f"facestream: database error: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}", file=sys.stderr)
        return 1
    if before == after:
        print(f"already at version {after}")
    else:
        applied = [v for v, _ in migrations.MIGRATIONS if before < v <= after]
        print(f"upgraded from version {before} to {after} (applied {', '.join(map(str, applied))})")
    return 0
