"""The data of `user.*` webhooks: one shape whoever creates or changes the user (the users API,
or an enrollment that creates its user under `sessions.auto_create_users`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.records import User


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def user_event(user: User) -> dict[str, Any]:
    """user.* webhook data: the user record (no face data)."""
    return {"user_id": user.id, "external_id": user.external_id, "name": user.name, "email": user.email,
            "is_active": user.is_active, "metadata": user.metadata, "created_at": _iso(user.created_at),
            "updated_at": _iso(user.updated_at)}
