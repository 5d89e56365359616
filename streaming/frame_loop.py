"""The one frame loop of every live transport: take the newest frame when the last one is done,
hand it to the live session, and end the session at its deadline or when frames stop coming.

Why one loop: WebRTC, WebSocket process_frame and cameras differ in how frames arrive, not in
how they are paced, timed out or reported (`session_status` every `status_interval_s`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sessions.live import FrameSource, LiveSession
from streaming.slot import FrameSlot

Frame = TypeVar("Frame", bound=FrameSource)


async def run_frames(live: LiveSession, slot: FrameSlot[Frame], *, deadline: float, idle_s: float,
                     status_interval_s: float, stopped: Callable[[], bool]) -> str | None:
    """Process frames until `stopped()`, the deadline (loop time) or `idle_s` without a frame.
    Returns the reason the loop ended by itself ("expired", "peer_gone"), or None when stopped."""
    loop = asyncio.get_running_loop()
    next_status = loop.time()
    if slot.last_put is None:
        slot.last_put = next_status  # the idle clock starts with the loop
    while not stopped():
        now = loop.time()
        if now >= deadline:
            await live.finish()
            return "expired"
        if now - slot.last_put >= idle_s:
            return "peer_gone"
        if now >= next_status:
            live.report_status()
            next_status = now + status_interval_s
        frame = slot.take()
        if frame is None:
            await slot.wait(min(deadline, next_status, slot.last_put + idle_s) - now)
            continue
        await live.handle(frame, slot.fresher)
    return None
