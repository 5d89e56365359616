"""API keys of a client: scopes, rotation with a grace period, per-key IP allowlists.

Why a table of its own: a client used to have one key and secret with every power, so the kiosk
held a credential that could list, export and delete every user (issue 25). Now a client has
any number of keys, each with a scope (admin or kiosk), an optional list of networks it may be
used from, and, after a rotation, the previous secret still accepted until a stated time, so a
fleet can move to the new secret without an outage. `clients.api_key` stays the client's
first (admin) key; v17 copied every client's key here.

The check does the same work whatever the outcome: one lookup, two digest comparisons (dummy
ones for an unknown key or a key without a previous secret), so the time taken tells nobody
which keys exist or have been rotated (issue 24).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import schema
from storage.records import ADMIN, SCOPES, ApiKey, Client, CredentialCheck, NewApiKey
from storage.secrets import hash_secret, new_api_key, new_api_secret, secret_matches
from storage.timestamps import as_utc

_DUMMY_DIGEST = hash_secret("not-a-real-secret")
MAX_CIDRS = 64
MAX_GRACE_S = 30 * 24 * 3600


class KeyRuleError(ValueError):
    """A key request that cannot be honoured; `code` says which rule (the API maps it to 400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def normalize_cidrs(cidrs: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Each entry as a network ("10.0.0.0/8", "2001:db8::/32", a bare address = one host);
    anything else is refused by name, never stored to fail later."""
    if len(cidrs) > MAX_CIDRS:
        raise KeyRuleError("INVALID_CIDR", f"At most {MAX_CIDRS} networks per key")
    out = []
    for raw in cidrs:
        try:
            out.append(str(ipaddress.ip_network(str(raw).strip(), strict=False)))
        except ValueError:
            raise KeyRuleError("INVALID_CIDR", f"Not an IP network: {str(raw)[:64]!r}") from None
    return tuple(dict.fromkeys(out))


def address_allowed(key: ApiKey, remote: str | None) -> bool:
    """Whether a request from `remote` may use `key`: any address when the key has no list; an
    unknown or unparsable address only then."""
    if not key.allowed_cidrs:
        return True
    try:
        addr = ipaddress.ip_address((remote or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in ipaddress.ip_network(c) for c in key.allowed_cidrs)


def _key(row: Any) -> ApiKey:
    return ApiKey(int(row.id), int(row.client_id), row.api_key, row.scope, row.label, tuple(row.allowed_cidrs or ()),
                  as_utc(row.created_at), as_utc(row.rotated_at) if row.rotated_at else None,
                  as_utc(row.previous_expires_at) if row.previous_expires_at else None)


def _client(row: Any) -> Client:
    return Client(int(row.client_id), row.name, row.client_api_key, row.tier, bool(row.is_active),
                  as_utc(row.client_created_at))


async def insert_key(conn: AsyncConnection, client_id: int, scope: str, label: str = "",
                     cidrs: tuple[str, ...] = (), api_key: str | None = None, secret: str | None = None) -> NewApiKey:
    """Add a key inside the caller's transaction (create_client uses it for the first key)."""
    if scope not in SCOPES:
        raise KeyRuleError("INVALID_SCOPE", f"scope must be one of {', '.join(SCOPES)}")
    secret = secret or new_api_secret()
    key = api_key or new_api_key()
    now = datetime.now(timezone.utc)
    result = await conn.execute(schema.api_keys.insert().values(
        client_id=client_id, api_key=key, secret_hash=hash_secret(secret), scope=scope, label=label[:100],
        allowed_cidrs=list(cidrs), created_at=now))
    inserted = result.inserted_primary_key
    assert inserted is not None  # an INSERT always has one
    return NewApiKey(ApiKey(int(inserted[0]), client_id, key, scope, label[:100], cidrs, now),
                     secret)


class KeyStore:
    """Every query is scoped by client id: one client can never see or change another's keys."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def check(self, api_key: str, api_secret: str, now: datetime | None = None) -> CredentialCheck:
        """The client and key that `api_key` + `api_secret` name (the current secret, or the
        previous one inside its grace period); the key's owner either way."""
        k, c = schema.api_keys, schema.clients
        query = sa.select(k, c.c.name, c.c.api_key.label("client_api_key"), c.c.tier, c.c.is_active,
                          c.c.created_at.label("client_created_at")).join(c, c.c.id == k.c.client_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query.where(k.c.api_key == api_key))).first()
        current = secret_matches(api_secret, _DUMMY_DIGEST if row is None else row.secret_hash)
        previous_hash = row.previous_secret_hash if row is not None and row.previous_secret_hash else _DUMMY_DIGEST
        previous = secret_matches(api_secret, previous_hash)
        if row is None:
            return CredentialCheck(None, None)
        now = now or datetime.now(timezone.utc)
        in_grace = row.previous_expires_at is not None and now < as_utc(row.previous_expires_at)
        if current or (previous and in_grace and row.previous_secret_hash):
            return CredentialCheck(_client(row), int(row.client_id), _key(row))
        return CredentialCheck(None, int(row.client_id))

    async def by_api_key(self, client_id: int, api_key: str) -> ApiKey | None:
        """The key a JWT names (its `key` claim), if it still belongs to the client."""
        k = schema.api_keys
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(k).where(k.c.client_id == client_id, k.c.api_key == api_key))).first()
        return _key(row) if row else None

    async def get(self, client_id: int, key_id: int) -> ApiKey | None:
        k = schema.api_keys
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(k).where(k.c.client_id == client_id, k.c.id == key_id))).first()
        return _key(row) if row else None

    async def list_keys(self, client_id: int) -> list[ApiKey]:
        k = schema.api_keys
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(k).where(k.c.client_id == client_id).order_by(k.c.id))
            return [_key(r) for r in rows]

    async def create(self, client_id: int, scope: str, label: str = "", cidrs: tuple[str, ...] = ()) -> NewApiKey:
        async with self.engine.begin() as conn:
            return await insert_key(conn, client_id, scope, label, normalize_cidrs(cidrs))

    async def rotate(self, client_id: int, key_id: int, grace_s: float) -> NewApiKey | None:
        """A new secret for the key; the current one keeps working for `grace_s` seconds (0: stops
        now). A second rotation inside a grace period ends the first one's old secret."""
        if not 0 <= grace_s <= MAX_GRACE_S:
            raise KeyRuleError("INVALID_GRACE", f"grace_seconds must be between 0 and {MAX_GRACE_S}")
        k = schema.api_keys
        secret = new_api_secret()
        now = datetime.now(timezone.utc)
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                sa.select(k).where(k.c.client_id == client_id, k.c.id == key_id).with_for_update())).first()
            if row is None:
                return None
            await conn.execute(k.update().where(k.c.id == key_id).values(
                secret_hash=hash_secret(secret), previous_secret_hash=row.secret_hash if grace_s > 0 else None,
                previous_expires_at=now + timedelta(seconds=grace_s) if grace_s > 0 else None, rotated_at=now))
            if row.api_key == (await conn.execute(
                    sa.select(schema.clients.c.api_key).where(schema.clients.c.id == client_id))).scalar_one():
                # keep the client row's copy of its first key in step (nothing reads it to check)
                await conn.execute(schema.clients.update().where(schema.clients.c.id == client_id).values(
                    secret_hash=hash_secret(secret)))
            updated = (await conn.execute(sa.select(k).where(k.c.id == key_id))).one()
        return NewApiKey(_key(updated), secret)

    async def set_allowlist(self, client_id: int, key_id: int, cidrs: list[str]) -> ApiKey | None:
        k = schema.api_keys
        networks = normalize_cidrs(cidrs)
        async with self.engine.begin() as conn:
            result = await conn.execute(k.update().where(k.c.client_id == client_id, k.c.id == key_id).values(
                allowed_cidrs=list(networks)))
            if result.rowcount == 0:
                return None
            return _key((await conn.execute(sa.select(k).where(k.c.id == key_id))).one())

    async def delete(self, client_id: int, key_id: int) -> bool:
        """Revoke a key at once. The last admin key cannot go: the client would be unmanageable."""
        k = schema.api_keys
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(k).where(k.c.client_id == client_id, k.c.id == key_id))).first()
            if row is None:
                return False
            admins = (await conn.execute(sa.select(sa.func.count()).select_from(k).where(
                k.c.client_id == client_id, k.c.scope == ADMIN))).scalar_one()
            if row.scope == ADMIN and admins <= 1:
                raise KeyRuleError("LAST_ADMIN_KEY", "The client's last admin key cannot be revoked")
            await conn.execute(k.delete().where(k.c.id == key_id))
            return True
