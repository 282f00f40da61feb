"""Admission to a room as a pure decision: the facts of a join in, a refusal or an admission out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signaling.admission import Admitted, JoinFacts, Refused, admit
from signaling.presence import PresenceRecord
from signaling.protocol import CloseCode
from signaling.tokens import JoinGrant
from tests.conftest import NOW

GRANT = JoinGrant(
    session_id="ses_1",
    participant_id="usr_student",
    role="student",
    name="Sam",
    expires_at=NOW + timedelta(hours=1),
)


def _facts(**values: object) -> JoinFacts:
    defaults: dict[str, object] = {
        "session_open": True,
        "still_admitted": True,
        "present": {"usr_tutor": "tutor"},
        "max_participants": 3,
        "now": NOW,
    }
    return JoinFacts(**(defaults | values))  # type: ignore[arg-type]


def test_a_first_join_is_admitted_announced_and_recorded() -> None:
    """A newcomer gets in, the others are told, one joined record is written."""
    assert admit(GRANT, _facts()) == Admitted(
        replaces=False,
        announce=True,
        records=(PresenceRecord("participant.joined", "ses_1", "usr_student", "student", NOW),),
    )


def test_a_rejoin_replaces_the_old_connection_quietly() -> None:
    """The same participant again replaces the old connection, even in a full room; nobody is
    told, and the records read left (replaced, with the old role) then joined."""
    facts = _facts(present={"usr_tutor": "tutor", "usr_student": "guest"}, max_participants=2)
    assert admit(GRANT, facts) == Admitted(
        replaces=True,
        announce=False,
        records=(
            PresenceRecord("participant.left", "ses_1", "usr_student", "guest", NOW, "replaced"),
            PresenceRecord("participant.joined", "ses_1", "usr_student", "student", NOW),
        ),
    )


def test_a_resume_takes_the_seat_back_without_a_record() -> None:
    """Back with the seat's resume token: no left or joined record (attendance stays one
    interval), nobody told of a newcomer; a full room does not keep them out."""
    facts = _facts(
        present={"usr_tutor": "tutor", "usr_student": "student"}, max_participants=2, resuming=True
    )
    assert admit(GRANT, facts) == Admitted(replaces=True, announce=False, records=(), resumed=True)


def test_a_resume_token_without_a_seat_is_a_first_join() -> None:
    """The seat's grace ran out: the token takes nothing back, the join is a new one."""
    decision = admit(GRANT, _facts(resuming=True))
    assert isinstance(decision, Admitted) and decision.announce and not decision.resumed


def test_a_resume_does_not_get_past_a_removal() -> None:
    """Taken off the session while away: the seat is not given back."""
    facts = _facts(still_admitted=False, present={"usr_student": "student"}, resuming=True)
    decision = admit(GRANT, facts)
    assert isinstance(decision, Refused) and decision.code == "not_a_participant"


@pytest.mark.parametrize(
    ("facts", "code", "close_code"),
    [
        (_facts(session_open=False), "session_not_found", CloseCode.SESSION_NOT_FOUND),
        (_facts(still_admitted=False), "not_a_participant", CloseCode.JOIN_REFUSED),
        (
            _facts(present={"a": "tutor", "b": "student", "c": "student"}),
            "room_full",
            CloseCode.ROOM_FULL,
        ),
        # The session is checked first, then the booking, then the cap.
        (
            _facts(session_open=False, still_admitted=False, present={"a": "tutor"}),
            "session_not_found",
            CloseCode.SESSION_NOT_FOUND,
        ),
        (
            _facts(still_admitted=False, present={"a": "t", "b": "s", "c": "s"}),
            "not_a_participant",
            CloseCode.JOIN_REFUSED,
        ),
    ],
    ids=["ended", "taken off", "full", "ended beats taken off", "taken off beats full"],
)
def test_refusals_say_why_and_how_to_close(facts: JoinFacts, code: str, close_code: int) -> None:
    """Each refusal names its reason, a message for the user and the close code."""
    decision = admit(GRANT, facts)
    assert isinstance(decision, Refused)
    assert (decision.code, decision.close_code) == (code, close_code)
    assert decision.message


def test_someone_taken_off_the_session_is_told_what_to_do() -> None:
    """The refusal of someone taken off the session names their role and who to ask."""
    decision = admit(GRANT, _facts(still_admitted=False))
    assert isinstance(decision, Refused)
    assert "student" in decision.message and "coordinator" in decision.message
