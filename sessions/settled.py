"""A gallery decision made final (sessions.outcomes.settle): what every transport reports and
what a door decides on, with the user row it was checked against so no consumer reads it again."""

from __future__ import annotations

from dataclasses import dataclass

from recognition.decision import Decision
from storage.records import User

USER_INACTIVE = "user_inactive"  # the refusal reason of a match on a deactivated (or deleted) user


@dataclass(frozen=True)
class Settled:
    decision: Decision
    name: str | None  # the user's current name, on success
    attempt_user: str | None  # whom the attempt is recorded against
    user: User | None = None  # the row a successful match was checked against (read once, in settle)

    @property
    def user_inactive(self) -> bool:
        """The match named a user who may not authenticate (deactivated or deleted)."""
        return self.decision.reason == USER_INACTIVE
