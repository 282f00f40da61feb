"""Stored open requests: what students want, ranked, matched and booked by coordinators.

Coordinators only, within their organisation. A request is stored ``open``;
it is ``booked`` once a session is booked for it (through the same conflict
checks as ``POST /api/v1/sessions``) and ``withdrawn`` when no longer wanted.
Ranking and batch proposals are those of ``/api/v1/matching`` (``scheduling.proposals``);
the use cases are ``scheduling.match_requests``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api.matching_schemas import BatchOut, RankOut, RequestIn
from api.permissions import not_visible, require_coordinator
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery
from scheduling import match_requests
from scheduling.match_requests import MAX_BATCH, MatchRequestRecord, RequestStatus
from sessions import changes

router = Router()
TAGS = ["requests"]


class RequestCreate(RequestIn):
    note: str | None = Field(
        default=None, max_length=500, description="For coordinators; never shown to families."
    )


class WindowOut(BaseModel):
    start: datetime
    end: datetime


class RequestOut(BaseModel):
    id: str
    student_id: str
    subject: str
    level: str
    windows: list[WindowOut] = Field(description="When the student could meet, in UTC.")
    duration_minutes: int
    status: RequestStatus = Field(
        description="`open` until booked (`booked`, with `session_id`) or `withdrawn`."
    )
    session_id: str | None = Field(
        description="The session booked for it; null while open, withdrawn, or if that "
        "session was deleted."
    )
    note: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: MatchRequestRecord) -> RequestOut:
        return cls(
            id=r.id,
            student_id=r.student_id,
            subject=r.subject,
            level=r.level,
            windows=[WindowOut(start=w.start, end=w.end) for w in r.intervals],
            duration_minutes=r.duration_minutes,
            status=r.status,
            session_id=r.session_id,
            note=r.note,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class RequestPage(Page[RequestOut]):
    pass


class RequestQuery(PageQuery):
    status: RequestStatus | None = Field(default=None, description="Only requests in this state.")
    student_id: str | None = None
    subject: str | None = Field(default=None, description="Case-insensitive.")
    level: str | None = Field(default=None, description="Case-insensitive.")


class CandidatesOut(RankOut):
    request_id: str


class BookIn(Input):
    tutor_id: str
    start: AwareDatetime = Field(
        description="Start of the session, e.g. a candidate's `start`; it lasts the request's "
        "`duration_minutes` and must fit inside one of its windows.",
        examples=["2030-01-14T15:00:00Z"],
    )


class MatchIn(Input):
    request_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BATCH,
        description="The open requests to match; all the organisation's open requests when "
        "left out. Their windows must fall within 31 days.",
    )
    book: bool = Field(
        default=False,
        description="Book each proposal now (checked again like `POST /api/v1/sessions`) and "
        "mark its request `booked`; false only proposes.",
    )

    @model_validator(mode="after")
    def _unique(self) -> Self:
        if self.request_ids is not None and len(set(self.request_ids)) != len(self.request_ids):
            raise ValueError("request_ids must be unique")
        return self


class BookedOut(BaseModel):
    request_id: str
    session_id: str
    tutor_id: str
    start: datetime
    end: datetime


class NotBookedOut(BaseModel):
    request_id: str
    tutor_id: str
    start: datetime
    end: datetime
    code: str = Field(
        description="`booking_conflict` (the slot is no longer free), `invalid_state` (the "
        "request stopped being open) or `invalid_reference` (a participant was removed)."
    )
    reasons: list[str] = Field(description="Each conflict, naming the clashing session.")


class RequestMatchOut(BatchOut):
    expired: list[str] = Field(
        description="Open requests left out because no window has room for the session after "
        "now; withdraw them or store them again with new windows."
    )
    booked: list[BookedOut] = Field(description="With `book`: the sessions booked.")
    not_booked: list[NotBookedOut] = Field(
        description="With `book`: proposals refused when booked; their requests stay open."
    )


def _match_out(match: match_requests.RequestMatch) -> RequestMatchOut:
    out = RequestMatchOut(
        **BatchOut.of(match.proposals).model_dump(),
        expired=match.expired,
        booked=[],
        not_booked=[],
    )
    for o in match.outcomes:
        if o.session_id is not None:
            out.booked.append(
                BookedOut(
                    request_id=o.offer.request_id,
                    session_id=o.session_id,
                    tutor_id=o.offer.tutor_id,
                    start=o.offer.start,
                    end=o.end,
                )
            )
        else:
            out.not_booked.append(
                NotBookedOut(
                    request_id=o.offer.request_id,
                    tutor_id=o.offer.tutor_id,
                    start=o.offer.start,
                    end=o.end,
                    code=o.code or "conflict",
                    reasons=list(o.reasons),
                )
            )
    return out


@router.post("/api/v1/requests", tags=TAGS, status_code=201, errors=[422], idempotent=True)
async def create_request(call: Call, body: RequestCreate) -> RequestOut:
    """Store a student's request for tutoring, open until booked or withdrawn (coordinators).

    `windows` are UTC ranges when the student could meet, all within 31 days and
    each at least `duration_minutes` long; at least one must end in the future.
    A student outside your organisation is a 422 `invalid_reference` on
    `student_id`. Send an `Idempotency-Key` header to retry safely without
    storing the request twice.
    """
    p = call.principal
    require_coordinator(p, "store requests")
    record = await match_requests.store_request(
        call.db,
        org_id=p.org_id,
        student_id=body.student_id,
        subject=body.subject,
        level=body.level,
        windows=body.intervals,
        duration_minutes=body.duration_minutes,
        note=body.note,
        now=call.now,
    )
    return RequestOut.of(record)


@router.get("/api/v1/requests", tags=TAGS)
async def list_requests(call: Call, query: RequestQuery) -> RequestPage:
    """List your organisation's requests, oldest first (coordinators only).

    Filter by `status` (`open`, `booked`, `withdrawn`; all when left out),
    `student_id`, `subject` and `level` (both case-insensitive).
    """
    p = call.principal
    require_coordinator(p, "read requests")
    rows, total = await match_requests.find_requests(
        call.db,
        org_id=p.org_id,
        page=query,
        status=query.status,
        student_id=query.student_id,
        subject=query.subject,
        level=query.level,
    )
    return RequestPage(
        items=[RequestOut.of(r) for r in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.post("/api/v1/requests/match", tags=TAGS, errors=[409, 422], idempotent=True)
async def match_open_requests(call: Call, body: MatchIn) -> RequestMatchOut:
    """Propose a tutor and a slot for each open request, and with `book` book them.

    Coordinators only. Matches every open request of your organisation, or
    those in `request_ids`; requests with no room left in their windows are
    listed under `expired` and left alone. The proposals are those of
    `POST /api/v1/matching/batch`: as many requests placed as possible, each
    student's own tutor preferred, the load spread; only slots from now on.
    The requests' windows must fall within 31 days (otherwise 422: name a batch
    with `request_ids`); a named request that is not open is a 409
    `invalid_state`. With `"book": true` each proposal is booked as
    `POST /api/v1/sessions` would book it, conflict checks included, and its
    request becomes `booked` with the `session_id`. A proposal refused then
    (for example a slot taken since the proposals were made) is listed under
    `not_booked` with the reasons; its request stays open and the others are
    still booked. Send an `Idempotency-Key` header to retry safely.
    """
    p = call.principal
    require_coordinator(p, "match requests")
    match = await changes.match_and_book(
        call.db, org_id=p.org_id, request_ids=body.request_ids, book=body.book, now=call.now
    )
    return _match_out(match)


@router.get("/api/v1/requests/{request_id}", tags=TAGS)
async def get_request(call: Call, request_id: str) -> RequestOut:
    """Read one request of your organisation (coordinators only)."""
    p = call.principal
    require_coordinator(p, "read requests")
    record = await match_requests.find_request(call.db, org_id=p.org_id, request_id=request_id)
    if record is None:
        raise not_visible(p, "request", request_id)
    return RequestOut.of(record)


@router.post("/api/v1/requests/{request_id}/withdraw", tags=TAGS, errors=[409])
async def withdraw_request(call: Call, request_id: str) -> RequestOut:
    """Withdraw an open request: it is no longer matched or booked (coordinators only).

    A request that is already booked or withdrawn is a 409 `invalid_state`; to
    call off a booked one, cancel its session.
    """
    p = call.principal
    require_coordinator(p, "withdraw requests")
    record = await match_requests.withdraw_request(
        call.db, org_id=p.org_id, request_id=request_id, now=call.now
    )
    if record is None:
        raise not_visible(p, "request", request_id)
    return RequestOut.of(record)


@router.get("/api/v1/requests/{request_id}/candidates", tags=TAGS, errors=[409])
async def request_candidates(call: Call, request_id: str) -> CandidatesOut:
    """Rank the tutors who could take this open request, each with the slot offered and why.

    As `POST /api/v1/matching/rank`: tutors qualified for its subject at its
    level and free for `duration_minutes` inside a window (from now on), the
    student's own tutors first, then the least loaded that week; the others
    under `excluded` with the reason. Book one with
    `POST /api/v1/requests/{id}/book`. A request that is not open, or whose
    windows have all passed, is a 409.
    """
    p = call.principal
    require_coordinator(p, "match tutors to requests")
    found = await match_requests.rank_for_request(
        call.db, org_id=p.org_id, request_id=request_id, now=call.now
    )
    if found is None:
        raise not_visible(p, "request", request_id)
    record, ranked = found
    return CandidatesOut(request_id=record.id, **RankOut.of(ranked).model_dump())


@router.post("/api/v1/requests/{request_id}/book", tags=TAGS, errors=[409, 422], idempotent=True)
async def book_open_request(call: Call, request_id: str, body: BookIn) -> RequestOut:
    """Book this open request with a tutor at a start, and mark it `booked` (coordinators).

    The session lasts the request's `duration_minutes` and must fit inside one
    of its windows (else 422). It is checked as `POST /api/v1/sessions` checks a
    booking, including the tutor's qualification at the student's own level: a
    409 `booking_conflict` lists every conflict, and nothing changes (the request
    stays open). A request that is not open is a 409 `invalid_state`.
    """
    p = call.principal
    require_coordinator(p, "book requests")
    record = await changes.book_open_request(
        call.db,
        org_id=p.org_id,
        request_id=request_id,
        tutor_id=body.tutor_id,
        start=body.start,
        now=call.now,
    )
    if record is None:
        raise not_visible(p, "request", request_id)
    return RequestOut.of(record)
