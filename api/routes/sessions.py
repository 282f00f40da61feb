"""Live sessions as bookings, and the join tokens that admit their participants."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field

from api.permissions import (
    load_visible,
    require_coordinator,
    require_session_staff,
    visible_sessions,
)
from api.routing import Call, Router
from api.schemas import Input, Label, Page, PageQuery, Patch
from api.session_schemas import ChangeReason, RequestedBy, SessionOut
from core.errors import NotFound, PermissionDenied
from core.logging import get_logger
from scheduling.bookings import find_sessions
from scheduling.models import ChangeParty, LiveSession, Role, SessionStatus
from sessions import changes
from sessions.changes import change_session, delete_booking
from sessions.join_terms import join_terms, lesson_facts
from sessions.lifecycle import Action
from sessions.models import Presence, PresenceType
from sessions.presence_log import presence_of
from sessions.service import apply
from signaling.tokens import JoinGrant, issue_join_token, verify_join_token

router = Router()
TAGS = ["sessions"]
log = get_logger("liveclass.sessions")


class SessionCreate(Input):
    tutor_id: str
    student_ids: list[str] = Field(min_length=1, max_length=50)
    subject: Label
    scheduled_start: AwareDatetime = Field(
        description="With a UTC offset, e.g. 2026-11-23T15:00:00Z."
    )
    scheduled_end: AwareDatetime


class SessionUpdate(Patch):
    NOT_NULL = (
        "tutor_id",
        "student_ids",
        "subject",
        "scheduled_start",
        "scheduled_end",
        "requested_by",
    )

    tutor_id: str | None = None
    student_ids: list[str] | None = Field(default=None, min_length=1, max_length=50)
    subject: Label | None = None
    scheduled_start: AwareDatetime | None = None
    scheduled_end: AwareDatetime | None = None
    requested_by: RequestedBy = ChangeParty.ORGANISATION
    reason: ChangeReason = None


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
    rows, total = await find_sessions(
        call.db,
        visible=visible_sessions(call.principal),
        page=query,
        tutor_id=query.tutor_id,
        student_id=query.student_id,
        status=query.status,
        starts_after=query.starts_after,
        starts_before=query.starts_before,
        late_cancellation=query.late_cancellation,
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
    live = await changes.book(
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
    live = await change_session(
        call.db,
        live,
        org_id=p.org_id,
        tutor_id=body.tutor_id,
        student_ids=body.student_ids,
        subject=body.subject,
        scheduled_start=body.scheduled_start,
        scheduled_end=body.scheduled_end,
        requested_by=body.requested_by,
        late_after=timedelta(hours=call.services.settings.late_cancel_hours),
        now=call.now,
        by=p.id,
        reason=body.reason,
    )
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
    await delete_booking(call.db, live)


@router.get("/api/v1/sessions/{session_id}/presence", audit="attendance", tags=TAGS)
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
    rows, total = await presence_of(call.db, live.id, page=query)
    return PresencePage(
        items=[PresenceOut.of(r) for r in rows], total=total, limit=query.limit, offset=query.offset
    )


class LessonOut(BaseModel):
    session_id: str
    role: str = Field(description="The join token holder's role in it: `tutor` or `student`.")
    subject: str
    tutor_name: str
    student_names: list[str]
    scheduled_start: datetime
    scheduled_end: datetime
    status: SessionStatus


@router.get("/api/v1/sessions/{session_id}/lesson", tags=TAGS, auth=False, errors=[401])
async def lesson_header(call: Call, session_id: str) -> LessonOut:
    """What the lesson page shows above the call: the subject, the tutor's and students'
    names and the scheduled times. For whoever holds a join token to this session, sent
    as `X-Join-Token` (the lesson page has no login of its own); 401 otherwise."""
    token = call.request.headers.get("x-join-token")
    grant = verify_join_token(
        token, secret=call.services.secret, session_id=session_id, now=call.now
    )
    live = await call.db.get(LiveSession, session_id)
    if live is None:
        raise NotFound(f"no session {session_id}")
    facts = await lesson_facts(call.db, live)
    return LessonOut(
        session_id=live.id,
        role=grant.role,
        subject=facts.subject,
        tutor_name=facts.tutor_name,
        student_names=facts.student_names,
        scheduled_start=facts.scheduled_start,
        scheduled_end=facts.scheduled_end,
        status=live.status,
    )


@router.post(
    "/api/v1/sessions/{session_id}/lesson/end", tags=TAGS, auth=False, errors=[401, 403, 409]
)
async def end_lesson(call: Call, session_id: str) -> SessionOut:
    """End the lesson for everyone, from the lesson page: its tutor's join token, sent as
    `X-Join-Token` (a student's gets 403). The session ends (`session.ended`, as
    `POST .../end`), and everyone in its room is let go: the signaling connections close
    with 4410, so the pages do not rejoin. Only a `live` session can end (409)."""
    grant = verify_join_token(
        call.request.headers.get("x-join-token"),
        secret=call.services.secret,
        session_id=session_id,
        now=call.now,
    )
    if grant.role != "tutor":
        raise PermissionDenied("only the session's tutor ends the lesson; leave it instead")
    # Its own transaction, committed before the room is let go: a page told the lesson
    # ended must find it ended.
    async with call.services.sessionmaker() as db, db.begin():
        await apply(db, session_id, Action.END, now=call.now, by=grant.participant_id)
        live = await db.get(LiveSession, session_id)
        if live is None:
            raise NotFound(f"no session {session_id}")
        ended = SessionOut.of(live)
    await call.request.app.state.signaling.end_room(session_id)
    return ended


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
    terms = await join_terms(
        call.db,
        live,
        user_id=p.id,
        grace=timedelta(seconds=call.services.settings.join_token_grace_seconds),
        now=call.now,
    )
    grant = JoinGrant(
        session_id=live.id,
        participant_id=p.id,
        role=p.role.value,
        name=terms.name,
        expires_at=terms.expires_at,
    )
    token = issue_join_token(grant, secret=call.services.secret, now=call.now)
    return JoinTokenOut(
        token=token,
        session_id=live.id,
        participant_id=p.id,
        role=p.role.value,
        expires_at=terms.expires_at,
    )
