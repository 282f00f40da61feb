"""Substitution: who could stand in for a session's tutor, and confirming one (coordinators)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.permissions import load_visible, require_coordinator, visible_sessions
from api.routing import Call, Router
from api.schemas import Input
from api.session_schemas import SessionOut
from scheduling.models import LiveSession
from scheduling.substitutes import Substitute
from sessions.substitute_confirmation import substitute_candidates, substitute_tutor

router = Router()
TAGS = ["sessions"]


class SubstituteOut(BaseModel):
    """A tutor who could take the session, free and qualified now."""

    tutor_id: str
    name: str = Field(description="The tutor's display name.")
    sessions_with_students: int = Field(
        description="Past sessions (ended or documented) this tutor taught with any of the "
        "session's students; ranked first, most first."
    )
    sessions_that_week: int = Field(
        description="Sessions this tutor has in the tutor-local week of the start; "
        "fewer ranks higher among equals."
    )
    reasons: list[str] = Field(
        description="Why they qualify and rank here, e.g. `qualified for maths at level gcse`, "
        "`taught Sam 3 times before`, `2 sessions that week`."
    )

    @classmethod
    def of(cls, s: Substitute) -> SubstituteOut:
        return cls(
            tutor_id=s.tutor_id,
            name=s.name,
            sessions_with_students=s.sessions_with_students,
            sessions_that_week=s.sessions_that_week,
            reasons=list(s.reasons),
        )


class SubstitutesOut(BaseModel):
    session_id: str
    tutor_id: str = Field(description="The session's tutor now, the one to replace.")
    items: list[SubstituteOut] = Field(description="Best first.")


class SubstituteIn(Input):
    tutor_id: str = Field(description="The tutor who takes the session.")
    note: str | None = Field(
        default=None, max_length=500, description="Why; kept on the resolved no-show exception."
    )


@router.get("/api/v1/sessions/{session_id}/substitutes", tags=TAGS, errors=[409])
async def list_substitutes(call: Call, session_id: str) -> SubstitutesOut:
    """Tutors who could take this session instead of its tutor, best first (coordinators).

    Only tutors of your organisation for whom the session has no booking
    conflict at all (free then, available, qualified for its subject and the
    students' levels, within their limits): those who taught its students
    before come first, then those with fewer sessions that week. Only a
    `scheduled`, `open` or `live` session (409 `invalid_transition` naming the
    state otherwise).
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_coordinator(p, "find substitute tutors")
    ranked = await substitute_candidates(call.db, live)
    return SubstitutesOut(
        session_id=live.id, tutor_id=live.tutor_id, items=[SubstituteOut.of(s) for s in ranked]
    )


@router.post("/api/v1/sessions/{session_id}/substitute", tags=TAGS, errors=[409])
async def confirm_substitute(call: Call, session_id: str, body: SubstituteIn) -> SessionOut:
    """Give this session to another tutor (coordinators).

    The tutor is checked again as a booking is: 409 `booking_conflict` with
    every conflict when they are no longer free or qualified, and nothing
    changes. On success the session has the new tutor, any open or
    acknowledged `tutor_no_show` exception of it is resolved, and the
    guardians of its students and both tutors are emailed
    (`session.tutor_substituted`). 422 if it is the session's own tutor; 409
    `invalid_transition` for a session that is ended, documented, cancelled
    or a no-show.
    """
    p = call.principal
    live = await load_visible(call.db, p, LiveSession, visible_sessions(p), session_id, "session")
    require_coordinator(p, "substitute tutors")
    live = await substitute_tutor(
        call.db,
        live.id,
        body.tutor_id,
        org_id=p.org_id,
        by=p.id,
        now=call.now,
        note=body.note,
    )
    return SessionOut.of(live)
