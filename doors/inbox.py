"""What a door's decision task has yet to read of its camera's live session, in order.

Why not a bounded asyncio.Queue: the session publishes synchronously from the frame loop, which
must never wait on the door; but a full queue that refuses every kind would drop a settled track,
and with it the door's decision. Here only overlay events (`faces`, `liveness_update`: each frame
sends newer ones) are refused once `max_overlay` of them wait; a settled track is always taken.
Settled tracks are few (one per track per session), so they cannot grow the inbox without bound.
"""

from __future__ import annotations

import asyncio
import collections

from sessions.live_events import FacesSeen, LiveEvent, LivenessChanged, TrackSettled

OVERLAY = (FacesSeen, LivenessChanged)


class GateInbox:
    def __init__(self, max_overlay: int = 1000) -> None:
        self.max_overlay = max_overlay
        self.dropped = 0  # overlay events refused while the door was behind
        self._items: collections.deque[LiveEvent] = collections.deque()
        self._overlay = 0
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, event: LiveEvent) -> None:
        """A typed subscriber of the live session (never blocks): the gate's events only."""
        if isinstance(event, OVERLAY):
            if self._overlay >= self.max_overlay:
                self.dropped += 1
                return
            self._overlay += 1
        elif not isinstance(event, TrackSettled):
            return  # status, errors, the door's own decisions: nothing for the gate
        self._items.append(event)
        self._ready.set()

    async def get(self) -> LiveEvent:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        event = self._items.popleft()
        if isinstance(event, OVERLAY):
            self._overlay -= 1
        return event
