"""A request for tutoring, a ranking and a batch's proposals, as the API reads and shows them.

The matching routes (``/api/v1/matching/...``) and the stored requests' routes
(``/api/v1/requests/...``) take the same request fields and answer with the
same ranking and proposals; they live here so that no route module imports
another (issue 13).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api.schemas import Input, Label
from scheduling.availability import Interval
from scheduling.match_batch import UnplacedCode
from scheduling.matching import ExclusionCode, MatchRequest
from scheduling.proposals import MAX_SPAN, Proposals, TutorRanking

__all__ = [
    "AssignmentOut",
    "BatchOut",
    "CandidateOut",
    "ExcludedOut",
    "RankOut",
    "RequestIn",
    "UnplacedOut",
    "WindowIn",
]


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

    @property
    def intervals(self) -> list[Interval]:
        """The windows as UTC intervals, in the order they were given."""
        return [Interval(w.start, w.end) for w in self.windows]

    def to_request(self, request_id: str = "") -> MatchRequest:
        return MatchRequest(
            student_id=self.student_id,
            subject=self.subject,
            level=self.level,
            windows=tuple(self.intervals),
            duration=timedelta(minutes=self.duration_minutes),
            id=request_id,
        )


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

    @classmethod
    def of(cls, ranked: TutorRanking) -> RankOut:
        names = ranked.names
        return cls(
            student_id=ranked.student_id,
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
                for c in ranked.ranking.candidates
            ],
            excluded=[
                ExcludedOut(
                    tutor_id=x.tutor_id,
                    display_name=names[x.tutor_id],
                    code=x.code,
                    reasons=list(x.reasons),
                )
                for x in ranked.ranking.excluded
            ],
        )


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

    @classmethod
    def of(cls, proposals: Proposals) -> BatchOut:
        result, names = proposals.result, proposals.names
        return cls(
            method=result.method,
            status=result.status,
            placed=len(result.placements),
            total=proposals.total,
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
