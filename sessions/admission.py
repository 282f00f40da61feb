"""Whether a join token's holder is still one of the session's participants.

A join token says who its holder was when it was issued; the booking may have
changed since (a substitute took the session, a student was taken off it).
Signaling asks this at every join and feeds the answer to its admission
decision (``signaling.admission.JoinFacts.still_admitted``); the composition root
wires the two together, so signaling needs no database.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.models import LiveSession, SessionStudent, Student, Tutor, User

__all__ = ["still_admitted"]


async def still_admitted(
    db: AsyncSession, *, session_id: str, participant_id: str, role: str
) -> bool:
    """Whether the user ``participant_id``, admitted as ``role``, still belongs in the session.

    Every role: the user must exist, be active, hold that role and belong to the
    session's organisation (a signed token naming a deleted, deactivated or made-up
    user admits nobody). A tutor must still be the session's tutor; a student must
    still be booked into it. Nobody else is given join tokens, so nobody else is
    admitted.
    """
    user = await db.get(User, participant_id)
    live = await db.get(LiveSession, session_id)
    if user is None or live is None or not user.is_active or user.org_id != live.org_id:
        return False
    if user.role.value != role:
        return False
    if role == "tutor":
        teaching = await db.scalar(select(Tutor.user_id).where(Tutor.id == live.tutor_id))
        return teaching == participant_id
    if role == "student":
        student_id = await db.scalar(select(Student.id).where(Student.user_id == participant_id))
        if student_id is None:
            return False
        attending = await db.scalar(
            select(SessionStudent.student_id).where(
                SessionStudent.session_id == session_id,
                SessionStudent.student_id == student_id,
            )
        )
        return attending is not None
    return False
