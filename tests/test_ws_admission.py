"""Issue 24 item 4c: a WebSocket must authenticate within `server.ws_auth_timeout_s`, and only so
many may wait unauthenticated (per address and per process); authenticated sockets are unaffected."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import WSMsgType

from api.ws_routes import AUTH_TIMEOUT_CLOSE, UNAUTHENTICATED
from tests.conftest import FaceClient
from tests.path_clients import ws_credentials


async def until(condition: Callable[[], bool], ceiling_s: float = 15.0) -> None:
    """Wait for server-side state (same process) to change, with a generous ceiling."""
    async with asyncio.timeout(ceiling_s):
        while not condition():
            await asyncio.sleep(0.02)


async def test_an_idle_socket_is_closed_after_the_auth_timeout(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"server.ws_auth_timeout_s": 1.0})
    good = await http.ws_connect("/ws/recognition/")
    await good.send_json({"type": "authenticate", **ws_credentials(auth)})
    assert (await good.receive_json(timeout=10))["type"] == "authenticated"

    idle = await http.ws_connect("/ws/recognition/")  # the repro: opens and says nothing
    msg = await idle.receive(timeout=30)
    assert msg.type == WSMsgType.TEXT and msg.json()["payload"]["code"] == "AUTHENTICATION_TIMEOUT"
    msg = await idle.receive(timeout=30)
    assert msg.type == WSMsgType.CLOSE and msg.data == AUTH_TIMEOUT_CLOSE
    assert idle.closed or (await idle.receive(timeout=10)).type in (WSMsgType.CLOSED, WSMsgType.CLOSE)
    assert http.app[UNAUTHENTICATED].total == 0

    # The socket that authenticated in time outlived the deadline and still answers.
    await good.send_json({"type": "ping", "ts": 1})
    assert (await good.receive_json(timeout=10))["type"] == "pong"
    await good.close()


async def test_unauthenticated_sockets_per_address_are_capped(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"server.ws_max_unauthenticated_per_address": 3})
    sockets = [await http.ws_connect("/ws/recognition/") for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect("/ws/recognition/")
    assert refused.value.status == 429
    # One authenticates: its place frees, so a new socket opens.
    await sockets[0].send_json({"type": "authenticate", **ws_credentials(auth)})
    assert (await sockets[0].receive_json(timeout=10))["type"] == "authenticated"
    fourth = await http.ws_connect("/ws/recognition/")
    # Closing an unauthenticated one frees its place too.
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect("/ws/recognition/")
    await sockets[1].close()
    await until(lambda: http.app[UNAUTHENTICATED].total == 2)
    await fourth.send_json({"type": "ping"})
    assert (await fourth.receive_json(timeout=10))["type"] == "pong"
    fifth = await http.ws_connect("/ws/recognition/")
    for ws in (sockets[0], sockets[2], fourth, fifth):
        await ws.close()


async def test_unauthenticated_sockets_per_process_are_capped(face_client: FaceClient) -> None:
    http, _ = await face_client(**{"server.ws_max_unauthenticated": 2})
    first, second = await http.ws_connect("/ws/recognition/"), await http.ws_connect("/ws/recognition/")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect("/ws/recognition/")
    assert refused.value.status == 503
    await first.close()
    await until(lambda: http.app[UNAUTHENTICATED].total == 1)
    third = await http.ws_connect("/ws/recognition/")
    await second.close()
    await third.close()
