"""Generated histories of tutoring: a year of weekly sessions, with planted patterns.

``generate`` plans, from a seed, each student's weekly sessions with their tutor:
who came and how late, how much the student spoke and asked, the checks and
their outcomes, difficulties, homework and whether last week's was taken up,
and how long the tutor took to review the draft. Patterns an at-risk detector
should find can be planted in chosen students or tutors (``PATTERNS``); every
other student and tutor is a clean control, with the ordinary noise of real
attendance (an absence here, a late arrival there) and nothing more.

``write`` stores a plan the way the application would have: people and consents,
sessions with their statuses, presence records, transcript segments (the
student's only with consent) and session documents whose measurements come
from ``ai_docs.analyse`` over that transcript. Facts, analytics and the
detector then run on it as on real data; ``planned_trends`` is the same plan's
trends worked out here, the oracle the analytics tests compare with.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ai_docs import SessionDocument, SourceTranscript, analyse
from ai_docs.documents import ComprehensionCheck, Item, Summary
from core.ids import new_id
from scheduling.models import (
    Guardianship,
    LiveSession,
    Role,
    SessionStatus,
    SessionStudent,
    Student,
    Tutor,
)
from scheduling.people import create_organization, create_person
from sessions.models import (
    DocumentStatus,
    Presence,
    PresenceType,
    SessionDocumentRecord,
    TranscriptSegment,
)

__all__ = ["PATTERNS", "History", "Planned", "generate", "write"]

# What can be planted, and whom each is about.
STUDENT_PATTERNS = (
    "attendance_falling",
    "lateness_rising",
    "talk_share_falling",
    "repeated_difficulty",
    "homework_not_followed_up",
)
TUTOR_PATTERNS = ("reviews_overdue", "late_starts")
PATTERNS = STUDENT_PATTERNS + TUTOR_PATTERNS

SUBJECTS = ("mathematics", "english", "science")
TOPICS = {
    "mathematics": ("fractions", "decimals", "percentages", "angles", "equations", "ratios"),
    "english": ("the past tense", "adjectives", "commas", "paragraphs", "speech marks", "verbs"),
    "science": ("the water cycle", "magnets", "plants", "forces", "light", "sound"),
}
PERSISTENT = "Sam still finds carrying over in subtraction hard."
SPEECH_SECONDS = 600.0
SESSION_MINUTES = 50
# How long the pattern runs at the end of the history, in sessions.
PATTERN_SESSIONS = 6


@dataclass(frozen=True)
class Planned:
    """One planned session of one student with their tutor."""

    student: str
    tutor: str
    subject: str
    start: datetime
    tutor_present: bool = True
    tutor_late: int = 0
    student_present: bool = True
    student_late: int = 0
    student_share: float = 0.35
    student_questions: int = 2
    checks: tuple[str, ...] = ("understood", "understood")
    difficulties: tuple[str, ...] = ()
    topic: str = ""
    homework: str | None = None
    follows_up: bool = False  # the tutor asks about last week's homework
    review_hours: float | None = 4.0  # None: the draft is never approved

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=SESSION_MINUTES)

    @property
    def held(self) -> bool:
        return self.tutor_present or self.student_present

    @property
    def documented(self) -> bool:
        """Both came: a recording, a transcript and a document."""
        return self.tutor_present and self.student_present


@dataclass
class History:
    """A plan: the people, every session in time order, and what was planted where."""

    tutors: dict[str, str]  # tutor key -> subject
    students: dict[str, str]  # student key -> tutor key
    consented: dict[str, bool]  # student key -> AI processing consent
    sessions: list[Planned]
    planted: dict[str, str]  # student or tutor key -> pattern
    first_day: date
    ids: dict[str, str] = field(default_factory=dict)  # keys -> ids, once written
    session_starts: dict[str, datetime] = field(default_factory=dict)  # id -> start, written


def generate(
    *,
    seed: int,
    weeks: int = 52,
    tutors: int = 3,
    students_per_tutor: int = 2,
    planted: Mapping[str, str] | None = None,
    first_day: date = date(2025, 1, 6),
) -> History:
    """A seeded plan of ``weeks`` weekly sessions per student.

    Args:
        planted: student keys (``s0``, ``s1``, ...) or tutor keys (``t0``, ...) mapped to
            the pattern to plant in the last ``PATTERN_SESSIONS`` of their sessions.
    """
    rng = random.Random(seed)
    planted = dict(planted or {})
    for key, pattern in planted.items():
        allowed = STUDENT_PATTERNS if key.startswith("s") else TUTOR_PATTERNS
        if pattern not in allowed:
            raise ValueError(f"{key}: cannot plant {pattern!r}; choose from {allowed}")
    tutor_subjects = {f"t{n}": SUBJECTS[n % len(SUBJECTS)] for n in range(tutors)}
    students = {
        f"s{t * students_per_tutor + k}": f"t{t}"
        for t in range(tutors)
        for k in range(students_per_tutor)
    }
    consented = {s: n % 4 != 3 for n, s in enumerate(students)}
    sessions: list[Planned] = []
    for n, (student, tutor) in enumerate(students.items()):
        subject = tutor_subjects[tutor]
        weekday = n % 5
        hour = 15 + n % 3
        base_share = rng.uniform(0.3, 0.45)
        previous_homework = False
        for week in range(weeks):
            day = first_day + timedelta(days=7 * week + weekday)
            start = datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC)
            tail = week >= weeks - PATTERN_SESSIONS  # where a pattern runs
            step = week - (weeks - PATTERN_SESSIONS)  # 0 .. PATTERN_SESSIONS - 1 in the tail
            plan = Planned(
                student=student,
                tutor=tutor,
                subject=subject,
                start=start,
                # Ordinary noise: one absence in about 25 sessions, a late arrival in 10.
                student_present=rng.random() > 0.04,
                student_late=rng.choice((6, 8)) if rng.random() < 0.1 else rng.randint(0, 2),
                tutor_late=7 if rng.random() < 0.02 else rng.randint(0, 2),
                student_share=round(base_share + rng.uniform(-0.05, 0.05), 3),
                student_questions=rng.randint(1, 4),
                checks=tuple(
                    rng.choice(("understood", "understood", "partly", "not_yet"))
                    for _ in range(rng.randint(1, 3))
                ),
                # A difficulty with this week's topic: the same one never comes back.
                difficulties=(
                    (f"Sam was unsure about {TOPICS[subject][week % len(TOPICS[subject])]}.",)
                    if rng.random() < 0.3
                    else ()
                ),
                topic=TOPICS[subject][week % len(TOPICS[subject])],
                homework=(
                    f"Practise {TOPICS[subject][week % len(TOPICS[subject])]}: "
                    f"exercise sheet {week + 1}."
                    if rng.random() < 0.6
                    else None
                ),
                # The tutor forgets to ask about it now and then.
                follows_up=previous_homework and rng.random() > 0.02,
                review_hours=rng.uniform(1, 30),
            )
            for key in (tutor, student):
                if tail and key in planted:
                    plan = _plant(plan, planted[key], step, rng)
            if plan.documented:
                previous_homework = plan.homework is not None
            sessions.append(plan)
    sessions.sort(key=lambda p: (p.start, p.student))
    return History(
        tutors=tutor_subjects,
        students=students,
        consented=consented,
        sessions=sessions,
        planted=planted,
        first_day=first_day,
    )


def _plant(plan: Planned, pattern: str, step: int, rng: random.Random) -> Planned:
    """``plan`` changed to carry ``pattern`` at ``step`` of its run."""
    if pattern == "attendance_falling":
        # Comes to the first, then misses most: four absences in the last five.
        return replace(plan, student_present=step in (0, 2))
    if pattern == "lateness_rising":
        return replace(plan, student_present=True, student_late=3 + 3 * step)
    if pattern == "talk_share_falling":
        return replace(plan, student_present=True, student_share=round(0.3 - 0.045 * step, 3))
    if pattern == "repeated_difficulty":
        return replace(plan, student_present=True, difficulties=(PERSISTENT,))
    if pattern == "homework_not_followed_up":
        homework = f"Practise {plan.topic}: exercise sheet {step}."
        return replace(plan, student_present=True, homework=homework, follows_up=False)
    if pattern == "reviews_overdue":
        return replace(plan, review_hours=None if step % 2 else rng.uniform(80, 120))
    if pattern == "late_starts":
        return replace(plan, tutor_present=True, tutor_late=8 + step)
    raise ValueError(f"unknown pattern {pattern!r}")


def _transcript(plan: Planned, *, consented: bool) -> list[tuple[str, float, float, str]]:
    """(role, start, end, text) of what was said; the student's lines only with consent."""
    lines: list[tuple[str, str]] = [("tutor", f"Today we are looking at {plan.topic}.")]
    if plan.follows_up:
        lines.append(("tutor", "Did you finish last week's homework?"))
        lines.append(("student", "Yes, I finished it on Sunday."))
    turns = max(3, plan.student_questions)
    for n in range(turns):
        lines.append(("tutor", f"Here is the next idea about {plan.topic}."))
        lines.append(
            (
                "student",
                f"Does that work for {plan.topic} every time?"
                if n < plan.student_questions
                else "I think I see how that works.",
            )
        )
    if plan.homework:
        lines.append(("tutor", f"For homework, {plan.homework}"))
    tutor_lines = sum(1 for role, _ in lines if role == "tutor")
    student_lines = len(lines) - tutor_lines
    seconds = {
        "tutor": SPEECH_SECONDS * (1 - plan.student_share) / tutor_lines,
        "student": SPEECH_SECONDS * plan.student_share / student_lines,
    }
    out: list[tuple[str, float, float, str]] = []
    clock = 5.0
    for role, text in lines:
        end = clock + seconds[role]
        if role == "tutor" or consented:
            out.append((role, round(clock, 2), round(end, 2), text))
        clock = end + 1.0
    return out


