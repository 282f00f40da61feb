"""The lifecycle's event handlers, ready to register with a bus."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from eventbus.bus import Handler
from sessions.attendance import AttendanceHandler
from sessions.facts import FactsHandler
from sessions.schedule_update import ScheduleUpdateHandler
from sessions.session_exceptions import ExceptionsHandler


def lifecycle_handlers(*, clock: Callable[[], datetime], consent_age: int) -> list[Handler]:
    """The handlers of the session lifecycle, by stable name.

    - ``attendance`` (``session.ended``): stores each participant's attendance;
    - ``exceptions`` (``session.ended``, ``session.no_show``): raises
      ``student_absent`` and ``tutor_no_show``, each with ``exception.raised``;
    - ``schedule_update`` (``session.ended``): sets ``ended_at`` and links each
      student's next session with the same tutor;
    - ``facts`` (the end or no-show, the transcript, the draft, the approval): keeps
      the session's structured data (``sessions.facts``) in step.

    Args:
        clock: the time source for what the handlers stamp (``computed_at``, ``raised_at``).
        consent_age: from which birthday a student's own consent counts (``sessions.consent``).
    """
    return [
        AttendanceHandler(clock=clock),
        ExceptionsHandler(clock=clock),
        ScheduleUpdateHandler(),
        FactsHandler(clock=clock, consent_age=consent_age),
    ]
