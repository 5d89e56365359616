"""Webhook payloads of session outcomes, with every field the seeds' examples show, and the
hooks that write them into the outbox in the outcome's own transaction.

Written once for every transport (REST, WebRTC, WebSocket, cameras): the outcome code in
sessions.outcomes calls these, never a transport.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from engine.liveness import LivenessState
from engine.types import Sample
from events.outbox import EventSink
from storage.timestamps import iso_millis
from storage.tx_hooks import TxHook


@dataclass(frozen=True)
class DeviceInfo:
    """Who called, as the transport saw it (kept in the session's params as `device_info`)."""

    ip_address: str | None = None
    user_agent: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"ip_address": self.ip_address, "user_agent": self.user_agent}

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> "DeviceInfo":
        raw = (params or {}).get("device_info") or {}
        return cls(raw.get("ip_address"), raw.get("user_agent")) if isinstance(raw, dict) else cls()


def liveness_reasons(live: LivenessState | None) -> list[str]:
    """Why liveness did not pass, in the seeds' words (`no_blink_detected`, `static_image`, ...)."""
    if live is None:
        return ["no_face_tracked"]
    reasons = []
    if live.blink_count == 0:
        reasons.append("no_blink_detected")
    if live.static:
        reasons.append("static_image")
    if live.head_movement < 1.0:
        reasons.append("no_head_movement")
    if live.challenge is not None or live.challenges_failed:
        reasons.append("challenge_not_completed")
    return reasons or ["low_liveness_score"]


def enrollment_completed(session_id: str, user_id: str, external_id: str | None, name: str, samples: list[Sample],
                         template: Sample, processing_time: float) -> dict[str, Any]:
    angles = sorted({s.angle for s in samples if s.angle})
    return {
        "enrollment_id": session_id, "session_id": session_id, "user_id": user_id, "external_id": external_id,
        "user_name": name, "quality_score": round(float(template.quality), 4), "angles_captured": len(angles),
        "angles": angles, "samples": len(samples), "enrollment_date": iso_millis(), "processing_time": round(processing_time, 4),
    }


def enrollment_replaced(session_id: str, user_id: str, external_id: str | None, actor: str | None,
                        distance: float | None) -> dict[str, Any]:
    """A user's faces replaced by a different face on an explicit `replace` request: the audit
    trail of a privileged action (who asked, how far the new face was from the old ones)."""
    return {"enrollment_id": session_id, "session_id": session_id, "user_id": user_id, "external_id": external_id,
            "replaced_by": actor, "distance_to_previous": None if distance is None else round(distance, 4),
            "replaced_at": iso_millis()}


def enrollment_failed(session_id: str, user_id: str | None, code: str, message: str, attempts: int) -> dict[str, Any]:
    return {"session_id": session_id, "user_id": user_id, "error_code": code, "error_message": message,
            "attempts": attempts, "last_attempt": iso_millis()}


def liveness_failed(session_id: str, user_id: str | None, live: LivenessState | None, device: DeviceInfo
                    ) -> dict[str, Any]:
    return {"session_id": session_id, "user_id": user_id,
            "liveness_score": round(float(live.liveness_score), 4) if live else 0.0,
            "failure_reasons": liveness_reasons(live), **device.as_dict()}


@dataclass(frozen=True)
class AuthOutcome:
    session_id: str
    mode: str
    success: bool
    user_id: str | None
    user_name: str | None
    confidence: float
    liveness_score: float
    failure_reason: str | None
    threshold: float
    attempts: int
    processing_time: float
    device: DeviceInfo


def authentication(o: AuthOutcome) -> tuple[str, dict[str, Any]]:
    if o.success:
        return "authentication.success", {
            "session_id": o.session_id, "mode": o.mode, "user_id": o.user_id, "user_name": o.user_name,
            "confidence": round(o.confidence, 4), "liveness_score": round(o.liveness_score, 4),
            "authentication_time": iso_millis(), "processing_time": round(o.processing_time, 4),
            "device_info": o.device.as_dict(),
        }
    # `threshold` is the confidence a match needs: recognition.decision.confidence_of puts the
    # distance threshold (`distance_threshold`) at confidence 0.5.
    return "authentication.failed", {
        "session_id": o.session_id, "mode": o.mode, "user_id": o.user_id, "failure_reason": o.failure_reason,
        "confidence": round(o.confidence, 4), "liveness_score": round(o.liveness_score, 4),
        "threshold": 0.5, "distance_threshold": round(o.threshold, 4),
        "attempts": o.attempts, "processing_time": round(o.processing_time, 4), "device_info": o.device.as_dict(),
    }


def hooks(sink: EventSink | None, client_id: int, events: list[tuple[str, dict[str, Any]]]) -> TxHook | None:
    """One hook writing several events (e.g. authentication.failed + liveness.failed) together."""
    if sink is None or not events:
        return None
    parts = [sink.hook(client_id, name, data) for name, data in events]

    async def write(conn: Any) -> None:
        for part in parts:
            await part(conn)
    return write


def since(started: float) -> float:
    return time.perf_counter() - started