def _document(plan: Planned, transcript: SourceTranscript) -> SessionDocument:
    cite = [0]
    return SessionDocument(
        topics=[Item(text=plan.topic, segments=cite)],
        went_well=[],
        difficulties=[Item(text=d, segments=cite) for d in plan.difficulties],
        comprehension_checks=[
            ComprehensionCheck(text=f"Check {n + 1} on {plan.topic}", segments=cite, outcome=o)
            for n, o in enumerate(plan.checks)
        ],
        homework=[Item(text=plan.homework, segments=cite)] if plan.homework else [],
        next_focus=[],
        parent_summary=Summary(text=f"We worked on {plan.topic}.", segments=cite),
        drafted_by="offline",
        analysis=analyse(transcript),
    )


async def write(db: AsyncSession, history: History, *, now: datetime) -> dict[str, str]:
    """Store ``history`` in a new organisation; keys (``org``, ``coord``, ``t0``, ``s0``,
    ...) mapped to ids, also kept in ``history.ids``. The caller commits."""
    ids = history.ids
    ids["org"] = (await create_organization(db, f"History {new_id('hist')}", now=now)).id
    tag = ids["org"][-8:]

    async def person(key: str, role: Role, **kw: object) -> str:
        return await create_person(
            db,
            role,
            org_id=ids["org"],
            email=f"{key}-{tag}@history.example.org",
            display_name=f"{role.value.title()} {key}",
            password_hash=None,
            now=now,
            **kw,  # type: ignore[arg-type]
        )

    ids["coord"] = await person("coord", Role.COORDINATOR)
    for tutor, subject in history.tutors.items():
        ids[tutor] = await person(tutor, Role.TUTOR, subjects=[subject], levels=["ks2"])
    users: dict[str, str] = {}
    for student in history.students:
        ids[student] = await person(student, Role.STUDENT, level="ks2")
        guardian = await person(f"g-{student}", Role.GUARDIAN)
        db.add(
            Guardianship(
                id=new_id("gsp"),
                guardian_id=guardian,
                student_id=ids[student],
                recording_consent=True,
                ai_processing_consent=history.consented[student],
                created_at=now,
                updated_at=now,
            )
        )
    await db.flush()
    for key in history.tutors:
        tutor_row = await db.get(Tutor, ids[key])
        assert tutor_row is not None
        users[key] = tutor_row.user_id
    for key in history.students:
        student_row = await db.get(Student, ids[key])
        assert student_row is not None
        users[key] = student_row.user_id
    for plan in history.sessions:
        await _write_session(db, history, plan, users, now=now)
        if len(db.new) > 2000:
            await db.flush()
    await db.flush()
    return ids


