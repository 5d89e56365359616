"""A door camera's definition (config.yaml `cameras:` list, or REST): where its stream is and who
its door admits, when: what the gate (doors.gate) and the camera runner read."""

from __future__ import annotations

from dataclasses import dataclass

from doors.camera_url import mask_url

__all__ = ["CameraConfig", "mask_url"]


@dataclass(frozen=True)
class CameraConfig:
    """One door camera. `schedule`: rules like "mon-fri 08:00-18:00" or "sat 09:00-13:00" in
    `timezone` (an IANA name); empty = always open. `allowed_users` (platform ids or external ids)
    and `allowed_groups` (matched against a user's metadata `groups` list): both empty = every
    active enrolled user of the client is allowed."""

    id: str
    client_id: int
    name: str = ""
    url: str = ""
    door_id: str = ""
    mode: str = "identification"
    allowed_users: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    schedule: tuple[str, ...] = ()
    timezone: str = "UTC"
    require_liveness: bool = True
    det_size: int = 0  # detector input size for this camera; 0 = engine default
    max_fps: float = 10.0  # frames per second handed to the models at most (newest wins)
    cooldown_s: float = 10.0  # one decision per person per door within this window
    one_person: bool = False  # several faces in view at a grant -> denied several_faces
    transport: str = ""  # tcp | udp; empty = ingest.transport
    enabled: bool = True
