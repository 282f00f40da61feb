"""The offline progress report: what a month's approved documents and figures become."""

from __future__ import annotations

from datetime import date

from ai_docs.documents import Item
from ai_docs.progress import (
    ProgressFigures,
    ProgressInput,
    ProgressSession,
    draft_progress_offline,
)
from tests.ai_docs.transcripts import document


def session(n: int, *, attended: bool = True, **parts: list[Item]) -> ProgressSession:
    return ProgressSession(
        session_id=f"ses{n}",
        day=date(2026, 11, 2 + 7 * n),
        subject="mathematics",
        tutor_name="Taylor Tutor",
        attended=attended,
        document=document("We worked.", **parts) if attended else None,
    )


def item(text: str) -> list[Item]:
    return [Item(text=text, segments=[0])]


def test_a_month_becomes_a_report_that_cites_its_sessions() -> None:
    """Topics, praise and difficulties come from the documents, each citing its sessions;
    the most frequent difficulty comes first; attendance names the missed date."""
    data = ProgressInput(
        student_name="Sam Student",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        period_label="November 2026",
        sessions=[
            session(0, topics=item("fractions"), difficulties=item("Common denominators.")),
            session(1, attended=False),
            session(
                2,
                topics=item("decimals"),
                went_well=item("Sam explained place value clearly."),
                difficulties=item("Common denominators") + item("Rounding."),
                homework=item("Sheet 4"),
            ),
        ],
        figures=ProgressFigures(sessions=3, attended=2, late=1, checks=4, checks_understood=3),
    )
    report = draft_progress_offline(data)
    assert report.student_name == "Sam Student" and report.period_label == "November 2026"
    assert [(i.text, i.sessions) for i in report.covered] == [
        ("fractions (mathematics)", ["ses0"]),
        ("decimals (mathematics)", ["ses2"]),
    ]
    assert [(i.text, i.sessions) for i in report.working_on] == [
        ("Common denominators.", ["ses0", "ses2"]),
        ("Rounding.", ["ses2"]),
    ]
    assert report.went_well[0].sessions == ["ses2"]
    assert report.attendance == (
        "Sam came to 2 of 3 sessions (missed 9 Nov), and joined 1 session 5 or more minutes late."
    )
    assert report.homework == "Homework was set in 1 session."
    assert "3 of 4 checks" in report.summary
    assert "Still working on: Common denominators." in report.summary


def test_a_month_without_reviewed_notes_says_so() -> None:
    """Sessions held but no document approved: attendance only, and the summary says why."""
    data = ProgressInput(
        student_name="Sam Student",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        period_label="November 2026",
        sessions=[session(0, attended=False)],
        figures=ProgressFigures(sessions=1, attended=0, late=0),
    )
    report = draft_progress_offline(data)
    assert report.covered == [] and report.working_on == []
    assert "No reviewed session notes" in report.summary
    assert report.homework == "No homework was recorded this period."


def test_quoted_lines_read_as_said_and_bare_praise_is_left_out() -> None:
    """A quote "Sam Student: I find it hard." reads "Sam said: ..."; "Taylor Tutor: Exactly."
    alone means nothing in a monthly report and is left out."""
    data = ProgressInput(
        student_name="Sam Student",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 30),
        period_label="November 2026",
        sessions=[
            session(
                0,
                went_well=item("Taylor Tutor: Exactly.")
                + item("Taylor Tutor: You explained the method really well."),
                difficulties=item("Sam Student: I find common denominators hard."),
            )
        ],
        figures=ProgressFigures(sessions=1, attended=1, late=0),
    )
    report = draft_progress_offline(data)
    assert [i.text for i in report.went_well] == [
        "Taylor said: You explained the method really well."
    ]
    assert [i.text for i in report.working_on] == ["Sam said: I find common denominators hard."]
