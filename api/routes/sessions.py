"""Live sessions as bookings, and the join tokens that admit their participants."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from api.people import reject_nulls
from api.permissions import (
    load_visible,
    require_coordinator,
    require_session_staff,
    visible_sessions,
)
from api.routing import Call, Router
from api.schemas import Input, Label, Page, PageQuery
from core.errors import Conflict, PermissionDenied
from core.logging import get_logger
from core.pagination import fetch_page
from eventbus.models import OutboxEvent
from scheduling.bookings import book_session, check_conflicts, check_participants, check_times
from scheduling.models import (
    ChangeParty,
    LiveSession,
    Presence,
    PresenceType,
    Role,
    SessionStatus,
    SessionStudent,
    User,
)
from sessions.changes import Slot, rescheduled, retutored
from signaling.tokens import JoinGrant, issue_join_token

router = Router()
TAGS = ["sessions"]
log = get_logger("liveclass.sessions")
_CLOSED = {
    SessionStatus.ENDED,
    SessionStatus.DOCUMENTED,
    SessionStatus.CANCELLED,
    SessionStatus.NO_SHOW,
}


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


class SessionCreate(Input):
    tutor_id: str
    student_ids: list[str] = Field(min_length=1, max_length=50)
    subject: Label
    scheduled_start: AwareDatetime = Field(
        description="With a UTC offset, e.g. 2026-11-23T15:00:00Z."
    )
    scheduled_end: AwareDatetime


class SessionUpdate(Input):
    tutor_id: str | None = None
    student_ids: list[str] | None = Field(default=None, min_length=1, max_length=50)
    subject: Label | None = None
    scheduled_start: AwareDatetime | None = None
    scheduled_end: AwareDatetime | None = None
    requested_by: RequestedBy = ChangeParty.ORGANISATION
    reason: ChangeReason = None


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


class SessionPage(Page[SessionOut]):
    pass


class SessionQuery(PageQuery):
    tutor_id: str | None = None
    student_id: str | None = None
    status: SessionStatus | None = None
    starts_after: AwareDatetime | None = Field(
        default=None, description="Scheduled start at or after this."
    )
    starts_before: AwareDatetime | None = Field(
        default=None, description="Scheduled start before this."
    )
    late_cancellation: bool | None = Field(
        default=None, description="`true`: only sessions cancelled late; `false`: in time."
    )


class JoinTokenOut(BaseModel):
    token: str = Field(description="Present it as the first signaling message (`join`).")
    session_id: str
    participant_id: str
    role: str
    expires_at: datetime


class PresenceOut(BaseModel):
    """A participant joined or left the session's room."""

    id: int = Field(description="Grows with each record; orders records with the same `at`.")
    type: PresenceType
    participant_id: str
    role: str = Field(description="The role the join token gave: `tutor` or `student`.")
    at: datetime
    reason: str | None = Field(
        description="Why they left: `left` (said so), `disconnected`, `timeout` (went silent) "
        "or `replaced` (the same participant joined again from another connection). "
        "Null for `participant.joined`."
    )

    @classmethod
    def of(cls, r: Presence) -> PresenceOut:
        return cls(
            id=r.id,
            type=r.type,
            participant_id=r.participant_id,
            role=r.role,
            at=r.at,
            reason=r.reason,
        )


class PresencePage(Page[PresenceOut]):
    pass


