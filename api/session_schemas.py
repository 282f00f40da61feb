"""A booked session as the API shows it, and the fields every change to one carries.

The sessions, series, lifecycle and substitution routes all answer with
``SessionOut`` and take ``RequestedBy``/``ChangeReason``; they live here so that
no route module imports another (issue 13).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from scheduling.models import ChangeParty, LiveSession, SessionStatus

__all__ = ["ChangeReason", "RequestedBy", "SessionOut"]

RequestedBy = Annotated[
    ChangeParty,
    Field(
        description="Who asked for the change: `student` (or their guardian), `tutor`, or "
        "`organisation`. The notice policy (`LIVECLASS_LATE_CANCEL_HOURS`) flags a late one "
        "in the event and the emails, so it can be charged or followed up."
    ),
]
ChangeReason = Annotated[
    str | None, Field(default=None, max_length=500, description="Shown in the timeline.")
]


class SessionOut(BaseModel):
    id: str
    tutor_id: str
    student_ids: list[str]
    subject: str
    scheduled_start: datetime
    scheduled_end: datetime
    status: SessionStatus
    room: str
    cancelled_at: datetime | None = Field(description="When it was cancelled, if it was.")
    cancelled_by: ChangeParty | None = Field(description="Who asked for the cancellation.")
    late_cancellation: bool | None = Field(
        description="Cancelled with less notice than `LIVECLASS_LATE_CANCEL_HOURS` before its "
        "start. Null unless cancelled."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: LiveSession) -> SessionOut:
        return cls(
            id=s.id,
            tutor_id=s.tutor_id,
            student_ids=s.student_ids,
            subject=s.subject,
            scheduled_start=s.scheduled_start,
            scheduled_end=s.scheduled_end,
            status=s.status,
            room=s.room,
            cancelled_at=s.cancelled_at,
            cancelled_by=s.cancelled_by,
            late_cancellation=s.late_cancellation,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )
