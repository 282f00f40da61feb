"""Who may enter a room, decided from what is known: a pure function, no socket, no database.

``admit`` takes the facts signaling gathered about a join (is the session open, is the
token's holder still booked into it, who is connected now) and returns either a
refusal (what to tell the client and how to close) or an admission with what must
follow: whether an older connection of the same participant is replaced, whether the
others are told of a newcomer, and the presence records to write. ``server.py`` only
gathers the facts and applies the result, so the rule has one home and a test
without I/O (``tests/signaling/test_admission.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sfu.errors import RoomFull
from signaling.presence import PresenceRecord
from signaling.protocol import CloseCode
from signaling.tokens import JoinGrant


@dataclass(frozen=True)
class JoinFacts:
    """What is true when a verified join token arrives.

    Attributes:
        session_open: the session exists and has not ended or been cancelled.
        still_admitted: the token's holder is still the session's tutor or one of its
            students (a substitution or a change of students may have happened since
            the token was issued).
        present: who is connected to the room now, participant id to role.
        max_participants: the room's cap.
        now: when the room changes, for the presence records.
        resuming: the join carried the resume token of the participant's seat (held since
            a drop, or still connected from a link that is failing).
    """

    session_open: bool
    still_admitted: bool
    present: Mapping[str, str]
    max_participants: int
    now: datetime
    resuming: bool = False


@dataclass(frozen=True)
class Refused:
    """The join is refused: send ``code`` and ``message`` as an error, then close."""

    code: str
    message: str
    close_code: int


@dataclass(frozen=True)
class Admitted:
    """The join is admitted.

    Attributes:
        replaces: the participant was already connected (a reload, a second device): the
            older connection is closed and its peer removed; the others see no change.
        announce: the others are told that someone arrived.
        records: the presence records to write, in order (a replacement reads as a left
            with reason ``replaced`` and then a joined).
        resumed: the participant takes back their own seat after a drop: no record (their
            attendance stays one interval) and the others see them reconnected.
    """

    replaces: bool
    announce: bool
    records: tuple[PresenceRecord, ...]
    resumed: bool = False


def admit(grant: JoinGrant, facts: JoinFacts) -> Admitted | Refused:
    """Decide a join with a valid token. Checks run in this order: the session, the
    booking, the room's cap (which a participant already inside never hits). A
    participant with a seat who shows its resume token takes the seat back; one
    without it (a reload, another device) replaces the old connection."""
    if not facts.session_open:
        return Refused(
            "session_not_found",
            "this session does not exist or has ended",
            CloseCode.SESSION_NOT_FOUND,
        )
    if not facts.still_admitted:
        return Refused(
            "not_a_participant",
            f"you are no longer this session's {grant.role} (another tutor took it, or you "
            "were taken off it); ask your coordinator",
            CloseCode.JOIN_REFUSED,
        )
    pid = grant.participant_id
    old_role = facts.present.get(pid)
    if old_role is None and len(facts.present) >= facts.max_participants:
        return Refused(
            RoomFull.code,
            f"this session already has {facts.max_participants} participants",
            CloseCode.ROOM_FULL,
        )
    if old_role is not None and facts.resuming:
        return Admitted(replaces=True, announce=False, records=(), resumed=True)
    joined = PresenceRecord("participant.joined", grant.session_id, pid, grant.role, facts.now)
    if old_role is None:
        return Admitted(replaces=False, announce=True, records=(joined,))
    left = PresenceRecord(
        "participant.left", grant.session_id, pid, old_role, facts.now, reason="replaced"
    )
    return Admitted(replaces=True, announce=False, records=(left, joined))
