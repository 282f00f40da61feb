"""A session's attendance: who was in the room, when, how late, and who never came."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.permissions import load_visible, require_session_staff, visible_sessions
from api.routing import Call, Router
from scheduling.models import LiveSession
from sessions.attendance import ParticipantAttendance, session_attendance
from sessions.models import Attendance

router = Router()
TAGS = ["sessions"]


class IntervalOut(BaseModel):
    joined: datetime
    left: datetime = Field(description="The session's end for someone still in when it ended.")


class ParticipantOut(BaseModel):
    participant_id: str
    role: str = Field(description="`tutor` or `student` (as the join token said).")
    student_id: str | None = Field(description="For the session's students.")
    intervals: list[IntervalOut] = Field(
        description="In the room, oldest first; a rejoin adds one."
    )
    first_joined_at: datetime | None
    late_minutes: int | None = Field(description="Whole minutes after the scheduled start.")
    minutes_present: float
    absent: bool = Field(description="Never joined.")
    next_session_id: str | None = Field(
        default=None,
        description="A student's next session with the same tutor, once this one has ended.",
    )


class AttendanceOut(BaseModel):
    session_id: str
    final: bool = Field(
        description="Stored when the session ended; false means worked out now from "
        "presence, with open intervals closed at the current time."
    )
    ended_at: datetime | None
    participants: list[ParticipantOut]


def _minutes(seconds: int) -> float:
    return round(seconds / 60, 1)


def _stored(row: Attendance) -> ParticipantOut:
    return ParticipantOut(
        participant_id=row.participant_id,
        role=row.role,
        student_id=row.student_id,
        intervals=[
            IntervalOut(joined=datetime.fromisoformat(a), left=datetime.fromisoformat(b))
            for a, b in row.intervals
        ],
        first_joined_at=row.first_joined_at,
        late_minutes=row.late_minutes,
        minutes_present=_minutes(row.seconds_present),
        absent=row.absent,
    )


def _live(p: ParticipantAttendance) -> ParticipantOut:
    return ParticipantOut(
        participant_id=p.participant_id,
        role=p.role,
        student_id=p.student_id,
        intervals=[IntervalOut(joined=i.joined, left=i.left) for i in p.intervals],
        first_joined_at=p.first_joined_at,
        late_minutes=p.late_minutes,
        minutes_present=_minutes(p.seconds_present),
        absent=p.absent,
    )


@router.get("/api/v1/sessions/{session_id}/attendance", audit="attendance", tags=TAGS)
async def get_attendance(call: Call, session_id: str) -> AttendanceOut:
    """Who attended the session: intervals, first join, lateness, minutes present, absences.

    Stored once the session has ended (`final: true`); before that it is worked
    out from the presence records so far. The tutor is listed first, then the
    students (with `next_session_id` once the schedule has been updated), then
    anyone else who joined. Coordinators and the session's tutor may read it.
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_session_staff(p, live, "read a session's attendance")
    attendance = await session_attendance(call.db, live, now=call.now)
    next_of = {s.student_id: s.next_session_id for s in live.students}
    if attendance.final:
        people = [_stored(r) for r in attendance.stored]
    else:
        people = [_live(a) for a in attendance.computed]
    for person in people:
        if person.student_id is not None:
            person.next_session_id = next_of.get(person.student_id)
    return AttendanceOut(
        session_id=live.id, final=attendance.final, ended_at=live.ended_at, participants=people
    )
