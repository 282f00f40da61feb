"""A consent change that takes effect in a live room, not only in the next session.

The guardianship itself changes in ``scheduling.guardianships``; this then asks
``sessions.consent.may_record`` whether the student may still be recorded, and if
not tells every watcher (the signaling server: ``SignalingServer.withdraw_recording``)
so a lesson in progress stops recording them within a second and deletes what it
recorded so far. The audit log has the change (the routes are audited ``consent``).

One node: the rooms of the node that served the change. Across nodes the change
must travel to the node hosting the room (issue 20, beyond one machine).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.models import Student
from sessions.consent import ConsentRule, may_record

__all__ = ["enforce_recording_consent"]


async def enforce_recording_consent(
    db: AsyncSession,
    *,
    student_id: str,
    watchers: Sequence[Callable[[str], Awaitable[object]]],
    rule: ConsentRule,
) -> bool:
    """After a change to a student's consents (their guardians', their own, or their date
    of birth): if they may no longer be recorded, stop any live recording of them.
    Whether recording was withdrawn."""
    await db.flush()  # the change is what may_record reads
    student = await db.get(Student, student_id)
    if student is None or await may_record(db, participant_id=student.user_id, rule=rule):
        return False
    for watcher in watchers:
        await watcher(student.user_id)
    return True
