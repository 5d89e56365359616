"""The `facestream` command: serve the app, create clients, migrate the database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from facestream.config import ConfigError, load_config


def _dev_cert(out: str, hosts: list[str]) -> int:
    from pathlib import Path

    from facestream.tls import make_dev_cert

    folder = Path(out)
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = make_dev_cert(cert, key, hosts)
    print(f"certificate: {cert}")
    print(f"private key: {key}")
    print(f"valid for:   {', '.join(names)}")
    print("serve with:  FACESTREAM__SERVER__TLS_CERT=%s FACESTREAM__SERVER__TLS_KEY=%s facestream serve" % (cert, key))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facestream", description="Facestream face recognition server")
    parser.add_argument("--config", help="path to config.yaml (default: the repository's, or $FACESTREAM_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP/WebRTC server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    create = sub.add_parser("create-client", help="create a client and print its API key and secret")
    create.add_argument("name")
    create.add_argument("--tier", default="basic", choices=["basic", "premium", "enterprise"])
    create.add_argument("--kiosk-key", action="store_true",
                        help="also mint a kiosk key (kiosk flows only) and print it")
    from facestream.keys_cli import add_parser as add_keys_parser

    add_keys_parser(sub)
    models = sub.add_parser("models", help="list the models in use (licence, sha256, size) and stored embeddings")
    models.add_argument("--drop-other-models", action="store_true",
                        help="delete stored embeddings made by another recogniser (re-enrollment path)")
    models.add_argument("--yes", action="store_true", help="confirm --drop-other-models")
    db = sub.add_parser("db", help="the database schema: its version, and upgrading it (storage/migrations.py)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_current = db_sub.add_parser("current", help="print the schema version, the newest one and those pending")
    db_current.add_argument("--check", action="store_true", help="exit 1 when migrations are pending")
    db_sub.add_parser("upgrade", help="apply every pending migration (in one transaction)")
    cert = sub.add_parser(
        "dev-cert", help="make a self-signed HTTPS certificate for LAN use (phones need https for the camera)")
    cert.add_argument("--out", default="var/tls", help="folder for cert.pem and key.pem (default var/tls)")
    cert.add_argument("--host", action="append", default=[],
                      help="extra host name or IP the certificate must cover (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "dev-cert":
        return _dev_cert(args.out, args.host)

    try:
        overrides = {}
        if getattr(args, "host", None):
            overrides["server.host"] = args.host
        if getattr(args, "port", None):
            overrides["server.port"] = args.port
        config = load_config(args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"facestream: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.server.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        from aiohttp import web

        from api.app import create_app

        from facestream.tls import server_ssl_context

        ssl_context = server_ssl_context(config.server.tls_cert, config.server.tls_key)
        web.run_app(create_app(config), host=config.server.host, port=config.server.port, ssl_context=ssl_context)
        return 0
    if args.command == "models":
        from facestream.models_cli import run_models

        return run_models(config, args.drop_other_models, args.yes)
    if args.command == "db":
        from facestream.db_cli import run_db

        return run_db(config, args.db_command, getattr(args, "check", False))
    if args.command == "keys":
        from facestream.keys_cli import run_keys

        return run_keys(config, args)
    if args.command == "create-client":
        from storage.sql_store import SqlStore

        async def create() -> tuple[str, str, tuple[str, str] | None]:
            store = SqlStore(config.storage.database_url)
            try:
                await store.open()
                made = await store.create_client(args.name, args.tier)
                kiosk = await store.keys.create(made.client.id, "kiosk", "kiosk") if args.kiosk_key else None
                return made.client.api_key, made.api_secret, (kiosk.key.api_key, kiosk.api_secret) if kiosk else None
            finally:
                await store.close()

        key, secret, kiosk = asyncio.run(create())
        print(f"client:     {args.name}")
        print(f"api_key:    {key}")
        print(f"api_secret: {secret}")
        print(f"header:     Authorization: ApiKey {key}:{secret}")
        print("scope:      admin (everything this client can do)")
        if kiosk:
            print(f"kiosk_api_key:    {kiosk[0]}")
            print(f"kiosk_api_secret: {kiosk[1]}")
            print("kiosk scope: authentication sessions only (sign the kiosk page in with it)")
        print("Store the secret now: only its hash is kept.")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())

