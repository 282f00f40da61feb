"""Structured session data: what ``sessions.facts.build`` draws from one session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ai_docs import SessionDocument, SourceTranscript, analyse
from ai_docs.documents import ComprehensionCheck, Item, Summary
from sessions.facts import FactsInput, Spoken, build, period_dates
from sessions.models import FactItemKind

START = datetime(2026, 3, 5, 16, 0, tzinfo=UTC)  # a Thursday
NOW = START + timedelta(days=1)


@dataclass(frozen=True)
class Came:
    participant_id: str
    role: str
    student_id: str | None
    late_minutes: int | None
    seconds_present: int

    @property
    def absent(self) -> bool:
        return self.late_minutes is None


TUTOR = Came("u_tutor", "tutor", None, 7, 2580)
STUDENT = Came("u_student", "student", "stu_1", 0, 3000)
ABSENT = Came("u_other", "student", "stu_2", None, 0)

SAID = [
    Spoken(
        "u_tutor",
        0.0,
        30.0,
        "Today we are looking at fractions. Did you finish last week's homework?",
    ),
    Spoken("u_student", 31.0, 41.0, "Yes. Why do the bottoms have to match? Is it always?"),
    Spoken("u_tutor", 42.0, 102.0, "Because we count the same sized pieces."),
]


def document(*, followed_up: bool = True, homework: bool = True) -> SessionDocument:
    said = SAID if followed_up else [SAID[1], SAID[2]]
    transcript = SourceTranscript.from_segments(
        _Seg(
            s.start,
            s.end,
            s.text,
            s.participant_id,
            "tutor" if "tutor" in s.participant_id else "student",
        )
        for s in said
    )
    return SessionDocument(
        topics=[Item(text="fractions", segments=[0])],
        went_well=[],
        difficulties=[Item(text="Matching denominators", segments=[1])],
        comprehension_checks=[
            ComprehensionCheck(text="Why match?", segments=[1], outcome="understood"),
            ComprehensionCheck(text="Add 1/3 and 1/6", segments=[1], outcome="not_yet"),
        ],
        homework=[Item(text="Sheet 4", segments=[0])] if homework else [],
        next_focus=[],
        parent_summary=Summary(text="Fractions.", segments=[0]),
        drafted_by="offline",
        analysis=analyse(transcript),
    )


@dataclass(frozen=True)
class _Seg:
    start: float
    end: float
    text: str
    speaker: str
    role: str | None


def facts_input(**kw: object) -> FactsInput:
    values: dict[str, object] = {
        "session_id": "ses_1",
        "org_id": "org_1",
        "tutor_id": "tut_1",
        "subject": "mathematics",
        "status": "documented",
        "scheduled_start": START,
        "scheduled_end": START + timedelta(minutes=50),
        "attendance": [TUTOR, STUDENT, ABSENT],
        "segments": SAID,
        "transcribed": {"u_tutor", "u_student"},
        "has_transcript": True,
        "document": document(),
        "document_status": "approved",
        "drafted_at": START + timedelta(hours=1),
        "approved_at": START + timedelta(hours=3),
        "homework_due": {"stu_1": True, "stu_2": False},
    }
    return FactsInput(**(values | kw))  # type: ignore[arg-type]


def test_period_columns_are_the_utc_day_its_monday_and_its_first_of_month() -> None:
    """Trends group by plain date columns: the day, its week's Monday, its month's first."""
    late_evening = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert period_dates(late_evening) == (date(2026, 3, 1), date(2026, 2, 23), date(2026, 3, 1))
    assert period_dates(START) == (date(2026, 3, 5), date(2026, 3, 2), date(2026, 3, 1))


def test_a_documented_session_measures_lateness_talk_checks_and_homework() -> None:
    """The tutor's lateness, each speaker's talk share and questions, the checks by outcome
    and the homework follow-up all come out of one documented session."""
    rows = build(facts_input(), now=NOW)
    s = rows.session
    assert (s.tutor_present, s.tutor_late_minutes, s.tutor_seconds_present) == (True, 7, 2580)
    assert s.scheduled_minutes == 50 and s.day == date(2026, 3, 5)
    assert s.tutor_talk_share == round(90 / 100, 4)
    assert (s.checks, s.checks_understood, s.checks_not_yet, s.checks_partly) == (2, 1, 1, 0)
    assert (s.topics, s.difficulties, s.homework_set, s.homework_mentioned) == (1, 1, True, True)
    assert s.document_status == "approved"
    people = {p.participant_id: p for p in rows.participants}
    student = people["u_student"]
    assert (student.present, student.late_minutes, student.seconds_present) == (True, 0, 3000)
    assert student.talk_seconds == 10.0 and student.talk_share == 0.1
    assert student.questions == 2  # two sentences ending with "?"
    assert (student.homework_due, student.homework_followed_up) == (True, True)
    other = people["u_other"]
    assert (other.present, other.seconds_present, other.late_minutes) == (False, 0, None)
    assert other.homework_due is False and other.homework_followed_up is None
    kinds = [(i.kind, i.position, i.outcome) for i in rows.items]
    assert kinds == [
        (FactItemKind.TOPIC, 0, None),
        (FactItemKind.CHECK, 0, "understood"),
        (FactItemKind.CHECK, 1, "not_yet"),
        (FactItemKind.DIFFICULTY, 0, None),
        (FactItemKind.HOMEWORK, 0, None),
    ]


def test_talk_of_a_student_without_consent_is_unknown_not_zero() -> None:
    """A student whose audio may not be transcribed has null talk figures, and a
    consented student who said nothing has a share of 0."""
    rows = build(facts_input(transcribed={"u_tutor", "u_other"}), now=NOW)
    people = {p.participant_id: p for p in rows.participants}
    assert people["u_student"].talk_share is None
    assert people["u_student"].questions is None
    assert people["u_other"].talk_share == 0.0 and people["u_other"].questions == 0


def test_homework_due_but_not_taken_up_reads_false() -> None:
    """When last session set homework and this one never asks about it, the follow-up is
    recorded as missed."""
    rows = build(facts_input(document=document(followed_up=False)), now=NOW)
    student = next(p for p in rows.participants if p.participant_id == "u_student")
    assert (student.homework_due, student.homework_followed_up) == (True, False)
    assert rows.session.homework_mentioned is False


def test_without_a_transcript_or_document_those_figures_are_null() -> None:
    """A session nobody recorded still has attendance; what a document would say is null."""
    rows = build(
        facts_input(
            segments=[],
            transcribed=set(),
            has_transcript=False,
            document=None,
            document_status=None,
            drafted_at=None,
            approved_at=None,
        ),
        now=NOW,
    )
    s = rows.session
    assert s.transcribed is False and s.tutor_talk_share is None
    assert (s.checks, s.topics, s.homework_set, s.homework_mentioned) == (None,) * 4
    assert rows.items == []
    student = next(p for p in rows.participants if p.participant_id == "u_student")
    assert student.present and student.talk_share is None
    assert (student.homework_due, student.homework_followed_up) == (True, None)
