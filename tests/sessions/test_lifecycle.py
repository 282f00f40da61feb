"""The session state machine: every allowed move, and every refusal naming the state."""

from __future__ import annotations

import pytest

from scheduling.models import SessionStatus as S
from sessions.errors import InvalidTransition
from sessions.lifecycle import TRANSITIONS, Action, allowed_actions, transition

ALLOWED = {
    (S.SCHEDULED, Action.OPEN): S.OPEN,
    (S.SCHEDULED, Action.CANCEL): S.CANCELLED,
    (S.SCHEDULED, Action.NO_SHOW): S.NO_SHOW,
    (S.OPEN, Action.START): S.LIVE,
    (S.OPEN, Action.CANCEL): S.CANCELLED,
    (S.OPEN, Action.NO_SHOW): S.NO_SHOW,
    (S.LIVE, Action.END): S.ENDED,
    (S.ENDED, Action.DOCUMENT): S.DOCUMENTED,
}


@pytest.mark.parametrize(("state", "action"), list(ALLOWED))
def test_allowed_transitions(state: S, action: Action) -> None:
    assert transition(state, action) is ALLOWED[(state, action)]


REFUSED = [(state, action) for state in S for action in Action if (state, action) not in ALLOWED]


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_every_other_move_is_refused_naming_the_state(state: S, action: Action) -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(state, action)
    assert f"a session that is {state.value}" in caught.value.message
    assert caught.value.status_code == 409 and caught.value.code == "invalid_transition"


def test_refusal_says_what_is_possible_instead() -> None:
    with pytest.raises(InvalidTransition, match="from scheduled you can: open, cancel, no_show"):
        transition(S.SCHEDULED, Action.END)
    with pytest.raises(InvalidTransition, match=r"cannot end a session that is cancelled$"):
        transition(S.CANCELLED, Action.END)


def test_closed_states_allow_nothing_but_documenting_an_ended_one() -> None:
    assert allowed_actions(S.ENDED) == [Action.DOCUMENT]
    for state in (S.DOCUMENTED, S.CANCELLED, S.NO_SHOW):
        assert allowed_actions(state) == []
    assert set(TRANSITIONS) == set(Action)
