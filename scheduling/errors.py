"""Errors of the scheduling package.

Hierarchy::

    core.errors.Conflict
    ├── EmailTaken            (409 email_taken)
    ├── BookingConflict       (409 booking_conflict: one detail per conflict found)
    └── SeriesConflict        (409 booking_conflict: per conflict, the occurrence it concerns)
    core.errors.ValidationFailed
    ├── InvalidReference      (422 invalid_reference: an id in a body names nothing usable)
    └── InvalidRecurrence     (422 invalid_recurrence: the RRULE cannot be booked as it is)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from core.errors import Conflict, ErrorDetail, ValidationFailed
from scheduling.conflicts import ScheduleConflict


class EmailTaken(Conflict):
    code = "email_taken"

    def __init__(self) -> None:
        super().__init__("a user with this email address already exists; use another address")


class InvalidReference(ValidationFailed):
    code = "invalid_reference"

    def __init__(self, field: str, what: str, value: str) -> None:
        super().__init__(
            f"{field} does not name a {what} in your organisation",
            details=[
                ErrorDetail(
                    loc=["body", field],
                    message=f"no {what} with id {value}",
                    type="invalid_reference",
                )
            ],
        )


class BookingConflict(Conflict):
    """A booking or change refused because of schedule conflicts; nothing was written.

    ``details`` has one entry per conflict: ``type`` is its stable code (see
    ``scheduling.conflicts.ConflictCode``), ``loc`` the field to change, and the
    message names the clashing session where there is one. ``conflicts`` keeps
    the typed objects for callers inside the process.
    """

    code = "booking_conflict"

    def __init__(self, conflicts: Sequence[ScheduleConflict]) -> None:
        self.conflicts = list(conflicts)
        n = len(self.conflicts)
        super().__init__(
            f"the booking has {n} conflict(s) and was not made; see details, "
            "change what they name and try again",
            details=[
                ErrorDetail(loc=["body", c.field], message=c.message, type=c.code.value)
                for c in self.conflicts
            ],
        )


class InvalidRecurrence(ValidationFailed):
    """A series' rule that cannot be booked; the message says how to change it."""

    code = "invalid_recurrence"

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            details=[ErrorDetail(loc=["body", "rrule"], message=message, type=self.code)],
        )


class SeriesConflict(Conflict):
    """Occurrences of a series refused because of schedule conflicts; nothing was written.

    One detail per conflict, its ``loc`` ``["occurrences", <occurrence_start>,
    <field>]`` and its message opening with the occurrence's local time, so a
    coordinator sees which dates clash and why.
    """

    code = "booking_conflict"

    def __init__(
        self, conflicts: Sequence[tuple[datetime, ScheduleConflict]], *, zone: ZoneInfo
    ) -> None:
        self.conflicts = list(conflicts)
        dates = len({at for at, _ in self.conflicts})
        super().__init__(
            f"{dates} occurrence(s) of the series conflict with the schedule, so none was "
            "booked or changed; see details, change what they name and try again",
            details=[
                ErrorDetail(
                    loc=["occurrences", at.isoformat().replace("+00:00", "Z"), c.field],
                    message=f"occurrence {at.astimezone(zone):%a %Y-%m-%d %H:%M} {zone.key}: "
                    f"{c.message}",
                    type=c.code.value,
                )
                for at, c in self.conflicts
            ],
        )
