"""Matching open requests with tutors: rank one request, or propose placements for many.

Coordinators only, within their organisation. Nothing is booked: a proposal
is booked through ``POST /api/v1/sessions``, which checks it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlalchemy import select

from api.permissions import require_coordinator
from api.routing import Call, Router
from api.schemas import Input, Label
from core.errors import ErrorDetail, ValidationFailed
from scheduling.availability import Interval
from scheduling.match_batch import UnplacedCode, match_batch
from scheduling.matching import ExclusionCode, MatchRequest, rank
from scheduling.matching_store import load_snapshot, load_tutors
from scheduling.models import Student, Tutor

router = Router()
TAGS = ["matching"]
MAX_SPAN = timedelta(days=31)
# The solver's search budget inside one request; it returns its best so far.
BATCH_TIME_LIMIT_S = 5.0


class WindowIn(Input):
    start: AwareDatetime = Field(examples=["2030-01-14T15:00:00Z"])
    end: AwareDatetime = Field(examples=["2030-01-14T18:00:00Z"])

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class RequestIn(Input):
    student_id: str
    subject: Label = Field(examples=["maths"])
    level: Label = Field(examples=["gcse"])
    windows: list[WindowIn] = Field(
        min_length=1,
        max_length=20,
        description="When the student could meet, in UTC; all within 31 days.",
    )
    duration_minutes: int = Field(ge=15, le=480, examples=[60])

    @model_validator(mode="after")
    def _span(self) -> Self:
        first = min(w.start for w in self.windows)
        last = max(w.end for w in self.windows)
        if last - first > MAX_SPAN:
            raise ValueError("the windows must all fall within 31 days")
        for w in self.windows:
            if w.end - w.start < timedelta(minutes=self.duration_minutes):
                raise ValueError("every window must be at least duration_minutes long")
        return self

    def to_request(self, request_id: str = "") -> MatchRequest:
        return MatchRequest(
            student_id=self.student_id,
            subject=self.subject,
            level=self.level,
            windows=tuple(Interval(w.start, w.end) for w in self.windows),
            duration=timedelta(minutes=self.duration_minutes),
            id=request_id,
        )


class BatchItemIn(RequestIn):
    id: str = Field(
        min_length=1, max_length=64, description="Your name for the request, echoed back."
    )


class BatchIn(Input):
    requests: list[BatchItemIn] = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [r.id for r in self.requests]
        if len(set(ids)) != len(ids):
            raise ValueError("request ids must be unique")
        first = min(w.start for r in self.requests for w in r.windows)
        last = max(w.end for r in self.requests for w in r.windows)
        if last - first > MAX_SPAN:
            raise ValueError("all windows of a batch must fall within 31 days")
        return self


class CandidateOut(BaseModel):
    tutor_id: str
    display_name: str
    start: datetime = Field(description="The slot offered: the tutor's earliest free one.")
    end: datetime
    sessions_with_student: int = Field(description="Sessions this tutor has had with them.")
    sessions_that_week: int = Field(description="Sessions booked in that tutor-local week.")
    reasons: list[str]


class ExcludedOut(BaseModel):
    tutor_id: str
    display_name: str
    code: ExclusionCode
    reasons: list[str]


class RankOut(BaseModel):
    student_id: str
    candidates: list[CandidateOut] = Field(
        description="Best first: continuity with the student, then fewer sessions that week."
    )
    excluded: list[ExcludedOut]


class AssignmentOut(BaseModel):
    request_id: str
    tutor_id: str
    display_name: str
    start: datetime
    end: datetime
    reasons: list[str]


class UnplacedOut(BaseModel):
    request_id: str
    code: UnplacedCode
    reason: str


class BatchOut(BaseModel):
    method: str = Field(description="cp-sat, or greedy if the solver found nothing in time.")
    status: str = Field(
        description="OPTIMAL, or FEASIBLE when the time limit stopped it before a proof."
    )
    placed: int
    total: int
    assignments: list[AssignmentOut]
    unplaced: list[UnplacedOut]


async def check_students(call: Call, refs: list[tuple[list[str | int], str]]) -> None:
    """Refuse student ids that name no student of the caller's organisation.

    Args:
        refs: each student id with the location to name in the 422's details.

    Raises:
        ValidationFailed: ``invalid_reference``, one detail per unknown id.
    """
    wanted = {sid for _, sid in refs}
    found = set(
        await call.db.scalars(
            select(Student.id).where(
                Student.id.in_(wanted), Student.org_id == call.principal.org_id
            )
        )
    )
    missing = [(loc, sid) for loc, sid in refs if sid not in found]
    if missing:
        raise ValidationFailed(
            "student_id does not name a student in your organisation",
            code="invalid_reference",
            details=[
                ErrorDetail(loc=loc, message=f"no student with id {sid}", type="invalid_reference")
                for loc, sid in missing
            ],
        )


def _names(tutors: list[Tutor]) -> dict[str, str]:
    return {t.id: t.user.display_name for t in tutors}


async def rank_one(call: Call, request: MatchRequest) -> RankOut:
    """Rank the caller's organisation's tutors for ``request``, whose student is checked.

    Shared by ``POST /api/v1/matching/rank`` and a stored request's candidates.
    """
    org_id = call.principal.org_id
    tutors = await load_tutors(call.db, org_id)
    snapshot = await load_snapshot(
        call.db,
        org_id=org_id,
        student_ids=[request.student_id],
        start=min(w.start for w in request.windows),
        end=max(w.end for w in request.windows),
        tutors=tutors,
    )
    ranking = await asyncio.to_thread(rank, request, snapshot)
    names = _names(tutors)
    return RankOut(
        student_id=request.student_id,
        candidates=[
            CandidateOut(
                tutor_id=c.tutor_id,
                display_name=names[c.tutor_id],
                start=c.start,
                end=c.end,
                sessions_with_student=c.sessions_with_student,
                sessions_that_week=c.sessions_that_week,
                reasons=list(c.reasons),
            )
            for c in ranking.candidates
        ],
        excluded=[
            ExcludedOut(
                tutor_id=x.tutor_id,
                display_name=names[x.tutor_id],
                code=x.code,
                reasons=list(x.reasons),
            )
            for x in ranking.excluded
        ],
    )


async def propose(call: Call, requests: Sequence[MatchRequest]) -> BatchOut:
    """Propose placements for ``requests`` (ids unique, students checked, at most 31 days).

    Shared by ``POST /api/v1/matching/batch`` and matching the stored open requests.
    """
    org_id = call.principal.org_id
    tutors = await load_tutors(call.db, org_id)
    snapshot = await load_snapshot(
        call.db,
        org_id=org_id,
        student_ids=[r.student_id for r in requests],
        start=min(w.start for r in requests for w in r.windows),
        end=max(w.end for r in requests for w in r.windows),
        tutors=tutors,
    )
    result = await asyncio.to_thread(match_batch, requests, snapshot, time_limit=BATCH_TIME_LIMIT_S)
    names = _names(tutors)
    return BatchOut(
        method=result.method,
        status=result.status,
        placed=len(result.placements),
        total=len(requests),
        assignments=[
            AssignmentOut(
                request_id=p.request_id,
                tutor_id=p.tutor_id,
                display_name=names[p.tutor_id],
                start=p.start,
                end=p.end,
                reasons=list(p.reasons),
            )
            for p in result.placements
        ],
        unplaced=[
            UnplacedOut(request_id=u.request_id, code=u.code, reason=u.reason)
            for u in result.unplaced
        ],
    )


@router.post("/api/v1/matching/rank", tags=TAGS, errors=[422])
async def rank_tutors(call: Call, body: RequestIn) -> RankOut:
    """Rank the tutors who could take one request, each with the slot offered and why.

    A tutor qualifies with a qualification for the subject at the level, and is
    free when a `duration_minutes` slot (on the half hour) inside a window keeps
    their availability, buffer and limits and clashes with no session of theirs
    or the student's. Tutors who cannot are listed under `excluded` with the reason.
    """
    require_coordinator(call.principal, "match tutors to requests")
    await check_students(call, [(["body", "student_id"], body.student_id)])
    return await rank_one(call, body.to_request())


@router.post("/api/v1/matching/batch", tags=TAGS, errors=[422])
async def match_requests(call: Call, body: BatchIn) -> BatchOut:
    """Propose a tutor and a slot for many open requests at once; nothing is booked.

    Places as many requests as it can (an assignment solver, not first come
    first served), then prefers each student's own tutor and spreads the load.
    A tutor takes one request at a time, keeps their buffer and their daily and
    weekly limits; a student is never placed twice at once. Each request left
    out says why. Book the proposals with `POST /api/v1/sessions`.
    """
    require_coordinator(call.principal, "match tutors to requests")
    await check_students(
        call,
        [
            (["body", "requests", i, "student_id"], r.student_id)
            for i, r in enumerate(body.requests)
        ],
    )
    return await propose(call, [r.to_request(r.id) for r in body.requests])
