"""Stored open requests: what students want, ranked, matched and booked by coordinators.

Coordinators only, within their organisation. A request is stored ``open``;
it is ``booked`` once a session is booked for it (through the same conflict
checks as ``POST /api/v1/sessions``) and ``withdrawn`` when no longer wanted.
Ranking and batch proposals are those of ``api.routes.matching``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlalchemy import func, select

from api.permissions import not_visible, require_coordinator
from api.routes.matching import (
    MAX_SPAN,
    BatchOut,
    RankOut,
    RequestIn,
    check_students,
    propose,
    rank_one,
)
from api.routing import Call, Router
from api.schemas import Input, Page, PageQuery
from core.errors import Conflict, ErrorDetail, ValidationFailed
from core.pagination import fetch_page
from scheduling.availability import Interval
from scheduling.match_requests import (
    MatchRequestRecord,
    Offer,
    RequestStatus,
    book_offers,
    book_request,
    new_request,
    require_open,
    to_match_request,
    withdraw,
)
from scheduling.matching import MatchRequest

router = Router()
TAGS = ["requests"]
MAX_BATCH = 2000


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


async def _load(call: Call, request_id: str, *, lock: bool = False) -> MatchRequestRecord:
    p = call.principal
    stmt = select(MatchRequestRecord).where(
        MatchRequestRecord.id == request_id, MatchRequestRecord.org_id == p.org_id
    )
    record = await call.db.scalar(stmt.with_for_update() if lock else stmt)
    if record is None:
        raise not_visible(p, "request", request_id)
    return record


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
    await check_students(call, [(["body", "student_id"], body.student_id)])
    if all(w.end <= call.now for w in body.windows):
        raise ValidationFailed(
            "every window has already passed; give windows in the future",
            details=[
                ErrorDetail(
                    loc=["body", "windows"], message="all windows have passed", type="value_error"
                )
            ],
        )
    record = new_request(
        org_id=p.org_id,
        student_id=body.student_id,
        subject=body.subject,
        level=body.level,
        windows=[Interval(w.start, w.end) for w in body.windows],
        duration_minutes=body.duration_minutes,
        note=body.note,
        now=call.now,
    )
    call.db.add(record)
    await call.db.flush()
    return RequestOut.of(record)


@router.get("/api/v1/requests", tags=TAGS)
async def list_requests(call: Call, query: RequestQuery) -> RequestPage:
    """List your organisation's requests, oldest first (coordinators only).

    Filter by `status` (`open`, `booked`, `withdrawn`; all when left out),
    `student_id`, `subject` and `level` (both case-insensitive).
    """
    p = call.principal
    require_coordinator(p, "read requests")
    where = [MatchRequestRecord.org_id == p.org_id]
    if query.status:
        where.append(MatchRequestRecord.status == query.status)
    if query.student_id:
        where.append(MatchRequestRecord.student_id == query.student_id)
    if query.subject:
        where.append(func.lower(MatchRequestRecord.subject) == query.subject.strip().lower())
    if query.level:
        where.append(func.lower(MatchRequestRecord.level) == query.level.strip().lower())
    rows, total = await fetch_page(
        call.db,
        select(MatchRequestRecord),
        where=where,
        order_by=[MatchRequestRecord.created_at, MatchRequestRecord.id],
        page=query,
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
    mine = select(MatchRequestRecord).where(MatchRequestRecord.org_id == p.org_id)
    if body.request_ids is not None:
        found = {
            r.id: r
            for r in await call.db.scalars(mine.where(MatchRequestRecord.id.in_(body.request_ids)))
        }
        missing = [(i, rid) for i, rid in enumerate(body.request_ids) if rid not in found]
        if missing:
            raise ValidationFailed(
                "request_ids name requests that are not in your organisation",
                code="invalid_reference",
                details=[
                    ErrorDetail(
                        loc=["body", "request_ids", i],
                        message=f"no request with id {rid}",
                        type="invalid_reference",
                    )
                    for i, rid in missing
                ],
            )
        records = [found[rid] for rid in body.request_ids]
        closed = [r for r in records if r.status is not RequestStatus.OPEN]
        if closed:
            raise Conflict(
                "only open requests can be matched; "
                + ", ".join(f"{r.id} is {r.status.value}" for r in closed),
                code="invalid_state",
            )
    else:
        records = list(
            await call.db.scalars(
                mine.where(MatchRequestRecord.status == RequestStatus.OPEN)
                .order_by(MatchRequestRecord.created_at, MatchRequestRecord.id)
                .limit(MAX_BATCH + 1)
            )
        )
        if len(records) > MAX_BATCH:
            raise ValidationFailed(
                f"more than {MAX_BATCH} requests are open; match them in batches with request_ids"
            )
    requests: list[MatchRequest] = []
    expired: list[str] = []
    for r in records:
        request = to_match_request(r, now=call.now)
        if request is None:
            expired.append(r.id)
        else:
            requests.append(request)
    if not requests:
        return RequestMatchOut(
            method="cp-sat",
            status="OPTIMAL",
            placed=0,
            total=0,
            assignments=[],
            unplaced=[],
            expired=expired,
            booked=[],
            not_booked=[],
        )
    first = min(w.start for r in requests for w in r.windows)
    last = max(w.end for r in requests for w in r.windows)
    if last - first > MAX_SPAN:
        raise ValidationFailed(
            f"the requests' windows span {first:%Y-%m-%d} to {last:%Y-%m-%d}, more than 31 "
            "days; name the requests of a 31-day stretch in request_ids",
            details=[
                ErrorDetail(
                    loc=["body", "request_ids"],
                    message="the windows of one batch must fall within 31 days",
                    type="value_error",
                )
            ],
        )
    proposals = await propose(call, requests)
    out = RequestMatchOut(**proposals.model_dump(), expired=expired, booked=[], not_booked=[])
    if not body.book:
        return out
    by_id = {r.id: r for r in records}
    offers = [Offer(a.request_id, a.tutor_id, a.start) for a in proposals.assignments]
    for o in await book_offers(call.db, by_id, offers, now=call.now):
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


@router.get("/api/v1/requests/{request_id}", tags=TAGS)
async def get_request(call: Call, request_id: str) -> RequestOut:
    """Read one request of your organisation (coordinators only)."""
    require_coordinator(call.principal, "read requests")
    return RequestOut.of(await _load(call, request_id))


@router.post("/api/v1/requests/{request_id}/withdraw", tags=TAGS, errors=[409])
async def withdraw_request(call: Call, request_id: str) -> RequestOut:
    """Withdraw an open request: it is no longer matched or booked (coordinators only).

    A request that is already booked or withdrawn is a 409 `invalid_state`; to
    call off a booked one, cancel its session.
    """
    require_coordinator(call.principal, "withdraw requests")
    record = await _load(call, request_id, lock=True)
    withdraw(record, now=call.now)
    await call.db.flush()
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
    require_coordinator(call.principal, "match tutors to requests")
    record = await _load(call, request_id)
    require_open(record, "matched")
    request = to_match_request(record, now=call.now)
    if request is None:
        raise Conflict(
            "every window of this request has passed; withdraw it, or store it again "
            "with new windows",
            code="windows_passed",
        )
    ranked = await rank_one(call, request)
    return CandidatesOut(request_id=record.id, **ranked.model_dump())


@router.post("/api/v1/requests/{request_id}/book", tags=TAGS, errors=[409, 422], idempotent=True)
async def book_open_request(call: Call, request_id: str, body: BookIn) -> RequestOut:
    """Book this open request with a tutor at a start, and mark it `booked` (coordinators).

    The session lasts the request's `duration_minutes` and must fit inside one
    of its windows (else 422). It is checked as `POST /api/v1/sessions` checks a
    booking, including the tutor's qualification at the student's own level: a
    409 `booking_conflict` lists every conflict, and nothing changes (the request
    stays open). A request that is not open is a 409 `invalid_state`.
    """
    require_coordinator(call.principal, "book requests")
    record = await _load(call, request_id, lock=True)
    await book_request(call.db, record, tutor_id=body.tutor_id, start=body.start, now=call.now)
    return RequestOut.of(record)
