"""`facestream keys ...`: a client's API keys from the command line (issue 25), the same
operations as `/api/clients/keys/` and audited the same way (`credential` events, from no
address). A client is named by its id or by its first API key (what create-client printed).

    facestream keys create CLIENT --scope kiosk [--label L] [--allow 10.0.0.0/8 ...]
    facestream keys list CLIENT
    facestream keys rotate CLIENT KEY_ID [--grace-seconds 86400]
    facestream keys allowlist CLIENT KEY_ID [CIDR ...]      (none: any address)
    facestream keys revoke CLIENT KEY_ID
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from events.audit import AuditEntry, record
from facestream.config import Config
from storage.key_store import KeyRuleError
from storage.records import ApiKey, NewApiKey
from storage.sql_store import SqlStore


def add_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="a client's API keys: kiosk keys, rotation, IP allowlists")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="mint a key; its secret is printed once")
    create.add_argument("client", help="client id or its first API key")
    create.add_argument("--scope", choices=["kiosk", "admin"], default="kiosk")
    create.add_argument("--label", default="")
    create.add_argument("--allow", action="append", default=[], metavar="CIDR",
                        help="a network the key may be used from (repeatable; none: anywhere)")
    listing = keys_sub.add_parser("list", help="the client's keys (never their secrets)")
    listing.add_argument("client")
    rotate = keys_sub.add_parser("rotate", help="a new secret; the old one works for --grace-seconds more")
    rotate.add_argument("client")
    rotate.add_argument("key_id", type=int)
    rotate.add_argument("--grace-seconds", type=int, default=86400)
    allow = keys_sub.add_parser("allowlist", help="set the networks a key may be used from")
    allow.add_argument("client")
    allow.add_argument("key_id", type=int)
    allow.add_argument("cidrs", nargs="*")
    revoke = keys_sub.add_parser("revoke", help="revoke a key at once (not the last admin key)")
    revoke.add_argument("client")
    revoke.add_argument("key_id", type=int)


def _show(key: ApiKey) -> None:
    nets = ", ".join(key.allowed_cidrs) or "any address"
    grace = f"  old secret until {key.previous_expires_at.isoformat()}" if key.previous_expires_at else ""
    print(f"{key.id}\t{key.scope}\t{key.api_key}\t{key.label or '-'}\t{nets}{grace}")


def _secret(made: NewApiKey) -> None:
    _show(made.key)
    print(f"api_key:    {made.key.api_key}")
    print(f"api_secret: {made.api_secret}")
    print(f"header:     Authorization: ApiKey {made.key.api_key}:{made.api_secret}")
    print("Store the secret now: only its hash is kept.")


async def _run(store: SqlStore, args: argparse.Namespace) -> int:
    ref = str(args.client)
    client = (await store.client_by_id(int(ref)) if ref.isdigit() else None) or await store.client_by_key(ref)
    if client is None:
        print(f"facestream: no client {ref!r}", file=sys.stderr)
        return 1
    keys, cmd = store.keys, args.keys_command

    async def audit(event: str, key: ApiKey, **details: Any) -> None:
        await record(store.engine, client.id, AuditEntry(
            "credential", event, "success", str(key.id), {"api_key": key.api_key, "via": "cli", **details}))

    if cmd == "list":
        for key in await keys.list_keys(client.id):
            _show(key)
        return 0
    if cmd == "create":
        made = await keys.create(client.id, args.scope, args.label, tuple(args.allow))
        await audit("credential.key_created", made.key)
        _secret(made)
        return 0
    if cmd == "rotate":
        rotated = await keys.rotate(client.id, args.key_id, args.grace_seconds)
        if rotated is None:
            print(f"facestream: client {client.id} has no key {args.key_id}", file=sys.stderr)
            return 1
        await audit("credential.key_rotated", rotated.key, grace_seconds=args.grace_seconds)
        _secret(rotated)
        return 0
    if cmd == "allowlist":
        changed = await keys.set_allowlist(client.id, args.key_id, list(args.cidrs))
        if changed is None:
            print(f"facestream: client {client.id} has no key {args.key_id}", file=sys.stderr)
            return 1
        await audit("credential.allowlist_set", changed, allowed_cidrs=list(changed.allowed_cidrs))
        _show(changed)
        return 0
    gone = await keys.get(client.id, args.key_id)
    if gone is None or not await keys.delete(client.id, args.key_id):
        print(f"facestream: client {client.id} has no key {args.key_id}", file=sys.stderr)
        return 1
    await audit("credential.key_revoked", gone)
    print(f"revoked key {gone.id} ({gone.api_key})")
    return 0


def run_keys(config: Config, args: argparse.Namespace) -> int:
    async def go() -> int:
        store = SqlStore(config.storage.database_url)
        try:
            await store.open()
            return await _run(store, args)
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except KeyRuleError as exc:
        print(f"facestream: {exc.message}", file=sys.stderr)
        return 2
