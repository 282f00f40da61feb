"""The notice policy: how much warning a cancellation or a move gave, and whether it was late.

Pure arithmetic, no I/O, so the API, the series code and the tests agree on
one definition. Notice is counted from the change to the start of the slot
given up (the old start, for a move); a change after the start has none. A
change with less notice than the policy asks (``LIVECLASS_LATE_CANCEL_HOURS``,
24 h by default) is *late*: the session and its event say so, and the emails
that tell guardians, students and the tutor say it was short notice, so an
operation can charge for, or follow up on, late cancellations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Notice:
    """The warning one change gave."""

    given: timedelta
    late: bool

    @property
    def hours(self) -> float:
        """Notice in hours, to one decimal (events and emails carry this)."""
        return round(self.given.total_seconds() / 3600, 1)


def notice_for(start: datetime, *, now: datetime, required: timedelta) -> Notice:
    """The notice a change made at ``now`` gives for a slot starting at ``start``.

    Args:
        start: the start of the slot being cancelled or moved away from.
        required: the policy's minimum; less than this is late. Zero means
            no change is ever late.
    """
    given = max(start - now, timedelta(0))
    return Notice(given=given, late=given < required)