@router.get("/api/v1/sessions", tags=TAGS)
async def list_sessions(call: Call, query: SessionQuery) -> SessionPage:
    """List the sessions you can see, by tutor, student, status or start time."""
    where = [visible_sessions(call.principal)]
    if query.tutor_id:
        where.append(LiveSession.tutor_id == query.tutor_id)
    if query.student_id:
        attending = select(SessionStudent.session_id).where(
            SessionStudent.student_id == query.student_id
        )
        where.append(LiveSession.id.in_(attending))
    if query.status:
        where.append(LiveSession.status == query.status)
    if query.starts_after:
        where.append(LiveSession.scheduled_start >= query.starts_after)
    if query.starts_before:
        where.append(LiveSession.scheduled_start < query.starts_before)
    if query.late_cancellation is not None:
        where.append(LiveSession.late_cancellation.is_(query.late_cancellation))
    rows, total = await fetch_page(
        call.db,
        select(LiveSession),
        where=where,
        order_by=[LiveSession.scheduled_start, LiveSession.id],
        page=query,
    )
    return SessionPage(
        items=[SessionOut.of(s) for s in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.post("/api/v1/sessions", tags=TAGS, status_code=201, errors=[409], idempotent=True)
async def create_session(call: Call, body: SessionCreate) -> SessionOut:
    """Book a session for a tutor and one or more students (coordinators only).

    Refused with 409 `booking_conflict` when the tutor or a student is already
    booked then, the time is outside the tutor's availability, the tutor is not
    qualified for the subject at the students' levels, or it would break the
    tutor's daily/weekly limit or buffer. `details` lists every conflict (`type`
    is its code); nothing is written. Availability and qualifications apply once
    they are set for the tutor (`/api/v1/tutors/{id}/availability`, `.../qualifications`).
    Send an `Idempotency-Key` header to retry safely without booking twice.
    """
    p = call.principal
    require_coordinator(p, "book sessions")
    live = await book_session(
        call.db,
        org_id=p.org_id,
        tutor_id=body.tutor_id,
        student_ids=body.student_ids,
        subject=body.subject,
        scheduled_start=body.scheduled_start,
        scheduled_end=body.scheduled_end,
        now=call.now,
    )
    return SessionOut.of(live)


@router.get("/api/v1/sessions/{session_id}", tags=TAGS)
async def get_session(call: Call, session_id: str) -> SessionOut:
    """Read one session."""
    p = call.principal
    return SessionOut.of(
        await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    )


@router.patch("/api/v1/sessions/{session_id}", tags=TAGS, errors=[409])
async def update_session(call: Call, session_id: str, body: SessionUpdate) -> SessionOut:
    """Change a scheduled session's tutor, students, subject or times (coordinators only).

    The changed session is checked for conflicts as a new booking is (409
    `booking_conflict`, every conflict in `details`, nothing written). New
    times emit `session.rescheduled` (old and new times, `requested_by`,
    `notice_hours`, `late`), which emails its guardians, students and tutor;
    reminders follow the new time. A new `tutor_id` emits
    `session.tutor_substituted`, and its guardians and both tutors are emailed;
    for a tutor who cannot come, `POST /api/v1/sessions/{id}/substitute` also
    resolves their `tutor_no_show`.
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_coordinator(p, "change sessions")
    reject_nulls(body, *(body.model_fields_set - {"reason"}))
    if live.status is not SessionStatus.SCHEDULED:
        raise Conflict(
            f"only a scheduled session can be changed; this one is {live.status.value}",
            code="invalid_state",
        )
    start = body.scheduled_start or live.scheduled_start
    end = body.scheduled_end or live.scheduled_end
    check_times(start, end)
    student_ids = body.student_ids if body.student_ids is not None else live.student_ids
    tutor_id = body.tutor_id or live.tutor_id
    await check_participants(call.db, org_id=p.org_id, tutor_id=tutor_id, student_ids=student_ids)
    await check_conflicts(
        call.db,
        tutor_id=tutor_id,
        student_ids=student_ids,
        subject=body.subject or live.subject,
        scheduled_start=start,
        scheduled_end=end,
        session_id=live.id,
    )
    before = Slot.of(live)
    live.tutor_id, live.scheduled_start, live.scheduled_end = tutor_id, start, end
    if body.subject is not None:
        live.subject = body.subject
    if body.student_ids is not None:
        keep = {s.student_id: s for s in live.students}
        live.students = [
            keep.get(sid) or SessionStudent(student_id=sid) for sid in dict.fromkeys(student_ids)
        ]
    live.updated_at = call.now
    await call.db.flush()
    rescheduled(
        call.db,
        live,
        before,
        now=call.now,
        requested_by=body.requested_by,
        late_after=timedelta(hours=call.services.settings.late_cancel_hours),
        by=p.id,
        reason=body.reason,
    )
    retutored(call.db, live, before, now=call.now, by=p.id)
    return SessionOut.of(live)


@router.delete("/api/v1/sessions/{session_id}", tags=TAGS, errors=[409])
async def delete_session(call: Call, session_id: str) -> None:
    """Delete a booking made by mistake (coordinators only): one that has not started,
    nobody has joined and that has no events yet. Nobody is told; to call off a
    session people expect, or one already moved, cancel it instead
    (`POST /api/v1/sessions/{id}/cancel`), which keeps its history and emails them.
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_coordinator(p, "delete sessions")
    if live.status is not SessionStatus.SCHEDULED:
        raise Conflict(
            f"only a scheduled session can be deleted; this one is {live.status.value}",
            code="invalid_state",
        )
    attended = select(Presence.id).where(Presence.session_id == live.id).limit(1)
    if await call.db.scalar(attended) is not None:
        raise Conflict(
            "someone has already joined this session, and its presence records are kept; "
            "it can no longer be deleted",
            code="invalid_state",
        )
    history = select(OutboxEvent.id).where(OutboxEvent.session_id == live.id).limit(1)
    if await call.db.scalar(history) is not None:
        raise Conflict(
            "this session has a history (it was moved or substituted) that is kept; "
            "cancel it instead: POST /api/v1/sessions/{id}/cancel",
            code="invalid_state",
        )
    await call.db.delete(live)


@router.get("/api/v1/sessions/{session_id}/presence", tags=TAGS)
async def list_presence(call: Call, session_id: str, query: PageQuery) -> PresencePage:
    """List who joined and left this session's room, in the order it happened.

    One record per `participant.joined` and `participant.left` that the
    signaling server saw, written as it happened. A participant who joins again
    from another connection (a reload, a second device) shows a
    `participant.left` with reason `replaced`, then a `participant.joined`.
    Coordinators and the session's tutor may read them; its students and
    guardians get 403.
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_session_staff(p, live, "read who attended a session")
    rows, total = await fetch_page(
        call.db,
        select(Presence),
        where=[Presence.session_id == live.id],
        order_by=[Presence.at, Presence.id],
        page=query,
    )
    return PresencePage(
        items=[PresenceOut.of(r) for r in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.post("/api/v1/sessions/{session_id}/join-token", tags=TAGS, status_code=201, errors=[409])
async def create_join_token(call: Call, session_id: str) -> JoinTokenOut:
    """Get a token that admits you, a participant, to this session's room.

    Only the session's tutor and its students get one; it expires
    `LIVECLASS_JOIN_TOKEN_GRACE_SECONDS` after the scheduled end.
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    if p.kind != "user":
        raise PermissionDenied(
            "join tokens are for the session's participants; log in as one of them"
        )
    participant = (p.role is Role.TUTOR and live.tutor_id == p.tutor_id) or (
        p.role is Role.STUDENT and p.student_id in live.student_ids
    )
    if not participant:
        log.warning("join token refused", principal=p.id, role=p.role.value, session=live.id)
        raise PermissionDenied("only this session's tutor and students can join it")
    expires_at = live.scheduled_end + timedelta(
        seconds=call.services.settings.join_token_grace_seconds
    )
    if live.status.is_closed or expires_at <= call.now:
        raise Conflict(
            f"this session is over ({live.status.value}); it can no longer be joined",
            code="session_closed",
        )
    name = await call.db.scalar(select(User.display_name).where(User.id == p.id))
    grant = JoinGrant(
        session_id=live.id,
        participant_id=p.id,
        role=p.role.value,
        name=name or "",
        expires_at=expires_at,
    )
    token = issue_join_token(grant, secret=call.services.secret, now=call.now)
    return JoinTokenOut(
        token=token,
        session_id=live.id,
        participant_id=p.id,
        role=p.role.value,
        expires_at=expires_at,
    )