async def _write_session(
    db: AsyncSession,
    history: History,
    plan: Planned,
    users: Mapping[str, str],
    *,
    now: datetime,
) -> None:
    ids = history.ids
    session_id = new_id("ses")
    history.session_starts[session_id] = plan.start
    status = (
        SessionStatus.DOCUMENTED
        if plan.documented
        else SessionStatus.ENDED
        if plan.held
        else SessionStatus.NO_SHOW
    )
    db.add(
        LiveSession(
            id=session_id,
            org_id=ids["org"],
            tutor_id=ids[plan.tutor],
            subject=plan.subject,
            scheduled_start=plan.start,
            scheduled_end=plan.end,
            status=status,
            room=new_id("room"),
            ended_at=plan.end if plan.held else None,
            created_at=plan.start - timedelta(days=7),
            updated_at=plan.end,
            students=[SessionStudent(student_id=ids[plan.student])],
        )
    )
    for key, role, present, late in (
        (plan.tutor, "tutor", plan.tutor_present, plan.tutor_late),
        (plan.student, "student", plan.student_present, plan.student_late),
    ):
        if not present:
            continue
        for type_, at in (
            (PresenceType.JOINED, plan.start + timedelta(minutes=late)),
            (PresenceType.LEFT, plan.end),
        ):
            db.add(
                Presence(
                    session_id=session_id,
                    participant_id=users[key],
                    role=role,
                    type=type_,
                    at=at,
                    reason=None,
                )
            )
    if not plan.documented:
        return
    lines = _transcript(plan, consented=history.consented[plan.student])
    names = {"tutor": f"Tutor {plan.tutor}", "student": f"Student {plan.student}"}
    rows = [
        TranscriptSegment(
            session_id=session_id,
            index=n,
            start=start,
            end=end,
            participant_id=users[plan.tutor if role == "tutor" else plan.student],
            speaker=names[role],
            role=role,
            text=text,
        )
        for n, (role, start, end, text) in enumerate(lines)
    ]
    db.add_all(rows)
    transcript = SourceTranscript.from_segments(rows)
    document = _document(plan, transcript)
    drafted_at = plan.end + timedelta(minutes=5)
    approved_at = (
        drafted_at + timedelta(hours=plan.review_hours) if plan.review_hours is not None else None
    )
    db.add(
        SessionDocumentRecord(
            id=new_id("doc"),
            session_id=session_id,
            status=DocumentStatus.APPROVED if approved_at else DocumentStatus.DRAFT,
            content=document.model_dump(mode="json"),
            drafted_by="offline",
            drafted_at=drafted_at,
            approved_at=approved_at,
            approved_by=ids[plan.tutor] if approved_at else None,
        )
    )


