"""Settings of the webhook delivery worker; the config's `webhooks:` section extends them, so
each knob is declared once (facestream/config.py WebhookSettings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerSettings:
    # The outbox delivery worker (events/delivery.py); one per process, rows claimed so several never collide.
    allow_private_targets: bool = False  # loopback/private/link-local targets refused unless true (SSRF guard)
    poll_interval_s: float = 1.0  # how often the worker looks for due rows written by other processes
    request_timeout_s: float = 10.0  # whole request, connect included
    lease_margin_s: float = 30.0  # a claimed row returns to the queue request_timeout_s + this after its claim
    max_response_bytes: int = 65536  # a receiver's answer is read up to this size, the rest ignored
    per_endpoint_concurrency: int = 4  # deliveries in flight to one endpoint, per process
    # One client's endpoints together, per process: a client with many slow receivers waits its
    # turn instead of holding every connection while other clients' deliveries queue behind it.
    per_client_concurrency: int = 16
    max_in_flight: int = 100  # deliveries in flight per process (the HTTP connector's size): none waits for a socket
    batch_size: int = 32  # rows claimed per round
    max_delay_s: float = 3600.0  # longest wait between two attempts
    jitter: float = 0.2  # each wait is multiplied by a random factor in [1 - jitter, 1 + jitter]
