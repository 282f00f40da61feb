"""Proposing tutors from the database: rank the tutors for one request, or place a batch.

The matching itself is pure (``scheduling.matching.rank`` and
``scheduling.match_batch.match_batch`` read a ``Snapshot``). These use cases
load one organisation's snapshot (``scheduling.matching_store``), run the
CPU-bound matching on a worker thread so that the event loop keeps serving
other requests meanwhile, and name each tutor the answer mentions, for the
caller to show. Nothing is booked: ``scheduling.match_requests`` books stored
requests, and ``scheduling.bookings.book_session`` any other proposal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeAlias

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ErrorDetail, ValidationFailed
from scheduling.match_batch import BatchResult, match_batch
from scheduling.matching import MatchRequest, Ranking, rank
from scheduling.matching_store import load_snapshot, load_tutors
from scheduling.models import Student, Tutor

__all__ = [
    "BATCH_TIME_LIMIT_S",
    "MAX_SPAN",
    "Loc",
    "Proposals",
    "TutorRanking",
    "check_students",
    "propose",
    "rank_tutors",
]

# The windows of one request, or of one batch, fall within this span: it bounds
# the sessions a snapshot loads and the candidate starts the solver weighs.
MAX_SPAN = timedelta(days=31)
# The solver's search budget inside one HTTP request; it returns its best so far.
BATCH_TIME_LIMIT_S = 5.0

Loc: TypeAlias = list[str | int]
"""Where in the caller's input a value was given, as ``ErrorDetail.loc`` names it."""


@dataclass(frozen=True)
class TutorRanking:
    """``rank``'s answer for one student's request, and the name of every tutor it lists."""

    student_id: str
    ranking: Ranking
    names: Mapping[str, str]


@dataclass(frozen=True)
class Proposals:
    """``match_batch``'s answer for ``total`` requests, and the name of every tutor placed."""

    result: BatchResult
    total: int
    names: Mapping[str, str]


async def check_students(db: AsyncSession, *, org_id: str, refs: Sequence[tuple[Loc, str]]) -> None:
    """Refuse student ids that name no student of the organisation.

    Args:
        refs: each student id with the location to name in the 422's details.

    Raises:
        ValidationFailed: ``invalid_reference``, one detail per unknown id.
    """
    wanted = {sid for _, sid in refs}
    found = set(
        await db.scalars(select(Student.id).where(Student.id.in_(wanted), Student.org_id == org_id))
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


async def rank_tutors(
    db: AsyncSession,
    *,
    org_id: str,
    request: MatchRequest,
    student_loc: Loc | None = None,
) -> TutorRanking:
    """Rank the organisation's tutors for ``request`` (its windows within ``MAX_SPAN``).

    Args:
        student_loc: where the caller gave the request's student; when set, a
            student outside the organisation is refused first. A stored request
            leaves it out: its student was checked when it was stored.

    Raises:
        ValidationFailed: ``invalid_reference``, the student is not in the organisation.
    """
    if student_loc is not None:
        await check_students(db, org_id=org_id, refs=[(student_loc, request.student_id)])
    tutors = await load_tutors(db, org_id)
    snapshot = await load_snapshot(
        db,
        org_id=org_id,
        student_ids=[request.student_id],
        start=min(w.start for w in request.windows),
        end=max(w.end for w in request.windows),
        tutors=tutors,
    )
    ranking = await asyncio.to_thread(rank, request, snapshot)
    return TutorRanking(request.student_id, ranking, _names(tutors))


async def propose(
    db: AsyncSession,
    *,
    org_id: str,
    requests: Sequence[MatchRequest],
    student_locs: Sequence[Loc] | None = None,
) -> Proposals:
    """Propose placements for ``requests``: ids unique, windows within ``MAX_SPAN`` in all.

    The solver gets ``BATCH_TIME_LIMIT_S``; it answers with its best placement so far.

    Args:
        requests: at least one.
        student_locs: where the caller gave each request's student, in the same
            order; when set, students outside the organisation are refused first.
            Stored requests leave it out: their students were checked when stored.

    Raises:
        ValidationFailed: ``invalid_reference``, one detail per student not in the organisation.
    """
    if student_locs is not None:
        await check_students(
            db,
            org_id=org_id,
            refs=[(loc, r.student_id) for loc, r in zip(student_locs, requests, strict=True)],
        )
    tutors = await load_tutors(db, org_id)
    snapshot = await load_snapshot(
        db,
        org_id=org_id,
        student_ids=[r.student_id for r in requests],
        start=min(w.start for r in requests for w in r.windows),
        end=max(w.end for r in requests for w in r.windows),
        tutors=tutors,
    )
    result = await asyncio.to_thread(match_batch, requests, snapshot, time_limit=BATCH_TIME_LIMIT_S)
    return Proposals(result, len(requests), _names(tutors))
