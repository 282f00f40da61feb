"""The live session's state machine: which transitions exist, and why one is refused.

No I/O here: ``sessions.service`` loads a session, asks ``transition`` for the
new state, and writes it with its events in one transaction.

::

    scheduled ──open──▶ open ──start──▶ live ──end──▶ ended ──document──▶ documented
        │                 │
        ├──cancel──▶ cancelled ◀──cancel──┤
        └──no_show──▶ no_show ◀──no_show──┘

A session opens a few minutes before its start (the room is ready), goes live
when the first participant joins, and ends by hand, when everyone has left, or
after its scheduled end plus a grace period. Nobody joining within the no-show
window after the start makes it a no-show. Ended sessions are documented once
their summary is drafted. Every other move is refused with an error that names
the state the session is in.
"""

from __future__ import annotations

from enum import StrEnum

from scheduling.models import SessionStatus
from sessions.errors import InvalidTransition

S = SessionStatus


class Action(StrEnum):
    OPEN = "open"
    START = "start"
    END = "end"
    DOCUMENT = "document"
    CANCEL = "cancel"
    NO_SHOW = "no_show"


# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[Action, tuple[frozenset[SessionStatus], SessionStatus]] = {
    Action.OPEN: (frozenset({S.SCHEDULED}), S.OPEN),
    Action.START: (frozenset({S.OPEN}), S.LIVE),
    Action.END: (frozenset({S.LIVE}), S.ENDED),
    Action.DOCUMENT: (frozenset({S.ENDED}), S.DOCUMENTED),
    Action.CANCEL: (frozenset({S.SCHEDULED, S.OPEN}), S.CANCELLED),
    Action.NO_SHOW: (frozenset({S.SCHEDULED, S.OPEN}), S.NO_SHOW),
}

# The domain event each transition emits.
EVENT_TYPES: dict[Action, str] = {
    Action.OPEN: "session.opened",
    Action.START: "session.started",
    Action.END: "session.ended",
    Action.DOCUMENT: "session.documented",
    Action.CANCEL: "session.cancelled",
    Action.NO_SHOW: "session.no_show",
}

_VERBS = {
    Action.OPEN: "open",
    Action.START: "start",
    Action.END: "end",
    Action.DOCUMENT: "document",
    Action.CANCEL: "cancel",
    Action.NO_SHOW: "mark as a no-show",
}


def transition(current: SessionStatus, action: Action) -> SessionStatus:
    """The state ``action`` leads to from ``current``.

    Raises:
        InvalidTransition: ``action`` is not allowed from ``current``; the
            message names the current state and what it allows.
    """
    sources, target = TRANSITIONS[action]
    if current not in sources:
        allowed = [a.value for a in allowed_actions(current)]
        hint = f"; from {current.value} you can: {', '.join(allowed)}" if allowed else ""
        raise InvalidTransition(f"cannot {_VERBS[action]} a session that is {current.value}{hint}")
    return target


def allowed_actions(current: SessionStatus) -> list[Action]:
    return [action for action, (sources, _) in TRANSITIONS.items() if current in sources]
