"""After a session: its transcript, its drafted document and the tutor's review, the
approved summary for guardians, and the briefing for the next session.

Who sees what: the session's tutor and coordinators read the transcript, the
document (draft or approved) and the briefing, and review the draft; guardians
(and the student) read only the approved parent summary of their own child's
session; anyone else gets the same 404 as for a missing session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import Response

from ai_docs import (
    ComprehensionCheck,
    Item,
    SessionDocument,
    Summary,
    to_webvtt,
)
from api.permissions import (
    load_visible,
    require_session_staff,
    visible_sessions,
    visible_students,
)
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery
from core.errors import NotFound, PermissionDenied
from scheduling.models import LiveSession, Role, Student
from sessions.chat import chat_of
from sessions.documentation import (
    TranscriptState,
    briefings_for,
    finished_transcript,
    read_transcript,
)
from sessions.models import DocumentStatus, SessionDocumentRecord
from sessions.review import (
    ApprovedSummary,
    approve_draft,
    approved_summaries,
    approved_summary,
    document_of,
    documents_by_status,
    edit_draft,
)

router = Router()
TAGS = ["documents"]


class SegmentOut(BaseModel):
    index: int = Field(description="What document items cite in their `segments`.")
    start: float = Field(description="Seconds from the recording's start.")
    end: float
    speaker: str = Field(description="The participant's name.")
    role: str | None = Field(description="`tutor` or `student`.")
    participant_id: str
    text: str


class TranscriptOut(BaseModel):
    session_id: str
    state: TranscriptState = Field(
        description="`pending`: the recording is not transcribed yet (the session may still "
        "run, its room not have closed, or transcription is running or being retried); "
        "`ready`: transcribed, and `segments` is the transcript (empty when nobody spoke); "
        "`failed`: transcription failed for good (a coordinator can replay it from "
        "`/api/v1/dead-letters`); `none`: nothing to transcribe (nothing was recorded, or "
        "the session never ran)."
    )
    segments: list[SegmentOut] = Field(
        description="Complete when `state` is `ready`. Before that, at most those of the "
        "earlier parts of a recording made in several parts (the room emptied and filled "
        "again)."
    )
    untranscribed: list[str] = Field(
        description="Participants (user ids) whose audio was recorded but not transcribed: "
        "students without every guardian's `ai_processing_consent`. Nothing they said is "
        "in `segments`."
    )


class ChatLineOut(BaseModel):
    id: str
    participant_id: str
    name: str
    role: str
    text: str
    at: datetime


class ChatOut(BaseModel):
    session_id: str
    lines: list[ChatLineOut] = Field(description="Oldest first.")


class DocumentOut(BaseModel):
    id: str
    session_id: str
    status: DocumentStatus = Field(description="`draft` until approved.")
    label: str = Field(
        description="What to show about its origin: `automatic draft`, "
        "`automatic draft (offline)` or `reviewed`."
    )
    document: SessionDocument
    drafted_at: datetime
    edited_at: datetime | None
    edited_by: str | None
    approved_at: datetime | None
    approved_by: str | None = Field(description="Null for an automatic approval.")

    @classmethod
    def of(cls, row: SessionDocumentRecord) -> DocumentOut:
        document = SessionDocument.model_validate(row.content)
        return cls(
            id=row.id,
            session_id=row.session_id,
            status=row.status,
            label=document.label,
            document=document,
            drafted_at=row.drafted_at,
            edited_at=row.edited_at,
            edited_by=row.edited_by,
            approved_at=row.approved_at,
            approved_by=row.approved_by,
        )


class DocumentEdit(Input):
    """The fields a reviewer may change; those left out stay as drafted. Every item
    must still cite segments of the transcript."""

    topics: list[Item] | None = None
    went_well: list[Item] | None = None
    difficulties: list[Item] | None = None
    comprehension_checks: list[ComprehensionCheck] | None = None
    homework: list[Item] | None = None
    next_focus: list[Item] | None = None
    parent_summary: Summary | None = None


class DocumentListItem(BaseModel):
    session_id: str
    subject: str
    scheduled_start: datetime
    tutor_id: str
    student_ids: list[str]
    status: DocumentStatus
    label: str = Field(description="As on the document: `automatic draft`, ... `reviewed`.")
    drafted_at: datetime
    approved_at: datetime | None


class DocumentPage(Page[DocumentListItem]):
    pass


class DocumentQuery(PageQuery):
    status: DocumentStatus = Field(
        default=DocumentStatus.DRAFT,
        description="`draft` (the default: what awaits review, the longest waiting first) "
        "or `approved`.",
    )


class SummaryOut(BaseModel):
    session_id: str
    subject: str
    scheduled_start: datetime
    summary: str = Field(description="The approved summary for parents.")
    automatic: bool = Field(description="Approved without the tutor's review.")
    approved_at: datetime

    @classmethod
    def of(cls, live: LiveSession, summary: ApprovedSummary) -> SummaryOut:
        return cls(
            session_id=live.id,
            subject=live.subject,
            scheduled_start=live.scheduled_start,
            summary=summary.text,
            automatic=summary.automatic,
            approved_at=summary.approved_at,
        )


class SummaryPage(Page[SummaryOut]):
    pass


class BriefingOut(BaseModel):
    session_id: str = Field(description="The session it prepares.")
    student_id: str
    source_session_id: str = Field(description="The documented session that wrote it.")
    briefing: dict[str, Any] = Field(
        description="`open_difficulties`, `homework_to_check`, `suggested_focus`, "
        "`what_worked` (each item: `text`, `documents`), `based_on`, `drafted_by`."
    )
    created_at: datetime


class BriefingsOut(BaseModel):
    session_id: str
    briefings: list[BriefingOut]


async def _staff_session(call: Call, session_id: str, action: str) -> LiveSession:
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_session_staff(p, live, action)
    return live


@router.get("/api/v1/sessions/{session_id}/transcript", audit="transcript", tags=TAGS)
async def get_transcript(call: Call, session_id: str) -> TranscriptOut:
    """The session's transcript: each participant's speech in time order, with speaker
    names and roles (coordinators and the session's tutor). `state` says whether it is
    done: `pending` (ask again later), `ready`, `failed` or `none`; only `ready` with
    no segments means that nobody was heard. A student's speech is in it only when
    every guardian consented to AI processing (else they are listed in `untranscribed`)."""
    live = await _staff_session(call, session_id, "read a session's transcript")
    transcript = await read_transcript(call.db, live.id)
    return TranscriptOut(
        session_id=live.id,
        state=transcript.state,
        untranscribed=list(transcript.untranscribed),
        segments=[
            SegmentOut(
                index=r.index,
                start=r.start,
                end=r.end,
                speaker=r.speaker,
                role=r.role,
                participant_id=r.participant_id,
                text=r.text,
            )
            for r in transcript.segments
        ],
    )


@router.get("/api/v1/sessions/{session_id}/chat", audit="chat", tags=TAGS)
async def get_chat(call: Call, session_id: str) -> ChatOut:
    """What was typed in the session's room (the lesson page's chat), oldest first, for the
    session's tutor and coordinators: the review reads it beside the transcript."""
    live = await _staff_session(call, session_id, "read a session's chat")
    return ChatOut(
        session_id=live.id,
        lines=[
            ChatLineOut(
                id=r.id,
                participant_id=r.participant_id,
                name=r.name,
                role=r.role,
                text=r.text,
                at=r.at,
            )
            for r in await chat_of(call.db, live.id)
        ],
    )


