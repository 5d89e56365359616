"""Whether a new face may go onto a user who already has faces: the rule that stops an account
takeover, written once for every enrollment path (REST direct and sessions, WebRTC, WebSocket,
the root face API's tenant 0, the people and kiosk pages).

Why: a user id is not a secret (it is printed on badges and typed at kiosks). Without this rule
anyone could enroll their own face under someone else's id and then verify as them; a template
mixed from two people also stops the duplicate check from protecting either. So a re-enrollment
must be the same person (the new face within the matching threshold of the user's stored
faces), and putting a *different* face on a user is a separate, explicit, privileged and audited
action: `replace: true` (alias `replace_existing: true`) on the request, allowed by `may_replace`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.matching import Gallery
from engine.types import FloatArray
from sessions.errors import SessionError


@dataclass(frozen=True)
class ReplaceRequest:
    """An explicit request to replace a user's faces with a different person's face.

    `actor` names who asked (an API key's id, "user-token", "root-face-api") for the audit
    record; `scope` is that credential's scope once keys carry one (admin / kiosk)."""

    requested: bool = False
    actor: str | None = None
    scope: str | None = None

    def as_params(self) -> dict[str, Any]:
        """Kept in a REST session's params until its completion (any worker may complete it)."""
        return {"replace": self.requested, "replace_actor": self.actor, "replace_scope": self.scope}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "ReplaceRequest":
        return cls(bool(params.get("replace")), params.get("replace_actor"), params.get("replace_scope"))


NO_REPLACE = ReplaceRequest()


def may_replace(request: ReplaceRequest) -> bool:
    """Whether this caller may put a different person's face on an enrolled user.

    An admin key that asks explicitly may (the request is then audited and announced as
    `enrollment.replaced`); no scope means a credential of the whole client (a JWT issued to an
    admin key, the face API's own key): admin too. A kiosk key or a user's own token never may.
    Nothing else decides it."""
    if not request.requested:
        return False
    return request.scope in (None, "admin")


@dataclass(frozen=True)
class SamePerson:
    """The outcome of comparing a new face with the user's stored ones."""

    had_faces: bool  # the user already had faces in the gallery
    distance: float | None  # the new face's distance to the nearest of them
    replacing: bool  # a different face, explicitly and allowedly replacing the old ones


def check_same_person(gallery: Gallery, user_id: str, user_ref: str, embedding: FloatArray, threshold: float,
                      request: ReplaceRequest = NO_REPLACE) -> SamePerson:
    """FACE_MISMATCH when the user has faces and this one is not within `threshold` of them,
    unless the caller explicitly asked for (and may do) a replacement. The error names only the
    user the caller itself named: no other person, and no distance an attacker could climb."""
    if not gallery.for_user(user_id):
        return SamePerson(False, None, False)
    best = gallery.best_for_user(user_id, embedding)
    distance = None if best is None else float(best.distance)
    if distance is not None and distance <= threshold:
        return SamePerson(True, distance, False)
    if may_replace(request):
        return SamePerson(True, distance, True)
    raise SessionError(
        "FACE_MISMATCH",
        "This face does not match the face already enrolled for this user; nothing was stored. "
        "Replacing a user's face with a different person's is an explicit administrative action (replace: true).",
        {"user_id": user_ref, "replace_refused": request.requested},
    )
