"""Python client for a Facestream server (clients/python; `pip install ./clients/python`).

`Client` (requests) and `AsyncClient` (aiohttp) make the same calls: users (by UUID or your
external_id), enrollment and authentication sessions, single-image enrollment, streaming session
creation, webhooks. 429 and 503 answers are retried after their `Retry-After`.
"""

from facestream_client.async_client import AsyncClient
from facestream_client.client import Client
from facestream_client.errors import FacestreamError

__all__ = ["AsyncClient", "Client", "FacestreamError"]
__version__ = "0.1.0"