@router.get(
    "/api/v1/sessions/{session_id}/captions.vtt",
    audit="transcript",
    tags=TAGS,
    media_type="text/vtt",
    errors=[409],
)
async def get_captions(call: Call, session_id: str) -> Response:
    """The transcript as WebVTT captions with `<v Speaker>` voices (as the transcript),
    once it is `ready` (an empty WebVTT file then means nobody was heard). Before that a
    JSON error instead of an empty file: 409 `transcript_pending` (not transcribed yet;
    ask again later), 409 `transcript_failed` (transcription failed for good), 404
    `no_transcript` (nothing was recorded that may be transcribed)."""
    live = await _staff_session(call, session_id, "read a session's captions")
    transcript = await finished_transcript(call.db, live.id)
    return Response(to_webvtt(transcript), media_type="text/vtt; charset=utf-8")


@router.get("/api/v1/sessions/{session_id}/document", audit="document", tags=TAGS)
async def get_document(call: Call, session_id: str) -> DocumentOut:
    """The session's document: the automatic draft until the tutor approves it. Every
    item cites transcript segments (`GET .../transcript`). Coordinators and the
    session's tutor; 404 until it is drafted."""
    live = await _staff_session(call, session_id, "read a session's document")
    return DocumentOut.of(await document_of(call.db, live.id))


