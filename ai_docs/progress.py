"""A student's progress report over a period, drawn from its reviewed session documents.

``ProgressInput`` is what the period holds: each session (its date, subject and
tutor, whether the student came, and its approved document if it has one) and the
period's figures (attendance, talk, checks, homework; ``sessions.analytics``
works them out). ``draft_progress_offline`` writes the report from that alone,
deterministically: what was covered, what went well, what the student is still
working on (the most frequent difficulties first), homework, next steps, and a
short summary for parents. Every item names the sessions it comes from, so a
reviewer can check it; nothing is said that no approved document said.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from ai_docs.documents import SessionDocument

__all__ = [
    "ProgressFigures",
    "ProgressInput",
    "ProgressItem",
    "ProgressReportContent",
    "ProgressSession",
    "draft_progress_offline",
]

MAX_LIST = 8


class ProgressSession(BaseModel):
    """One held session of the period, as the report sees it."""

    session_id: str
    day: date
    subject: str
    tutor_name: str
    attended: bool
    late_minutes: int | None = None
    document: SessionDocument | None = Field(
        default=None, description="Its approved document; drafts are never used."
    )


class ProgressFigures(BaseModel):
    """The period's figures for the student."""

    sessions: int = Field(ge=0)
    attended: int = Field(ge=0)
    late: int = Field(ge=0, description="Sessions joined 5 or more minutes late.")
    mean_talk_share: float | None = None
    questions: int = Field(default=0, ge=0)
    checks: int = Field(default=0, ge=0)
    checks_understood: int = Field(default=0, ge=0)
    homework_due: int = Field(default=0, ge=0)
    homework_followed_up: int = Field(default=0, ge=0)


class ProgressInput(BaseModel):
    student_name: str
    period_start: date
    period_end: date = Field(description="Inclusive.")
    period_label: str = Field(description="How the period is named: 'November 2026'.")
    sessions: list[ProgressSession]
    figures: ProgressFigures


class ProgressItem(BaseModel):
    """One statement and the sessions (ids) it comes from."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=400)
    sessions: list[str] = Field(min_length=1, max_length=40)


class ProgressReportContent(BaseModel):
    """A progress report: what a tutor reviews and a guardian reads (and gets as a PDF)."""

    model_config = ConfigDict(extra="forbid")

    student_name: str = Field(min_length=1, max_length=200)
    period_start: date
    period_end: date
    period_label: str = Field(min_length=1, max_length=100)
    summary: str = Field(min_length=1, max_length=1500)
    attendance: str = Field(min_length=1, max_length=400)
    covered: list[ProgressItem] = Field(default_factory=list, max_length=20)
    went_well: list[ProgressItem] = Field(default_factory=list, max_length=MAX_LIST)
    working_on: list[ProgressItem] = Field(default_factory=list, max_length=MAX_LIST)
    homework: str = Field(min_length=1, max_length=400)
    next_steps: list[ProgressItem] = Field(default_factory=list, max_length=MAX_LIST)
    figures: ProgressFigures
    drafted_by: str = Field(default="offline", pattern=r"^(offline|model:\S.*)$")


def _key(text: str) -> str:
    return " ".join(text.lower().replace(".", " ").split())


def _collect(pairs: list[tuple[str, str]], limit: int) -> list[ProgressItem]:
    """Items from (text, session id) pairs: the same text once, citing every session it
    came from, the most frequent first, then in order of first appearance."""
    seen: dict[str, tuple[str, list[str]]] = {}
    order: list[str] = []
    for text, session_id in pairs:
        key = _key(text)
        if key not in seen:
            seen[key] = (text.strip(), [])
            order.append(key)
        if session_id not in seen[key][1]:
            seen[key][1].append(session_id)
    counts = Counter({k: len(seen[k][1]) for k in order})
    ranked = sorted(order, key=lambda k: (-counts[k], order.index(k)))
    return [ProgressItem(text=seen[k][0][:400], sessions=seen[k][1]) for k in ranked[:limit]]


def _voiced(text: str, names: set[str]) -> str:
    """A quoted line made readable for a parent: "Sam Student: I find it hard." becomes
    "Sam said: I find it hard." (drafters quote lines as "Speaker: words")."""
    for name in sorted(names, key=len, reverse=True):
        if name and f"{name}: " in text:
            text = text.replace(f"{name}: ", f"{name.split()[0]} said: ")
    return text


def _says_something(text: str, names: set[str]) -> bool:
    """Whether an item means anything on its own: not a bare "Exactly." of praise."""
    for name in names:
        text = text.replace(f"{name}: ", "")
    return len(text.split()) >= 3


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _day(d: date) -> str:
    return f"{d.day} {d.strftime('%b')}"


def draft_progress_offline(data: ProgressInput) -> ProgressReportContent:
    """The report for ``data``, in plain words, from its approved documents and figures."""
    name = data.student_name.split()[0] if data.student_name.strip() else "Your child"
    f = data.figures
    documented = [(s, s.document) for s in data.sessions if s.document is not None]
    names = {data.student_name, *(s.tutor_name for s in data.sessions)}
    covered = _collect(
        [
            (f"{item.text.rstrip('.')} ({s.subject})", s.session_id)
            for s, doc in documented
            for item in doc.topics
        ],
        20,
    )
    went_well = _collect(
        [
            (_voiced(item.text, names), s.session_id)
            for s, doc in documented
            for item in doc.went_well
            if _says_something(item.text, names)
        ],
        MAX_LIST,
    )
    working_on = _collect(
        [
            (_voiced(item.text, names), s.session_id)
            for s, doc in documented
            for item in doc.difficulties
        ],
        MAX_LIST,
    )
    latest = documented[-2:]
    next_steps = _collect(
        [(_voiced(item.text, names), s.session_id) for s, doc in latest for item in doc.next_focus],
        MAX_LIST,
    )
    missed = [s for s in data.sessions if not s.attended]
    attendance = f"{name} came to {f.attended} of {_plural(f.sessions, 'session')}"
    if missed:
        attendance += " (missed " + ", ".join(_day(s.day) for s in missed[:6]) + ")"
    attendance += (
        f", and joined {_plural(f.late, 'session')} 5 or more minutes late." if f.late else "."
    )
    set_count = sum(1 for _, doc in documented if doc.homework)
    if set_count == 0:
        homework = "No homework was recorded this period."
    else:
        homework = f"Homework was set in {_plural(set_count, 'session')}."
        if f.homework_due:
            homework += (
                f" It was followed up at {f.homework_followed_up} of the "
                f"{_plural(f.homework_due, 'session')} after one where it was set."
            )
    subjects = sorted({s.subject for s in data.sessions})
    parts = [
        f"In {data.period_label}, {name} had {_plural(f.sessions, 'session')} of "
        f"{' and '.join(subjects)} and came to {f.attended}."
    ]
    if covered:
        parts.append("Topics covered: " + "; ".join(i.text for i in covered[:4]) + ".")
    if f.checks:
        parts.append(
            f"{name} showed understanding in {f.checks_understood} of "
            f"{_plural(f.checks, 'check')} of understanding."
        )
    if working_on:
        parts.append(f"Still working on: {working_on[0].text.rstrip('.')}.")
    if not documented:
        parts.append("No reviewed session notes were available for this period.")
    return ProgressReportContent(
        student_name=data.student_name,
        period_start=data.period_start,
        period_end=data.period_end,
        period_label=data.period_label,
        summary=" ".join(parts)[:1500],
        attendance=attendance[:400],
        covered=covered,
        went_well=went_well,
        working_on=working_on,
        homework=homework[:400],
        next_steps=next_steps,
        figures=f,
    )
