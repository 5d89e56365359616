"""`signaling_url`: one URL that works both ways the documents use it.

api_integration_guide.md opens `new WebSocket(session.signaling_url)` and exchanges
offer/answer/ICE on it; older clients (and this server's page until it moved to the SDK) POST the
SDP offer to the same URL's path. So `GET /api/streaming/signaling/?token=<session token>` is the
`/ws/recognition/` socket, already authenticated for the session (send `{"type": "offer", "sdp"}`
and `{"type": "ice_candidate", ...}`, receive `answer`, `ice_accepted` and the session's events),
and `POST` to the same path is `/api/streaming/webrtc/offer/`. The REST endpoints stay as they are.
"""

from __future__ import annotations

from aiohttp import web

from api.streaming_routes import webrtc_offer
from api.ws_routes import recognition_socket

from api.signaling_socket_url import PATH

routes = web.RouteTableDef()
routes.get(PATH)(recognition_socket)
routes.post(PATH)(webrtc_offer)
