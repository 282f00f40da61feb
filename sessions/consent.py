"""What a family's consents allow with a student's audio, read the most protective way.

Each ``Guardianship`` (``scheduling.models``) carries two consents, both off until
set, and a consent counts only when the student has at least one guardian on file
and every guardian gave it:

- ``recording_consent``: the student's audio may be recorded (``may_record``, which
  the composition root hands to each room's recorder; tutors are always recorded);
- ``ai_processing_consent``: the student's recorded audio may be turned into text
  (Whisper, in process), and, when this holds for every student of a session, its
  transcript may go to the configured model to be drafted; otherwise the offline
  drafter writes the document in process. A tutor's track is always transcribed;
  the audio of anyone who is neither a tutor nor a consenting student never is.
  (That a guardian is emailed an AI summary needs their own consent too:
  ``notifications.queue.skip_reason``.)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.models import Guardianship, SessionStudent, Student, Tutor


def all_consented(consents: Iterable[tuple[str, bool]], student_ids: Iterable[str]) -> set[str]:
    """The students among ``student_ids`` with at least one guardian, every one of whom
    consented, from ``(student_id, consent)`` pairs (one per guardianship)."""
    given: dict[str, bool] = {}
    for student_id, consent in consents:
        given[student_id] = given.get(student_id, True) and consent
    return {s for s in student_ids if given.get(s, False)}


async def may_record(db: AsyncSession, *, participant_id: str) -> bool:
    """Whether a participant's (user id) audio may be recorded: a tutor's always, a student's
    only when they have guardians and every one consented to recording, nobody else's."""
    student_id = await db.scalar(select(Student.id).where(Student.user_id == participant_id))
    if student_id is None:
        tutor = await db.scalar(select(Tutor.id).where(Tutor.user_id == participant_id))
        return tutor is not None
    consents = (
        await db.scalars(
            select(Guardianship.recording_consent).where(Guardianship.student_id == student_id)
        )
    ).all()
    return bool(consents) and all(consents)


async def ai_consenting_students(db: AsyncSession, student_ids: Collection[str]) -> set[str]:
    """The students (ids) whose every guardian consented to AI processing; none without one."""
    rows = await db.execute(
        select(Guardianship.student_id, Guardianship.ai_processing_consent).where(
            Guardianship.student_id.in_(student_ids)
        )
    )
    return all_consented(((row[0], row[1]) for row in rows), student_ids)


async def transcribable(db: AsyncSession, participant_ids: Collection[str]) -> set[str]:
    """The participants (user ids) whose recorded audio may be transcribed: tutors, and
    students whose every guardian consented to AI processing. Nobody else."""
    students = {
        row[0]: row[1]
        for row in await db.execute(
            select(Student.user_id, Student.id).where(Student.user_id.in_(participant_ids))
        )
    }
    consenting = await ai_consenting_students(db, set(students.values()))
    tutors = set(await db.scalars(select(Tutor.user_id).where(Tutor.user_id.in_(participant_ids))))
    return {
        p for p in participant_ids if (students[p] in consenting if p in students else p in tutors)
    }


async def ai_consented(db: AsyncSession, session_id: str) -> bool:
    """Every student booked into the session has guardians, and every one of them consented
    to AI processing: only then may its transcript go to a model."""
    students = set(
        await db.scalars(
            select(SessionStudent.student_id).where(SessionStudent.session_id == session_id)
        )
    )
    return await ai_consenting_students(db, students) == students
