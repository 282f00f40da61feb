"""What a family's consents allow with a student's audio, read the most protective way.

Who decides depends on the student's age (``ConsentRule``): below the consent age
(``LIVECLASS_CONSENT_AGE``, 13 by default: COPPA's; GDPR lets each country choose
13 to 16), or with no date of birth on file, their guardians do; from that birthday
on, the student does, with the two consents on their own ``Student`` row, and their
guardians' no longer count.

Each ``Guardianship`` (``scheduling.models``) carries two consents, both off until
set, and for a student whose guardians decide a consent counts only when the student
has at least one guardian on file and every guardian gave it:

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
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling.ages import age_on
from scheduling.models import Guardianship, SessionStudent, Student, Tutor

Consent = Literal["recording_consent", "ai_processing_consent"]


@dataclass(frozen=True)
class ConsentRule:
    """From which birthday a student's own consent replaces their guardians', on ``today``."""

    age: int
    today: date

    def decides_for_self(self, date_of_birth: date | None) -> bool:
        """Whether a student born on ``date_of_birth`` is ``age`` or older today; never
        when the date is unknown (the guardians decide, the protective reading)."""
        return date_of_birth is not None and age_on(date_of_birth, self.today) >= self.age


def all_consented(consents: Iterable[tuple[str, bool]], student_ids: Iterable[str]) -> set[str]:
    """The students among ``student_ids`` with at least one guardian, every one of whom
    consented, from ``(student_id, consent)`` pairs (one per guardianship)."""
    given: dict[str, bool] = {}
    for student_id, consent in consents:
        given[student_id] = given.get(student_id, True) and consent
    return {s for s in student_ids if given.get(s, False)}


async def consenting_students(
    db: AsyncSession, student_ids: Collection[str], consent: Consent, rule: ConsentRule
) -> set[str]:
    """The students (ids) who gave ``consent`` themselves, being of age, or whose every
    guardian gave it, being younger; none without a guardian on file who is younger."""
    own = {  # of age: their own answer
        row[0]: bool(row[2])
        for row in await db.execute(
            select(Student.id, Student.date_of_birth, getattr(Student, consent)).where(
                Student.id.in_(student_ids)
            )
        )
        if rule.decides_for_self(row[1])
    }
    guardians = await db.execute(
        select(Guardianship.student_id, getattr(Guardianship, consent)).where(
            Guardianship.student_id.in_([s for s in student_ids if s not in own])
        )
    )
    by_guardians = all_consented(((row[0], row[1]) for row in guardians), student_ids)
    return {s for s, yes in own.items() if yes} | (by_guardians - own.keys())


async def may_record(db: AsyncSession, *, participant_id: str, rule: ConsentRule) -> bool:
    """Whether a participant's (user id) audio may be recorded: a tutor's always, a student's
    only when they (of age) or every guardian on file (younger) consented, nobody else's."""
    student_id = await db.scalar(select(Student.id).where(Student.user_id == participant_id))
    if student_id is None:
        tutor = await db.scalar(select(Tutor.id).where(Tutor.user_id == participant_id))
        return tutor is not None
    return student_id in await consenting_students(db, {student_id}, "recording_consent", rule)


async def ai_consenting_students(
    db: AsyncSession, student_ids: Collection[str], rule: ConsentRule
) -> set[str]:
    """The students (ids) who consented to AI processing, or whose guardians all did."""
    return await consenting_students(db, student_ids, "ai_processing_consent", rule)


async def transcribable(
    db: AsyncSession, participant_ids: Collection[str], rule: ConsentRule
) -> set[str]:
    """The participants (user ids) whose recorded audio may be transcribed: tutors, and
    students who consented to AI processing (or whose guardians did). Nobody else."""
    students = {
        row[0]: row[1]
        for row in await db.execute(
            select(Student.user_id, Student.id).where(Student.user_id.in_(participant_ids))
        )
    }
    consenting = await ai_consenting_students(db, set(students.values()), rule)
    tutors = set(await db.scalars(select(Tutor.user_id).where(Tutor.user_id.in_(participant_ids))))
    return {
        p for p in participant_ids if (students[p] in consenting if p in students else p in tutors)
    }


async def ai_consented(db: AsyncSession, session_id: str, rule: ConsentRule) -> bool:
    """Every student booked into the session consented to AI processing (or, younger than
    the consent age, has guardians who all did): only then may its transcript go to a model."""
    students = set(
        await db.scalars(
            select(SessionStudent.student_id).where(SessionStudent.session_id == session_id)
        )
    )
    return await ai_consenting_students(db, students, rule) == students
