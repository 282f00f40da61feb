"""Matching open requests with tutors: rank one request, or propose placements for many.

Coordinators only, within their organisation. Nothing is booked: a proposal
is booked through ``POST /api/v1/sessions``, which checks it again. The use
cases are ``scheduling.proposals``; the request and answer models, shared with
the stored requests' routes, are ``api.matching_schemas``.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from api.matching_schemas import BatchOut, RankOut, RequestIn
from api.permissions import require_coordinator
from api.routing import Call, Router
from api.schemas import Input
from scheduling import proposals

router = Router()
TAGS = ["matching"]


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
        if last - first > proposals.MAX_SPAN:
            raise ValueError("all windows of a batch must fall within 31 days")
        return self


@router.post("/api/v1/matching/rank", tags=TAGS, errors=[422])
async def rank_tutors(call: Call, body: RequestIn) -> RankOut:
    """Rank the tutors who could take one request, each with the slot offered and why.

    A tutor qualifies with a qualification for the subject at the level, and is
    free when a `duration_minutes` slot (on the half hour) inside a window keeps
    their availability, buffer and limits and clashes with no session of theirs
    or the student's. Tutors who cannot are listed under `excluded` with the reason.
    """
    require_coordinator(call.principal, "match tutors to requests")
    ranked = await proposals.rank_tutors(
        call.db,
        org_id=call.principal.org_id,
        request=body.to_request(),
        student_loc=["body", "student_id"],
    )
    return RankOut.of(ranked)


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
    placed = await proposals.propose(
        call.db,
        org_id=call.principal.org_id,
        requests=[r.to_request(r.id) for r in body.requests],
        student_locs=[["body", "requests", i, "student_id"] for i in range(len(body.requests))],
    )
    return BatchOut.of(placed)
