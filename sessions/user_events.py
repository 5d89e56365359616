"""The data of `user.*` webhooks: one shape whoever creates or changes the user (the users API,
or an enrollment that creates its user under `sessions.auto_create_users`)."""

from __future__ import annotations

from typing import Any

from storage.records import User
from storage.timestamps import iso_precise


def user_event(user: User) -> dict[str, Any]:
    """user.* webhook data: the user record (no face data)."""
    return {"user_id": user.id, "external_id": user.external_id, "name": user.name, "email": user.email,
            "is_active": user.is_active, "metadata": user.metadata, "created_at": iso_precise(user.created_at),
            "updated_at": iso_precise(user.updated_at)}