@router.patch("/api/v1/sessions/{session_id}/document", audit="document", tags=TAGS, errors=[409])
async def edit_session_document(call: Call, session_id: str, body: DocumentEdit) -> DocumentOut:
    """Edit the draft before approving it (the session's tutor or a coordinator). Fields
    left out stay as they are; an approved document cannot change (409)."""
    live = await _staff_session(call, session_id, "edit a session's document")
    changes = body.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    row = await edit_draft(
        call.db, session_id=live.id, changes=changes, by=call.principal.id, now=call.now
    )
    return DocumentOut.of(row)


@router.post(
    "/api/v1/sessions/{session_id}/document/approve", audit="document", tags=TAGS, errors=[409]
)
async def approve_session_document(call: Call, session_id: str) -> DocumentOut:
    """Approve the document: its parent summary is emailed to every guardian of the
    session's students who wants summaries and consented (once). A second approval
    gets 409."""
    live = await _staff_session(call, session_id, "approve a session's document")
    row = await approve_draft(call.db, session_id=live.id, by=call.principal.id, now=call.now)
    return DocumentOut.of(row)


@router.get("/api/v1/sessions/{session_id}/summary", audit="document", tags=TAGS)
async def get_summary(call: Call, session_id: str) -> SummaryOut:
    """The approved parent summary: for guardians of the session's students, the
    students themselves, its tutor and coordinators. 404 until approved."""
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    summary = await approved_summary(call.db, live.id)
    if summary is None:
        hint = "" if p.role in (Role.GUARDIAN, Role.STUDENT) else "; approve its document first"
        raise NotFound(f"session {live.id} has no approved summary yet{hint}")
    return SummaryOut.of(live, summary)


@router.get("/api/v1/documents", audit="document", tags=TAGS)
async def list_documents(call: Call, query: DocumentQuery) -> DocumentPage:
    """Session documents by status, the longest waiting first: a tutor's drafts to review
    (their own sessions), or every draft of the organisation for a coordinator. Students
    and guardians read approved summaries instead (`GET .../summary`)."""
    p = call.principal
    if p.role not in (Role.TUTOR, Role.COORDINATOR):
        raise PermissionDenied(
            "only tutors and coordinators review documents; families read the approved "
            "summary of a session"
        )
    rows, total = await documents_by_status(
        call.db,
        status=query.status,
        visible=visible_sessions(p),
        limit=query.limit,
        offset=query.offset,
    )
    items = []
    for live, row in rows:
        document = SessionDocument.model_validate(row.content)
        items.append(
            DocumentListItem(
                session_id=live.id,
                subject=live.subject,
                scheduled_start=live.scheduled_start,
                tutor_id=live.tutor_id,
                student_ids=live.student_ids,
                status=row.status,
                label=document.label,
                drafted_at=row.drafted_at,
                approved_at=row.approved_at,
            )
        )
    return DocumentPage(items=items, total=total, limit=query.limit, offset=query.offset)


@router.get("/api/v1/students/{student_id}/summaries", audit="document", tags=TAGS)
async def list_summaries(call: Call, student_id: str, query: PageQuery) -> SummaryPage:
    """A student's approved parent summaries, newest session first: for the student's
    guardians, the student, coordinators and the tutors of those sessions (each sees the
    sessions they may see). Drafts never appear."""
    p = call.principal
    student = await load_visible(call.db, p, Student, visible_students(p), student_id, "student")
    rows, total = await approved_summaries(
        call.db,
        student_id=student.id,
        visible=visible_sessions(p),
        limit=query.limit,
        offset=query.offset,
    )
    return SummaryPage(
        items=[SummaryOut.of(live, summary) for live, summary in rows],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


@router.get("/api/v1/sessions/{session_id}/briefing", audit="document", tags=TAGS)
async def get_briefing(call: Call, session_id: str) -> BriefingsOut:
    """What the tutor should know before this session: per student, open difficulties,
    homework to check, suggested focus and what worked, drawn from their last few
    documented sessions together. Empty when there are none yet."""
    live = await _staff_session(call, session_id, "read a session's briefing")
    rows = await briefings_for(call.db, live.id)
    return BriefingsOut(
        session_id=live.id,
        briefings=[
            BriefingOut(
                session_id=r.session_id,
                student_id=r.student_id,
                source_session_id=r.source_session_id,
                briefing=r.content,
                created_at=r.created_at,
            )
            for r in rows
        ],
    )