def planned_trends(
    history: History, *, start: date, end: date, monthly: bool = True
) -> dict[tuple[str, date], dict[str, int | float | None]]:
    """The student trends the analytics should report for ``history``, worked out from
    the plan: (student id, period start) -> figures."""
    out: dict[tuple[str, date], dict[str, int | float | None]] = {}
    sums: dict[tuple[str, date], dict[str, float]] = {}
    last_homework: dict[str, bool] = {}
    for plan in history.sessions:
        day = plan.start.date()
        due = last_homework.get(plan.student)
        if plan.documented:
            last_homework[plan.student] = plan.homework is not None
        if not start <= day <= end:
            continue
        period = day.replace(day=1) if monthly else day - timedelta(days=day.weekday())
        key = (history.ids[plan.student], period)
        s = sums.setdefault(key, {})
        present = plan.student_present

        def add(name: str, value: float, s: dict[str, float] = s) -> None:
            s[name] = s.get(name, 0) + value

        add("sessions", 1)
        add("attended", present)
        add("late", present and plan.student_late >= 5)
        add("late_minutes", plan.student_late if present else 0)
        add("seconds", SESSION_MINUTES * 60 - plan.student_late * 60 if present else 0)
        if plan.documented and history.consented[plan.student]:
            add("talk", round(_share(plan) * 10_000))
            add("talked", 1)
            add("questions", plan.student_questions)
        if plan.documented:
            add("checks", len(plan.checks))
            add("understood", plan.checks.count("understood"))
        add("due", due is True)
        add("followed", due is True and plan.documented and plan.follows_up)
    for key, s in sums.items():
        g = s.get
        attended = int(g("attended", 0))
        out[key] = {
            "sessions": int(g("sessions", 0)),
            "attended": attended,
            "attendance_rate": round(attended / g("sessions", 1), 4),
            "late": int(g("late", 0)),
            "mean_late_minutes": round(g("late_minutes", 0) / attended, 4) if attended else None,
            "minutes_present": int(g("seconds", 0)) // 60,
            "mean_talk_share": (
                round(g("talk", 0) / g("talked", 1) / 10_000, 4) if g("talked") else None
            ),
            "questions": int(g("questions", 0)),
            "checks": int(g("checks", 0)),
            "checks_understood": int(g("understood", 0)),
            "understood_rate": (
                round(g("understood", 0) / g("checks", 1), 4) if g("checks") else None
            ),
            "homework_due": int(g("due", 0)),
            "homework_followed_up": int(g("followed", 0)),
        }
    return out


def _share(plan: Planned) -> float:
    """The student's share of speech as the stored segments give it (rounded as stored)."""
    lines = _transcript(plan, consented=True)
    tutor = sum(e - s for role, s, e, _ in lines if role == "tutor")
    student = sum(e - s for role, s, e, _ in lines if role == "student")
    return round(round(student, 2) / (tutor + student), 4)


def months(first: date, count: int) -> Sequence[date]:
    """The first days of ``count`` months from ``first``'s month."""
    out, year, month = [], first.year, first.month
    for _ in range(count):
        out.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out
